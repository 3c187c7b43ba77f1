"""The `jurigged` command's options, parsed with argparse. Imported only when the
command line has options of ours (see cli._parse): the common `jurigged PROGRAM ARG...`
never pays for argparse."""

from __future__ import annotations

import argparse
import math

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Tuple

from . import config
from .cli import DEFAULT_DEBOUNCE, DESCRIPTION, EPILOG, USAGE, _error
from .version import __version__


def _seconds(text: str) -> float:
    value = _number(text)
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    value = _number(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {text!r}")
    return value


def _size(text: str) -> int:
    try:
        return config.parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a size in bytes (or with K, M or G), at least 1, got {text!r}")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


class Parser(argparse.ArgumentParser):
    """Parses jurigged's own options with argparse, and leaves the program's command
    line (from PATH, from -m, or after `--`) exactly as it was typed: argparse
    would drop a `--` meant for the program."""

    def __init__(self):
        super().__init__(
            prog="jurigged", usage=USAGE, description=DESCRIPTION, epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            # An abbreviated option would hide whether it takes a value from split().
            allow_abbrev=False)
        self._options_with_values = set()
        add = self.add_argument
        add("--version", action="version", version=f"jurigged {__version__}")
        add("-v", "--verbose", action="store_true",
            help="print every change applied (default: only errors)")
        add("-w", "--watch", metavar="PATH", action="append",
            help="watch the files PATH matches: a file, a directory or a glob "
                 "(see below); repeat to watch more (default: the *.py files under "
                 "the current directory, and the script)")
        add("--exclude", metavar="PATTERN", action="append", default=[],
            help="do not watch what PATTERN (a file, a directory or a glob) "
                 "matches; repeatable")
        add("-d", "--debounce", metavar="SECONDS", type=_seconds, default=None,
            help="after a file changes, wait until it has been left alone for "
                 f"SECONDS before updating the program (default: {DEFAULT_DEBOUNCE}; "
                 "0 updates at once)")
        add("--poll", metavar="SECONDS", type=_positive_seconds,
            help="look for changes every SECONDS instead of asking the system to "
                 "report them (for network or container mounts that do not)")
        add("--max-file-size", metavar="BYTES", type=_size,
            help="do not read a watched file bigger than BYTES (a number, or with "
                 "K, M or G: 64M): report it once and skip it until it is smaller "
                 "(default: 16M)")
        add("-i", "--interactive", action="store_true",
            help="when the program ends (even with an error), open an interactive "
                 "prompt in its namespace, like python -i")
        add("--trust-shared", action="store_true",
            help="also watch and update files that other users could change (see "
                 "below); by default they are refused")
        add("--no-children", action="store_true",
            help="leave child processes alone: by default forked children and "
                 "Python processes the program starts watch the same files (see "
                 "below)")
        add("--events", metavar="FILE",
            help="write every event (watch, update, add, delete, run, error, batch) "
                 "as one JSON object per line to FILE, or to stdout with -; FILE is "
                 "created private (mode 0600), and must be a regular file of yours, "
                 "not a symbolic link")
        add("-l", "--loop", metavar="NAME", action="append", default=[],
            help="run function NAME in the develoop: each call re-runs on every "
                 "save until you press c (continue) or q (quit); NAME is func, "
                 "Class.method, module:func.attr or /module/func/attr; repeatable")
        add("-x", "--xloop", metavar="NAME", action="append", default=[],
            help="like --loop, but enter the develoop only when NAME raises")
        add("--loop-interface", choices=["rich", "basic"], default=None,
            help="how the develoop shows its runs (default: rich if installed and "
                 "the output is a terminal, else basic)")
        add("--defs", metavar="FILE", nargs="+",
            help="print the definitions jurigged finds in each FILE, and exit")
        add("--explain", metavar=("OLD", "NEW"), nargs=2,
            help="print what saving file NEW over file OLD would do to the running "
                 "module (what the one commit publishes, what runs after it), "
                 "without running anything, and exit")

    def parse(self, argv: List[str]) -> argparse.Namespace:
        """The options, plus `target` (PATH, MODULE[:FUNCTION] or None), `as_module`
        and `args` (the program's arguments)."""
        own, as_module, program = self.split(argv)
        options = self.parse_args(own)
        if as_module and not program:
            self.error("argument -m: expected a module to run")
        options.as_module = as_module
        options.target = program[0] if program else None
        options.args = program[1:]
        return options

    def split(self, argv: List[str]) -> Tuple[List[str], bool, List[str]]:
        """(jurigged's options, whether -m was given, the program's command line:
        PATH or MODULE then its arguments, or nothing)."""
        i = 0
        while i < len(argv):
            arg = argv[i]
            if arg == "--":
                return argv[:i], False, argv[i + 1:]
            if arg == "-" or not arg.startswith("-"):
                return argv[:i], False, argv[i:]
            if arg.startswith("--"):
                name = arg.partition("=")[0]
                if name in ("--defs", "--explain"):  # its files go on to the end
                    return argv, False, []
                i += 1 if "=" in arg or not self._takes_value(name) else 2
                continue
            # Short options can be joined: -vi, -d0.1, -vd 0.1, -mpkg, -vm pkg.
            i += 1
            for j, letter in enumerate(arg[1:], start=1):
                if letter == "m":
                    joined, module = arg[:j], arg[j + 1:]
                    return (argv[:i - 1] + ([joined] if joined != "-" else []), True,
                            ([module] if module else []) + argv[i:])
                if self._takes_value("-" + letter):
                    i += 0 if arg[j + 1:] else 1
                    break
        return argv, False, []

    def _takes_value(self, option: str) -> bool:
        return option in self._options_with_values

    def add_argument(self, *args, **kwargs) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if action.nargs != 0:
            self._options_with_values.update(action.option_strings)
        return action

    def error(self, message: str):
        _error(message)
        self.exit(2)
