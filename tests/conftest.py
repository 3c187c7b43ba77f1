"""Helpers for tests that run the real `jurigged` command in a subprocess."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Union

import pytest


def jurigged_command() -> List[str]:
    """The installed `jurigged` console script of the Python running the tests."""
    script = Path(sys.executable).parent / "jurigged"
    if not script.exists():
        found = shutil.which("jurigged")
        if found is None:
            pytest.fail("the jurigged command is not installed: pip install . first")
        script = Path(found)
    return [str(script)]


def subprocess_env(home: Path) -> dict:
    """The environment for a child process: unbuffered output (lines arrive as soon as
    they are printed) and a private HOME (the prompt keeps its history there)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", HOME=str(home))
    for name in ("PYTHONSAFEPATH", "PYTHONINSPECT", "PYTHONSTARTUP"):
        env.pop(name, None)
    return env


class JuriggedProcess:
    """A running `jurigged ARGS...` whose output is read line by line, with timeouts.

    stdout and stderr are read separately (`stream="out"` or `"err"`) and together
    (`stream="all"`, in order of arrival). Every method that waits fails the test
    with everything printed so far when its timeout expires, so a hung process
    shows why.
    """

    def __init__(self, args: List[str], cwd: Path, env: dict, command: List[str]):
        self.args = args
        self.popen = subprocess.Popen(
            [*command, *args], cwd=str(cwd), env=env, text=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True)  # its own process group: kill() ends its children too
        self.lines = {"out": [], "err": [], "all": []}
        self._seen = {"out": 0, "err": 0, "all": 0}  # lines already passed by expect()
        self._arrivals = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read, args=(pipe, name), daemon=True)
            for pipe, name in ((self.popen.stdout, "out"), (self.popen.stderr, "err"))]
        for reader in self._readers:
            reader.start()

    def _read(self, pipe, name: str) -> None:
        for line in pipe:
            self._arrivals.put((name, line.rstrip("\n")))
        self._arrivals.put((name, None))

    def _pump(self, timeout: float) -> bool:
        """Move one arrival into `lines`; False if none came within `timeout`."""
        try:
            name, line = self._arrivals.get(timeout=max(timeout, 0))
        except queue.Empty:
            return False
        if line is not None:
            self.lines[name].append(line)
            self.lines["all"].append(line)
        return True

    def expect(self, text: str, stream: str = "all", timeout: float = 10) -> str:
        """Wait for the next line (after those already expected) of `stream` that
        contains `text`, and return it."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines[stream]
            while self._seen[stream] < len(lines):
                line = lines[self._seen[stream]]
                self._seen[stream] += 1
                if text in line:
                    return line
            if not self._pump(deadline - time.monotonic()):
                self.fail(f"no line containing {text!r} within {timeout}s")

    def seen(self, text: str, stream: str = "all", timeout: float = 10) -> str:
        """Wait until some line of `stream`, earlier or later, contains `text` (for
        lines whose order against others does not matter), and return it."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines[stream]:
                if text in line:
                    return line
            if not self._pump(deadline - time.monotonic()):
                self.fail(f"no line containing {text!r} within {timeout}s")

    def seen_times(self, text: str, times: int, stream: str = "all",
                   timeout: float = 10) -> None:
        """Wait until `times` lines of `stream`, in any order, contain `text`."""
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.lines[stream]) < times:
            if not self._pump(deadline - time.monotonic()):
                self.fail(f"fewer than {times} lines containing {text!r} within {timeout}s")

    def wait(self, timeout: float = 10) -> int:
        """Wait for the process to end and all its output to be read; return its
        status (negative: killed by that signal)."""
        try:
            status = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"still running after {timeout}s")
        for reader in self._readers:
            reader.join(timeout)
        while self._pump(0):
            pass
        return status

    def output(self, stream: str = "all") -> str:
        return "".join(line + "\n" for line in self.lines[stream])

    def send_signal(self, signal_number: int) -> None:
        self.popen.send_signal(signal_number)

    def kill(self) -> None:
        """Kill the process and whatever it started that is still running (a pool's
        workers, a forked child), which would otherwise outlive the test."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()

    def fail(self, reason: str):
        while self._pump(0):
            pass
        self.kill()
        pytest.fail(f"jurigged {' '.join(self.args)}: {reason}; output so far:\n"
                    f"{self.output()}")


def started_processes(tmp_path: Path, make: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """The body of a fixture that starts processes (`yield from` it): yields
    `start(*args, **options)`, which returns `make(args, home, **options)` with `home` a
    folder under tmp_path for the process's HOME, and kills every process it started
    (their `kill()`) when the test ends."""
    processes = []
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)

    def start(*args: str, **options):
        process = make(list(args), home, **options)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.kill()


@pytest.fixture
def run_jurigged(tmp_path):
    """Start `jurigged` on files in a temporary folder and read what it prints.

    Usage::

        def test_it(run_jurigged, tmp_path):
            (tmp_path / "app.py").write_text("print('ready')\\n")
            process = run_jurigged("app.py", "--some-arg")
            process.expect("ready", timeout=5)
            assert process.wait() == 0

    Arguments are passed to `jurigged` as they are; `cwd` (default: tmp_path) is where
    it runs; `command` replaces the `jurigged` executable, for example with
    `[sys.executable, "-m", "jurigged"]`. HOME is a folder under tmp_path. Processes
    still running at the end of the test are killed.
    """
    def make(args: List[str], home: Path, cwd: Optional[Union[str, Path]] = None,
             command: Optional[List[str]] = None, env: Optional[dict] = None
             ) -> JuriggedProcess:
        return JuriggedProcess(args, Path(cwd or tmp_path), env or subprocess_env(home),
                               command or jurigged_command())

    yield from started_processes(tmp_path, make)
