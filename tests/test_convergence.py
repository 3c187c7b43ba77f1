"""End to end: after saves, the live program equals a fresh interpreter on the files on
disk. A real `jurigged -v` process runs a probe loop; after each save the test asks a
fresh `python` for the same probe on the same files and waits for the live program to
print that value."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent, indent
from typing import Dict

import pytest

from conftest import subprocess_env
from live_support import fresh_probe_line, probe_loop, start_probe_loop
from watcher_support import require_tool, run


def env_without_bytecode(tmp_path: Path) -> dict:
    # Saves of equal size within one second would let a fresh interpreter trust a stale
    # .pyc; no process writes any.
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return dict(subprocess_env(home), PYTHONDONTWRITEBYTECODE="1")


def write_files(tmp_path: Path, files: Dict[str, str]) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(dedent(text))


def start(run_jurigged, tmp_path: Path, files: Dict[str, str], imports: str, probe: str):
    """The probe loop (prints `R <repr(value)>` whenever the probe's value changes) on
    `files`, dedented."""
    program = probe_loop(probe, imports=imports, rounds=6000, main_guard=True)
    return start_probe_loop(run_jurigged, tmp_path, program,
                            {name: dedent(text) for name, text in files.items()},
                            env=env_without_bytecode(tmp_path))


def fresh(tmp_path: Path) -> str:
    """The probe's line as a fresh interpreter prints it for the files on disk now."""
    return fresh_probe_line(tmp_path, env_without_bytecode(tmp_path))


def converges(process, tmp_path: Path, timeout: float = 10) -> str:
    """Wait until the live program prints what a fresh interpreter prints."""
    expected = fresh(tmp_path)
    process.seen(expected, stream="out", timeout=timeout)
    return expected


# ---- 1. a changed statement in a block with definitions runs once -----------------------

BLOCK_HEADERS = {
    "if": ("if True:", ""),
    "for": ("for k in range(1):", ""),
    "with": ("with contextlib.nullcontext():", ""),
    "try": ("try:", "except ImportError:\n    pass\n"),
}

NESTED = """\
if True:
    def f():
        return 1
    runs = []
    runs.append("a")
    tally.hits.append("a")
"""


@pytest.mark.parametrize("kind", sorted(BLOCK_HEADERS))
def test_statement_in_nested_blocks_runs_once(run_jurigged, tmp_path, kind):
    header, tail = BLOCK_HEADERS[kind]
    lib = f"import contextlib, tally\n{header}\n" + indent(NESTED, "    ") + tail
    files = {"lib.py": lib, "tally.py": "hits = []\n", "marker.py": "done = False\n"}
    p = start(run_jurigged, tmp_path, files, "import lib, tally, marker",
              "(lib.f(), lib.runs, tally.hits, marker.done)")
    p.expect("R (1, ['a'], ['a'], False)", stream="out")
    (tmp_path / "lib.py").write_text(lib.replace('"a"', '"b"'))
    p.expect("R (1, ['b']", stream="out")
    # A later save shows the first one is over: its state is final.
    write_files(tmp_path, {"marker.py": "done = True\n"})
    # Once: the block's own list is rebuilt as a fresh import builds it, and the side
    # effect outside the block happened exactly once more.
    p.expect("R (1, ['b'], ['a', 'b'], True)", stream="out")
    assert fresh(tmp_path) == "R (1, ['b'], ['b'], True)"


# ---- 2. a block nested in a module-level loop may use break/continue -------------------

def test_break_in_a_block_nested_in_a_loop_applies(run_jurigged, tmp_path):
    lib = """\
    found = {}
    for k in range(6):
        def f():
            return k
        if k == 2:
            break
        found[k] = True
    """
    p = start(run_jurigged, tmp_path, {"lib.py": lib}, "import lib",
              "(sorted(lib.found), lib.k, lib.f())")
    converges(p, tmp_path)
    write_files(tmp_path, {"lib.py": lib.replace("k == 2", "k == 4")})
    assert converges(p, tmp_path) == "R ([0, 1, 2, 3], 4, 4)"
    write_files(tmp_path, {"lib.py": lib.replace("k == 2:\n        break",
                                                 "k == 4:\n        continue")})
    converges(p, tmp_path)
    assert "outside loop" not in p.output("err")


# ---- 3. failed statements are retried ------------------------------------------------------

def test_import_of_a_module_created_later_is_retried(run_jurigged, tmp_path):
    files = {"lib.py": "value = 1\n", "other.py": "x = 1\n"}
    p = start(run_jurigged, tmp_path, files, "import lib, other", "lib.value")
    p.expect("R 1", stream="out")
    write_files(tmp_path, {"lib.py": "from helper import VALUE as value\n"})
    p.expect("ModuleNotFoundError", stream="err")
    # helper.py is not watched (nothing imported it); any later save retries.
    write_files(tmp_path, {"helper.py": "VALUE = 42\n", "other.py": "x = 2\n"})
    assert converges(p, tmp_path) == "R 42"


def test_name_defined_by_a_later_save_is_retried(run_jurigged, tmp_path):
    lib = "value = 1\n"
    p = start(run_jurigged, tmp_path, {"lib.py": lib}, "import lib", "lib.value")
    p.expect("R 1", stream="out")
    write_files(tmp_path, {"lib.py": "value = make() * 2\n"})
    p.expect("NameError", stream="err")
    write_files(tmp_path, {"lib.py": "def make():\n    return 21\nvalue = make() * 2\n"})
    assert converges(p, tmp_path) == "R 42"
    assert p.output("err").count("NameError") == 1  # retried silently, then it worked


def test_decorator_defined_by_a_later_save_is_retried(run_jurigged, tmp_path):
    files = {"lib.py": "import tools\ndef f():\n    return 1\n", "tools.py": "x = 1\n"}
    p = start(run_jurigged, tmp_path, files, "import lib", "lib.f()")
    p.expect("R 1", stream="out")
    write_files(tmp_path, {"lib.py": "import tools\n@tools.tenfold\ndef f():\n    return 1\n"})
    p.expect("AttributeError", stream="err")
    write_files(tmp_path, {"tools.py": "x = 1\ndef tenfold(function):\n"
                                       "    return lambda: function() * 10\n"})
    assert converges(p, tmp_path) == "R 10"
    # Saved again while failing: re-created from the text of that save.
    write_files(tmp_path, {"lib.py": "import tools\n@tools.tenfold\ndef f():\n    return 2\n"})
    assert converges(p, tmp_path) == "R 20"


def test_decorator_failing_then_file_saved_again(run_jurigged, tmp_path):
    files = {"lib.py": "def f():\n    return 1\n"}
    p = start(run_jurigged, tmp_path, files, "import lib", "lib.f()")
    p.expect("R 1", stream="out")
    write_files(tmp_path, {"lib.py": "@tenfold\ndef f():\n    return 1\n"})
    p.expect("NameError", stream="err")
    write_files(tmp_path, {"lib.py": "def tenfold(function):\n"
                                     "    return lambda: function() * 10\n"
                                     "@tenfold\ndef f():\n    return 1\n"})
    assert converges(p, tmp_path) == "R 10"


def test_failure_reported_once_then_dropped_when_the_statement_changes(run_jurigged,
                                                                      tmp_path):
    files = {"lib.py": "import tally\nvalue = 1\n", "other.py": "x = 1\n",
             "tally.py": "hits = []\n"}
    p = start(run_jurigged, tmp_path, files, "import lib, other, tally",
              "(lib.value, other.x, len(tally.hits))")
    p.expect("R (1, 1, 0)", stream="out")
    write_files(tmp_path, {"lib.py": "import tally\nvalue = (tally.hits.append(1), 1 / 0)\n"})
    p.expect("ZeroDivisionError", stream="err")
    # Retried on the next save (once: its side effect shows how often it ran)...
    write_files(tmp_path, {"other.py": "x = 2\n"})
    p.expect("R (1, 2, 2)", stream="out")
    assert "R (1, 1, 2)" not in p.output("out")  # ...and not right after failing
    # ...until its text changes.
    write_files(tmp_path, {"lib.py": "import tally\nvalue = 3\n"})
    p.expect("R (3, 2, 2)", stream="out")
    assert p.output("err").count("ZeroDivisionError") == 1  # the same error said once


# ---- 4. files saved together apply as one unit ------------------------------------------

def git_repo(tmp_path: Path):
    git = require_tool("git")

    def g(*args):
        run(git, "-c", "user.name=t", "-c", "user.email=t@example.org", *args,
            cwd=tmp_path)
    return g


def test_git_checkout_of_an_import_and_its_new_name(run_jurigged, tmp_path):
    g = git_repo(tmp_path)
    # a.py is imported first (it imports b), so only the batch's dependency order runs
    # its statements after b's: its side effect shows it ran once, as at import.
    one = {"a.py": "import b, tally\nvalue = 'old'\n", "b.py": "def old():\n    return 1\n",
           "tally.py": "hits = []\n"}
    two = {"a.py": "import b, tally\nfrom b import new_name\n"
                   "value = (tally.hits.append(1), new_name(), b.NEW_CONSTANT)[1:]\n",
           "b.py": "def old():\n    return 1\ndef new_name():\n    return 'new'\n"
                   "NEW_CONSTANT = 7\n"}
    write_files(tmp_path, one)
    g("init", "-q", "-b", "one")
    g("add", "a.py", "b.py", "tally.py")
    g("commit", "-q", "-m", "one")
    g("checkout", "-q", "-b", "two")
    write_files(tmp_path, two)
    g("commit", "-q", "-am", "two")
    g("checkout", "-q", "one")
    p = start(run_jurigged, tmp_path, {}, "import a, tally", "(a.value, len(tally.hits))")
    p.expect("R ('old', 0)", stream="out")
    g("checkout", "-q", "two")
    assert converges(p, tmp_path) == "R (('new', 7), 1)"
    assert "failed" not in p.output("err")


def test_a_checkout_of_a_chain_of_imports_is_applied_as_one_batch(run_jurigged, tmp_path):
    # With no debounce (the default), git's files complete milliseconds apart; the
    # checkout is still one batch (git holds its index lock throughout), so each
    # module's new statement runs once, after the module it imports from, as a fresh
    # run: no failure, no retry that would run a side effect twice.
    g = git_repo(tmp_path)
    count = 8
    names = [f"m{i}.py" for i in range(count)]
    one = {name: "import tally\nvalue = 0\n" for name in names}
    one["tally.py"] = "hits = []\n"
    two = {}
    for i, name in enumerate(names):
        last = i == count - 1
        imported = "" if last else f"from m{i + 1} import value as following\n"
        two[name] = ("import tally\n" + imported
                     + f"value = (tally.hits.append({i}), {'0' if last else 'following'} + 1)[1]\n")
    write_files(tmp_path, one)
    g("init", "-q", "-b", "one")
    g("add", ".")
    g("commit", "-q", "-m", "one")
    g("checkout", "-q", "-b", "two")
    write_files(tmp_path, two)
    g("commit", "-q", "-am", "two")
    g("checkout", "-q", "one")
    imports = "import tally, " + ", ".join(f"m{i}" for i in range(count))
    p = start(run_jurigged, tmp_path, {}, imports, "(m0.value, sorted(tally.hits))")
    p.expect("R (0, [])", stream="out")
    g("checkout", "-q", "two")
    assert converges(p, tmp_path) == f"R ({count}, {list(range(count))})"
    assert "failed" not in p.output("err")


def test_a_broken_file_of_a_batch_does_not_stop_the_others(run_jurigged, tmp_path):
    g = git_repo(tmp_path)
    names = ("a.py", "b.py", "c.py")
    write_files(tmp_path, {name: "value = 1\n" for name in names})
    g("init", "-q", "-b", "one")
    g("add", *names)
    g("commit", "-q", "-m", "one")
    g("checkout", "-q", "-b", "two")
    write_files(tmp_path, {"a.py": "value = 2\n", "b.py": "value = (\n", "c.py": "value = 2\n"})
    g("commit", "-q", "-am", "two")
    g("checkout", "-q", "one")
    p = start(run_jurigged, tmp_path, {}, "import a, b, c", "(a.value, b.value, c.value)")
    p.expect("R (1, 1, 1)", stream="out")
    g("checkout", "-q", "two")
    line = p.expect("b.py", stream="err")
    assert "nothing applied" in line
    p.expect("R (2, 1, 2)", stream="out")
    # Fixed: the next good save applies, and equals a fresh run.
    write_files(tmp_path, {"b.py": "value = 2\n"})
    assert converges(p, tmp_path) == "R (2, 2, 2)"


# ---- 5. a refused save never becomes the baseline ---------------------------------------

def test_refused_save_is_not_the_baseline_of_the_next(run_jurigged, tmp_path):
    # Whether the source model reads cp1251 or not, the live program must never run
    # the second save without the first (the first's change lost).
    lib = "# coding: cp1251\ndef f():\n    return 1\ndef g():\n    return 1\n"
    p = start(run_jurigged, tmp_path, {"lib.py": lib}, "import lib", "(lib.f(), lib.g())")
    p.expect("R (1, 1)", stream="out")
    first = lib.replace("return 1", "return 2", 1)
    write_files(tmp_path, {"lib.py": first})
    line = p.expect("R (2, 1)" if _model_reads("cp1251") else "running version",
                    timeout=10)
    assert "R (2, 1)" in line or "nothing applied" in line
    write_files(tmp_path, {"lib.py": first.replace("return 1", "return 3")})
    if _model_reads("cp1251"):
        converges(p, tmp_path)
    else:
        p.expect("running version", stream="err")
    assert "R (1, 3)" not in p.output("out")


def _model_reads(encoding: str) -> bool:
    from jurigged.parsing import parse_source
    try:
        parse_source(f"# coding: {encoding}\nx = 1\n".encode(), "probe.py")
        return True
    except SyntaxError:
        return False


def test_syntax_error_save_then_good_save_applies_everything(run_jurigged, tmp_path):
    lib = "def f():\n    return 1\ndef g():\n    return 1\n"
    p = start(run_jurigged, tmp_path, {"lib.py": lib}, "import lib", "(lib.f(), lib.g())")
    p.expect("R (1, 1)", stream="out")
    write_files(tmp_path, {"lib.py": lib.replace("return 1", "return 2", 1) + "x = (\n"})
    p.expect("nothing applied", stream="err")
    write_files(tmp_path, {"lib.py": lib.replace("return 1", "return 2", 1)
                           .replace("def g():\n    return 1", "def g():\n    return 3")})
    assert converges(p, tmp_path) == "R (2, 3)"


# ---- 6. what CPython's compiler rejects for the whole file is refused --------------------

def test_late_future_import_is_refused(run_jurigged, tmp_path):
    p = start(run_jurigged, tmp_path, {"lib.py": "value = 1\n"}, "import lib",
              "(lib.value, 'annotations' in vars(lib))")
    p.expect("R (1, False)", stream="out")
    write_files(tmp_path, {"lib.py": "value = 2\nfrom __future__ import annotations\n"})
    line = p.expect("lib.py:2", stream="err")
    assert "nothing applied" in line
    # Nothing of it ran, so later saves compile as a fresh import would: this
    # annotation is evaluated, and fails, as it would at import.
    write_files(tmp_path, {"lib.py": "value = 3\ndef g(y: undefined_name = 1):\n"
                                     "    return y\n"})
    p.expect("NameError", stream="err")
    p.expect("R (3, False)", stream="out")
    write_files(tmp_path, {"lib.py": "value = 4\n"})
    assert converges(p, tmp_path) == "R (4, False)"


# ---- 7. identical functions in both branches: only the live one is patched ---------------

def test_edit_of_the_branch_that_never_ran(run_jurigged, tmp_path):
    # The branch that never ran comes first: the one the old pairing took for the
    # edited one.
    lib = dedent("""\
    import sys
    if sys.version_info < (3,):
        def f():
            return 1
    else:
        def f():
            return 1
    try:
        import no_such_module_anywhere
        def g():
            return 1
    except ImportError:
        def g():
            return 1
    marker = 0
    """)
    p = start(run_jurigged, tmp_path, {"lib.py": lib}, "import lib",
              "(lib.f(), lib.g(), lib.marker)")
    p.expect("R (1, 1, 0)", stream="out")
    lines = lib.split("\n")
    f_dead, f_live, g_dead, g_live = [i for i, line in enumerate(lines)
                                      if "return 1" in line]
    marker = lines.index("marker = 0")
    for dead in (f_dead, g_dead):
        lines[dead] = lines[dead].replace("1", "20")
    lines[marker] = "marker = 1"  # saved with them, so it shows the save was applied
    write_files(tmp_path, {"lib.py": "\n".join(lines)})
    assert converges(p, tmp_path) == "R (1, 1, 1)"
    for live in (f_live, g_live):
        lines[live] = lines[live].replace("1", "5")
    lines[marker] = "marker = 2"
    write_files(tmp_path, {"lib.py": "\n".join(lines)})
    assert converges(p, tmp_path) == "R (5, 5, 2)"
    assert "R (20" not in p.output("out")


def test_edit_of_the_live_branch_when_both_are_identical(run_jurigged, tmp_path):
    lib = """\
    import sys
    if sys.version_info >= (3,):
        def f():
            return 1
    else:
        def f():
            return 1
    """
    p = start(run_jurigged, tmp_path, {"lib.py": lib}, "import lib", "lib.f()")
    p.expect("R 1", stream="out")
    write_files(tmp_path, {"lib.py": lib.replace("return 1", "return 2", 1)})
    assert converges(p, tmp_path) == "R 2"


def test_block_that_loses_its_definitions_takes_them_along(run_jurigged, tmp_path):
    lib = "if True:\n    def f():\n        return 1\n    x = 1\n"
    p = start(run_jurigged, tmp_path, {"lib.py": lib}, "import lib",
              "(hasattr(lib, 'f'), lib.x)")
    p.expect("R (True, 1)", stream="out")
    write_files(tmp_path, {"lib.py": "if True:\n    x = 5\n"})
    assert converges(p, tmp_path) == "R (False, 5)"


def test_definitions_see_the_statements_above_them(run_jurigged, tmp_path):
    lib = "X = 1\ndef f():\n    return 0\n"
    p = start(run_jurigged, tmp_path, {"lib.py": lib}, "import lib",
              "(lib.f(), getattr(lib, 'g', lambda: None)())")
    p.expect("R (0, None)", stream="out")
    # g's default is evaluated after the changed X above it; f becomes a statement.
    write_files(tmp_path, {"lib.py": "X = 2\nf = lambda: X * 10\n"
                                     "def g(a=X):\n    return a\n"})
    assert converges(p, tmp_path) == "R (20, 2)"
    # A changed signature too: its defaults are evaluated after the statement above.
    write_files(tmp_path, {"lib.py": "X = 3\nf = lambda: X * 10\n"
                                     "def g(a=X, b=0):\n    return a + b\n"})
    assert converges(p, tmp_path) == "R (30, 3)"


def test_running_block_is_not_started_again_piece_by_piece(run_jurigged, tmp_path):
    # The main loop sits in a block with a definition: a change inside it applies on
    # restart, and none of the statements nested in the block runs on its own.
    app = dedent("""\
    import time
    if __name__ == "__main__":
        def step():
            return "s1"
        for i in range(3000):
            print("tick", step(), flush=True)
            time.sleep(0.01)
    """)
    (tmp_path / "app.py").write_text(app)
    p = run_jurigged("-v", "app.py", env=env_without_bytecode(tmp_path))
    p.expect("tick s1", stream="out")
    (tmp_path / "app.py").write_text(app.replace('"s1"', '"s2"').replace('"tick"', '"tock"'))
    p.expect("applies on restart", stream="err")
    p.expect("tick s2", stream="out")
    # The watcher is free (no second loop runs in it): the next save applies too.
    (tmp_path / "app.py").write_text(app.replace('"s1"', '"s3"').replace('"tick"', '"tock"'))
    p.expect("tick s3", stream="out")
    assert "tock" not in p.output("out")


# ---- definitions below a changed statement, built for the commit or not ------------------

BELOW_A_STATEMENT = """\
LEVEL = int("{level}")


class Base:
    def __init_subclass__(cls):
        cls.seen = LEVEL


def default_of(value=LEVEL):
    return value
"""


def test_definitions_below_a_changed_statement_see_what_it_made(run_jurigged, tmp_path):
    # The save changes LEVEL (a call: it re-runs after the commit) and adds, below it,
    # a subclass whose base's __init_subclass__ reads LEVEL, a function whose default
    # is LEVEL, and a plain function. Only the plain one may be made before the
    # statement runs: the others must see the new LEVEL, as in a fresh run.
    files = {"lib.py": BELOW_A_STATEMENT.format(level=1)}
    p = start(run_jurigged, tmp_path, files, "import lib",
              "(getattr(lib, 'Added', None) and lib.Added.seen, "
              "getattr(lib, 'later', lambda: None)(), getattr(lib, 'plain', lambda: None)())")
    p.expect("R (None, None, None)", stream="out")
    write_files(tmp_path, {"lib.py": BELOW_A_STATEMENT.format(level=2) + dedent("""\


        class Added(Base):
            pass


        def later(value=LEVEL):
            return value


        def plain():
            return "plain"
        """)})
    assert converges(p, tmp_path) == "R (2, 2, 'plain')"
