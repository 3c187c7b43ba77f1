"""The `jurigged` command, run for real: it must start programs exactly as `python`
does, and turn every mistake into one line on stderr."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from conftest import jurigged_command, subprocess_env
from jurigged import __version__

PYTHON_M_JURIGGED = [sys.executable, "-m", "jurigged"]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def run(args, cwd, command=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*(command or jurigged_command()), *args], cwd=str(cwd), text=True,
        capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env=subprocess_env(Path(cwd)))


def python(args, cwd) -> subprocess.CompletedProcess:
    return run(args, cwd, command=[sys.executable])


def assert_same(ours: subprocess.CompletedProcess, theirs: subprocess.CompletedProcess):
    assert (ours.stdout, ours.stderr, ours.returncode) == (
        theirs.stdout, theirs.stderr, theirs.returncode)


SHOW_MAIN = """\
    import builtins, json, os, sys
    main = sys.modules["__main__"]
    print(json.dumps({
        "argv": sys.argv,
        "path0": sys.path[0],
        "file": __file__,
        "name": __name__,
        "globals": sorted(globals()),
        "main is this module": main.__dict__ is globals(),
        "builtins": __builtins__ is builtins,
        "spec": __spec__ and [__spec__.name, __spec__.origin],
        "package": __package__,
        "loader": type(__loader__).__name__,
        "loader name": getattr(__loader__, "name", None),
        "cached": __cached__,
    }, indent=1))
"""


# -- scripts ------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["show.py", "sub/show.py", "./sub/../sub/show.py",
                                   "ABSOLUTE", "LINK"])
def test_script_starts_as_with_python(tmp_path, where):
    write(tmp_path, "sub/show.py", SHOW_MAIN)
    (tmp_path / "show.py").write_text((tmp_path / "sub/show.py").read_text())
    (tmp_path / "link.py").symlink_to(tmp_path / "sub/show.py")
    path = {"ABSOLUTE": str(tmp_path / "sub/show.py"), "LINK": "link.py"}.get(where, where)
    args = [path, "a b", "-v", "--help", "-m", "x"]  # flags after the script are its own
    ours = run(args, tmp_path)
    assert_same(ours, python(args, tmp_path))
    assert '"-v"' in ours.stdout


def test_python_dash_m_jurigged_is_the_same_command(tmp_path):
    write(tmp_path, "sub/show.py", SHOW_MAIN)
    args = ["sub/show.py", "-i", "x"]
    assert_same(run(args, tmp_path, command=PYTHON_M_JURIGGED), python(args, tmp_path))


@pytest.mark.parametrize("source", [
    "print('fine')",
    "import sys\nprint('three')\nsys.exit(3)",
    "import sys\nsys.exit(None)",
    "import sys\nsys.exit('goodbye, with a message')",
    "import sys\nsys.exit(True)",
    """\
    def inner():
        raise ValueError("boom")
    def outer():
        try:
            inner()
        except ValueError as error:
            raise KeyError("again") from error
    print("before")
    outer()
    """,
    "x = (1,\n  2\ndef broken(:\n    pass\n",
    "# -*- coding: latin-1 -*-\nname = 'caf\\xe9'\nprint(name.encode('utf-8'))\n1 / 0\n",
    """\
    import atexit, sys
    atexit.register(lambda: print("atexit handler ran"))
    sys.exit(4)
    """,
    """\
    import sys, traceback
    def hook(kind, value, tb):
        print("custom hook:", kind.__name__, value, len(traceback.extract_tb(tb)))
    sys.excepthook = hook
    raise RuntimeError("handled by the hook")
    """,
    """\
    import threading, time
    def late():
        time.sleep(0.5)
        print("non-daemon thread finished")
    threading.Thread(target=late).start()
    print("main code done")
    """,
    "import helper\nhelper.fail()\n",
    "def f(x: int) -> None: pass\nprint(f.__annotations__)\n",
], ids=["ok", "exit3", "exit-none", "exit-message", "exit-true", "chained-traceback",
        "syntax-error", "encoding-cookie", "atexit", "excepthook", "thread", "sibling",
        "no-future-leak"])
def test_script_ends_as_with_python(tmp_path, source):
    write(tmp_path, "sub/helper.py", """\
        def fail():
            return {}["missing key"]
        """)
    source = textwrap.dedent(source)
    if "latin-1" in source:
        (tmp_path / "sub/script.py").write_bytes(
            source.replace("\\xe9", "\xe9").encode("latin-1"))
    else:
        write(tmp_path, "sub/script.py", source)
    ours = run(["sub/script.py"], tmp_path)
    assert_same(ours, python(["sub/script.py"], tmp_path))
    assert "jurigged" not in ours.stderr


@pytest.mark.parametrize("jurigged", [None, PYTHON_M_JURIGGED], ids=["command", "-m"])
def test_ctrl_c_ends_as_with_python(tmp_path, run_jurigged, jurigged):
    write(tmp_path, "sleeper.py", """\
        import atexit, time
        atexit.register(lambda: print("atexit handler ran"))
        print("ready")
        time.sleep(60)
        """)
    ending = {}
    for name, command in [("python", [sys.executable]), ("jurigged", jurigged)]:
        process = run_jurigged("sleeper.py", command=command)
        process.expect("ready", stream="out")
        time.sleep(0.5)  # let it get from print() into sleep(), where tracebacks agree
        process.send_signal(signal.SIGINT)
        status = process.wait()
        ending[name] = (status, process.output("out"), process.output("err"))
    assert ending["jurigged"] == ending["python"]
    status, out, err = ending["jurigged"]
    assert status == -signal.SIGINT
    assert "atexit handler ran" in out
    assert err.startswith("Traceback") and err.endswith("KeyboardInterrupt\n")


def test_ctrl_c_ends_by_sigint_while_the_watcher_thread_runs_code(tmp_path, run_jurigged):
    # CPython exits by SIGINT after an interrupt only if no exec() or eval() of a
    # string runs between the interrupt leaving the main script and the exit. Here the
    # watcher thread is re-running a statement that does just that when Ctrl-C comes
    # (the preload making dataclasses did the same, in ~1 run of 30).
    write(tmp_path, "lib.py", "VALUE = 0\n")
    write(tmp_path, "main.py", """\
        import sys, time
        import lib
        sys.stdout.write("ready\\n"); sys.stdout.flush()
        time.sleep(60)
        """)
    process = run_jurigged("main.py")
    process.expect("ready", stream="out")
    write(tmp_path, "lib.py", """\
        import sys, time
        VALUE = 1
        sys.stdout.write("busy\\n"); sys.stdout.flush()
        _until = time.monotonic() + 1.5
        while time.monotonic() < _until:
            exec("_x = 1")
        """)
    process.expect("busy", stream="out")
    process.send_signal(signal.SIGINT)
    assert process.wait() == -signal.SIGINT
    assert process.output("err").endswith("KeyboardInterrupt\n")


def test_process_ends_when_the_script_ends(tmp_path, run_jurigged):
    write(tmp_path, "lib.py", "def answer():\n    return 42\n")
    write(tmp_path, "main.py", "import lib\nprint('answer', lib.answer())\n")
    started = time.monotonic()
    process = run_jurigged("main.py")
    assert process.wait(timeout=20) == 0
    assert process.output() == "answer 42\n"
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("path", ["app", "./app/", "app.zip", "LINK"])
def test_directory_or_zip_with_main_runs_as_with_python(tmp_path, path):
    write(tmp_path, "app/__main__.py", SHOW_MAIN)
    with zipfile.ZipFile(tmp_path / "app.zip", "w") as archive:
        archive.write(tmp_path / "app/__main__.py", "__main__.py")
    (tmp_path / "LINK").symlink_to(tmp_path / "app")
    assert_same(run([path, "-v"], tmp_path), python([path, "-v"], tmp_path))


# -- modules and functions ----------------------------------------------------------

@pytest.fixture
def package(tmp_path):
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/show.py", SHOW_MAIN)
    write(tmp_path, "pkg/__main__.py", SHOW_MAIN)
    write(tmp_path, "pkg/broken.py", "def f():\n    1 / 0\nf()\n")
    write(tmp_path, "pkg/needs.py", "import not_installed_anywhere\n")
    write(tmp_path, "pkg/funcs.py", """\
        import sys
        NOT_CALLABLE = 3
        def show():
            print("argv", sys.argv[1:], "file", sys.argv[0] == __file__)
        def three():
            return 3
        def message():
            return "a message"
        def crash():
            raise OSError("crash")
        class Tool:
            @staticmethod
            def run():
                print("Tool.run called")
        """)
    return tmp_path


@pytest.mark.parametrize("args", [
    ["-m", "pkg.show", "x", "-v", "--poll", "1"],
    ["-m", "pkg"],
    ["-m", "pkg.broken"],
    ["-m", "pkg.needs"],
])
def test_module_runs_as_with_python_dash_m(package, args):
    ours = run(args, package)
    theirs = python(args, package)
    if ours.returncode == 0:
        assert_same(ours, theirs)
    else:
        # Python also shows frames of its runpy machinery; we show only the program's.
        assert (ours.stdout, ours.returncode) == (theirs.stdout, theirs.returncode)
        program_part = theirs.stderr[theirs.stderr.index('  File "' + str(package)):]
        assert ours.stderr == "Traceback (most recent call last):\n" + program_part


@pytest.mark.parametrize("ours, theirs", [
    (["--", "show.py", "a", "--", "b"], ["show.py", "a", "--", "b"]),
    (["-vd0", "--exclude", "x", "show.py", "--", "-x"], ["show.py", "--", "-x"]),
    (["--debounce=1", "-w", "lib", "-v", "show.py", "-w"], ["show.py", "-w"]),
    (["-vm", "pkg.show", "--", "x"], ["-m", "pkg.show", "--", "x"]),
    (["-mpkg.show", "-i"], ["-mpkg.show", "-i"]),
])
def test_program_command_line_is_passed_untouched(package, ours, theirs):
    write(package, "show.py", SHOW_MAIN)
    result = run(ours, package)
    # -v makes jurigged itself say which files it watches; the rest is the program's.
    result.stdout = "".join(line for line in result.stdout.splitlines(keepends=True)
                            if not line.startswith("Watch "))
    assert_same(result, python(theirs, package))


@pytest.mark.parametrize("target, status, out, err", [
    ("pkg.funcs:show", 0, "argv ['a', '-v'] file True\n", ""),
    ("pkg.funcs:three", 3, "", ""),
    ("pkg.funcs:message", 1, "", "a message\n"),
    ("pkg.funcs:Tool.run", 0, "Tool.run called\n", ""),
])
def test_module_function(package, target, status, out, err):
    result = run(["-m", target, "a", "-v"], package)
    assert (result.returncode, result.stdout, result.stderr) == (status, out, err)


def test_module_function_error_shows_the_program_traceback(package):
    result = run(["-m", "pkg.funcs:crash"], package)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1].startswith(f'  File "{package / "pkg/funcs.py"}", line 10, in crash')
    assert lines[-1] == "OSError: crash"


# -- mistakes -----------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["nope.py"], "can't open file 'nope.py': [Errno 2] No such file or directory"),
    (["plain_dir"], "can't find '__main__.py' in 'plain_dir'"),
    (["empty.zip"], "can't find '__main__.py' in 'empty.zip'"),
    (["-m", "nope"], "No module named 'nope'"),
    (["-m", "nope.sub"], "No module named 'nope'"),
    (["-m", "pkg.nope"], "No module named 'pkg.nope'"),
    (["-m", "plain_pkg"], "No module named 'plain_pkg.__main__'; 'plain_pkg' is a "
                          "package and cannot be directly executed"),
    (["-m", "pkg.funcs:missing"], "module 'pkg.funcs' has no attribute 'missing'"),
    (["-m", "pkg.funcs:NOT_CALLABLE"], "pkg.funcs:NOT_CALLABLE is not callable"),
    (["-m", "nope:main"], "No module named 'nope'"),
    (["-m", "pkg.funcs:"], "invalid function name in 'pkg.funcs:'"),
    (["-m", "../x"], "invalid module name in '../x'"),
    (["-m"], "argument -m: expected a module to run"),
    (["-d", "abc", "x.py"], "argument -d/--debounce: expected seconds >= 0, got 'abc'"),
    (["-d", "-1", "x.py"], "argument -d/--debounce: expected seconds >= 0, got '-1'"),
    (["-d", "nan", "x.py"], "argument -d/--debounce: expected seconds >= 0, got 'nan'"),
    (["--poll", "-1"], "argument --poll: expected seconds > 0, got '-1'"),
    (["--poll", "0"], "argument --poll: expected seconds > 0, got '0'"),
    (["-w"], "argument -w/--watch: expected one argument"),
    (["--defs"], "argument --defs: expected at least one argument"),
    (["--bogus", "x.py"], "unrecognized arguments: --bogus"),
])
def test_mistakes_give_one_line(package, args, message):
    (package / "plain_dir").mkdir()
    zipfile.ZipFile(package / "empty.zip", "w").close()
    write(package, "plain_pkg/__init__.py", "")
    result = run(args, package)
    assert (result.returncode, result.stdout, result.stderr) == (
        2, "", f"jurigged: error: {message}\n")


def test_zero_debounce_is_accepted(tmp_path):
    write(tmp_path, "ok.py", "print('ok')\n")
    result = run(["-d", "0", "--poll", "0.5", "-v", "ok.py"], tmp_path)
    assert (result.returncode, result.stdout) == (0, f"Watch {tmp_path / 'ok.py'}\nok\n")


def test_version(tmp_path):
    result = run(["--version"], tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (
        0, f"jurigged {__version__}\n", "")


def test_help_describes_every_option(tmp_path):
    result = run(["--help"], tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    for text in ["-h, --help", "--version", "-v, --verbose", "--watch", "--exclude",
                 "--debounce", "--poll", "-i, --interactive", "--defs FILE",
                 "--trust-shared", "--events FILE",
                 "-m MODULE [ARG ...]", "-m MODULE:FUNCTION", "PATH [ARG ...]",
                 "0 updates at once", "pyvenv.cfg", "jurigged -w lib.py app.py"]:
        assert text in result.stdout, text


# -- the interactive prompt ---------------------------------------------------------

class Terminal:
    """A process attached to a pseudo-terminal, as when a person types."""

    def __init__(self, args, cwd: Path):
        self.master, follower = pty.openpty()
        env = dict(subprocess_env(cwd), TERM="dumb")
        self.popen = subprocess.Popen([*jurigged_command(), *args], cwd=str(cwd),
                                      env=env, stdin=follower, stdout=follower,
                                      stderr=follower, start_new_session=True)
        os.close(follower)
        self.seen = ""
        self.position = 0

    def expect(self, text: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen[self.position:]:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(left, 0))
            if not ready:
                self.popen.kill()
                pytest.fail(f"{text!r} not shown within {timeout}s; screen:\n{self.seen}")
            try:
                self.seen += os.read(self.master, 4096).decode(errors="replace")
            except OSError:  # the process closed the terminal
                pytest.fail(f"{text!r} never shown; screen:\n{self.seen}")
        self.position = self.seen.index(text, self.position) + len(text)

    def type_at_prompt(self, keys: str) -> None:
        """Wait for the prompt, then type: keys typed earlier, while the terminal is
        not yet in the prompt's mode, can be lost (Ctrl-D is)."""
        self.expect(">>> ")
        os.write(self.master, keys.encode())

    def wait(self, timeout: float = 10) -> int:
        """Wait for the end of the process, showing the screen if it does not end."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after {timeout}s; screen:\n{self.seen}")
        finally:
            self.popen.kill()
            os.close(self.master)


def test_prompt_evaluates_and_ends_with_ctrl_d(tmp_path):
    write(tmp_path, "helper.py", "def double(x):\n    return 2 * x\n")
    terminal = Terminal([], tmp_path)
    terminal.expect("Python ")
    terminal.expect("jurigged ")
    terminal.type_at_prompt("6 * 7\n")
    terminal.expect("42")
    terminal.type_at_prompt("import helper, sys; print(helper.double(21), sys.argv)\n")
    terminal.expect("42 ['']")
    terminal.type_at_prompt("unusual_name_here = 5\n")
    terminal.type_at_prompt("unusual_na\t + 1\n")  # tab completes from the session's names
    terminal.expect("unusual_name_here + 1")
    terminal.expect("6")
    terminal.type_at_prompt("\x04")
    assert terminal.wait() == 0
    assert "6 * 7" in (tmp_path / ".jurigged_history").read_text()


def test_prompt_exit_status(tmp_path):
    terminal = Terminal([], tmp_path)
    terminal.type_at_prompt("import sys; sys.exit(5)\n")
    assert terminal.wait() == 5


@pytest.mark.parametrize("ending", ["", "raise ValueError('bad value')"])
def test_interactive_after_script(tmp_path, ending):
    write(tmp_path, "script.py", f"answer = 41\n{ending}\n")
    terminal = Terminal(["-i", "script.py"], tmp_path)
    if ending:
        terminal.expect("ValueError: bad value")
    terminal.type_at_prompt("answer + 1\n")
    terminal.expect("42")
    terminal.type_at_prompt("\x04")
    assert terminal.wait() == 0
    assert "Python " not in terminal.seen  # no banner, as with python -i


def test_interactive_with_piped_input_as_with_python(tmp_path):
    write(tmp_path, "script.py", "answer = 41\nraise ValueError('bad value')\n")
    # (No error at the prompt: Python 3.13 shows the typed line in its traceback.)
    commands = "print('value', answer + 1)\nanswer * 2\nimport sys; sys.exit(7)\n"
    outcome = {}
    for name, command in [("python", [sys.executable, "-i"]),
                          ("jurigged", [*jurigged_command(), "-i"])]:
        outcome[name] = subprocess.run(
            [*command, "script.py"], cwd=str(tmp_path), input=commands, text=True,
            capture_output=True, timeout=60, env=subprocess_env(tmp_path))
    assert_same(outcome["jurigged"], outcome["python"])
    assert outcome["jurigged"].stdout == "value 42\n82\n"


def test_a_command_line_without_options_of_ours_parses_as_argparse_would():
    # `jurigged PROGRAM ARG...` skips argparse (start-up time); the options it gets
    # must be the ones the parser gives for the same command line.
    from jurigged import cli
    from jurigged.cli_options import Parser

    for argv in (["app.py"], ["app.py", "-v", "--", "x"], ["folder", "-m", "y"]):
        assert vars(cli._parse(argv)) == vars(Parser().parse(argv))
        assert cli._parse(argv).args == argv[1:]


def test_common_options_parse_without_argparse_as_argparse_would():
    # `jurigged -v -d 0.05 PROGRAM ARG...` is parsed by hand too (start-up time): it
    # must give what the parser gives, and leave to the parser every command line it
    # does not fully understand (so that the parser's messages are unchanged).
    from jurigged import cli
    from jurigged.cli_options import Parser

    simple = (["-d", "0.05", "app.py"], ["-v", "app.py", "-d", "1"],
              ["--debounce=0", "-w", "lib.py", "--watch=src/*.py", "app.py", "x"],
              ["--poll", "0.5", "--no-children", "--trust-shared", "-i", "app.py"],
              ["--verbose", "--interactive", "-d", "1e-3", "-d", "2", "dir", "--", "-v"])
    for argv in simple:
        assert cli._simple(argv) is not None, argv
        assert vars(cli._parse(argv)) == vars(Parser().parse(argv)), argv
    left_to_parser = (["-d", "-1", "app.py"], ["-d", "nan", "app.py"], ["-d", "inf", "a"],
                      ["--poll", "0", "app.py"], ["-w", "-v", "app.py"], ["-d"],
                      ["-v"], ["-vi", "app.py"], ["-d0.1", "app.py"], ["--debounce="],
                      ["-m", "pkg"], ["-v", "-m", "pkg"], ["--", "app.py"], ["-v", "-"],
                      ["--help"], ["--verbose=1", "app.py"], ["--exclude", "x", "app.py"],
                      ["--verb", "app.py"], [])
    for argv in left_to_parser:
        assert cli._simple(argv) is None, argv
