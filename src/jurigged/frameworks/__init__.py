"""Built-in update hooks for web frameworks, one small module each.

Each hook does nothing unless its framework is already imported (it looks in
sys.modules and never imports the framework itself)."""

from __future__ import annotations

import sys
import types
from typing import List


def register_builtin() -> None:
    from . import django, flask, pydantic

    for framework in (django, flask, pydantic):
        framework.register()


def watched_modules(first=None) -> List[types.ModuleType]:
    """`first`, then the modules of the watched files (where the apps live, and the
    modules that import a model or a blueprint), each once."""
    modules, seen = [], set()
    live = sys.modules.get("jurigged.live")
    watcher = getattr(live, "_watcher", None)
    files = list(watcher.registry.files.values()) if watcher is not None else []
    for module in [first] + [file.module for file in files]:
        if isinstance(module, types.ModuleType) and id(module) not in seen:
            seen.add(id(module))
            modules.append(module)
    return modules
