"""The interactive prompt jurigged opens when it has no program to run, or after the
program ends with `-i`."""

from __future__ import annotations

import code
import contextlib
import os
import sys

HISTORY_FILE = os.path.join(os.path.expanduser("~"), ".jurigged_history")
HISTORY_LENGTH = 1000


def interact(namespace: dict, banner: str = "") -> None:
    """Read and run commands in `namespace` until end of input (Ctrl-D). SystemExit
    (`exit()`, `sys.exit(3)`) propagates to the caller."""
    console = _Console(namespace, filename="<stdin>")
    with _line_editing(namespace):
        console.interact(banner=banner, exitmsg="")


class _Console(code.InteractiveConsole):
    def raw_input(self, prompt: str = "") -> str:
        if sys.stdin.isatty():
            return input(prompt)
        # Like Python's prompt when input is piped in: prompts go to stderr, so that
        # stdout holds only what the commands print.
        sys.stderr.write(prompt)
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\n")


def python_banner() -> str:
    """The first lines Python's own prompt prints."""
    return (f"Python {sys.version} on {sys.platform}\n"
            'Type "help", "copyright", "credits" or "license" for more information.')


@contextlib.contextmanager
def _line_editing(namespace: dict):
    """Line editing, history kept across sessions and tab completion of the names in
    `namespace`, for a person typing at a terminal."""
    readline = _readline()
    if readline is None:
        yield
        return
    import rlcompleter

    readline.set_completer(rlcompleter.Completer(namespace).complete)
    if "libedit" in (readline.__doc__ or ""):
        readline.parse_and_bind("bind ^I rl_complete")
    else:
        readline.parse_and_bind("tab: complete")
    with contextlib.suppress(OSError):
        readline.read_history_file(HISTORY_FILE)
    try:
        yield
    finally:
        readline.set_history_length(HISTORY_LENGTH)
        with contextlib.suppress(OSError):
            readline.write_history_file(HISTORY_FILE)


def _readline():
    """The readline module when input comes from a terminal and the module exists
    (it does not everywhere), else None."""
    if not sys.stdin.isatty():
        return None
    try:
        import readline
    except ImportError:
        return None
    return readline
