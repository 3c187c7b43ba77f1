"""Helpers for the watcher tests: real files in a directory outside /tmp (editors skip
backups under /tmp, which would hide their rename-saves), and event collection."""

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from jurigged._core import Watcher

REPO = Path(__file__).resolve().parents[1]


def make_workdir():
    base = REPO / "build" / "watcher-tests"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=base))


def remove_workdir(path):
    shutil.rmtree(path, ignore_errors=True)


def collect(watcher, count, timeout=5.0, quiet=0.4):
    """Batches (each one wait() result) until `count` events arrived or `timeout`
    passed, then `quiet` seconds more so that an extra event would be seen too."""
    batches = []
    received = 0
    end = time.monotonic() + timeout
    while received < count:
        left = end - time.monotonic()
        if left <= 0:
            break
        batch = watcher.wait(max(1, int(left * 1000)))
        if batch:
            batches.append(batch)
            received += len(batch)
    end = time.monotonic() + quiet
    while (left := end - time.monotonic()) > 0:
        batch = watcher.wait(max(1, int(left * 1000)))
        if batch:
            batches.append(batch)
    return batches


def collect_while(watcher, action, count, **kwargs):
    """collect() while `action` runs in another thread: a wait() is then in progress
    when each batch is settled, so two batches cannot hide in one wait() result."""
    thread = threading.Thread(target=action)
    thread.start()
    try:
        return collect(watcher, count, **kwargs)
    finally:
        thread.join()


def events(watcher, count, **kwargs):
    return [event for batch in collect(watcher, count, **kwargs) for event in batch]


def changed(path, content):
    return ("changed", str(path), content, "")


def deleted(path):
    return ("deleted", str(path), b"", "")


def require_tool(name):
    """The tool's path. In CI (CI set) a missing editor fails the test instead of
    skipping it, so that the editor tests cannot silently stop running."""
    found = shutil.which(name)
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{name} is required in CI (apt-get install vim emacs-nox git)")
    pytest.skip(f"{name} is not installed")


def run(*args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, timeout=60, **kwargs)


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


def vim_save(path, line, *settings):
    """Replace the first line of `path` with `line` and save, as real vim does: its
    default backup settings (backupcopy=auto, writebackup) unless `settings` change
    them; backupskip is cleared in case the folder matches it."""
    commands = ["set backupskip=", *settings, f"call setline(1, '{line}')", "wq"]
    args = [require_tool("vim"), "-Nu", "NONE", "-i", "NONE", "-es"]
    for command in commands:
        args += ["-c", command]
    run(*args, str(path))


def emacs_two_saves(path, first, second):
    """Two saves of `path` (made of one line each) in one emacs session, 0.6 s apart:
    the first save renames the file to a backup and writes a new one, the second
    writes in place."""
    script = f"""
    (progn
      (setq backup-enable-predicate (lambda (name) t))
      (find-file "{path}")
      (erase-buffer) (insert "{first}\\n") (save-buffer)
      (sleep-for 0.6)
      (erase-buffer) (insert "{second}\\n") (save-buffer))
    """
    run(require_tool("emacs"), "--batch", "-Q", "--eval", script)
