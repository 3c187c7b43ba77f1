"""Which files jurigged watches: the rules behind `-w/--watch` and `--exclude`.

A filter answers, for the absolute path of a module's file, "is it watched?".

- With no watch pattern, the Python files (`*.py`) under the current directory are
  watched.
- A watch pattern is one of:
  - a file: that file;
  - a directory: every file under it;
  - a glob, relative to the current directory, matched as fnmatch (and jurigged
    0.6.1) match it: `*` matches any characters, `/` included, so `pkg/*.py` also
    matches `pkg/sub/deep.py`; `**` matches any number of folders (zero included);
    `?` and `[...]` match one character of a name; a folder it matches stands for
    every file under it.
  `~` is expanded. Several patterns add up: a file is watched if any of them matches.
- Nothing inside an *ignored folder* is watched unless the pattern names it: a
  directory pattern that is itself an ignored folder (`-w .venv`) sees everything
  under it, and a glob may spell one out (`-w '**/.config/*.py'`), but a wildcard
  or a directory pattern never walks into one. Ignored folders are: virtual
  environments (a folder holding `pyvenv.cfg`, or a conda environment's
  `conda-meta`), `site-packages`, `dist-packages`, `__pycache__` and hidden
  folders (`.git`, `.venv`, `.tox`, ...).
- `--exclude` patterns (same forms) remove files, ignored folders or not.
- `always` files (the script jurigged runs, when no watch pattern is given) are
  watched wherever they are, unless excluded.
- Symbolic links: a path matches a pattern if either the path as given or its real
  path (links resolved) matches the pattern as given or resolved.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False  # typing costs ~5 ms of start-up: annotations only (strings)
if TYPE_CHECKING:
    from typing import Callable, Iterable, List, Optional, Sequence
    Rule = Callable[[str], bool]


_IGNORED_NAMES = {"__pycache__", "site-packages", "dist-packages"}
_ENVIRONMENT_MARKERS = ("pyvenv.cfg", "conda-meta")
_GLOB_CHARACTERS = set("*?[")


def make_filter(patterns: Optional[Sequence[str]] = None, excludes: Iterable[str] = (),
                *, always: Iterable[str] = (), folder: Optional[str] = None
                ) -> Callable[[str], bool]:
    """Return `watched(path) -> bool` following the rules in this module's docstring.

    Relative patterns are resolved against the current directory at the time of the
    call, so later `os.chdir` calls do not change what is watched. `folder`: where
    the default rule (no patterns) looks instead of the current directory.
    """
    is_ignored = _IgnoredFolders()
    named: set = set()  # the files (and folders) that literal patterns name
    if patterns:
        include = [_rule(pattern, is_ignored, named) for pattern in patterns]
    else:
        include = [_python_files_under(os.path.abspath(folder or os.getcwd()), is_ignored)]
    include += [_rule(path, None, named) for path in always]
    exclude = [_rule(pattern, None, named) for pattern in excludes]
    forms_of = _PathForms()

    def judge(forms) -> bool:
        return (any(rule(form) for rule in include for form in forms)
                and not any(rule(form) for rule in exclude for form in forms))

    # Without globs, a file's verdict depends only on its folder and on whether it is
    # a .py file (the default rule), unless a pattern names the file itself or the
    # file is a symbolic link: the import hook asks this for every module, most of
    # them in a few folders, and the whole judgement costs ~20 us. A file whose name
    # no pattern ends with cannot be named by one, as given or resolved.
    by_folder = {}  # (folder, is a .py file) -> verdict, when no pattern is a glob
    named_names = {os.path.basename(path) for path in named if path}

    def judge_file(path: str, is_link: Optional[bool]) -> bool:
        if is_link is False and None not in named:
            folder, _, name = path.rpartition(os.sep)
            if name not in named_names:
                verdict = by_folder.get((folder, name.endswith(".py")))
                if verdict is None:
                    verdict = by_folder[folder, name.endswith(".py")] = judge(
                        forms_of(path, False))
                return verdict
        return judge(forms_of(path, is_link))

    def watched(path: str) -> bool:
        absolute = os.path.abspath(path)
        return judge_file(absolute, os.path.islink(absolute))

    watched.judge_file = judge_file
    return watched


def accepts_file(accepts: Callable[[str], bool], path: str, is_link: Optional[bool]) -> bool:
    """`accepts(path)`, for a path made absolute by os.path.abspath, whose caller knows
    whether it is a symbolic link (filters made here then skip their own lstat of
    it); `is_link` None: not known."""
    judge_file = getattr(accepts, "judge_file", None)
    return accepts(path) if judge_file is None else judge_file(path, is_link)


def glob_filter(pattern: str) -> Callable[[str], bool]:
    """jurigged 0.6.1's `glob_filter`: `watched(path) -> bool` for one pattern (a glob,
    a file or a directory, `~` expanded), by the rules above."""
    return make_filter([pattern])


def make_exclusion(excludes: Iterable[str]) -> Callable[[str], bool]:
    """Return `excluded(path) -> bool` for `--exclude` patterns alone (used beside
    filters the caller wrote as functions)."""
    rules = [_rule(pattern, None, set()) for pattern in excludes]
    return lambda path: any(rule(form) for rule in rules
                            for form in {os.path.abspath(path), os.path.realpath(path)})


class _PathForms:
    """A path as given (made absolute) and with symbolic links resolved. The folders'
    resolutions are kept (per filter): watch() asks about every imported module, most
    of them in the same few folders, and resolving each path from the root costs one
    lstat per component (~4 ms at start-up for the standard library's modules)."""

    def __init__(self):
        self._real_folders = {}

    def __call__(self, path: str, is_link: Optional[bool] = None) -> set:
        """{the path made absolute, its real path}; `is_link`: whether the file is a
        symbolic link, if the caller knows it."""
        absolute = os.path.abspath(path)
        folder, name = os.path.split(absolute)
        real = os.path.join(self._real_folder(folder), name)
        if is_link is None:
            is_link = os.path.islink(real)
        if is_link:  # the file itself is a link: resolve it all
            real = os.path.realpath(absolute)
        return {absolute, real}

    def _real_folder(self, folder: str) -> str:
        """realpath(folder), for a folder made absolute, from its parent's (kept too):
        the folders of sys.modules share most of their components (the standard
        library's, the environment's), and realpath makes one lstat per component."""
        real = self._real_folders.get(folder)
        if real is None:
            parent, name = os.path.split(folder)
            if not name or parent == folder:
                real = os.path.realpath(folder)
            else:
                candidate = os.path.join(self._real_folder(parent), name)
                try:
                    is_link = stat.S_ISLNK(os.lstat(candidate).st_mode)
                except OSError:  # as realpath: a missing component is kept as it is
                    is_link = False
                real = os.path.realpath(candidate) if is_link else candidate
            self._real_folders[folder] = real
        return real


class _IgnoredFolders:
    """Tells whether a folder is one that patterns do not look into (cached per filter,
    since the same folders come up for every module imported from them)."""

    def __init__(self):
        self._known = {}

    def __call__(self, folder: str) -> bool:
        if folder not in self._known:
            name = os.path.basename(folder)
            self._known[folder] = (
                name.startswith(".") or name in _IGNORED_NAMES
                or any(os.path.exists(os.path.join(folder, marker))
                       for marker in _ENVIRONMENT_MARKERS))
        return self._known[folder]


def _rule(pattern: str, is_ignored: Optional[_IgnoredFolders], named: set) -> Rule:
    """The rule for one pattern; `is_ignored` is None when ignored folders do not
    matter (excludes, explicit files). A path without wildcards is a glob with none:
    it matches itself and, if it is (or one day becomes) a folder, what is under it.
    Adds to `named` the path a literal pattern names (as given and resolved), or None
    for a glob."""
    parts = os.path.abspath(os.path.expanduser(pattern)).split(os.sep)[1:]
    literal = next((i for i, part in enumerate(parts) if _GLOB_CHARACTERS & set(part)),
                   len(parts))
    base = os.sep + os.sep.join(parts[:literal])
    named.update((base, os.path.realpath(base)) if literal == len(parts) else (None,))
    if is_ignored is not None and is_ignored(base):
        is_ignored = None  # the person named this very folder
    return _matching(base, parts[literal:], is_ignored)


def _python_files_under(folder: str, is_ignored: _IgnoredFolders) -> Rule:
    inside = _matching(folder, [], is_ignored)
    return lambda path: path.endswith(".py") and inside(path)


def _matching(base: str, wildcards: List[str], is_ignored: Optional[_IgnoredFolders]
              ) -> Rule:
    """Matches what is under `base` (as given or with links resolved) along the glob
    segments `wildcards`."""
    bases = {base, os.path.realpath(base)}

    def match(path: str) -> bool:
        for root in bases:
            names = _below(path, root)
            if names is not None and _match_parts(wildcards, names, root, is_ignored):
                return True
        return False

    return match


def _below(path: str, folder: str) -> Optional[List[str]]:
    """The components of `path` under `folder` ([] for the folder itself), or None if
    it is not under it."""
    if path == folder:
        return []
    start = folder.rstrip(os.sep) + os.sep
    return path[len(start):].split(os.sep) if path.startswith(start) else None


def _match_parts(segments: List[str], names: List[str], folder: str,
                 is_ignored: Optional[_IgnoredFolders]) -> bool:
    """Match path components `names` (found in `folder`) against glob `segments`."""
    if not segments:  # a match so far: `names` is under a folder that matched
        return is_ignored is None or not _crosses_ignored(folder, names[:-1], is_ignored)
    if not names:
        return all(segment == "**" for segment in segments)
    segment, name = segments[0], names[0]
    inner = os.path.join(folder, name)
    # A folder that a wildcard walks into must not be ignored; one spelled out may.
    may_enter = (len(names) == 1 or is_ignored is None
                 or not _GLOB_CHARACTERS & set(segment) or not is_ignored(inner))
    if segment == "**":
        # `**` either stops before `name` or swallows it and may go on.
        return (_match_parts(segments[1:], names, folder, is_ignored)
                or (may_enter and _match_parts(segments, names[1:], inner, is_ignored)))
    if not _GLOB_CHARACTERS & set(segment):
        return name == segment and _match_parts(segments[1:], names[1:], inner, is_ignored)
    if "*" not in segment:
        return (_glob_match(name, segment) and may_enter
                and _match_parts(segments[1:], names[1:], inner, is_ignored))
    # As in fnmatch (and jurigged 0.6.1), `*` also matches across folders: the segment
    # may stand for several names, as long as it walks into no ignored folder.
    folder_here, spanned = folder, []
    for count, part in enumerate(names, start=1):
        if spanned and is_ignored is not None and is_ignored(folder_here):
            return False
        spanned.append(part)
        folder_here = os.path.join(folder_here, part)
        enterable = (count == len(names) or is_ignored is None
                     or not is_ignored(folder_here))
        if (enterable and _glob_match("/".join(spanned), segment)
                and _match_parts(segments[1:], names[count:], folder_here, is_ignored)):
            return True
    return False


def _crosses_ignored(folder: str, names: List[str], is_ignored: _IgnoredFolders) -> bool:
    """Whether the folders `names`, nested from `folder` down, include an ignored one."""
    for name in names:
        folder = os.path.join(folder, name)
        if is_ignored(folder):
            return True
    return False


def _glob_match(name: str, segment: str) -> bool:
    # fnmatch (and the re module under it) only for patterns with wildcards: the
    # default filter has none, and re costs ~3 ms of start-up.
    import fnmatch

    return fnmatch.fnmatchcase(name, segment)
