"""Which files jurigged may take code (or configuration) from: never from a file that
another account could change, unless the user opts in with --trust-shared.

The danger is not only a file that others can write, but any way for someone else to
make the path lead to their text: writing the file, renaming their own file over it
(which needs write access to its directory, or to any directory above it, since a
directory can itself be renamed away), or changing where a symbolic link on the way
points. So the path is walked from `/`, following each symbolic link as the system
would, and every entry met on the way (each directory, each link, the file) must be:

- owned by us (the effective uid) or by root: the owner of an entry can change its
  mode, and the owner of a directory can replace anything in it;
- if it is a directory: not writable by other users or by a shared group, unless it
  has the sticky bit (like /tmp): then others may add entries but cannot rename or
  remove ours, and any entry of theirs fails the owner rule above;
- if it is the file: not writable by other users or by a shared group.

A group counts as shared unless it is our own private group (the usual "user private
group" of Debian, Ubuntu or Fedora, where umask 002 makes every file group-writable):
our primary group, named like us, with no other member.

The check happens after the watcher read the new text, and that is enough: nothing on
the list above can be turned from "others can change it" into "trusted" by anyone but
us or root (only an owner changes a mode, and only root changes an owner), so a text
another account could plant is never judged by a state it could have arranged.
"""

from __future__ import annotations

import functools
import os
import stat

from . import _core

TYPE_CHECKING = False  # typing costs ~5 ms of start-up: annotations only (strings)
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, Optional, Set

_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH

# How many symbolic links one path may go through, as Linux allows (MAXSYMLINKS).
_MAX_LINKS = 40

HINT = "--trust-shared allows it"


class UntrustedFile(Exception):
    """A file jurigged refuses to use; the message says which and why."""


def why_untrusted(path: str, trusted_folders: Optional[Set[str]] = None,
                  info: Optional[os.stat_result] = None) -> Optional[str]:
    """None if only we (or root) can change what `path` leads to; otherwise the reason,
    naming the entry at fault: 'it is writable by other users (mode 0666)'.
    `trusted_folders` (kept by the caller) holds folders found trustworthy with no
    symbolic link on the way: only we or root can change them, so a file in one needs
    only its own entry judged (the import hook asks for every module, most of them in
    a few folders). Found ones are added to it. `info`: the caller's os.lstat of
    `path`, just taken (saves one)."""
    if not hasattr(os, "geteuid"):  # Windows: no owners or modes to judge by
        return None
    if (info is not None and trusted_folders is not None
            and not info.st_mode & _WRITABLE_BY_OTHERS and not stat.S_ISLNK(info.st_mode)
            and os.path.dirname(path) in trusted_folders
            and (info.st_uid == 0 or info.st_uid == os.geteuid())):
        return None  # the import hook's usual case, judged without the walk's objects
    absolute = os.path.abspath(path)
    walk = _PathWalk(os.geteuid(), absolute)
    if trusted_folders is None:
        return walk.problem()
    folder = os.path.dirname(absolute)
    if folder in trusted_folders:
        if info is None:
            try:
                info = os.lstat(absolute)
            except OSError as exc:
                return f"{absolute} cannot be checked: {exc.strerror}"
        if not stat.S_ISLNK(info.st_mode):
            return walk._judge(absolute, info, through_link=None)
    reason = walk.problem()
    if reason is None and walk.first_link is None:
        trusted_folders.add(folder)
    return reason


def why_not_private(info: os.stat_result) -> Optional[str]:
    """None if the open file described by `info` is a regular file of ours that we can
    append to safely (for --events); otherwise what is wrong with it."""
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        return f"is owned by {_owner(info.st_uid)}, not by you"
    if info.st_nlink > 1:  # a hard link planted to some other file of ours
        return "has other hard links"
    return None


def without_untrusted_saves(events: Iterable, trust_shared: bool) -> List:
    """The watcher's events, less the saves of files that fail the rule: each of those
    is reported as an error and dropped, so the program keeps its current code. An
    event is a (kind, path, ...) sequence; only kind "changed" carries new code."""
    from .logs import logger

    kept = []
    for event in events:
        kind, path = event[0], event[1]
        reason = None if trust_shared or kind != "changed" else why_untrusted(path)
        if reason is None:
            kept.append(event)
        else:
            logger.error(f"{path}: save not applied, the program keeps its current code: "
                         f"{reason}; {HINT}", path)
    return kept


class _Entry:  # a plain class: dataclasses and typing cost milliseconds to import
    __slots__ = ("path", "info", "through_link")

    def __init__(self, path: str, info: os.stat_result, through_link: Optional[str]):
        self.path = path
        self.info = info
        self.through_link = through_link  # the first symbolic link followed to get here


_SLOW_WALK = object()
_prefixes: Dict[str, List[str]] = {}  # absolute path -> "/" and each path above it
_verdicts: Dict[tuple, Optional[str]] = {}  # (uid, path, what stat_paths found) -> reason


def _remember(cache: dict, key, value) -> None:
    if len(cache) > 4096:  # many files, or modes changing over and over
        cache.clear()
    cache[key] = value


class _Stat:  # the fields of os.stat_result that the rule reads
    __slots__ = ("st_mode", "st_uid", "st_gid")

    def __init__(self, mode: int, uid: int, gid: int):
        self.st_mode, self.st_uid, self.st_gid = mode, uid, gid


class _PathWalk:
    """Walks an absolute path from the root, entry by entry, following links."""

    def __init__(self, uid: int, path: str):
        self.uid = uid
        self.path = path
        self.first_link: Optional[str] = None  # after problem(): the first link followed

    def problem(self) -> Optional[str]:
        quick = self._problem_without_links()
        if quick is not _SLOW_WALK:
            return quick
        return self._walk()

    def _problem_without_links(self):
        """The walk's answer when no entry on the path is a symbolic link (the usual
        case), from one native call that keeps the GIL (see _core.stat_paths);
        _SLOW_WALK when an entry is a link or cannot be read: the walk proper says
        what follows from it. The verdict depends only on the entries' modes and
        owners: for the same ones (every save of a file, usually) it is remembered."""
        entries = _prefixes.get(self.path)
        if entries is None:
            names = [part for part in self.path.split("/") if part not in ("", ".")]
            if ".." in names:
                return _SLOW_WALK
            entries = ["/"] + ["/" + "/".join(names[:count]) for count in range(1, len(names) + 1)]
            _remember(_prefixes, self.path, entries)
        found = _core.stat_paths(entries, with_mtime=False)
        key = (self.uid, self.path, found)
        if key in _verdicts:
            return _verdicts[key]
        reason = None
        for entry, (error, mode, uid, gid) in zip(entries, found):
            if error or stat.S_ISLNK(mode):
                return _SLOW_WALK
            reason = self._judge(entry, _Stat(mode, uid, gid), through_link=None)
            if reason is not None:
                break
        _remember(_verdicts, key, reason)
        return reason

    def _walk(self) -> Optional[str]:
        pending = _components(self.path)  # what is left to walk, last component first
        current = "/"
        first_link: Optional[str] = None
        links = 0
        try:
            reason = self._judge(current, os.lstat(current), through_link=None)
        except OSError as exc:
            return f"{current} cannot be checked: {exc.strerror}"
        while reason is None and pending:
            name = pending.pop()
            if name == "..":  # `current` never holds a link, so its parent is real
                current = os.path.dirname(current)
                continue
            entry = os.path.join(current, name)
            try:
                info = os.lstat(entry)
                target = os.readlink(entry) if stat.S_ISLNK(info.st_mode) else None
            except OSError as exc:
                return f"{entry} cannot be checked: {exc.strerror}"
            reason = self._judge(entry, info, through_link=first_link)
            if target is None:
                current = entry
                continue
            links += 1
            if links > _MAX_LINKS:
                return f"it goes through more than {_MAX_LINKS} symbolic links"
            first_link = self.first_link = first_link or entry
            pending.extend(_components(target))
            if os.path.isabs(target):
                current = "/"
        return reason

    def _judge(self, path: str, info: os.stat_result,
               through_link: Optional[str]) -> Optional[str]:
        fault = self._fault(info)
        if fault is None:
            return None
        return f"{self._subject(_Entry(path, info, through_link))} {fault}"

    def _fault(self, info: os.stat_result) -> Optional[str]:
        mode = info.st_mode
        if info.st_uid not in (self.uid, 0):
            return f"is owned by {_owner(info.st_uid)}"
        if stat.S_ISLNK(mode):  # a link's own mode means nothing; it cannot be edited
            return None
        writers = self._other_writers(info)
        if writers is None:
            return None
        if stat.S_ISDIR(mode):
            if mode & stat.S_ISVTX:
                return None
            return f"is writable by {writers} (mode {_mode(mode)}, no sticky bit)"
        return f"is writable by {writers} (mode {_mode(mode)})"

    def _other_writers(self, info: os.stat_result) -> Optional[str]:
        if info.st_mode & stat.S_IWOTH:
            return "other users"
        if info.st_mode & stat.S_IWGRP and not _is_private_group(info.st_gid, self.uid):
            return f"group {_group_name(info.st_gid)}"
        return None

    def _subject(self, entry: _Entry) -> str:
        """How the reason names the entry at fault, from the watched file's view."""
        is_link = stat.S_ISLNK(entry.info.st_mode)
        if entry.path == self.path:
            return "it (a symbolic link)" if is_link else "it"
        kind = ("the symbolic link" if is_link else
                "the directory" if stat.S_ISDIR(entry.info.st_mode) else "the file")
        if entry.through_link:
            return f"{kind} {entry.path} (reached through the symbolic link {entry.through_link})"
        if os.path.dirname(self.path) == entry.path:
            return f"its directory {entry.path}"
        return f"{kind} {entry.path}"


def _components(path: str) -> List[str]:
    return [part for part in reversed(path.split("/")) if part not in ("", ".")]


def _mode(mode: int) -> str:
    return format(stat.S_IMODE(mode), "04o")


@functools.lru_cache(maxsize=None)
def _is_private_group(gid: int, uid: int) -> bool:
    """Whether `gid` is `uid`'s user private group: its primary group, named after it,
    with no other member (listed in the group, or having it as primary group)."""
    try:
        import grp
        import pwd

        user = pwd.getpwuid(uid)
        group = grp.getgrgid(gid)
    except (ImportError, KeyError):
        return False
    if user.pw_gid != gid or group.gr_name != user.pw_name:
        return False
    if any(member != user.pw_name for member in group.gr_mem):
        return False
    return not any(other.pw_gid == gid and other.pw_uid != uid for other in pwd.getpwall())


def _owner(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _group_name(gid: int) -> str:
    try:
        import grp

        return grp.getgrgid(gid).gr_name
    except (ImportError, KeyError):
        return str(gid)
