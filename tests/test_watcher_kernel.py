"""The watcher when the kernel gives up: the inotify queue overflows (events are lost,
every file is re-read by content) or the watch limit is reached (fall back to polling).
The watcher runs in a child process (tests/watcher_child.py) so that it can be stopped,
or given tiny limits in its own user namespace. The kernel's limits are the engine's
business alone (main_only); the fork test also runs on every interpreter, whose
os.fork() differs (3.12 warns when threads run)."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from watcher_support import workdir  # noqa: F401 (fixture)

CHILD = Path(__file__).with_name("watcher_child.py")




class Child:
    def __init__(self, args):
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def next(self, timeout=10):
        return self.lines.get(timeout=timeout)

    def close(self):
        self.process.kill()
        self.process.wait()


@pytest.mark.main_only
def test_queue_overflow_rereads_every_file(workdir):
    module = workdir / "mod.py"
    module.write_bytes(b"value = 1\n")
    child = Child([sys.executable, str(CHILD), str(module)])
    try:
        assert child.next() == ["ready", "", "", "False"]
        time.sleep(0.3)  # past the first quiet period
        # While the watcher's process is stopped nothing reads the queue; alternating
        # names keep the kernel from merging consecutive identical events.
        queue_size = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
        os.kill(child.process.pid, signal.SIGSTOP)
        try:
            scratch = [workdir / "a.txt", workdir / "b.txt"]
            for path in scratch:
                path.write_bytes(b"")
            for i in range(queue_size // 2 + 1000):
                for path in scratch:
                    os.utime(path)
            module.write_bytes(b"value = 2\n")  # its event is among those dropped
        finally:
            os.kill(child.process.pid, signal.SIGCONT)
        received = [child.next(), child.next()]
        assert received[0][0] == "notice" and "overflowed" in received[0][3]
        assert received[1] == ["changed", str(module), "value = 2\n", ""]
        with pytest.raises(queue.Empty):
            child.next(timeout=0.5)
    finally:
        child.close()


def can_unshare():
    try:
        return subprocess.run(["unshare", "-Ur", "true"], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not can_unshare(), reason="needs unprivileged user namespaces (unshare -Ur)")
@pytest.mark.parametrize(
    "limit, reason",
    [("max_inotify_watches", "watch limit"), ("max_inotify_instances", "inotify_init1 failed")],
)
@pytest.mark.main_only
def test_kernel_limit_falls_back_to_polling(workdir, limit, reason):
    paths = []
    for name in ("one", "two", "three"):
        (workdir / name).mkdir()
        paths.append(workdir / name / "mod.py")
        paths[-1].write_bytes(b"value = 1\n")
    # The limits in /proc/sys/user are per user namespace: 1 watch, or no instance at all.
    value = 1 if limit == "max_inotify_watches" else 0
    script = f'echo {value} > /proc/sys/user/{limit} && exec "$@"'
    child = Child(["unshare", "-Ur", "sh", "-c", script, "sh", sys.executable, str(CHILD), *map(str, paths)])
    try:
        ready, notice = child.next(), child.next()
        assert ready == ["ready", "", "", "True"]
        assert notice[0] == "notice" and reason in notice[3] and "polling" in notice[3]
        paths[2].write_bytes(b"value = 2\n")
        paths[0].write_bytes(b"value = 3\n")
        received = sorted([child.next(), child.next()])
        assert received == [
            ["changed", str(paths[0]), "value = 3\n", ""],
            ["changed", str(paths[2]), "value = 2\n", ""],
        ]
        with pytest.raises(queue.Empty):
            child.next(timeout=0.5)
    finally:
        child.close()


FORK_SCRIPT = """
import os, sys
from jurigged._core import Watcher

parent_file, child_file = sys.argv[1], sys.argv[2]
watcher = Watcher()
watcher.add(parent_file, open(parent_file, "rb").read())
watcher.wait(300)
pid = os.fork()
if pid == 0:
    # The inherited watcher is inert here; a new one works, and exiting normally
    # (the inherited one is destroyed then) must not disturb the parent's.
    mine = Watcher()
    mine.add(child_file, open(child_file, "rb").read())
    with open(child_file, "wb") as f:
        f.write(b"child = 2\\n")
    print("child", mine.wait(3000), flush=True)
    sys.exit(0)
os.waitpid(pid, 0)
with open(parent_file, "wb") as f:
    f.write(b"parent = 2\\n")
print("parent", watcher.wait(3000), flush=True)
"""


def test_fork_leaves_the_parent_watcher_working(workdir):
    parent_file, child_file = workdir / "parent.py", workdir / "child.py"
    parent_file.write_bytes(b"parent = 1\n")
    child_file.write_bytes(b"child = 1\n")
    result = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, str(parent_file), str(child_file)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "child " + repr([("changed", str(child_file), b"child = 2\n", "")]),
        "parent " + repr([("changed", str(parent_file), b"parent = 2\n", "")]),
    ]


FORK_DURING_ADD_SCRIPT = """
import os, sys, threading, time
from jurigged._core import Watcher

folder, forks = sys.argv[1], int(sys.argv[2])
watcher = Watcher()
running = True

def keep_adding():  # as a thread importing modules does, with the GIL released
    number = 0
    while running:
        watcher.add(os.path.join(folder, f"m{number % 20}.py"), b"x = 1\\n")
        number += 1

adder = threading.Thread(target=keep_adding)
adder.start()
hung = 0
for _ in range(forks):
    pid = os.fork()
    if pid == 0:
        watcher.close()  # what a forked child does with the watcher it inherited
        watcher.closed
        os._exit(0)
    deadline = time.monotonic() + 3
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            hung += 1
            break
        time.sleep(0.001)
running = False
adder.join()
print("hung", hung, flush=True)
"""


@pytest.mark.main_only
def test_fork_while_another_thread_adds_files(workdir):
    """A child forked while another thread was inside add() inherits the watcher's
    locks held for ever: closing the inherited watcher there must not wait for them
    (it hung in about one fork out of 20)."""
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", FORK_DURING_ADD_SCRIPT, str(workdir), "150"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["hung", "0"]


@pytest.mark.main_only
def test_permission_denied_gives_one_error(workdir):
    # Root reads anything, so as root the watcher runs as nobody in a child process.
    module = workdir / "mod.py"
    module.write_bytes(b"value = 1\n")
    module.chmod(0o644)
    args = [sys.executable, str(CHILD), str(module)]
    if os.geteuid() == 0:
        workdir.chmod(0o755)
        args = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *args]
        probe = subprocess.run([*args[:4], sys.executable, "-c", "import jurigged._core"],
                               capture_output=True)
        if probe.returncode != 0:
            pytest.skip("user nobody cannot run this interpreter with jurigged installed "
                        "(its installation is not readable by other users)")
    child = Child(args)
    try:
        assert child.next()[0] == "ready"
        time.sleep(0.3)
        module.chmod(0o000)
        kind, path, _, message = child.next()
        assert (kind, path) == ("error", str(module))
        assert message == f"cannot read {module}: Permission denied"
        os.utime(module)  # more events: the same error is not repeated
        module.chmod(0o200)
        with pytest.raises(queue.Empty):
            child.next(timeout=0.5)
        module.chmod(0o644)  # readable again, same content: nothing
        with pytest.raises(queue.Empty):
            child.next(timeout=0.5)
        module.write_bytes(b"value = 2\n")
        assert child.next() == ["changed", str(module), "value = 2\n", ""]
    finally:
        child.close()
