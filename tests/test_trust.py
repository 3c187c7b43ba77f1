"""jurigged runs no code, and reads no configuration, that another account could have
written (trust.py): end to end through a real `jurigged` process, then the rule itself.

The other account is simulated as root does it: files chowned to nobody (uid 65534),
groups changed to nogroup, modes opened to group or others. Tests that need root to
chown are skipped without it."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from jurigged import trust

NOBODY = 65534
needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="needs root to give files to another user (uid 65534)")

# The program imports `lib` (from the folders in LIB_DIRS, then the current one) and
# `other` (always a trusted file of ours), then prints `R (lib.f(), other.g())` each
# time the value changes. A save of `other` after one of `lib` is the sync point that
# shows whether lib's save was applied: saves are applied in order.
APP = """\
import sys, time
sys.path[:0] = {lib_dirs!r}
import lib, other
print("ready", flush=True)
last = None
for _ in range(6000):
    value = (lib.f(), other.g())
    if value != last:
        sys.stdout.write(f"R {{value}}\\n"); sys.stdout.flush()  # one write: -v logs too
        last = value
    time.sleep(0.005)
"""


def lib_text(value) -> str:
    return f"def f():\n    return {value!r}\n"


def other_text(value) -> str:
    return f"def g():\n    return {value!r}\n"


def start(run_jurigged, tmp_path: Path, lib_dirs=(), *args, env=None):
    (tmp_path / "other.py").write_text(other_text(1))
    (tmp_path / "app.py").write_text(APP.format(lib_dirs=[str(d) for d in lib_dirs]))
    process = run_jurigged("-v", *args, "app.py", env=env)
    process.expect("ready")
    return process


def write_lib(folder: Path, value, mode: int = 0o644) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / "lib.py"
    path.write_text(lib_text(value))
    os.chmod(path, mode)
    return path


def assert_not_applied(process, tmp_path: Path, lib: Path, value, current) -> None:
    """Save `value` into `lib`, then a change of `other`: once that shows, lib's save
    would have shown too, had it been applied."""
    lib.write_text(lib_text(value))
    (tmp_path / "other.py").write_text(other_text(2))
    line = process.expect("R (", stream="out")
    assert line == f"R ({current!r}, 2)", process.output()


# -- watch time: a file others could change is not watched -------------------------

def test_world_writable_module_is_not_watched(run_jurigged, tmp_path):
    lib = write_lib(tmp_path, 1, 0o666)
    p = start(run_jurigged, tmp_path)
    p.expect(f"jurigged: not watching {lib}: it is writable by other users (mode 0666); "
             f"--trust-shared allows it", stream="err")
    p.expect("R (1, 1)", stream="out")
    assert_not_applied(p, tmp_path, lib, 2, current=1)
    assert f"Watch {lib}" not in p.output("out")


def test_own_module_in_a_world_writable_folder_without_sticky_bit(run_jurigged, tmp_path):
    shared = tmp_path / "shared"
    lib = write_lib(shared, 1)
    os.chmod(shared, 0o777)
    p = start(run_jurigged, tmp_path, [shared])
    p.expect(f"not watching {lib}: its directory {shared} is writable by other users "
             f"(mode 0777, no sticky bit)", stream="err")
    p.expect("R (1, 1)", stream="out")
    assert_not_applied(p, tmp_path, lib, 2, current=1)


def test_own_module_in_a_sticky_world_writable_folder_is_watched(run_jurigged, tmp_path):
    # Like /tmp: others can add files there, but not replace ours.
    sticky = tmp_path / "sticky"
    lib = write_lib(sticky, 1)
    os.chmod(sticky, 0o1777)
    p = start(run_jurigged, tmp_path, [sticky])
    p.expect("R (1, 1)", stream="out")
    lib.write_text(lib_text(2))
    p.expect("R (2, 1)", stream="out")
    assert "not watching" not in p.output("err")


@needs_root
def test_module_owned_by_another_user_is_not_watched(run_jurigged, tmp_path):
    lib = write_lib(tmp_path, 1)
    os.chown(lib, NOBODY, NOBODY)
    p = start(run_jurigged, tmp_path)
    p.expect(f"not watching {lib}: it is owned by nobody (uid {NOBODY})", stream="err")
    p.expect("R (1, 1)", stream="out")
    assert_not_applied(p, tmp_path, lib, 2, current=1)


@needs_root
def test_module_writable_by_a_shared_group_is_not_watched(run_jurigged, tmp_path):
    lib = write_lib(tmp_path, 1, 0o664)
    os.chown(lib, 0, NOBODY)  # nogroup: not root's own private group
    p = start(run_jurigged, tmp_path)
    p.expect(f"not watching {lib}: it is writable by group", stream="err")
    p.expect("R (1, 1)", stream="out")
    assert_not_applied(p, tmp_path, lib, 2, current=1)


@needs_root
def test_symlink_to_a_file_owned_by_another_user_is_not_watched(run_jurigged, tmp_path):
    theirs = write_lib(tmp_path / "theirs", 1)
    os.chown(theirs, NOBODY, NOBODY)
    link = tmp_path / "lib.py"
    link.symlink_to(theirs)
    p = start(run_jurigged, tmp_path)
    p.expect(f"not watching {link}: the file {theirs} (reached through the symbolic "
             f"link {link}) is owned by nobody (uid {NOBODY})", stream="err")
    p.expect("R (1, 1)", stream="out")
    assert_not_applied(p, tmp_path, link, 2, current=1)


@pytest.mark.parametrize("opt_in", ["flag", "environment", "pyproject"])
def test_opting_in_watches_shared_files_as_before(run_jurigged, tmp_path, opt_in):
    lib = write_lib(tmp_path, 1, 0o666)
    args, env = [], None
    if opt_in == "flag":
        args = ["--trust-shared"]
    elif opt_in == "environment":
        env = dict(os.environ, PYTHONUNBUFFERED="1", HOME=str(tmp_path),
                   JURIGGED_TRUST_SHARED="1")
    else:
        (tmp_path / "pyproject.toml").write_text("[tool.jurigged]\ntrust_shared = true\n")
    p = start(run_jurigged, tmp_path, (), *args, env=env)
    p.seen(f"Watch {lib}", stream="out")
    p.expect("R (1, 1)", stream="out")
    lib.write_text(lib_text(2))
    p.expect("R (2, 1)", stream="out")
    assert "not watching" not in p.output("err")


@pytest.mark.parametrize("trust_shared", [False, True])
def test_watch_keyword_trust_shared(run_jurigged, tmp_path, trust_shared):
    lib = write_lib(tmp_path, 1, 0o666)
    (tmp_path / "other.py").write_text(other_text(1))
    (tmp_path / "main.py").write_text(dedent(f"""\
        import sys, time, jurigged, lib, other
        jurigged.watch(trust_shared={trust_shared})
        print("ready", flush=True)
        last = None
        for _ in range(6000):
            if (lib.f(), other.g()) != last:
                last = (lib.f(), other.g())
                sys.stdout.write(f"R {{last}}\\n"); sys.stdout.flush()
            time.sleep(0.005)
        """))
    p = run_jurigged("main.py", command=[sys.executable])
    p.expect("ready")
    p.expect("R (1, 1)", stream="out")
    if trust_shared:
        lib.write_text(lib_text(2))
        p.expect("R (2, 1)", stream="out")
    else:
        p.seen(f"not watching {lib}: it is writable by other users", stream="err")
        assert_not_applied(p, tmp_path, lib, 2, current=1)


# -- every save: a save that finds the file shared is refused, the next good one works --

def test_save_into_a_file_made_world_writable_is_refused(run_jurigged, tmp_path):
    lib = write_lib(tmp_path, 1)
    p = start(run_jurigged, tmp_path)
    p.expect("R (1, 1)", stream="out")
    os.chmod(lib, 0o666)
    lib.write_text(lib_text(2))
    p.expect(f"jurigged: {lib}: save not applied, the program keeps its current code: "
             f"it is writable by other users (mode 0666); --trust-shared allows it",
             stream="err")
    os.chmod(lib, 0o644)
    lib.write_text(lib_text(3))
    p.expect("R (3, 1)", stream="out")
    assert "R (2, 1)" not in p.output("out")


def test_file_renamed_over_a_module_in_a_folder_made_world_writable(run_jurigged, tmp_path):
    shared = tmp_path / "shared"
    lib = write_lib(shared, 1)
    p = start(run_jurigged, tmp_path, [shared])
    p.expect("R (1, 1)", stream="out")
    os.chmod(shared, 0o777)
    planted = shared / "planted.py"
    planted.write_text(lib_text(2))
    os.replace(planted, lib)
    p.expect(f"{lib}: save not applied, the program keeps its current code: its "
             f"directory {shared} is writable by other users", stream="err")
    os.chmod(shared, 0o755)
    lib.write_text(lib_text(3))
    p.expect("R (3, 1)", stream="out")
    assert "R (2, 1)" not in p.output("out")


@needs_root
def test_file_of_another_user_renamed_over_a_module_is_refused(run_jurigged, tmp_path):
    sticky = tmp_path / "sticky"
    lib = write_lib(sticky, 1)
    os.chmod(sticky, 0o1777)
    p = start(run_jurigged, tmp_path, [sticky])
    p.expect("R (1, 1)", stream="out")
    planted = sticky / "planted.py"
    planted.write_text(lib_text(2))
    os.chown(planted, NOBODY, NOBODY)
    os.replace(planted, lib)
    p.expect(f"{lib}: save not applied, the program keeps its current code: it is "
             f"owned by nobody (uid {NOBODY})", stream="err")
    mine = sticky / "mine.py"
    mine.write_text(lib_text(3))
    os.replace(mine, lib)
    p.expect("R (3, 1)", stream="out")
    assert "R (2, 1)" not in p.output("out")


@needs_root
def test_symlink_turned_to_a_file_of_another_user_is_refused(run_jurigged, tmp_path):
    mine = write_lib(tmp_path / "mine", 1)
    theirs = write_lib(tmp_path / "theirs", 2)
    os.chown(theirs, NOBODY, NOBODY)
    link = tmp_path / "lib.py"
    link.symlink_to(mine)
    p = start(run_jurigged, tmp_path)
    p.expect("R (1, 1)", stream="out")
    (tmp_path / "new-link").symlink_to(theirs)
    os.replace(tmp_path / "new-link", link)
    p.expect(f"{link}: save not applied, the program keeps its current code: the file "
             f"{theirs} (reached through the symbolic link {link}) is owned by nobody",
             stream="err")
    (tmp_path / "new-link").symlink_to(mine)
    mine.write_text(lib_text(3))
    os.replace(tmp_path / "new-link", link)
    p.expect("R (3, 1)", stream="out")
    assert "R (2, 1)" not in p.output("out")


def test_opting_in_applies_saves_into_shared_files(run_jurigged, tmp_path):
    lib = write_lib(tmp_path, 1)
    p = start(run_jurigged, tmp_path, (), "--trust-shared")
    p.expect("R (1, 1)", stream="out")
    os.chmod(lib, 0o666)
    lib.write_text(lib_text(2))
    p.expect("R (2, 1)", stream="out")
    assert "save not applied" not in p.output("err")


# -- configuration ------------------------------------------------------------------

VERBOSE_PYPROJECT = "[tool.jurigged]\nverbose = true\n"


def run_quick_app(run_jurigged, folder: Path, *args):
    """Run a script that ends at once; with verbose = true it prints `Watch`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text("print('ran')\n")
    p = run_jurigged(*args, "app.py", cwd=folder)
    assert p.wait() == 0, p.output()
    assert "ran" in p.output("out")
    return p


def test_pyproject_above_the_project_root_is_not_read(run_jurigged, tmp_path):
    (tmp_path / "pyproject.toml").write_text(VERBOSE_PYPROJECT)
    project = tmp_path / "project"
    read = run_quick_app(run_jurigged, project)
    assert "Watch" in read.output("out")  # no root yet: the parent's file is the nearest
    (project / ".git").mkdir()
    unread = run_quick_app(run_jurigged, project)
    assert "Watch" not in unread.output("out")


def test_world_writable_pyproject_is_ignored(run_jurigged, tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(VERBOSE_PYPROJECT)
    os.chmod(pyproject, 0o666)
    ignored = run_quick_app(run_jurigged, tmp_path)
    assert ignored.output("err") == (
        f"jurigged: ignoring {pyproject}: it is writable by other users (mode 0666); "
        f"--trust-shared allows it\n")
    assert "Watch" not in ignored.output("out")
    trusted = run_quick_app(run_jurigged, tmp_path, "--trust-shared")
    assert "Watch" in trusted.output("out") and trusted.output("err") == ""


@needs_root
def test_pyproject_planted_in_a_shared_parent_folder_is_ignored(run_jurigged, tmp_path):
    shared = tmp_path / "shared"  # like /tmp: anyone may add a file here
    shared.mkdir()
    os.chmod(shared, 0o1777)
    planted = shared / "pyproject.toml"
    planted.write_text(VERBOSE_PYPROJECT)
    os.chown(planted, NOBODY, NOBODY)
    ignored = run_quick_app(run_jurigged, shared / "project")
    assert f"jurigged: ignoring {planted}: it is owned by nobody (uid {NOBODY})" in (
        ignored.output("err"))
    assert "Watch" not in ignored.output("out")


# -- the events file ----------------------------------------------------------------

def run_with_events(run_jurigged, tmp_path: Path, destination: str):
    (tmp_path / "app.py").write_text("print('ran')\n")
    return run_jurigged("--events", destination, "app.py")


def test_events_file_is_created_private(run_jurigged, tmp_path):
    events = tmp_path / "events.jsonl"
    p = run_with_events(run_jurigged, tmp_path, str(events))
    assert p.wait() == 0, p.output()
    assert stat.S_IMODE(events.stat().st_mode) == 0o600
    assert json.loads(events.read_text().splitlines()[0])["event"] == "watch"


def test_events_to_stdout_with_a_dash(run_jurigged, tmp_path):
    p = run_with_events(run_jurigged, tmp_path, "-")
    assert p.wait() == 0, p.output()
    first = p.output("out").splitlines()[0]
    assert json.loads(first) == {"event": "watch", "file": str(tmp_path / "app.py")}


def test_events_file_planted_as_a_symlink_is_refused(run_jurigged, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "events.jsonl").symlink_to(victim)
    p = run_with_events(run_jurigged, tmp_path, "events.jsonl")
    assert p.wait() == 2
    assert p.output() == ("jurigged: error: cannot write events: events.jsonl is a "
                          "symbolic link (not followed)\n")
    assert victim.read_text() == "precious\n"


def test_events_file_that_is_a_fifo_is_refused_without_hanging(run_jurigged, tmp_path):
    os.mkfifo(tmp_path / "events.jsonl")
    p = run_with_events(run_jurigged, tmp_path, "events.jsonl")
    assert p.wait() == 2
    assert p.output() == ("jurigged: error: cannot write events: events.jsonl is not a "
                          "regular file\n")


def test_events_file_with_another_hard_link_is_refused(run_jurigged, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    os.link(victim, tmp_path / "events.jsonl")
    p = run_with_events(run_jurigged, tmp_path, "events.jsonl")
    assert p.wait() == 2
    assert "events.jsonl has other hard links" in p.output("err")
    assert victim.read_text() == "precious\n"


@needs_root
def test_events_file_of_another_user_is_refused(run_jurigged, tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text("")
    os.chown(events, NOBODY, NOBODY)
    p = run_with_events(run_jurigged, tmp_path, str(events))
    assert p.wait() == 2
    assert p.output() == (f"jurigged: error: cannot write events: {events} is owned by "
                          f"nobody (uid {NOBODY}), not by you\n")
    assert events.read_text() == ""


# -- the rule itself ----------------------------------------------------------------

def test_rule_accepts_the_test_folders(tmp_path):
    # Every end-to-end test relies on this: their programs live under tmp_path.
    (tmp_path / "a.py").write_text("")
    assert trust.why_untrusted(str(tmp_path / "a.py")) is None


def test_rule_accepts_a_file_writable_by_our_private_group(tmp_path):
    # Debian, Ubuntu and Fedora give each user a group of their own, and umask 002.
    if not trust._is_private_group(os.getegid(), os.geteuid()):
        pytest.skip("the primary group of this user is shared with others")
    (tmp_path / "a.py").write_text("")
    os.chmod(tmp_path / "a.py", 0o664)
    os.chmod(tmp_path, 0o775)
    assert trust.why_untrusted(str(tmp_path / "a.py")) is None


def test_rule_names_the_entry_at_fault(tmp_path):
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (deep / "m.py").write_text("")
    os.chmod(tmp_path / "a", 0o777)
    assert trust.why_untrusted(str(deep / "m.py")) == (
        f"the directory {tmp_path / 'a'} is writable by other users (mode 0777, no "
        f"sticky bit)")
    os.chmod(tmp_path / "a", 0o1777)
    assert trust.why_untrusted(str(deep / "m.py")) is None


def test_rule_follows_relative_links_and_dot_dot(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "m.py").write_text("")
    (tmp_path / "link.py").symlink_to("real/../real/m.py")
    assert trust.why_untrusted(str(tmp_path / "link.py")) is None
    os.chmod(tmp_path / "real" / "m.py", 0o646)
    assert trust.why_untrusted(str(tmp_path / "link.py")) == (
        f"the file {tmp_path / 'real' / 'm.py'} (reached through the symbolic link "
        f"{tmp_path / 'link.py'}) is writable by other users (mode 0646)")


def test_rule_refuses_what_it_cannot_check(tmp_path):
    (tmp_path / "loop").symlink_to("loop")
    assert "more than 40 symbolic links" in trust.why_untrusted(str(tmp_path / "loop"))
    assert trust.why_untrusted(str(tmp_path / "gone.py")) == (
        f"{tmp_path / 'gone.py'} cannot be checked: No such file or directory")


@needs_root
def test_rule_refuses_a_link_owned_by_another_user(tmp_path):
    (tmp_path / "m.py").write_text("")
    link = tmp_path / "link.py"
    link.symlink_to(tmp_path / "m.py")
    os.lchown(link, NOBODY, NOBODY)
    assert trust.why_untrusted(str(link)) == (
        f"it (a symbolic link) is owned by nobody (uid {NOBODY})")
