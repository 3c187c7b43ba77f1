"""jurigged: live code updates for running Python programs.

`watch()` starts watching imported modules; every save of a watched file patches the
running program in place. The engine (watcher, source model, patcher) is C++.

PYTEST_DONT_REWRITE: under `jurigged -m pytest` this package is imported before
pytest loads its plugin (jurigged.pytest_plugin); the marker stops pytest from
warning that it cannot rewrite the asserts of a package that has none.
"""

from .develoop import loop, loop_on_error, xloop
from .live import Watcher, apply_pending, watch
from . import live as _live_module, liveloop as _liveloop
from .logs import logger
from .registry import registry
from .ipython import load_ipython_extension, unload_ipython_extension
from .version import __version__
from .hooks import Update, on_update

_LAZY = {"OutOfSyncException", "Recoder", "StaleFileError", "make_recoder", "virtual_file"}


def __getattr__(name):
    # Recoders (and their tempfile, inspect, tokenize imports) load on first use: most
    # programs never make one, and every program pays for what is imported here.
    if name in _LAZY:
        from . import recode

        return getattr(recode, name)
    raise AttributeError(f"module 'jurigged' has no attribute {name!r}")


class _LiveModule(type(_live_module)):
    """`jurigged.live` is the module of watch() and the Watcher, and also callable:
    `for x in jurigged.live(items):` runs the latest saved body at each iteration."""

    def __call__(self, iterable):
        return _liveloop.live(iterable, _depth=2)


_live_module.__class__ = _LiveModule
live = _live_module

__all__ = ["Watcher", "watch", "apply_pending", "make_recoder", "Recoder", "StaleFileError",
           "OutOfSyncException", "virtual_file", "registry", "logger",
           "load_ipython_extension", "unload_ipython_extension", "loop", "xloop",
           "loop_on_error", "live", "on_update", "Update", "__version__"]
