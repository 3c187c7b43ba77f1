"""End to end: which `functools.lru_cache` results a save clears. A cache whose function
reads what the save changed forgets its results (a fresh run starts empty); a cache
that reads nothing of it keeps them (its function is not called again)."""

from __future__ import annotations

from test_convergence import converges, start

LIB = """\
import functools

K = 1
CALLS = {"dep": 0, "other": 0}


def helper(x):
    return x + K


@functools.lru_cache(maxsize=None)
def dep(x):
    CALLS["dep"] += 1
    return helper(x)


@functools.lru_cache(maxsize=None)
def other(x):
    CALLS["other"] += 1
    return x * 2
"""


def test_only_caches_reading_the_change_are_cleared(run_jurigged, tmp_path):
    # `other` was computed once, before the save, in both the live and the fresh run:
    # its call count stays 1 only if its cache survived the save.
    process = start(run_jurigged, tmp_path, {"lib.py": LIB}, "import lib",
                    '(lib.dep(1), lib.other(1), lib.CALLS["other"])')
    assert converges(process, tmp_path) == "R (2, 2, 1)"
    (tmp_path / "lib.py").write_text(LIB.replace("K = 1", "K = 5"))
    assert converges(process, tmp_path) == "R (6, 2, 1)"  # through `helper`
    (tmp_path / "lib.py").write_text(LIB.replace("K = 1", "K = 5").replace(
        "return x + K", "return x + K * 10"))
    assert converges(process, tmp_path) == "R (51, 2, 1)"
    process.expect("Update lib.helper", stream="out")
