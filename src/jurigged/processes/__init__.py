"""Child processes are live by default: a forked child gets its own watcher at once
(forked.py), and a new Python interpreter started from a watching process (spawn,
forkserver, subprocess of sys.executable) watches the same files with the same
settings (handoff.py carries them, spawned.py starts it from a .pth file).

Children print no event lines (the parent already says what a save changed); an error
or notice that several processes meet is printed once (reports.py), and one printed by
a child says which process it comes from."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing costs ~5 ms of start-up: annotations only (strings)
if TYPE_CHECKING:
    from typing import Optional

from .handoff import ENVIRONMENT_VARIABLE, FilterSpec, Handoff, spec_of_pattern

__all__ = ["FilterSpec", "Handoff", "ENVIRONMENT_VARIABLE", "share", "stop_sharing",
           "children_live"]


class _State:
    def __init__(self):
        self.decided: Optional[bool] = None  # None until watch() said if children are live
        self.handoff: Optional[Handoff] = None


_state = _State()


def children_live() -> bool:
    return _state.decided is not False


def share(pattern, exclude, *, children: Optional[bool], debounce: float,
          poll: Optional[float], trust_shared: bool) -> None:
    """Called by each watch(): make the children of this process live (or, with
    `children=False`, not). `children=None` keeps an earlier decision (default: live)."""
    if children is not None:
        _state.decided = children
    if not children_live():
        _state.handoff = None
        os.environ.pop(ENVIRONMENT_VARIABLE, None)
        return
    from . import reports

    _install_fork_handlers()
    handoff = _state.handoff or Handoff(prefix=sys.prefix)
    handoff.reports = reports.token() or reports.create_token()
    handoff.debounce, handoff.poll = debounce, poll
    handoff.trust_shared = handoff.trust_shared or trust_shared
    spec = spec_of_pattern(pattern, exclude)
    if spec is not None and spec not in handoff.filters:
        handoff.filters.append(spec)
    _state.handoff = handoff
    os.environ[ENVIRONMENT_VARIABLE] = handoff.encode()


_fork_handlers_installed = False


def _install_fork_handlers() -> None:
    """Once per process (a forked child inherits them). forked.py is imported by the
    first fork, not here: most programs never fork, and every module imported at
    start costs ~0.1 ms (the finders), about what the handlers' module weighs."""
    global _fork_handlers_installed
    if not _fork_handlers_installed and hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
        _fork_handlers_installed = True


def _before_fork() -> None:
    # Run in the parent before the interpreter takes the import lock for the fork
    # (the at-fork "before" callables come first), so importing here is safe; the
    # child then finds the module imported.
    from . import forked

    forked.before_fork()


def _after_fork_in_child() -> None:
    forked = sys.modules.get(__name__ + ".forked")
    if forked is not None:  # None only if importing it failed in the parent
        forked.after_fork_in_child()


def stop_sharing() -> None:
    """The watcher stopped: Python processes started from now on are not live (forked
    ones see the stopped watcher). What was shared is kept for a later watch()."""
    os.environ.pop(ENVIRONMENT_VARIABLE, None)


def quiet_as_child() -> None:
    """This process is a child of a watching one: no event lines (the parent prints
    them), no --events stream (the parent's), and errors and notices printed once
    among the processes, tagged with this process's id when it prints them."""
    from ..logs import logger
    from . import reports

    logger.verbose = False
    logger.listeners[:] = [listener for listener in logger.listeners
                           if getattr(listener, "__module__", None) != "jurigged.logs"]
    reports.as_child()
