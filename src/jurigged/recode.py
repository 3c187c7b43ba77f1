"""Recoders: patch one definition (or a module) from a string, then revert it or
commit it to the file on disk.

A recoder edits the file's text in memory, byte for byte, and applies that text to
the live module like a save would; `commit()` writes the same bytes to disk. Text
given to `patch_module` is merged into the module the way jurigged 0.6.1 merges it:
definitions it names are replaced (classes member by member), anything new is added
after the preceding item of the patch, and nothing it does not mention is removed."""

from __future__ import annotations

import functools
import inspect
import linecache
import os
import sys
import tempfile
import textwrap
import tokenize
import types
from io import BytesIO
from typing import List, Optional, Tuple

from . import _core
from .parsing import parse_source
from .patcher import SourceFile, apply_lock
from .registry import registry

_FUNCTION_KINDS = ("function", "async function")
_DEFINITION_KINDS = _FUNCTION_KINDS + ("class",)


class OutOfSyncException(Exception):
    """The recoder's definition was changed by something else (a save, another
    recoder) since its last patch: `repatch()` first, or the other change is lost."""


class StaleFileError(OutOfSyncException):
    """The file changed on disk, and that change is not running: committing would
    overwrite it."""


def _under_apply_lock(method):
    """Run a Recoder method under the process-wide apply lock: the watcher thread
    applies no save between the recoder reading what runs and applying (or writing)
    its patch over it."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with apply_lock:
            return method(self, *args, **kwargs)
    return locked


class Recoder:
    """Patches the definition `focus` (a qualname; None for the whole module) of
    `file`. `status` is "saved" (what runs is on disk), "live" (patched, not yet
    committed) or "out-of-sync" (something else changed the definition since)."""

    def __init__(self, file: SourceFile, focus: Optional[str], kind: Optional[str],
                 deletable: bool = False):
        self.file = file
        self.focus = focus
        self.kind = kind
        self.deletable = deletable
        self.name = file.module_name + (f".{focus}" if focus else "")
        self.committed = file.source  # what the disk holds, as far as we know
        self._patched: Optional[bytes] = None  # the file's text right after our patch
        self._based_on: Optional[bytes] = None  # the text that patch was made on
        self._last_patch: Optional[Tuple[str, str]] = None  # (method, code) for repatch
        self._hole: Optional[Tuple[int, str]] = None  # (line, indent) of a deletion

    # -- status ---------------------------------------------------------------------

    @property
    def status(self) -> str:
        if self._patched is not None and self._ours(self.file.source) != self._ours(self._patched):
            return "out-of-sync"
        return "saved" if self.file.source == self.committed else "live"

    def _ours(self, source: bytes) -> Optional[bytes]:
        """The part of `source` this recoder answers for: its definition's lines (or
        everything, for a module recoder)."""
        if self.focus is None:
            return source
        node = self._find(source, self.focus)
        if node is None:
            return None
        return b"".join(_split_lines(source)[node.line - 1: node.end_line])

    # -- the API --------------------------------------------------------------------

    @_under_apply_lock
    def patch(self, new_code: str) -> None:
        """Replace the focused definition by `new_code`, written as it stands in its
        class (indentation is adjusted). Refuses code that defines anything else. With
        `deletable=True`, empty code deletes the definition."""
        if self.focus is None:
            return self.patch_module(new_code)
        self._last_patch = ("patch", new_code)
        source = self.file.source
        node = self._find(source, self.focus)
        code = textwrap.dedent(new_code).strip("\n")
        if not code.strip():
            if not self.deletable:
                raise ValueError(f"Recoder for {self.name} cannot delete it "
                                 f"(make_recoder(..., deletable=True) can)")
            if node is not None:
                self._hole = (node.line, _indent_of(source, node.line))
                source = _splice(source, node.line, node.end_line, b"")
            return self._apply(source)
        self._check_defines_focus(code + "\n")
        if node is not None:
            indent = _indent_of(source, node.line)
            replacement = self._encode(textwrap.indent(code + "\n", indent, lambda _: True))
            source = _splice(source, node.line, node.end_line, replacement)
        elif self._hole is not None:
            line, indent = self._hole
            replacement = self._encode(textwrap.indent(code + "\n", indent, lambda _: True))
            source = _splice(source, line, line - 1, replacement)
        else:
            raise LookupError(f"{self.name} is not defined in {self.file.path} any more")
        self._apply(source)

    @_under_apply_lock
    def patch_module(self, new_code: str) -> None:
        """Merge `new_code` into the module: definitions replace the same-named ones
        (a class is merged member by member), statements not already there and new
        definitions are inserted after the preceding item of the patch, and nothing
        the patch does not mention is removed."""
        self._last_patch = ("patch_module", new_code)
        code = textwrap.dedent(new_code).strip("\n") + "\n"
        self._apply(self._merge(self.file.source, code))

    @_under_apply_lock
    def repatch(self) -> None:
        """Apply the last patch again (after something else changed the definition)."""
        if self._last_patch is not None:
            method, code = self._last_patch
            getattr(self, method)(code)

    @_under_apply_lock
    def revert(self) -> None:
        """Go back to the last committed text (or the original one). Definitions the
        patch added are removed; statements it ran stay run."""
        self._apply(self.committed)
        self._patched = self._based_on = None

    @_under_apply_lock
    def commit(self) -> None:
        """Write what runs to the file, atomically, leaving every other byte as it was.
        Raises OutOfSyncException if the definition was changed by something else since
        the patch, and StaleFileError if the file on disk holds a change that is not
        running."""
        if self.status == "out-of-sync":
            raise OutOfSyncException(f"{self.name} was changed since it was patched; "
                                     f"repatch() before committing")
        with open(self.file.path, "rb") as f:
            on_disk = f.read()
        live = self.file.source
        if on_disk not in (self.committed, live, self._based_on):
            raise StaleFileError(f"{self.file.path} changed on disk since it was read; "
                                 f"not overwriting it")
        if on_disk != live:
            _write_atomically(self.file.path, live)
        self.committed = live
        self._patched = self._based_on = None
        linecache.cache.pop(self.file.path, None)

    # -- merging a module patch -----------------------------------------------------

    def _merge(self, source: bytes, code: str) -> bytes:
        patch = _core.parse(code.encode("utf-8"), "<patch>").nodes
        lines = code.splitlines(keepends=True)
        return self._merge_scope(source, None, patch, patch[0].children, lines)

    def _merge_scope(self, source: bytes, scope: Optional[str], patch, children: List[int],
                     lines: List[str]) -> bytes:
        """Merge the patch nodes `children` into the scope named `scope` (None: the
        module) of `source`."""
        anchor: Optional[int] = None  # last line of the previous item, once placed
        for index in children:
            item = patch[index]
            text = textwrap.dedent("".join(lines[item.line - 1: item.end_line]))
            nodes = parse_source(source, self.file.path).nodes
            members = _members(nodes, scope)
            target = _counterpart(nodes, members, item, text, _split_lines(source))
            if target is None:
                indent = _member_indent(source, nodes, scope)
                after = anchor if anchor is not None else _scope_end(nodes, scope)
                if item.kind in _DEFINITION_KINDS:
                    text = "\n" + text  # set a new definition apart, as people write
                block = self._encode(textwrap.indent(text, indent, lambda line: line.strip() != ""))
                source = _splice(source, after + 1, after, block)
                anchor = after + block.count(self._newline())
            elif item.kind == "class" and target.kind == "class":
                source = self._merge_class(source, target, item, patch, lines)
                anchor = self._find(source, target.qualname).end_line
            elif item.kind in _DEFINITION_KINDS:
                indent = _indent_of(source, target.line)
                block = self._encode(textwrap.indent(text, indent, lambda _: True))
                source = _splice(source, target.line, target.end_line, block)
                anchor = target.line - 1 + block.count(self._newline())
            else:
                anchor = target.end_line  # the same statement is already there
        return source

    def _merge_class(self, source: bytes, target, item, patch, lines) -> bytes:
        header = textwrap.dedent("".join(lines[item.line - 1: item.body_line - 1]))
        old_header = b"".join(_split_lines(source)[target.line - 1: target.body_line - 1])
        indent = _indent_of(source, target.line)
        new_header = self._encode(textwrap.indent(header, indent, lambda _: True))
        if header and new_header.strip() != old_header.strip():
            source = _splice(source, target.line, target.body_line - 1, new_header)
        return self._merge_scope(source, target.qualname, patch, item.children, lines)

    # -- helpers --------------------------------------------------------------------

    def _find(self, source: bytes, qualname: str):
        try:
            nodes = parse_source(source, self.file.path).nodes
        except SyntaxError:
            return None
        for node in nodes:
            if node.qualname == qualname and node.kind in _DEFINITION_KINDS:
                return node
        return None

    def _check_defines_focus(self, code: str) -> None:
        nodes = _core.parse(code.encode("utf-8"), "<patch>").nodes
        top = [nodes[i] for i in nodes[0].children]
        short = self.focus.rsplit(".", 1)[-1]
        if (len(top) != 1 or top[0].name != short
                or (top[0].kind == "class") != (self.kind == "class")):
            names = ", ".join(n.name or "statements" for n in top) or "nothing"
            raise ValueError(f"Recoder for {self.name} cannot be used to define {names}")

    def _encoding(self) -> str:
        encoding, _ = tokenize.detect_encoding(BytesIO(self.file.source).readline)
        return "utf-8" if encoding == "utf-8-sig" else encoding

    def _newline(self) -> bytes:
        text = self.file.source
        if b"\r\n" in text:
            return b"\r\n"
        return b"\r" if b"\r" in text and b"\n" not in text else b"\n"

    def _encode(self, text: str) -> bytes:
        return text.encode(self._encoding()).replace(b"\n", self._newline())

    def _apply(self, source: bytes) -> None:
        based_on = self.file.source
        self.file.apply(source)
        if self.file.source != source:
            raise SyntaxError(f"the patch for {self.name} could not be applied "
                              f"(see the error above)")
        self._patched, self._based_on = source, based_on
        # Tracebacks read source lines through linecache: show the patched text.
        text = source.decode(self._encoding(), errors="replace")
        if source == self.committed:
            linecache.cache.pop(self.file.path, None)
        else:
            linecache.cache[self.file.path] = (len(text), None,
                                               text.splitlines(keepends=True),
                                               self.file.path)


def _members(nodes, scope: Optional[str]) -> List[int]:
    """The indices of the members of scope `scope` (None: the module), looking into
    blocks (`if`, `try`...) the way Python's scoping does."""
    root = 0 if scope is None else next(
        (i for i, n in enumerate(nodes) if n.qualname == scope and n.kind == "class"), None)
    if root is None:
        return []
    found, pending = [], list(nodes[root].children)
    while pending:
        index = pending.pop(0)
        found.append(index)
        if nodes[index].kind == "block":
            pending[:0] = nodes[index].children
    return found


def _counterpart(nodes, members: List[int], item, text: str, source_lines: List[bytes]):
    """The member of the live scope that patch node `item` stands for: the definition
    of the same name and kind, or the same statement."""
    for index in members:
        node = nodes[index]
        if item.kind in _DEFINITION_KINDS:
            if node.name == item.name and (node.kind == "class") == (item.kind == "class"):
                return node
        elif node.kind not in _DEFINITION_KINDS:
            here = b"".join(source_lines[node.line - 1: node.end_line])
            if here.decode("utf-8", "replace").strip() == text.strip():
                return node
    return None


def _scope_end(nodes, scope: Optional[str]) -> int:
    """The last line of a scope: where something new is added to it by default."""
    if scope is None:
        return nodes[0].end_line
    return next(n.end_line for n in nodes if n.qualname == scope and n.kind == "class")


def _member_indent(source: bytes, nodes, scope: Optional[str]) -> str:
    if scope is None:
        return ""
    cls = next(n for n in nodes if n.qualname == scope and n.kind == "class")
    if cls.children:
        return _indent_of(source, nodes[cls.children[0]].line)
    return _indent_of(source, cls.line) + "    "


def _indent_of(source: bytes, line: int) -> str:
    lines = _split_lines(source)
    if not 0 < line <= len(lines):
        return ""
    text = lines[line - 1].decode("utf-8", "replace")
    return text[: len(text) - len(text.lstrip())].rstrip("\r\n")


def _splice(source: bytes, first: int, last: int, replacement: bytes) -> bytes:
    """`source` with lines first..last (1-based, inclusive; last = first - 1 inserts
    before `first`) replaced by `replacement`, which ends with a line ending."""
    lines = _split_lines(source)
    before = b"".join(lines[: first - 1])
    if before and not before.endswith((b"\n", b"\r")) and replacement:
        before += b"\n" if b"\r" not in before else b"\r\n"
    return before + replacement + b"".join(lines[last:])


def _split_lines(source: bytes) -> List[bytes]:
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


def make_recoder(obj, deletable: bool = False) -> Optional[Recoder]:
    """A Recoder for a function, method, class, code object or module; None when its
    definition cannot be found in a source file (a class made at run time, a function
    defined by exec...)."""
    if isinstance(obj, types.ModuleType):
        if not getattr(obj, "__file__", None):
            raise TypeError(f"{obj.__name__} has no source file")
        return Recoder(_file_for(obj.__file__, obj.__name__), None, None, deletable)
    target = inspect.unwrap(obj) if callable(obj) and not isinstance(obj, type) else obj
    if isinstance(target, (classmethod, staticmethod)):
        target = target.__func__
    if isinstance(target, types.MethodType):
        target = target.__func__
    if isinstance(target, types.FunctionType):
        code = target.__code__
        path, module_name = code.co_filename, target.__module__
        qualname, kind = target.__qualname__, "function"
    elif isinstance(target, types.CodeType):
        path, module_name = target.co_filename, _module_name_of(target.co_filename)
        if module_name is None:
            return None
        qualname, kind = getattr(target, "co_qualname", target.co_name), "function"
    elif isinstance(target, type):
        module = sys.modules.get(target.__module__)
        path = getattr(module, "__file__", None)
        if not path:
            return None
        module_name, qualname, kind = module.__name__, target.__qualname__, "class"
    else:
        raise TypeError(f"cannot make a recoder for {type(obj).__name__} objects")
    if not os.path.isfile(path):
        return None
    recoder = Recoder(_file_for(path, module_name), qualname, kind, deletable)
    node = recoder._find(recoder.file.source, qualname)
    if node is None or (node.kind == "class") != (kind == "class"):
        return None
    return recoder


def _module_name_of(path: str) -> Optional[str]:
    path = os.path.abspath(path)
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and os.path.abspath(file) == path:
            return name
    return None


def virtual_file(name: str, contents: str) -> str:
    """Register `contents` under a made-up filename so that tracebacks of code compiled
    with that filename show it; returns the filename."""
    filename = f"<{name}>"
    linecache.cache[filename] = (len(contents), None, contents.splitlines(keepends=True),
                                 filename)
    return filename
