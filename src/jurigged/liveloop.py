"""`for x in jurigged.live(items):` a loop whose body is read again from its file at
every iteration, so that a running loop picks up saved edits.

The caller's own compiled body never runs: on the first step, the iterator takes the
loop over. At each item it finds the loop in the file's current text (by its place:
the enclosing definitions and its rank among the live loops there), compiles the body
if it changed, and runs it in the caller's frame: its globals, and its locals copied in
before and written back after each iteration."""

from __future__ import annotations

import ast
import ctypes
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Set, Tuple

from .logs import logger
from .parsing import source_lines

_CO_OPTIMIZED = 0x1  # a function frame: its locals live in fast slots, not a dict
_ITEM = "__jurigged_live_item__"
_BROKE = "__jurigged_live_broke__"


@dataclass
class _Body:
    """One compiled version of the loop body."""

    code: types.CodeType
    text: str              # the body's source, to see whether a save changed it
    globals_declared: Set[str] = field(default_factory=set)
    line: int = 0


@dataclass(frozen=True)
class _Place:
    """Where the loop is, in terms that survive edits above or around it."""

    scopes: Tuple[str, ...]  # names of the enclosing defs and classes
    rank: int                # among the live loops directly in that scope


def live(iterable: Iterable, _depth: int = 1) -> Iterator:
    """Iterate over `iterable`, running the latest saved version of the loop's body
    for each item (see the README for what survives from one version to the next)."""
    frame = sys._getframe(_depth)
    return _LiveLoop(iterable, frame, frame.f_lineno)


class _LiveLoop:
    def __init__(self, iterable: Iterable, frame: types.FrameType, line: int):
        self.items = iter(iterable)
        self.frame = frame
        self.path = frame.f_code.co_filename
        self.call_line = line
        self.flags = frame.f_code.co_flags & _FUTURE_FLAGS
        self.place: Optional[_Place] = None
        self.body: Optional[_Body] = None
        self.first_text: Optional[str] = None
        self.extra: Dict[str, Any] = {}  # variables the original frame has no slot for
        self._source: Optional[bytes] = None
        self._done = False

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        self._done = True
        try:
            self._run()
        finally:
            self.frame = None  # do not keep the caller's frame alive
        raise StopIteration

    # -- the loop ------------------------------------------------------------------

    def _run(self) -> None:
        self._refresh(first=True)
        if self.body is None:
            raise RuntimeError(f"{self.path}:{self.call_line}: jurigged.live() must be "
                               f"the iterable of a for statement")
        for item in self.items:
            self._refresh()
            body = self.body
            try:
                if self._run_body(body, item):
                    return  # the body broke out of the loop
            except Exception as error:
                if body.text == self.first_text:
                    raise  # the code as it was written: a plain loop would stop too
                logger.error(f"{self.path}:{_error_line(error, self.path, body.line)}: "
                             f"the edited loop body raised {type(error).__name__}; the "
                             f"loop goes on with its next item", self.path, body.line,
                             error)

    def _run_body(self, body: _Body, item) -> bool:
        """Run `body` for `item` in the caller's frame; True if it ran `break`."""
        frame = self.frame
        if not frame.f_code.co_flags & _CO_OPTIMIZED:
            namespace = frame.f_locals  # a module or class body: a real mapping
            if namespace is frame.f_globals:
                return self._exec(body, item, frame.f_globals)
        scope = dict(frame.f_globals)
        scope.update(frame.f_locals)
        scope.update(self.extra)
        try:
            return self._exec(body, item, scope)
        finally:
            # What the body did before it raised stays done, as in a plain loop.
            self._write_back(body, scope)

    @staticmethod
    def _exec(body: _Body, item, namespace: dict) -> bool:
        namespace[_ITEM] = (item,)
        namespace[_BROKE] = True
        try:
            exec(body.code, namespace)
            return namespace.get(_BROKE, False)
        finally:
            namespace.pop(_ITEM, None)
            namespace.pop(_BROKE, None)

    def _write_back(self, body: _Body, scope: dict) -> None:
        frame = self.frame
        code = frame.f_code
        slots = set(code.co_varnames) | set(code.co_cellvars) | set(code.co_freevars)
        globals_ = frame.f_globals
        if frame.f_code.co_flags & _CO_OPTIMIZED:
            changed = {}
            for name in slots:
                if name in scope:
                    changed[name] = scope[name]
            _set_frame_locals(frame, changed, [n for n in slots if n not in scope])
        else:
            frame.f_locals.update({k: v for k, v in scope.items()
                                   if k not in globals_ or globals_[k] is not v})
        for name in body.globals_declared:
            if name in scope:
                globals_[name] = scope[name]
        for name, value in scope.items():
            if name in slots or name in body.globals_declared:
                continue
            if name in globals_ and globals_[name] is value:
                continue  # a global read by the body, not a variable of the loop
            self.extra[name] = value

    # -- the body, from the file's current text ------------------------------------------

    def _refresh(self, first: bool = False) -> None:
        # Reading the file at every item costs one small read; comparing its bytes
        # (rather than its mtime, which is coarse) never misses a quick save.
        try:
            with open(self.path, "rb") as file:
                source = file.read()
        except OSError:
            return  # no file (any more): keep the last body
        if source == self._source:
            return
        self._source = source
        try:
            tree = ast.parse(source, self.path)
        except SyntaxError as error:
            if not first:
                logger.error(f"{self.path}:{error.lineno or 0}: syntax error; the live "
                             f"loop keeps running its last good body", self.path,
                             error.lineno or 0, error)
            return
        except ValueError as error:
            logger.error(f"{self.path}: cannot read the live loop's file: {error}")
            return
        text = source_lines(source)
        loop = self._find(tree)
        if loop is None:
            if not first:
                logger.error(f"{self.path}: the live loop of line {self.call_line} is no "
                             f"longer in the file; it keeps running its last body")
            return
        body_text = _node_text(text, loop.body)
        if self.body is not None and body_text == self.body.text:
            return
        try:
            body = self._compile(loop, body_text)
        except SyntaxError as error:
            logger.error(f"{self.path}:{error.lineno or loop.lineno}: the live loop body "
                         f"cannot run: {error.msg}; it keeps running its last good body",
                         self.path, error.lineno or loop.lineno)
            if first:
                raise
            return
        if first:
            self.first_text = body_text
        elif self.body is not None:
            logger.notice(f"{self.path}:{loop.lineno}: the live loop runs its new body "
                          f"from this iteration on", self.path, loop.lineno)
        self.body = body

    def _find(self, tree: ast.Module) -> Optional[ast.For]:
        if self.place is None:
            self.place = _place_of(tree, self.call_line)
            if self.place is None:
                return None
        return _loop_at(tree, self.place)

    def _compile(self, loop: ast.For, body_text: str) -> _Body:
        # `for target in (item,): body` then `else`, which runs unless the body broke.
        wrapper = ast.For(
            target=loop.target,
            iter=ast.Name(id=_ITEM, ctx=ast.Load()),
            body=loop.body,
            orelse=[ast.Assign(targets=[ast.Name(id=_BROKE, ctx=ast.Store())],
                               value=ast.Constant(value=False))],
            type_comment=None)
        module = ast.Module(body=[ast.copy_location(wrapper, loop)], type_ignores=[])
        ast.fix_missing_locations(module)
        code = compile(module, self.path, "exec", flags=self.flags, dont_inherit=True)
        declared = {name for node in loop.body for child in ast.walk(node)
                    if isinstance(child, ast.Global) for name in child.names}
        return _Body(code, body_text, declared, loop.lineno)


def _place_of(tree: ast.Module, line: int) -> Optional[_Place]:
    """The place of the live loop whose iterable is on `line`."""
    for scopes, loops in _live_loops(tree):
        for rank, loop in enumerate(loops):
            if loop.iter.lineno <= line <= (loop.iter.end_lineno or loop.iter.lineno):
                return _Place(scopes, rank)
    return None


def _loop_at(tree: ast.Module, place: _Place) -> Optional[ast.For]:
    for scopes, loops in _live_loops(tree):
        if scopes == place.scopes and place.rank < len(loops):
            return loops[place.rank]
    return None


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _live_loops(tree: ast.Module) -> Iterator[Tuple[Tuple[str, ...], List[ast.For]]]:
    """For each scope (module, def, class), the `for` loops over `live(...)` calls
    directly inside it, in source order."""
    pending = [((), tree)]
    while pending:
        scopes, scope = pending.pop()
        loops = []
        stack = list(reversed(list(ast.iter_child_nodes(scope))))
        while stack:
            node = stack.pop()
            if isinstance(node, _SCOPES):
                pending.append((scopes + (node.name,), node))
                continue
            if isinstance(node, ast.For) and _is_live_call(node.iter):
                loops.append(node)
            stack.extend(reversed(list(ast.iter_child_nodes(node))))
        yield scopes, loops


def _is_live_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    function = node.func
    name = function.attr if isinstance(function, ast.Attribute) else (
        function.id if isinstance(function, ast.Name) else None)
    return name == "live"


def _node_text(lines: List[str], body: List[ast.stmt]) -> str:
    start = body[0].lineno
    end = max(getattr(node, "end_lineno", None) or node.lineno for node in body)
    return "\n".join(lines[start - 1:end])


def _error_line(error: BaseException, path: str, default: int) -> int:
    line = default
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _future_flags() -> int:
    import __future__

    flags = 0
    for name in __future__.all_feature_names:
        flags |= getattr(__future__, name).compiler_flag
    return flags


_FUTURE_FLAGS = _future_flags()


def _set_frame_locals(frame: types.FrameType, values: Dict[str, Any],
                      deleted: List[str]) -> None:
    """Store `values` in the fast locals of a function frame (and clear `deleted`)."""
    if sys.version_info >= (3, 13):
        proxy = frame.f_locals  # PEP 667: writes go straight to the frame
        for name, value in values.items():
            proxy[name] = value
        return
    snapshot = frame.f_locals
    snapshot.update(values)
    for name in deleted:
        snapshot.pop(name, None)
    ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(1))
