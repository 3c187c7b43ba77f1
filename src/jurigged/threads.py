"""The watcher's Python thread, made without importing `threading` at start-up, and
`threading` imported as the main thread's own when the watcher thread first needs it.

`threading` (with the functools and collections it imports) costs ~4.5 ms of every
start here, for a thread and locks that `_thread` makes alone. But the patch machinery
and the program's own code use threading, and the first to import it is taken for the
main thread (CPython 3.9-3.12): imported first on the watcher thread, main_thread()
would name it, threads it starts would not be daemons, and interpreter shutdown would
wait for them for ever. So the watcher thread asks the main thread to import it (a
pending call, run as soon as the main thread runs Python code), and only if the main
thread is blocked outside Python (a sleep, input(), select) imports it itself and gives
the main thread's record back to the main thread."""

from __future__ import annotations

import _thread
import os
import sys

TYPE_CHECKING = False  # typing costs ~5 ms of start-up: annotations only (strings)
if TYPE_CHECKING:
    from typing import Callable, Optional

from . import _core

# How long the watcher thread waits for the main thread to import threading: it runs a
# pending call within microseconds unless it is blocked outside Python.
MAIN_THREAD_ANSWER_S = 0.02


def _main_thread_ident() -> int:
    threading = sys.modules.get("threading")
    if threading is not None:
        return threading.main_thread().ident
    # 3.13+ knows; before, a process that never imported threading has made no thread
    # through it, and imports jurigged from its main thread.
    return getattr(_thread, "_get_main_thread_ident", _thread.get_ident)()


MAIN_THREAD_IDENT = _main_thread_ident()


class WatcherThread:
    """A daemon thread, as a threading.Thread(daemon=True) is: interpreter shutdown
    does not wait for it (the watcher's atexit handler does), a fork leaves it in the
    parent, and its target catches everything itself, so threading.excepthook has
    nothing to see. It is not in threading.enumerate()."""

    def __init__(self, target: Callable[[], None]):
        self._target = target
        self._running = _thread.allocate_lock()  # held by the thread while it runs
        self._running.acquire()
        self.ident: int = _thread.start_new_thread(self._main, ())

    def _main(self) -> None:
        try:
            self._target()
        finally:
            self._running.release()

    def is_current(self) -> bool:
        return _thread.get_ident() == self.ident

    def is_alive(self) -> bool:
        return self._running.locked()

    def join(self, timeout: Optional[float] = None) -> None:
        if self._running.acquire(True, -1 if timeout is None else max(timeout, 0)):
            self._running.release()


def ensure_threading() -> None:
    """Make sure threading is imported, with the main thread as its main thread;
    called on the watcher thread before its first import."""
    if "threading" in sys.modules:
        return
    answered = _thread.allocate_lock()
    answered.acquire()

    def import_threading() -> None:
        try:
            import threading  # noqa: F401
        finally:
            answered.release()

    if _core.call_on_main_thread(import_threading):
        answered.acquire(True, MAIN_THREAD_ANSWER_S)
    if "threading" not in sys.modules:  # blocked (or interrupted by Ctrl-C meanwhile)
        _import_threading_here()


def _import_threading_here() -> None:
    import threading

    main = threading.main_thread()
    if sys.version_info < (3, 13) and main.ident == _thread.get_ident() != MAIN_THREAD_IDENT:
        _give_back_main_thread(threading, main)


def _give_back_main_thread(threading, main) -> None:
    """threading (3.9-3.12) took this thread for the main thread: make its record the
    main thread's again. Its liveness lock (released when the importing thread's state
    is deleted) becomes a plain lock that only shutdown releases, as the main thread's
    is, and is not a thread shutdown waits for; this thread, like any thread threading
    did not start, becomes a daemon _DummyThread when it asks current_thread()."""
    with threading._active_limbo_lock:
        threading._active.pop(main._ident, None)
        main._ident = MAIN_THREAD_IDENT
        if sys.platform.startswith("linux"):
            main._native_id = os.getpid()  # the main thread's id is the process's
        threading._active[MAIN_THREAD_IDENT] = main
    liveness = main._tstate_lock
    with threading._shutdown_locks_lock:
        threading._shutdown_locks.discard(liveness)
    held = _thread.allocate_lock()
    held.acquire()
    main._tstate_lock = held
