"""`jurigged --explain OLD NEW` through the real command: the plan of a save, printed
without running the files (they would fail loudly if they ran)."""

from __future__ import annotations

import subprocess
from textwrap import dedent

from conftest import jurigged_command

OLD = dedent("""\
    raise SystemExit("this file must not run")
    X = 1

    def b():
        return 1

    def gone():
        pass
    """)

NEW = dedent("""\
    raise SystemExit("this file must not run")
    X = 1

    def b():
        return c()

    def c():
        return 2

    X = 2
    print(X)
    """)


def explain(tmp_path, old: str, new: str):
    (tmp_path / "old.py").write_text(old)
    (tmp_path / "new.py").write_text(new)
    return subprocess.run([*jurigged_command(), "--explain", "old.py", "new.py"],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=60)


def test_explain_lists_the_commit_then_what_runs_after_it(tmp_path):
    result = explain(tmp_path, OLD, NEW)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "commit new.py:4: update b",
        "commit new.py:7: add c",
        "commit new.py:10: re-run X = 2",
        "commit old.py:7: delete gone",
        "after  new.py:11: re-run print(X)",
    ]


def test_explain_refuses_a_save_python_would_refuse(tmp_path):
    result = explain(tmp_path, OLD, NEW + "def broken(:\n")
    assert result.returncode == 1 and result.stdout == ""
    assert "new.py:12: SyntaxError" in result.stderr and "refused" in result.stderr


def test_explain_of_an_unchanged_file(tmp_path):
    result = explain(tmp_path, OLD, OLD)
    assert (result.returncode, result.stdout) == (0, "nothing to do\n")


def test_explain_runs_no_decorator_default_or_statement(tmp_path):
    # Decorators, defaults and class bodies of OLD would print if they ran; the new
    # signature's defaults are not evaluated either.
    old = dedent("""\
        print("RAN statement")

        def deco(f):
            print("RAN decorator")
            return f

        @deco
        def f(x=print("RAN default")):
            return x

        class A:
            print("RAN class body")

            def m(self):
                return super().m()
        """)
    new = old.replace("return x", "return x, 1").replace(
        'x=print("RAN default")', 'x=print("RAN new default"), y=2').replace(
        "return super().m()", "return 2")
    result = explain(tmp_path, old, new)
    assert (result.returncode, result.stderr) == (0, "")
    assert "RAN" not in result.stdout
    assert result.stdout.splitlines() == [
        "commit new.py:7: update f",
        "commit new.py:14: update A.m",
    ]


def test_explain_shows_what_the_planner_decides(tmp_path):
    # Decisions only the real planner makes: a decorator change re-creates the
    # function, a new signature after a changed statement waits for it, a new class
    # header re-creates the class, a definition after the statement that reads what
    # it binds follows it, and one that calls and reads nothing goes into the commit.
    old = dedent("""\
        import functools
        D = 1

        def f(x=D):
            return x

        def g():
            return 1

        class K:
            pass
        """)
    new = dedent("""\
        import functools
        D = int("2")

        def f(x=D + 1):
            return x

        @functools.lru_cache(maxsize=None)
        def g():
            return 1

        class K(object):
            pass

        def h(y=D):
            return 3

        def i():
            return 4
        """)
    result = explain(tmp_path, old, new)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "commit new.py:17: add i",
        "after  new.py:2: re-run D = int(\"2\")",
        "after  new.py:4: update f  (its defaults may need a statement of this save)",
        "after  new.py:7: re-create g  (decorators changed; old references forwarded to it)",
        "after  new.py:11: re-create K  (its header changed)",
        "after  new.py:14: add h  (after a re-run statement of the file)",
    ]


def test_explain_shows_a_swap_waiting_for_the_definition_it_calls(tmp_path):
    # b's new code calls c, which is made after the changed statement (it is
    # decorated): b's swap waits for it instead of going into the commit.
    old = dedent("""\
        LOG = []

        def same(fn):
            return fn

        def b():
            return 1

        LOG.append(1)
        """)
    new = dedent("""\
        LOG = []

        def same(fn):
            return fn

        def b():
            return c()

        LOG.append(2)

        @same
        def c():
            return 2
        """)
    result = explain(tmp_path, old, new)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "after  new.py:6: update b  (waits for c, made after the commit)",
        "after  new.py:9: re-run LOG.append(2)",
        "after  new.py:11: add c  (after a re-run statement of the file)",
    ]
