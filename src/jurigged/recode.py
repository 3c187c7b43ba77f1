"""Recoders: patch one definition (or a module) from a string, then revert it or
commit it to the file on disk.

A recoder edits the file's text in memory, byte for byte, and applies that text to
the live module like a save would; `commit()` writes the same bytes to disk."""

from __future__ import annotations

import inspect
import linecache
import os
import tempfile
import textwrap
import tokenize
import types
from io import BytesIO
from typing import Optional

from . import _core
from .patcher import SourceFile
from .registry import registry


class StaleFileError(Exception):
    """The file changed on disk since the recoder read it: committing would lose that."""


class Recoder:
    """Patches the definition `focus` (a qualname; None for the whole module) of
    `file`."""

    def __init__(self, file: SourceFile, focus: Optional[str], kind: Optional[str]):
        self.file = file
        self.focus = focus
        self.kind = kind
        self.name = file.module_name + (f".{focus}" if focus else "")
        self.committed = file.source  # what the disk holds, as far as we know

    # -- text surgery on bytes ------------------------------------------------------

    def _nodes(self, source: bytes):
        return list(_core.parse(source, self.file.path).nodes)

    def _focus_node(self, source: bytes):
        for node in self._nodes(source):
            if node.qualname == self.focus and node.kind in ("function", "async function",
                                                              "class"):
                return node
        raise LookupError(f"{self.name} is not defined in {self.file.path} any more")

    def _encoding_and_newline(self):
        encoding, _ = tokenize.detect_encoding(BytesIO(self.file.source).readline)
        if encoding == "utf-8-sig":
            encoding = "utf-8"
        text = self.file.source
        newline = b"\r\n" if b"\r\n" in text else (b"\r" if b"\r" in text and b"\n" not in text else b"\n")
        return encoding, newline

    def _encode(self, text: str) -> bytes:
        encoding, newline = self._encoding_and_newline()
        return text.encode(encoding).replace(b"\n", newline)

    def _splice(self, source: bytes, first: int, last: int, text: str) -> bytes:
        """`source` with lines first..last (1-based, inclusive) replaced by `text`."""
        lines = _split_lines(source)
        replacement = self._encode(text)
        if replacement and not replacement.endswith(self._encoding_and_newline()[1]):
            replacement += self._encoding_and_newline()[1]
        return b"".join(lines[: first - 1]) + replacement + b"".join(lines[last:])

    # -- the API --------------------------------------------------------------------

    def patch(self, new_code: str) -> None:
        """Replace the focused definition by `new_code`, written as it stands in its
        class (indentation is adjusted). Refuses code that defines anything else."""
        if self.focus is None:
            return self.patch_module(new_code)
        code = textwrap.dedent(new_code).strip("\n") + "\n"
        nodes = self._nodes(code.encode("utf-8"))
        top = [nodes[i] for i in nodes[0].children]
        short = self.focus.rsplit(".", 1)[-1]
        if (len(top) != 1 or top[0].name != short
                or (top[0].kind == "class") != (self.kind == "class")):
            names = ", ".join(n.name or "statements" for n in top) or "nothing"
            raise ValueError(f"Recoder for {self.name} cannot be used to define {names}")
        node = self._focus_node(self.file.source)
        first_line = _split_lines(self.file.source)[node.line - 1].decode("utf-8", "replace")
        indent = first_line[: len(first_line) - len(first_line.lstrip())]
        text = textwrap.indent(code, indent, lambda line: True)
        self._apply(self._splice(self.file.source, node.line, node.end_line, text))

    def patch_module(self, new_code: str) -> None:
        """Merge `new_code` into the module: definitions replace the same-named ones,
        anything else (new helpers, imports, statements) is added at the end."""
        code = textwrap.dedent(new_code).strip("\n") + "\n"
        patch_nodes = self._nodes(code.encode("utf-8"))
        patch_lines = code.splitlines(keepends=True)
        source = self.file.source
        appended = []
        for index in patch_nodes[0].children:
            node = patch_nodes[index]
            text = "".join(patch_lines[node.line - 1: node.end_line])
            target = None
            if node.name:
                module_nodes = self._nodes(source)
                for i in module_nodes[0].children:
                    if module_nodes[i].name == node.name and module_nodes[i].kind == node.kind:
                        target = module_nodes[i]
            if target is not None:
                source = self._splice(source, target.line, target.end_line, text)
            else:
                appended.append(text)
        if appended:
            newline = self._encoding_and_newline()[1]
            if source and not source.endswith(newline):
                source += newline
            source += self._encode("\n" + "".join(appended))
        self._apply(source)

    def revert(self) -> None:
        """Go back to the last committed text (or the original one)."""
        self._apply(self.committed)

    def commit(self) -> None:
        """Write the patched text to the file, atomically, changing no other byte.
        Raises StaleFileError if the file changed on disk since it was read."""
        with open(self.file.path, "rb") as f:
            on_disk = f.read()
        if on_disk != self.committed:
            raise StaleFileError(f"{self.file.path} changed on disk since it was read; "
                                 f"not overwriting it")
        _write_atomically(self.file.path, self.file.source)
        self.committed = self.file.source
        linecache.cache.pop(self.file.path, None)

    def _apply(self, source: bytes) -> None:
        self.file.apply(source)
        if self.file.source != source:
            raise SyntaxError(f"the patch for {self.name} could not be applied "
                              f"(see the error above)")
        # Tracebacks read source lines through linecache: show the patched text.
        text = source.decode(self._encoding_and_newline()[0], errors="replace")
        lines = text.splitlines(keepends=True)
        if source == self.committed:
            linecache.cache.pop(self.file.path, None)
        else:
            linecache.cache[self.file.path] = (len(text), None, lines, self.file.path)


def _split_lines(source: bytes):
    """Lines with their endings, splitting on \\r\\n, \\r and \\n like Python does."""
    lines, start, i, n = [], 0, 0, len(source)
    while i < n:
        c = source[i]
        if c == 0x0A or c == 0x0D:
            end = i + 2 if c == 0x0D and i + 1 < n and source[i + 1] == 0x0A else i + 1
            lines.append(source[start:end])
            start = i = end
        else:
            i += 1
    if start < n:
        lines.append(source[start:])
    return lines


def _write_atomically(path: str, data: bytes) -> None:
    directory = os.path.dirname(path) or "."
    mode = os.stat(path).st_mode & 0o7777
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".jurigged-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _file_for(path: str, module_name: str) -> SourceFile:
    path = os.path.abspath(path)
    file = registry.files.get(path) or registry.unwatched.get(path)
    if file is None:
        with open(path, "rb") as f:
            file = SourceFile(path, module_name, f.read())
        registry.unwatched[path] = file
    return file


def make_recoder(obj) -> Recoder:
    """A Recoder for a function, method, class, code object or module."""
    if isinstance(obj, types.ModuleType):
        if not getattr(obj, "__file__", None):
            raise TypeError(f"{obj.__name__} has no source file")
        return Recoder(_file_for(obj.__file__, obj.__name__), None, None)
    target = inspect.unwrap(obj) if callable(obj) and not isinstance(obj, type) else obj
    if isinstance(target, (classmethod, staticmethod)):
        target = target.__func__
    if isinstance(target, types.MethodType):
        target = target.__func__
    if isinstance(target, types.FunctionType):
        code = target.__code__
        module_name = target.__module__
        qualname, kind = target.__qualname__, "function"
    elif isinstance(target, types.CodeType):
        code = target
        module_name = _module_name_of(code.co_filename)
        qualname, kind = getattr(code, "co_qualname", code.co_name), "function"
    elif isinstance(target, type):
        module = inspect.getmodule(target)
        if module is None or not getattr(module, "__file__", None):
            raise TypeError(f"cannot find the source file of {target!r}")
        file = _file_for(module.__file__, module.__name__)
        return Recoder(file, target.__qualname__, "class")
    else:
        raise TypeError(f"cannot make a recoder for {type(obj).__name__} objects")
    return Recoder(_file_for(code.co_filename, module_name), qualname, kind)


def _module_name_of(path: str) -> str:
    path = os.path.abspath(path)
    for name, module in list(__import__("sys").modules.items()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and os.path.abspath(file) == path:
            return name
    raise LookupError(f"no imported module runs {path}")


def virtual_file(name: str, contents: str) -> str:
    """Register `contents` under a made-up filename so that tracebacks of code compiled
    with that filename show it; returns the filename."""
    filename = f"<{name}>"
    linecache.cache[filename] = (len(contents), None, contents.splitlines(keepends=True),
                                 filename)
    return filename
