"""Type stubs for jurigged._core, the C++ engine."""

# source model

class Node:
    """One definition, block or statement of a parsed source (positions like ast)."""

    @property
    def kind(self) -> str: ...  # "module", "class", "function", "async function", "block", "statement"
    @property
    def name(self) -> str: ...
    @property
    def qualname(self) -> str: ...
    @property
    def parent(self) -> int: ...
    @property
    def children(self) -> list[int]: ...
    @property
    def line(self) -> int: ...
    @property
    def col(self) -> int: ...
    @property
    def end_line(self) -> int: ...
    @property
    def end_col(self) -> int: ...
    @property
    def def_line(self) -> int: ...
    @property
    def def_col(self) -> int: ...
    @property
    def body_line(self) -> int: ...
    @property
    def decorators_hash(self) -> int: ...
    @property
    def header_hash(self) -> int: ...
    @property
    def body_hash(self) -> int: ...
    @property
    def layout_hash(self) -> int: ...

class Tree:
    """The definition tree of one source; nodes[0] is the module."""

    @property
    def nodes(self) -> list[Node]: ...
    @property
    def line_count(self) -> int: ...

def parse(source: bytes, filename: str = "<unknown>", *, utf8: bool = False) -> Tree:
    """Parse source bytes; raises SyntaxError (msg, filename, lineno, offset, text).

    With utf8=True the bytes are UTF-8 text decoded elsewhere: any coding cookie is ignored
    (see jurigged.parsing.parse_source for modules in any encoding)."""

def diff(old: Tree, new: Tree) -> list[tuple[int, int, int]]:
    """The change plan: (change bits, old index or -1, new index or -1) per entry."""

MOVED: int
REFORMATTED: int
BODY_CHANGED: int
SIGNATURE_CHANGED: int
DECORATORS_CHANGED: int
CLASS_HEADER_CHANGED: int
ADDED: int
DELETED: int

# watcher

class Watcher:
    """Watches files on a native thread; reports, in debounced batches, those whose
    content changed, disappeared or became unreadable.

    debounce_ms: quiet period that closes a batch (0 delivers at once).
    poll_ms: > 0 polls by content at this interval instead of using inotify.
    Setting JURIGGED_FORCE_POLL_FALLBACK=1 in the environment before creating a Watcher
    makes it fall back to polling as if inotify were unavailable (for tests).
    """

    def __init__(self, debounce_ms: int = 50, poll_ms: int = 0) -> None: ...
    def add(self, path: str, baseline: bytes) -> None:
        """Watch `path`; `baseline` is the content already running (not a change).
        The file is read once after the quiet period, so if it already differs from
        `baseline` a "changed" event follows. RuntimeError after close()."""
    def remove(self, path: str) -> None: ...
    def wait(self, timeout_ms: int = -1) -> list[tuple[str, str, bytes, str]]:
        """Block (GIL released) until a batch is ready, the timeout passes or close()
        is called. Each event is (kind, path, content, message) with kind in
        "changed", "deleted", "error", "notice". Batches settled while nobody was
        waiting are returned together. In the main thread it wakes every 200 ms so that
        Ctrl-C can interrupt it; elsewhere it sleeps until something happens."""
    def close(self) -> None: ...
    @property
    def polling(self) -> bool: ...
    @property
    def closed(self) -> bool: ...

# patcher

from types import CodeType, FunctionType
from typing import Iterable

class FunctionIndex:
    """Which live functions run which code object (functions held weakly)."""

    def __init__(self) -> None: ...
    def add(self, code: CodeType, function: FunctionType) -> bool: ...
    def functions(self, code: CodeType) -> list[FunctionType]: ...
    def move(self, old_code: CodeType, new_code: CodeType) -> None: ...
    def forget(self, code: CodeType) -> None: ...
    def __contains__(self, code: CodeType) -> bool: ...
    def __len__(self) -> int: ...

def commit(updates: list[tuple]) -> None:
    """Apply (function, code, closure, defaults, kwdefaults, annotations, doc) updates
    all at once (Ellipsis keeps a field), or raise before changing any."""

def functions_using(codes: Iterable[CodeType]) -> list[FunctionType]:
    """Every live function whose __code__ is one of `codes` (one pass over the heap)."""
