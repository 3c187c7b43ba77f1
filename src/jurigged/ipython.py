"""IPython and Jupyter: `%load_ext jurigged` watches the modules the session imports.

Cells are not files, so they are not patched; the modules they import are, like under
`jurigged script.py`. `%unload_ext jurigged` stops watching."""

from __future__ import annotations

from .live import watch


def load_ipython_extension(ipython) -> None:
    watcher = watch()
    ipython.user_ns.setdefault("__jurigged_watcher__", watcher)


def unload_ipython_extension(ipython) -> None:
    watcher = ipython.user_ns.pop("__jurigged_watcher__", None)
    if watcher is not None:
        watcher.stop()
