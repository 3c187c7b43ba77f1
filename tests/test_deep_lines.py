"""End to end: code saved deep in a big file (below the line where jurigged compiles a
definition from a compact text and moves it to its lines, see context.py) reports the
lines of the file: tracebacks, co_firstlineno, inspect.getsource, a class's
__firstlineno__ (3.13), and PEP 695 type parameters keep their meaning."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from live_support import probe_loop

# Enough definitions above the edited code to be well past context._PADDING_LIMIT.
FILLER = "".join(f"def filler{i}():\n    return {i}\n\n\n" for i in range(600))

WHERE = """\
def where(function):
    try:
        function()
    except Exception as exc:
        tb = exc.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        return tb.tb_lineno
    return None
"""


def line_of(text: str, fragment: str) -> int:
    return text.splitlines().index(fragment) + 1


def start(run_jurigged, tmp_path: Path, lib: str, probe: str):
    (tmp_path / "lib.py").write_text(lib)
    (tmp_path / "app.py").write_text(probe_loop(probe, imports="import inspect\nimport lib",
                                                setup=WHERE, rounds=6000, catch=False))
    process = run_jurigged("-v", "app.py")
    process.expect("ready", timeout=30)
    return process


def test_lines_of_code_saved_deep_in_a_file(run_jurigged, tmp_path):
    before = FILLER + textwrap.dedent("""\
        class C:
            y = 1

            def m(self):
                return 1
        """)
    after = FILLER + textwrap.dedent("""\
        class C:
            y = 2

            def m(self):
                def inner():
                    return 1 / 0
                return inner()


        def g():
            x = 1
            raise ValueError(x)
        """)
    probe = ("lib.C.y, where(lib.C().m), lib.C.m.__code__.co_firstlineno, "
             "inspect.getsource(lib.C.m).splitlines()[0].strip(), "
             "where(getattr(lib, 'g', lambda: None)), "
             "getattr(lib.C, '__firstlineno__', None)")
    process = start(run_jurigged, tmp_path, before, probe)
    # __firstlineno__ exists from 3.13 on; it must stay the class's line.
    first_line = line_of(before, "class C:") if sys.version_info >= (3, 13) else None
    process.expect(f"R (1, None, {line_of(before, '    def m(self):')}, 'def m(self):', "
                   f"None, {first_line})", stream="out", timeout=30)
    (tmp_path / "lib.py").write_text(after)
    expected = (2, line_of(after, "            return 1 / 0"),
                line_of(after, "    def m(self):"), "def m(self):",
                line_of(after, "    raise ValueError(x)"), first_line)
    process.expect(f"R {expected!r}", stream="out", timeout=30)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="PEP 695 needs Python 3.12")
def test_type_parameters_of_a_class_deep_in_a_file(run_jurigged, tmp_path):
    before = FILLER + textwrap.dedent("""\
        class Box[T]:
            def kind(self):
                return 1
        """)
    after = FILLER + textwrap.dedent("""\
        class Box[T]:
            def kind(self):
                return (T.__name__, 1 / 0)
        """)
    probe = "lib.Box().kind.__code__.co_firstlineno, where(lib.Box().kind)"
    process = start(run_jurigged, tmp_path, before, probe)
    process.expect(f"R ({line_of(before, '    def kind(self):')}, None)", stream="out",
                   timeout=30)
    (tmp_path / "lib.py").write_text(after)
    expected = (line_of(after, "    def kind(self):"),
                line_of(after, "        return (T.__name__, 1 / 0)"))
    process.expect(f"R {expected!r}", stream="out", timeout=30)


# -- the two ways of compiling a compact text agree ----------------------------------

import dis  # noqa: E402
import types  # noqa: E402

from jurigged.context import ContextSource, compile_moved, compile_placed  # noqa: E402

DEEP_FUNCTIONS = [
    "def f():\n    return 1\n",
    "def f(a, b=(1,\n        2)):\n    '''Doc.'''\n    return [x * a for x in b\n            if x]\n",
    "def f(n):\n    def inner(m=n):\n        g = lambda k: (k,\n                       m)\n"
    "        return g(m)\n    return inner() + tuple(i for i in range(n))\n",
    "async def f(stream):\n    async for item in stream:\n        await item\n"
    "    async with stream as s:\n        return s\n",
    "def f(xs):\n    for x in xs:\n        yield x\n    yield from xs\n",
    "def f():\n    try:\n        1 / 0\n    except ZeroDivisionError as e:\n"
    "        raise ValueError(\n            'no') from e\n    finally:\n        pass\n",
    "@staticmethod\n@property\ndef f(self):\n    return f'{self!r:>{10}}' + \\\n        'x'\n",
]
if sys.version_info >= (3, 10):
    DEEP_FUNCTIONS.append("def f(p):\n    match p:\n        case [x, *_] if x:\n"
                          "            return x\n        case {'k': v}:\n            return v\n")
if sys.version_info >= (3, 12):
    DEEP_FUNCTIONS.append("def f[T: int, *Ts](x: T) -> T:\n    type Alias = list[T]\n"
                          "    return x\n")


def _codes(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _where(code: types.CodeType) -> list:
    """Everything a code object and those nested in it say about lines."""
    return [(c.co_name, c.co_firstlineno, list(dis.findlinestarts(c)),
             list(c.co_positions()) if hasattr(c, "co_positions") else None)
            for c in _codes(code)]


def _function_in(module_code: types.CodeType) -> types.CodeType:
    holder = next(c for c in module_code.co_consts if isinstance(c, types.CodeType))
    if holder.co_name == "C":  # the stand-in class: the function is its member
        holder = next(c for c in holder.co_consts if isinstance(c, types.CodeType))
    return holder


@pytest.mark.parametrize("text", DEEP_FUNCTIONS)
@pytest.mark.parametrize("in_class", [False, True], ids=["module", "method"])
def test_moving_a_compiled_function_gives_the_lines_of_compiling_it_in_place(text, in_class):
    body = text.splitlines()
    first = 5000  # the function's first line in the file
    if in_class:
        body = ["class C:"] + ["    " + line if line else line for line in body]
        real_lines = [3000] + list(range(first, first + len(body) - 1))
    else:
        real_lines = list(range(first, first + len(body)))
    context = ContextSource("\n".join(body) + "\n", real_lines)
    placed = _function_in(compile_placed(context, "deep.py", 0))
    moved = _function_in(compile_moved(context, "deep.py", 0))
    assert placed.co_firstlineno == first
    assert _where(moved) == _where(placed)


def test_a_moved_compile_reports_syntax_errors_at_the_file_lines():
    context = ContextSource("class C:\n    def f(:\n        pass\n", [10, 5000, 5001])
    with pytest.raises(SyntaxError) as error:
        compile_moved(context, "deep.py", 0)
    assert error.value.lineno == 5000
