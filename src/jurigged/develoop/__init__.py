"""The develoop: `@jurigged.loop` (and `--loop NAME`) makes a function re-run on every
save until you continue; `@jurigged.xloop` does so only once it raises."""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Union

from .runner import (Command, Interface, Outcome, RunInterrupted, Session,
                     without_own_frames)

InterfaceChoice = Union[str, Interface, Callable[[], Interface], None]

__all__ = ["loop", "xloop", "loop_on_error", "Develoop", "Interface", "Command",
           "Outcome", "RunInterrupted", "make_interface"]

# The interface used when a loop names none: --loop-interface sets it.
default_interface: Optional[str] = None


def rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def make_interface(choice: InterfaceChoice = None) -> Interface:
    """An Interface for "basic", "rich", an Interface, a factory of one, or None
    (the default: rich when it is installed and the terminal can show it)."""
    choice = choice or default_interface
    if choice is None:
        import sys

        choice = "rich" if rich_available() and sys.stdout.isatty() else "basic"
    if choice == "basic":
        from .basic import BasicInterface

        return BasicInterface()
    if choice == "rich":
        if not rich_available():
            raise RuntimeError("the rich develoop interface needs rich: "
                               "pip install 'jurigged[develoop]'")
        from .rich_interface import RichInterface

        return RichInterface()
    if isinstance(choice, Interface):
        return choice
    if callable(choice):
        return choice()
    raise ValueError(f"unknown develoop interface: {choice!r} (use 'rich' or 'basic')")


class Develoop:
    """A looped function. It keeps the original in `__wrapped__`, which is where
    jurigged's patcher finds it, so saves update the code the loop runs. A
    descriptor, so that it loops bound methods too."""

    def __init__(self, function: Callable, *, only_on_error: bool = False,
                 interface: InterfaceChoice = None):
        self.__wrapped__ = function
        self.only_on_error = only_on_error
        self.interface = interface
        functools.update_wrapper(self, function, updated=())

    def __get__(self, instance, owner=None):
        if instance is None and owner is not None and not isinstance(
                self.__wrapped__, (classmethod, staticmethod)):
            return self
        bound = self.__wrapped__.__get__(instance, owner)
        return Develoop(bound, only_on_error=self.only_on_error, interface=self.interface)

    def __call__(self, *args, **kwargs) -> Any:
        __tracebackhide__ = True  # pytest then shows the test's frames only
        first = None
        if self.only_on_error:
            try:
                return self.__wrapped__(*args, **kwargs)
            except Exception as error:
                first = Outcome(1, error=without_own_frames(error))
        session = Session(self.__wrapped__, args, kwargs, make_interface(self.interface))
        return session.loop(first)

    def __repr__(self) -> str:
        kind = "xloop" if self.only_on_error else "loop"
        return f"<jurigged {kind} of {self.__wrapped__!r}>"


def loop(function: Optional[Callable] = None, *, interface: InterfaceChoice = None,
         only_on_error: bool = False):
    """Decorator: `@loop`, or `@loop(interface="basic")`. Calling the function runs
    it in the develoop: it re-runs on each save, `c` returns its last result (or
    raises its last error), `q` exits."""
    if function is None:
        return functools.partial(loop, interface=interface, only_on_error=only_on_error)
    return Develoop(function, only_on_error=only_on_error, interface=interface)


def xloop(function: Optional[Callable] = None, *, interface: InterfaceChoice = None):
    """Like `loop`, but the function first runs normally and enters the develoop
    only if it raises."""
    return loop(function, interface=interface, only_on_error=True)


loop_on_error = xloop
