"""End to end: a real `jurigged` process runs a real program, the test edits its files
on disk, and checks what the program does afterwards."""

from __future__ import annotations

import time
from pathlib import Path
from textwrap import dedent

import pytest

from live_support import probe_loop, start_probe_loop

# The program under test imports `lib`, then prints `R <repr(value)>` for the value of
# PROBE every few milliseconds. Tests edit lib.py (or the program) and wait for the new
# value; references to lib's objects are taken once, before any edit.


def write(path: Path, text: str) -> None:
    """Save like an editor that writes in place."""
    path.write_text(text)


def start(run_jurigged, tmp_path, lib: str, probe: str, setup: str = "", *args):
    return start_probe_loop(run_jurigged, tmp_path, probe_loop(probe, setup=setup),
                            {"lib.py": lib}, *args)


def edit(tmp_path, process, lib: str, expect: str, timeout: float = 10):
    write(tmp_path / "lib.py", lib)
    return process.expect(f"R {expect}", stream="out", timeout=timeout)


def test_function_body_and_reference_taken_before(run_jurigged, tmp_path):
    lib = dedent("""\
    def f(x):
        return x + 1
    """)
    p = start(run_jurigged, tmp_path, lib, "(lib.f(1), f(1), callbacks['f'](1), cbs[0](1))",
              "from lib import f\ncallbacks = {'f': lib.f}\ncbs = [lib.f]")
    p.expect("R (2, 2, 2, 2)")
    edit(tmp_path, p, lib.replace("x + 1", "x + 10"), "(11, 11, 11, 11)")
    p.seen("Update lib.f", stream="out")


def test_signature_and_defaults(run_jurigged, tmp_path):
    lib = dedent("""\
    def f(x, y=1):
        return x + y
    """)
    p = start(run_jurigged, tmp_path, lib, "(f(1), f.__defaults__, f.__doc__)", "from lib import f")
    p.expect("R (2, (1,), None)")
    edit(tmp_path, p, dedent('''\
    def f(x, y=5, *, z=2):
        "Doc."
        return x + y + z
    '''), "(8, (5,), 'Doc.')")


def test_methods_instances_bound_methods_and_descriptors(run_jurigged, tmp_path):
    lib = dedent("""\
    import functools
    class C:
        def m(self):
            return "m1"
        @staticmethod
        def s():
            return "s1"
        @classmethod
        def c(cls):
            return "c1"
        @property
        def p(self):
            return self._p
        @p.setter
        def p(self, v):
            self._p = v
        class Inner:
            def i(self):
                return "i1"
    def add(a, b):
        return a + b
    """)
    setup = """\
    obj = lib.C(); bound = obj.m; obj.p = 3; part = __import__('functools').partial(lib.add, 1)
    inner = lib.C.Inner()
    """
    probe = "(obj.m(), bound(), lib.C.s(), obj.c(), obj.p, part(1), inner.i())"
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R ('m1', 'm1', 's1', 'c1', 3, 2, 'i1')")
    new = (lib.replace('"m1"', '"m2"').replace('"s1"', '"s2"').replace('"c1"', '"c2"')
           .replace("return self._p", "return self._p * 10").replace("a + b", "a * b")
           .replace('"i1"', '"i2"'))
    edit(tmp_path, p, new, "('m2', 'm2', 's2', 'c2', 30, 1, 'i2')")


def test_decorated_functions(run_jurigged, tmp_path):
    lib = dedent("""\
    import functools
    def deco(f):
        @functools.wraps(f)
        def wrapper(*args):
            return ("w", f(*args))
        return wrapper
    def plain_deco(f):
        def wrapper(*args):
            return ["p", f(*args)]
        return wrapper
    @deco
    def a():
        return 1
    @plain_deco
    def b():
        return 1
    """)
    p = start(run_jurigged, tmp_path, lib, "(lib.a(), lib.b(), a())", "a = lib.a")
    p.expect("R (('w', 1), ['p', 1], ('w', 1))")
    edit(tmp_path, p, lib.replace("return 1", "return 2"), "(('w', 2), ['p', 2], ('w', 2))")
    # Changing the decorator's own wrapper reaches functions decorated before.
    edit(tmp_path, p, lib.replace("return 1", "return 2").replace('("w", f(*args))', '("W", f(*args))'),
         "(('W', 2), ['p', 2], ('W', 2))")


def test_existing_closures_get_new_code(run_jurigged, tmp_path):
    lib = dedent("""\
    def make(a, b):
        def inner(x):
            return a + b + x
        return inner
    """)
    p = start(run_jurigged, tmp_path, lib, "(c(1),)", "c = lib.make(10, 100)")
    p.expect("R (111,)")
    # Free variables dropped, then used again, reordered: cells are matched by name.
    edit(tmp_path, p, lib.replace("return a + b + x", "return a * x"), "(10,)")
    edit(tmp_path, p, lib.replace("return a + b + x", "return (b, a, x)"), "((100, 10, 1),)")
    edit(tmp_path, p, lib.replace("return a + b + x", "return b - x"), "(99,)")
    # A variable the closure never captured has no value: said, and the program lives.
    edit(tmp_path, p, lib.replace("def make(a, b):", "def make(a, b, zz=0):").replace(
        "return a + b + x", "return zz"), "('raised', 'NameError')")
    p.expect("free variable", stream="err")


def test_super_and_class_scope_defaults(run_jurigged, tmp_path):
    lib = dedent("""\
    class Base:
        def hello(self):
            return "base"
    class C(Base):
        LIMIT = 3
        def hello(self):
            return "c"
        def limit(self, n=LIMIT):
            return n
    """)
    p = start(run_jurigged, tmp_path, lib, "(obj.hello(), obj.limit())", "obj = lib.C()")
    p.expect("R ('c', 3)")
    new = lib.replace('return "c"', 'return "c+" + super().hello()').replace(
        "n=LIMIT", "n=LIMIT * 2")
    edit(tmp_path, p, new, "('c+base', 6)")


def test_class_members_added_removed_and_attributes(run_jurigged, tmp_path):
    lib = dedent("""\
    class C:
        items = []
        size = 1
        def old(self):
            return "old"
    """)
    setup = "obj = lib.C(); lib.C.items.append('kept')"
    probe = "(hasattr(obj, 'old'), getattr(obj, 'new', lambda: None)(), lib.C.size, lib.C.items)"
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R (True, None, 1, ['kept'])")
    new = dedent("""\
    class C:
        items = []
        size = 2
        def new(self):
            return "new"
    """)
    edit(tmp_path, p, new, "(False, 'new', 2, ['kept'])")
    p.seen("Delete lib.C.old", stream="out")
    p.seen("Add lib.C.new", stream="out")


def test_dataclass_fields(run_jurigged, tmp_path):
    lib = dedent("""\
    from dataclasses import dataclass
    @dataclass
    class P:
        x: int = 0
        def total(self):
            return self.x
    """)
    p = start(run_jurigged, tmp_path, lib, "(repr(lib.P(1)), obj.total(), P is lib.P)",
              "obj = lib.P(4); P = lib.P")
    p.expect("R ('P(x=1)', 4, True)")
    new = lib.replace("x: int = 0", "x: int = 0\n    y: int = 7").replace(
        "return self.x", "return self.x + self.y")
    edit(tmp_path, p, new, "('P(x=1, y=7)', 11, True)")
    assert "lib.P(1)" not in p.output("err")


def test_statements_rerun_only_when_changed(run_jurigged, tmp_path):
    lib = dedent("""\
    registry = []
    registry.append("import")
    value = 1
    def gone():
        pass
    """)
    p = start(run_jurigged, tmp_path, lib, "(lib.registry, lib.value, hasattr(lib, 'gone'))")
    p.expect("R (['import'], 1, True)")
    new = dedent("""\
    registry = []
    registry.append("import")
    value = 2
    """)
    edit(tmp_path, p, new, "(['import'], 2, False)")
    p.seen("Run lib:3", stream="out")


def test_definitions_inside_blocks(run_jurigged, tmp_path):
    lib = dedent("""\
    try:
        import json
        def f():
            return "try1"
    except ImportError:
        def f():
            return "except"
    if True:
        class K:
            def m(self):
                return "k1"
    """)
    p = start(run_jurigged, tmp_path, lib, "(f(), k.m())", "f = lib.f; k = lib.K()")
    p.expect("R ('try1', 'k1')")
    edit(tmp_path, p, lib.replace('"try1"', '"try2"').replace('"k1"', '"k2"'), "('try2', 'k2')")


def test_decorator_change_recreates_and_says_so(run_jurigged, tmp_path):
    lib = dedent("""\
    import functools
    def f(x):
        return x
    """)
    p = start(run_jurigged, tmp_path, lib, "(type(lib.f).__name__, lib.f(3))")
    p.expect("R ('function', 3)")
    edit(tmp_path, p, lib.replace("def f", "@functools.lru_cache\ndef f"),
         "('_lru_cache_wrapper', 3)")
    p.expect("re-created", stream="err")


def test_traceback_lines_after_updates(run_jurigged, tmp_path):
    lib = dedent("""\
    import functools
    def deco(f):
        @functools.wraps(f)
        def wrapper():
            return f()
        return wrapper
    @deco
    def boom():
        raise ValueError("line 9")
    def line():
        import traceback, sys
        try:
            boom()
        except ValueError:
            return traceback.extract_tb(sys.exc_info()[2])[-1].lineno
    """)
    p = start(run_jurigged, tmp_path, lib, "lib.line()")
    p.expect("R 9")
    new = lib.replace("import functools\n", "import functools\n\n\n").replace(
        'raise ValueError("line 9")', 'x = 1\n    raise ValueError("line 12")')
    edit(tmp_path, p, new, "12")


def test_async_and_generator_functions(run_jurigged, tmp_path):
    lib = dedent("""\
    import asyncio
    async def co():
        return "a1"
    def gen():
        yield "g1"
    def run():
        return (asyncio.run(co()), next(gen()))
    """)
    p = start(run_jurigged, tmp_path, lib, "lib.run()")
    p.expect("R ('a1', 'g1')")
    edit(tmp_path, p, lib.replace('"a1"', '"a2"').replace('"g1"', '"g2"'), "('a2', 'g2')")


def test_syntax_error_applies_nothing_then_next_good_save(run_jurigged, tmp_path):
    lib = dedent("""\
    def f():
        return 1
    def g():
        return 1
    """)
    p = start(run_jurigged, tmp_path, lib, "(lib.f(), lib.g())")
    p.expect("R (1, 1)")
    write(tmp_path / "lib.py", lib.replace("return 1", "return 2", 1) + "def broken(:\n")
    line = p.expect("lib.py:5", stream="err")
    assert "nothing applied" in line
    time.sleep(0.3)
    assert "R (2, 1)" not in p.output("out")
    edit(tmp_path, p, lib.replace("return 1", "return 3"), "(3, 3)")


def test_exception_in_rerun_statement_does_not_block_definitions(run_jurigged, tmp_path):
    lib = dedent("""\
    def f():
        return 1
    x = 1
    """)
    p = start(run_jurigged, tmp_path, lib, "(lib.f(), lib.x)")
    p.expect("R (1, 1)")
    edit(tmp_path, p, lib.replace("return 1", "return 2").replace("x = 1", "x = 1 / 0"),
         "(2, 1)")
    p.expect("lib.py:3", stream="err")
    p.expect("ZeroDivisionError", stream="err")
    edit(tmp_path, p, lib.replace("return 1", "return 4").replace("x = 1", "x = 5"), "(4, 5)")


def test_running_main_loop_is_not_run_twice(run_jurigged, tmp_path):
    app = dedent("""\
    import time
    def step():
        return "s1"
    for i in range(400):
        print("tick", step(), flush=True)
        time.sleep(0.02)
    """)
    write(tmp_path / "app.py", app)
    p = run_jurigged("-v", "app.py")
    p.expect("tick s1")
    write(tmp_path / "app.py", app.replace("range(400)", "range(401)").replace('"s1"', '"s2"'))
    p.expect("applies on restart", stream="err")
    p.expect("tick s2", stream="out")
    time.sleep(0.5)
    ticks = [line for line in p.output("out").splitlines() if line.startswith("tick")]
    # One loop only: ticks arrive at the loop's own pace, not twice as fast.
    assert len(ticks) < 400
    assert "Run __main__" not in p.output("out")


def test_a_running_call_that_keeps_the_old_code_is_named(run_jurigged, tmp_path):
    # forever() runs for good: its edit cannot reach the running call, and the log
    # must say so. step() changes in the same save; its calls are short, each next
    # one runs the new code, so it is not named.
    lib = dedent("""\
    import time
    def step():
        return "s1"
    def forever():
        while True:
            print("tick", step(), flush=True)
            time.sleep(0.01)
    """)
    write(tmp_path / "lib.py", lib)
    write(tmp_path / "app.py", "import lib\nlib.forever()\n")
    p = run_jurigged("-v", "app.py")
    p.expect("tick s1", stream="out")
    write(tmp_path / "lib.py", lib.replace('"s1"', '"s2"').replace('"tick"', '"tock"'))
    p.expect("tick s2", stream="out")  # the running call, old code, calling new step()
    p.expect("a call of lib.forever that was running when it changed is still running",
             stream="err")
    assert "lib.step that was running" not in p.output("err")
    assert "tock" not in p.output("out")


def test_new_code_raising_does_not_kill_the_program(run_jurigged, tmp_path):
    lib = dedent("""\
    def f():
        return 1
    """)
    p = start(run_jurigged, tmp_path, lib, "lib.f()")
    p.expect("R 1")
    edit(tmp_path, p, lib.replace("return 1", "raise RuntimeError('oops')"),
         "('raised', 'RuntimeError')")
    edit(tmp_path, p, lib, "1")


def test_deleted_and_undecodable_files_keep_the_program_running(run_jurigged, tmp_path):
    lib = dedent("""\
    def f():
        return 1
    """)
    p = start(run_jurigged, tmp_path, lib, "lib.f()")
    p.expect("R 1")
    (tmp_path / "lib.py").unlink()
    p.expect("deleted", stream="err")
    (tmp_path / "lib.py").write_bytes(b"def f():\n    return '\xff\xfe'\n")
    p.expect("lib.py", stream="err")
    edit(tmp_path, p, lib.replace("return 1", "return 2"), "2")
    assert p.popen.poll() is None


@pytest.mark.main_only
def test_two_functions_change_together_for_other_threads(run_jurigged, tmp_path):
    # Other threads take snapshots of both functions' code in one C call (so the
    # snapshot itself cannot straddle a thread switch) while both are edited together,
    # many times: they must never see one function new and the other old.
    lib = dedent("""\
    def a():
        return 0
    def b():
        return 0
    """)
    setup = """\
    import operator, threading
    snapshot = operator.attrgetter("a.__code__", "b.__code__")
    mixed = [0]
    def hammer():
        while True:
            code_a, code_b = snapshot(lib)
            if code_a.co_consts != code_b.co_consts:
                mixed[0] += 1
    for _ in range(3):
        threading.Thread(target=hammer, daemon=True).start()
    """
    p = start(run_jurigged, tmp_path, lib, "(lib.a(), lib.b(), mixed[0])", setup, "-d", "0")
    p.expect("R (0, 0, 0)")
    for version in range(1, 81):
        edit(tmp_path, p, lib.replace("return 0", f"return {version}"),
             f"({version}, {version}, 0)")
