"""jurigged: live code updates for running Python programs.

`watch()` starts watching imported modules; every save of a watched file patches the
running program in place. The engine (watcher, source model, patcher) is C++.
"""

from .live import Watcher, watch
from .logs import logger
from .registry import registry
from .version import __version__

__all__ = ["Watcher", "watch", "registry", "logger", "__version__"]
