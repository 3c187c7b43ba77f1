"""Running one benchmark program under a tool, and the small helpers around it.

A `Program` starts a fresh process, collects the lines it reports (see
programs/loop.py) from a reader thread, and on exit reads the child's own resource
usage through wait4 (peak RSS and CPU time of that child only).
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from envs import Tool

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "programs"
clock = time.monotonic  # CLOCK_MONOTONIC, the clock the programs report in

IN_PLACE, RENAME, RENAME_OUTSIDE = "in place", "rename", "rename from outside"
SAVE_STYLES = (IN_PLACE, RENAME, RENAME_OUTSIDE)


class Workdir:
    """A fresh temporary directory holding the watched files and a copy of the
    programs, used as the current directory: both reloaders watch the *.py files
    under it by default, script included (the programs not run are never imported,
    so never watched)."""

    def __init__(self, program: str, files: Sequence[Tuple[str, str]] = ()):
        # root/work is the watched directory; root/save, outside it and on the same
        # file system, holds the temporary files of "outside" rename saves.
        self.root = Path(tempfile.mkdtemp(prefix="jurigged-bench-"))
        self.path = self.root / "work"
        self.saves = self.root / "save"
        self.path.mkdir()
        self.saves.mkdir()
        for source in PROGRAMS.glob("*.py"):
            # Mode 0644 whatever the checkout's umask: a group-writable program (a
            # clone made with umask 002, a `git archive` unpacked) sends the trust
            # check to the group database (pwd.getpwall: ~0.5 MB and ~1 ms more).
            shutil.copyfile(source, self.path / source.name)
            os.chmod(self.path / source.name, 0o644)
        self.program = program
        for name, text in files:
            self.write(name, text)

    def write(self, name: str, text: str, rename: str = IN_PLACE) -> float:
        """Save `text` as `name` in one of the SAVE_STYLES and return the
        CLOCK_MONOTONIC time at which the save was complete:
        - IN_PLACE: truncate + write (most editors' plain save);
        - RENAME: a temporary file beside it, renamed over it (an atomic save; a
          watcher sees a move from the temporary name to the module's);
        - RENAME_OUTSIDE: the temporary file in a directory nobody watches, renamed
          over it (a watcher sees only the module's name arrive)."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if rename == IN_PLACE:
            written = target
        elif rename == RENAME:
            written = target.with_name(target.name + ".~save")
        elif rename == RENAME_OUTSIDE:
            written = self.saves / target.name
        else:
            raise ValueError(f"unknown save style {rename!r}")
        with open(written, "w") as handle:
            handle.write(text)
        if written != target:
            os.replace(written, target)
        return clock()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.root, ignore_errors=True)


class Program:
    """One process: `tool` running the copied program with `args` in `workdir`."""

    def __init__(self, tool: Tool, workdir: Workdir, *args: str):
        self.tool = tool
        self.stderr = tempfile.TemporaryFile()
        self.started = clock()
        environment = dict(os.environ, PYTHONUNBUFFERED="1")
        environment.pop("PYTHONPATH", None)
        self.process = subprocess.Popen(
            tool.argv(workdir.program, *args), cwd=workdir.path, env=environment,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr)
        self.lines: List[Tuple[str, float, str]] = []  # (kind, time, rest)
        self.other: List[str] = []  # anything else printed on stdout
        self._changed = threading.Condition()
        self.usage = None
        self.wall = None
        self.peak_kb: Optional[int] = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.process.stdout:
            text = raw.decode(errors="replace").rstrip("\n")
            parts = text.split(" ", 2)
            with self._changed:
                try:
                    self.lines.append((parts[0], float(parts[1]),
                                       parts[2] if len(parts) > 2 else ""))
                except (IndexError, ValueError):
                    self.other.append(text)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, accept: Callable[[str, float, str], bool], timeout: float,
                 start: int = 0) -> Optional[Tuple[int, Tuple[str, float, str]]]:
        """The first reported line from index `start` on that `accept`s, waiting at
        most `timeout` seconds; None if none came (or the process ended)."""
        deadline = clock() + timeout
        index = start
        with self._changed:
            while True:
                while index < len(self.lines):
                    if accept(*self.lines[index]):
                        return index, self.lines[index]
                    index += 1
                left = deadline - clock()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    return None
                self._changed.wait(min(left, 0.5))

    def gaps(self, start: float, end: float) -> List[float]:
        """Durations of the loop gaps overlapping [start, end]."""
        with self._changed:
            return [float(rest) for kind, t, rest in self.lines
                    if kind == "gap" and t >= start and t - float(rest) <= end]

    def stop(self) -> None:
        """Read the peak RSS, SIGTERM, then collect the child's exit."""
        if self.process.poll() is None and self.usage is None:
            self.peak_kb = peak_rss_kb(self.process.pid)
            self.process.send_signal(signal.SIGTERM)
        self.finish()

    def finish(self, timeout: Optional[float] = None) -> None:
        """Reap the child (killing it after `timeout` seconds) through wait4, which,
        unlike Popen.wait, gives this child's own CPU times."""
        if self.usage is not None:
            return
        deadline = None if timeout is None else clock() + timeout
        while True:
            pid, status, usage = os.wait4(self.process.pid,
                                          0 if deadline is None else os.WNOHANG)
            if pid:
                self.wall = clock() - self.started
                self.usage = usage
                self.process.returncode = os.waitstatus_to_exitcode(status)
                break
            if clock() > deadline:
                self.process.kill()
                deadline = None
            else:
                time.sleep(0.0005)
        self._reader.join(5)

    def error_text(self, limit: int = 1500) -> str:
        self.stderr.seek(0)
        text = self.stderr.read().decode(errors="replace")
        return text[-limit:]

    def last_error(self) -> str:
        """The last line the tool printed on stderr (the exception, for a traceback)."""
        lines = [line for line in self.error_text(4000).splitlines() if line.strip()]
        return lines[-1].strip() if lines else "(nothing on stderr)"

    @property
    def peak_rss_mb(self) -> float:
        """Peak RSS: VmHWM read just before stopping it, or the value a program that
        exits by itself reported ("peak T KB"). Not wait4's ru_maxrss: Linux carries
        the pre-exec RSS of the forked harness into it (about 20 MB here), which
        hides the real figure of a small program."""
        kb = self.peak_kb
        if kb is None:
            reported = [rest for kind, _, rest in self.lines if kind == "peak"]
            kb = int(reported[-1]) if reported else None
        return kb / 1024 if kb is not None else float("nan")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.stderr.close()


def peak_rss_kb(pid: int) -> Optional[int]:
    return _status_kb(pid, "VmHWM")


def current_rss_kb(pid: int) -> Optional[int]:
    return _status_kb(pid, "VmRSS")


def _status_kb(pid: int, field: str) -> Optional[int]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: always a measured value)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary(values: Sequence[float]) -> Dict[str, float]:
    return {"p50": percentile(values, 0.5), "p90": percentile(values, 0.9),
            "max": max(values) if values else float("nan"), "n": len(values)}
