"""What jurigged tells the user: event lines with -v, errors always.

Event lines go to stdout, like the original jurigged's, so that scripts reading its
output keep working; errors and notices go to stderr.
"""

from __future__ import annotations

import errno
import os
import sys
import threading

TYPE_CHECKING = False  # typing costs ~5 ms of start-up: annotations only (strings)
if TYPE_CHECKING:
    from typing import Callable, List, Optional, TextIO

_lock = threading.Lock()


class Logger:
    """Prints patch events. `listeners` receive every event as a dict (for --events)."""

    def __init__(self, verbose: bool = False):
        self.verbose = verbose
        self.listeners: List[Callable[[dict], None]] = []

    def _emit(self, event: dict, line: Optional[str], stream=None, always=False):
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not stop a patch
                pass
        if line is not None and (always or self.verbose):
            out = stream or sys.stdout
            with _lock:
                try:
                    # One write per line: print() writes the newline separately, which
                    # lets the program's own output land in the middle of our line.
                    out.write(line + "\n")
                    out.flush()
                except (OSError, ValueError):  # closed stream at shutdown
                    pass

    def watch(self, path: str) -> None:
        if self.verbose or self.listeners:  # once per imported module: the common
            self._emit({"event": "watch", "file": path}, f"Watch {path}")  # case is quiet

    def update(self, qualname: str, path: str, line: int) -> None:
        self._emit({"event": "update", "qualname": qualname, "file": path, "line": line},
                   f"Update {qualname}")

    def add(self, qualname: str, path: str, line: int) -> None:
        self._emit({"event": "add", "qualname": qualname, "file": path, "line": line},
                   f"Add {qualname}")

    def delete(self, qualname: str, path: str, line: int) -> None:
        self._emit({"event": "delete", "qualname": qualname, "file": path, "line": line},
                   f"Delete {qualname}")

    def run(self, module: str, path: str, line: int, text: str) -> None:
        first = text.strip().splitlines()[0] if text.strip() else ""
        self._emit({"event": "run", "module": module, "file": path, "line": line,
                    "text": text}, f"Run {module}:{line}: {first}")

    def batch(self, paths: List[str]) -> None:
        """One batch of saves is about to be applied (for the event stream only)."""
        self._emit({"event": "batch", "files": list(paths)}, None)

    def notice(self, message: str, path: str = "", line: int = 0) -> None:
        """Something the user should know even without -v (a refusal, a fallback)."""
        self._emit({"event": "notice", "message": message, "file": path, "line": line},
                   f"jurigged: {message}", stream=sys.stderr, always=True)

    def error(self, message: str, path: str = "", line: int = 0,
              exc: Optional[BaseException] = None) -> None:
        text = f"jurigged: {message}"
        if exc is not None:
            import traceback  # only errors with a cause need it (~2 ms at start-up)

            if isinstance(exc, SyntaxError):
                detail = "".join(traceback.format_exception_only(type(exc), exc))
            else:
                detail = "".join(traceback.format_exception(type(exc), exc,
                                                            exc.__traceback__))
            text = f"{text}\n{detail.rstrip()}"
        self._emit({"event": "error", "message": message, "file": path, "line": line,
                    "detail": text}, text, stream=sys.stderr, always=True)


def write_events(logger: Logger, destination: str):
    """Write every event of `logger` as one JSON object per line to `destination` (a
    file path, or "-" for stdout), for editors and tools. Returns the listener.
    Raises OSError, or trust.UntrustedFile for a file that is not safely ours."""
    import json

    stream = sys.stdout if destination == "-" else open_events_file(destination)

    def listener(event: dict) -> None:
        with _lock:
            stream.write(json.dumps(event) + "\n")
            stream.flush()

    logger.listeners.append(listener)
    return listener


def open_events_file(path: str) -> TextIO:
    """Open `path` to append events, created private (0600: events hold source text).
    A name planted beforehand by someone else (a symbolic link to one of our files, a
    FIFO, a hard link, a file of theirs) is refused rather than written through."""
    from .trust import UntrustedFile, why_not_private

    flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(path):
            raise UntrustedFile(f"{path} is a symbolic link (not followed)") from None
        if exc.errno == errno.ENXIO:  # a FIFO nobody reads, or a socket
            raise UntrustedFile(f"{path} is not a regular file") from None
        raise
    try:
        problem = why_not_private(os.fstat(fd))
        if problem is not None:
            raise UntrustedFile(f"{path} {problem}")
        if hasattr(os, "set_blocking"):  # O_NONBLOCK only kept a FIFO from hanging open
            os.set_blocking(fd, True)
        return os.fdopen(fd, "a", buffering=1, encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


logger = Logger()
