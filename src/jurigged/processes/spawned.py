"""The start of a new Python interpreter whose parent watches (multiprocessing's spawn
and forkserver, ProcessPoolExecutor, `uvicorn --workers`, `subprocess` runs of
sys.executable): run by the jurigged .pth file, only when the hand-off environment
variable is set, before any code of the program runs, so that its imports are seen."""

from __future__ import annotations

import os
import sys

from .handoff import ENVIRONMENT_VARIABLE, Handoff

_started = False


def start() -> None:
    """Watch like the parent did. Never raises: a child must start whatever happens."""
    global _started
    if _started:  # site may read the .pth twice (lib and lib64 of a venv)
        return
    _started = True
    text = os.environ.get(ENVIRONMENT_VARIABLE)
    if not text or _runs_jurigged_command():
        return
    try:
        handoff = Handoff.decode(text)
    except Exception as exc:  # bad JSON, unknown keys, a folder that is gone
        sys.stderr.write(f"jurigged: ignoring {ENVIRONMENT_VARIABLE}: {exc}\n")
        return
    if not handoff.matches_this_interpreter() or not handoff.filters:
        return
    try:
        _watch_like_parent(handoff)
    except Exception as exc:
        from ..logs import logger

        logger.error(f"this child process is not live: {exc}", exc=exc)


def _watch_like_parent(handoff: Handoff) -> None:
    from .. import live
    from . import quiet_as_child, reports

    reports.use_token(handoff.reports, child=True)
    quiet_as_child()
    watcher = None
    for spec in handoff.filters:
        watcher = live.watch(spec, debounce=handoff.debounce, poll=handoff.poll,
                             verbose=False, trust_shared=handoff.trust_shared,
                             children=True)
    _track_main_script(watcher)
    _follow_multiprocessing_main(watcher)


def _runs_jurigged_command() -> bool:
    """The `jurigged` command makes its own choices (it may be told --no-children)."""
    own = getattr(sys, "argv", None) or [""]
    if os.path.basename(own[0]) == "jurigged":  # the console script
        return True
    argv = getattr(sys, "orig_argv", None) or own  # `python -m jurigged`
    return any(argv[i] == "-m" and argv[i + 1] == "jurigged"
               for i in range(len(argv) - 1))


def _track_main_script(watcher) -> None:
    """`python script.py`: the script runs in the `__main__` module that exists now,
    from the text on disk now; no import hook sees it, so it is tracked here."""
    path = sys.argv[0] if sys.argv else ""
    if not path or path in ("-c", "-m", "-") or not os.path.isfile(path):
        return
    source = _read(path)
    if source is not None:
        watcher.track(sys.modules["__main__"], os.path.abspath(path), source)


def _follow_multiprocessing_main(watcher) -> None:
    """A multiprocessing spawn child, and the forkserver, run the parent's main script
    again as `__mp_main__` (runpy, which no import hook sees): track it once it has
    run, from the text read just before."""
    if not _may_be_multiprocessing():
        return
    import multiprocessing.spawn as spawn

    original = spawn._fixup_main_from_path

    def fixup_main_from_path(main_path):
        source = _read(main_path) if main_path else None
        original(main_path)
        module = sys.modules.get("__mp_main__")
        if source is not None and module is not None:
            watcher.track(module, os.path.abspath(main_path), source)

    spawn._fixup_main_from_path = fixup_main_from_path


def _may_be_multiprocessing() -> bool:
    if "--multiprocessing-fork" in sys.argv:  # a spawn child
        return True
    if sys.argv[:1] != ["-c"]:
        return False
    # The forkserver runs `python -c "from multiprocessing.forkserver import main..."`;
    # before 3.10 the code of -c is not visible here, so any -c process may be it.
    orig_argv = getattr(sys, "orig_argv", None)
    return orig_argv is None or any("multiprocessing.forkserver" in arg
                                    for arg in orig_argv)


def _read(path: str):
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError:
        return None
