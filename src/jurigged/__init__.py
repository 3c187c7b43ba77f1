"""jurigged: live code updates for running Python programs.

`watch()` starts watching imported modules; every save of a watched file patches the
running program in place. The engine (watcher, source model, patcher) is C++.

PYTEST_DONT_REWRITE: under `jurigged -m pytest` this package is imported before
pytest loads its plugin (jurigged.pytest_plugin); the marker stops pytest from
warning that it cannot rewrite the asserts of a package that has none.
"""

from .live import Watcher, apply_pending, watch
from . import live as _live_module
from .logs import logger
from .registry import registry
from .version import __version__

# Loaded on first use: most programs never use them, and every program pays for what
# is imported here (the develoop alone imports inspect and dataclasses machinery).
_LAZY = {"OutOfSyncException": "recode", "Recoder": "recode", "StaleFileError": "recode",
         "make_recoder": "recode", "virtual_file": "recode",
         "loop_on_error": "develoop", "xloop": "develoop",
         "load_ipython_extension": "ipython", "unload_ipython_extension": "ipython",
         # The update hooks load with the first batch of saves (live.py) or here.
         "Update": "hooks", "on_update": "hooks", "glob_filter": "filters"}


def __getattr__(name):
    import importlib

    if name == "loop":
        # The module of 0.6.1's `from jurigged.loop import ...`, and also the
        # decorator (a callable module).
        return importlib.import_module(".loop", __name__)
    module = _LAZY.get(name)
    if module is not None:
        return getattr(importlib.import_module(f".{module}", __name__), name)
    raise AttributeError(f"module 'jurigged' has no attribute {name!r}")


class _LiveModule(type(_live_module)):
    """`jurigged.live` is the module of watch() and the Watcher, and also callable:
    `for x in jurigged.live(items):` runs the latest saved body at each iteration."""

    def __call__(self, iterable):
        from . import liveloop

        return liveloop.live(iterable, _depth=2)


_live_module.__class__ = _LiveModule
live = _live_module

__all__ = ["Watcher", "watch", "apply_pending", "make_recoder", "Recoder", "StaleFileError",
           "OutOfSyncException", "virtual_file", "registry", "logger",
           "load_ipython_extension", "unload_ipython_extension", "loop", "xloop",
           "loop_on_error", "live", "on_update", "glob_filter", "Update", "__version__"]
