"""Modules in any encoding CPython imports are patched like UTF-8 ones: the save is
decoded as the import decoded it, and the live function runs the edited text."""

from __future__ import annotations

import pytest

from live_support import probe_loop

CASES = [
    ("cp1251", "Привет", "Пока"),
    ("shift_jis", "こんにちは", "さようなら"),
    ("euc-jp", "日本語", "英語"),
    ("latin-1", "café", "thé"),
]


@pytest.mark.parametrize("encoding, before, after", CASES)
def test_edit_of_a_module_in_another_encoding(run_jurigged, tmp_path, encoding, before, after):
    def text(word):
        return (f"# -*- coding: {encoding} -*-\n# {word}\n"
                f"def greet():\n    return {word!r}\n")

    (tmp_path / "lib.py").write_bytes(text(before).encode(encoding))
    (tmp_path / "app.py").write_text(probe_loop("lib.greet().encode('utf-8')"))
    p = run_jurigged("-v", "app.py")
    p.expect(f"R {before.encode('utf-8')!r}")
    (tmp_path / "lib.py").write_bytes(text(after).encode(encoding))
    p.expect(f"R {after.encode('utf-8')!r}", stream="out")
    p.seen("Update lib.greet", stream="out")
    assert "jurigged:" not in p.output("err")


def test_form_feeds_and_other_separators_do_not_shift_lines(run_jurigged, tmp_path):
    """CPython ends a line only at \\n, \\r\\n or \\r; a form feed (an Emacs page break)
    or a \\x1c or U+2028 inside a string stays in its line. Counting those as line ends
    would compile the edited function from the wrong lines, and its traceback would
    point elsewhere."""
    def text(value):
        return ("\x0c\n"
                "SEPARATORS = '\x1c\x1d\x1e\u2028\u2029\x85'\n"
                "\x0c\n"
                "def value():\n"
                f"    return {value}\n"
                "\n"
                "def where():\n"
                "    import traceback\n"
                "    try:\n"
                "        raise KeyError\n"
                "    except KeyError as exc:\n"
                "        return traceback.extract_tb(exc.__traceback__)[-1].lineno\n")

    (tmp_path / "lib.py").write_text(text(1), encoding="utf-8")
    (tmp_path / "app.py").write_text(probe_loop("(lib.value(), lib.where())"))
    p = run_jurigged("-v", "app.py")
    p.expect("R (1, 10)")
    (tmp_path / "lib.py").write_text("\x0c\n" + text(2), encoding="utf-8")
    p.expect("R (2, 11)", stream="out")
    assert "jurigged:" not in p.output("err")
