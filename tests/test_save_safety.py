"""End to end, a save is applied only once it is complete and nothing a file does can
take the program down: a real `jurigged` process runs a program that calls a watched
module's function through references taken before any save, the test writes that
module the way slow, hurried or odd writers do, and checks what the program runs.

If a half-written file were applied, the module's function would be deleted: the
program would then die of AttributeError, or go on running the old function through
its references (a function deleted then re-added is a new object)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from live_support import probe_loop, start_probe_loop
from watcher_support import workdir  # noqa: F401 (fixture)

# References to lib.f are taken before any save; an exception ends the program.
APP = probe_loop("(f(), callbacks[0](), lib.f())",
                 setup="from lib import f\ncallbacks = [lib.f]", rounds=12000, catch=False)


def source(n: int) -> str:
    return f"def f():\n    return {n}\n"


def start(run_jurigged, folder: Path, *args: str, env=None):
    process = start_probe_loop(run_jurigged, folder, APP, {"lib.py": source(1)}, *args,
                               env=env)
    process.expect("R (1, 1, 1)", stream="out")
    return process


def applied(process) -> list:
    """What jurigged reported doing to lib's functions so far."""
    return [line for line in process.lines["out"]
            if line.startswith(("Update ", "Add ", "Delete "))]


@pytest.mark.main_only
def test_a_save_written_in_two_halves_is_applied_at_the_close(run_jurigged, workdir):
    p = start(run_jurigged, workdir)
    text = source(2)
    half = text.index("return")
    with open(workdir / "lib.py", "w") as f:
        f.write(text[:half])  # `def f():` and no body: a SyntaxError if it were read
        f.flush()
        time.sleep(3)  # a slow writer: far longer than the 50 ms quiet period
        p.seen("R (1, 1, 1)", stream="out")
        assert applied(p) == [] and "jurigged:" not in p.output("err")
        f.write(text[half:])
    # References taken before the save run the new code: f was updated, not replaced.
    p.expect("R (2, 2, 2)", stream="out")
    p.seen("Update lib.f", stream="out")  # logged after the swap: maybe after the R line
    assert applied(p) == ["Update lib.f"]
    assert "jurigged:" not in p.output("err")


def probe_values(process) -> list:
    return [line for line in process.lines["out"] if line.startswith("R ")]


def test_a_hundred_in_place_saves_with_no_debounce(run_jurigged, workdir):
    p = start(run_jurigged, workdir, "-d", "0")
    lib = workdir / "lib.py"
    for n in range(2, 102):
        with open(lib, "w") as f:  # truncates, then writes: an empty file for a moment
            f.flush()
            f.write(source(n))
    p.expect("R (101, 101, 101)", stream="out", timeout=30)
    # One more save: had an older save been delivered late, it would show before it.
    lib.write_text(source(102))
    p.expect("R (102, 102, 102)", stream="out")
    assert p.popen.poll() is None
    values = [int(line[3:].split(",")[0]) for line in probe_values(p)]
    assert values == sorted(set(values)), values  # never back to an older save
    assert all(line == "Update lib.f" for line in applied(p)), applied(p)
    assert "jurigged:" not in p.output("err")


def test_a_file_over_the_size_limit_is_reported_once_and_skipped(run_jurigged, workdir):
    p = start(run_jurigged, workdir)
    lib = workdir / "lib.py"
    with open(lib, "r+b") as f:
        f.truncate(100 * 1024 ** 3)  # sparse: 100 GiB that take no disk
    line = p.expect("too big to read", stream="err")
    assert str(lib) in line and "100.0 GiB" in line and "16.0 MiB" in line
    with open(lib, "r+b") as f:
        f.truncate(101 * 1024 ** 3)  # still too big: not reported again
    lib.write_text(source(2))
    p.expect("R (2, 2, 2)", stream="out")
    assert sum("too big" in line for line in p.lines["err"]) == 1
    assert p.popen.poll() is None


def test_the_size_limit_from_flag_config_and_environment(run_jurigged, workdir, tmp_path):
    from conftest import subprocess_env

    big = source(2) + "#" * 3000 + "\n"
    ways = {
        "flag": (["--max-file-size", "2k"], None, {}),
        "pyproject": ([], '[tool.jurigged]\nmax_file_size = "2K"\n', {}),
        "environment": ([], None, {"JURIGGED_MAX_FILE_SIZE": "2048"}),
    }
    for name, (args, pyproject, environ) in ways.items():
        folder = workdir / name
        folder.mkdir()
        if pyproject:
            (folder / "pyproject.toml").write_text(pyproject)
        env = dict(subprocess_env(tmp_path / "home"), **environ)
        p = start(run_jurigged, folder, *args, env=env)
        (folder / "lib.py").write_text(big)
        line = p.expect("too big to read", stream="err")
        assert str(folder / "lib.py") in line and "2.0 KiB (2048 bytes) limit" in line, name
        (folder / "lib.py").write_text(source(3))
        p.expect("R (3, 3, 3)", stream="out")
        p.kill()


@pytest.mark.main_only
def test_a_file_left_open_after_writing_is_read_after_a_while(run_jurigged, workdir):
    p = start(run_jurigged, workdir)
    lib = workdir / "lib.py"
    with open(lib, "w") as f:  # a writer that never closes (until the test ends)
        f.write(source(2))
        f.flush()
        line = p.expect("still open for writing", stream="err", timeout=20)
        assert str(lib) in line
        p.expect("R (2, 2, 2)", stream="out")
    p.seen("Update lib.f", stream="out")  # logged after the swap: maybe after the R line
    assert applied(p) == ["Update lib.f"]


# Address space for what runs now plus 512 MiB: a 1 GiB file cannot be read at all,
# a 320 MiB one can be read by the watcher but not copied into a bytes object too.
MEMORY_LIMIT = """\
with open("/proc/self/status") as status:
    size_kib = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
limit = size_kib * 1024 + 512 * 1024 ** 2
resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
import lib
from lib import f
"""
MEMORY_LIMITED_APP = probe_loop("(f(), lib.f())", imports="import resource",
                                setup=MEMORY_LIMIT, rounds=12000, catch=False)


@pytest.mark.main_only
def test_a_file_too_big_for_the_memory_left_is_reported_and_skipped(run_jurigged, workdir,
                                                                     tmp_path):
    # The size limit is raised above the memory the program has left: the native
    # reader then fails to allocate (std::bad_alloc) or, for a smaller file, the
    # Python thread does (MemoryError); both are reported and the next save applies.
    from conftest import subprocess_env

    lib = workdir / "lib.py"
    lib.write_text(source(1))
    (workdir / "app.py").write_text(MEMORY_LIMITED_APP)
    # One malloc arena: threads would otherwise each reserve 64 MiB of address space
    # whenever they first allocate, eating into the limit at unforeseeable times.
    env = dict(subprocess_env(tmp_path / "home"), MALLOC_ARENA_MAX="1")
    p = run_jurigged("-v", "--max-file-size", "2G", "app.py", cwd=workdir, env=env)
    p.expect("R (1, 1)", stream="out")
    with open(lib, "r+b") as f:
        f.truncate(1024 ** 3)
    line = p.expect("not enough memory", stream="err")
    assert str(lib) in line
    with open(lib, "r+b") as f:
        f.truncate(320 * 1024 ** 2)
    p.expect("MemoryError", stream="err")
    lib.write_text(source(2))
    p.expect("R (2, 2)", stream="out")
    assert p.popen.poll() is None


def test_a_size_limit_that_is_not_one_is_refused(run_jurigged, workdir, tmp_path):
    from conftest import subprocess_env

    (workdir / "app.py").write_text("print('ran')\n")
    p = run_jurigged("--max-file-size", "0", "app.py", cwd=workdir)
    assert p.wait() == 2
    assert p.output("err") == ("jurigged: error: argument --max-file-size: expected a size "
                               "in bytes (or with K, M or G), at least 1, got '0'\n")
    env = dict(subprocess_env(tmp_path / "home"), JURIGGED_MAX_FILE_SIZE="lots")
    p = run_jurigged("app.py", cwd=workdir, env=env)
    assert p.wait() == 2
    assert "JURIGGED_MAX_FILE_SIZE must be a size in bytes" in p.output("err")
    assert "ran" not in p.output("out")
