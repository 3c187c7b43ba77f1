"""Start-up cost that a watching program must not pay: modules the common path of the
`jurigged` command does not need stay unimported until the program has started."""

from __future__ import annotations

import os
import subprocess
import sys
from textwrap import dedent

from live_support import probe_loop, start_probe_loop

# Each costs milliseconds (re and argparse also ~1.5 MB) of every start: pip's
# entry-point wrapper imported re, the option parser argparse, -m's importlib.util.
# threading (with functools and collections), contextlib, importlib (with warnings) and
# types cost ~5 ms together: the watcher's thread and locks are _thread's.
UNNEEDED = ("argparse", "re", "enum", "typing", "dataclasses", "inspect", "ast",
            "importlib.util", "importlib.metadata", "tomllib", "json", "threading",
            "functools", "collections", "contextlib", "importlib", "types", "warnings")


def test_common_options_start_the_program_without_unneeded_modules(run_jurigged, tmp_path):
    # What was imported when the program began, and a save still applied: the options
    # parsed by hand are the ones that take effect (-d 0 applies at once, -w watches).
    setup = f"at_start = sorted(m for m in {UNNEEDED!r} if m in sys.modules)"
    # Those that plain python imports here too (a .pth file of the environment) are
    # not ours to avoid.
    plain = subprocess.run([sys.executable, "-c", f"import sys\n{setup}\nprint(at_start)"],
                           cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    expected = plain.stdout.strip()
    lib = dedent("""\
    def f():
        return 1
    """)
    program = probe_loop("(lib.f(), at_start)", setup=setup)
    process = start_probe_loop(run_jurigged, tmp_path, program, {"lib.py": lib},
                               "-d", "0", "-w", "lib.py")
    process.expect(f"R (1, {expected})", stream="out")
    (tmp_path / "lib.py").write_text(lib.replace("return 1", "return 2"))
    process.expect(f"R (2, {expected})", stream="out")
    process.seen("Update lib.f", stream="out")


def test_threading_is_first_imported_by_the_main_thread(run_jurigged, tmp_path):
    # The program never imports threading; the save's patch machinery needs it, and
    # imported first on the watcher thread it would take that thread for the main one
    # (CPython 3.9-3.12): main_thread() wrong, and shutdown hanging at exit.
    lib = dedent("""\
    def f():
        return 1
    """)
    probe = ("(lib.f(), 'threading' in sys.modules and "
             "sys.modules['threading'].main_thread().ident == _thread.get_ident())")
    program = probe_loop(probe, imports="import _thread\nimport lib", rounds=3000)
    process = start_probe_loop(run_jurigged, tmp_path, program, {"lib.py": lib}, "-d", "0")
    process.expect("R (1, False)", stream="out")
    (tmp_path / "lib.py").write_text(lib.replace("return 1", "return 2"))
    process.expect("R (2, True)", stream="out")
    process.kill()


def test_threading_imported_while_the_main_thread_is_blocked(run_jurigged, tmp_path):
    # The main thread waits outside Python (opening a FIFO) and cannot import threading
    # for the save: the watcher thread imports it, and the main thread is still the
    # main one for threading, and the program still ends (shutdown waits for no thread).
    os.mkfifo(tmp_path / "wake")
    (tmp_path / "lib.py").write_text("def f():\n    return 1\n")
    (tmp_path / "app.py").write_text(dedent("""\
        import os, sys, _thread, lib
        print("ready", "threading" in sys.modules, flush=True)
        os.close(os.open("wake", os.O_RDONLY))
        import threading
        print("after", lib.f(), threading.main_thread().ident == _thread.get_ident(),
              flush=True)
        """))
    process = run_jurigged("-v", "-d", "0", "app.py", cwd=tmp_path)
    process.expect("ready False", stream="out")
    (tmp_path / "lib.py").write_text("def f():\n    return 2\n")
    process.expect("Update lib.f", stream="out")
    os.close(os.open(str(tmp_path / "wake"), os.O_WRONLY))
    process.expect("after 2 True", stream="out")
    assert process.wait(timeout=30) == 0, process.output()
