"""The public entry point: watch(), and the Watcher that applies each save."""

from __future__ import annotations

from typing import Callable, Iterable, Optional, Union

Pattern = Union[str, Iterable[str], Callable[[str], bool], None]


class Watcher:
    """Watches the files of imported modules and patches the program on each save."""

    def __init__(self, *, debounce: float = 0.05, poll: Optional[float] = None,
                 verbose: bool = False):
        self.debounce = debounce
        self.poll = poll
        self.verbose = verbose

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def join(self, timeout: Optional[float] = None) -> None:
        pass

    def track(self, module, path: str, source: bytes) -> bool:
        """Watch `path` as the file of `module` (used for `__main__`, which no import
        hook sees). `source` is the text the module runs. Returns whether it matched
        the watch patterns."""
        return False


def watch(pattern: Pattern = None, *, exclude: Iterable[str] = (),
          debounce: float = 0.05, poll: Optional[float] = None,
          verbose: bool = False, autostart: bool = True) -> Watcher:
    """Watch every imported module whose file matches `pattern` (default: files under
    the current directory, outside virtual environments and hidden folders)."""
    watcher = Watcher(debounce=debounce, poll=poll, verbose=verbose)
    if autostart:
        watcher.start()
    return watcher
