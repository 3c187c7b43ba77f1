# Whether a git command is rewriting the work tree of a saved file: git holds
# `.git/index.lock` from the start to the end of a checkout, merge, rebase or stash,
# so the saves it makes can be applied as one batch even though they complete
# milliseconds apart and no quiet period is waited for. A lock left behind by a git
# command that died is not a checkout: it would hold every save for CHECKOUT_HOLD_S.

from __future__ import annotations

import os
import time

from . import _core

TYPE_CHECKING = False  # typing costs ~5 ms of start-up: annotations only (strings)
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, Optional

# A lock older than this is git's only while a git process runs (a long checkout keeps
# the lock it took at its start); otherwise it was left by a git that died.
STALE_AFTER_S = 3.0

_git_dirs: Dict[str, Optional[str]] = {}  # directory -> its repository's git dir


# A git command whose index is younger than this has just ended: the saves it made may
# still be on their way to the watcher (under load, the last of a checkout's files can
# arrive after its lock is gone).
JUST_ENDED_S = 1.0


# What `activity` finds of git in the repositories of saved files.
QUIET, RUNNING, JUST_ENDED = "quiet", "running", "just ended"


def activity(paths: Iterable[str]) -> str:
    """RUNNING if a git command locks the repository of any of these files, else
    JUST_ENDED if one wrote its index in the last JUST_ENDED_S (a checkout, merge or
    stash that just completed), else QUIET. Asked on every save: one look at each
    repository. Not os.stat: it lets go of the GIL, and getting it back from the
    program costs more than the call (see _core.stat_paths)."""
    git_dirs = _git_dirs_of(paths)
    if not git_dirs:
        return QUIET
    files = [os.path.join(git_dir, name) for git_dir in git_dirs
             for name in ("index.lock", "index")]
    found = _core.stat_paths(files, follow_symlinks=True)
    now = time.time()
    locks, indexes = found[0::2], found[1::2]
    if any(not error and (now - mtime_ns / 1e9 < STALE_AFTER_S or _git_running())
           for error, _, _, _, mtime_ns in locks):
        return RUNNING
    if any(not error and now - mtime_ns / 1e9 < JUST_ENDED_S
           for error, _, _, _, mtime_ns in indexes):
        return JUST_ENDED
    return QUIET


def in_progress(paths: Iterable[str]) -> bool:
    """Whether the repository of any of these files is locked by a git command."""
    return activity(paths) == RUNNING


def _git_dirs_of(paths: Iterable[str]) -> List[str]:
    found: List[str] = []
    for path in paths:
        git_dir = _git_dir_of(os.path.dirname(path))
        if git_dir is not None and git_dir not in found:
            found.append(git_dir)
    return found


def _git_running() -> bool:
    """Whether any git process runs (Linux: /proc; elsewhere assume one may)."""
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return True
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm", "rb") as file:
                if file.read().strip() == b"git":
                    return True
        except OSError:
            continue
    return False


def _git_dir_of(directory: str) -> Optional[str]:
    if directory in _git_dirs:
        return _git_dirs[directory]
    git_dir = _read_git_dir(directory)
    if git_dir is None:
        parent = os.path.dirname(directory)
        if parent and parent != directory:
            git_dir = _git_dir_of(parent)
    _git_dirs[directory] = git_dir
    return git_dir


def _read_git_dir(directory: str) -> Optional[str]:
    dot_git = os.path.join(directory, ".git")
    if os.path.isdir(dot_git):
        return dot_git
    try:  # a worktree or submodule: ".git" is a file naming the real git dir
        with open(dot_git, encoding="utf-8") as file:
            line = file.readline().strip()
    except OSError:
        return None
    if not line.startswith("gitdir:"):
        return None
    return os.path.join(directory, line[len("gitdir:"):].strip())
