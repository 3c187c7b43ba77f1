"""The test develoop, as a pytest plugin (registered through the pytest11 entry point).

It does nothing unless asked: by `jurigged --loop NAME -m pytest` (the NAMEs of the
command line), or by `pytest --jurigged-loop NAME` / `--jurigged-xloop NAME`. A test
whose name matches (globs allowed: `--jurigged-xloop 'test_*'` loops every failing
test) runs in the develoop: each save re-runs it in the same process, so imports and
session fixtures are paid once; `c` lets pytest go on with the last outcome.

Under jurigged, it also makes sure that the test files, which pytest's assertion
rewriter imports, are watched: jurigged's import hook is moved in front of pytest's."""

from __future__ import annotations

import inspect
import sys
from typing import List

_KEY = "_jurigged_requests"


def pytest_addoption(parser) -> None:
    group = parser.getgroup("jurigged", "jurigged test develoop")
    group.addoption("--jurigged-loop", action="append", default=[], metavar="NAME",
                    help="run the tests named NAME (func, Class.method, module:func; "
                         "globs allowed) in jurigged's develoop: re-run on every save")
    group.addoption("--jurigged-xloop", action="append", default=[], metavar="NAME",
                    help="like --jurigged-loop, entered only when the test fails")
    group.addoption("--jurigged-loop-interface", choices=["rich", "basic"], default=None,
                    help="how the develoop shows its runs (default: rich if installed)")


def _requests(config) -> List:
    return getattr(config, _KEY, [])


def pytest_configure(config) -> None:
    _watch_test_files()
    from .develoop import names

    requests = list(names.requests)
    try:
        requests += [names.parse(n) for n in config.getoption("jurigged_loop")]
        requests += [names.parse(n, only_on_error=True)
                     for n in config.getoption("jurigged_xloop")]
    except ValueError as error:
        import pytest

        raise pytest.UsageError(str(error))
    setattr(config, _KEY, requests)
    interface = config.getoption("jurigged_loop_interface")
    if interface is not None:
        from . import develoop

        develoop.default_interface = interface
    if requests and not names.requests:
        # Plain `pytest --jurigged-loop`: nobody is watching the files yet.
        from . import live

        if getattr(live, "_watcher", None) is None:
            live.watch(str(config.rootpath))
        _watch_test_files()


def pytest_collection(session) -> None:
    _watch_test_files()


def _watch_test_files() -> None:
    """Put jurigged's import hook (when jurigged is running in this process) first
    on sys.meta_path, so that it sees the test modules pytest's rewriter loads."""
    from .registry import registry

    finder = getattr(registry, "_finder", None)
    if finder is not None and sys.meta_path and sys.meta_path[0] is not finder:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        sys.meta_path.insert(0, finder)


def _wanted(config, item):
    function = getattr(item, "function", None)
    if function is None or inspect.iscoroutinefunction(function):
        return None
    module = getattr(getattr(item, "module", None), "__name__", "")
    qualname = getattr(function, "__qualname__", item.name)
    for request in _requests(config):
        if request.matches(qualname, module) or request.matches(item.name, module):
            return request
    return None


def pytest_pyfunc_call(pyfuncitem):
    request = _wanted(pyfuncitem.config, pyfuncitem)
    if request is None:
        return None
    from .develoop import Develoop

    arguments = {name: pyfuncitem.funcargs[name]
                 for name in pyfuncitem._fixtureinfo.argnames}
    looped = Develoop(pyfuncitem.obj, only_on_error=request.only_on_error)
    capture = pyfuncitem.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.suspend_global_capture(in_=True)
    try:
        looped(**arguments)
    finally:
        if capture is not None:
            capture.resume_global_capture()
    return True
