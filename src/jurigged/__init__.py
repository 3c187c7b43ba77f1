"""jurigged: live code updates for running Python programs.

`watch()` starts watching imported modules; every save of a watched file patches the
running program in place. The engine (watcher, source model, patcher) is C++.
"""

from .live import Watcher, apply_pending, watch
from .logs import logger
from .registry import registry
from .ipython import load_ipython_extension, unload_ipython_extension
from .version import __version__

_LAZY = {"OutOfSyncException", "Recoder", "StaleFileError", "make_recoder", "virtual_file"}


def __getattr__(name):
    # Recoders (and their tempfile, inspect, tokenize imports) load on first use: most
    # programs never make one, and every program pays for what is imported here.
    if name in _LAZY:
        from . import recode

        return getattr(recode, name)
    raise AttributeError(f"module 'jurigged' has no attribute {name!r}")


__all__ = ["Watcher", "watch", "apply_pending", "make_recoder", "Recoder", "StaleFileError",
           "OutOfSyncException", "virtual_file", "registry", "logger",
           "load_ipython_extension", "unload_ipython_extension", "__version__"]
