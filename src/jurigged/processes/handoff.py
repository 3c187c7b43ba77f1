"""The settings a watching process hands to the Python processes it starts, through
one environment variable that they inherit (the only thing a bootstrap can read
before any code of theirs runs). JSON, so that nothing in it is ever executed."""

from __future__ import annotations

import os
import sys
import types

TYPE_CHECKING = False  # typing costs ~5 ms of start-up: annotations only (strings)
if TYPE_CHECKING:
    from typing import Callable, Iterable, List, Optional

# Set in a watching process's own environment, so every child inherits it. The .pth
# bootstrap looks for this name and for nothing else.
ENVIRONMENT_VARIABLE = "JURIGGED_HANDOFF"


class _Record:
    """Equality, repr and a dict of the FIELDS (the hand-off's JSON); plain classes,
    not dataclasses: importing dataclasses costs ~4 ms of every start-up."""

    FIELDS: tuple = ()

    def as_dict(self) -> dict:
        return {name: _plain(getattr(self, name)) for name in self.FIELDS}

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and all(
            getattr(self, name) == getattr(other, name) for name in self.FIELDS)

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({values})"


def _plain(value):
    if isinstance(value, _Record):
        return value.as_dict()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class FilterSpec(_Record):
    """One watch filter in a form another process can rebuild: absolute patterns (so a
    child with another current directory watches the same files), or `watch=None` for
    the default (the *.py files under `cwd`). It is itself the filter: `spec(path)`
    tells whether `path` is watched, so watch() takes it as a pattern."""

    FIELDS = ("watch", "exclude", "always", "cwd")
    __hash__ = None  # mutable, compared by value

    def __init__(self, watch: Optional[List[str]], exclude: Optional[List[str]] = None,
                 always: Optional[List[str]] = None, cwd: str = ""):
        self.watch = watch
        self.exclude = [] if exclude is None else exclude
        self.always = [] if always is None else always
        self.cwd = cwd
        self._rule = self._build()  # built now, while the current directory is known

    def __call__(self, path: str) -> bool:
        return self._rule(path)

    def judge_file(self, path: str, is_link: Optional[bool]) -> bool:
        """See filters.accepts_file."""
        return self._rule.judge_file(path, is_link)

    @classmethod
    def here(cls, watch: Optional[Iterable[str]], exclude: Iterable[str] = (),
             always: Iterable[str] = ()) -> "FilterSpec":
        """The spec of `make_filter(watch, exclude, always=always)` called now."""
        return cls(_absolute(watch) if watch else None, _absolute(exclude),
                   _absolute(always), os.getcwd())

    def _build(self) -> Callable[[str], bool]:
        from ..filters import make_filter

        if self.watch:
            return make_filter(self.watch, self.exclude, always=self.always)
        # The default filter is "under the current directory": the parent's (if it
        # is still there).
        folder = self.cwd if self.cwd and os.path.isdir(self.cwd) else None
        return make_filter(None, self.exclude, always=self.always, folder=folder)


class Handoff(_Record):
    """What a child needs to watch like its parent."""

    FIELDS = ("prefix", "filters", "debounce", "poll", "trust_shared", "reports")
    __hash__ = None

    def __init__(self, prefix: str, filters: Optional[List[FilterSpec]] = None,
                 debounce: float = 0.05, poll: Optional[float] = None,
                 trust_shared: bool = False, reports: str = ""):
        self.prefix = prefix  # the parent's sys.prefix: another installation ignores it
        self.filters = [] if filters is None else filters
        self.debounce = debounce
        self.poll = poll
        self.trust_shared = trust_shared
        self.reports = reports  # the token under which processes claim what they print

    def encode(self) -> str:
        return _to_json(self.as_dict())

    @classmethod
    def decode(cls, text: str) -> "Handoff":
        """Raises ValueError (json.JSONDecodeError included) or TypeError on bad text."""
        import json  # only a child reads it; writing needs no json (see _to_json)

        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        data["filters"] = [FilterSpec(**spec) for spec in data.get("filters", [])]
        return cls(**data)

    def matches_this_interpreter(self) -> bool:
        return os.path.realpath(sys.prefix) == os.path.realpath(self.prefix)


def spec_of_pattern(pattern, exclude: Iterable[str]) -> Optional[FilterSpec]:
    """The spec of what watch(pattern, exclude=...) watches, or None when the pattern
    is a function (which cannot travel to another process). A list drops its
    functions and keeps the rest."""
    if isinstance(pattern, FilterSpec):
        return pattern
    if callable(pattern) and not isinstance(pattern, types.ModuleType):
        return None
    if pattern is None:
        return FilterSpec.here(None, exclude)
    items = [pattern] if isinstance(pattern, (str, types.ModuleType)) else list(pattern)
    paths = []
    for item in items:
        if isinstance(item, types.ModuleType) or (isinstance(item, str)
                                                   and item in sys.modules):
            from ..live import _module_path

            paths.append(_module_path(item))
        elif isinstance(item, str):
            paths.append(item)
    return FilterSpec.here(paths, exclude) if paths else None


def _absolute(paths: Iterable[str]) -> List[str]:
    return [os.path.abspath(os.path.expanduser(path)) for path in paths]


def _to_json(value) -> str:
    """`value` (dicts, lists, strings, numbers, booleans, None) as compact JSON. Every
    watching process writes its hand-off at start-up, and importing the json package
    costs ~1.5 ms there (it compiles its decoder's patterns); the string escaping is
    the C accelerator's, as json.dumps itself uses."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"not a JSON number: {value!r}")
        return repr(value) if isinstance(value, float) else str(int(value))
    if isinstance(value, dict):
        return "{" + ",".join(f"{_json_string(str(key))}:{_to_json(item)}"
                              for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_to_json(item) for item in value) + "]"
    raise TypeError(f"cannot hand {type(value).__name__} to a child")


def _json_string(text: str) -> str:
    # The hand-off's strings are paths and names, nearly always printable ASCII with
    # nothing to escape: they need no accelerator (loading _json is ~0.2 ms of every
    # start-up). Anything else is escaped by it, as json.dumps would.
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    from _json import encode_basestring_ascii

    return encode_basestring_ascii(text)
