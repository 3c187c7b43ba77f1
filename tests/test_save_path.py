"""End to end: what the watcher does so that a save goes live fast. After a moment
without saves it parses the running text of each big watched file (live.
PREPARE_BASELINE_BYTES) and scans the modules for caches, so the first save of such a
file costs what the others do; while it applies a save it lowers the switch interval,
and gives the program back its own afterwards."""

from __future__ import annotations

import sys

# A module over PREPARE_BASELINE_BYTES: 1,500 small functions, then f().
BIG = "".join(f"def g{i}(x):\n    return x + {i}  # {'-' * 20}\n\n" for i in range(1500))
BIG += "def f():\n    return 1\n"

APP = """\
import sys, time
import functools
import big
import jurigged

file = jurigged.live._watcher.registry.files[big.__file__]
deadline = time.monotonic() + 60
while file.tree is None and time.monotonic() < deadline:
    time.sleep(0.01)  # the watcher thread prepares it after a moment without saves
print("prepared", file.tree is not None, flush=True)
sys.setswitchinterval(0.002)  # the program's own
while big.f() == 1 and time.monotonic() < deadline:
    time.sleep(0.001)
sys.stdout.write(" ".join(map(str, ("R", big.f(),))) + "\\n"); sys.stdout.flush()
while big.f() == 2 and time.monotonic() < deadline:
    time.sleep(0.001)
# The new code is live from the commit on; the apply (and its interval) ends a moment later.
while sys.getswitchinterval() != 0.002 and time.monotonic() < deadline:
    time.sleep(0.001)
sys.stdout.write(" ".join(map(str, ("R", big.f(), "interval", sys.getswitchinterval(),))) + "\\n"); sys.stdout.flush()
"""


def test_a_big_files_baseline_is_prepared_before_its_first_save(run_jurigged, tmp_path):
    from jurigged.live import PREPARE_BASELINE_BYTES

    assert len(BIG.encode()) >= PREPARE_BASELINE_BYTES
    (tmp_path / "big.py").write_text(BIG)
    (tmp_path / "app.py").write_text(APP)
    process = run_jurigged("app.py")
    process.expect("prepared True", stream="out", timeout=60)
    (tmp_path / "big.py").write_text(BIG.replace("return 1\n", "return 2\n"))
    process.expect("R 2", stream="out", timeout=30)
    (tmp_path / "big.py").write_text(BIG.replace("return 1\n", "return 3\n"))
    process.expect("R 3 interval 0.002", stream="out", timeout=30)
    assert process.wait(timeout=30) == 0


CACHED = """\
import functools

RATE = 1

@functools.lru_cache(maxsize=None)
def price(n):
    return n * RATE
"""

CACHE_APP = """\
import sys
import time
import shop

from jurigged import caches

deadline = time.monotonic() + 60
while not caches.index.scanned_files and time.monotonic() < deadline:
    time.sleep(0.01)  # the watcher thread scans after a moment without saves
sys.stdout.write(" ".join(map(str, ("R", shop.price(10), "scanned", bool(caches.index.scanned_files),))) + "\\n"); sys.stdout.flush()
while shop.price(10) == 10 and time.monotonic() < deadline:
    time.sleep(0.001)
sys.stdout.write(" ".join(map(str, ("R", shop.price(10),))) + "\\n"); sys.stdout.flush()
"""


def test_a_cache_found_by_the_preload_is_cleared_by_the_first_save(run_jurigged, tmp_path):
    (tmp_path / "shop.py").write_text(CACHED)
    (tmp_path / "app.py").write_text(CACHE_APP)
    process = run_jurigged("app.py")
    process.expect("R 10 scanned True", stream="out", timeout=60)
    # Only RATE changes: the cache of the unchanged price() must be forgotten.
    (tmp_path / "shop.py").write_text(CACHED.replace("RATE = 1", "RATE = 3"))
    process.expect("R 30", stream="out", timeout=30)
    assert process.wait(timeout=30) == 0


HOOKS_APP = """\
import sys
import time
import jurigged
import lib

watcher = jurigged.live._watcher
calls = []
watcher.prerun.register(lambda path: calls.append("one"))
watcher.postrun.register(lambda path, file: calls.append("two"))
print("hooked", flush=True)
deadline = time.monotonic() + 60
for expected in (2, 3):
    while lib.f() != expected and time.monotonic() < deadline:
        time.sleep(0.001)
    while len(calls) < 2 * (expected - 1) and time.monotonic() < deadline:
        time.sleep(0.001)
    sys.stdout.write(" ".join(map(str, ("R", lib.f(), calls,))) + "\\n"); sys.stdout.flush()
"""


def test_hooks_of_either_form_run_on_every_save(run_jurigged, tmp_path):
    (tmp_path / "lib.py").write_text("def f():\n    return 1\n")
    (tmp_path / "app.py").write_text(HOOKS_APP)
    process = run_jurigged("app.py")
    process.expect("hooked", stream="out", timeout=30)
    (tmp_path / "lib.py").write_text("def f():\n    return 2\n")
    process.expect("R 2 ['one', 'two']", stream="out", timeout=30)
    (tmp_path / "lib.py").write_text("def f():\n    return 3\n")
    process.expect("R 3 ['one', 'two', 'one', 'two']", stream="out", timeout=30)
    assert process.wait(timeout=30) == 0
