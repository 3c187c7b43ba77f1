"""Live code on a Dask cluster: every save applied in the client process is sent to
every worker (those that join later included), so tasks run the new code.

    from dask.distributed import Client
    import jurigged.dask
    client = Client(...)
    jurigged.dask.connect(client)

The saves travel inside a `distributed.WorkerPlugin` that the scheduler keeps and
gives to each worker as it joins; re-registering it under the same name after each
save reaches the workers already there. Workers need jurigged installed, not the
files: each patches the module it imported with the text the client applied.
Functions defined in the client's `__main__` need nothing of this: Dask ships them by
value, with their current code."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from dataclasses import dataclass
from typing import Dict, Optional

from distributed import WorkerPlugin

from .logs import logger

PLUGIN_NAME = "jurigged"


@dataclass
class SavedModule:
    """The text of one module as the client first ran it and as it runs it now."""

    name: str
    path: str  # in the client; a worker uses its own module's file for messages
    original: bytes
    latest: bytes


class LiveCode(WorkerPlugin):
    """Carries the latest text of every module saved in the client; on each worker,
    patches the modules to run it (a module the worker has not imported yet is
    imported first)."""

    def __init__(self, modules: Dict[str, SavedModule]):
        self.modules = modules

    def setup(self, worker=None) -> None:
        for saved in self.modules.values():
            try:
                _apply_on_this_worker(saved)
            except Exception as exc:  # one module must not keep the others old
                logger.error(f"{saved.path}: not applied on this Dask worker: {exc}",
                             saved.path, exc=exc)


# On a worker: the SourceFile of each module patched there, across plugin versions.
_patched: Dict[str, object] = {}
_patched_lock = threading.Lock()


def _apply_on_this_worker(saved: SavedModule) -> None:
    with _patched_lock:
        file = _patched.get(saved.name) or _watched_here(saved.name)
        if file is None:
            file = _source_file_for(saved)
            if file is None:
                return
            _patched[saved.name] = file
    file.apply(saved.latest)


def _watched_here(module_name: str):
    """The worker's own watcher's file for the module (a worker on the same machine,
    started by a watching process, watches the files itself): patching through it
    keeps one account of what the module runs."""
    from .registry import registry

    for file in list(registry.files.values()):
        if file.module_name == module_name:
            return file
    return None


def _source_file_for(saved: SavedModule):
    """A SourceFile whose baseline is the text the worker's module runs: the client's
    original for a module imported earlier (the worker imported the same file), or,
    for one imported now, its file as read just before."""
    from .patcher import SourceFile

    module = sys.modules.get(saved.name)
    baseline = saved.original
    if module is None:
        spec = importlib.util.find_spec(saved.name)
        if spec is None or not spec.origin:
            logger.notice(f"module {saved.name} is not importable on this Dask worker; "
                          f"tasks that use it cannot run here", saved.path)
            return None
        try:
            with open(spec.origin, "rb") as f:
                baseline = f.read()
        except OSError:
            pass  # the module is not a plain file here: it ran what the client ran
        module = importlib.import_module(saved.name)
    path = getattr(module, "__file__", None) or saved.path
    return SourceFile(path, saved.name, baseline, module)


class _ClusterLink:
    """In the client: records each applied save and re-registers the plugin."""

    def __init__(self, client):
        self.client = client
        # A forked child inherits the hooks but not the client's connection thread:
        # only this process may talk to the cluster.
        self.pid = os.getpid()
        self.modules: Dict[str, SavedModule] = {}
        self._before: Dict[str, bytes] = {}
        self._lock = threading.Lock()

    def before_save(self, path: str, file) -> None:
        self._before.setdefault(path, file.source)

    def after_save(self, path: str, file) -> None:
        if os.getpid() != self.pid or file.module_name in ("__main__", "__mp_main__"):
            return  # shipped by value with each task
        with self._lock:
            saved = self.modules.get(file.module_name)
            if saved is not None and saved.latest == file.source:
                return
            original = saved.original if saved else self._before.get(path, file.source)
            if original == file.source:
                return  # nothing was applied (a syntax error, say)
            self.modules[file.module_name] = SavedModule(file.module_name, path,
                                                         original, file.source)
            self.send()

    def send(self) -> None:
        plugin = LiveCode(dict(self.modules))
        register = (getattr(self.client, "register_plugin", None)
                    or self.client.register_worker_plugin)
        try:
            register(plugin, name=PLUGIN_NAME)
        except Exception as exc:
            logger.error(f"cannot send the save to the Dask cluster: {exc}", exc=exc)


def connect(client, watcher=None) -> None:
    """Make the workers of `client`'s cluster run every save applied in this process
    (by `watcher`: the running one, or a new `jurigged.watch()` if none). Workers that
    join later get every save made so far."""
    from . import live

    if watcher is None:
        watcher = live._watcher if live._watcher is not None and not live._watcher.stopped \
            else live.watch()
    link = _ClusterLink(client)
    watcher.prerun.register(link.before_save)
    watcher.postrun.register(link.after_save)
    link.send()
