"""`--loop NAME` / `--xloop NAME`: what a NAME designates, and putting the develoop in
front of it where it is defined (module global or class attribute)."""

from __future__ import annotations

import fnmatch
import importlib
import sys
import types
from dataclasses import dataclass
from typing import List, Optional, Tuple

from ..logs import logger


@dataclass(frozen=True)
class LoopRequest:
    """One --loop/--xloop option. `module` is None for the forms `func` and
    `Class.method`, which name something in the main program (or a test)."""

    text: str
    module: Optional[str]
    path: Tuple[str, ...]
    only_on_error: bool = False

    @property
    def qualname(self) -> str:
        return ".".join(self.path)

    def matches(self, qualname: str, module: str = "") -> bool:
        """Whether a function `qualname` of `module` is what this request names (glob
        patterns allowed, for tests: `test_*`)."""
        if self.module is not None and not _module_matches(self.module, module):
            return False
        return fnmatch.fnmatchcase(qualname, self.qualname)


def _module_matches(wanted: str, module: str) -> bool:
    # pytest may import tests/test_x.py as `test_x` or as `tests.test_x`.
    return module == wanted or module.endswith("." + wanted) or wanted.endswith("." + module)


def parse(text: str, only_on_error: bool = False) -> LoopRequest:
    """`func`, `Class.method`, `module:func.attr` or `/module/func/attr`."""
    if text.startswith("/"):
        parts = [part for part in text.split("/") if part]
        if len(parts) < 2:
            raise ValueError(f"{text!r}: expected /module/function")
        module, path = parts[0], parts[1:]
    elif ":" in text:
        module, _, rest = text.partition(":")
        path = rest.split(".")
    else:
        module, path = None, text.split(".")
    if (module is not None and not all(p.isidentifier() for p in module.split("."))) \
            or not path or not all(_is_name_pattern(p) for p in path):
        raise ValueError(f"{text!r} is not a function name (func, Class.method, "
                         f"module:func or /module/func)")
    return LoopRequest(text, module, tuple(path), only_on_error)


def _is_name_pattern(part: str) -> bool:
    return part.replace("*", "x").replace("?", "x").isidentifier()


# The requests of the command line, for the pytest plugin to match tests against.
requests: List[LoopRequest] = []


def install(request: LoopRequest, main: Optional[types.ModuleType]) -> bool:
    """Put the develoop in front of what `request` names. Returns whether it was
    found. A module that is not imported yet is imported."""
    from . import Develoop

    holder = _module_of(request, main)
    if holder is None:
        return False
    for name in request.path[:-1]:
        holder = getattr(holder, name, None)
        if holder is None:
            return False
    name = request.path[-1]
    original = _raw_attribute(holder, name)
    if original is None or not callable(getattr(holder, name, None)):
        return False
    if isinstance(original, Develoop):
        return True
    looped = Develoop(original, only_on_error=request.only_on_error)
    if isinstance(holder, types.ModuleType):
        _rebind_everywhere(original, looped)
    setattr(holder, name, looped)
    return True


def _module_of(request: LoopRequest, main) -> Optional[types.ModuleType]:
    if request.module is None:
        return main
    if request.module in sys.modules:
        return sys.modules[request.module]
    try:
        return importlib.import_module(request.module)
    except ImportError as error:
        logger.error(f"--loop {request.text}: cannot import {request.module}: {error}")
        return None


def _raw_attribute(holder, name: str):
    """What `holder` holds under `name`, unbound (a class's own function, not a
    method; inherited attributes are found on the class that defines them)."""
    if isinstance(holder, type):
        for cls in holder.__mro__:
            if name in cls.__dict__:
                return cls.__dict__[name]
        return None
    return getattr(holder, name, None)


def _rebind_everywhere(original, looped) -> None:
    """Modules that imported the function by name (`from m import f`) call it through
    their own global: they get the looped one too."""
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for key, value in list(namespace.items()):
            if value is original:
                namespace[key] = looped


def install_all(main: Optional[types.ModuleType], *, tests_later: bool = False) -> None:
    """Install every command-line request on the program's `main` module (or the
    module of `-m module:function`). `tests_later`: names not found here may name
    tests, which the pytest plugin loops when it runs them."""
    for request in requests:
        if "*" in request.text or "?" in request.text:
            continue  # patterns only name tests
        if install(request, main):
            continue
        if tests_later and request.module is None:
            continue
        where = request.module or (getattr(main, "__file__", None) or "the program")
        logger.error(f"--loop {request.text}: no such function in {where} (a name "
                     f"must be defined before the program's main part starts)")
