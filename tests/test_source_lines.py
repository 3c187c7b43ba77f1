"""SourceLines, the lazily decoded lines of a save, against the list that
`source_lines` makes (CPython's line numbering: newlines only, by the cookie)."""

import random

import pytest

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
