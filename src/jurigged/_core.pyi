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

def parse(source: bytes, filename: str = "<unknown>") -> Tree:
    """Parse source bytes; raises SyntaxError (msg, filename, lineno, offset, text)."""

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
