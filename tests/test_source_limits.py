"""Hostile nesting against the source model: every construct nested far past CPython's
limits must give a SyntaxError with a line, never a crash, through `_core.parse`, on a
thread with a small stack, through `jurigged --defs`, and inside a running jurigged."""
import ast
import os
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass
from typing import Optional

import pytest

from jurigged import _core

DEEP = 5000  # far past every limit, a few KB to a few hundred KB of source
DEEP_BLOCKS = 1000  # 10 times the indentation limit; indentation makes it 0.5 MB already


@dataclass(frozen=True)
class Case:
    source: bytes
    error: Optional[str]  # a part of the message; None when the source is valid
    line: int = 1
    # The limit is the lowest every supported CPython enforces, so an older one may
    # reject a source the model accepts (never the other way around).
    older_cpython_rejects: bool = False


def nested_blocks(levels: int, header: str, body: str = "pass", dedent_with: str = "") -> bytes:
    lines = [" " * depth + header.format(depth=depth) for depth in range(levels)]
    lines.append(" " * levels + body)
    return ("\n".join(lines) + "\n" + dedent_with).encode()


def nested_fstrings(levels: int, prefix: str = "f") -> bytes:
    text = "x"
    for _ in range(levels):
        text = prefix + "'{" + text + "}'"
    return f"X = {text}\n".encode()


def nested_specs(levels: int, prefix: str = "f") -> bytes:
    return f"X = {prefix}'{'{1:' * levels}{'}' * levels}'\n".encode()


def nested_brackets(levels: int, pairs: str = "()") -> bytes:
    opening = "".join(pairs[2 * (k % (len(pairs) // 2))] for k in range(levels))
    closing = "".join({"(": ")", "[": "]", "{": "}"}[c] for c in reversed(opening))
    return f"X = {opening}{closing}\n".encode()


def try_blocks(levels: int) -> bytes:
    lines = []
    for depth in range(levels):
        lines.append(" " * depth + "try:")
    lines.append(" " * levels + "pass")
    for depth in reversed(range(levels)):
        lines.append(" " * depth + "finally: pass")
    return ("\n".join(lines) + "\n").encode()


def nested_matches(levels: int) -> bytes:
    lines = []
    for depth in range(levels):
        lines += [" " * (2 * depth) + "match x:", " " * (2 * depth + 1) + "case 1:"]
    lines.append(" " * (2 * levels) + "pass")
    return ("\n".join(lines) + "\n").encode()


CASES = {
    "brackets_at_limit": Case(nested_brackets(200), None),
    "brackets_past_limit": Case(nested_brackets(201), "too many nested parentheses"),
    "mixed_brackets_deep": Case(nested_brackets(DEEP, "([{"), "too many nested parentheses"),
    "fstring_field_brackets_at_limit": Case(b"X = f'{" + b"(" * 199 + b")" * 199 + b"}'\n", None),
    "fstring_field_brackets_past_limit": Case(b"X = f'{" + b"(" * DEEP + b")" * DEEP + b"}'\n",
                                              "too many nested parentheses"),
    "fstrings_at_limit": Case(nested_fstrings(149), None, older_cpython_rejects=True),
    "fstrings_past_limit": Case(nested_fstrings(150), "too many nested f-strings"),
    "fstrings_deep": Case(nested_fstrings(DEEP), "too many nested f-strings"),
    "tstrings_deep": Case(nested_fstrings(DEEP, "t"), "too many nested f-strings"),
    "format_specs_at_limit": Case(nested_specs(3), None, older_cpython_rejects=True),
    "format_specs_past_limit": Case(nested_specs(4), "f-string: expressions nested too deeply"),
    "format_specs_deep": Case(nested_specs(DEEP), "f-string: expressions nested too deeply"),
    "tstring_format_specs_deep": Case(nested_specs(DEEP, "t"), "t-string: expressions nested too deeply"),
    "fstrings_in_format_specs_deep": Case(
        ("X = " + "f'{1:{" * DEEP + "1" + "}}'" * DEEP + "\n").encode(), "too many nested f-strings"),
    "blocks_at_limit": Case(nested_blocks(99, "if x:"), None),
    "blocks_past_limit": Case(nested_blocks(100, "if x:"), "too many levels of indentation", 101),
    "blocks_deep": Case(nested_blocks(DEEP_BLOCKS, "while x:"), "too many levels of indentation", 101),
    "functions_at_limit": Case(nested_blocks(99, "def f{depth}():"), None),
    "functions_deep": Case(nested_blocks(DEEP_BLOCKS, "async def f{depth}():"), "too many levels of indentation", 101),
    "classes_deep": Case(nested_blocks(DEEP_BLOCKS, "class C{depth}:"), "too many levels of indentation", 101),
    "try_at_limit": Case(try_blocks(99), None),
    "try_deep": Case(try_blocks(DEEP_BLOCKS), "too many levels of indentation", 101),
    "matches_at_limit": Case(nested_matches(49), None, older_cpython_rejects=True),
    "matches_deep": Case(nested_matches(DEEP_BLOCKS), "too many levels of indentation", 101),
    "lambdas_deep": Case(b"f = " + b"lambda: " * 1000 + b"1\n", None),
    "lambda_headers_deep": Case(b"if " + b"lambda: " * 2000 + b"1: pass\n", None),
    "decorators_long": Case(b"@d\n" * 100_000 + b"def f(): pass\n", None),
    "elif_chain_long": Case(b"if x: pass\n" + b"elif x: pass\n" * 100_000, None),
    "inline_bodies_long": Case(b"if x: pass\nelse: pass\n" * 50_000, None),
    "strings_concatenated": Case(b"X = (" + b"'a' f'{x}' " * 50_000 + b")\n", None),
    "string_many_lines": Case(b"X = '''" + b"line\n" * 200_000 + b"'''\n", None),
    "unterminated_deep_fstring": Case(b"X = f'" + b"{f'" * 100, "unterminated string literal"),
}


def parse_result(source: bytes):
    """('ok', None, None) or (exception class name, message, line)."""
    try:
        tree = _core.parse(source, "deep.py")
        _core.diff(tree, tree)  # walks every scope of a tree as deep as parse allows
        return ("ok", None, None)
    except SyntaxError as error:
        return (type(error).__name__, error.msg, error.lineno)


def check(name: str, result) -> None:
    case = CASES[name]
    kind, message, line = result
    if case.error is None:
        assert kind == "ok", f"{name}: rejected: {message} (line {line})"
    else:
        assert kind != "ok", f"{name}: accepted"
        assert case.error in message, f"{name}: {message}"
        assert line == case.line, f"{name}: line {line}"
        if "indentation" in case.error:
            assert kind == "IndentationError"


@pytest.mark.parametrize("name", sorted(CASES))
def test_deep_nesting_through_parse(name):
    check(name, parse_result(CASES[name].source))


SLOW_TO_COMPILE = {"strings_concatenated", "string_many_lines", "decorators_long", "elif_chain_long",
                   "inline_bodies_long"}


@pytest.mark.parametrize("name", sorted(set(CASES) - SLOW_TO_COMPILE))
def test_model_accepts_what_this_cpython_accepts(name):
    case = CASES[name]
    try:
        ast.parse(case.source)  # the parser's verdict; the compiler has limits of its own
    except (SyntaxError, MemoryError, RecursionError):
        assert case.error is not None or case.older_cpython_rejects
        return
    assert parse_result(case.source)[0] == "ok"


def test_deep_nesting_on_a_small_thread_stack():
    """The parser runs on Python threads too (the watcher), whose stack may be small."""
    results = {}

    def parse_all():
        for name, case in CASES.items():
            results[name] = parse_result(case.source)

    previous = threading.stack_size(64 * 1024)
    try:
        thread = threading.Thread(target=parse_all)
        thread.start()
    finally:
        threading.stack_size(previous)
    thread.join()
    assert sorted(results) == sorted(CASES)
    for name, result in results.items():
        check(name, result)


def test_deep_nesting_through_defs_command(tmp_path):
    paths = []
    for name in ("format_specs_deep", "fstrings_deep", "mixed_brackets_deep", "functions_deep", "tstrings_deep"):
        path = tmp_path / f"{name}.py"
        path.write_bytes(CASES[name].source)
        paths.append(path)
    good = tmp_path / "good.py"
    good.write_text("def f():\n    return 1\n")
    out = subprocess.run([sys.executable, "-m", "jurigged", "--defs", *map(str, paths), str(good)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr  # failed files, not a signal
    errors = out.stderr.splitlines()
    for path in paths:
        (line,) = [e for e in errors if e.startswith(f"{path}:")]
        assert CASES[path.stem].error in line
        assert line.startswith(f"{path}:{CASES[path.stem].line}:")
    assert '"qualname": "f"' in out.stdout


APP = """\
import sys, time
import lib
print("ready", flush=True)
last = None
for _ in range(6000):
    if lib.value() != last:
        last = lib.value()
        print(f"R {last}", flush=True)
    time.sleep(0.005)
"""


def save(path, source: bytes) -> None:
    """Save like an editor that renames a complete file into place: an in-place write
    of a large file could be read half-written, which is not what this test is about."""
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(source)
    os.replace(temporary, path)


def test_deep_nesting_saved_into_a_running_program(run_jurigged, tmp_path):
    lib = tmp_path / "lib.py"
    lib.write_text("def value():\n    return 1\n")
    (tmp_path / "app.py").write_text(APP)
    process = run_jurigged("-v", "app.py")
    process.expect("R 1", stream="out")
    for name in ("format_specs_deep", "fstrings_in_format_specs_deep", "functions_deep"):
        save(lib, CASES[name].source)
        process.expect(f"{lib}:{CASES[name].line}: syntax error", stream="err", timeout=20)
        process.expect(CASES[name].error, stream="err", timeout=20)
    save(lib, textwrap.dedent("""\
        def value():
            return 2
    """).encode())
    process.expect("R 2", stream="out", timeout=20)
