"""One line per distinct error or notice, however many live processes meet it.

A save that fails in a program with N live children fails in each of them too: every
process applies the save, and each would print the same error. The watching process
and its children share a private folder; before printing an error or notice about a
file, a process claims the message there (a file created with O_EXCL, named by a
digest of the message and of the saved file's identity) and prints it only if the
claim is its own. So the first process to meet an error prints it, once per save,
and a failure met by a child only (another state, a module only it imported) is
still printed, with that child's process id. A claim whose owner has ended is taken
over; when anything about the folder fails, the message is printed. The folder is
made when the first such message comes, so a run without one leaves nothing behind.

Only the printed line is held back: the event still reaches the logger's listeners."""

from __future__ import annotations

import atexit
import hashlib
import os
import secrets
import shutil
import stat
import tempfile
from dataclasses import dataclass
from typing import Optional

_KINDS = ("error", "notice")


@dataclass
class _State:
    folder: str = ""  # empty: no live children, every line is printed
    child: bool = False  # lines printed here name this process
    installed: bool = False


_state = _State()


def folder() -> str:
    return _state.folder


def create_folder() -> str:
    """The watching process's folder: named now (its children are told the name), made
    by the first process that has something to print, removed when this one exits."""
    if not _state.folder:
        name = f"jurigged-reports-{os.getpid()}-{secrets.token_hex(8)}"
        _state.folder = os.path.join(tempfile.gettempdir(), name)
        atexit.register(_remove_folder, _state.folder, os.getpid())
    _install()
    return _state.folder


def use_folder(path: str, *, child: bool) -> None:
    """A child's side: claim messages in its parent's folder."""
    if path:
        _state.folder = path
    _state.child = _state.child or child
    _install()


def as_child() -> None:
    _state.child = True
    _install()


def _remove_folder(path: str, owner: int) -> None:
    if os.getpid() == owner:  # not in a forked child that runs the atexit handlers
        shutil.rmtree(path, ignore_errors=True)


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
    if _state.folder and event.get("file") and not _first_to_report(event):
        return None
    if _state.child:
        return line.replace("jurigged: ", f"jurigged: (process {os.getpid()}) ", 1)
    return line


def _first_to_report(event: dict) -> bool:
    claim = os.path.join(_state.folder, _digest(event))
    me = str(os.getpid())
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        if not _folder_ready():
            return True
        descriptor = os.open(claim, flags, 0o600)
    except FileExistsError:
        return _owned_or_taken_over(claim, me)
    except OSError:  # the folder is gone (the parent ended): print
        return True
    try:
        os.write(descriptor, me.encode())
    finally:
        os.close(descriptor)
    return True


def _folder_ready() -> bool:
    """Make the folder if no process did yet; trust it only if it is a directory of
    this user that no one else can enter (else every line is printed)."""
    try:
        os.mkdir(_state.folder, 0o700)
    except FileExistsError:
        pass
    status = os.lstat(_state.folder)
    return (stat.S_ISDIR(status.st_mode) and status.st_uid == os.getuid()
            and not status.st_mode & 0o077)


def _owned_or_taken_over(claim: str, me: str) -> bool:
    try:
        with open(claim) as file:
            owner = file.read().strip()
    except OSError:
        return True
    if owner == me or not owner:  # a repeat (a retried statement), or being written
        return owner == me
    if _alive(int(owner) if owner.isdigit() else 0):
        return False
    try:  # the owner ended (a pool's worker replaced): this process reports it now
        spare = f"{claim}.{me}"
        with open(spare, "w") as file:
            file.write(me)
        os.replace(spare, claim)
    except OSError:
        pass
    return True


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _digest(event: dict) -> str:
    """The same message about the same save of the same file: the same digest in every
    process. The file's identity tells one save from the next."""
    path = event.get("file", "")
    try:
        status = os.stat(path)
        identity = f"{status.st_ino}:{status.st_size}:{status.st_mtime_ns}"
    except OSError:
        identity = ""
    text = "\0".join((event.get("event", ""), path, str(event.get("line", 0)),
                      event.get("message", ""), identity))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
