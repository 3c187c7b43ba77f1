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
