# Calls that were running old code when a save landed. A running frame keeps the code
# it started with (CPython cannot move it to new code), so a loop or a long call
# would go on with the old version silently. Those still running a moment after the
# save are named in one log line each; the many short calls that merely overlapped
# the save (they are done by then, and the next call runs the new code) are not.

from __future__ import annotations

import threading
import time
import types
from dataclasses import dataclass
from typing import Iterable, List, Tuple

from . import _core
from .logs import logger

# How long after the save a call must still be running to be named.
STILL_RUNNING_AFTER = 1.0


@dataclass(frozen=True)
class RunningCall:
    """A frame that was running old code at a save, and what to say if it still is.
    The frame is known by thread, address and code, not held: holding it would keep
    its locals alive after the call returns."""

    thread: int
    frame_id: int
    code: types.CodeType
    message: str
    path: str
    line: int


def frames_running(codes: Iterable[types.CodeType]) -> List[Tuple[int, types.FrameType]]:
    """(thread id, frame) of the frames of every thread (suspended generators aside)
    that run one of `codes` (told apart by identity)."""
    return _core.frames_running(codes)


class _Watch:
    """Holds the calls to look at again, each at its own time (a second after its
    save), with at most one timer pending."""

    def __init__(self):
        self._lock = threading.Lock()
        self._calls: List[Tuple[float, RunningCall]] = []  # (when to look, call)
        self._timer = None

    def add(self, calls: List[RunningCall]) -> None:
        if not calls:
            return
        due = time.monotonic() + STILL_RUNNING_AFTER
        with self._lock:
            self._calls.extend((due, call) for call in calls)
            if self._timer is None:
                self._start(STILL_RUNNING_AFTER)

    def _start(self, delay: float) -> None:
        self._timer = threading.Timer(delay, self._check)
        self._timer.daemon = True
        self._timer.start()

    def _check(self) -> None:
        try:
            now = time.monotonic()
            with self._lock:
                due = [call for when, call in self._calls if when <= now]
                self._calls = [(when, call) for when, call in self._calls if when > now]
                self._timer = None
                if self._calls:
                    self._start(max(0.0, min(when for when, _ in self._calls) - now))
            running = {(thread, id(frame), id(frame.f_code)) for thread, frame
                       in frames_running(call.code for call in due)}
            said = set()
            for call in due:
                if (call.thread, call.frame_id, id(call.code)) in running and (
                        call.message not in said):
                    said.add(call.message)
                    logger.notice(call.message, call.path, call.line)
        except Exception as exc:  # a thread of ours never raises into the program
            logger.error(f"internal error while looking at running calls ({exc})", "", 0, exc)


_watch = _Watch()


def watch_calls(calls: List[RunningCall]) -> None:
    """Name, a moment from now, each of `calls` whose frame is still running then."""
    _watch.add(calls)


def calls_of_swapped_code(old_codes: Iterable[Tuple[types.CodeType, str]], path: str
                          ) -> List[RunningCall]:
    """The running calls of code a save replaced (`old_codes`: (code, qualified name)
    pairs; codes are told apart by identity, as frames run them)."""
    by_id = {id(code): name for code, name in old_codes}
    calls = []
    for thread, frame in frames_running(code for code, _ in old_codes):
        name = by_id[id(frame.f_code)]
        line = frame.f_code.co_firstlineno
        calls.append(RunningCall(
            thread, id(frame), frame.f_code, f"{path}:{line}: a call of {name} that was running when it changed "
                   f"is still running: it goes on with the old code (the next call runs "
                   f"the new one)", path, line))
    return calls
