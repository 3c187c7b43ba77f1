"""After a module is updated, do this: the public hook API (`on_update`).

A hook is told, per applied file, what the save changed (an `Update` record built from
the logger's events between the watcher's prerun and postrun of that file). Hooks come
from `on_update`, from the built-in framework hooks (jurigged.frameworks) and from
third-party packages through the `jurigged.hooks` entry point group, loaded at the
first batch of saves (this module is imported then, or by the first on_update). The
hooks attach to the active watcher without live.py knowing: importing this module, or
the next watch or batch event of the logger, attaches them.
"""

from __future__ import annotations

import fnmatch
import re
import sys
import threading
import types
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Pattern, Tuple, Union

from .logs import logger

ENTRY_POINT_GROUP = "jurigged.hooks"
ModuleMatch = Union[None, str, Pattern, Callable[[str], bool]]


@dataclass
class Update:
    """What one save of one file changed in its module."""

    module_name: str
    path: str
    module: Optional[types.ModuleType]
    updated: List[str] = field(default_factory=list)  # qualnames whose code changed
    added: List[str] = field(default_factory=list)
    deleted: List[str] = field(default_factory=list)
    ran: List[Tuple[int, str]] = field(default_factory=list)  # (line, text) re-run

    @property
    def changed(self) -> bool:
        return bool(self.updated or self.added or self.deleted or self.ran)


@dataclass
class UpdateHook:
    """A callback and the modules it is for; `before` (optional) runs at prerun."""

    callback: Callable[[Update], None]
    module: ModuleMatch = None
    before: Optional[Callable[[str, types.ModuleType], None]] = None

    def wants(self, module_name: str) -> bool:
        match = self.module
        if match is None:
            return True
        if callable(match) and not isinstance(match, str):
            return bool(match(module_name))
        if isinstance(match, str):
            return module_name == match or fnmatch.fnmatchcase(module_name, match)
        return match.fullmatch(module_name) is not None


hooks: List[UpdateHook] = []
_lock = threading.Lock()
_attached_to = None   # the Watcher whose prerun/postrun lists hold ours
_collecting: List[Update] = []  # the file being applied (at most one at a time)
_entry_points_loaded = False


def on_update(callback: Optional[Callable[[Update], None]] = None, *,
              module: ModuleMatch = None, before=None):
    """Call `callback(update)` after each save applied to a module matching `module`
    (None: every module; a name or glob such as "app.*"; a compiled regex; or a
    callable on the name). Works as `@on_update` and `@on_update(module=...)`.
    `before(path, module_name, module)`, if given, runs before each apply of such a
    module, and `callback` is then called even when the save changed nothing.
    Returns the callback; `remove(callback)` undoes it."""
    def register(function):
        hooks.append(UpdateHook(function, module, before))
        return function

    return register if callback is None else register(callback)


def remove(callback) -> None:
    hooks[:] = [hook for hook in hooks if hook.callback is not callback]


def _load_entry_points() -> None:
    """Third-party hooks: each entry point of the group names a callable, called once
    with no argument (it registers with on_update), or a module to import."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    points = find_entry_points()
    for point in points:
        try:
            loaded = point.load()
            if callable(loaded):
                loaded()
        except Exception as exc:
            logger.error(f"jurigged hook {point.name} ({point.value}) failed to load",
                         exc=exc)


_found: Optional[List["EntryPoint"]] = None  # the group's entry points, once read


def find_entry_points() -> List["EntryPoint"]:
    """The entry points of our group, read once (the watcher thread reads them before
    the first save, see live.Watcher._preload); [] after reporting why it failed."""
    global _found
    if _found is None:
        try:
            _found = entry_points_of(ENTRY_POINT_GROUP)
        except Exception as exc:
            logger.error(f"cannot list the {ENTRY_POINT_GROUP} entry points: {exc}")
            _found = []
    return _found


@dataclass
class EntryPoint:
    """`name = value` of an entry point group; value is `module` or `module:attr`."""

    name: str
    value: str

    def load(self):
        import importlib

        target = self.value.partition("[")[0].strip()  # extras do not matter here
        module_name, _, attributes = target.partition(":")
        loaded = importlib.import_module(module_name.strip())
        for attribute in filter(None, attributes.strip().split(".")):
            loaded = getattr(loaded, attribute)
        return loaded


def entry_points_of(group: str) -> List[EntryPoint]:
    """The entry points of `group` declared by the distributions on sys.path (their
    `*.dist-info` / `*.egg-info` folder's entry_points.txt), the first distribution of
    a name winning, as importlib.metadata does. Read directly: importlib.metadata
    imports email, zipfile, csv and more (~1 s of GIL turns in a busy program's
    watcher thread at its first save); this reads a few small files."""
    import os

    points: List[EntryPoint] = []
    seen: set = set()
    for folder in list(sys.path):
        try:
            names = sorted(os.listdir(folder or "."))
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            distribution = name.rpartition(".")[0].partition("-")[0].lower().replace(
                "-", "_").replace(".", "_")
            if distribution in seen:
                continue
            seen.add(distribution)
            try:
                with open(os.path.join(folder or ".", name, "entry_points.txt"),
                          encoding="utf-8") as file:
                    text = file.read()
            except OSError:
                continue
            points += _group_of(text, group)
    return points


def _group_of(text: str, group: str) -> List[EntryPoint]:
    """The `name = value` lines of section [group] of an entry_points.txt."""
    points, inside = [], False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            inside = line[1:-1].strip() == group
        elif inside and "=" in line:
            name, _, value = line.partition("=")
            points.append(EntryPoint(name.strip(), value.strip()))
    return points


def _prerun(path: str, file) -> None:
    update = Update(file.module_name, path, file.module)
    _collecting[:] = [update]  # a file whose apply raised never reached postrun
    for hook in list(hooks):
        if hook.before is not None and hook.wants(update.module_name):
            _call(hook.before, path, path, update.module_name, file.module)


def _postrun(path: str, file) -> None:
    if not _collecting:
        return
    update = _collecting.pop()
    update.module = file.module
    for hook in list(hooks):
        # A hook with a `before` hears of every apply its `before` saw, changed or
        # not, so that it can undo what it prepared.
        if hook.wants(update.module_name) and (update.changed or hook.before is not None):
            _call(hook.callback, path, update)


def _call(function, path: str, *args) -> None:
    try:
        function(*args)
    except Exception as exc:
        name = getattr(function, "__qualname__", repr(function))
        logger.error(f"{path}: update hook {name} failed: {exc}", path, 0, exc)


def _collect(event: dict) -> None:
    """Logger listener: attach to the watcher on the first watch, then gather events."""
    kind = event.get("event")
    if kind in ("watch", "batch"):
        _attach()
        if kind == "batch":  # not at start-up: a program that is never edited pays nothing
            from . import frameworks

            frameworks.register_builtin()  # those imported since the last batch too
            _load_entry_points()
        return
    if not _collecting:
        return
    update = _collecting[-1]
    if event.get("file") != update.path:
        return
    if kind in ("update", "add", "delete"):
        getattr(update, {"update": "updated", "add": "added",
                         "delete": "deleted"}[kind]).append(event["qualname"])
    elif kind == "run":
        update.ran.append((event.get("line", 0), event.get("text", "")))


def _attach() -> None:
    global _attached_to
    live = sys.modules.get("jurigged.live")
    watcher = getattr(live, "_watcher", None)
    if watcher is None or watcher is _attached_to:
        return
    with _lock:
        if watcher is _attached_to:
            return
        _attached_to = watcher
        # Ours go first before the file and last after it, around the user's callbacks.
        watcher.prerun.insert(0, _prerun)
        watcher.postrun.append(_postrun)


def statement_names(update: Update) -> List[str]:
    """Names assigned at the top of the statements a save re-ran (`X = 1`, `X: int`)."""
    names = []
    for _, text in update.ran:
        for line in text.splitlines():
            found = re.match(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=]*)?=(?!=)", line)
            if found:
                names.append(found.group(1))
    return names


logger.listeners.append(_collect)
_attach()  # imported after watch() (jurigged imports this module on first use)
