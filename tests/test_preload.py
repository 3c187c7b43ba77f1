"""End to end: the watcher thread imports the patch machinery once the program has run a
moment without saves (live.Watcher._preload), so that the first save does not wait for
those imports. A program that forks all along that moment must get working children:
a child forked in the middle of an import would hang at its own next import."""

from __future__ import annotations

import os

import pytest

APP = """\
import os, sys, time
import lib

def fork_one():
    pid = os.fork()
    if pid == 0:
        import jurigged.plan, jurigged.hooks  # preloaded by the parent's watcher thread
        os._exit(0 if lib.f() else 1)
    _, status = os.waitpid(pid, 0)
    assert status == 0, status

print("ready", flush=True)
deadline = time.monotonic() + 60
while "jurigged.frameworks" not in sys.modules and time.monotonic() < deadline:
    fork_one()  # until the watcher thread's last preloaded import
for _ in range(20):
    fork_one()
print("preloaded", "jurigged.patch" in sys.modules, flush=True)
while lib.f() == 1 and time.monotonic() < deadline:
    time.sleep(0.01)
sys.stdout.write(" ".join(map(str, ("R", lib.f(),))) + "\\n"); sys.stdout.flush()
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forks_during_the_preload_and_the_first_save_after_it(run_jurigged, tmp_path):
    (tmp_path / "lib.py").write_text("def f():\n    return 1\n")
    (tmp_path / "app.py").write_text(APP)
    process = run_jurigged("app.py")
    process.expect("ready", timeout=30)
    process.expect("preloaded True", stream="out", timeout=60)
    (tmp_path / "lib.py").write_text("def f():\n    return 2\n")
    process.expect("R 2", stream="out", timeout=30)
    assert process.wait(timeout=30) == 0
