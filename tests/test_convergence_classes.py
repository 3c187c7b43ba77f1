"""End to end: after an edit of a class built by a metaclass or class decorator, a
decorator change, a cached or dispatching function, a PEP 695 generic or a moved
closure factory, the live program answers what a fresh interpreter on the same files
answers."""

from __future__ import annotations

import sys
from pathlib import Path
from textwrap import dedent

import pytest

from conftest import subprocess_env
from live_support import fresh_probe_line, probe_loop, start_probe_loop

# The probe loop prints `R <repr(PROBE)>` whenever the value changes. References to
# lib's objects are taken once (SETUP), before any edit, as a real program would.

needs_312 = pytest.mark.skipif(sys.version_info < (3, 12),
                               reason="PEP 695 syntax needs Python 3.12+")


def start(run_jurigged, tmp_path: Path, lib: str, probe: str, setup: str = ""):
    program = probe_loop(probe, setup=setup, main_guard=True)
    return start_probe_loop(run_jurigged, tmp_path, program, {"lib.py": lib})


def converge(tmp_path: Path, process, lib: str, expected: str):
    """Save lib.py as `lib`, check that a fresh run gives `expected`, and wait for the
    live program to print the same."""
    (tmp_path / "lib.py").write_text(lib)
    assert fresh_probe_line(tmp_path, subprocess_env(tmp_path / "home")) == f"R {expected}"
    return process.expect(f"R {expected}", stream="out", timeout=15)


# -- 1. classes built by a metaclass or a class decorator ------------------------------

def test_which_classes_are_recreated():
    import abc
    import dataclasses
    import enum
    from typing import NamedTuple

    from jurigged.classes import construction_reason

    class Plain:
        pass

    class Base(abc.ABC):
        pass

    @dataclasses.dataclass
    class Data:
        a: int = 0

    @dataclasses.dataclass(frozen=True)
    class Frozen:
        a: int = 0

    class Color(enum.Enum):
        RED = 1

    class Pair(NamedTuple):
        a: int

    class Slotted:
        __slots__ = ("a",)

    class Hooked:
        def __init_subclass__(cls):
            pass

    class Child(Hooked):
        pass

    in_place = [(Plain, ""), (Base, ""), (Data, "@dataclasses.dataclass"),
                (Data, "@dataclass(eq=False)")]
    for cls, decorators in in_place:
        assert construction_reason(cls, decorators) is None, cls
    recreated = [(Frozen, "@dataclass(frozen=True)"), (Color, ""), (Pair, ""),
                 (Slotted, ""), (Child, ""), (Plain, "@register"),
                 (Data, "@register\n@dataclass")]
    for cls, decorators in recreated:
        assert construction_reason(cls, decorators), cls



def test_enum_member_added_and_value_changed(run_jurigged, tmp_path):
    lib = dedent("""\
    import enum
    class Color(enum.Enum):
        RED = 1
        GREEN = 2
        def describe(self):
            return self.name.lower()
    """)
    setup = "red = lib.Color.RED\nColor = lib.Color"
    probe = ("([m.name for m in lib.Color], lib.Color.RED.value, red is lib.Color.RED, "
             "red.value, Color is lib.Color, lib.Color(2).describe())")
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R (['RED', 'GREEN'], 1, True, 1, True, 'green')")
    new = lib.replace("GREEN = 2", "GREEN = 2\n    BLUE = 3").replace("RED = 1", "RED = 10")
    converge(tmp_path, p, new,
             "(['RED', 'GREEN', 'BLUE'], 10, True, 10, True, 'green')")
    p.seen("Update lib.Color", stream="out")
    # A plain method edit afterwards reaches the re-created class.
    newer = new.replace("self.name.lower()", "self.name.title()")
    converge(tmp_path, p, newer,
             "(['RED', 'GREEN', 'BLUE'], 10, True, 10, True, 'Green')")


def test_slots_extended_reports_unmigrated_instances(run_jurigged, tmp_path):
    lib = dedent("""\
    class P:
        __slots__ = ("x",)
        def __init__(self, x):
            self.x = x
        def get(self):
            return (self.x,)
    old = P(1)
    """)
    probe = "(lib.P(1).get(), lib.P.__slots__)"
    p = start(run_jurigged, tmp_path, lib, probe)
    p.expect("R ((1,), ('x',))")
    new = (lib.replace('("x",)', '("x", "y")')
           .replace("self.x = x", "self.x = x\n        self.y = 0")
           .replace("(self.x,)", "(self.x, self.y)"))
    converge(tmp_path, p, new, "((1, 0), ('x', 'y'))")
    line = p.seen("could not migrate")
    assert "lib.P" in line and "1 instance" in line


def test_namedtuple_field_added(run_jurigged, tmp_path):
    lib = dedent("""\
    from typing import NamedTuple
    class Pt(NamedTuple):
        x: int
        y: int = 0
    """)
    setup = "from lib import Pt\nbefore = [lib.Pt(7)]"
    probe = "(lib.Pt(1), lib.Pt._fields, Pt is lib.Pt)"
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R (Pt(x=1, y=0), ('x', 'y'), True)")
    new = lib.replace("y: int = 0", "y: int = 0\n    z: int = 5")
    converge(tmp_path, p, new, "(Pt(x=1, y=0, z=5), ('x', 'y', 'z'), True)")
    # A tuple of two items must not pose as one of three: it keeps its class, and the
    # log says so.
    assert "of lib.Pt (their fields changed)" in p.seen("could not migrate")


@pytest.mark.skipif(sys.version_info < (3, 10), reason="dataclass(slots=True) is 3.10+")
def test_slots_dataclass_field_added(run_jurigged, tmp_path):
    lib = dedent("""\
    from dataclasses import dataclass
    @dataclass(slots=True)
    class D:
        a: int
    """)
    probe = "(repr(lib.D(1)), lib.D.__slots__)"
    p = start(run_jurigged, tmp_path, lib, probe)
    p.expect("R ('D(a=1)', ('a',))")
    new = lib.replace("a: int", "a: int\n    b: int = 2")
    converge(tmp_path, p, new, "('D(a=1, b=2)', ('a', 'b'))")


def test_frozen_dataclass_field_added_and_instances_migrated(run_jurigged, tmp_path):
    lib = dedent("""\
    from dataclasses import dataclass
    @dataclass(frozen=True)
    class F:
        a: int
        def total(self):
            return self.a
    """)
    setup = "before = lib.F(1)"
    probe = ("(lib.F(1), lib.F(1).total(), hash(lib.F(1)) == hash(lib.F(1)), "
             "isinstance(before, lib.F), before.total())")
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R (F(a=1), 1, True, True, 1)")
    new = (lib.replace("a: int", "a: int\n    b: int = 2")
           .replace("return self.a", "return self.a + getattr(self, 'b', 100)"))
    converge(tmp_path, p, new, "(F(a=1, b=2), 3, True, True, 3)")


def test_plain_dataclass_field_with_factory_reaches_existing_instances(run_jurigged,
                                                                       tmp_path):
    lib = dedent("""\
    from dataclasses import dataclass, field
    @dataclass
    class D:
        a: int = 1
    """)
    setup = "before = lib.D()\nD = lib.D"
    probe = "(repr(before), repr(lib.D()), D is lib.D)"
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R ('D(a=1)', 'D(a=1)', True)")
    new = lib.replace("a: int = 1", "a: int = 1\n    tags: list = field(default_factory=list)")
    converge(tmp_path, p, new,
             "('D(a=1, tags=[])', 'D(a=1, tags=[])', True)")


def test_typeddict_key_added(run_jurigged, tmp_path):
    lib = dedent("""\
    from typing import TypedDict
    class TD(TypedDict):
        a: int
    """)
    probe = "(sorted(lib.TD.__annotations__), sorted(lib.TD.__required_keys__))"
    p = start(run_jurigged, tmp_path, lib, probe)
    p.expect("R (['a'], ['a'])")
    converge(tmp_path, p, lib.replace("a: int", "a: int\n    b: str"),
             "(['a', 'b'], ['a', 'b'])")


def test_abstract_method_added_keeps_the_class(run_jurigged, tmp_path):
    lib = dedent("""\
    import abc
    class Base(abc.ABC):
        @abc.abstractmethod
        def a(self): ...
    class Impl(Base):
        def a(self):
            return 1
    """)
    setup = dedent("""\
    Base = lib.Base
    def make(cls):
        try:
            return cls().a()
        except TypeError:
            return "abstract"
    """)
    probe = "(sorted(lib.Base.__abstractmethods__), make(lib.Impl), Base is lib.Base)"
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R (['a'], 1, True)")
    new = lib.replace("def a(self): ...", "def a(self): ...\n    @abc.abstractmethod\n"
                                           "    def b(self): ...")
    converge(tmp_path, p, new, "(['a', 'b'], 'abstract', True)")


def test_set_name_descriptor_renamed(run_jurigged, tmp_path):
    lib = dedent("""\
    class Field:
        def __set_name__(self, owner, name):
            owner.fields = owner.__dict__.get("fields", ()) + (name,)
    class M:
        a = Field()
        b = Field()
    """)
    probe = "lib.M.fields"
    p = start(run_jurigged, tmp_path, lib, probe)
    p.expect("R ('a', 'b')")
    converge(tmp_path, p, lib.replace("a = Field()", "c = Field()"), "('c', 'b')")


def test_init_subclass_rerun_and_instances_migrated(run_jurigged, tmp_path):
    lib = dedent("""\
    class Base:
        def __init_subclass__(cls, **kwargs):
            super().__init_subclass__(**kwargs)
            cls.tag = cls.key.upper()
    class A(Base):
        key = "a"
        def hello(self):
            return "hi"
    """)
    setup = "a = lib.A()"
    probe = "(lib.A.tag, a.tag, type(a) is lib.A, a.hello())"
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R ('A', 'A', True, 'hi')")
    converge(tmp_path, p, lib.replace('key = "a"', 'key = "b"'),
             "('B', 'B', True, 'hi')")


def test_class_decorator_added_migrates_instances(run_jurigged, tmp_path):
    lib = dedent("""\
    import dataclasses
    class P:
        a: int = 1
        def __init__(self, a=1):
            self.a = a
    """)
    setup = "p = lib.P(5)\nfrom lib import P"
    probe = "(repr(p), type(p) is lib.P, P is lib.P)"
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    line = p.expect("R (", stream="out")
    assert line.startswith("R ('<lib.P object at") and line.endswith(", True, True)")
    new = lib.replace("class P:", "@dataclasses.dataclass\nclass P:").replace(
        "    def __init__(self, a=1):\n        self.a = a\n", "")
    converge(tmp_path, p, new, "('P(a=5)', True, True)")


def test_plain_class_keeps_its_identity(run_jurigged, tmp_path):
    lib = dedent("""\
    class C:
        x = 1
        def m(self):
            return self.x
    """)
    setup = "C = lib.C\nc = lib.C()"
    probe = "(c.m(), C is lib.C, type(c) is lib.C)"
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R (1, True, True)")
    converge(tmp_path, p, lib.replace("x = 1", "x = 2\n    y = 3"),
             "(2, True, True)")
    assert not any("re-created" in line for line in p.lines["all"])


# -- 2. caches ----------------------------------------------------------------------------

def test_lru_cache_cleared_on_update(run_jurigged, tmp_path):
    lib = dedent("""\
    import functools
    @functools.lru_cache(maxsize=None)
    def f(x):
        return x + 1
    @functools.lru_cache()
    def g(x):
        return x * 2
    """)
    setup = "f = lib.f"
    probe = "(f(1), lib.g(2))"
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R (2, 4)")
    converge(tmp_path, p, lib.replace("x + 1", "x + 10").replace("x * 2", "x * 3"), "(11, 6)")


# -- 3. decorator changes -----------------------------------------------------------------

def test_decorator_replacing_a_cache_reaches_the_cached_reference(run_jurigged, tmp_path):
    lib = dedent("""\
    import functools
    def tag(fn):
        def wrapper(*args):
            return ("t", fn(*args))
        return wrapper
    @functools.lru_cache(maxsize=None)
    def g(x):
        return x
    """)
    setup = "g = lib.g"
    probe = "(g(1), lib.g(1))"
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R (1, 1)")
    converge(tmp_path, p, lib.replace("@functools.lru_cache(maxsize=None)", "@tag"), "(('t', 1), ('t', 1))")


def test_decorator_added_changed_removed_reaches_old_references(run_jurigged, tmp_path):
    (tmp_path / "other.py").write_text("from lib import f, C\nbound = C().m\n")
    lib = dedent("""\
    def tag(label):
        def deco(fn):
            def wrapper(*args):
                return (label, fn(*args))
            return wrapper
        return deco
    def f(x):
        return x
    class C:
        def m(self):
            return "m"
    """)
    setup = "import other\ncallbacks = [lib.f]"
    probe = "(other.f(1), callbacks[0](1), other.bound(), lib.f(1))"
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R (1, 1, 'm', 1)")
    added = lib.replace("def f(x):", "@tag('a')\ndef f(x):").replace(
        "    def m(self):", "    @tag('b')\n    def m(self):")
    converge(tmp_path, p, added, "(('a', 1), ('a', 1), ('b', 'm'), ('a', 1))")
    changed = added.replace("@tag('a')", "@tag('z')")
    converge(tmp_path, p, changed, "(('z', 1), ('z', 1), ('b', 'm'), ('z', 1))")
    removed = changed.replace("@tag('z')\n", "").replace("    @tag('b')\n", "")
    converge(tmp_path, p, removed, "(1, 1, 'm', 1)")
    # A body edit after all that reaches every reference.
    converge(tmp_path, p, removed.replace("return x\n", "return x * 7\n"),
             "(7, 7, 'm', 7)")
    assert not any("keep the old version" in line for line in p.lines["all"])


# -- 4. descriptors and registries holding a function ---------------------------------------

def test_cached_property_and_singledispatch_bodies(run_jurigged, tmp_path):
    lib = dedent("""\
    import functools
    class lazy:
        def __init__(self, fn):
            self.fn = fn
        def __get__(self, obj, owner):
            return self.fn(obj)
    class C:
        @functools.cached_property
        def p(self):
            return "p1"
        @lazy
        def q(self):
            return "q1"
    @functools.singledispatch
    def show(x):
        return "any"
    @show.register
    def _(x: int):
        return "int1"
    @show.register
    def _(x: str):
        return "str1"
    """)
    setup = "c = lib.C()\nc.p"
    probe = "(lib.C().p, c.p, lib.C().q, lib.show(1), lib.show('s'), lib.show(1.5))"
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R ('p1', 'p1', 'q1', 'int1', 'str1', 'any')")
    new = lib.replace('"p1"', '"p2"').replace('"q1"', '"q2"').replace(
        '"int1"', '"int2"').replace('"str1"', '"str2"').replace('"any"', '"any2"')
    # The value `c` cached with the old code is computed again, as a fresh run would.
    converge(tmp_path, p, new, "('p2', 'p2', 'q2', 'int2', 'str2', 'any2')")


# -- 5. PEP 695 generics -------------------------------------------------------------------

@needs_312
def test_generic_function_class_and_type_alias(run_jurigged, tmp_path):
    lib = dedent("""\
    def first[T](xs: list[T]) -> T:
        return xs[0]
    class Box[T]:
        def __init__(self, item: T):
            self.item = item
        def get(self) -> T:
            return self.item
    type Pair[K] = tuple[K, K]
    """)
    setup = "box = lib.Box(3)\nfirst = lib.first"
    probe = ("(first([1, 2]), box.get(), getattr(box, 'kind', lambda: None)(), "
             "str(lib.Pair.__value__))")
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R (1, 3, None, 'tuple[K, K]')")
    new = (lib.replace("return xs[0]", "return xs[-1]")
           .replace("        return self.item\n",
                    "        return self.item\n    def kind(self) -> T:\n"
                    "        return (T.__name__, self.item)\n")
           .replace("tuple[K, K]", "tuple[K, K, K]"))
    converge(tmp_path, p, new,
             "(2, 3, ('T', 3), 'tuple[K, K, K]')")
    # An existing method starts using T; a generic signature changes.
    newer = (new.replace("def get(self) -> T:\n        return self.item",
                         "def get(self) -> T:\n        return [T.__name__, self.item]")
             .replace("def first[T](xs: list[T]) -> T:\n    return xs[-1]",
                      "def first[T](xs: list[T], n: int = 1) -> T:\n    return xs[n]"))
    assert newer.count("T.__name__") == 2 and "n: int = 1" in newer
    converge(tmp_path, p, newer,
             "(2, ['T', 3], ('T', 3), 'tuple[K, K, K]')")
    assert not any("internal error" in line for line in p.lines["all"])


@needs_312
def test_generic_method_and_class_level_alias(run_jurigged, tmp_path):
    lib = dedent("""\
    class Reg:
        type Key = str
        def pick[U](self, items: list[U], default: U = None) -> U:
            return items[0] if items else default
    """)
    setup = "reg = lib.Reg()\npick = reg.pick"
    probe = "(pick([1, 2]), pick([]), lib.Reg.Key.__value__.__name__)"
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R (1, None, 'str')")
    new = (lib.replace("items[0]", "(U.__name__, items[-1])")
           .replace("default: U = None", "default: U = 0").replace("type Key = str",
                                                                   "type Key = bytes"))
    converge(tmp_path, p, new, "(('U', 2), 0, 'bytes')")


# -- 6. closures after the factory moved -------------------------------------------------

def test_closures_follow_a_factory_moved_by_an_earlier_save(run_jurigged, tmp_path):
    lib = dedent("""\
    LIMIT = 1
    def factory():
        def inner():
            return "i1"
        return inner
    def plain(fn):
        def wrapper():
            return ("w1", fn())
        return wrapper
    @plain
    def decorated():
        return "d"
    made = factory()
    """)
    probe = "(lib.made(), lib.decorated(), lib.LIMIT)"
    p = start(run_jurigged, tmp_path, lib, probe)
    p.expect("R ('i1', ('w1', 'd'), 1)")
    # The first save moves every definition two lines up (the constant goes last).
    moved = lib.replace("LIMIT = 1\n", "") + "LIMIT = 2\n"
    converge(tmp_path, p, moved, "('i1', ('w1', 'd'), 2)")
    edited = moved.replace('"i1"', '"i2"').replace('"w1"', '"w2"')
    converge(tmp_path, p, edited, "('i2', ('w2', 'd'), 2)")


def test_function_becoming_a_generator_is_recreated_and_forwarded(run_jurigged, tmp_path):
    # CPython refuses (3.13 deprecates) giving a plain function generator code: the
    # function is re-created, and references taken before call the new one.
    lib = dedent("""\
        def numbers():
            return [1, 2]
        """)
    probe, setup = "(list(f()), list(lib.numbers()))", "from lib import numbers as f"
    p = start(run_jurigged, tmp_path, lib, probe, setup)
    p.expect("R ([1, 2], [1, 2])")
    converge(tmp_path, p, dedent("""\
        def numbers():
            yield 3
            yield 4
        """), "([3, 4], [3, 4])")
    assert "nothing applied" not in p.output("err")


def test_class_attributes_removed_from_the_body_leave_the_class(run_jurigged, tmp_path):
    lib = dedent("""\
        from dataclasses import dataclass

        class Plain:
            kept = 1
            gone = 2
            __hidden = 3

        @dataclass
        class Data:
            x: int = 1
            y: int = 2
        """)
    probe = ("(sorted(n for n in vars(lib.Plain) if not n.startswith('__')), "
             "sorted(n for n in ('x', 'y') if n in vars(lib.Data)), repr(lib.Data()))")
    p = start(run_jurigged, tmp_path, lib, probe)
    p.expect("R (['_Plain__hidden', 'gone', 'kept'], ['x', 'y'], 'Data(x=1, y=2)')")
    converge(tmp_path, p, lib.replace("    gone = 2\n", "").replace("    __hidden = 3\n", "")
             .replace("    y: int = 2\n", ""), "(['kept'], ['x'], 'Data(x=1)')")
