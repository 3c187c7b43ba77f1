"""Finding the live functions that the module's namespace does not lead to: those a
registry, a framework object (a click command, a task queue's task) or a
`__conform__` holder keeps. This is the fallback after the function index and the
namespace: one heap search per file and save, made only when a changed definition
could not be placed otherwise."""

from __future__ import annotations

import gc
import types
from typing import Callable, Dict, List, Optional, Tuple

DefinitionKey = Tuple[str, int]  # (co_name, co_firstlineno)


class HeapSearch:
    """The functions of one module found through the heap, computed on first use.

    Every function defined by a module's code refers to the module's namespace as
    its globals, so one `gc.get_referrers(namespace)` finds them all, whoever holds
    them now."""

    def __init__(self, namespace: dict, in_this_file: Callable[[str], bool]):
        self._namespace = namespace
        self._in_this_file = in_this_file
        self._by_definition: Optional[Dict[DefinitionKey, List[types.FunctionType]]] = None

    def functions(self, name: str, first_line: int) -> List[types.FunctionType]:
        """The live functions whose code was compiled from this file's definition
        `name` starting at `first_line`, grouped so that all run one code object."""
        if self._by_definition is None:
            self._by_definition = self._search()
        found = self._by_definition.get((name, first_line), [])
        if not found:
            return []
        code = found[0].__code__
        return [function for function in found if function.__code__ is code]

    def _search(self) -> Dict[DefinitionKey, List[types.FunctionType]]:
        table: Dict[DefinitionKey, List[types.FunctionType]] = {}
        for referrer in gc.get_referrers(self._namespace):
            if (type(referrer) is types.FunctionType
                    and self._in_this_file(referrer.__code__.co_filename)):
                code = referrer.__code__
                table.setdefault((code.co_name, code.co_firstlineno), []).append(referrer)
        return table


def conformers_of(functions: List[types.FunctionType]) -> list:
    """Objects holding one of `functions` that manage its code themselves (their type
    defines `__conform__`), found through the heap like jurigged 0.6.1 finds them."""
    if not functions:
        return []
    holders, attribute_dicts = [], []
    for referrer in gc.get_referrers(*functions):
        if _conforms(referrer):
            holders.append(referrer)
        elif type(referrer) is dict:
            attribute_dicts.append(referrer)
    if attribute_dicts:
        # Before 3.11 an instance's attributes live in a dict that is the referrer.
        wanted = {id(d) for d in attribute_dicts}
        for owner in gc.get_referrers(*attribute_dicts):
            if _conforms(owner) and id(getattr(owner, "__dict__", None)) in wanted:
                holders.append(owner)
    unique = {id(holder): holder for holder in holders}
    return list(unique.values())


def _conforms(obj) -> bool:
    return (not isinstance(obj, (type, types.FunctionType, dict))
            and getattr(type(obj), "__conform__", None) is not None)
