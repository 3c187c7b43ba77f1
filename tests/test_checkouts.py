"""checkouts.activity: a git index lock holds saves only while git may be writing, and a
just-written index says a git command has just ended."""

from __future__ import annotations

import os
import time

from jurigged import checkouts


def repository(tmp_path):
    (tmp_path / ".git").mkdir()
    saved = tmp_path / "pkg" / "mod.py"
    saved.parent.mkdir()
    saved.write_text("x = 1\n")
    checkouts._git_dirs.clear()
    return tmp_path / ".git" / "index.lock", str(saved)


def test_a_fresh_lock_is_a_checkout(tmp_path, monkeypatch):
    lock, saved = repository(tmp_path)
    monkeypatch.setattr(checkouts, "_git_running", lambda: False)
    assert not checkouts.in_progress([saved])
    lock.write_text("")
    assert checkouts.in_progress([saved])


def test_an_old_lock_is_stale_unless_git_runs(tmp_path, monkeypatch):
    lock, saved = repository(tmp_path)
    lock.write_text("")
    old = time.time() - 10 * checkouts.STALE_AFTER_S
    os.utime(lock, (old, old))
    monkeypatch.setattr(checkouts, "_git_running", lambda: False)
    assert not checkouts.in_progress([saved])
    monkeypatch.setattr(checkouts, "_git_running", lambda: True)  # a long checkout
    assert checkouts.in_progress([saved])


def test_git_processes_are_seen(tmp_path):
    # This test's own git child is one (`cat-file --batch` in a repository waits for
    # its input).
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    child = subprocess.Popen(["git", "cat-file", "--batch"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, cwd=tmp_path)
    try:
        child.stdin.write(b"HEAD\n")
        child.stdin.flush()
        assert child.stdout.readline()  # answered: git runs (no longer the fork of us)
        assert checkouts._git_running()
    finally:
        child.stdin.close()
        child.wait()


def test_activity_tells_a_running_git_from_one_that_just_ended(tmp_path):
    lock, saved = repository(tmp_path)
    other = tmp_path / "elsewhere"
    (other / ".git").mkdir(parents=True)
    (other / "b.py").write_text("")
    both = [saved, str(other / "b.py")]
    assert checkouts.activity(both) == checkouts.QUIET  # no index yet
    index = other / ".git" / "index"
    index.write_text("")
    assert checkouts.activity(both) == checkouts.JUST_ENDED
    old = time.time() - 10 * checkouts.JUST_ENDED_S
    os.utime(index, (old, old))
    assert checkouts.activity(both) == checkouts.QUIET
    lock.write_text("")  # the other repository's git holds its lock
    assert checkouts.activity(both) == checkouts.RUNNING
    assert checkouts.activity([str(other / "b.py")]) == checkouts.QUIET
    assert checkouts.activity([str(tmp_path / "top.py")]) == checkouts.RUNNING
