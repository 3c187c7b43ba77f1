"""The public entry point: watch(), and the Watcher that applies each save."""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import types

TYPE_CHECKING = False  # typing costs ~5 ms of start-up: annotations only (strings)
if TYPE_CHECKING:
    from typing import Callable, Dict, Iterable, List, Optional, Union
    Pattern = Union[str, Iterable[str], Callable[[str], bool], None]
    Callback = Callable[..., None]

from . import _core, checkouts, trust
from .logs import logger
from .patcher import SourceFile
from .registry import Registry, registry as default_registry


class Hook(list):
    """Callbacks run before (`prerun`) or after (`postrun`) each save of a watched file
    is applied; as in 0.6.1 they also run for a save that changed nothing (a touch, a
    save without edits), which applies nothing.
    Each is called as `callback(path, file)` (jurigged 0.6.1's form; `file` is the
    SourceFile) or `callback(path)` if it takes one argument. `register` adds one
    and returns it, so it works as a decorator."""

    def register(self, callback: Callback) -> Callback:
        self.append(callback)
        return callback


# A step that fails in one save may be fixed by a save that completes a moment later
# (the next file of a checkout or of "save all" with no debounce): its error is printed
# only if it still fails once the watched files have been quiet this long.
FAILURE_GRACE_MS = 200

# Saves made while a git command holds the repository's index lock (a checkout,
# merge, rebase, stash) are held until it ends, at most this long, and applied as one
# batch: with no debounce, its files would otherwise arrive a few at a time.
CHECKOUT_HOLD_S = 5.0
# Once a git command's lock is gone, its last saves may still be on their way (under
# load, a checkout's last file arrived after the first was applied on its own): saves
# are taken until this long passes with none.
GIT_SETTLE_MS = 10


# Once the program has run this long without a save, the watcher thread imports the
# patch machinery and finds the hooks' entry points (see Watcher._preload): done at the
# first save instead, in a busy program, each of the ~200 file reads and imports of that
# work waits for the GIL (a switch interval, 5 ms), and the first save took ~0.8 s.
PRELOAD_AFTER_MS = 1000
# Leaves first, so that the import guard below is held for one module at a time.
_PRELOADED = ("re", "ast", "dis", "inspect", "dataclasses", "typing", "traceback",
              "jurigged.cpython", "jurigged.function_index", "jurigged.liveobjects",
              "jurigged.records", "jurigged.classes", "jurigged.locate",
              "jurigged.parsing", "jurigged.context", "jurigged.plan", "jurigged.inflight",
              "jurigged.swaps", "jurigged.apply", "jurigged.commit", "jurigged.patch",
              "jurigged.caches", "jurigged.hooks",
              "jurigged.frameworks")

# The preload also parses the running text of each watched file at least this big (and
# keeps the tree, ~6.5 times the file's size in memory): the first save of a 10,000-line
# file then costs what the others do, not ~12 ms more of baseline parse. Smaller files
# parse at their first save in under ~2 ms, and keep no tree until they are edited.
PREPARE_BASELINE_BYTES = 64 * 1024

# While the watcher thread applies a save it lowers the interpreter's switch interval to
# this: each time it gives the GIL up for a moment (a stat, the parse), a busy program
# takes it, and getting it back would otherwise wait a whole interval (5 ms by
# default); the program's threads also get the GIL this often, so they stall less.
APPLY_SWITCH_INTERVAL_S = 0.0001

# Held by the watcher thread around each import it makes, and by os.fork() (before
# forking): a child forked in the middle of an import would inherit a module lock that
# no thread of its own ever releases, and hang at its next import of that module.
_import_guard = threading.Lock()


def _release_import_guard() -> None:
    _import_guard.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_import_guard.acquire, after_in_parent=_release_import_guard,
                        after_in_child=_release_import_guard)


class Watcher:
    """Watches the files of imported modules and patches the program on each save.

    One native thread (in the C++ engine) sees the saves; one Python daemon thread
    waits for its batches (without holding the GIL) and applies them."""

    def __init__(self, registry: Registry, *, debounce: float = 0.0,
                 poll: Optional[float] = None, manual: bool = False,
                 max_file_size: int = 16 * 1024 * 1024):
        self.registry = registry
        self.debounce = debounce
        self.poll = poll
        self.manual = manual
        self._pending: List[tuple] = []
        self._pending_lock = threading.Lock()
        self.prerun = Hook()
        self.postrun = Hook()
        self.max_file_size = max_file_size
        self._native = self._make_native()
        self._thread: Optional[threading.Thread] = None
        self._report_due = False  # failed steps wait for FAILURE_GRACE_MS of quiet
        for file in list(registry.files.values()):
            self._follow(file)
        registry.listeners.append(self._follow)

    def _make_native(self):
        # Unchanged saves are reported: the hooks run on every save, as in 0.6.1.
        return _core.Watcher(debounce_ms=int(round(self.debounce * 1000)),
                             poll_ms=int(round((self.poll or 0) * 1000)),
                             max_file_size=self.max_file_size, report_unchanged=True)

    def _follow(self, file: SourceFile) -> None:
        self._native.add(file.path, file.source)

    def start(self) -> None:
        if self._thread is None:
            self._thread = _UnwaitedThread(target=self._run, name="jurigged", daemon=True)
            self._thread.start_unwaited()
            atexit.register(self.finish)

    def finish(self) -> None:
        """Close the native watcher and give the thread (perhaps applying a save)
        time to end: done at exit, and by the CLI before an interrupt leaves it."""
        # At exit CPython ends a daemon thread that takes the GIL back by unwinding its
        # stack (pthread_exit); through the engine's C++ frames that unwinding is
        # std::terminate, and the program would die with SIGABRT instead of its own
        # status. So this runs before finalization starts.
        self._native.close()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join_when_started(5)

    @property
    def stopped(self) -> bool:
        return self._native.closed

    def stop(self) -> None:
        self._native.close()
        if self._follow in self.registry.listeners:
            self.registry.listeners.remove(self._follow)
        if _watcher is self:  # processes started from now on do not inherit the watch
            from . import processes

            processes.stop_sharing()

    def join(self, timeout: Optional[float] = None) -> None:
        if self._thread is not None:
            self._thread.join_when_started(timeout)

    def _renew_in_child(self) -> None:
        """In a forked child (see processes/forked.py): the inherited native watcher
        and thread stayed in the parent, so make new ones here, watching every file
        from the text this process runs. Hooks and settings are kept."""
        self._pending_lock = threading.Lock()
        self._native.close()  # only forgets it here; the parent's keeps working
        self._native = self._make_native()
        for file in list(self.registry.files.values()):
            self._follow(file)
        if self._thread is not None:
            self._thread = None
            self.start()

    def track(self, module, path: str, source: bytes) -> bool:
        """Watch `path` as the file of `module` (used for `__main__`, which no import
        hook sees). `source` is the text the module runs. Returns whether it matched
        the watch patterns."""
        return self.registry.track(module, path, source) is not None

    def _run(self) -> None:
        # This thread must survive anything (MemoryError included): if it died, every
        # later save would be ignored without a word. A failure is reported and the
        # loop goes on.
        def report(what: str, exc: BaseException) -> None:
            try:
                logger.error(f"internal error while {what}: {exc!r}", exc=exc)
            except BaseException:  # reporting needs memory too
                pass

        failures = 0  # in a row, in wait(): each one waits a little longer
        preload_due = True
        while True:
            timeout = (FAILURE_GRACE_MS if self._report_due else
                       PRELOAD_AFTER_MS if preload_due else -1)
            try:
                events = self._native.wait(timeout)
            except BaseException as exc:
                if self._native.closed:
                    return
                failures += 1
                report("receiving saves (the saves of that moment are lost: save "
                       "them again)", exc)
                time.sleep(min(1.0, 0.1 * (failures - 1)))
                continue
            failures = 0
            if not events:
                if self._native.closed:
                    return
                if self._report_due:
                    self._report_failures()
                elif preload_due:
                    preload_due = False
                    self._preload()
                continue
            try:
                events = self._with_rest_of_checkout(_with_file(events))
                if self.manual:
                    with self._pending_lock:
                        self._pending.extend(events)
                    continue
                with _quick_gil_handoffs() as handoffs:
                    self.apply(events, report=False, on_staged=handoffs.restore)
            except BaseException as exc:
                report("applying a change", exc)

    def _preload(self) -> None:
        """What the first save needs, done while the program runs without saves: the
        patch machinery's imports, the entry points' files read (loading them imports
        third-party code: that waits for the first batch), the hook modules of the
        frameworks the program imported. Stops as soon as the watcher closes (the
        program ends: its exit waits for this thread)."""
        for name in _PRELOADED:
            if not self._import_unless_closed(name):
                return
        from . import frameworks, hooks

        for hook, framework in frameworks.BUILTIN.items():
            if framework in sys.modules:
                if not self._import_unless_closed(f"jurigged.frameworks.{hook}"):
                    return
        hooks.find_entry_points()
        self._prepare_baselines()

    def _prepare_baselines(self) -> None:
        """The work the first save of a file would do before its diff, done now: the
        running text of each big file parsed (the parse runs without the GIL) and the
        namespaces of the watched modules scanned for caches. A file whose text does
        not parse is left for its first save, which reports why."""
        from . import caches
        from .patcher import apply_lock

        files = list(self.registry.files.values())
        for file in files:
            if self._native.closed:
                return
            if (file.tree is None and len(file.source) >= PREPARE_BASELINE_BYTES
                    and file.namespace is not None):
                with apply_lock:
                    try:
                        file._ensure_baseline()
                    except (SyntaxError, UnicodeDecodeError, ValueError):
                        pass
        # Not a module still importing: the names it binds later would never be scanned.
        imported = [file for file in files if not _importing(file.module)]
        with apply_lock:
            caches.index.update((), imported)

    def _import_unless_closed(self, name: str) -> bool:
        # Not once the program's main thread has ended: what it leaves for its exit
        # should not wait for imports no save will use.
        if self._native.closed or not threading.main_thread().is_alive():
            return False
        if name not in sys.modules:
            import importlib

            with _import_guard:
                importlib.import_module(name)
        return True

    def _with_rest_of_checkout(self, events: list) -> list:
        git = checkouts.activity(event[1] for event in events)
        if git == checkouts.QUIET:
            return events
        if git == checkouts.JUST_ENDED:
            return _latest_per_file(events + self._rest_of_git_command())
        deadline = time.monotonic() + CHECKOUT_HOLD_S
        while time.monotonic() < deadline and not self._native.closed:
            events += _with_file(self._native.wait(10))
            if not checkouts.in_progress(event[1] for event in events):
                break
        return _latest_per_file(events + self._rest_of_git_command())

    def _rest_of_git_command(self) -> list:
        """The saves of a git command that has just ended still on their way: what
        arrives until GIT_SETTLE_MS pass with nothing new (its files are all written,
        so that is soon)."""
        rest: list = []
        deadline = time.monotonic() + CHECKOUT_HOLD_S
        while time.monotonic() < deadline and not self._native.closed:
            more = _with_file(self._native.wait(GIT_SETTLE_MS))
            if not more:
                break
            rest += more
        return rest

    def _report_failures(self) -> None:
        from .patcher import report_failures

        self._report_due = False
        report_failures(self._failing_files())

    def _failing_files(self) -> List[SourceFile]:
        from .patcher import failing_files

        files = self.registry.files
        return [file for file in failing_files() if files.get(file.path) is file]

    def apply_pending(self) -> int:
        """Apply the saves queued in manual mode, on the calling thread. Returns how
        many file events were applied."""
        with self._pending_lock:
            events, self._pending = self._pending, []
        if events:
            self.apply(_latest_per_file(events))
        return len(events)

    def apply(self, events, *, report: bool = True, on_staged=None) -> None:
        """Apply one batch of (kind, path, content, message) events, in import order.
        With `report=False`, steps that still fail are reported later, once the
        watched files are quiet (see FAILURE_GRACE_MS). `on_staged` is called once
        the batch is parsed and compiled, right before it changes anything live."""
        events = trust.without_untrusted_saves(events, self.registry.trust_shared)
        changed = []
        resaved = []  # saved without a change: only the hooks run, as in 0.6.1
        for kind, path, content, message in events:
            if kind == "changed":
                changed.append((self.registry.rank(path), path, content))
            elif kind == "unchanged":
                resaved.append(path)
            elif kind == "deleted":
                logger.notice(f"{path} was deleted; its code keeps running", path)
            elif kind == "error":
                logger.error(f"{path}: {message}", path)
            else:
                logger.notice(message, path)
        changed.sort(key=lambda item: item[0])
        if changed:
            # The update hooks (on_update, frameworks, entry points) load with the
            # first batch: a program that is never edited pays nothing for them.
            from . import hooks  # noqa: F401

            logger.batch([path for _, path, _ in changed])
        saves = [(self.registry.files[path], content) for _, path, content in changed
                 if path in self.registry.files]
        if saves:
            for file, _ in saves:
                self._emit(self.prerun, file.path, file)
            # One unit: files saved together (a git checkout) see each other's new
            # code, and failed statements of every watched file are retried.
            from .patcher import apply_batch, unreported_failures

            # Only files with failed steps to retry, known without a look at each
            # watched file: a save costs the same at 10 or 10,000 of them.
            failing = self._failing_files()
            apply_batch(saves, failing, report=report,
                        every_file=self.registry.files.values(), on_staged=on_staged)
            if not report:
                # Only the batch's files and those that were failing can fail now.
                self._report_due = unreported_failures(failing + [file for file, _ in saves])
            for file, _ in saves:
                self._emit(self.postrun, file.path, file)
        applied = {path for _, path, _ in changed}
        for path in resaved:
            file = self.registry.files.get(path)
            if file is not None and path not in applied:
                self._emit(self.prerun, path, file)
                self._emit(self.postrun, path, file)

    @staticmethod
    def _emit(callbacks: List[Callback], path: str, file: SourceFile) -> None:
        for callback in list(callbacks):
            try:
                if _takes_two_arguments(callback):
                    callback(path, file)
                else:
                    callback(path)
            except Exception as exc:
                logger.error(f"error in a reload callback: {exc}", path, exc=exc)


class _UnwaitedThread(threading.Thread):
    """The watcher's thread, started without waiting for it to run: Thread.start
    waits until the new thread holds the GIL and says it runs, 0.2 ms of every
    start-up on an idle machine and up to a switch interval or more under load, when
    nothing needs it to run yet (a save can only be applied once it waits)."""

    def __init__(self, **options):
        super().__init__(**options)
        self._running = threading.Event()

    def run(self) -> None:
        self._running.set()
        super().run()

    def start_unwaited(self) -> None:
        started = self._started  # set by the new thread as it begins, as always
        started.wait = _no_wait  # this one wait only (an instance attribute)
        try:
            self.start()
        finally:
            del started.wait

    def join_when_started(self, timeout: Optional[float] = None) -> None:
        """join(), which refuses a thread that has not begun yet."""
        if self._running.wait(timeout):
            self.join(timeout)


def _no_wait(timeout=None) -> bool:
    return True


def _importing(module) -> bool:
    spec = getattr(module, "__spec__", None)
    return module is None or bool(getattr(spec, "_initializing", False))


class _quick_gil_handoffs:
    """Lowers the switch interval (APPLY_SWITCH_INTERVAL_S) while a save is read,
    parsed and compiled, then puts back the program's own (unless the program set
    another meanwhile) before the save changes anything live: with the GIL switching
    every 0.1 ms there, the program's threads would run in the middle of steps that
    are not atomic (a framework hook's route updates: a request then met a half-made
    URL map, 1 run in ~10 of the Flask tests)."""

    def __enter__(self):
        self.previous = sys.getswitchinterval()
        if self.previous > APPLY_SWITCH_INTERVAL_S:
            sys.setswitchinterval(APPLY_SWITCH_INTERVAL_S)
        self.ours = sys.getswitchinterval()
        self.restored = False
        return self

    def restore(self) -> None:
        if not self.restored:
            self.restored = True
            if sys.getswitchinterval() == self.ours:
                sys.setswitchinterval(self.previous)

    def __exit__(self, *exc) -> None:
        self.restore()


# inspect.signature costs ~0.1 ms a callback, and hooks run twice on every save.
_arity_of: Dict[int, tuple] = {}


def _takes_two_arguments(callback: Callback) -> bool:
    known = _arity_of.get(id(callback))
    if known is not None and known[0] is callback:
        return known[1]
    result = _bind_two_arguments(callback)
    if len(_arity_of) > 256:  # callbacks registered and dropped over and over
        _arity_of.clear()
    _arity_of[id(callback)] = (callback, result)
    return result


def _bind_two_arguments(callback: Callback) -> bool:
    import inspect

    try:
        inspect.signature(callback).bind(None, None)
    except TypeError:
        return False
    except ValueError:  # no signature (some builtins): use 0.6.1's form
        return True
    return True


def _with_file(events) -> list:
    """The events that name a file; a native thread's own failure names none and is
    reported here."""
    for kind, path, _, message in events:
        if kind == "error" and not path:
            logger.error(message)
    return [event for event in events if event[0] != "error" or event[1]]


def _latest_per_file(events) -> list:
    """Of several queued events for one file, only the last one matters (a save that
    changed nothing adds nothing to an earlier queued one)."""
    latest = {}
    for event in events:
        if event[0] == "unchanged" and event[1] in latest:
            continue
        latest.pop(event[1], None)
        latest[event[1]] = event
    return list(latest.values())


_watcher: Optional[Watcher] = None
_lock = threading.Lock()


def _module_path(item) -> Union[str, None]:
    """The file (or package folder) of a module given as an object or an imported name."""
    module = item if isinstance(item, types.ModuleType) else (
        sys.modules.get(item) if isinstance(item, str) else None)
    if module is None:
        return None
    file = getattr(module, "__file__", None)
    if not file:
        raise ValueError(f"module {module.__name__} has no source file to watch")
    return os.path.dirname(file) if hasattr(module, "__path__") else file


def _as_filter(pattern: Pattern, exclude: Iterable[str]) -> Callable[[str], bool]:
    if callable(pattern) and not isinstance(pattern, types.ModuleType):
        return pattern
    from .filters import make_exclusion, make_filter

    items = [pattern] if isinstance(pattern, (str, types.ModuleType)) else (
        list(pattern) if pattern else None)
    if items is None:
        return make_filter(None, list(exclude))
    tests = [item for item in items
             if callable(item) and not isinstance(item, types.ModuleType)]
    paths = [_module_path(item) or item for item in items if item not in tests]
    if not tests:
        return make_filter(paths, list(exclude))
    if paths:
        tests.append(make_filter(paths, []))
    excluded = make_exclusion(list(exclude))
    return lambda path: any(test(path) for test in tests) and not excluded(path)


def watch(pattern: Pattern = None, *, exclude: Iterable[str] = (),
          debounce: float = 0.0, poll: Optional[float] = None,
          verbose: bool = True, autostart: bool = True, manual: bool = False,
          trust_shared: bool = False, max_file_size: int = 16 * 1024 * 1024,
          registry: Optional[Registry] = None, children: Optional[bool] = None) -> Watcher:
    """Watch every imported module whose file matches `pattern` (default: files under
    the current directory, outside virtual environments and hidden folders), and patch
    the running program whenever one of them is saved.

    `pattern` may be a glob, a path, a module object or an imported module's name (its
    file, or its whole package), a callable `path -> bool`, or a list of these.
    Like jurigged 0.6.1's, it prints `Watch`/`Update` lines unless `verbose=False`.
    With `manual=True`, saves are queued until `apply_pending()` is called, so the
    program chooses when (and on which thread) its code changes.
    A file that another account could change (writable by others or by a shared group,
    owned by someone else than you or root, in such a directory, or reached through
    such a symbolic link) is not watched, and a save that finds it so is not applied,
    unless `trust_shared=True` (see jurigged.trust).
    A save is applied once it is complete (the editor closed the file or renamed it
    into place); files bigger than `max_file_size` bytes are reported and skipped.
    Child processes are live too (see jurigged.processes) unless `children=False`.
    Calling it again adds patterns to the same watcher: no file is watched twice."""
    global _watcher
    logger.verbose = logger.verbose or verbose
    registry = registry or default_registry
    registry.trust_shared = registry.trust_shared or trust_shared
    with _lock:
        if _watcher is None or _watcher.registry is not registry or _watcher.stopped:
            _watcher = Watcher(registry, debounce=debounce, poll=poll, manual=manual,
                               max_file_size=max_file_size)
        watcher = _watcher
        watcher.manual = watcher.manual or manual
    registry.add_filter(_as_filter(pattern, exclude))
    if autostart:
        watcher.start()
    _share_with_children(pattern, exclude, children, debounce, poll, trust_shared)
    return watcher


def _share_with_children(pattern, exclude, children, debounce, poll, trust_shared):
    from . import processes

    processes.share(pattern, exclude, children=children, debounce=debounce,
                    poll=poll, trust_shared=trust_shared)


def apply_pending() -> int:
    """Apply the saves that a manual-mode watcher has queued, on the calling thread."""
    return _watcher.apply_pending() if _watcher is not None else 0
