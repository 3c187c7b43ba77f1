"""Bounded-time fuzzing of parse() and diff() with mutated real sources: nothing may
crash or hang, and whenever this interpreter's ast accepts a mutant, the model must
accept it too and agree on every definition. JURIGGED_FUZZ_SECONDS sets the budget."""
import ast
import os
import random
import time
import warnings

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


def mutate(rng, source):
    for _ in range(rng.randint(1, 3)):
        action = rng.randrange(7)
        pos = rng.randint(0, len(source))
        if action == 0 and source:  # flip a byte
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


@pytest.mark.timeout(int(BUDGET) + 120)
def test_fuzz_parse_and_diff():
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
            tree = _core.parse(mutant)
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
