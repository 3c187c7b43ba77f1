"""watch() as jurigged 0.6.1 programs call it: restart after stop(), hooks with
`.register` and the `(path, codefile)` form, a list of callables as the pattern, the
Watch/Update lines it prints by default, and IPython's unload/load round trip."""

from __future__ import annotations

import os
import subprocess
import sys
from textwrap import dedent

import pytest


def run_program(run_jurigged, tmp_path, script: str, **files):
    for name, text in files.items():
        (tmp_path / name).write_text(dedent(text))
    (tmp_path / "main.py").write_text(dedent(script))
    return run_jurigged("main.py", command=[sys.executable])


LIB = {"lib.py": "def f():\n    return 1\n", "other.py": "def f():\n    return 1\n"}


def test_watch_after_stop_starts_a_working_watcher(run_jurigged, tmp_path):
    p = run_program(run_jurigged, tmp_path, """\
        import time, jurigged, lib
        first = jurigged.watch(verbose=False)
        first.stop()
        first.join(5)
        second = jurigged.watch(verbose=False)
        print("ready", second is not first, flush=True)
        while lib.f() == 1:
            time.sleep(0.02)
        print("live", lib.f(), flush=True)
        """, **LIB)
    p.expect("ready True")
    (tmp_path / "lib.py").write_text("def f():\n    return 2\n")
    p.expect("live 2")
    assert p.wait() == 0


def test_hooks_register_and_receive_path_and_file(run_jurigged, tmp_path):
    p = run_program(run_jurigged, tmp_path, """\
        import os, time, jurigged, lib
        watcher = jurigged.watch(verbose=False)

        @watcher.prerun.register
        def before(path, codefile):
            print("pre", os.path.basename(path), codefile.module_name, lib.f(), flush=True)

        watcher.postrun.register(lambda path: print("post", lib.f(), flush=True))
        print("ready", flush=True)
        time.sleep(30)
        """, **LIB)
    p.expect("ready")
    (tmp_path / "lib.py").write_text("def f():\n    return 2\n")
    p.expect("pre lib.py lib 1")
    p.expect("post 2")


def test_a_list_of_callables_chooses_the_files(run_jurigged, tmp_path):
    p = run_program(run_jurigged, tmp_path, """\
        import os, time, jurigged, lib, other
        jurigged.watch([lambda path: path.endswith("lib.py")], verbose=False)
        print("ready", flush=True)
        while lib.f() == 1:
            time.sleep(0.02)
        print("values", lib.f(), other.f(), flush=True)
        """, **LIB)
    p.expect("ready")
    (tmp_path / "other.py").write_text("def f():\n    return 2\n")
    (tmp_path / "lib.py").write_text("def f():\n    return 2\n")
    # other.py was saved first: had it been watched, it would be live by now.
    p.expect("values 2 1")


def test_watch_prints_watch_and_update_lines_by_default(run_jurigged, tmp_path):
    p = run_program(run_jurigged, tmp_path, """\
        import time, jurigged, lib
        jurigged.watch()
        print("ready", flush=True)
        while lib.f() == 1:
            time.sleep(0.02)
        time.sleep(30)
        """, **LIB)
    p.expect("Watch ", stream="out")
    p.expect("ready")
    (tmp_path / "lib.py").write_text("def f():\n    return 2\n")
    p.expect("Update lib.f", stream="out")


def test_ipython_unload_then_load_keeps_watching(tmp_path):
    pytest.importorskip("IPython")
    (tmp_path / "lib.py").write_text("def f():\n    return 1\n")
    commands = dedent("""\
        %load_ext jurigged
        %unload_ext jurigged
        %load_ext jurigged
        import lib, time
        print("first", lib.f())
        open("lib.py", "w").write("def f():\\n    return 2\\n")
        deadline = time.time() + 20
        while lib.f() != 2 and time.time() < deadline: time.sleep(0.05)
        print("second", lib.f())
        """)
    result = subprocess.run(
        [sys.executable, "-m", "IPython", "--simple-prompt", "--no-banner",
         "--HistoryManager.enabled=False", "--colors=NoColor"],
        input=commands, capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env=dict(os.environ, HOME=str(tmp_path)))
    assert "first 1" in result.stdout, result.stdout + result.stderr
    assert "second 2" in result.stdout, result.stdout + result.stderr
