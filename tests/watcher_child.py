"""A separate process for the tests that must stop the watcher's process or change its
kernel limits: watches the files given as arguments and prints every event as a JSON
line ("ready" first)."""

import json
import sys

from jurigged._core import Watcher

watcher = Watcher()
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        watcher.add(path, f.read())
print(json.dumps(["ready", "", "", str(watcher.polling)]), flush=True)
while True:
    for kind, path, content, message in watcher.wait(-1):
        print(json.dumps([kind, path, content.decode("latin-1"), message]), flush=True)
