"""Built-in update hooks for web frameworks, one small module each.

Each hook does nothing unless its framework is already imported (it looks in
sys.modules and never imports the framework itself)."""

from __future__ import annotations

import sys
import types
from typing import List


# Each built-in hook module, and the module whose presence in sys.modules means the
# program uses its framework.
BUILTIN = {"django": "django", "flask": "flask", "pydantic": "pydantic"}
_registered: set = set()


def register_builtin() -> None:
    """Register the hooks of the frameworks the program has imported (called at each
    batch: one imported since the last batch gets its hooks before this one applies).
    A framework the program never imports costs nothing, not even an import."""
    import importlib

    for hook_module, framework in BUILTIN.items():
        if hook_module not in _registered and framework in sys.modules:
            _registered.add(hook_module)
            importlib.import_module(f".{hook_module}", __name__).register()


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
