"""The basic develoop interface: framed sections printed on a plain terminal, single
keys read only between runs, so that the looped code keeps stdin (input(), pdb)."""

from __future__ import annotations

import os
import pprint
import select
import sys
from typing import Optional

from .runner import Command, Inbox, Interface, Outcome, Session, format_error, pick

WIDTH = 60
KEYS = "(r)erun  (c)ontinue  (q)uit  - or save a file"


class BasicInterface(Interface):
    def __init__(self, stdin_fd: Optional[int] = None):
        self._stdin_fd = stdin_fd
        self._stdin_open = True

    def start_run(self, session: Session, number: int) -> None:
        self._say(_rule(f"#{number} {session.signature()}"))

    def finish_run(self, session: Session, outcome: Outcome) -> None:
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)
        if outcome.interrupted:
            self._say(_rule(f"#{outcome.number} interrupted"))
            return
        if outcome.error is not None:
            self._say(_rule(f"#{outcome.number} error"))
            self._say(format_error(outcome.error).rstrip("\n"))
        else:
            self._say(_rule(f"#{outcome.number} result"))
            self._say(pprint.pformat(outcome.result, width=WIDTH + 20))
        self._say(_rule(KEYS))

    def wait(self, session: Session, inbox: Inbox) -> Command:
        stdin = self._stdin()
        with _single_keys(stdin):
            while True:
                sources = [inbox.read_fd] + ([stdin] if stdin is not None else [])
                ready, _, _ = select.select(sources, [], [])
                if inbox.read_fd in ready:
                    command = inbox.take()
                    if command is not None:
                        return command
                if stdin is not None and stdin in ready:
                    keys = os.read(stdin, 1024)
                    if not keys:  # end of input: nobody can type a command any more
                        self._stdin_open = False
                        return Command.CONTINUE
                    command = pick(keys.decode(errors="replace"))
                    if command is not None and command is not Command.ABORT:
                        return command

    def _stdin(self) -> Optional[int]:
        if not self._stdin_open:
            return None
        if self._stdin_fd is not None:
            return self._stdin_fd
        try:
            return sys.stdin.fileno()
        except (AttributeError, OSError, ValueError):
            return None

    @staticmethod
    def _say(text: str) -> None:
        out = sys.stdout
        out.write(text + "\n")
        _flush(out)


def _rule(text: str) -> str:
    head = f"---- {text} "
    return head + "-" * max(4, WIDTH - len(head))


def _flush(stream) -> None:
    try:
        stream.flush()
    except (OSError, ValueError):
        pass


class _single_keys:
    """Put a terminal in cbreak mode (keys arrive one by one, unechoed, Ctrl-C still
    interrupts) for the time of a wait; anything else is left alone."""

    def __init__(self, fd: Optional[int]):
        self.fd = fd
        self.saved = None

    def __enter__(self):
        if self.fd is not None and os.isatty(self.fd):
            import termios
            import tty

            self.saved = termios.tcgetattr(self.fd)
            # TCSANOW, not the default TCSAFLUSH: a key typed before the prompt
            # appeared must not be thrown away.
            tty.setcbreak(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc_info):
        if self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
        return False
