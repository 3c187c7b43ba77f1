"""SourceLines, the lazily decoded lines of a save, against the list that
`source_lines` makes (CPython's line numbering: newlines only, by the cookie)."""

import random

import pytest

from jurigged import _core
from jurigged.parsing import SourceLines, source_lines

CASES = [b"", b"\n", b"a", b"a\n", b"a\nb", b"a\r\nb\r\n", b"a\rb", b"\n\n\n",
         "é\x0c\nü\u2028x\n\x1c".encode(), b"# coding: latin-1\n\xe9\n"]
_random = random.Random(7)
CASES += [bytes(_random.choice(b"ab\n\r \x0c") for _ in range(_random.randint(0, 12)))
          for _ in range(300)]


@pytest.mark.parametrize("source", CASES)
def test_lines_read_one_by_one_equal_the_split_text(source):
    expected = source_lines(source)
    lines = SourceLines(source)
    assert len(lines) == len(expected)
    assert list(lines) == expected
    assert [lines[i] for i in range(-len(expected), len(expected))] == expected * 2
    assert lines[1:3] == expected[1:3] and lines[-2:] == expected[-2:]
    assert lines.text.split("\n")[:len(expected)] == expected
    with pytest.raises(IndexError):
        lines[len(expected)]


def _is_the_text(source):
    """What Tree.text_is_source says: CPython reads these bytes as they are."""
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return (not source.startswith(b"\xef\xbb\xbf") and b"\r" not in source
            and "latin-1" not in text)


TREE_CASES = CASES + [
    b"\xef\xbb\xbfx = 1\n", b"x = 1  # \xed\xa0\x80 a surrogate\n", b"x = 1  # \xff\n",
    "def f():\n    return 'é'\n".encode(), "x = 1\r\ny = 2\r\n".encode(),
    b"# -*- coding: utf-8 -*-\nx = 1\n", b"x = 1\ny = 2",
]


def _parsed(source, against=None):
    try:
        return _core.parse(source, "m.py", against=against)
    except SyntaxError:
        return None


@pytest.mark.parametrize("source", TREE_CASES)
def test_lines_with_the_tree_equal_the_split_text(source):
    tree = _parsed(source)
    if tree is None:
        return
    assert tree.text_is_source == _is_the_text(source)
    try:
        expected = source_lines(source)
    except (SyntaxError, UnicodeDecodeError) as error:
        with pytest.raises(type(error)):
            SourceLines(source, tree)
        return
    lines = SourceLines(source, tree)
    assert list(lines) == expected and len(lines) == len(expected)
    assert bytes(lines._starts) == _core.line_starts(lines._data)


@pytest.mark.parametrize("seed", range(40))
def test_line_table_across_incremental_parses(seed):
    # the table an incremental parse carries over equals a fresh scan, whatever changed
    rng = random.Random(seed)
    parts = [b"import os\n", b"def f():\n    return 1\n", "def g():\n    return 'é'\n".encode(),
             b"x = 1\n", b"class C:\n    y = 2\n", b"\n", b"# note\n", b"z = 3"]
    source = b"".join(rng.choice(parts[:-1]) for _ in range(30))
    tree = _parsed(source)
    reused = 0
    for _ in range(15):
        lines = source.splitlines(keepends=True)
        at = rng.randrange(len(lines) + 1)
        if rng.random() < 0.5:  # insert a part at a line start
            edited = b"".join(lines[:at] + [rng.choice(parts)] + lines[at:])
        else:  # delete a few lines (whole statements too)
            edited = b"".join(lines[:at] + lines[at + rng.randint(1, 4):])
        if rng.random() < 0.3:
            edited = edited.replace(b"\n", b"\r\n", 1) if rng.random() < 0.5 else edited + b"  # \xff\n"
        new = _parsed(edited, against=tree)
        if new is None:
            continue
        whole = _parsed(edited)
        folded = edited.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        assert new.line_starts == whole.line_starts == _core.line_starts(folded)
        assert new.text_is_source == whole.text_is_source == _is_the_text(edited)
        reused += new.reused_nodes
        tree, source = new, edited
    assert reused > 0  # some of the parses were incremental
