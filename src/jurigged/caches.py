"""Which `functools.lru_cache`/`cache` results a save makes stale: a cached function's
results are forgotten when its code, or a function or module-level value it uses
(directly, or through the functions it calls), changed, as a fresh run starts with
empty caches. Caches of unrelated functions keep their results."""

from __future__ import annotations

import functools
import types
import weakref
from typing import Collection, Dict, Iterable, Iterator, List, Optional, Set

_CACHE_TYPE = type(functools.lru_cache(maxsize=None)(lambda: None))
_DEPTH = 6  # how far wrappers and calls are followed


class CacheIndex:
    """The cache wrappers found in the namespaces of watched modules, by module and by
    the top-level name they are reached from. A module is scanned whole once; after a
    save of its file only the names the save bound are scanned again (the names it
    redefined, re-ran or deleted, with the classes around them: the `changed` of
    clear_stale), so a save costs what it changed, not the size of its module, and no
    look at the files it does not touch."""

    def __init__(self):
        self.by_module: Dict[str, Dict[str, List[object]]] = {}
        self.scanned: Set[int] = set()                # id(namespace) of scanned modules
        self.scanned_files: Set[int] = set()          # id(file) of those files

    def rescan(self, namespace: dict, names: Optional[Iterable[str]] = None) -> None:
        """Scan `names` of `namespace` again, or all of it (None, or never scanned)."""
        module = namespace.get("__name__", "")
        found = self.by_module.setdefault(module, {})
        if names is None or id(namespace) not in self.scanned:
            found.clear()
            names = list(namespace)
        for name in names:
            caches = list(_caches_under(namespace, name))
            if caches:
                found[name] = caches
            else:
                found.pop(name, None)
        if not found:
            del self.by_module[module]
        self.scanned.add(id(namespace))

    def update(self, saved: Iterable[dict], watched: Collection,
               changed: Optional[Set[str]] = None) -> None:
        """`watched`: the watched files (objects with a `namespace`, None when the
        module is not imported)."""
        for namespace in saved:
            self.rescan(namespace, changed)
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
        seen: Set[int] = set()
        for found in self.by_module.values():
            for caches in found.values():
                for cache in caches:
                    if id(cache) not in seen:  # reached from two names
                        seen.add(id(cache))
                        yield cache


index = CacheIndex()


def clear_stale(saved: Iterable[dict], watched: Collection, changed: Set[str]) -> int:
    """Forget the results of every known cache whose function uses a name in `changed`
    (names a save redefined, re-ran or deleted). Returns how many were cleared."""
    if not changed:
        return 0
    index.update(saved, watched, changed)
    if not index.by_module:
        return 0
    cleared = 0
    ours = index.scanned
    for cache in list(index.caches()):
        if _uses_any(cache, changed, ours):
            cache.cache_clear()
            cleared += 1
    return cleared


def _caches_under(namespace: dict, name: str) -> Iterator[object]:
    """The caches reached from `namespace[name]` (a class of the module: from its
    members)."""
    value = namespace.get(name)
    seen: Set[int] = set()
    if isinstance(value, type):
        if getattr(value, "__module__", None) == namespace.get("__name__"):
            for member in list(value.__dict__.values()):
                yield from _caches_in(member, seen)
    elif value is not None and not isinstance(value, types.ModuleType):
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
