"""After os.fork() (multiprocessing's fork context, gunicorn's pre-forked workers) the
child holds the parent's watcher, but not its threads: the native watcher reports
nothing there. This gives the child a new one at once, knowing every watched file
with the text the child runs. Its handlers are registered by processes.share (see
_install_fork_handlers there), which imports this module at the first fork."""

from __future__ import annotations

import threading

_parent_watching = False  # read in the parent just before each fork


def before_fork() -> None:
    # Whether the watcher is stopped is asked here, in the parent: in the child the
    # native watcher's lock may be held for ever by a thread the fork left behind
    # (the child hung in Watcher.closed).
    global _parent_watching
    from .. import live

    watcher = live._watcher
    try:
        _parent_watching = watcher is not None and not watcher.stopped
    except Exception:
        _parent_watching = False


def after_fork_in_child() -> None:
    from . import children_live, quiet_as_child
    from .. import live, logs

    watcher = live._watcher
    if not children_live() or watcher is None or not _parent_watching:
        return
    try:
        _reset_locks(watcher)
        quiet_as_child()
        watcher._renew_in_child()
    except Exception as exc:  # a fork must never fail because of us
        logs.logger.error(f"this child process is not live: {exc}", exc=exc)


def _reset_locks(watcher) -> None:
    """Another thread of the parent (its watcher applying a save) may have held these
    at the fork; in the child that thread is gone and would never release them."""
    from .. import live, logs

    live._lock = threading.Lock()
    logs._lock = threading.Lock()
    watcher.registry._lock = threading.RLock()
