"""Settings from `[tool.jurigged]` in the project's pyproject.toml, then from JURIGGED_*
environment variables; command-line flags override both (the CLI applies them last).

The project's pyproject.toml is the nearest one from the current directory up to the
project root, the first directory holding `.git`: a file above the root belongs to
someone else's tree. One that other accounts could change (see trust.py) is ignored
with a notice, unless --trust-shared or JURIGGED_TRUST_SHARED is given (its own
`trust_shared` key cannot vouch for itself).

    [tool.jurigged]
    watch = ["src", "scripts/*.py"]   # like -w, repeatable
    exclude = ["src/generated"]       # like --exclude
    debounce = 0.1                    # like -d (default 0: no extra wait)
    poll = 1.0                        # like --poll
    verbose = true                    # like -v
    trust_shared = true               # like --trust-shared
    max_file_size = "16M"             # like --max-file-size (bytes, or with K/M/G)
    children = false                  # like --no-children

Environment: JURIGGED_WATCH and JURIGGED_EXCLUDE (paths separated by os.pathsep),
JURIGGED_DEBOUNCE, JURIGGED_POLL, JURIGGED_VERBOSE and JURIGGED_TRUST_SHARED
(1/true/yes), JURIGGED_MAX_FILE_SIZE, JURIGGED_CHILDREN (0/false/no/off to leave
child processes alone).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs ~5 ms of start-up: annotations only (strings)
if TYPE_CHECKING:
    from typing import List, Optional

from . import trust
from .logs import logger


def _toml():
    # Imported only when a pyproject.toml is there to read.
    if os.sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - depends on the interpreter
        import tomli as tomllib
    return tomllib


class ConfigError(Exception):
    """A setting with a value jurigged cannot use; the message says which and where."""


class Settings:
    """The settings from pyproject.toml and the environment (a plain class: importing
    dataclasses costs ~4 ms of every start-up)."""

    def __init__(self):
        self.watch: List[str] = []
        self.exclude: List[str] = []
        self.debounce = 0.0
        self.poll: Optional[float] = None
        self.verbose = False
        self.trust_shared = False
        self.max_file_size = 16 * 1024 * 1024
        self.children = True  # child processes are live too
        self.source: Optional[str] = None  # the pyproject.toml that was read, if any


_KEYS = {"watch", "exclude", "debounce", "poll", "verbose", "trust_shared", "max_file_size",
         "children"}


def find_pyproject(start: str) -> Optional[str]:
    """The nearest pyproject.toml from the folder `start` up to the project root (the
    first directory with .git), or None. (os.path, not pathlib: pathlib costs ~3 ms of
    every start-up.)"""
    folder = os.path.abspath(start)
    while True:
        candidate = os.path.join(folder, "pyproject.toml")
        if os.path.isfile(candidate):
            return candidate
        if os.path.exists(os.path.join(folder, ".git")):
            return None
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _number(value, name: str, where: str, minimum: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {name} must be a number of seconds, not {value!r}")
    if number < minimum:
        raise ConfigError(f"{where}: {name} must be at least {minimum}, not {value!r}")
    return number


_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(value) -> int:
    """A number of bytes from an int or a text such as "16M", "512k", "1GiB" (binary
    units); ValueError if it is not one, or not at least 1 byte."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip().lower()
        for suffix in ("ib", "b"):
            if text.endswith(suffix) and text[:-len(suffix)][-1:] in "kmg":
                text = text[:-len(suffix)]
                break
        unit = text[-1:] if text[-1:] in ("k", "m", "g") else ""
        digits = text[:len(text) - len(unit)].strip()
        if not digits.isdigit():
            raise ValueError(value)
        number = int(digits) * _SIZE_UNITS[unit]
    if number < 1:
        raise ValueError(value)
    return number


def _size(value, name: str, where: str) -> int:
    try:
        return parse_size(value)
    except ValueError:
        raise ConfigError(f"{where}: {name} must be a size in bytes (or with K, M or G), "
                          f"at least 1, not {value!r}")


def _paths(value, name: str, where: str, base: str) -> List[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{where}: {name} must be a path or a list of paths")
    return [i if os.path.isabs(os.path.expanduser(i)) else os.path.join(base, i)
            for i in items]


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def load(cwd=None, environ=None, trust_shared: bool = False) -> Settings:
    """The settings in force before command-line flags. `trust_shared` (the flag) lets
    a pyproject.toml that other accounts could change be read."""
    cwd = os.fspath(cwd or os.getcwd())
    environ = os.environ if environ is None else environ
    settings = Settings()
    trust_shared = trust_shared or _truthy(environ.get("JURIGGED_TRUST_SHARED", ""))
    pyproject = find_pyproject(cwd)
    if pyproject is not None and not trust_shared:
        reason = trust.why_untrusted(pyproject)
        if reason is not None:
            logger.notice(f"ignoring {pyproject}: {reason}; {trust.HINT}", pyproject)
            pyproject = None
    if pyproject is not None:
        tomllib = _toml()
        try:
            with open(pyproject, "rb") as f:
                table = tomllib.load(f).get("tool", {}).get("jurigged", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{pyproject}: {exc}")
        where = f"{pyproject} [tool.jurigged]"
        unknown = set(table) - _KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
        base = os.path.dirname(pyproject)
        if "watch" in table:
            settings.watch = _paths(table["watch"], "watch", where, base)
        if "exclude" in table:
            settings.exclude = _paths(table["exclude"], "exclude", where, base)
        if "debounce" in table:
            settings.debounce = _number(table["debounce"], "debounce", where)
        if "poll" in table:
            settings.poll = _number(table["poll"], "poll", where) or None
        if "verbose" in table:
            settings.verbose = bool(table["verbose"])
        if "trust_shared" in table:
            settings.trust_shared = bool(table["trust_shared"])
        if "max_file_size" in table:
            settings.max_file_size = _size(table["max_file_size"], "max_file_size", where)
        if "children" in table:
            settings.children = bool(table["children"])
        settings.source = pyproject
    if environ.get("JURIGGED_WATCH"):
        settings.watch = environ["JURIGGED_WATCH"].split(os.pathsep)
    if environ.get("JURIGGED_EXCLUDE"):
        settings.exclude = environ["JURIGGED_EXCLUDE"].split(os.pathsep)
    if environ.get("JURIGGED_DEBOUNCE"):
        settings.debounce = _number(environ["JURIGGED_DEBOUNCE"], "JURIGGED_DEBOUNCE",
                                    "environment")
    if environ.get("JURIGGED_POLL"):
        settings.poll = _number(environ["JURIGGED_POLL"], "JURIGGED_POLL", "environment") or None
    if environ.get("JURIGGED_VERBOSE"):
        settings.verbose = _truthy(environ["JURIGGED_VERBOSE"])
    if environ.get("JURIGGED_TRUST_SHARED"):
        settings.trust_shared = _truthy(environ["JURIGGED_TRUST_SHARED"])
    if environ.get("JURIGGED_MAX_FILE_SIZE"):
        settings.max_file_size = _size(environ["JURIGGED_MAX_FILE_SIZE"],
                                       "JURIGGED_MAX_FILE_SIZE", "environment")
    if environ.get("JURIGGED_CHILDREN"):
        settings.children = _truthy(environ["JURIGGED_CHILDREN"])
    return settings
