"""Which steps of a save the commit takes (inert.py): what making a definition or
running a statement reads when it calls nothing, the rule over a real plan, and the
swaps that wait for a definition made after the commit."""

from __future__ import annotations

import pytest

from jurigged.inert import inert_making

from test_plan import planned  # noqa: F401  (the fixture)


@pytest.mark.parametrize("text, reads", [
    ("X = 3", set()),
    ("A, B = 'a', X", {"X"}),
    ("X = Y = [1, {2: Z}]", {"Z"}),
    ("handler = lambda event, default=D: process(event)", {"D"}),  # the body runs later
    ("def f(a=1, *, b: int = K) -> T:\n    return g()", {"K", "T", "int"}),
    ("async def f(x=A):\n    await g()", {"A"}),
    ("class A(B):\n    '''doc'''\n    x = 1\n    y: int = Q\n    def m(self):\n"
     "        return h()", {"B", "Q", "int"}),
])
def test_what_making_reads_when_it_calls_nothing(text, reads):
    assert inert_making(text.splitlines()).reads == frozenset(reads)


def test_a_class_made_inertly_names_its_bases():
    # The commit checks them live (an `__init_subclass__` runs code as the class is made).
    making = inert_making("class A(B, C):\n    x: int = 1".splitlines())
    assert making.bases == ("B", "C") and making.reads == frozenset({"B", "C", "int"})
    assert inert_making(["def f(x=K): pass"]).bases == ()


@pytest.mark.parametrize("text", [
    "X = f()",
    "X = [i for i in y]",
    "X.y = 1",
    "X[0] = 1",
    "X += 1",
    "print(1)",
    "@d\ndef f():\n    pass",
    "def f(a=g()):\n    pass",
    "class A(metaclass=M):\n    pass",
    "class A(B.C):\n    pass",
    "@dataclass\nclass A:\n    x: int = 0",
    "class A:\n    x = f()",
    "class A:\n    print(1)",
    "import os",
    "X = (y := 3)",
    "def broken(:",
])
def test_what_may_run_code_is_not_inert(text):
    assert inert_making(text.splitlines()) is None


def entries_at_commit(entries):
    return [(entry.verb, entry.what, entry.at_commit) for entry in entries]


def test_a_definition_reading_what_a_live_statement_names_follows_it(planned):
    plan, entries, _ = planned(
        """\
        LOG = []
        X = 1

        def f():
            return X
        """,
        """\
        LOG = []
        X = 2

        def f():
            return X, helper()

        LOG.append(X)

        def helper(value=X):
            return value

        def later(value=LOG):
            return value
        """)
    assert entries_at_commit(entries) == [
        ("update", "f", False),     # it calls helper: it waits for it
        ("run", "X = 2", True),
        ("run", "LOG.append(X)", False),
        ("add", "helper", False),   # reads X, which the live statement names
        ("add", "later", False),    # reads LOG, which it names too
    ]


def test_a_definition_below_a_call_that_reads_nothing_it_names_is_committed(planned):
    plan, entries, _ = planned(
        """\
        def f():
            return 1

        print("imported")
        """,
        """\
        def f():
            return helper()

        print("imported again")

        def helper(value=3):
            return value

        @staticmethod
        def decorated():
            return 4
        """)
    assert entries_at_commit(entries) == [
        ("update", "f", True),
        ("run", 'print("imported again")', False),
        ("add", "helper", True),
        ("add", "decorated", False),
    ]


def test_a_swap_waits_for_what_it_calls_that_is_made_after_the_commit(planned):
    plan, entries, _ = planned(
        """\
        def same(fn):
            return fn

        def b():
            return 1

        print("imported")
        """,
        """\
        def same(fn):
            return fn

        def b():
            return c()

        print("imported again")

        @same
        def c():
            return d()

        @same
        def d():
            return 2
        """)
    waiting = [entry for entry in entries if entry.verb == "update"]
    assert [(entry.what, entry.at_commit, entry.reason) for entry in waiting] == [
        ("b", False, "waits for d, made after the commit")]  # c calls d: b waits for both


def test_a_statement_too_deep_to_parse_here_is_left_to_run_live():
    # CPython 3.9-3.11 parse with Python's recursion limit: deep in a stack, a long sum
    # the file's compile accepted may not parse again. It must not raise into the save.
    import sys

    text = ["X = " + "+".join(["1"] * 400)]

    def nested(depth):
        return nested(depth - 1) if depth else inert_making(text)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)
    try:
        made = nested(100)
    finally:
        sys.setrecursionlimit(limit)
    assert made is None or made.reads == frozenset()
