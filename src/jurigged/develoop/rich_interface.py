"""The rich develoop interface (needs `rich`): a full-screen view of the looped call,
with its stdout, stderr and result or error in panels that keep the latest run, and
keys read at any time (also while the function runs)."""

from __future__ import annotations

import os
import pprint
import select
import sys
import threading
from dataclasses import dataclass, field
from typing import List, Optional

from rich.console import Console, Group
from rich.layout import Layout
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from .runner import Command, Inbox, Interface, Outcome, Session, format_error

_KEYS = {"r": Command.RERUN, "a": Command.ABORT, "c": Command.CONTINUE, "q": Command.QUIT}
_SCROLL = {"\x1b[A": -1, "\x1b[B": 1, "\x1b[5~": -10, "\x1b[6~": 10,
           "\x1b[H": -10**9, "\x1b[F": 10**9}
_FOCUS = {"\x1b[C": 1, "\x1b[D": -1, "\t": 1}


@dataclass
class _Pane:
    """One panel's text and how far it is scrolled up from its end."""

    title: str
    lines: List[str] = field(default_factory=list)
    back: int = 0
    style: str = ""
    ended: bool = True  # the last line is complete

    def set(self, text: str) -> None:
        self.lines = text.splitlines()
        self.back = 0
        self.ended = True

    def add(self, text: str) -> None:
        if not text:
            return
        pieces = text.split("\n")
        if self.lines and not self.ended:
            self.lines[-1] += pieces[0]
            pieces = pieces[1:]
        self.lines.extend(pieces)
        self.ended = text.endswith("\n")
        if self.ended:
            self.lines.pop()

    def __rich_console__(self, console, options):
        height = max(1, (options.height or len(self.lines) or 1))
        end = max(0, len(self.lines) - self.back)
        shown = self.lines[max(0, end - height):end]
        yield Text("\n".join(shown), style=self.style, no_wrap=True, overflow="ellipsis")


class _Router:
    """Stands in for sys.stdout or sys.stderr during the loop: what the looped
    function writes goes to its pane, what other threads write (jurigged's own error
    reports) goes to the messages pane, nothing to the screen under the view."""

    def __init__(self, view: "RichInterface", pane: _Pane, real):
        self.view, self.pane, self.real = view, pane, real

    def write(self, text: str) -> int:
        with self.view.lock:
            if threading.get_ident() == self.view.loop_thread and self.view.running:
                self.pane.add(text)
            else:
                self.view.messages.add(text)
        self.view.refresh()
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name):
        return getattr(self.real, name)


class RichInterface(Interface):
    def __init__(self):
        self.lock = threading.RLock()
        self.loop_thread = 0
        self.running = False
        self.panes = [_Pane("stdout"), _Pane("stderr", style="yellow"),
                      _Pane("result")]
        self.messages = _Pane("jurigged", style="dim")
        self.focus = 0
        self.header = ""
        self.footer = ""
        self._live: Optional[Live] = None
        self._saved_streams = None
        self._stop_keys: Optional[tuple] = None
        self._keys: Optional[threading.Thread] = None
        self._terminal = None

    # -- the view -----------------------------------------------------------------

    def _layout(self) -> Layout:
        layout = Layout()
        stdout, stderr, result = (self._panel(i) for i in range(3))
        body = Layout()
        body.split_row(Layout(stdout, ratio=3), Layout(Group(), name="side", ratio=2))
        body["side"].split_column(Layout(result, ratio=2), Layout(stderr, ratio=1))
        parts = [Layout(Text(self.header, style="bold"), size=1), body]
        if self.messages.lines:
            parts.append(Layout(Panel(self.messages, title="jurigged"), size=5))
        parts.append(Layout(Text(self.footer, style="reverse"), size=1))
        layout.split_column(*parts)
        return layout

    def _panel(self, index: int) -> Panel:
        pane = self.panes[index]
        border = "bold blue" if index == self.focus else "dim"
        return Panel(pane, title=pane.title, border_style=border)

    def refresh(self) -> None:
        live = self._live
        if live is not None:
            with self.lock:
                live.update(self._layout(), refresh=True)

    # -- the loop -----------------------------------------------------------------

    def begin(self, session: Session) -> None:
        self.loop_thread = threading.get_ident()
        self.header = f"Looping on: {session.signature()}"
        console = Console(file=sys.__stdout__ if sys.stdout is None else sys.stdout)
        self._saved_streams = (sys.stdout, sys.stderr)
        sys.stdout = _Router(self, self.panes[0], sys.stdout)
        sys.stderr = _Router(self, self.panes[1], sys.stderr)
        self._live = Live(self._layout(), console=console, screen=True,
                          auto_refresh=False, redirect_stdout=False,
                          redirect_stderr=False)
        self._live.start()
        self._start_keys(session)

    def end(self, session: Session) -> None:
        self._stop_keys_thread()
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._saved_streams is not None:
            sys.stdout, sys.stderr = self._saved_streams
            self._saved_streams = None

    def start_run(self, session: Session, number: int) -> None:
        with self.lock:
            for pane in self.panes:
                pane.set("")
            self.panes[2].title = "result"
            self.panes[2].style = ""
            self.running = True
            self.footer = self._footer(number, "running", None)
        self.refresh()

    def finish_run(self, session: Session, outcome: Outcome) -> None:
        with self.lock:
            self.running = False
            result = self.panes[2]
            if outcome.interrupted:
                result.title, result.style = "interrupted", "dim"
                result.set("(interrupted: a save or a key asked for a new run)")
            elif outcome.error is not None:
                result.title, result.style = "error", "red"
                result.set(format_error(outcome.error))
            else:
                result.title, result.style = "result", "green"
                result.set(pprint.pformat(outcome.result))
            self.footer = self._footer(outcome.number, outcome.status, outcome.seconds)
        self.refresh()

    @staticmethod
    def _footer(number: int, status: str, seconds: Optional[float]) -> str:
        timing = "" if seconds is None else f" in {seconds:.3f}s"
        return (f" #{number} {status}{timing} | (r)erun (a)bort (c)ontinue (q)uit, "
                f"arrows scroll and move between panels, or save a file ")

    def wait(self, session: Session, inbox: Inbox) -> Command:
        while True:
            select.select([inbox.read_fd], [], [])
            command = inbox.take()
            if command is not None and command is not Command.ABORT:
                return command

    # -- keys, on their own thread ------------------------------------------------------

    def _start_keys(self, session: Session) -> None:
        try:
            fd = sys.__stdin__.fileno()
        except (AttributeError, OSError, ValueError):
            return
        if not os.isatty(fd):
            return
        import termios
        import tty

        self._terminal = (fd, termios.tcgetattr(fd))
        tty.setcbreak(fd, termios.TCSANOW)
        self._stop_keys = os.pipe()
        self._keys = threading.Thread(target=self._read_keys, args=(session, fd),
                                      name="jurigged-develoop-keys", daemon=True)
        self._keys.start()

    def _stop_keys_thread(self) -> None:
        if self._stop_keys is not None:
            os.write(self._stop_keys[1], b"x")
            if self._keys is not None:
                self._keys.join(2)
            for fd in self._stop_keys:
                os.close(fd)
            self._stop_keys = None
        if self._terminal is not None:
            import termios

            fd, saved = self._terminal
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            self._terminal = None

    def _read_keys(self, session: Session, fd: int) -> None:
        stop = self._stop_keys[0]
        while True:
            ready, _, _ = select.select([fd, stop], [], [])
            if stop in ready:
                return
            data = os.read(fd, 64).decode(errors="replace")
            if not data:
                session.request(Command.CONTINUE)
                return
            for key in _split_keys(data):
                self._key(session, key)

    def _key(self, session: Session, key: str) -> None:
        if key.lower() in _KEYS:
            session.request(_KEYS[key.lower()])
        elif key in _SCROLL:
            with self.lock:
                pane = self.panes[self.focus]
                pane.back = min(max(0, pane.back - _SCROLL[key]), len(pane.lines))
            self.refresh()
        elif key in _FOCUS:
            with self.lock:
                self.focus = (self.focus + _FOCUS[key]) % len(self.panes)
            self.refresh()


def _split_keys(data: str) -> List[str]:
    """Single keys, with terminal escape sequences (arrows, PgUp...) kept whole."""
    keys, i = [], 0
    while i < len(data):
        if data[i] == "\x1b" and i + 1 < len(data) and data[i + 1] == "[":
            j = i + 2
            while j < len(data) and not (data[j].isalpha() or data[j] == "~"):
                j += 1
            keys.append(data[i:j + 1])
            i = j + 1
        else:
            keys.append(data[i])
            i += 1
    return keys
