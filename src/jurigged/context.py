# A node of a save in its context: the scopes around it in the tree, its code compiled
# where it stands in the file (classes and blocks around it stood in for), and the
# live scope and functions it corresponds to.

from __future__ import annotations

import __future__
import sys
import types
from typing import Iterator, List, Optional, Set, Tuple

from . import cpython
from .liveobjects import _bind, function_index, _functions_in, _held, Scope, _unbind
from .records import FUNCTION_KINDS, _KEEP, PatchError


def future_flags(namespace: dict) -> int:
    """The compiler flags of the `from __future__` imports a module made."""
    flags = 0
    for name in __future__.all_feature_names:
        feature = getattr(__future__, name)
        if namespace.get(name) is feature:
            flags |= feature.compiler_flag
    return flags


def _slice_bytes(text: str, start: int, end: Optional[int]) -> str:
    """Slice a line by the UTF-8 byte columns the source model reports."""
    data = text.encode("utf-8")
    return data[start:end].decode("utf-8", errors="replace")


class PatchContext:
    """Part of `Patch`: the tree, compile and live-object lookups every phase uses."""

    # -- tree helpers -----------------------------------------------------------------

    @staticmethod
    def _ancestors(nodes, node) -> list:
        chain = []
        while node.parent > 0:
            node = nodes[node.parent]
            chain.append(node)
        return chain[::-1]

    def _in_function(self, tree, node) -> bool:
        return any(a.kind in FUNCTION_KINDS for a in self._ancestors(tree, node))

    def _qualname(self, node) -> str:
        return f"{self.file.module_name}.{node.qualname}"

    def _live_scope(self, tree, node):
        """The object whose namespace holds `node`: the module dict or a live class."""
        scope = self.namespace
        for ancestor in self._ancestors(tree, node):
            if ancestor.kind != "class":
                continue
            value = _held(scope, ancestor.name)
            if not isinstance(value, type):
                raise LookupError(f"{ancestor.qualname} is not a class in the live module")
            scope = value
        return scope

    def _module_level(self, tree, node) -> bool:
        return all(a.kind == "block" for a in self._ancestors(tree, node))

    # -- compiling in context -----------------------------------------------------------

    def _context_source(self, node, keep_decorators: bool = True) -> str:
        """The new file's text reduced to `node` inside stand-ins for its enclosing
        classes and blocks, each on its real line, so the compiled code matches the
        original compile in names, cells and line numbers."""
        lines = self.new_lines
        out = [""] * node.end_line
        for ancestor in self._ancestors(self.new, node):
            header_line = ancestor.def_line if ancestor.kind == "class" else ancestor.line
            text = lines[header_line - 1]
            indent = text[: len(text) - len(text.lstrip())]
            stand_in = f"class {ancestor.name}:" if ancestor.kind == "class" else "if 1:"
            out[header_line - 1] = indent + stand_in
        for number in range(node.line, node.end_line + 1):
            out[number - 1] = lines[number - 1]
        first, last = lines[node.line - 1], lines[node.end_line - 1]
        indent = first[: len(first) - len(first.lstrip())]
        if node.end_line == node.line:
            out[node.line - 1] = indent + _slice_bytes(first, node.col, node.end_col)
        else:
            out[node.line - 1] = indent + _slice_bytes(first, node.col, None)
            out[node.end_line - 1] = _slice_bytes(last, 0, node.end_col)
        if not keep_decorators and node.def_line > node.line:
            out[node.line - 1] = indent + "@" + _KEEP
            for number in range(node.line + 1, node.def_line):
                out[number - 1] = ""
        return "\n".join(out) + "\n"

    def _compile(self, node, keep_decorators: bool = True) -> types.CodeType:
        source = self._with_type_params(self._context_source(node, keep_decorators), node)
        try:
            return compile(source, self.file.path, "exec", self.flags, dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            raise PatchError(f"cannot compile {node.qualname or 'statement'}: {exc}",
                             getattr(exc, "lineno", None) or node.line, exc)

    def _with_type_params(self, source: str, node) -> str:
        """The context source with the PEP 695 type parameters of the enclosing
        classes put back on their stand-ins, so `T` means what it means in the file."""
        lines = None
        for ancestor in self._ancestors(self.new, node):
            if ancestor.kind != "class":
                continue
            params = cpython.type_params_text(self.new_lines[ancestor.def_line - 1],
                                              ancestor.name)
            if not params:
                continue
            lines = lines or source.split("\n")
            stand_in = f"class {ancestor.name}:"
            lines[ancestor.def_line - 1] = lines[ancestor.def_line - 1].replace(
                stand_in, f"class {ancestor.name}{params}:", 1)
        return source if lines is None else "\n".join(lines)

    def _scope_code(self, module_code: types.CodeType, node) -> types.CodeType:
        """The code object that runs `node`'s enclosing scope in a context compile."""
        code = module_code
        for ancestor in self._ancestors(self.new, node):
            if ancestor.kind == "class":
                code = self._child_code(code, ancestor)
        return code

    def _function_code(self, module_code: types.CodeType, node) -> types.CodeType:
        return self._child_code(self._scope_code(module_code, node), node)

    def _child_code(self, code: types.CodeType, node) -> types.CodeType:
        """The code of the definition `node` among the constants of `code`, looking
        inside the scope CPython 3.12+ makes for its type parameters."""
        found = cpython.definition_code(code, node.name)
        if found is None:
            raise PatchError(f"cannot find the compiled code of {node.qualname}", node.line)
        return found

    def _run_in_scope(self, code: types.CodeType, scope_object, capture: bool,
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

    # -- finding live functions ----------------------------------------------------------

    def _live_functions(self, node) -> Tuple[Optional[types.CodeType], list]:
        """The code `node` (of the old tree) runs now, and the functions running it."""
        code = self.file.codes.get((node.qualname, node.line))
        if code is not None:
            functions = function_index.functions(code)
            if functions:
                return code, functions
        try:
            scope = self._live_scope(self.old, node)
        except LookupError:
            return None, []
        found = self._functions_defined_by(node, _held(scope, node.name))
        if not found:
            # Not under its own name (e.g. one of several `_` registered with a
            # singledispatch function): look through the whole scope once.
            values = scope.values() if isinstance(scope, dict) else scope.__dict__.values()
            seen: Set[int] = set()
            found = [f for value in list(values)
                     for f in self._functions_defined_by(node, value, seen)]
        if not found:
            found = self._heap.functions(node.name, node.line)
            self.found_in_heap.extend(found)
        if not found:
            return None, []
        code = found[0].__code__
        for function in found:
            if function.__code__ is code:
                function_index.add(code, function)
        return code, [f for f in found if f.__code__ is code]

    def _functions_defined_by(self, node, value, seen: Optional[Set[int]] = None
                              ) -> List[types.FunctionType]:
        """The functions `value` holds that the definition `node` made."""
        return [f for f in _functions_in(value, set() if seen is None else seen)
                if f.__code__.co_name == node.name and f.__code__.co_firstlineno == node.line
                and self.file._same_file(f.__code__.co_filename)]

    @staticmethod
    def _ancestor_indices(nodes, node) -> List[int]:
        indices = []
        while node.parent > 0:
            indices.append(node.parent)
            node = nodes[node.parent]
        return indices

    def _held_old(self, old):
        try:
            return _held(self._live_scope(self.old, old), old.name)
        except LookupError:
            return None

    def _scope_members(self, index) -> Iterator[int]:
        for child in self.new[index].children:
            yield child
            if self.new[child].kind == "block":
                yield from self._scope_members(child)

    def _running_lines(self) -> Set[int]:
        """Lines at which this file's module-level code is running in some thread."""
        lines = set()
        for frame in sys._current_frames().values():
            while frame is not None:
                code = frame.f_code
                if code.co_name == "<module>" and self.file._same_file(code.co_filename):
                    lines.add(frame.f_lineno)
                frame = frame.f_back
        return lines
