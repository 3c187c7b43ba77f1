"""Source bytes from disk into the C++ source model, in any encoding CPython imports.

The C++ decoder knows UTF-8 and a few single-byte charsets; for any other PEP 263
cookie the bytes are decoded here with Python's own codec, as CPython's compiler does
when it imports the file, and the model then reads the UTF-8 text (so its columns are
UTF-8 byte columns of the decoded text, like everywhere else).
"""
import codecs
from importlib.util import decode_source
from typing import List, Optional

from . import _core

_UNKNOWN = "unknown encoding: "


def parse_source(source: bytes, path: str, against=None) -> _core.Tree:
    """Parse a module's bytes; raises SyntaxError where CPython's import would.
    `against` (the tree of the running text): only what differs from it is parsed
    again, and the diff from it is computed during the parse, without taking the GIL
    again (see _core.parse)."""
    try:
        return _core.parse(source, path, against=against)
    except SyntaxError as error:
        if not (error.msg or "").startswith(_UNKNOWN):
            raise
        encoding = error.msg[len(_UNKNOWN):]
    text = _decode(source, encoding, path)
    return _core.parse(text.encode("utf-8", "surrogatepass"), path, utf8=True,
                       against=against)


def _decode(source: bytes, encoding: str, path: str) -> str:
    """The text of `source` in the cookie's `encoding`, or CPython's SyntaxError."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise _syntax_error(f"unknown encoding: {encoding}", path) from None
    if not getattr(info, "_is_text_encoding", True):
        raise _syntax_error(f"{encoding!r} is not a text encoding; use codecs.decode() "
                            "to handle arbitrary codecs", path)
    try:
        return info.decode(source)[0]
    except UnicodeDecodeError as error:
        raise _syntax_error(str(error), path, source, error.start) from None
    except UnicodeError as error:
        raise _syntax_error(f"decoding with {encoding!r} codec failed ({error})", path) from None


def _syntax_error(message: str, path: str, source: bytes = b"", at: int = 0) -> SyntaxError:
    """CPython reports decoding errors on line 0; the line of the bad byte is more useful."""
    before = source[:at]
    line = len((before + b"x").splitlines())
    line_start = max(before.rfind(b"\n"), before.rfind(b"\r")) + 1
    return SyntaxError(message, (path, line, at - line_start + 1, None))


def source_lines(source: bytes) -> List[str]:
    """The module's lines as CPython numbers them: decoded by its cookie, split at
    newlines only. `str.splitlines` also splits at form feeds and other separators
    that CPython keeps inside a line, which would shift every later line number."""
    lines = decode_source(source).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _as_utf8_text(source: bytes) -> bytes:
    """The module's text as CPython reads it (cookie, "\n" newlines), UTF-8 encoded.
    Most files are ASCII without a cookie or a "\r": their bytes are that text
    already, and decoding and re-encoding a 10,000-line save cost ~0.3 ms."""
    if type(source) is bytes and source.isascii() and b"\r" not in source \
            and b"coding" not in _first_two_lines(source):
        return source
    return decode_source(source).encode("utf-8", "surrogatepass")


def _first_two_lines(source: bytes) -> bytes:
    """Where a PEP 263 cookie may be."""
    first = source.find(b"\n")
    second = source.find(b"\n", first + 1) if first >= 0 else -1
    return source if second < 0 else source[:second]


class SourceLines:
    """A module's lines as `source_lines` gives them, each decoded when it is read: a
    save reads the lines of what changed, and splitting a 10,000-line file into str
    objects cost more than the rest of the save. Indexes and slices like a list."""

    __slots__ = ("_data", "_starts", "_count")

    def __init__(self, source: bytes, tree: Optional[_core.Tree] = None):
        # Decoded by the module's cookie and newlines made "\n" (as CPython reads
        # it), kept as UTF-8: one bytes object and 4 bytes per line. `tree` (the
        # source's): when its text is the bytes, their line table comes with it, made
        # off the GIL, so a save does not scan its file here.
        if tree is not None and tree.text_is_source and type(source) is bytes:
            self._data = source
            self._starts = memoryview(tree.line_starts).cast("I")
        else:
            self._data = _as_utf8_text(source)
            self._starts = memoryview(_core.line_starts(self._data)).cast("I")
        count = len(self._starts)
        self._count = count - 1 if self._starts[count - 1] == len(self._data) else count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._line(number) for number in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError("line index out of range")
        return self._line(index)

    def __iter__(self):
        return (self._line(number) for number in range(self._count))

    def _line(self, index: int) -> str:
        starts = self._starts
        end = starts[index + 1] - 1 if index + 1 < len(starts) else len(self._data)
        return self._data[starts[index]:end].decode("utf-8", "surrogatepass")

    @property
    def text(self) -> str:
        """The whole decoded text."""
        return self._data.decode("utf-8", "surrogatepass")
