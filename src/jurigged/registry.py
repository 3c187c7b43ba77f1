"""Which files are watched: an import hook that notices every module imported from a
watched file (with the exact text it was imported from), plus explicit tracking."""

from __future__ import annotations

import importlib.machinery
import os
import stat
import sys
import threading

TYPE_CHECKING = False  # typing costs ~5 ms of start-up: annotations only (strings)
if TYPE_CHECKING:
    from typing import Callable, Dict, List, Optional, Set
    FileFilter = Callable[[str], bool]

from . import trust
from .filters import accepts_file
from .logs import logger
from .patcher import SourceFile


class Registry:
    """Every watched file, in the order it was first imported."""

    def __init__(self):
        self.files: Dict[str, SourceFile] = {}
        self.unwatched: Dict[str, SourceFile] = {}  # files patched by recoders only
        self.filters: List[FileFilter] = []
        self.listeners: List[Callable[[SourceFile], None]] = []
        # Watch (and patch) files that other accounts can change (see trust.py).
        self.trust_shared = False
        self.refused: Set[str] = set()  # files not watched because of that, told once
        self._trusted_folders: Set[str] = set()  # see trust.why_untrusted
        self._lock = threading.RLock()
        self._finder: Optional[ImportWatcher] = None
        self._ranks: Dict[str, int] = {}  # path -> place in import order, kept per file

    def rank(self, path: str) -> int:
        """The file's place in import order (files never watched come last)."""
        return self._ranks.get(path, len(self._ranks))

    def wants(self, path: str) -> bool:
        return any(accepts(path) for accepts in self.filters)

    def add_filter(self, accepts: FileFilter) -> None:
        """Watch files accepted by `accepts` from now on, and those already imported."""
        with self._lock:
            self.filters.append(accepts)
            self._install_finder()
        for name, module in list(sys.modules.items()):
            path = _source_path(module)
            if path is None or path in self.files:
                continue
            # A filter made by make_filter judges a folder once, not each of the
            # ~50-100 modules imported before watch().
            source = self._source_if_wanted(path, [accepts])
            if source is not None:
                self._add(SourceFile(path, name, source, module if name == "__main__" else None))

    def track(self, module, path: str, source: bytes) -> Optional[SourceFile]:
        """Watch `path` as the file of `module` (for `__main__`, which no import hook
        sees), if it matches the filters. `source` is the text the module runs."""
        path = os.path.abspath(path)
        if not self.wants(path) or not self._trusts(path):
            return None
        return self._add(SourceFile(path, module.__name__, source, module), replace=True)

    def expect(self, module_name: str, path: str) -> None:
        """Called by the import hook before `module_name` runs from `path`."""
        if path in self.files:
            return
        source = self._source_if_wanted(path, self.filters)
        if source is not None:
            self._add(SourceFile(path, module_name, source))

    def _source_if_wanted(self, path: str, filters: List[FileFilter]) -> Optional[bytes]:
        """The text of `path` if one of `filters` accepts it and it is trusted. Every
        import pays for this: one lstat of the file serves the filters (is it a
        link?), the trust check and the read (a system call here costs ~2 us, as
        much as the rest)."""
        try:
            info: Optional[os.stat_result] = os.lstat(path)
        except OSError:
            info = None  # the filters, trust check and read say what to
        is_link = None if info is None else stat.S_ISLNK(info.st_mode)
        if not any(accepts_file(accepts, path, is_link) for accepts in filters):
            return None
        if not self._trusts(path, None if is_link else info):
            return None
        return _read(path, None if info is None or is_link else info.st_size)

    def _trusts(self, path: str, info: Optional[os.stat_result] = None) -> bool:
        """Whether `path` may be watched: only we (or root) can change its code, or the
        user opted in. A refusal is told once per file. `info`: its lstat, if known."""
        if self.trust_shared:
            return True
        if path in self.refused:
            return False
        reason = trust.why_untrusted(path, self._trusted_folders, info)
        if reason is None:
            return True
        with self._lock:
            told = path in self.refused
            self.refused.add(path)
        if not told:
            logger.notice(f"not watching {path}: {reason}; {trust.HINT}", path)
        return False

    def _add(self, file: SourceFile, replace: bool = False) -> SourceFile:
        with self._lock:
            existing = self.files.get(file.path)
            if existing is not None and not replace:
                return existing
            self.files[file.path] = file
            self._ranks.setdefault(file.path, len(self._ranks))
        if existing is None:
            logger.watch(file.path)
        for listener in list(self.listeners):
            listener(file)
        return file

    def _install_finder(self) -> None:
        if self._finder is None:
            self._finder = ImportWatcher(self)
            sys.meta_path.insert(0, self._finder)


class ImportWatcher:
    """A meta path finder that finds nothing itself: it asks the finders after it, and
    when the answer is a plain .py file that is watched, records the file's text first
    (so later diffs start from exactly what was imported)."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._busy = threading.local()

    def find_spec(self, fullname, path=None, target=None):
        if getattr(self._busy, "active", False):
            return None
        self._busy.active = True
        try:
            spec = self._find_with_others(fullname, path, target)
        finally:
            self._busy.active = False
        if spec is not None and _from_source_file(spec):
            origin = spec.origin
            if origin and origin.endswith(".py"):
                try:
                    self.registry.expect(fullname, os.path.abspath(origin))
                except Exception as exc:  # watching must never break an import
                    logger.error(f"cannot watch {origin}: {exc}")
        return spec

    def _find_with_others(self, fullname, path, target):
        finders = sys.meta_path
        start = finders.index(self) + 1 if self in finders else 0
        for finder in finders[start:]:
            find_spec = getattr(finder, "find_spec", None)
            if find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None

    def invalidate_caches(self):
        pass


def _from_source_file(spec) -> bool:
    """Whether the module of `spec` runs a .py file: a plain SourceFileLoader, or
    another loader (pytest's assertion rewriter) whose origin is a .py file on disk."""
    if isinstance(spec.loader, importlib.machinery.SourceFileLoader):
        return True
    origin = spec.origin
    return (spec.loader is not None and isinstance(origin, str)
            and origin.endswith(".py") and os.path.isfile(origin))


def _source_path(module) -> Optional[str]:
    path = getattr(module, "__file__", None)
    if not isinstance(path, str) or not path.endswith(".py"):
        return None
    return os.path.abspath(path)


def _read(path: str, size: Optional[int] = None) -> Optional[bytes]:
    """The file's bytes; `size`: its size from a stat just taken (if it changed since,
    the read still gets the whole file)."""
    # os-level reads: open() builds a buffered file object and asks whether the file
    # is a terminal, ~30 us of the ~40 us this costs per imported module otherwise.
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            if size is None:
                size = os.fstat(fd).st_size
            chunks = [os.read(fd, size + 1)]
            if len(chunks[0]) > size:  # it grew since: read to the end, as f.read() would
                while chunks[-1]:
                    chunks.append(os.read(fd, 1 << 16))
        finally:
            os.close(fd)
    except OSError as exc:
        logger.error(f"cannot read {path}: {exc.strerror}", path)
        return None
    return b"".join(chunks) if len(chunks) > 1 else chunks[0]


registry = Registry()
