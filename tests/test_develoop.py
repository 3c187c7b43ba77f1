"""End to end: the develoop (--loop, --xloop) driven through a pseudo-terminal, live
loops whose body is edited while they run, and the pytest test develoop."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from textwrap import dedent
from typing import List

import pytest

from conftest import jurigged_command, started_processes, subprocess_env

_ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07|[()][AB0-9]|[=>78])")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")


class TerminalProcess:
    """A process whose stdin, stdout and stderr are one pseudo-terminal, as when a
    person runs it. `expect` waits (with a deadline) for text after what it matched
    last; `send` types keys."""

    def __init__(self, args: List[str], cwd: Path, env: dict):
        self.args = args
        master, slave = pty.openpty()
        self.master = master
        self.popen = subprocess.Popen(args, cwd=str(cwd), env=env, stdin=slave,
                                      stdout=slave, stderr=slave, close_fds=True,
                                      start_new_session=True)
        os.close(slave)
        self.output = ""
        self.position = 0  # where the next expect() looks from, in the output
        self.plain_position = 0  # the same, in the output without escape sequences

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return False
        try:
            data = os.read(self.master, 4096)
        except OSError:  # the child closed the terminal
            data = b""
        if not data:
            return False
        self.output += data.decode(errors="replace").replace("\r\n", "\n")
        return True

    def expect(self, text: str, timeout: float = 15, plain: bool = False) -> str:
        """`plain`: look in the output without its terminal escape sequences (for
        full-screen output, where styles split the text)."""
        deadline = time.monotonic() + timeout
        while True:
            output = _ESCAPES.sub("", self.output) if plain else self.output
            position = self.plain_position if plain else self.position
            found = output.find(text, position)
            if found >= 0:
                end = found + len(text)
                if plain:
                    self.plain_position = end
                else:
                    self.position = end
                return output[found:end]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (not self._read(remaining) and self.popen.poll() is not None
                                  and not self._read(0)):
                self.fail(f"no {text!r} within {timeout}s")

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wait(self, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        while self.popen.poll() is None and time.monotonic() < deadline:
            self._read(0.05)
        if self.popen.poll() is None:
            self.fail(f"still running after {timeout}s")
        while self._read(0):
            pass
        return self.popen.returncode

    def continue_to_the_end(self, last_output: str, plain: bool = False) -> None:
        """Leave the loop with `c`, then wait for `last_output` and for the program to
        end with status 0."""
        self.send("c")
        self.expect(last_output, plain=plain)
        assert self.wait() == 0

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()
        try:
            os.close(self.master)
        except OSError:
            pass

    def fail(self, reason: str):
        while self.popen.poll() is None and self._read(0):
            pass
        self.kill()
        pytest.fail(f"{' '.join(self.args)}: {reason}; output so far:\n{self.output}")


@pytest.fixture
def terminal(tmp_path):
    """Start `jurigged ARGS...` (or `command ARGS...`) in tmp_path on a pseudo-terminal;
    processes still running at the end of the test are killed."""
    def make(args: List[str], home: Path, command=None) -> TerminalProcess:
        return TerminalProcess([*(command or jurigged_command()), *args], tmp_path,
                               subprocess_env(home))

    yield from started_processes(tmp_path, make)


# The line-by-line interface, whose output the tests read as it comes.
BASIC = ("--loop-interface", "basic")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


APP = """\
import sys

def f(x):
    print("in f", x)
    return x * 2

class Shape:
    def area(self, side):
        return side * side

print("start")
print("f gave", f(3))
print("area gave", Shape().area(4))
"""


def test_loop_reruns_on_save_and_continue_returns_the_last_result(terminal, tmp_path):
    (tmp_path / "app.py").write_text(APP)
    p = terminal(*BASIC, "--loop", "f", "app.py")
    p.expect("start")
    p.expect("#1 f(3)")
    p.expect("in f 3")
    p.expect("#1 result")
    p.expect("6")
    edit(tmp_path / "app.py", "x * 2", "x * 3")
    p.expect("#2 f(3)")
    p.expect("#2 result")
    p.expect("9")
    p.send("r")  # the key re-runs too
    p.expect("#3 result")
    p.send("c")
    p.expect("f gave 9")
    p.expect("area gave 16")  # Shape.area is not looped
    assert p.wait() == 0


def test_an_error_in_the_new_code_is_shown_and_the_loop_goes_on(terminal, tmp_path):
    (tmp_path / "app.py").write_text(APP)
    p = terminal(*BASIC, "-l", "Shape.area", "app.py")
    p.expect("#1 Shape.area(4)")
    p.expect("16")
    edit(tmp_path / "app.py", "return side * side", "return side / 0")
    p.expect("#2 error")
    p.expect("ZeroDivisionError")
    assert "app.py" in p.output and "return side / 0" in p.output
    edit(tmp_path / "app.py", "return side / 0", "return side + side")
    p.expect("#3 result")
    p.expect("8")
    p.send("q")
    assert p.wait() == 1
    assert "area gave" not in p.output


def test_continue_after_an_error_raises_it_in_the_program(terminal, tmp_path):
    (tmp_path / "app.py").write_text(APP.replace("x * 2", "x / 0"))
    p = terminal(*BASIC, "-l", "/__main__/f", "app.py")
    p.expect("#1 error")
    p.expect("ZeroDivisionError")
    p.send("c")
    assert p.wait() == 1
    assert "\nf gave" not in p.output
    assert p.output.count("ZeroDivisionError") >= 2  # in the loop, then uncaught


def test_xloop_enters_only_when_the_function_raises(terminal, tmp_path):
    (tmp_path / "app.py").write_text(dedent("""\
        def inverse(x):
            return 1 / x

        print("first", inverse(4))
        print("second", inverse(0))
        """))
    p = terminal(*BASIC, "--xloop", "inverse", "app.py")
    p.expect("first 0.25")
    p.expect("#1 error")  # only the call that raised
    p.expect("ZeroDivisionError")
    assert "#1 inverse(4)" not in p.output
    edit(tmp_path / "app.py", "return 1 / x", "return 1 / (x + 1)")
    p.expect("#2 inverse(0)")
    p.expect("#2 result")
    p.continue_to_the_end("second 1.0")


def test_a_run_in_progress_is_interrupted_by_a_save(terminal, tmp_path):
    (tmp_path / "app.py").write_text(dedent("""\
        import time

        def work():
            print("working", flush=True)
            while True:
                time.sleep(0.01)

        print("done", work())
        """))
    p = terminal(*BASIC, "-l", "work", "app.py")
    p.expect("#1 work()")
    p.expect("working")
    edit(tmp_path / "app.py", "while True:", "while False:")
    p.expect("#1 interrupted")
    p.expect("#2 work()")
    p.expect("#2 result")
    p.continue_to_the_end("done None")


def test_module_forms_with_dash_m(terminal, tmp_path):
    (tmp_path / "shapes.py").write_text(dedent("""\
        def double(x):
            return x * 2

        def main():
            print("main got", double(5))
        """))
    p = terminal(*BASIC, "--loop", "shapes:double", "-m", "shapes:main")
    p.expect("#1 double(5)")
    p.expect("10")
    edit(tmp_path / "shapes.py", "x * 2", "x * 7")
    p.expect("#2 result")
    p.expect("35")
    p.continue_to_the_end("main got 35")

    (tmp_path / "runme.py").write_text(dedent("""\
        def triple(x):
            return x * 3

        print("ran", triple(2))
        """))
    p = terminal(*BASIC, "--loop", "triple", "-m", "runme")
    p.expect("#1 triple(2)")
    p.expect("6")
    p.continue_to_the_end("ran 6")


def test_decorator_with_and_without_arguments_on_methods(terminal, tmp_path):
    (tmp_path / "app.py").write_text(dedent("""\
        import jurigged

        class Greeter:
            @jurigged.loop(interface="basic")
            def greet(self, name):
                return "hello " + name

        @jurigged.xloop
        def safe():
            return "fine"

        print("safe", safe())
        print("got", Greeter().greet("ann"))
        """))
    p = terminal("app.py")
    p.expect("safe fine")
    p.expect("#1 Greeter.greet('ann')")
    p.expect("'hello ann'")
    edit(tmp_path / "app.py", '"hello "', '"bye "')
    p.expect("#2 result")
    p.expect("'bye ann'")
    p.continue_to_the_end("got bye ann")


def test_the_imports_of_0_6_1_programs(terminal, tmp_path):
    """0.6.1's README has `@__.loop(interface="basic")`, with `__` from jurigged.loop
    (or put into builtins by its inject()), and programs import `loop` from there."""
    (tmp_path / "app.py").write_text(dedent("""\
        from jurigged.loop import loop, inject
        inject()

        @__.loop(interface="basic")
        def double(x):
            return x * 2

        @loop(interface="basic")
        def shout(word):
            return word.upper()

        print("double", double(4))
        print("shout", shout("hi"))
        """))
    p = terminal("app.py")
    p.expect("#1 double(4)")
    p.expect("8")
    edit(tmp_path / "app.py", "x * 2", "x * 5")
    p.expect("#2 result")
    p.expect("20")
    p.send("c")
    p.expect("double 20")
    p.expect("#1 shout('hi')")
    p.expect("'HI'")
    p.continue_to_the_end("shout HI")


def test_an_unknown_name_is_reported(terminal, tmp_path):
    (tmp_path / "app.py").write_text(APP)
    p = terminal(*BASIC, "-l", "nothing_here", "app.py")
    p.expect("--loop nothing_here: no such function")
    p.expect("area gave 16")
    assert p.wait() == 0


# -- jurigged.live ----------------------------------------------------------------------

LIVE = """\
import sys
import jurigged

def main():
    count = 0
    seen = []
    for line in jurigged.live(iter(sys.stdin.readline, "")):
        count += 1
        seen.append(line.strip())
        print("V1", count, seen, flush=True)
    print("end", count, seen, line.strip())

main()
"""


def test_a_running_live_loop_runs_each_saved_body_with_its_locals(terminal, tmp_path):
    app = tmp_path / "app.py"
    app.write_text(LIVE)
    p = terminal("-v", "app.py")
    p.send("a\n")
    p.expect("V1 1 ['a']")
    # After each save, wait for jurigged's own report of it (it patches main(), whose
    # running frame it leaves alone) before the next line goes in.
    edit(app, 'print("V1", count, seen, flush=True)',
         'total = count * 10\n        print("V2", count, seen, total, flush=True)')
    p.expect("Update __main__.main")
    p.send("b\n")
    p.expect("V2 2 ['a', 'b'] 20")
    edit(app, "total = count * 10", "total = count * (")  # a syntax error
    p.expect("syntax error; nothing applied")
    p.send("c\n")
    p.expect("syntax error; the live loop keeps running its last good body")
    p.expect("V2 3 ['a', 'b', 'c'] 30")
    edit(app, 'total = count * (\n        print("V2", count, seen, total, flush=True)',
         'print("V3", count, seen[-1], flush=True)')
    p.expect("Update __main__.main")
    p.send("d\n")
    p.expect("V3 4 d")
    p.send("\x04")  # end of input ends the loop
    p.expect("end 4 ['a', 'b', 'c', 'd'] d")
    assert p.wait() == 0


def test_an_edited_body_that_raises_is_reported_and_the_loop_goes_on(terminal, tmp_path):
    app = tmp_path / "app.py"
    app.write_text(LIVE)
    p = terminal("-v", "app.py")
    p.send("a\n")
    p.expect("V1 1 ['a']")
    edit(app, 'print("V1", count, seen, flush=True)', 'print("V2", count, 1 / 0)')
    p.expect("Update __main__.main")
    p.send("b\n")
    p.expect("the edited loop body raised ZeroDivisionError")
    edit(app, 'print("V2", count, 1 / 0)', 'print("V3", count, seen, flush=True)')
    p.expect("Update __main__.main")
    p.send("c\n")
    p.expect("V3 3 ['a', 'b', 'c']")  # the failed iteration's `count += 1` stayed done
    p.send("\x04")
    p.expect("end 3")
    assert p.wait() == 0


# -- the test develoop --------------------------------------------------------------------

def _pytest_project(tmp_path: Path) -> None:
    (tmp_path / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (tmp_path / "test_calc.py").write_text(dedent("""\
        from calc import add

        def test_add():
            assert add(2, 3) == 5

        def test_other():
            assert True
        """))


def test_loop_on_a_test_reruns_it_in_the_same_process(terminal, tmp_path):
    _pytest_project(tmp_path)
    p = terminal(*BASIC, "--loop", "test_add", "-m", "pytest",
                 "-q", "-p", "no:cacheprovider", "test_calc.py")
    p.expect("#1 test_add()")
    p.expect("#1 error")
    p.expect("assert -1 == 5")
    edit(tmp_path / "calc.py", "a - b", "a + b")  # fix the code under test
    p.expect("#2 result")
    edit(tmp_path / "test_calc.py", "== 5", "== 6")  # the test file itself
    p.expect("#3 error")
    p.expect("AssertionError")
    edit(tmp_path / "test_calc.py", "== 6", "== 2 + 3")
    p.expect("#4 result")
    p.continue_to_the_end("2 passed")


def test_pytest_plugin_xloop_on_failing_tests_without_the_jurigged_command(
        terminal, tmp_path):
    _pytest_project(tmp_path)
    p = terminal("-m", "pytest", "-q", "-p", "no:cacheprovider", "--jurigged-xloop",
                 "test_*", "--jurigged-loop-interface", "basic", "test_calc.py", command=[sys.executable])
    p.expect("#1 error")  # test_add failed; test_other never enters the loop
    p.expect("assert -1 == 5")
    edit(tmp_path / "calc.py", "a - b", "a + b")
    p.expect("#2 test_add()")
    p.expect("#2 result")
    p.continue_to_the_end("2 passed")
    assert "test_other()" not in p.output


# -- the rich interface -------------------------------------------------------------------

def test_rich_interface_shows_output_and_result_full_screen(terminal, tmp_path):
    pytest.importorskip("rich")
    (tmp_path / "app.py").write_text(dedent("""\
        def f(x):
            print("printed-by-f", x)
            return "result-" + str(x * 2)

        print("f gave", f(3))
        """))
    p = terminal("--loop-interface", "rich", "--loop", "f", "app.py")
    p.expect("Looping on: f(3)", plain=True)
    p.expect("printed-by-f 3", plain=True)
    p.expect("'result-6'", plain=True)
    edit(tmp_path / "app.py", "x * 2", "x * 5")
    p.expect("'result-15'", plain=True)
    edit(tmp_path / "app.py", '"result-" + str(x * 5)', '1 / 0')
    p.expect("ZeroDivisionError", plain=True)
    edit(tmp_path / "app.py", '1 / 0', '"result-" + str(x * 7)')
    p.expect("'result-21'", plain=True)
    p.continue_to_the_end("f gave result-21", plain=True)


def test_a_function_imported_by_name_before_the_loop_is_installed_loops(terminal, tmp_path):
    (tmp_path / "lib.py").write_text("def double(x):\n    return x * 2\n")
    (tmp_path / "app.py").write_text(dedent("""\
        from lib import double

        def main():
            return double(21)

        print("main gave", main())
        """))
    p = terminal(*BASIC, "--loop", "lib:double", "app.py")
    p.expect("#1 double(21)")
    p.expect("42")
    edit(tmp_path / "lib.py", "x * 2", "x + 1")
    p.expect("#2 result")
    p.expect("22")
    p.continue_to_the_end("main gave 22")


def test_the_basic_interface_leaves_stdin_to_the_looped_function(terminal, tmp_path):
    (tmp_path / "app.py").write_text(dedent("""\
        def ask():
            return "hello " + input("name? ")

        print("asked", ask())
        """))
    p = terminal(*BASIC, "--loop", "ask", "app.py")
    p.expect("name? ")
    p.send("bob\n")
    p.expect("'hello bob'")
    p.expect("save a file")
    edit(tmp_path / "app.py", '"hello "', '"bye "')
    p.expect("#2 ask()")
    p.expect("name? ")
    p.send("amy\n")
    p.expect("'bye amy'")
    p.continue_to_the_end("asked bye amy")
