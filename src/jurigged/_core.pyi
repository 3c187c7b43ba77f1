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

class Nodes:
    """The nodes of a Tree, made Python objects as they are read."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> Node: ...

class Tree:
    """The definition tree of one source; nodes[0] is the module."""

    @property
    def nodes(self) -> Nodes: ...
    @property
    def line_count(self) -> int: ...
    @property
    def reused_nodes(self) -> int: ...  # shared with the `against` tree (0: whole-file parse)
    @property
    def text_is_source(self) -> bool: ...  # the bytes parsed are the text (strict UTF-8, no BOM/CR)
    @property
    def line_starts(self) -> bytes: ...  # line_starts() of the text, made with the tree

class Changes:
    """diff() restricted to the entries that changed; unchanged ones stay in C++."""

    entries: list[tuple[int, int, int]]
    positions: list[int]
    uncarried_functions: list[int]
    unchanged_count: int
    def new_index(self, old: int) -> int: ...
    def old_index(self, new: int) -> int: ...
    def unchanged(self, old: int) -> bool: ...
    def position(self, old: int) -> int: ...

def changes(old: Tree, new: Tree) -> Changes:
    """The changed entries of diff(old, new), with the old/new index maps."""

def parse(source: bytes, filename: str = "<unknown>", *, utf8: bool = False,
          against: Tree | None = None, python_minor: int = ...) -> Tree:
    """Parse source bytes; raises SyntaxError (msg, filename, lineno, offset, text).

    With utf8=True the bytes are UTF-8 text decoded elsewhere: any coding cookie is ignored
    (see jurigged.parsing.parse_source for modules in any encoding). With against=old,
    only the top-level statements around the bytes that differ from old's text are read
    again (the result is the whole-file parse's all the same), and changes(old, result)
    is computed in the same release of the GIL. python_minor is the
    Python 3.x whose rules apply where versions differ; by default the running one."""

def diff(old: Tree, new: Tree) -> list[tuple[int, int, int]]:
    """The change plan: (change bits, old index or -1, new index or -1) per entry."""

def line_starts(text: bytes) -> bytes:
    """Offsets of the line starts of `text` (0, then one past each newline), packed as
    native uint32: memoryview(result).cast('I')."""

MOVED: int
REFORMATTED: int
BODY_CHANGED: int
SIGNATURE_CHANGED: int
DECORATORS_CHANGED: int
CLASS_HEADER_CHANGED: int
ADDED: int
DELETED: int

# watcher

def stat_paths(paths: list[str], follow_symlinks: bool = False, with_mtime: bool = True
               ) -> tuple[tuple[int, ...], ...]:
    """(errno, st_mode, st_uid, st_gid, st_mtime_ns) of each path, without st_mtime_ns
    if not with_mtime: errno 0 if found, else the rest is 0. lstat, or stat with
    follow_symlinks. Holds the GIL (os.lstat gives it up: in a program waiting for it,
    a hand-over and back per call): for the few local metadata calls of a save's
    checks (trust, git lock)."""

class Watcher:
    """Watches files on a native thread; reports, in batches, those whose
    content changed, disappeared or became unreadable.

    A file is read once its save is complete: its writer closed it, or it was renamed
    or created in place; one written but left open is read 5 s after its last write,
    with a "notice". Of several saves queued before wait() only the latest is returned.
    debounce_ms: an extra quiet period that closes a batch; 0 (the default) delivers
    a complete save at once, with whatever events the kernel had already queued.
    poll_ms: > 0 polls by content at this interval instead of using inotify.
    max_file_size: bigger files are not read: one "error" naming the size, then
    nothing until the file is under the limit again.
    A failure of a native thread is an "error" event with an empty path; the thread
    goes on.
    Setting JURIGGED_FORCE_POLL_FALLBACK=1 in the environment before creating a Watcher
    makes it fall back to polling as if inotify were unavailable (for tests).
    """

    def __init__(self, debounce_ms: int = 0, poll_ms: int = 0,
                 max_file_size: int = 16 * 1024 * 1024,
                 report_unchanged: bool = False) -> None: ...
    def add(self, path: str, baseline: bytes) -> None:
        """Watch `path`; `baseline` is the content already running (not a change).
        The file is read once after the quiet period, so if it already differs from
        `baseline` a "changed" event follows. RuntimeError after close()."""
    def remove(self, path: str) -> None: ...
    def wait(self, timeout_ms: int = -1) -> list[tuple[str, str, bytes, str]]:
        """Block (GIL released) until a batch is ready, the timeout passes or close()
        is called. Each event is (kind, path, content, message) with kind in
        "changed", "unchanged" (with report_unchanged=True: a complete save that left
        the content as it was, a touch or a save without edits; no content), "deleted", "error", "notice". Batches settled while nobody was
        waiting are returned together. In the main thread it wakes every 200 ms so that
        Ctrl-C can interrupt it; elsewhere it sleeps until something happens."""
    def close(self) -> None: ...
    @property
    def polling(self) -> bool: ...
    @property
    def closed(self) -> bool: ...

# patcher (the function index is jurigged.function_index.FunctionIndex, in Python)

from types import CodeType, FrameType, FunctionType
from typing import Any, Iterable, Sequence, Tuple, Union

class UnbindType:
    """The type of UNBIND (not constructible)."""

UNBIND: UnbindType
"""A binding's value that deletes the name (if it is there; nothing otherwise)."""

class Binding:
    """namespace[name] = value, applied by commit() in the same step as the swaps."""

    namespace: Union[dict, type]
    name: str
    value: Any  # or UNBIND
    def __init__(self, namespace: Union[dict, type], name: str, value: Any) -> None: ...

class FunctionUpdate:
    """One function for commit() to update in place. Ellipsis (the default) keeps a
    field as the function has it; None clears it."""

    function: FunctionType
    code: CodeType
    closure: Any  # tuple of cells, None or Ellipsis
    defaults: Any  # tuple, None or Ellipsis
    kwdefaults: Any  # dict, None or Ellipsis
    annotations: Any  # dict, None or Ellipsis
    doc: Any  # any object or Ellipsis
    def __init__(self, function: FunctionType, code: CodeType, *, closure: Any = ...,
                 defaults: Any = ..., kwdefaults: Any = ..., annotations: Any = ...,
                 doc: Any = ...) -> None: ...

# The same as a tuple: (function, code, closure, defaults, kwdefaults, annotations, doc).
FunctionUpdateTuple = Tuple[FunctionType, CodeType, Any, Any, Any, Any, Any]

def commit(updates: Sequence[Union[FunctionUpdate, FunctionUpdateTuple]], *,
           bindings: Sequence[Union[Binding, Tuple[Union[dict, type], str, Any]]] = (),
           hold_if_read: Sequence[Tuple[dict, Binding]] = ()) -> list[Tuple[dict, Binding]]:
    """Apply every binding and function update in one step, or raise before changing any.

    hold_if_read: (namespace, binding) pairs, each binding one of `bindings` (by
    identity). A paired binding whose name is among the names read (co_names) by code
    running in another thread, at any depth of its stack, with `namespace` as its
    globals, is left out; those pairs are returned (an empty list otherwise). The check
    reads interpreter state only, with the cyclic GC off, in the same step as the
    stores: no Python code (so no thread switch) runs between them.

    Checked first, as CPython's FunctionType() and function attribute setters check:
    target a function and code a code object (TypeError); closure None or a tuple of
    cells (TypeError) whose length is the code's number of free variables (ValueError;
    a kept closure is checked too); defaults None or a tuple, kwdefaults and annotations
    None or a dict (TypeError). Code whose generator / coroutine / async generator kind
    differs from the function's is refused (ValueError): re-create the function instead.
    A function may appear more than once; each update is checked against the state the
    earlier ones leave.

    Bindings: namespace is a module dict (exact dict, all keys exact str) or a heap class
    whose metaclass keeps type's own __setattr__/__delattr__ (so not Enum); the name is
    an exact str and, for a class, not a data descriptor of the metaclass (__doc__,
    __name__, a metaclass property: set those outside commit). A class is set through
    type's setattr, so its attribute caches and slots (__repr__, __call__, ...) follow.
    __set_name__ is not called. Bindings are applied in order, before the swaps; if
    one fails after all (only when memory runs out), those before it are undone.

    From the first store to the last swap no Python code runs (no other thread, no
    finalizer, no weakref callback); replaced values are released only afterwards.
    C-level dict, type and function watchers (3.12+) are notified by the stores but
    not by the swaps, and the swaps raise no audit events.
    """

def functions_using(codes: Iterable[CodeType]) -> list[FunctionType]:
    """Every live function whose __code__ is one of `codes` (one pass over the heap)."""


def frames_running(codes: Iterable[CodeType]) -> list[tuple[int, FrameType]]:
    """(thread ident, frame) of every frame of every thread that runs one of `codes`
    (compared by identity)."""
