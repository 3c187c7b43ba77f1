"""Facts about how CPython 3.9-3.13 compiles and runs definitions that the patcher
relies on, in one place (for now: PEP 695 type parameters, 3.12+)."""

from __future__ import annotations

import sys
import types
from typing import Optional

HAS_TYPE_PARAMS = sys.version_info >= (3, 12)
# exec() takes the cells of a code object's free variables from 3.11 on.
EXEC_TAKES_CLOSURE = sys.version_info >= (3, 11)


def generic_scope_name(name: str) -> str:
    """The name of the code object CPython 3.12+ wraps a generic `def`/`class` in."""
    return f"<generic parameters of {name}>"


def definition_code(code: types.CodeType, name: str) -> Optional[types.CodeType]:
    """The code object of the definition `name` among the constants of `code`; for a
    generic definition it sits inside its type-parameter scope."""
    wrapper = generic_scope_name(name)
    for const in code.co_consts:
        if not isinstance(const, types.CodeType):
            continue
        if const.co_name == name:
            return const
        if const.co_name == wrapper:
            inner = definition_code(const, name)
            if inner is not None:
                return inner
    return None


def type_params_text(header: str, name: str) -> str:
    """The `[T, U: int]` of a `class name[...]` header line, or ''."""
    if not HAS_TYPE_PARAMS:
        return ""
    start = header.find(f"class {name}")
    if start < 0:
        return ""
    position = start + len(f"class {name}")
    rest = header[position:].lstrip()
    if not rest.startswith("["):
        return ""
    depth = 0
    for index, char in enumerate(rest):
        depth += char == "["
        depth -= char == "]"
        if depth == 0:
            return rest[: index + 1]
    return ""


def _type_params_of(owner) -> tuple:
    params = getattr(owner, "__type_params__", ()) if owner is not None else ()
    return params if isinstance(params, tuple) else ()


def type_param(name: str, function=None, cls=None):
    """The live TypeVar (or ParamSpec, TypeVarTuple) called `name` that the function
    or its class declares, or None."""
    for owner in (function, cls):
        for param in _type_params_of(owner):
            if getattr(param, "__name__", None) == name:
                return param
    return None


def exec_closure(code: types.CodeType, cls) -> dict:
    """Keyword arguments for exec() running the body code of the generic class `cls`
    (a context compile of `class C[T]:`): the cells of its type parameters."""
    if not code.co_freevars or not EXEC_TAKES_CLOSURE:
        return {}
    cells = []
    for name in code.co_freevars:
        if name == ".type_params":
            cells.append(types.CellType(_type_params_of(cls)))
        else:
            value = type_param(name, None, cls)
            cells.append(types.CellType() if value is None else types.CellType(value))
    return {"closure": tuple(cells)}
