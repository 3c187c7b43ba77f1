"""The develoop itself: run a function, show what it did, and run it again on every
applied save (or key) until the person continues or quits."""

from __future__ import annotations

import contextlib
import ctypes
import enum
import functools
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional


class RunInterrupted(BaseException):
    """Raised inside a running loop body when a save or a key asks for a new run.
    A BaseException, so that the looped code's `except Exception` lets it through."""


class Command(enum.Enum):
    RERUN = "r"
    ABORT = "a"
    CONTINUE = "c"
    QUIT = "q"


# When several commands are waiting, the one that ends the loop wins.
_PRIORITY = [Command.QUIT, Command.CONTINUE, Command.RERUN, Command.ABORT]


@dataclass
class Outcome:
    """What one run did."""

    number: int
    result: Any = None
    error: Optional[BaseException] = None
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def status(self) -> str:
        if self.interrupted:
            return "interrupted"
        return "error" if self.error is not None else "result"


class Inbox:
    """Commands for the loop, from any thread, as bytes on a pipe: the waiting loop can
    then select() on it together with the terminal."""

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)

    def put(self, command: Command) -> None:
        try:
            os.write(self.write_fd, command.value.encode())
        except (BlockingIOError, OSError):
            pass  # full (a command is waiting anyway) or closed (the loop ended)

    def take(self) -> Optional[Command]:
        """The most important of the waiting commands (after select said some wait)."""
        os.set_blocking(self.read_fd, False)
        try:
            data = os.read(self.read_fd, 1024)
        except BlockingIOError:
            data = b""
        finally:
            os.set_blocking(self.read_fd, True)
        return pick(data.decode(errors="replace"))

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def pick(keys: str) -> Optional[Command]:
    """The command that typed or queued `keys` ask for (None: none of them is one)."""
    asked = {command for command in Command if command.value in keys.lower()}
    for command in _PRIORITY:
        if command in asked:
            return command
    return None


class Interface:
    """How a develoop shows its runs and hears keys. `wait` blocks until a command
    arrives, from the person or from `inbox` (saves); it returns Command.CONTINUE if
    no command can ever come."""

    def begin(self, session: "Session") -> None:
        pass

    def start_run(self, session: "Session", number: int) -> None:
        pass

    def finish_run(self, session: "Session", outcome: Outcome) -> None:
        pass

    def wait(self, session: "Session", inbox: Inbox) -> Command:
        raise NotImplementedError

    def end(self, session: "Session") -> None:
        pass

    def capture(self):
        """A context manager around each run."""
        return contextlib.nullcontext()


@dataclass
class Session:
    """One call of a looped function: its arguments, and every run made of it."""

    function: Callable
    args: tuple
    kwargs: dict
    interface: Interface
    runs: int = 0
    last: Optional[Outcome] = None
    _thread_id: int = 0
    _running: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _inbox: Optional[Inbox] = None

    def signature(self) -> str:
        name = getattr(self.function, "__qualname__", None) or repr(self.function)
        parts = [_short(arg) for arg in self.args]
        parts += [f"{key}={_short(value)}" for key, value in self.kwargs.items()]
        return f"{name}({', '.join(parts)})"

    def request(self, command: Command) -> None:
        """Ask the loop for `command`, from any thread. A run in progress is
        interrupted when the command means it is no longer wanted."""
        if command in (Command.RERUN, Command.ABORT, Command.QUIT):
            self._interrupt()
        inbox = self._inbox
        if inbox is not None:
            inbox.put(command)

    def _interrupt(self) -> None:
        with self._lock:
            if self._running:
                _raise_in_thread(self._thread_id, RunInterrupted)

    def loop(self, first: Optional[Outcome] = None) -> Any:
        """Run (or start from the outcome `first`) until continue, which returns the
        last result or raises the last error, or quit, which raises SystemExit(1)."""
        __tracebackhide__ = True  # pytest then shows the test's frames only
        self._thread_id = threading.get_ident()
        self._inbox = Inbox()
        unsubscribe = on_applied_save(lambda: self.request(Command.RERUN))
        self.interface.begin(self)
        try:
            outcome = first if first is not None else self.run()
            if first is not None:
                self.runs = first.number
                self.last = first
                self.interface.start_run(self, first.number)
                self.interface.finish_run(self, first)
            while True:
                command = self.interface.wait(self, self._inbox)
                if command is Command.RERUN:
                    outcome = self.run()
                elif command is Command.CONTINUE:
                    break
                elif command is Command.QUIT:
                    raise SystemExit(1)
        finally:
            unsubscribe()
            inbox, self._inbox = self._inbox, None
            inbox.close()
            self.interface.end(self)
        outcome = self.last or outcome
        if outcome.error is not None:
            raise outcome.error
        return outcome.result

    def run(self) -> Outcome:
        self.runs += 1
        outcome = Outcome(self.runs)
        self.interface.start_run(self, self.runs)
        start = time.perf_counter()
        try:
            with self.interface.capture():
                try:
                    with self._lock:
                        self._running = True
                    outcome.result = self.function(*self.args, **self.kwargs)
                finally:
                    self._stop_running()
        except RunInterrupted:
            outcome.interrupted = True
            # It may have landed in the `finally` above, before _stop_running ran.
            self._stop_running()
        except (Exception, KeyboardInterrupt) as error:
            outcome.error = without_own_frames(error)
        outcome.seconds = time.perf_counter() - start
        if not outcome.interrupted:
            self.last = outcome
        self.interface.finish_run(self, outcome)
        return outcome

    def _stop_running(self) -> None:
        try:
            with self._lock:
                self._running = False
                # An interruption asked for just as the run ended must not fire later.
                _raise_in_thread(self._thread_id, None)
        except RunInterrupted:
            self._stop_running()


def _raise_in_thread(thread_id: int, exception: Optional[type]) -> None:
    """Make `thread_id` raise `exception` at its next bytecode (None: cancel that)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None)


_OWN_FOLDER = os.path.dirname(os.path.abspath(__file__)) + os.sep


def without_own_frames(error: BaseException) -> BaseException:
    """`error` with the develoop's own frames cut from the head of its traceback."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_OWN_FOLDER):
        tb = tb.tb_next
    return error.with_traceback(tb)


def format_error(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


def _short(value: Any) -> str:
    text = repr(value) if not callable(value) else getattr(
        value, "__qualname__", repr(value))
    return text if len(text) <= 30 else text[:27] + "..."


# -- being told about saves ----------------------------------------------------------

_CHANGE_EVENTS = {"update", "add", "delete", "run"}


class _SaveNotifier:
    """Calls its subscribers once after each applied save that changed something.

    The logger's events say that a save changed something; the watcher's postrun hook
    says when the file is fully applied. Without a watcher (a program that uses the
    decorator without jurigged), a change event is enough."""

    def __init__(self):
        self.subscribers: List[Callable[[], None]] = []
        self._changed = False
        self._hooked_watcher = None
        self._lock = threading.Lock()

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        from ..logs import logger

        with self._lock:
            if self._on_event not in logger.listeners:
                logger.listeners.append(self._on_event)
            self._hook_watcher()
            self.subscribers.append(callback)
        return functools.partial(self._unsubscribe, callback)

    def _unsubscribe(self, callback) -> None:
        with self._lock:
            if callback in self.subscribers:
                self.subscribers.remove(callback)

    def _hook_watcher(self) -> None:
        from .. import live

        watcher = getattr(live, "_watcher", None)
        if watcher is not None and watcher is not self._hooked_watcher:
            watcher.postrun.append(self._on_applied)
            self._hooked_watcher = watcher

    def _on_event(self, event: dict) -> None:
        if event.get("event") in _CHANGE_EVENTS:
            self._changed = True
            if self._hooked_watcher is None:
                self._notify()

    def _on_applied(self, *args) -> None:
        if self._changed:
            self._changed = False
            self._notify()

    def _notify(self) -> None:
        for callback in list(self.subscribers):
            callback()


_notifier = _SaveNotifier()


def on_applied_save(callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` (from the watcher's thread) after each save that changed the
    program. Returns the function that stops it."""
    return _notifier.subscribe(callback)
