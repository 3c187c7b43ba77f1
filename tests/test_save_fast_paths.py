"""The shortcuts of the save path keep its behaviour: an ASCII save skips the decode
(a cookie or a \\r still decodes), the trust check remembers a verdict only for the
same modes and owners on the path, and the thread waiting for saves settles them
itself while the settle thread covers the time nobody waits."""

from __future__ import annotations

import os
import threading
import time

import pytest

from jurigged import _core
from jurigged.parsing import SourceLines
from live_support import probe_loop

WHERE = ("def where():\n"
         "    import traceback\n"
         "    try:\n"
         "        raise KeyError\n"
         "    except KeyError as exc:\n"
         "        return traceback.extract_tb(exc.__traceback__)[-1].lineno\n")


def lib_text(value: int, head: str = "", newline: str = "\n") -> bytes:
    text = head + f"def value():\n    return {value}\n\n" + WHERE
    return text.replace("\n", newline).encode("latin-1")


@pytest.mark.parametrize("head, newline", [
    ("", "\n"),                                           # ASCII: the bytes are the text
    ("# -*- coding: latin-1 -*-\n", "\n"),                 # a cookie: decoded by it
    ("", "\r\n"),                                         # \r\n: newlines made \n
    ("# -*- coding: latin-1 -*-\n# caf\xe9\n", "\n"),      # not ASCII
])
def test_saves_apply_with_their_lines_whatever_the_bytes(run_jurigged, tmp_path, head, newline):
    (tmp_path / "lib.py").write_bytes(lib_text(1, head, newline))
    (tmp_path / "app.py").write_text(probe_loop("(lib.value(), lib.where())"))
    p = run_jurigged("-v", "app.py")
    raise_line = head.count("\n") + 7
    p.expect(f"R (1, {raise_line})")
    # Two lines more above where(): its traceback's line must follow.
    (tmp_path / "lib.py").write_bytes(lib_text(2, head + "\n\n", newline))
    p.expect(f"R (2, {raise_line + 2})", stream="out")
    assert "jurigged:" not in p.output("err")


def test_source_lines_of_ascii_bytes_are_the_bytes():
    source = b"def f():\n    return 1\n"
    lines = SourceLines(source)
    assert list(lines) == ["def f():", "    return 1"]
    assert lines.text == source.decode()


@pytest.mark.parametrize("source, expected", [
    (b"a = 1\r\nb = 2\r\n", ["a = 1", "b = 2"]),
    (b"a = 1\rb = 2\r", ["a = 1", "b = 2"]),
    (b"# coding: latin-1\ns = '\xe9'\n", ["# coding: latin-1", "s = '\u00e9'"]),
    (b"#!/usr/bin/env python\n# vim: set fileencoding=cp1251 :\ns = '\xef'\n",
     ["#!/usr/bin/env python", "# vim: set fileencoding=cp1251 :", "s = '\u043f'"]),
])
def test_source_lines_still_decode_what_is_not_plain_ascii(source, expected):
    assert list(SourceLines(source)) == expected


def test_a_cookie_on_the_second_line_of_ascii_bytes_is_still_obeyed():
    # ASCII bytes that UTF-7 reads otherwise: the bytes are not the text here.
    source = b"#\n# coding: utf-7\ns = '+AOk-'\n"
    assert list(SourceLines(source))[2] == "s = '\u00e9'"


def test_trust_verdict_of_earlier_saves_is_not_kept_once_a_folder_above_is_shared(
        run_jurigged, tmp_path):
    top = tmp_path / "top"
    shared = top / "inner"
    shared.mkdir(parents=True)
    lib = shared / "lib.py"
    lib.write_text("def f():\n    return 1\n")
    (tmp_path / "app.py").write_text(
        f"import sys\nsys.path.insert(0, {str(shared)!r})\n" + probe_loop("lib.f()"))
    p = run_jurigged("-v", "app.py")
    p.expect("R 1")
    lib.write_text("def f():\n    return 2\n")
    p.expect("R 2", stream="out")  # trusted, and remembered so
    os.chmod(top, 0o777)
    try:
        lib.write_text("def f():\n    return 3\n")
        p.expect(f"{lib}: save not applied, the program keeps its current code: the "
                 f"directory {top} is writable by other users (mode 0777, no sticky bit)",
                 stream="err")
    finally:
        os.chmod(top, 0o755)
    lib.write_text("def f():\n    return 4\n")
    p.expect("R 4", stream="out")
    assert "R 3" not in p.output("out")


def _save(path, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def test_a_save_made_while_nobody_waits_is_ready_at_the_next_wait(tmp_path):
    """The settle thread reads it meanwhile (the program applying the last batch)."""
    path = tmp_path / "m.py"
    _save(path, "x = 0\n")
    watcher = _core.Watcher()
    try:
        watcher.add(str(path), b"x = 0\n")
        _save(path, "x = 1\n")
        assert [e[:3] for e in watcher.wait(5000)] == [("changed", str(path), b"x = 1\n")]
        _save(path, "x = 2\n")
        deadline = time.monotonic() + 10
        events = []
        while not events and time.monotonic() < deadline:
            # wait(0) returns what is ready; it reads nothing that is not due yet
            events = watcher.wait(0)
            if not events:
                threading.Event().wait(0.01)
        assert [e[:3] for e in events] == [("changed", str(path), b"x = 2\n")]
    finally:
        watcher.close()


def test_saves_reach_a_waiting_thread_and_close_wakes_it(tmp_path):
    path = tmp_path / "m.py"
    _save(path, "x = 0\n")
    watcher = _core.Watcher()
    got = []

    def wait_loop():
        while True:
            events = watcher.wait(-1)
            if not events:
                return
            got.extend(e[2] for e in events if e[0] == "changed")

    thread = threading.Thread(target=wait_loop)
    try:
        watcher.add(str(path), b"x = 0\n")
        thread.start()
        for value in range(1, 6):
            _save(path, f"x = {value}\n")
            deadline = time.monotonic() + 10
            while (not got or got[-1] != f"x = {value}\n".encode()) and time.monotonic() < deadline:
                threading.Event().wait(0.005)
            assert got[-1] == f"x = {value}\n".encode()
    finally:
        watcher.close()
        thread.join(10)
    assert not thread.is_alive()
