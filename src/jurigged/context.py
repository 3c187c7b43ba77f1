# A save's context: the file's old and new trees and text, and the live module. For a
# node of either tree: the scopes around it, its code compiled where it stands in the
# file (classes and blocks around it stood in for), and the live scope and functions
# it corresponds to. Planning, the commit and the live steps all read through it.

from __future__ import annotations

import __future__
import sys
import types
from typing import TYPE_CHECKING, Iterator, List, Optional, Set, Tuple

from . import cpython
from .locate import HeapSearch
from .logs import logger
from .liveobjects import _bind, function_index, _functions_in, _held, Scope, _unbind
from .records import FUNCTION_KINDS, _KEEP, PatchError, Signature

if TYPE_CHECKING:
    from .parsing import SourceLines
    from .patcher import SourceFile


def future_flags(namespace: dict) -> int:
    """The compiler flags of the `from __future__` imports a module made."""
    flags = 0
    for name in __future__.all_feature_names:
        feature = getattr(__future__, name)
        if namespace.get(name) is feature:
            flags |= feature.compiler_flag
    return flags


# A node this many lines (or fewer) below the top of the file is compiled with blank
# lines above it; a deeper one from a compact text (see SaveContext._context_source).
_PADDING_LIMIT = 1000


class ContextSource:
    """The text compiled for a node in its context. `real_lines[i]` is the line in the
    file of the text's line i + 1; None when the text's lines are the file's."""

    __slots__ = ("text", "real_lines")

    def __init__(self, text: str, real_lines: Optional[List[int]]):
        self.text = text
        self.real_lines = real_lines


def _slice_bytes(text: str, start: int, end: Optional[int]) -> str:
    """Slice a line by the UTF-8 byte columns the source model reports."""
    data = text.encode("utf-8")
    return data[start:end].decode("utf-8", errors="replace")


def compile_placed(context: ContextSource, path: str, flags: int) -> types.CodeType:
    """Compile a compact text as if in place: parse it, put every node on its line in
    the file, compile the tree (the compiler takes line numbers from the tree, so code
    objects, tracebacks, a class's __firstlineno__ and PEP 695 scopes come out as if
    compiled in place). Parse errors are moved to the file's lines too."""
    import ast

    real = context.real_lines
    try:
        tree = compile(context.text, path, "exec", flags | ast.PyCF_ONLY_AST,
                       dont_inherit=True)
    except SyntaxError as exc:
        _move_error(exc, real)
        raise
    for item in ast.walk(tree):
        number = getattr(item, "lineno", None)
        if number:
            item.lineno = real[number - 1]
            end = getattr(item, "end_lineno", None)
            if end:
                item.end_lineno = real[min(end, len(real)) - 1]
    return compile(tree, path, "exec", flags, dont_inherit=True)


def compile_moved(context: ContextSource, path: str, flags: int) -> types.CodeType:
    """Compile a compact text whose last lines are a function on consecutive lines of
    the file, then move every code object down to the function's lines: a code
    object's lines are relative to its co_firstlineno on every version (3.9's lnotab,
    3.10's linetable, 3.11+'s location table), so this is what `compile_placed`
    gives for the function and what it holds, ~0.1 ms sooner (no Python AST). The
    stand-ins above it move too: only the function's code is used. Not for code
    that defines a class (3.13 compiles its first line into it as a constant)."""
    real = context.real_lines
    try:
        code = compile(context.text, path, "exec", flags, dont_inherit=True)
    except SyntaxError as exc:
        _move_error(exc, real)
        raise
    return _moved(code, real[-1] - len(real))


def _moved(code: types.CodeType, lines: int) -> types.CodeType:
    consts = tuple(_moved(const, lines) if isinstance(const, types.CodeType) else const
                   for const in code.co_consts)
    return code.replace(co_firstlineno=code.co_firstlineno + lines, co_consts=consts)


def _move_error(exc: SyntaxError, real: List[int]) -> None:
    for attribute in ("lineno", "end_lineno"):
        number = getattr(exc, attribute, None)
        if number and 1 <= number <= len(real):
            setattr(exc, attribute, real[number - 1])


class SaveContext:
    """One save of one file: its two trees, the new text and the live module, with the
    lookups and the compile every phase uses. It changes nothing live itself (only
    `run_in_scope` runs code, for the phase that asks)."""

    def __init__(self, file: "SourceFile", new_tree, new_lines: "SourceLines"):
        self.file = file
        self.new_tree = new_tree
        self.old, self.new = file.nodes, new_tree.nodes  # node lists of the two trees
        self.new_lines = new_lines
        self.namespace = file.namespace
        self.flags = future_flags(self.namespace)
        self.heap = HeapSearch(self.namespace, file._same_file)
        self.found_in_heap: List[types.FunctionType] = []  # placed by the heap search
        self._running_lines: Optional[Set[int]] = None

    # -- tree helpers -----------------------------------------------------------------

    @staticmethod
    def ancestors(nodes, node) -> list:
        chain = []
        while node.parent > 0:
            node = nodes[node.parent]
            chain.append(node)
        return chain[::-1]

    def in_function(self, tree, node) -> bool:
        return any(a.kind in FUNCTION_KINDS for a in self.ancestors(tree, node))

    def qualname(self, node) -> str:
        return f"{self.file.module_name}.{node.qualname}"

    def live_scope(self, tree, node):
        """The object whose namespace holds `node`: the module dict or a live class."""
        scope = self.namespace
        for ancestor in self.ancestors(tree, node):
            if ancestor.kind != "class":
                continue
            value = _held(scope, ancestor.name)
            if not isinstance(value, type):
                raise LookupError(f"{ancestor.qualname} is not a class in the live module")
            scope = value
        return scope

    def module_level(self, tree, node) -> bool:
        return all(a.kind == "block" for a in self.ancestors(tree, node))

    # -- compiling in context -----------------------------------------------------------

    def _context_source(self, node, keep_decorators: bool = True) -> "ContextSource":
        """The new file's text reduced to `node` inside stand-ins for its enclosing
        classes and blocks, so the compiled code matches the original compile in names,
        cells and line numbers. Near the top of the file every line is on its real
        line (blank lines between); deeper, the text is compact (the stand-ins, then
        the node) and `real_lines` says where each of its lines is in the file:
        compiling the blank lines would cost ~26 ns each, 1.3 ms at line 50,000."""
        lines = self.new_lines
        headers: List[Tuple[int, str]] = []
        for ancestor in self.ancestors(self.new, node):
            header_line = ancestor.def_line if ancestor.kind == "class" else ancestor.line
            if header_line >= node.line:  # `class A: x = 1`: the node's line wins
                continue
            text = lines[header_line - 1]
            indent = text[: len(text) - len(text.lstrip())]
            headers.append((header_line, indent + self._with_type_params(ancestor)))
        body = lines[node.line - 1:node.end_line]
        first, last = body[0], body[-1]
        indent = first[: len(first) - len(first.lstrip())]
        if node.end_line == node.line:
            body[0] = indent + _slice_bytes(first, node.col, node.end_col)
        else:
            body[0] = indent + _slice_bytes(first, node.col, None)
            body[-1] = _slice_bytes(last, 0, node.end_col)
        if not keep_decorators and node.def_line > node.line:
            body[0] = indent + "@" + _KEEP
            for offset in range(1, node.def_line - node.line):
                body[offset] = ""
        if node.line - len(headers) <= _PADDING_LIMIT:
            out = [""] * (node.line - 1)
            for header_line, stand_in in headers:
                out[header_line - 1] = stand_in
            return ContextSource("\n".join(out + body) + "\n", None)
        real_lines = ([line for line, _ in headers]
                      + list(range(node.line, node.end_line + 1)))
        text = "\n".join([stand_in for _, stand_in in headers] + body) + "\n"
        return ContextSource(text, real_lines)

    def compile(self, node, keep_decorators: bool = True) -> types.CodeType:
        context = self._context_source(node, keep_decorators)
        path, flags = self.file.path, self.flags
        try:
            if context.real_lines is None:
                return compile(context.text, path, "exec", flags, dont_inherit=True)
            if node.kind in FUNCTION_KINDS and not self._defines_a_class(node):
                return compile_moved(context, path, flags)
            return compile_placed(context, path, flags)
        except (SyntaxError, ValueError) as exc:
            raise PatchError(f"cannot compile {node.qualname or 'statement'}: {exc}",
                             getattr(exc, "lineno", None) or node.line, exc)

    def _defines_a_class(self, node) -> bool:
        return any(self.new[child].kind == "class" or self._defines_a_class(self.new[child])
                   for child in node.children)

    def _with_type_params(self, ancestor) -> str:
        """The stand-in for an enclosing class or block: `class Name:` with the PEP 695
        type parameters of the class header put back (`class Name[T]:`), so that `T`
        means what it means in the file; `if 1:` for a block."""
        if ancestor.kind != "class":
            return "if 1:"
        params = cpython.type_params_text(self.new_lines[ancestor.def_line - 1],
                                          ancestor.name)
        return f"class {ancestor.name}{params}:"

    def scope_code(self, module_code: types.CodeType, node) -> types.CodeType:
        """The code object that runs `node`'s enclosing scope in a context compile."""
        code = module_code
        for ancestor in self.ancestors(self.new, node):
            if ancestor.kind == "class":
                code = self._child_code(code, ancestor)
        return code

    def function_code(self, module_code: types.CodeType, node) -> types.CodeType:
        return self._child_code(self.scope_code(module_code, node), node)

    def _child_code(self, code: types.CodeType, node) -> types.CodeType:
        """The code of the definition `node` among the constants of `code`, looking
        inside the scope CPython 3.12+ makes for its type parameters."""
        found = cpython.definition_code(code, node.name)
        if found is None:
            raise PatchError(f"cannot find the compiled code of {node.qualname}", node.line)
        return found

    def run_in_scope(self, code: types.CodeType, scope_object, capture: bool,
                      extra: Optional[dict] = None) -> Scope:
        """Run a context compile's scope code in the live scope. With `capture`, writes
        are only collected; otherwise they are applied to the module or class."""
        if isinstance(scope_object, dict):
            reads = {} if capture else scope_object
            scope = Scope(reads, extra)
            if capture or extra:
                exec(code, scope_object, scope)
            else:
                exec(code, scope_object)
                return scope
        else:
            scope = Scope(scope_object.__dict__, extra)
            exec(code, self.namespace, scope, **cpython.exec_closure(code, scope_object))
            if scope.classcell is not None:
                scope.classcell.cell_contents = scope_object
        if not capture:
            self._apply_writes(scope_object, scope)
        return scope

    @staticmethod
    def _apply_writes(scope_object, scope: Scope) -> None:
        for name, value in scope.writes.items():
            _bind(scope_object, name, value)
            set_name = getattr(type(value), "__set_name__", None)
            if set_name is not None and not isinstance(scope_object, dict):
                set_name(value, scope_object, name)
        for name in scope.deleted:
            _unbind(scope_object, name)

    def evaluate_signature(self, new, module_code) -> Signature:
        """Defaults, keyword defaults and annotations of the new definition, evaluated
        where Python evaluates them: in the enclosing (class) scope, at definition."""
        scope_object = self.live_scope(self.new, new)
        scope_code = self.scope_code(module_code, new)
        scope = self.run_in_scope(scope_code, scope_object, capture=True,
                                   extra={_KEEP: lambda f: f})
        made = scope.writes[new.name]
        return Signature(made.__defaults__, made.__kwdefaults__, dict(made.__annotations__))

    # -- finding live functions ----------------------------------------------------------

    def live_functions(self, node) -> Tuple[Optional[types.CodeType], list]:
        """The code `node` (of the old tree) runs now, and the functions running it."""
        code = self.file.codes.get((node.qualname, node.line))
        if code is not None:
            functions = function_index.functions(code)
            if functions:
                return code, functions
        try:
            scope = self.live_scope(self.old, node)
        except LookupError:
            return None, []
        found = self.functions_defined_by(node, _held(scope, node.name))
        if not found:
            # Not under its own name (e.g. one of several `_` registered with a
            # singledispatch function): look through the whole scope once.
            values = scope.values() if isinstance(scope, dict) else scope.__dict__.values()
            seen: Set[int] = set()
            found = [f for value in list(values)
                     for f in self.functions_defined_by(node, value, seen)]
        if not found:
            found = self.heap.functions(node.name, node.line)
            self.found_in_heap.extend(found)
        if not found:
            return None, []
        code = found[0].__code__
        for function in found:
            if function.__code__ is code:
                function_index.add(code, function)
        return code, [f for f in found if f.__code__ is code]

    def functions_defined_by(self, node, value, seen: Optional[Set[int]] = None
                              ) -> List[types.FunctionType]:
        """The functions `value` holds that the definition `node` made."""
        return [f for f in _functions_in(value, set() if seen is None else seen)
                if f.__code__.co_name == node.name and f.__code__.co_firstlineno == node.line
                and self.file._same_file(f.__code__.co_filename)]

    @staticmethod
    def ancestor_indices(nodes, node) -> List[int]:
        indices = []
        while node.parent > 0:
            indices.append(node.parent)
            node = nodes[node.parent]
        return indices

    def held_old(self, old):
        try:
            return _held(self.live_scope(self.old, old), old.name)
        except LookupError:
            return None

    def scope_members(self, index) -> Iterator[int]:
        for child in self.new[index].children:
            yield child
            if self.new[child].kind == "block":
                yield from self.scope_members(child)

    def log_run(self, new) -> None:
        """Say that the statement `new` of the new text ran."""
        text = "\n".join(self.new_lines[new.line - 1: new.end_line])
        logger.run(self.file.module_name, self.file.path, new.line, text)

    def running_lines(self) -> Set[int]:
        """Lines at which this file's module-level code is running in some thread
        (a loop at the top level of a script, an import in progress). Looked at once
        a save: every frame of every thread is walked, and each statement asks."""
        if self._running_lines is None:
            lines = set()
            for frame in sys._current_frames().values():
                while frame is not None:
                    code = frame.f_code
                    if code.co_name == "<module>" and self.file._same_file(code.co_filename):
                        lines.add(frame.f_lineno)
                    frame = frame.f_back
            self._running_lines = lines
        return self._running_lines
