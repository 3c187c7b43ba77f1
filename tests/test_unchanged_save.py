"""End to end: a save that leaves a watched file's text as it was (`touch`, a rewrite
of the same bytes, a same-content file renamed into place) runs the prerun/postrun
hooks with 0.6.1's (path, codefile) arguments, and applies nothing."""

from __future__ import annotations

import os
import subprocess
from textwrap import dedent

APP = """\
import os, sys, time
import jurigged
import lib

watcher = jurigged.watch()

@watcher.prerun.register
def before(path, codefile):
    # stdout, like jurigged's own Update lines: one pipe keeps them in order
    sys.stdout.write(f"PRE {os.path.basename(path)} {type(codefile).__name__}\\n"); sys.stdout.flush()

@watcher.postrun.register
def after(path, codefile):
    sys.stdout.write(f"POST {os.path.basename(path)} {type(codefile).__name__}\\n"); sys.stdout.flush()

print("ready", flush=True)
last = None
for _ in range(6000):
    value = lib.f()
    if value != last:
        sys.stdout.write(f"R {value}\\n"); sys.stdout.flush()
        last = value
    time.sleep(0.005)
"""

LIB = dedent("""\
def f():
    return 1
""")


def _hooks_of_one_save(process) -> list:
    """The lines on stdout from the save's PRE to its POST (Update lines included)."""
    first = process.expect("PRE lib.py SourceFile", stream="out", timeout=15)
    lines = [first]
    while True:
        line = process.expect("", stream="out", timeout=15)
        lines.append(line)
        if line.startswith("POST"):
            return lines


def test_saves_without_changes_run_the_hooks_and_apply_nothing(run_jurigged, tmp_path):
    lib = tmp_path / "lib.py"
    lib.write_text(LIB)
    (tmp_path / "app.py").write_text(APP)
    process = run_jurigged("-v", "app.py")
    process.expect("ready", stream="out")
    process.expect("R 1", stream="out")

    subprocess.run(["touch", str(lib)], check=True)
    assert _hooks_of_one_save(process) == ["PRE lib.py SourceFile", "POST lib.py SourceFile"]

    lib.write_text(LIB)  # the same bytes, written in place
    assert _hooks_of_one_save(process) == ["PRE lib.py SourceFile", "POST lib.py SourceFile"]

    temp = tmp_path / "lib.py.tmp"
    temp.write_text(LIB)
    os.replace(temp, lib)  # the same bytes, renamed into place
    assert _hooks_of_one_save(process) == ["PRE lib.py SourceFile", "POST lib.py SourceFile"]

    # A real change goes through the same hooks, with the update in between.
    lib.write_text(LIB.replace("return 1", "return 2"))
    hooks = _hooks_of_one_save(process)
    assert hooks[0] == "PRE lib.py SourceFile" and hooks[-1] == "POST lib.py SourceFile"
    assert any("Update" in line and "lib.f" in line for line in hooks[1:-1]), hooks
    if "R 2" not in hooks:  # the program may see the new code before POST, or after
        process.expect("R 2", stream="out")
    assert process.lines["out"].count("R 1") == 1  # the saves before applied nothing
