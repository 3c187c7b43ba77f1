"""One line per distinct error or notice, however many live processes meet it.

A save that fails in a program with N live children fails in each of them too: every
process applies the save, and each would print the same error. Before printing an
error or notice about a file, a process claims the message: it binds a socket in
Linux's abstract namespace under a name made of a random token shared by the watching
process and its children (through the hand-off) and a digest of the message (its
file, line and text). Only the holder of that name prints the message, each time it
meets it (a save that fails the same way again, a retried statement). So an error
all processes meet is printed once per save, and a failure met by a child only
(another state, a module only it imported) is still printed, with that child's
process id. (A message that the holder does not meet again but another process does
is not printed again: it was printed before.)
Abstract names live as long as their sockets: nothing is left on disk, and the claims
of a process that ended (a pool's worker replaced) are free again. When a claim
cannot be made for any other reason, or off Linux, the message is printed.

Only the printed line is held back: the event still reaches the logger's listeners."""

from __future__ import annotations

import errno
import os
import sys
from collections import OrderedDict

TYPE_CHECKING = False  # typing costs ~5 ms of start-up: annotations only (strings)
if TYPE_CHECKING:
    from typing import Optional

_KINDS = ("error", "notice")
_KEPT_CLAIMS = 256  # per process; the oldest are let go (one socket each)


class _State:
    def __init__(self):
        self.token = ""  # empty: no live children, every line is printed
        self.child = False  # lines printed here name this process
        self.installed = False
        self.claims: "OrderedDict[str, object]" = OrderedDict()  # digest -> its socket


_state = _State()


def token() -> str:
    return _state.token


def create_token() -> str:
    """The watching process's token (made once; its children are told it)."""
    if not _state.token:
        # os.urandom, not secrets: secrets and hashlib cost ~5 ms of every start-up.
        _state.token = os.urandom(12).hex()
    _install()
    return _state.token


def use_token(token: str, *, child: bool) -> None:
    """A spawned child's side: claim messages under its parent's token."""
    if token:
        _state.token = token
    if child:
        as_child()
    _install()


def as_child() -> None:
    """This process is a child: it names itself, and a forked one lets go of the copies
    of its parent's claims (they stay the parent's)."""
    _state.child = True
    for claim in _state.claims.values():
        claim.close()
    _state.claims.clear()
    _install()


def _install() -> None:
    if _state.installed:
        return
    from ..logs import logger

    _state.installed = True
    emit = logger._emit

    def emit_once(event: dict, line: Optional[str], stream=None, always=False) -> None:
        if line is not None and event.get("event") in _KINDS:
            line = _printed_form(event, line)
        emit(event, line, stream, always)

    logger._emit = emit_once  # shadows the method on the one logger instance


def _printed_form(event: dict, line: str) -> Optional[str]:
    """The line as this process prints it, or None when another process has."""
    if _state.token and event.get("file") and not _first_to_report(event):
        return None
    if _state.child:
        return line.replace("jurigged: ", f"jurigged: (process {os.getpid()}) ", 1)
    return line


def _first_to_report(event: dict) -> bool:
    digest = _digest(event)
    claims = _state.claims
    if digest in claims:  # met again here: still ours to print
        claims.move_to_end(digest)
        return True
    if not sys.platform.startswith("linux"):
        return True
    import socket  # only once a message is printed in a family of processes

    if not hasattr(socket, "AF_UNIX"):
        return True
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        claim.bind(f"\0jurigged-{_state.token}-{digest[:40]}".encode())
    except OSError as exc:
        claim.close()
        return exc.errno != errno.EADDRINUSE  # held by another process of the family
    claims[digest] = claim
    if len(claims) > _KEPT_CLAIMS:
        claims.popitem(last=False)[1].close()
    return True


def _digest(event: dict) -> str:
    """The same message about the same file: the same digest in every process. Not
    the file's state: a process may report a save after the next one is written."""
    text = "\0".join((event.get("event", ""), event.get("file", ""),
                      str(event.get("line", 0)), event.get("message", "")))
    import hashlib

    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
