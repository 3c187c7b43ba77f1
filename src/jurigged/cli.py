"""The `jurigged` command: turns its command line into calls of the public API."""

from __future__ import annotations

import sys
import types

TYPE_CHECKING = False  # typing costs ~5 ms of start-up: annotations only (strings)
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

from . import config, live, processes, runner
from .logs import logger, write_events
from .version import __version__

DEFAULT_DEBOUNCE = live.watch.__kwdefaults__["debounce"]

# The parsed command line: argparse's Namespace, or an object with the same attributes
# made without argparse (see _parse).
Options = types.SimpleNamespace

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
        # CPython ends an interrupted program by SIGINT only if nothing runs an exec()
        # or eval() of a string between the interrupt leaving the main script and the
        # exit (one resets the flag it decides by), and the watcher thread may be
        # making dataclasses in its preload then: it ends first, or the exit status
        # was sometimes 1.
        watcher.finish()
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


def _develoop_hook(options: Options) -> runner.Prepare:
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


def _parse(argv: List[str]) -> Options:
    """The options of `argv` (see cli_options.Parser.parse). The common
    `jurigged [-v] [-d SECONDS] ... PROGRAM ARG...` is parsed here: it skips importing
    argparse and building the parser, which cost ~4-8 ms and ~1.5 MB of every start
    (argparse needs re, looks for translations and the terminal's size on the way).
    Anything else (other options, joined short options, a value to complain about,
    -m, --help) goes to the parser."""
    options = _simple(argv)
    if options is not None:
        return options
    from .cli_options import Parser

    return Parser().parse(argv)


# The options _simple parses: flags, and options whose value is the next argument
# (or follows "=" in the long form), with how the value is checked.
_SIMPLE_FLAGS = {"-v": "verbose", "--verbose": "verbose", "-i": "interactive",
                 "--interactive": "interactive", "--trust-shared": "trust_shared",
                 "--no-children": "no_children"}
_SIMPLE_VALUES = {"-d": "debounce", "--debounce": "debounce", "--poll": "poll",
                  "-w": "watch", "--watch": "watch"}


def _simple(argv: List[str]) -> Optional[Options]:
    """What cli_options.Parser().parse(argv) returns, for a command line made of the
    options above followed by a PATH; None for any other (tests/test_cli.py checks
    both agree)."""
    options = _without_options("", [])
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        arg = argv[i]
        name, equals, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in _SIMPLE_FLAGS and not equals:
            setattr(options, _SIMPLE_FLAGS[name], True)
            i += 1
            continue
        if name not in _SIMPLE_VALUES:
            return None
        if not equals:
            if i + 1 >= len(argv):
                return None
            value = argv[i + 1]
            i += 1
        i += 1
        if not value or value.startswith("-"):
            return None  # argparse takes "-..." for an option: let it say so
        dest = _SIMPLE_VALUES[name]
        if dest == "watch":
            options.watch = (options.watch or []) + [value]
            continue
        seconds = _seconds_or_none(value)
        if seconds is None or (dest == "poll" and seconds == 0):
            return None  # the parser says what is wrong with it
        setattr(options, dest, seconds)
    if i >= len(argv) or argv[i] == "-":
        return None
    options.target, options.args = argv[i], list(argv[i + 1:])
    return options


def _seconds_or_none(text: str) -> Optional[float]:
    """float(text) if it is a number of seconds >= 0 (as the parser's check)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value < float("inf") else None


def _without_options(target: str, args: List[str]) -> Options:
    """What cli_options.Parser().parse([target, *args]) returns (tests/test_cli.py
    checks it)."""
    return Options(
        verbose=False, watch=None, exclude=[], debounce=None, poll=None,
        max_file_size=None, interactive=False, trust_shared=False, no_children=False,
        events=None, loop=[], xloop=[], loop_interface=None, defs=None, explain=None,
        as_module=False, target=target, args=list(args))
