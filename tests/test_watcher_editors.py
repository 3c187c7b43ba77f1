"""Real editors and git saving watched files, outside /tmp so that vim and emacs make
their backups (and rename-saves) as they do in a project. Each save must give exactly
one Changed with the new content. In CI (CI set) a missing tool is a failure."""

import os

import pytest

from jurigged._core import Watcher
from watcher_support import changed, collect, collect_while, emacs_two_saves, events, require_tool, run, vim_save, module, start, workdir  # noqa: F401 (fixtures)

# How an editor saves does not depend on the interpreter: once, on the main one.
pytestmark = pytest.mark.main_only




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


@pytest.mark.parametrize("poll_ms", [0, 50], ids=["inotify", "polling"])
def test_emacs_two_saves_in_one_session(module, poll_ms):
    # The first save of a session renames mod.py to mod.py~ and writes a new file;
    # the second writes in place. They are 0.6 s apart: two Changed, not one.
    watcher = start(module, poll_ms=poll_ms)
    inode = os.stat(module).st_ino
    # wait() runs while emacs saves: saves still queued when wait() is called would
    # be coalesced into the latest one (by design), so each must be seen as it lands.
    batches = collect_while(watcher, lambda: emacs_two_saves(module, "value = 2", "value = 3"), 2)
    assert (module.parent / "mod.py~").read_bytes() == b"value = 1\n"
    assert os.stat(module.parent / "mod.py~").st_ino == inode  # the rename-save happened
    received = [event for batch in batches for event in batch]
    assert received == [changed(module, b"value = 2\n"), changed(module, b"value = 3\n")]
    watcher.close()


def git(workdir, *args):
    return run(require_tool("git"), "-c", "user.name=t", "-c", "user.email=t@example.org", *args, cwd=workdir)


@pytest.mark.parametrize("poll_ms", [0, 50], ids=["inotify", "polling"])
def test_git_checkout_of_several_modules_is_one_batch_with_a_debounce(workdir, poll_ms):
    # git writes the files one after another: with no quiet period each complete file
    # is handed over at once (see the thirty-files test); the opt-in debounce groups
    # a whole checkout into one batch.
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

    watcher = Watcher(poll_ms=poll_ms, debounce_ms=50)
    for path in paths:
        watcher.add(str(path), path.read_bytes())
    assert collect(watcher, 0) == []
    for branch, value in (("two", lambda i: i + 10), ("one", lambda i: 1)):
        batches = collect_while(watcher, lambda: git(workdir, "checkout", "-q", branch), len(paths))
        assert len(batches) == 1
        assert sorted(batches[0]) == sorted(changed(p, b"value = %d\n" % value(i)) for i, p in enumerate(paths))
    watcher.close()
