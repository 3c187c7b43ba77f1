"""Runs the program given to jurigged as `python` would: a script, a directory or zip
file with a `__main__.py`, a module (`-m`), or a module's function (`-m mod:func`)."""

from __future__ import annotations

import builtins
import importlib
import importlib.machinery
import os
import sys
import types

TYPE_CHECKING = False  # typing costs ~5 ms of start-up: annotations only (strings)
if TYPE_CHECKING:
    from typing import Callable, List, Optional, Tuple
    # track(module, path, source) tells the watcher about a module no import hook sees.
    Track = Callable[[types.ModuleType, str, bytes], object]
    # prepare(module) runs once the program's definitions exist, before its main part
    # (after the last top-level def or class): --loop puts the develoop in place there.
    Prepare = Optional[Callable[[types.ModuleType], None]]


class StartError(Exception):
    """The program cannot be started; the message is one line for the person."""


class Program:
    """Something to run as the main program. `run` returns what ended it: None if it
    finished normally, else the exception (SystemExit included) with a traceback that
    starts in the program's own code."""

    namespace: dict  # the globals an `-i` prompt uses once `run` has returned

    def run(self, track: Track, prepare: Prepare = None) -> Optional[BaseException]:
        raise NotImplementedError


def find_program(target: str, args: List[str], *, as_module: bool) -> Program:
    """The Program for a PATH (`as_module=False`) or a `-m` target. Raises StartError
    when the target plainly cannot run, before anything is imported or watched."""
    if not as_module:
        if os.path.isdir(target) or _is_zipfile(target):
            return _PathEntry(target, args)
        return _Script(target, args)
    module, colon, function = target.partition(":")
    _check_dotted_name(module, "module", target)
    if colon:
        _check_dotted_name(function, "function", target)
        return _Function(module, function, args)
    return _Module(module, args)


def exit_status(ending: Optional[BaseException]) -> int:
    """The exit status Python gives a program that ended with `ending` (None: it
    finished), after reporting it the way Python does."""
    if ending is None:
        return 0
    if isinstance(ending, SystemExit):
        code = ending.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    report(ending)
    return 1


def report(error: BaseException) -> None:
    """Print an uncaught exception through sys.excepthook (which the program may have
    replaced) and keep it for post-mortem debugging, as Python does."""
    sys.last_type, sys.last_value, sys.last_traceback = (
        type(error), error, error.__traceback__)
    if sys.version_info >= (3, 12):
        sys.last_exc = error
    sys.excepthook(type(error), error, error.__traceback__)


def fresh_main(**attributes) -> types.ModuleType:
    """A new `__main__` module with the globals Python gives one, put in sys.modules."""
    module = types.ModuleType("__main__")
    module.__dict__.update(__builtins__=builtins, __annotations__={}, __cached__=None)
    module.__dict__.update(attributes)
    sys.modules["__main__"] = module
    return module


def set_path0(entry: str) -> None:
    """Make `entry` the first place imports look, as Python does for the program it
    runs, unless Python was told not to (-P, -I): then it leaves sys.path alone."""
    if not (getattr(sys.flags, "safe_path", False) or sys.flags.isolated):
        sys.path[0] = entry


class _Script(Program):
    def __init__(self, path: str, args: List[str]):
        try:
            with open(path, "rb") as file:
                self.source = file.read()
        except OSError as error:
            raise StartError(f"can't open file {path!r}: [Errno {error.errno}] "
                             f"{error.strerror}") from None
        self.path = path
        self.args = args
        self.filename = _absolute(path)

    def run(self, track: Track, prepare: Prepare = None) -> Optional[BaseException]:
        sys.argv = [self.path, *self.args]
        set_path0(os.path.dirname(os.path.realpath(self.path)))
        loader = importlib.machinery.SourceFileLoader("__main__", self.filename)
        module = fresh_main(__file__=self.filename, __loader__=loader)
        self.namespace = module.__dict__
        return _execute(module, self.source, self.filename, track, prepare)


class _PathEntry(Program):
    """A directory or a zip file holding `__main__.py`, which Python runs as the
    `__main__` module found on a sys.path that starts with it."""

    def __init__(self, path: str, args: List[str]):
        self.entry = _absolute(path)
        self.spec = importlib.machinery.PathFinder.find_spec("__main__", [self.entry])
        if self.spec is None:
            raise StartError(f"can't find '__main__.py' in {path!r}")
        self.argv = [path, *args]

    def run(self, track: Track, prepare: Prepare = None) -> Optional[BaseException]:
        sys.argv = self.argv
        set_path0(self.entry)
        module = fresh_main()
        self.namespace = module.__dict__
        return _run_spec(module, self.spec, track, prepare)


class _Module(Program):
    def __init__(self, name: str, args: List[str]):
        self.name = name
        self.args = args

    def run(self, track: Track, prepare: Prepare = None) -> Optional[BaseException]:
        # Like `python -m`: argv[0] is "-m" while the parent packages are imported.
        sys.argv = ["-m", *self.args]
        set_path0(os.getcwd())
        module = fresh_main()
        self.namespace = module.__dict__
        spec, error = _call(_find_main_spec, self.name)
        if error is not None:
            return error
        sys.argv[0] = spec.origin
        return _run_spec(module, spec, track, prepare)


class _Function(Program):
    """`module:function`: import the module normally (so it is watched like any other
    import), call the function with no arguments, and treat what it returns as
    sys.exit treats its argument."""

    def __init__(self, module: str, function: str, args: List[str]):
        self.module = module
        self.function = function
        self.args = args

    def run(self, track: Track, prepare: Prepare = None) -> Optional[BaseException]:
        sys.argv = ["-m", *self.args]
        set_path0(os.getcwd())
        module, error = _call(_import, self.module)
        if error is not None:
            self.namespace = fresh_main().__dict__
            return error
        sys.argv[0] = getattr(module, "__file__", None) or self.module
        self.namespace = module.__dict__
        if prepare is not None:
            prepare(module)
        function = module
        for name in self.function.split("."):
            function = getattr(function, name, _missing)
            if function is _missing:
                raise StartError(f"module {self.module!r} has no attribute "
                                 f"{self.function!r}")
        if not callable(function):
            raise StartError(f"{self.module}:{self.function} is not callable")
        result, error = _call(function)
        if error is None and result is not None:
            return SystemExit(result)
        return error


_missing = object()


def _absolute(path: str) -> str:
    """`path` made absolute as Python does for the program it runs: joined to the
    current directory, not normalized (tracebacks and __file__ show it so)."""
    return path if os.path.isabs(path) else os.getcwd() + os.sep + path


def _check_dotted_name(name: str, kind: str, target: str) -> None:
    if not name or not all(part.isidentifier() for part in name.split(".")):
        raise StartError(f"invalid {kind} name in {target!r}")


def _find_main_spec(name: str) -> importlib.machinery.ModuleSpec:
    """The spec `python -m name` runs: the module's, or its `__main__` submodule's
    if it is a package. Imports the parent packages."""
    import importlib.util  # only -m needs it (~0.5 ms of every start)

    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError as error:
        _raise_if_missing(error, name)
        raise
    if spec is None:
        raise StartError(f"No module named {name!r}")
    if spec.submodule_search_locations is not None:
        if name.endswith(".__main__"):
            raise StartError(f"cannot use package {name!r} as the main module")
        try:
            return _find_main_spec(name + ".__main__")
        except StartError:
            raise StartError(f"No module named '{name}.__main__'; {name!r} is a "
                             f"package and cannot be directly executed") from None
    if spec.loader is None:
        raise StartError(f"No code to run in module {name!r}")
    return spec


def _import(name: str) -> types.ModuleType:
    try:
        # The builtin __import__, unlike importlib.import_module, hides importlib's
        # own frames from the traceback of an error in the imported code.
        __import__(name)
    except ModuleNotFoundError as error:
        _raise_if_missing(error, name)
        raise
    return sys.modules[name]


def _raise_if_missing(error: ModuleNotFoundError, name: str) -> None:
    """Turn "the module asked for does not exist" into a StartError; any other missing
    module is an import made by the program itself, hence the program's error."""
    if error.name is not None and (name + ".").startswith(error.name + "."):
        raise StartError(f"No module named {error.name!r}") from None


def _run_spec(module: types.ModuleType, spec: importlib.machinery.ModuleSpec,
              track: Track, prepare: Prepare = None) -> Optional[BaseException]:
    module.__dict__.update(__file__=spec.origin, __cached__=spec.cached,
                           __loader__=spec.loader, __spec__=spec, __package__=spec.parent)
    if isinstance(spec.loader, importlib.machinery.SourceFileLoader):
        source = spec.loader.get_data(spec.origin)
        return _execute(module, source, spec.origin, track, prepare)
    # No source to watch (a .pyc-only module, a zip...): run its code as Python would.
    try:
        code = spec.loader.get_code(spec.name)
    except ImportError:
        code = None
    if code is None:
        raise StartError(f"No code object available for {spec.name!r}")
    error = _call(exec, code, module.__dict__)[1]
    if error is None and prepare is not None:
        prepare(module)  # no source to split: the whole module is its definitions
    return error


def _execute(module: types.ModuleType, source: bytes, filename: str,
             track: Track, prepare: Prepare = None) -> Optional[BaseException]:
    """Compile `source` (its bytes, so that an encoding cookie is honoured) and run it
    in `module`, watched from then on. With `prepare`, the source runs in two parts
    and `prepare` is called between them."""
    try:
        parts = ([compile(source, filename, "exec", dont_inherit=True)]
                 if prepare is None else _split(source, filename))
    except (SyntaxError, ValueError) as error:
        # Python shows a script's syntax error without any traceback above it.
        return error.with_traceback(None)
    track(module, filename, source)
    return _call(_run_parts, parts, module, prepare)[1]


def _run_parts(parts: List[types.CodeType], module: types.ModuleType,
               prepare: Prepare) -> None:
    definitions, main_part = parts if len(parts) == 2 else (parts[0], None)
    exec(definitions, module.__dict__)
    if prepare is not None:
        prepare(module)
    if main_part is not None:
        exec(main_part, module.__dict__)


def _split(source: bytes, filename: str) -> List[types.CodeType]:
    """The code of `source` up to its last top-level def or class, and of the rest
    (the program's main part), compiled with the same `from __future__` flags."""
    import ast  # only --loop splits the program (ast costs ~2 ms of start-up)

    tree = ast.parse(source, filename)
    last = max((i for i, node in enumerate(tree.body) if isinstance(
        node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))), default=-1)
    flags = 0
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                feature = getattr(__import__("__future__"), alias.name, None)
                flags |= getattr(feature, "compiler_flag", 0)
    # The docstring and the `from __future__` imports must stay at the very top.
    leading = 0
    for index, node in enumerate(tree.body):
        if (isinstance(node, ast.ImportFrom) and node.module == "__future__") or (
                index == 0 and _is_string(node)):
            leading = index + 1
        else:
            break
    last = max(last, leading - 1)
    head = ast.Module(body=tree.body[:last + 1], type_ignores=[])
    rest = ast.Module(body=tree.body[last + 1:], type_ignores=[])
    if rest.body and _is_string(rest.body[0]):
        # A bare string would become the second part's docstring (__doc__).
        rest.body.insert(0, ast.Pass(lineno=rest.body[0].lineno, col_offset=0))
    return [compile(head, filename, "exec", flags=flags, dont_inherit=True),
            compile(rest, filename, "exec", flags=flags, dont_inherit=True)]


def _is_string(node) -> bool:
    import ast

    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def _call(function: Callable, *args) -> Tuple[object, Optional[BaseException]]:
    """Call `function` and return (result, None), or (None, the exception) with the
    frames of jurigged and of importlib's machinery cut from the head of the traceback."""
    try:
        return function(*args), None
    except StartError:
        raise
    except BaseException as error:
        traceback = error.__traceback__
        while traceback is not None and _is_machinery(traceback.tb_frame.f_code.co_filename):
            traceback = traceback.tb_next
        return None, error.with_traceback(traceback)


_OWN_FILE = os.path.abspath(__file__)
_IMPORTLIB_FOLDER = os.path.dirname(os.path.abspath(importlib.__file__)) + os.sep


def _is_machinery(filename: str) -> bool:
    return (filename == _OWN_FILE or filename.startswith("<frozen importlib")
            or filename.startswith(_IMPORTLIB_FOLDER))


def _is_zipfile(path: str) -> bool:
    # zipfile is imported only when the file's tail holds a zip's end-of-directory
    # record (a zip application, whatever its name, as python runs it); most runs
    # never need it.
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - (22 + 65535)))
            if b"PK\x05\x06" not in handle.read():
                return False
    except OSError:
        return False
    import zipfile

    return zipfile.is_zipfile(path)
