"""_core.commit: it refuses, before changing anything, whatever CPython's own
FunctionType() and function attribute setters would refuse; it applies function swaps
and name bindings in one step that no other thread and no finalizer can see half done."""

from __future__ import annotations

import enum
import re
import sys
import threading
import time
import types
import weakref
from operator import attrgetter

import pytest

from jurigged import _core
from jurigged._core import UNBIND, Binding, FunctionUpdate, commit

KEEP = ...


def make(source: str, name: str = "f", namespace=None):
    namespace = {} if namespace is None else namespace
    exec(source, namespace)
    return namespace[name]


def closure_over(value):
    def outer():
        x = value

        def inner():
            return x
        return inner
    return outer()


def state(function):
    return (function.__code__, function.__closure__, function.__defaults__,
            function.__kwdefaults__, function.__annotations__, function.__doc__)


def update(function, code=None, closure=KEEP, defaults=KEEP, kwdefaults=KEEP,
           annotations=KEEP, doc=KEEP):
    return (function, code if code is not None else function.__code__, closure, defaults,
            kwdefaults, annotations, doc)


# -- every bad input is refused and leaves everything untouched --------------------------


def bad_updates():
    plain = make("def f(a=1):\n    return a\n")
    inner = closure_over(5)
    cell = inner.__closure__[0]
    generator = make("def f():\n    yield 1\n").__code__
    coroutine = make("async def f():\n    return 1\n").__code__
    async_generator = make("async def f():\n    yield 1\n").__code__
    one_free = closure_over(1).__code__
    return [
        (plain, (plain, plain.__code__), TypeError, "tuple (function, code"),
        (plain, [plain, plain.__code__, KEEP, KEEP, KEEP, KEEP, KEEP], TypeError, "tuple"),
        (plain, (len, plain.__code__, KEEP, KEEP, KEEP, KEEP, KEEP), TypeError, "function"),
        (plain, FunctionUpdate(len, plain.__code__), TypeError, "must be a function"),
        (inner, FunctionUpdate(inner, inner.__code__, closure=(1,)), TypeError, "must be a cell"),
        (plain, update(plain, code="return 2"), TypeError, "code object"),
        (plain, update(plain, closure=[]), TypeError, "closure must be None or a tuple"),
        (inner, update(inner, closure=(1,)), TypeError, "closure item 0 must be a cell"),
        (inner, update(inner, closure=(cell, cell)), ValueError, "1 free variable(s)"),
        (inner, update(inner, closure=None), ValueError, "but the closure has 0"),
        (inner, update(inner, code=plain.__code__), ValueError, "0 free variable(s)"),
        (plain, update(plain, code=one_free), ValueError, "1 free variable(s)"),
        (plain, update(plain, defaults=[1]), TypeError, "defaults must be None or a tuple"),
        (plain, update(plain, kwdefaults=(("a", 1),)), TypeError, "kwdefaults must be"),
        (plain, update(plain, annotations=[]), TypeError, "annotations must be"),
        (plain, update(plain, code=generator), ValueError, "plain function and the new code is a generator"),
        (plain, update(plain, code=coroutine), ValueError, "new code is a coroutine"),
        (plain, update(plain, code=async_generator), ValueError, "async generator"),
    ]


@pytest.mark.parametrize("index", range(len(bad_updates())))
def test_bad_update_is_refused_and_nothing_changes(index):
    function, bad, error, message = bad_updates()[index]
    bystander = make("def f():\n    return 'old'\n")
    new_bystander = make("def f():\n    return 'new'\n").__code__
    namespace = {"kept": 1}
    before, bystander_before = state(function), state(bystander)
    with pytest.raises(error, match=re.escape(message)):
        commit([update(bystander, code=new_bystander), bad],
               bindings=[(namespace, "kept", 2), (namespace, "added", 3)])
    assert all(a is b for a, b in zip(state(function), before))
    assert all(a is b for a, b in zip(state(bystander), bystander_before))
    assert namespace == {"kept": 1}
    assert bystander() == "old"


def test_closure_of_non_cells_no_longer_crashes_the_next_call():
    inner = closure_over(7)
    with pytest.raises(TypeError):
        commit([update(inner, closure=("not a cell",))])
    assert inner() == 7


def test_generator_kind_changes_are_refused_both_ways():
    generator = make("def f():\n    yield 1\n")
    plain = make("def f():\n    return 1\n").__code__
    with pytest.raises(ValueError, match="is a generator and the new code is a plain function"):
        commit([update(generator, code=plain)])
    assert list(generator()) == [1]
    same_kind = make("def f():\n    yield 2\n").__code__
    commit([update(generator, code=same_kind)])
    assert list(generator()) == [2]


def test_a_function_updated_twice_is_checked_against_its_first_update():
    function = make("def f():\n    return 0\n")
    with_free = closure_over(3)
    # The first update gives f one cell; the second keeps that closure with code that
    # has no free variable: refused, though f has no closure when the call starts.
    with pytest.raises(ValueError, match="0 free variable"):
        commit([update(function, code=with_free.__code__, closure=with_free.__closure__),
                update(function, code=make("def f():\n    return 1\n").__code__)])
    assert function() == 0
    commit([update(function, code=with_free.__code__, closure=with_free.__closure__),
            update(function, code=closure_over(4).__code__)])
    assert function() == 3


def test_good_update_sets_every_field():
    function = make("def f(a, b=1, *, c=2):\n    return a + b + c\n")
    new = make("def f(a, b=10, *, c=20):\n    'Doc.'\n    return a * b * c\n")
    commit([(function, new.__code__, None, (10,), {"c": 20}, {"a": int}, "Doc.")])
    assert function(1) == 200
    assert (function.__defaults__, function.__kwdefaults__, function.__annotations__,
            function.__doc__) == ((10,), {"c": 20}, {"a": int}, "Doc.")


def test_function_update_record_keeps_what_it_is_not_given():
    function = make("def f(a=1):\n    'Old.'\n    return a\n")
    new = make("def f(a=5):\n    return a * 2\n").__code__
    record = FunctionUpdate(function, new, defaults=(7,))
    assert (record.function, record.code, record.closure, record.defaults, record.doc) == (
        function, new, ..., (7,), ...)
    commit([record])
    assert function() == 14 and function.__doc__ == "Old."


# -- bindings ------------------------------------------------------------------------------


class Meta(type):
    pass


class WithSetattr(type):
    def __setattr__(cls, name, value):
        super().__setattr__(name, value)


class WithDelattr(type):
    def __delattr__(cls, name):
        super().__delattr__(name)


class WithProperty(type):
    @property
    def shown(cls):
        return 1

    @shown.setter
    def shown(cls, value):
        pass


class Colour(enum.Enum):
    RED = 1


class StrSubclass(str):
    pass


def bad_bindings():
    plain_class = Meta("Plain", (), {})
    return [
        (({}, "x"), TypeError, "a binding is a Binding or a tuple"),
        (([], "x", 1), TypeError, "module dict (exact dict) or a class"),
        ((type("D", (dict,), {})(), "x", 1), TypeError, "module dict"),
        ((sys.modules[__name__], "x", 1), TypeError, "module dict"),
        (({}, 1, 1), TypeError, "the name must be a str"),
        (({}, StrSubclass("x"), 1), TypeError, "the name must be a str"),
        (({1: 2}, "x", 1), ValueError, "keys that are not str"),
        ((WithSetattr("A", (), {}), "x", 1), ValueError, "own __setattr__ or __delattr__"),
        ((WithDelattr("A", (), {}), "x", UNBIND), ValueError, "own __setattr__ or __delattr__"),
        ((Colour, "GREEN", 2), ValueError, "own __setattr__"),
        ((int, "x", 1), TypeError, "built-in type"),
        ((type("T", (), {}), "__doc__", "text"), ValueError, "data descriptor of the metaclass"),
        ((plain_class, "__name__", "B"), ValueError, "data descriptor"),
        ((WithProperty("P", (), {}), "shown", 2), ValueError, "data descriptor"),
    ]


@pytest.mark.parametrize("index", range(len(bad_bindings())))
def test_bad_binding_is_refused_and_nothing_changes(index):
    bad, error, message = bad_bindings()[index]
    function = make("def f():\n    return 'old'\n")
    code = function.__code__
    namespace = {"kept": 1}
    with pytest.raises(error, match=re.escape(message)):
        commit([update(function, code=make("def f():\n    return 'new'\n").__code__)],
               bindings=[(namespace, "kept", 2), bad])
    assert function.__code__ is code and namespace == {"kept": 1}


@pytest.mark.skipif(sys.version_info < (3, 10), reason="immutable heap types are new in 3.10")
def test_binding_on_an_immutable_type_is_refused():
    immutable = type(iter(range(1)))  # a static type: refused either way
    with pytest.raises(TypeError):
        commit([], bindings=[(immutable, "x", 1)])
    import array
    with pytest.raises(TypeError, match="immutable type|built-in type"):
        commit([], bindings=[(array.array, "x", 1)])


def test_bindings_set_and_delete_names_in_module_dicts_and_classes():
    namespace = {"gone": 1, "kept": 2}
    cls = Meta("C", (), {"old": lambda self: "old", "__module__": __name__})
    instance = cls()
    assert instance.old() == "old"
    commit([], bindings=[
        (namespace, "added", 3),
        Binding(namespace, "gone", UNBIND),
        (namespace, "never_there", UNBIND),  # deleting a missing name does nothing
        (cls, "old", lambda self: "new"),
        Binding(cls, "__repr__", lambda self: "C instance"),
        (cls, "missing", UNBIND),
    ])
    assert namespace == {"kept": 2, "added": 3}
    assert instance.old() == "new"  # the type's attribute cache followed
    assert repr(instance) == "C instance"  # and its slots (setattr updates tp_repr)
    commit([], bindings=[(cls, "__repr__", UNBIND), (cls, "old", UNBIND)])
    assert "C instance" not in repr(instance) and not hasattr(instance, "old")


def test_binding_record_fields_and_repr():
    namespace = {}
    binding = Binding(namespace, "x", UNBIND)
    assert (binding.namespace, binding.name, binding.value) == (namespace, "x", UNBIND)
    assert repr(UNBIND) == "jurigged._core.UNBIND"
    with pytest.raises(TypeError):
        type(UNBIND)()
    with pytest.raises(TypeError):
        commit([], [(namespace, "x", 1)])  # bindings is keyword-only


def test_replaced_values_are_released_only_after_the_last_change():
    namespace = {}
    function = make("def f():\n    return 'old'\n", namespace=namespace)
    old_code = function.__code__
    new_code = make("def f():\n    return 'new'\n").__code__
    seen = []

    class Finalised:
        def __del__(self):
            seen.append(("binding value", function.__code__ is new_code, "added" in namespace))

    namespace["replaced"] = Finalised()
    weakref.finalize(old_code, lambda: seen.append(
        ("old code", function.__code__ is new_code, "added" in namespace)))
    del old_code
    # The order puts the replaced value first: it must still outlive everything else.
    commit([update(function, code=new_code)],
           bindings=[(namespace, "replaced", None), (namespace, "added", 1)])
    assert ("binding value", True, True) in seen
    assert ("old code", True, True) in seen


# -- atomicity under threads -----------------------------------------------------------------


class Readers:
    """Threads calling `work()` in a loop until stopped; errors are collected."""

    def __init__(self, work, count: int = 3):
        self.work = work
        self.errors = []
        self.results = set()
        self.calls = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def _run(self):
        while not self._stop.is_set():
            try:
                self.results.add(self.work())
            except Exception as exc:
                self.errors.append(repr(exc))
            self.calls += 1

    def wait_for_calls(self, count: int = 5, timeout: float = 60):
        """Let the readers make `count` more calls, so that every commit happens while
        they are busy (never a sleep: wait for their progress)."""
        target = self.calls + count
        deadline = time.monotonic() + timeout
        while self.calls < target:
            assert time.monotonic() < deadline, f"readers stuck: {self.errors[:3]}"

    def __enter__(self):
        self._interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads as often as CPython allows
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        sys.setswitchinterval(self._interval)


def test_functions_added_by_a_commit_are_visible_with_the_swap_that_calls_them():
    # Each commit swaps b to code calling c_<i> and adds c_<i> in the same call: another
    # thread calling b must never find c_<i> missing.
    namespace: dict = {}
    exec("def b():\n    return -1\n", namespace)
    b = namespace["b"]
    commits = 400
    with Readers(lambda: namespace["b"]()) as readers:
        for i in range(commits):
            readers.wait_for_calls()
            new_code = make(f"def b():\n    return c_{i}()\n", "b").__code__
            commit([update(b, code=new_code)],
                   bindings=[Binding(namespace, f"c_{i}", (lambda i=i: i))])
    assert readers.errors == []
    assert len(readers.results) > 2  # the readers ran across many commits
    assert b() == commits - 1


def test_swaps_of_one_commit_are_seen_together():
    functions = [make(f"def f():\n    return {n}\n") for n in range(4)]
    generations = [[make(f"def f():\n    return {g * 10 + n}\n").__code__ for n in range(4)]
                   for g in range(2)]
    generation_of = {code: g for g, codes in enumerate(generations) for code in codes}
    commit([update(f, code=c) for f, c in zip(functions, generations[0])])
    # list(map(...)) over C callables runs no bytecode, so it reads all four codes at
    # one instant: every snapshot must come from a single commit.
    def snapshot():
        codes = list(map(attrgetter("__code__"), functions))
        return frozenset(generation_of[c] for c in codes)

    with Readers(snapshot) as readers:
        for i in range(400):
            readers.wait_for_calls()
            commit([update(f, code=c) for f, c in zip(functions, generations[i % 2])])
    assert readers.errors == []
    assert readers.results == {frozenset({0}), frozenset({1})}


WAITER = """\
def waiter(started, stop):
    started.set()
    stop.wait()
    return helper()
"""


def run_waiter(namespace):
    """A thread running `waiter` from `namespace`, stopped inside it (it reads
    `helper` once let go), and the event that lets it go."""
    started, stop = threading.Event(), threading.Event()
    exec(WAITER, namespace)
    result = []
    thread = threading.Thread(target=lambda: result.append(namespace["waiter"](started, stop)))
    thread.start()
    started.wait()
    return thread, stop, result


def test_hold_if_read_keeps_a_name_a_running_call_still_reads():
    namespace = {"helper": lambda: "old"}
    thread, stop, result = run_waiter(namespace)
    unbind = Binding(namespace, "helper", UNBIND)
    other = Binding(namespace, "added", 1)
    held = commit([], bindings=[unbind, other], hold_if_read=[(namespace, unbind)])
    assert held == [(namespace, unbind)]
    assert namespace["added"] == 1 and "helper" in namespace  # the rest is applied
    stop.set()
    thread.join()
    assert result == ["old"]
    assert commit([], bindings=[unbind], hold_if_read=held) == []
    assert "helper" not in namespace


def test_hold_if_read_unbinds_names_no_running_call_reads():
    namespace = {"helper": lambda: "old", "unread": 0}
    elsewhere = {"helper": lambda: "other"}
    thread, stop, _ = run_waiter(elsewhere)  # reads `helper`, but from other globals
    try:
        unread = Binding(namespace, "unread", UNBIND)
        helper = Binding(namespace, "helper", UNBIND)
        assert commit([], bindings=[unread, helper],
                      hold_if_read=[(namespace, unread), (namespace, helper)]) == []
        assert namespace == {}
    finally:
        stop.set()
        thread.join()


def test_hold_if_read_items_are_checked():
    namespace = {"x": 1}
    with pytest.raises(TypeError):
        commit([], bindings=[Binding(namespace, "x", UNBIND)], hold_if_read=[(namespace, "x")])
    assert namespace == {"x": 1}


def test_new_bases_of_a_plain_class_are_set_with_the_swaps():
    # type's own __bases__ is the one data descriptor commit() stores through: a
    # class whose header changed keeps its identity and gets its bases in the step
    # that swaps the functions using them.
    first = type("First", (), {"who": lambda self: "first"})
    second = type("Second", (), {"who": lambda self: "second"})
    child = type("Child", (first,), {})
    function = make("def f():\n    return 'old'\n")
    commit([update(function, code=make("def f():\n    return 'new'\n").__code__)],
           bindings=[Binding(child, "__bases__", (second,))])
    assert child.__bases__ == (second,) and child().who() == "second"
    assert function() == "new"


def test_new_bases_cpython_refuses_leave_everything_as_it_was():
    # A layout change is refused by CPython itself: commit() raises before any swap,
    # with the binding before it undone.
    child = type("Child", (), {})
    namespace = {"kept": 1}
    function = make("def f():\n    return 'old'\n")
    code = function.__code__
    with pytest.raises(TypeError):
        commit([update(function, code=make("def f():\n    return 'new'\n").__code__)],
               bindings=[(namespace, "kept", 2), Binding(child, "__bases__", (int,))])
    assert child.__bases__ == (object,) and namespace == {"kept": 1}
    assert function.__code__ is code


def test_new_bases_under_a_metaclass_of_its_own_are_refused():
    cls = Meta("Plain", (), {})
    with pytest.raises(ValueError, match="data descriptor"):
        commit([], bindings=[Binding(cls, "__bases__", (object,))])


def test_frames_running_finds_every_frame_of_a_code_by_identity():
    release = threading.Event()
    entered = threading.Barrier(3)

    def waits(depth):
        if depth:
            return waits(depth - 1)
        entered.wait()
        release.wait()

    threads = [threading.Thread(target=waits, args=(2,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        entered.wait()
        found = _core.frames_running([waits.__code__])
        assert sorted(thread for thread, _ in found) == sorted(
            [t.ident for t in threads] * 3)  # three frames deep in each
        assert all(frame.f_code is waits.__code__ for _, frame in found)
        twin = waits.__code__.replace()  # equal to it, but not the code the frames run
        assert twin == waits.__code__ and _core.frames_running([twin]) == []
        assert _core.frames_running([]) == []
    finally:
        release.set()
        for thread in threads:
            thread.join()
