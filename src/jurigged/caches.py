"""Which `functools.lru_cache`/`cache` results a save makes stale: a cached function's
results are forgotten when its code, or a function or module-level value it uses
(directly, or through the functions it calls), changed, as a fresh run starts with
empty caches. Caches of unrelated functions keep their results."""

from __future__ import annotations

import functools
import types
import weakref
from typing import Dict, Iterable, Iterator, List, Collection, Set

_CACHE_TYPE = type(functools.lru_cache(maxsize=None)(lambda: None))
_DEPTH = 6  # how far wrappers and calls are followed


class CacheIndex:
    """The cache wrappers found in the namespaces of watched modules. A module is
    scanned once, and again after each save of its file (its namespace changed);
    other modules keep their namespaces (their code did not change). A save costs
    no look at the files it does not touch, once all were scanned."""

    def __init__(self):
        self.by_module: Dict[str, List[object]] = {}  # module name -> wrappers found
        self.scanned: Set[int] = set()                # id(namespace) of scanned modules
        self.scanned_files: Set[int] = set()          # id(file) of those files

    def rescan(self, namespace: dict) -> None:
        name = namespace.get("__name__", "")
        found = list(_caches_in_namespace(namespace))
        if found:
            self.by_module[name] = found
        else:
            self.by_module.pop(name, None)
        self.scanned.add(id(namespace))

    def update(self, saved: Iterable[dict], watched: Collection) -> None:
        """`watched`: the watched files (objects with a `namespace`, None when the
        module is not imported)."""
        for namespace in saved:
            self.rescan(namespace)
        if len(self.scanned_files) < len(watched):  # files imported since the last scan
            for file in watched:
                if id(file) in self.scanned_files:
                    continue
                namespace = file.namespace
                if namespace is None:
                    continue
                if id(namespace) not in self.scanned:
                    self.rescan(namespace)
                self.scanned_files.add(id(file))

    def caches(self) -> Iterator[object]:
        for found in self.by_module.values():
            yield from found


index = CacheIndex()


def clear_stale(saved: Iterable[dict], watched: Collection, changed: Set[str]) -> int:
    """Forget the results of every known cache whose function uses a name in `changed`
    (names a save redefined, re-ran or deleted). Returns how many were cleared."""
    if not changed:
        return 0
    index.update(saved, watched)
    if not index.by_module:
        return 0
    cleared = 0
    ours = index.scanned
    for cache in list(index.caches()):
        if _uses_any(cache, changed, ours):
            cache.cache_clear()
            cleared += 1
    return cleared


def _caches_in_namespace(namespace: dict) -> Iterator[object]:
    module = namespace.get("__name__")
    seen: Set[int] = set()
    for value in list(namespace.values()):
        if isinstance(value, type):
            if getattr(value, "__module__", None) == module:
                for member in list(value.__dict__.values()):
                    yield from _caches_in(member, seen)
        elif not isinstance(value, types.ModuleType):
            yield from _caches_in(value, seen)


def _caches_in(value, seen: Set[int]) -> Iterator[object]:
    for part in _parts(value, seen):
        if isinstance(part, _CACHE_TYPE):
            yield part


def _parts(value, seen: Set[int], depth: int = 0) -> Iterator[object]:
    """`value` and what it wraps: `__wrapped__`, a method's or property's function,
    a partial's, and callables held in a function's closure (a decorator without
    functools.wraps keeps the function it decorates only there)."""
    if depth > _DEPTH or value is None or id(value) in seen:
        return
    if isinstance(value, (int, str, float, bytes, tuple, list, dict, set, type,
                          types.ModuleType)):
        return
    seen.add(id(value))
    yield value
    if isinstance(value, (staticmethod, classmethod, types.MethodType)):
        yield from _parts(value.__func__, seen, depth + 1)
        return
    if isinstance(value, property):
        for accessor in (value.fget, value.fset, value.fdel):
            yield from _parts(accessor, seen, depth + 1)
        return
    if isinstance(value, (functools.partial, functools.cached_property)):
        yield from _parts(value.func, seen, depth + 1)
        return
    wrapped = getattr(value, "__dict__", {}).get("__wrapped__") if hasattr(
        value, "__dict__") else None
    if wrapped is not None:
        yield from _parts(wrapped, seen, depth + 1)
    if isinstance(value, types.FunctionType):
        for cell in value.__closure__ or ():
            try:
                contents = cell.cell_contents
            except ValueError:
                continue
            if callable(contents):
                yield from _parts(contents, seen, depth + 1)


# The global names a code object (and the code nested in it) reads.
_names_of: "weakref.WeakKeyDictionary[types.CodeType, frozenset]" = weakref.WeakKeyDictionary()


def _code_names(code: types.CodeType) -> frozenset:
    names = _names_of.get(code)
    if names is None:
        found = set(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                found |= _code_names(const)
        names = _names_of[code] = frozenset(found)
    return names


def _uses_any(cache, changed: Set[str], ours: Set[int]) -> bool:
    """Whether the cached function reads a name in `changed`, itself or through the
    functions it reads (resolved in their modules, and in modules they read). Only
    functions of watched modules (`ours`: ids of their namespaces) are followed."""
    seen: Set[int] = set()
    todo = [(cache, 0)]
    while todo:
        value, depth = todo.pop()
        for part in _parts(value, seen):
            if not isinstance(part, types.FunctionType) or id(part.__globals__) not in ours:
                continue
            names = _code_names(part.__code__)
            if part.__code__.co_name in changed or names & changed:
                return True  # its own definition changed, or something it reads
            if depth >= _DEPTH:
                continue
            for target in _resolved(names, part.__globals__, ours):
                todo.append((target, depth + 1))
    return False


def _resolved(names: frozenset, namespace: dict, ours: Set[int]) -> Iterator[object]:
    """The callables `names` name in `namespace`, and in the modules it names
    (`mod.f(x)` reads `mod` and `f`)."""
    modules = []
    for name in names:
        value = namespace.get(name)
        if isinstance(value, types.ModuleType):
            if id(getattr(value, "__dict__", None)) in ours:
                modules.append(value)
        elif value is not None and callable(value) and not isinstance(value, type):
            yield value
    for module in modules:
        attributes = getattr(module, "__dict__", None)
        if not isinstance(attributes, dict):
            continue
        for name in names:
            value = attributes.get(name)
            if value is not None and callable(value) and not isinstance(value, (type, types.ModuleType)):
                yield value
