# Live objects a patch reads and writes: module namespaces and classes (binding
# names in either), the functions a value holds through its decorators, closures
# for new code, and the index of every live function by the code it runs.

from __future__ import annotations

import functools
import sys
import types
import weakref
from collections.abc import MutableMapping
from typing import Dict, Iterator, List, Optional, Set, Tuple

from . import cpython
from .function_index import FunctionIndex


# Every live function we patched or found, by the code object it runs.
function_index = FunctionIndex()


def _code_doc(code: types.CodeType):
    # CPython 3.9-3.13 store a function's docstring (or None) as its first constant.
    first = code.co_consts[0] if code.co_consts else None
    return first if isinstance(first, str) else None


class Scope(MutableMapping):
    """Locals for running code in a class body (or a module) without touching it: reads
    see the live namespace, writes are collected for the caller to apply or inspect."""

    _BOOKKEEPING = {"__module__", "__qualname__", "__firstlineno__",
                    "__static_attributes__", "__classdictcell__", "__type_params__"}

    def __init__(self, read, extra: Optional[dict] = None):
        self.read = read
        self.extra = extra or {}
        self.writes: Dict[str, object] = {}
        self.deleted: Set[str] = set()
        self.classcell = None

    def __getitem__(self, key):
        if key in self.writes:
            return self.writes[key]
        if key in self.deleted:
            raise KeyError(key)
        if key in self.extra:
            return self.extra[key]
        return self.read[key]

    def __setitem__(self, key, value):
        if key == "__classcell__":
            self.classcell = value
        elif key not in self._BOOKKEEPING:
            self.writes[key] = value
            self.deleted.discard(key)

    def __delitem__(self, key):
        if key not in self.writes and key not in self.read:
            raise KeyError(key)
        self.writes.pop(key, None)
        self.deleted.add(key)

    def __iter__(self):
        return iter(set(self.read) | set(self.writes))

    def __len__(self):
        return len(set(self.read) | set(self.writes))


def _functions_in(value, seen: Set[int], depth: int = 0) -> Iterator[types.FunctionType]:
    """The functions a namespace value holds: itself, or what a decorator, descriptor
    or partial wraps (followed a few levels down, through closures too)."""
    if depth > 5 or id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, types.FunctionType):
        yield value
        inner = value.__dict__.get("__wrapped__")
        if inner is not None:
            yield from _functions_in(inner, seen, depth + 1)
        registry = value.__dict__.get("registry")  # functools.singledispatch
        if registry is not None and callable(value.__dict__.get("dispatch")):
            for implementation in list(registry.values()):
                yield from _functions_in(implementation, seen, depth + 1)
        for cell in value.__closure__ or ():
            try:
                contents = cell.cell_contents
            except ValueError:
                continue
            if callable(contents) and not isinstance(contents, type):
                yield from _functions_in(contents, seen, depth + 1)
    elif isinstance(value, (staticmethod, classmethod, types.MethodType)):
        yield from _functions_in(value.__func__, seen, depth + 1)
    elif isinstance(value, property):
        for accessor in (value.fget, value.fset, value.fdel):
            if accessor is not None:
                yield from _functions_in(accessor, seen, depth + 1)
    elif isinstance(value, (functools.partial, functools.partialmethod,
                            functools.cached_property)):
        yield from _functions_in(value.func, seen, depth + 1)
    elif isinstance(value, functools.singledispatchmethod):
        yield from _functions_in(value.func, seen, depth + 1)
        yield from _functions_in(value.dispatcher, seen, depth + 1)
    elif not isinstance(value, (type, types.ModuleType)):
        try:
            attributes = object.__getattribute__(value, "__dict__")
        except Exception:
            return
        if not isinstance(attributes, dict):
            return
        inner = attributes.get("__wrapped__")
        if inner is not None:
            yield from _functions_in(inner, seen, depth + 1)
        # A descriptor or callable object of the program's own that keeps the
        # function it decorates in an attribute.
        for attribute in list(attributes.values()):
            if isinstance(attribute, types.FunctionType):
                yield from _functions_in(attribute, seen, depth + 1)


def _layers(value, depth: int = 0) -> Iterator[object]:
    """`value` and the objects it wraps (decorator wrappers, method descriptors,
    partials), outermost first."""
    if depth > 5 or value is None:
        return
    yield value
    if isinstance(value, (staticmethod, classmethod, types.MethodType)):
        yield from _layers(value.__func__, depth + 1)
    elif isinstance(value, (functools.partial, functools.cached_property)):
        yield from _layers(value.func, depth + 1)
    elif isinstance(value, property):
        yield from _layers(value.fget, depth + 1)
    else:
        attributes = getattr(value, "__dict__", None)
        if isinstance(attributes, dict):
            yield from _layers(attributes.get("__wrapped__"), depth + 1)


def _nested_codes(code: types.CodeType, prefix=()) -> Dict[tuple, types.CodeType]:
    """Code objects nested in `code`, keyed by their path of (name, rank) pairs."""
    found = {}
    ranks: Dict[str, int] = {}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            rank = ranks.get(const.co_name, 0)
            ranks[const.co_name] = rank + 1
            key = prefix + ((const.co_name, rank),)
            found[key] = const
            found.update(_nested_codes(const, key))
    return found


# Cells a closure stopped using, kept so that an edit that uses the variable again
# finds its value (the enclosing frame is usually gone by then).
_spare_cells: "weakref.WeakKeyDictionary[types.FunctionType, dict]" = weakref.WeakKeyDictionary()


def closure_for(function: types.FunctionType, code: types.CodeType,
                cls: Optional[type]) -> Tuple[Optional[tuple], List[str]]:
    """A closure for `function` running `code`: its cells matched by variable name
    (CPython only checks their number). Returns the cells and the names that had none."""
    old = dict(_spare_cells.get(function, {}))
    old.update(zip(function.__code__.co_freevars, function.__closure__ or ()))
    dropped = {name: cell for name, cell in old.items() if name not in code.co_freevars}
    if dropped or function in _spare_cells:
        _spare_cells[function] = dropped
    if not code.co_freevars:
        return None, []
    cells, missing = [], []
    for name in code.co_freevars:
        if name in old:
            cells.append(old[name])
        elif name == "__class__" and cls is not None:
            cells.append(types.CellType(cls))
        elif cpython.type_param(name, function, cls) is not None:
            cells.append(types.CellType(cpython.type_param(name, function, cls)))
        else:
            cells.append(types.CellType())
            missing.append(name)
    return tuple(cells), missing


def _trampoline(target):
    """A function that calls `target` with its own arguments (its code and closure
    become those of a function whose callers must reach `target` instead)."""
    def forward(*args, **kwargs):
        return target(*args, **kwargs)
    return forward


_KIND_FLAGS = 0x20 | 0x80 | 0x200  # CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR


def _kind_flags(code: types.CodeType) -> int:
    """Whether code makes a plain function, a generator, a coroutine or an async
    generator (the flags CPython refuses to change under a live function)."""
    return code.co_flags & _KIND_FLAGS


def _conform_method(obj):
    """The `__conform__` hook of an object, if it has one (a function may carry one as
    an attribute)."""
    if isinstance(obj, types.FunctionType):
        return obj.__dict__.get("__conform__")
    if getattr(type(obj), "__conform__", None) is not None:
        return obj.__conform__
    return None


def _module_names_bound_to(value) -> List[Tuple[dict, str]]:
    """(namespace, name) of every module-level name, of any module, bound to `value`
    (only in namespaces whose keys are all str, as `_core.commit` requires)."""
    found = []
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(module, types.ModuleType) or type(namespace) is not dict:
            continue
        try:
            names = [name for name, held in list(namespace.items()) if held is value]
        except RuntimeError:  # changed by another thread meanwhile
            continue
        if names and all(type(key) is str for key in list(namespace)):
            found += [(namespace, name) for name in names]
    return found


def _rebind_module_names(old_value, new_value) -> int:
    """Every module-level name (of any module) bound to `old_value` is bound to
    `new_value` instead. Returns how many were."""
    found = _module_names_bound_to(old_value)
    for namespace, name in found:
        namespace[name] = new_value
    return len(found)


def _bind(scope_object, name: str, value) -> None:
    """Set `name` in a module namespace or on a class (through setattr, so the class's
    attribute caches and slots follow)."""
    if isinstance(scope_object, dict):
        scope_object[name] = value
    else:
        setattr(scope_object, name, value)


def _unbind(scope_object, name: str) -> None:
    """Remove `name` from a module namespace or a class, if it is there."""
    if isinstance(scope_object, dict):
        scope_object.pop(name, None)
    elif name in scope_object.__dict__:
        delattr(scope_object, name)


def _held(scope_object, name: str):
    """What a module namespace or a class holds under `name` (no descriptor binding)."""
    if isinstance(scope_object, dict):
        return scope_object.get(name)
    return scope_object.__dict__.get(name)


def _function_update(function, code, *, closure=..., defaults=..., kwdefaults=...,
                     annotations=..., doc=...) -> tuple:
    """One update for `_core.commit`, by field name; Ellipsis keeps a field, None
    clears it. (A tuple: the bound FunctionUpdate refuses None fields.)"""
    return (function, code, closure, defaults, kwdefaults, annotations, doc)


def _bindable(scope_object, name: str) -> bool:
    """Whether `_core.commit` can bind `name` in `scope_object` running no Python code
    (a module dict, or a plain heap class whose metaclass sets attributes as `type`
    does); anything else is bound live, after the commit."""
    if isinstance(scope_object, dict):
        return type(scope_object) is dict
    if not isinstance(scope_object, type):
        return False
    meta = type(scope_object)
    if meta.__setattr__ is not type.__setattr__ or meta.__delattr__ is not type.__delattr__:
        return False
    flags = scope_object.__flags__
    if not flags & (1 << 9) or flags & (1 << 8):  # Py_TPFLAGS_HEAPTYPE, IMMUTABLETYPE
        return False
    for base in meta.__mro__:
        if name in base.__dict__:
            return not hasattr(type(base.__dict__[name]), "__set__")
    return True


class DefinitionsView(types.ModuleType):
    """A read-only stand-in for a live module, made from a file's compiled definitions
    without running any of the file: every function and class it defines (each
    branch's, as if it ran), with no decorator applied, no default evaluated, no
    statement run, classes made by `type` whatever their metaclass. The planner reads
    it as it reads a live module; it evaluates nothing in it (`runs_code` is False),
    so planning over it runs none of the user's code."""

    runs_code = False

    def __init__(self, name: str, source: bytes, path: str):
        import ast

        super().__init__(name)
        self.__file__ = path
        flags = compile(source, path, "exec", dont_inherit=True).co_flags
        features = _future_names(flags)
        for feature_name in features:
            self.__dict__[feature_name] = getattr(__import__("__future__"), feature_name)
        compiler_flags = sum(getattr(__import__("__future__"), f).compiler_flag
                             for f in features)
        # Each definition compiled alone: the whole file's code may lack those after
        # a `raise` (dead code), and compiling runs nothing.
        for definition in _module_definitions(ast.parse(source, path).body):
            code = compile(ast.Module(body=[definition], type_ignores=[]), path, "exec",
                           flags=compiler_flags, dont_inherit=True)
            for member_name, value in _definitions(code, self.__dict__, name, ""):
                self.__dict__[member_name] = value


def _module_definitions(body) -> Iterator[object]:
    """The function and class statements of a module body, through its blocks."""
    import ast

    for statement in body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield statement
            continue
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(statement, field, None)
            if isinstance(inner, list):
                yield from _module_definitions(
                    [x for item in inner for x in (getattr(item, "body", None) or [item])]
                    if field in ("handlers", "cases") else inner)


def runs_code(namespace_owner) -> bool:
    """Whether code may be evaluated in a module's namespace while planning (not in a
    `DefinitionsView`)."""
    return getattr(namespace_owner, "runs_code", True) is not False


def _future_names(flags: int) -> List[str]:
    import __future__

    return [name for name in __future__.all_feature_names
            if flags & getattr(__future__, name).compiler_flag]


_CO_OPTIMIZED = 0x1


def _definitions(code: types.CodeType, globals_: dict, module: str, prefix: str
                 ) -> Iterator[Tuple[str, object]]:
    """(name, object) for each function and class `code` defines right in its body."""
    for const in code.co_consts:
        if not isinstance(const, types.CodeType) or const.co_name.startswith("<"):
            if isinstance(const, types.CodeType) and const.co_name.startswith(
                    "<generic parameters of"):
                yield from _definitions(const, globals_, module, prefix)  # PEP 695
            continue
        qualname = prefix + const.co_name
        if const.co_flags & _CO_OPTIMIZED:
            cells = tuple(types.CellType() for _ in const.co_freevars)
            function = types.FunctionType(const, globals_, const.co_name, None, cells or None)
            function.__qualname__ = qualname
            yield const.co_name, function
        else:  # a class body
            members = dict(_definitions(const, globals_, module, qualname + "."))
            members.update(__module__=module, __qualname__=qualname)
            cls = type(const.co_name, (), members)
            for member in members.values():  # `super()` and `__class__` find the class
                for name, cell in zip(getattr(getattr(member, "__code__", None),
                                              "co_freevars", ()),
                                      getattr(member, "__closure__", None) or ()):
                    if name == "__class__":
                        cell.cell_contents = cls
            yield const.co_name, cls
