"""Bounded-time fuzzing of parse() and diff() with mutated real sources: nothing may
crash or hang, and whenever this interpreter's ast accepts a mutant, the model must
accept it too and agree on every definition. Some mutants nest one construct around
CPython's limits or far past them; the model parses on a 64 KiB thread stack, as it may
inside a program. JURIGGED_FUZZ_SECONDS sets the budget."""
import ast
import os
import random
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest

from ast_defs_dump import definitions
from jurigged import _core

BUDGET = float(os.environ.get("JURIGGED_FUZZ_SECONDS", 20))
SEED = int(os.environ.get("JURIGGED_FUZZ_SEED", 1234))
DEFINITION_KINDS = ("function", "async function", "class")

INSERTS = [b"'", b'"', b'"""', b"'''", b"(", b")", b"[", b"]", b"{", b"}", b"    ", b"\t", b"\n",
           b"\n    ", b"\r", b"\r\n", b"\x0c", b"\\", b"\\\n", b"#", b":", b";", b"@", b"f'{", b"}'",
           b"f\"{x!r:>{w}}\"", b"def x():\n", b"class K:\n", b"async ", b"match x:\n    case 1:\n",
           b"lambda: ", b"\xc3\xa9", b"\xff", b"\x00", b"rb'", b"0777", b"1_000", b"else:", b"\n\n"]


def corpus():
    stdlib = os.path.dirname(os.__file__)
    names = sorted(n for n in os.listdir(stdlib) if n.endswith(".py"))
    sources = []
    for name in names:
        path = os.path.join(stdlib, name)
        if os.path.getsize(path) < 30_000:
            with open(path, "rb") as f:
                sources.append(f.read())
    return sources[:80]


def nesting_depth(rng, limit):
    """Around a limit of CPython's, or anywhere up to far past it."""
    return rng.choice([limit - 1, limit, limit + 1, rng.randint(1, 3 * limit), rng.randint(1, 5000)])


def nested_expression(rng):
    """An expression nesting one construct deeply."""
    kind = rng.randrange(7)
    if kind == 0:  # brackets, mixed
        opening = bytes(rng.choice(b"([{") for _ in range(nesting_depth(rng, 200)))
        closing = bytes({40: 41, 91: 93, 123: 125}[c] for c in reversed(opening))
        return opening + b"1," + closing
    if kind == 1:  # f-/t-strings in replacement fields
        text = b"x"
        for _ in range(nesting_depth(rng, 150)):
            text = rng.choice([b"f", b"t", b"rf", b"T"]) + rng.choice([b"'{", b'"{']) + text + b"}'"
        return text
    if kind == 2:  # format specs holding fields
        depth = nesting_depth(rng, 4)
        return rng.choice([b"f'", b"t'", b'F"']) + b"{1:" * depth + b"}" * depth + b"'"
    if kind == 3:  # brackets inside one replacement field
        depth = nesting_depth(rng, 200)
        return b"f'{" + b"(" * depth + b")" * depth + b"}'"
    if kind == 4:
        return b"lambda: " * nesting_depth(rng, 200) + b"1"
    if kind == 5:  # strings, concatenated
        return b"(" + b"'a' f'{b}' " * nesting_depth(rng, 200) + b")"
    return b"-" * nesting_depth(rng, 200) + b"1"


def nested_blocks(rng, indent):
    """Lines nesting compound statements or definitions deeply, from `indent`."""
    headers = [b"if x:", b"while x:", b"for x in y:", b"with x:", b"def f():", b"async def f():",
               b"class C:", b"try:", b"match x:\n{indent} case 1:"]
    lines = []
    depth = nesting_depth(rng, 100)
    for level in range(depth):
        pad = indent + b" " * level
        header = rng.choice(headers)
        if rng.random() < 0.2:
            lines.append(pad + b"@decorator")
        lines.append(pad + header.replace(b"{indent}", pad))
    lines.append(indent + b" " * depth + b"pass")
    if b"try:" in b"".join(lines):
        lines.append(indent + b"finally: pass")  # often at the wrong level: a good invalid case
    return b"\n".join(lines) + b"\n"


def deepen(rng, source):
    """Inserts a deeply nested construct: an expression statement or a block of lines."""
    lines = source.split(b"\n")
    at = rng.randrange(len(lines) + 1)
    line = lines[at] if at < len(lines) else b""
    indent = line[:len(line) - len(line.lstrip(b" "))]
    if rng.random() < 0.5:
        lines.insert(at, indent + b"X = " + nested_expression(rng))
    else:
        lines.insert(at, nested_blocks(rng, indent).rstrip(b"\n"))
    return b"\n".join(lines)


def mutate(rng, source):
    for _ in range(rng.randint(1, 3)):
        action = rng.randrange(8)
        pos = rng.randint(0, len(source))
        if action == 7:
            source = deepen(rng, source)
        elif action == 0 and source:  # flip a byte
            pos = min(pos, len(source) - 1)
            source = source[:pos] + bytes([rng.randrange(256)]) + source[pos + 1:]
        elif action == 1:  # truncate, often right at an interesting character
            interesting = [i for i in range(max(0, pos - 200), min(len(source), pos + 200))
                           if source[i:i + 1] in b"'\"([{}]):\\\n#@\t"]
            source = source[:rng.choice(interesting) + rng.randint(0, 1) if interesting else pos]
        elif action in (2, 3):  # insert a quote, bracket, indentation...
            source = source[:pos] + rng.choice(INSERTS) + source[pos:]
        elif action == 4:  # delete a range
            source = source[:pos] + source[pos + rng.randint(1, 40):]
        elif action == 5:  # random bytes
            source = source[:pos] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + source[pos:]
        else:  # duplicate a line elsewhere
            lines = source.split(b"\n")
            if lines:
                lines.insert(rng.randrange(len(lines) + 1), rng.choice(lines))
            source = b"\n".join(lines)
    return source


def model_definitions(tree):
    found = [[n.kind, n.qualname, n.def_line, n.end_line, n.def_col, n.end_col, n.line]
             for n in tree.nodes if n.kind in DEFINITION_KINDS]
    return sorted(found, key=lambda d: (d[6], d[4]))


def reference_definitions(source):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return definitions(ast.parse(source))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None


def excerpt(source, line):
    """The lines around `line`, for a readable failure."""
    lines = source.splitlines()
    low = max(0, line - 4)
    return "\n".join(f"{low + k + 1:5}: {text!r}" for k, text in enumerate(lines[low:line + 2]))


def small_stack_worker():
    """A one-thread executor whose thread has a 64 KiB stack."""
    previous = threading.stack_size(64 * 1024)
    try:
        pool = ThreadPoolExecutor(max_workers=1)
        pool.submit(lambda: None).result()  # the thread starts now, with that stack size
    finally:
        threading.stack_size(previous)
    return pool


@pytest.mark.main_only
@pytest.mark.timeout(int(BUDGET) + 120)
def test_fuzz_parse_and_diff():
    with small_stack_worker() as worker:
        fuzz_parse_and_diff(lambda source: worker.submit(_core.parse, source).result())


def fuzz_parse_and_diff(parse):
    rng = random.Random(SEED)
    sources = corpus()
    assert sources
    deadline = time.monotonic() + BUDGET
    counts = {"mutants": 0, "ast_accepts": 0, "model_accepts": 0, "model_only_accepts": 0}
    failures = []
    previous = _core.parse(sources[0])
    while time.monotonic() < deadline and len(failures) < 5:
        original = rng.choice(sources)
        mutant = mutate(rng, original) if rng.random() < 0.97 else bytes(
            rng.randrange(256) for _ in range(rng.randint(0, 64)))
        counts["mutants"] += 1
        expected = reference_definitions(mutant)
        try:
            tree = parse(mutant)
        except SyntaxError as error:
            assert isinstance(error.lineno, int) and error.lineno >= 0 and error.offset >= 1
            tree, rejection = None, error
        if expected is not None:
            counts["ast_accepts"] += 1
        if tree is not None:
            counts["model_accepts"] += 1
            _core.diff(previous, tree)
            _core.diff(tree, previous)
            previous = tree
        if expected is None:
            counts["model_only_accepts"] += tree is not None
            continue
        if tree is None:
            failures.append((f"rejected ({rejection.lineno}:{rejection.offset} {rejection.msg}), ast accepts",
                             excerpt(mutant, rejection.lineno)))
        elif model_definitions(tree) != expected:
            ours, theirs = next((a, b) for a, b in zip(model_definitions(tree) + [None] * len(expected),
                                                     expected + [None] * len(tree.nodes)) if a != b)
            failures.append((f"definitions differ: model {ours}, ast {theirs}",
                             excerpt(mutant, (ours or theirs)[2])))
    print(counts)
    assert counts["mutants"] > 100
    assert not failures, "\n\n".join(f"{why}:\n{text}" for why, text in failures)


@pytest.mark.main_only
def test_random_bytes_never_crash():
    rng = random.Random(SEED + 1)
    deadline = time.monotonic() + min(BUDGET / 4, 5)
    alphabet = b"\x00\t\n\r\x0c \\'\"()[]{}:;#@=+-*/.,!~fFrRbBuU0123456789abcdefghijklmnopqrstuvwxyz\xc3\xa9\xff"
    while time.monotonic() < deadline:
        source = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        try:
            tree = _core.parse(source)
        except SyntaxError:
            continue
        _core.diff(tree, tree)


@pytest.mark.parametrize("depth", [10, 100, 199, 250, 1000, 100_000])
def test_deep_nesting_is_bounded(depth):
    for source in (b"x = " + b"(" * depth + b")" * depth + b"\n",
                   b"x = " + b"f'{" * depth + b"1" + b"}'" * depth + b"\n",
                   b"".join(b" " * i + b"if x:\n" for i in range(min(depth, 400))) + b" " * min(depth, 400) + b"pass\n"):
        try:
            _core.parse(source)
        except SyntaxError:
            pass
