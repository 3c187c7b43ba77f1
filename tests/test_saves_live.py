"""End to end, for every way a file gets saved: a real `jurigged` process runs a
program, a real save (each editor's own way of writing, git, a symlinked module)
changes a watched module twice, and the program must run each new version.

The files live outside /tmp (vim and emacs make no backups there, which would skip
their rename-saves)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from live_support import probe_loop, start_probe_loop
from watcher_support import emacs_two_saves, require_tool, run, vim_save, workdir  # noqa: F401 (fixture)

# An exception in lib.f ends the program.
APP = probe_loop("lib.f()", rounds=6000, catch=False)


def source(n: int) -> str:
    return f"def f(): return {n}\n"


def write_in_place(path: Path, n: int) -> None:
    path.write_text(source(n))


def truncate_then_write(path: Path, n: int) -> None:
    with open(path, "w") as f:
        f.flush()
        time.sleep(0.01)  # a reader could see the empty file now
        f.write(source(n))


def temp_and_rename(path: Path, n: int) -> None:
    temporary = path.with_name(".lib.py.tmp")
    temporary.write_text(source(n))
    os.replace(temporary, path)


def sed_in_place(path: Path, n: int) -> None:
    run(require_tool("sed"), "-i", f"s/return [0-9]*/return {n}/", str(path))


def copy_over(path: Path, n: int) -> None:
    other = path.with_name("other.txt")
    other.write_text(source(n))
    run(require_tool("cp"), str(other), str(path))


def delete_and_recreate(path: Path, n: int) -> None:
    path.unlink()
    time.sleep(0.01)
    path.write_text(source(n))


def vim(*settings):
    def save(path: Path, n: int) -> None:
        vim_save(path, source(n).strip(), *settings)
    return save


STYLES = {
    "in place": write_in_place,
    "truncate then write": truncate_then_write,
    "temp file renamed over": temp_and_rename,
    "sed -i": sed_in_place,
    "cp over": copy_over,
    "delete and recreate": delete_and_recreate,
    "vim default": vim(),
    "vim backupcopy=no": vim("set backupcopy=no"),
    "vim backupcopy=yes": vim("set backupcopy=yes"),
}


def start(run_jurigged, folder: Path, *args):
    process = start_probe_loop(run_jurigged, folder, APP, {}, *args)
    process.expect("R 1", stream="out")
    return process


# The plain in-place save runs on every interpreter; the other styles differ only in
# what the file system sees, which the interpreter does not change (main_only).
@pytest.mark.parametrize("style", [
    pytest.param(style, marks=() if style == "in place" else pytest.mark.main_only)
    for style in STYLES])
@pytest.mark.parametrize("poll", [False, True], ids=["inotify", "poll"])
def test_two_saves_in_each_style_go_live(run_jurigged, workdir, style, poll):
    if poll and style.startswith("vim"):
        pytest.skip("vim is covered with inotify; polling sees the same files")
    lib = workdir / "lib.py"
    lib.write_text(source(1))
    p = start(run_jurigged, workdir, *(["--poll", "0.1"] if poll else []))
    for n in (2, 3):
        STYLES[style](lib, n)
        p.expect(f"R {n}", stream="out")


@pytest.mark.main_only
def test_emacs_two_saves_in_one_session(run_jurigged, workdir):
    lib = workdir / "lib.py"
    lib.write_text(source(1))
    p = start(run_jurigged, workdir)
    # The first save of a session renames lib.py to lib.py~ and writes a new file,
    # the second writes in place.
    emacs_two_saves(lib, source(2).strip(), source(3).strip())
    assert (workdir / "lib.py~").exists()  # the rename-save really happened
    p.expect("R 2", stream="out")
    p.expect("R 3", stream="out")


@pytest.mark.main_only
def test_git_checkout_switches_several_modules(run_jurigged, workdir):
    git = require_tool("git")

    def g(*args):
        run(git, "-c", "user.name=t", "-c", "user.email=t@example.org", *args, cwd=workdir)

    for name in ("lib.py", "lib2.py", "lib3.py"):
        (workdir / name).write_text(source(1))
    (workdir / "app.py").write_text(probe_loop("(lib.f(), lib2.f(), lib3.f())",
                                               imports="import lib, lib2, lib3",
                                               rounds=6000, catch=False))
    g("init", "-q", "-b", "one")
    g("add", "lib.py", "lib2.py", "lib3.py")
    g("commit", "-q", "-m", "one")
    g("checkout", "-q", "-b", "two")
    for name in ("lib.py", "lib2.py", "lib3.py"):
        (workdir / name).write_text(source(2))
    g("commit", "-q", "-am", "two")
    g("checkout", "-q", "one")
    p = run_jurigged("-v", "app.py", cwd=workdir)
    p.expect("R (1, 1, 1)", stream="out")
    g("checkout", "-q", "two")
    p.expect("R (2, 2, 2)", stream="out")
    g("checkout", "-q", "one")
    p.expect("R (1, 1, 1)", stream="out")
    # Files switched together are applied together: no mixed state was printed.
    for line in p.output("out").splitlines():
        if line.startswith("R ("):
            assert line in ("R (1, 1, 1)", "R (2, 2, 2)"), line


def test_module_imported_through_a_symlink(run_jurigged, workdir):
    real = workdir / "real"
    real.mkdir()
    (real / "lib.py").write_text(source(1))
    (workdir / "lib.py").symlink_to(real / "lib.py")
    p = start(run_jurigged, workdir)
    for n in (2, 3):
        temp_and_rename(real / "lib.py", n)
        p.expect(f"R {n}", stream="out")
