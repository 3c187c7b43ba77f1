"""The public API: Recoders on real files, watch() inside a program, hooks, manual
mode, the event stream, configuration, and IPython."""

from __future__ import annotations

import importlib
import itertools
import json
import os
import subprocess
import sys
import time
import traceback
from textwrap import dedent

import pytest

import jurigged


_module_numbers = itertools.count()


@pytest.fixture
def module_in(tmp_path, monkeypatch):
    """Write source bytes to a uniquely named module in tmp_path and import it."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(source: bytes):
        name = f"recoded_{next(_module_numbers)}"
        path = tmp_path / f"{name}.py"
        path.write_bytes(source)
        return importlib.import_module(name), path

    yield make


SOURCE = (b"# -*- coding: latin-1 -*-\r\n# caf\xe9\r\n"
          b"class C:\r\n    def m(self):\r\n        return 1\r\n\r\n"
          b"def inflate(x):\r\n    return x\r\n")


def test_recoder_patches_one_method_and_commits_bytes_exactly(module_in):
    mod, path = module_in(SOURCE)
    obj = mod.C()
    recoder = jurigged.make_recoder(mod.C.m)
    recoder.patch("def m(self):\n    return 2\n")
    assert obj.m() == 2
    assert path.read_bytes() == SOURCE  # nothing written before commit
    recoder.commit()
    assert path.read_bytes() == SOURCE.replace(b"return 1", b"return 2")


def test_recoder_refuses_other_definitions(module_in):
    mod, _ = module_in(SOURCE)
    recoder = jurigged.make_recoder(mod.inflate)
    with pytest.raises(ValueError, match="cannot be used to define"):
        recoder.patch("def deflate(x):\n    return x\n")
    with pytest.raises(ValueError):
        recoder.patch("import os\ndef inflate(x):\n    return x\n")
    assert mod.inflate(3) == 3


def test_patch_module_revert_and_recoders_for_every_kind(module_in):
    mod, path = module_in(SOURCE)
    for obj in (mod, mod.C, mod.inflate, mod.inflate.__code__, mod.C.m):
        assert isinstance(jurigged.make_recoder(obj), jurigged.Recoder)
    recoder = jurigged.make_recoder(mod)
    recoder.patch_module("def inflate(x):\n    return x * 10\n\ndef helper():\n    return 'h'\n")
    assert (mod.inflate(2), mod.helper()) == (20, "h")
    recoder.revert()
    assert mod.inflate(2) == 2 and not hasattr(mod, "helper")
    assert path.read_bytes() == SOURCE


def test_commit_refuses_a_file_changed_on_disk(module_in):
    mod, path = module_in(SOURCE)
    recoder = jurigged.make_recoder(mod.inflate)
    path.write_bytes(SOURCE + b"# edited elsewhere\r\n")
    recoder.patch("def inflate(x):\n    return -x\n")
    with pytest.raises(jurigged.StaleFileError):
        recoder.commit()
    assert path.read_bytes() == SOURCE + b"# edited elsewhere\r\n"


def test_tracebacks_show_the_patch_text(module_in):
    mod, _ = module_in(b"def f():\n    return 1\n")
    jurigged.make_recoder(mod.f).patch("def f():\n    raise KeyError('from the patch')\n")
    with pytest.raises(KeyError) as info:
        mod.f()
    frame = traceback.extract_tb(info.value.__traceback__)[-1]
    assert frame.line == "raise KeyError('from the patch')"


def test_conform_protocol(module_in):
    mod, _ = module_in(dedent("""\
        class Holder:
            def __init__(self, fn):
                self.fn = fn
                self.seen = []
            def __conform__(self, new):
                self.seen.append(new)
                self.fn = new
            def __call__(self):
                return self.fn()

        @Holder
        def job():
            return 1
        """).encode())
    holder = mod.job
    recoder = jurigged.make_recoder(mod)
    recoder.patch_module("@Holder\ndef job():\n    return 2\n")
    assert holder() == 2 and len(holder.seen) == 1


def run_python(run_jurigged, tmp_path, script: str, **files):
    for name, text in files.items():
        (tmp_path / name).write_text(dedent(text))
    (tmp_path / "main.py").write_text(dedent(script))
    return run_jurigged("main.py", command=[sys.executable])


def test_watch_inside_a_program_with_hooks(run_jurigged, tmp_path):
    p = run_python(run_jurigged, tmp_path, """\
        import time, jurigged, lib
        w = jurigged.watch()
        assert jurigged.watch() is w  # a second call adds to the same watcher
        w.prerun.append(lambda path: print("pre", path.endswith("lib.py"), flush=True))
        w.postrun.append(lambda path: print("post", lib.f(), flush=True))
        print("ready", flush=True)
        time.sleep(30)
        """, **{"lib.py": "def f():\n    return 1\n"})
    p.expect("ready")
    (tmp_path / "lib.py").write_text("def f():\n    return 2\n")
    p.expect("pre True")
    p.expect("post 2")


def test_watch_a_module_by_object_or_name(run_jurigged, tmp_path):
    # Only the named modules are watched: `other` stays as it was imported.
    (tmp_path / "pkg").mkdir()
    p = run_python(run_jurigged, tmp_path, """\
        import os, time, jurigged, lib, other, pkg.inner
        jurigged.watch([lib, "pkg"], verbose=True)
        print("ready", flush=True)
        while not os.path.exists("go"):
            time.sleep(0.02)
        time.sleep(0.5)
        print("values", lib.f(), pkg.inner.f(), other.f(), flush=True)
        """, **{"lib.py": "def f():\n    return 1\n", "other.py": "def f():\n    return 1\n",
                "pkg/__init__.py": "", "pkg/inner.py": "def f():\n    return 1\n"})
    p.expect("ready")
    for name in ("lib.py", "other.py", "pkg/inner.py"):
        (tmp_path / name).write_text("def f():\n    return 2\n")
    (tmp_path / "go").write_text("go")
    p.expect("values 2 2 1")
    assert "other.py" not in p.output("out")


def test_manual_mode_applies_only_when_asked(run_jurigged, tmp_path):
    p = run_python(run_jurigged, tmp_path, """\
        import os, time, jurigged, lib
        jurigged.watch(manual=True)
        print("ready", flush=True)
        while not os.path.exists("go"):
            time.sleep(0.02)
        print("before", lib.f(), flush=True)
        print("applied", jurigged.apply_pending() > 0, lib.f(), flush=True)
        """, **{"lib.py": "def f():\n    return 1\n"})
    p.expect("ready")
    (tmp_path / "lib.py").write_text("def f():\n    return 2\n")
    time.sleep(0.5)  # the save is seen and queued, not applied
    (tmp_path / "go").write_text("go")
    p.expect("before 1")
    p.expect("applied True 2")


def test_event_stream_is_json(run_jurigged, tmp_path):
    (tmp_path / "lib.py").write_text("def f():\n    return 1\n")
    (tmp_path / "app.py").write_text(dedent("""\
        import time, lib
        print("ready", flush=True)
        while lib.f() == 1:
            time.sleep(0.02)
        print("done", flush=True)
        """))
    events_file = tmp_path / "events.jsonl"
    p = run_jurigged("--events", str(events_file), "app.py")
    p.expect("ready")
    (tmp_path / "lib.py").write_text("def f():\n    return 2\n\nX = 1\n")
    p.expect("done")
    assert p.wait() == 0
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("watch") == 2 and "batch" in kinds
    update = next(e for e in events if e["event"] == "update")
    assert update["qualname"] == "lib.f" and update["file"].endswith("lib.py")
    assert update["line"] == 1
    run = next(e for e in events if e["event"] == "run")
    assert run["line"] == 4 and run["text"] == "X = 1"


def test_configuration_from_pyproject_and_environment(run_jurigged, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.jurigged]\nverbose = true\n")
    (tmp_path / "app.py").write_text("print('ran')\n")
    p = run_jurigged("app.py")
    p.expect("Watch ", stream="out")
    assert p.wait() == 0
    env = dict(os.environ, JURIGGED_VERBOSE="0", HOME=str(tmp_path))
    quiet = run_jurigged("app.py", env=env)
    assert quiet.wait() == 0 and "Watch" not in quiet.output()
    (tmp_path / "pyproject.toml").write_text("[tool.jurigged]\ndebounce = 'soon'\n")
    bad = run_jurigged("app.py")
    assert bad.wait() == 2
    assert "debounce must be a number" in bad.output("err")


def test_ipython_extension(tmp_path):
    pytest.importorskip("IPython")
    (tmp_path / "lib.py").write_text("def f():\n    return 1\n")
    commands = dedent("""\
        %load_ext jurigged
        import lib, time
        f = lib.f
        print("first", f())
        open("lib.py", "w").write("def f():\\n    return 2\\n")
        deadline = time.time() + 10
        while f() != 2 and time.time() < deadline: time.sleep(0.05)
        print("second", f())
        """)
    result = subprocess.run(
        [sys.executable, "-m", "IPython", "--simple-prompt", "--no-banner",
         "--HistoryManager.enabled=False", "--colors=NoColor"],
        input=commands, capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env=dict(os.environ, HOME=str(tmp_path)))
    assert "first 1" in result.stdout, result.stdout + result.stderr
    assert "second 2" in result.stdout, result.stdout + result.stderr
