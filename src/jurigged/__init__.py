"""jurigged: live code updates for running Python programs.

`watch()` starts watching imported modules; every save of a watched file patches the
running program in place. The engine (watcher, source model, patcher) is C++.
"""

from .live import Watcher, apply_pending, watch
from .logs import logger
from .recode import OutOfSyncException, Recoder, StaleFileError, make_recoder, virtual_file
from .registry import registry
from .ipython import load_ipython_extension, unload_ipython_extension
from .version import __version__
from .hooks import Update, on_update

__all__ = ["Watcher", "watch", "apply_pending", "make_recoder", "Recoder", "StaleFileError", "OutOfSyncException",
           "virtual_file", "registry", "logger", "load_ipython_extension",
           "unload_ipython_extension", "__version__", "on_update", "Update"]
