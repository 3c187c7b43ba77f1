"""The `jurigged` command: turns its command line into calls of the public API."""

from __future__ import annotations

import argparse
import math
import sys
from typing import List, Optional, Tuple

from . import config, live, processes, runner
from .logs import logger, write_events
from .version import __version__

DEFAULT_DEBOUNCE = live.watch.__kwdefaults__["debounce"]

USAGE = """\
jurigged [options] [PATH [ARG ...] | -m MODULE[:FUNCTION] [ARG ...]]
       jurigged --defs FILE [FILE ...]"""

DESCRIPTION = """\
Run a Python program and update it while it runs: when you save a watched file,
the functions, classes and statements you changed are patched into the process.

what to run:
  PATH [ARG ...]        run the script PATH (or a directory holding __main__.py)
                        exactly as `python PATH ARG ...` would. Everything after
                        PATH belongs to the script, even what looks like an option
                        of jurigged: `jurigged app.py -v` gives -v to app.py.
  -m MODULE [ARG ...]   run a module as `python -m MODULE ARG ...` would (a package
                        runs its __main__ submodule).
  -m MODULE:FUNCTION [ARG ...]
                        import MODULE and call FUNCTION() with no arguments (the
                        ARGs are in sys.argv). What it returns is the exit status,
                        as with sys.exit: None or 0 for success, an int, or a
                        message printed on stderr with status 1.
  nothing               open an interactive prompt: the watched modules you
                        import from it stay live.
  The exit status is the program's. If jurigged cannot start it (no such file,
  module or function, or a bad option), it prints one line and exits with 2."""

EPILOG = """\
which files are watched:
  Only files that the program runs are watched: the script and the modules it
  imports (not files that are never imported). Without -w, those are the *.py
  files under the current directory, plus the script itself wherever it is.
  With -w, exactly what the patterns match, the script included only if it
  matches: `jurigged -w lib.py app.py` watches lib.py but not app.py.
  A pattern is a file, a directory (every file under it) or a glob relative to
  the current directory, matched like fnmatch (as jurigged 0.6.1 does): * matches
  any characters, / included (src/*.py also matches src/sub/x.py), ** any number
  of folders, and a folder it matches stands for every file under it; quote globs
  so that the shell leaves them alone. ~ is expanded.
  Wildcards and directory patterns never look inside virtual environments (a
  folder with pyvenv.cfg or conda-meta), site-packages, dist-packages,
  __pycache__ or hidden folders (.git, .venv, ...), unless the pattern names that
  folder itself (-w .venv). --exclude removes what it matches, whatever it is.
  A path matches if it does either as written or with symbolic links resolved.

trust:
  jurigged runs no code that another account could have written. A file is not
  watched, and a save of it is not applied (the program keeps its current code),
  if someone other than you or root could change it: it is writable by other
  users or by a group other than your private one, owned by another user, in a
  directory (or under one) that is owned by another user or writable by others
  without the sticky bit, or reached through a symbolic link that fails the same
  test. One line says which file and why. --trust-shared (trust_shared = true in
  [tool.jurigged], or JURIGGED_TRUST_SHARED=1) accepts them, for shared project
  folders or mounts that show every file as writable by all.

child processes:
  The program's children are live too: a child made by fork (multiprocessing's
  fork context, gunicorn workers) gets its own watcher at once, and a new Python
  process of the same installation (multiprocessing spawn or forkserver,
  ProcessPoolExecutor, uvicorn --workers, subprocess runs of sys.executable)
  watches the same files with the same settings, told through the environment
  variable JURIGGED_HANDOFF. Children print no Watch/Update lines (this process
  does); their errors name their process id. --no-children (children = false in
  [tool.jurigged], or JURIGGED_CHILDREN=0) leaves them running the code they
  started with.

configuration:
  Defaults for -w, --exclude, -d, --poll, --max-file-size, -v, --trust-shared and
  --no-children can be set in the project's pyproject.toml (the nearest one,
  looking no higher than the first directory holding .git), in a [tool.jurigged]
  table (watch, exclude, debounce, poll, max_file_size, verbose, trust_shared,
  children), and in the environment (JURIGGED_WATCH and JURIGGED_EXCLUDE, paths
  separated by ':', JURIGGED_DEBOUNCE, JURIGGED_POLL, JURIGGED_MAX_FILE_SIZE,
  JURIGGED_VERBOSE=1, JURIGGED_TRUST_SHARED=1, JURIGGED_CHILDREN=0). The
  environment overrides pyproject.toml; options on the command line override both.
  A pyproject.toml that fails the trust test above is ignored, with a notice."""


def main(argv: Optional[List[str]] = None) -> int:
    """Run jurigged with the arguments `argv` (default: sys.argv[1:]) and return the
    exit status. An interrupted program (Ctrl-C) ends with KeyboardInterrupt raised,
    its traceback already printed."""
    try:
        options = _parse(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit:  # --help, --version and usage errors, already printed
        return exit.code

    if options.defs:
        from . import defs  # only this rarely used mode needs it

        return defs.run(options.defs)
    if options.explain:
        from . import explain  # only this rarely used mode needs it

        return explain.run(options.explain)

    try:
        settings = config.load(trust_shared=options.trust_shared)
    except config.ConfigError as error:
        return _error(str(error))
    # Flags override the environment, which overrides pyproject.toml.
    watch = options.watch or settings.watch or None
    exclude = options.exclude or settings.exclude
    debounce = settings.debounce if options.debounce is None else options.debounce
    poll = settings.poll if options.poll is None else options.poll
    verbose = options.verbose or settings.verbose
    trust_shared = options.trust_shared or settings.trust_shared
    max_file_size = (settings.max_file_size if options.max_file_size is None
                     else options.max_file_size)
    children = settings.children and not options.no_children
    if options.events:
        from .trust import UntrustedFile

        try:
            write_events(logger, options.events)
        except OSError as error:
            return _error(f"cannot write events to {options.events}: {error.strerror}")
        except UntrustedFile as error:
            return _error(f"cannot write events: {error}")

    try:
        prepare = _develoop_hook(options)
    except ValueError as error:
        return _error(str(error))

    try:
        program = None if options.target is None else runner.find_program(
            options.target, options.args, as_module=options.as_module)
        # Someone running a script expects it to be live, wherever it is.
        as_script = options.target is not None and not options.as_module
        always = [options.target] if as_script and not watch else []
        watcher = live.watch(
            processes.FilterSpec.here(watch, exclude, always=always),
            exclude=exclude, debounce=debounce, poll=poll, verbose=verbose,
            trust_shared=trust_shared, max_file_size=max_file_size, children=children)
        if program is None:
            return _prompt_only()
        ending = program.run(watcher.track, prepare)
    except runner.StartError as error:
        return _error(str(error))

    if options.interactive:
        if ending is not None:
            runner.report(ending)
        return _interact(program.namespace)
    if isinstance(ending, KeyboardInterrupt):
        runner.report(ending)
        raise KeyboardInterrupt
    return runner.exit_status(ending)


def entry() -> None:
    """The `jurigged` console script (and `python -m jurigged`)."""
    try:
        status = main()
    except KeyboardInterrupt:
        # Python ends a program interrupted by Ctrl-C by killing itself with SIGINT
        # after its normal shutdown (atexit handlers, flushing), so that the shell
        # sees the interruption. Letting the interrupt escape makes Python do just
        # that; its traceback was printed already, so the final report is silenced.
        sys.excepthook = lambda *exc_info: None
        raise
    sys.exit(status)


def _develoop_hook(options: argparse.Namespace) -> runner.Prepare:
    """The runner hook that puts the --loop/--xloop functions in the develoop once the
    program's definitions exist (None without those options)."""
    if not (options.loop or options.xloop):
        return None
    from . import develoop
    from .develoop import names

    if options.loop_interface == "rich" and not develoop.rich_available():
        raise ValueError("--loop-interface rich needs rich: "
                         "pip install 'jurigged[develoop]'")
    develoop.default_interface = options.loop_interface
    names.requests[:] = ([names.parse(name) for name in options.loop]
                         + [names.parse(name, only_on_error=True) for name in options.xloop])
    # Under pytest a NAME may be a test, which the pytest plugin loops when it runs.
    tests_later = options.as_module and (options.target or "").split(".")[0] == "pytest"
    return lambda module: names.install_all(module, tests_later=tests_later)


def _prompt_only() -> int:
    from . import repl  # the prompt's modules (code, codeop) only when there is one

    sys.argv = [""]
    runner.set_path0("")
    banner = (f"{repl.python_banner()}\njurigged {__version__}: the watched modules "
              f"you import are updated when their files change.")
    return _interact(runner.fresh_main().__dict__, banner)


def _interact(namespace: dict, banner: str = "") -> int:
    from . import repl

    try:
        repl.interact(namespace, banner)
    except SystemExit as exit:
        return runner.exit_status(exit)
    return 0


def _error(message: str) -> int:
    print(f"jurigged: error: {message}", file=sys.stderr)
    return 2


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


def _parse(argv: List[str]) -> argparse.Namespace:
    """The options of `argv` (see _Parser.parse). The common `jurigged PROGRAM ARG...`
    has none of ours: it skips building the parser, which costs ~3 ms of every start
    (argparse looks for translations and the terminal's size on the way)."""
    if argv and not argv[0].startswith("-"):
        return _without_options(argv[0], argv[1:])
    return _Parser().parse(argv)


def _without_options(target: str, args: List[str]) -> argparse.Namespace:
    """What _Parser().parse([target, *args]) returns (tests/test_cli.py checks it)."""
    return argparse.Namespace(
        verbose=False, watch=None, exclude=[], debounce=None, poll=None,
        max_file_size=None, interactive=False, trust_shared=False, no_children=False,
        events=None, loop=[], xloop=[], loop_interface=None, defs=None, explain=None,
        as_module=False, target=target, args=list(args))


class _Parser(argparse.ArgumentParser):
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
