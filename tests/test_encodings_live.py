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
