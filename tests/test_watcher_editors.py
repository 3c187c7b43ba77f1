"""Real editors and git saving watched files, outside /tmp so that vim and emacs make
their backups (and rename-saves) as they do in a project. Each save must give exactly
one Changed with the new content. In CI (CI set) a missing tool is a failure."""

import os

import pytest

from jurigged._core import Watcher
from watcher_support import changed, collect, collect_while, events, make_workdir, remove_workdir, require_tool, run


@pytest.fixture
def workdir():
    path = make_workdir()
    yield path
    remove_workdir(path)


@pytest.fixture
def module(workdir):
    path = workdir / "mod.py"
    path.write_bytes(b"value = 1\n")
    return path


def start(path, **options):
    watcher = Watcher(**options)
    watcher.add(str(path), path.read_bytes())
    return watcher


def vim_save(path, text, *settings):
    # backupskip is cleared in case the directory matches it; the rest are vim's defaults
    # (backupcopy=auto, writebackup) unless a test sets them.
    commands = ["set backupskip=", *settings, f"call setline(1, '{text}')", "wq"]
    args = [require_tool("vim"), "-Nu", "NONE", "-i", "NONE", "-es"]
    for command in commands:
        args += ["-c", command]
    run(*args, str(path))


@pytest.mark.parametrize(
    "settings, replaces_inode",
    [
        ((), True),  # default: renames the original to a backup, writes a new file
        (("set backupcopy=no",), True),
        (("set backupcopy=yes",), False),  # copies to the backup, writes in place
        (("set backup",), True),  # keeps mod.py~
    ],
    ids=["default", "backupcopy=no", "backupcopy=yes", "backup"],
)
@pytest.mark.parametrize("poll_ms", [0, 50], ids=["inotify", "polling"])
def test_vim(module, settings, replaces_inode, poll_ms):
    watcher = start(module, poll_ms=poll_ms)
    for n in (2, 3):
        inode = os.stat(module).st_ino
        vim_save(module, f"value = {n}", *settings)
        assert (os.stat(module).st_ino != inode) == replaces_inode  # the style really ran
        assert events(watcher, 1) == [changed(module, b"value = %d\n" % n)]
    watcher.close()


EMACS_TWO_SAVES = """
(progn
  (setq backup-enable-predicate (lambda (name) t))
  (find-file "{path}")
  (erase-buffer) (insert "value = 2\\n") (save-buffer)
  (sleep-for 0.6)
  (erase-buffer) (insert "value = 3\\n") (save-buffer))
"""


@pytest.mark.parametrize("poll_ms", [0, 50], ids=["inotify", "polling"])
def test_emacs_two_saves_in_one_session(module, poll_ms):
    # The first save of a session renames mod.py to mod.py~ and writes a new file;
    # the second writes in place. They are 0.6 s apart: two Changed, not one.
    watcher = start(module, poll_ms=poll_ms)
    inode = os.stat(module).st_ino
    run(require_tool("emacs"), "--batch", "-Q", "--eval", EMACS_TWO_SAVES.format(path=module))
    assert (module.parent / "mod.py~").read_bytes() == b"value = 1\n"
    assert os.stat(module.parent / "mod.py~").st_ino == inode  # the rename-save happened
    # Both saves are over when emacs exits, so one wait() may return both.
    assert events(watcher, 2) == [changed(module, b"value = 2\n"), changed(module, b"value = 3\n")]
    watcher.close()


def git(workdir, *args):
    return run(require_tool("git"), "-c", "user.name=t", "-c", "user.email=t@example.org", *args, cwd=workdir)


@pytest.mark.parametrize("poll_ms", [0, 50], ids=["inotify", "polling"])
def test_git_checkout_of_several_modules_is_one_batch(workdir, poll_ms):
    paths = [workdir / f"mod{i}.py" for i in range(10)]
    git(workdir, "init", "-q", "-b", "one")
    for path in paths:
        path.write_bytes(b"value = 1\n")
    git(workdir, "add", ".")
    git(workdir, "commit", "-qm", "one")
    git(workdir, "checkout", "-qb", "two")
    for i, path in enumerate(paths):
        path.write_bytes(b"value = %d\n" % (i + 10))
    git(workdir, "commit", "-qam", "two")
    git(workdir, "checkout", "-q", "one")

    watcher = Watcher(poll_ms=poll_ms)
    for path in paths:
        watcher.add(str(path), path.read_bytes())
    assert collect(watcher, 0) == []
    for branch, value in (("two", lambda i: i + 10), ("one", lambda i: 1)):
        batches = collect_while(watcher, lambda: git(workdir, "checkout", "-q", branch), len(paths))
        assert len(batches) == 1
        assert sorted(batches[0]) == sorted(changed(p, b"value = %d\n" % value(i)) for i, p in enumerate(paths))
    watcher.close()
