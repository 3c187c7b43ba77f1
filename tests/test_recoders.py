"""Recoders as jurigged 0.6.1 users rely on them: module patches merge, commits write in
place, deletion, out-of-sync detection and repatch, and `make_recoder` returning None
for what has no source. Checked against the live module and the bytes on disk."""

from __future__ import annotations

import importlib
import itertools
import sys
from textwrap import dedent

import pytest

import jurigged

_numbers = itertools.count()

MODULE = dedent("""\
    import math

    LIMIT = 3


    class Shape:
        sides = 0

        def area(self):
            return 0

        def name(self):
            return "shape"


    def double(x):
        return 2 * x


    def triple(x):
        return 3 * x
    """)


@pytest.fixture
def module(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"recoded_mod_{next(_numbers)}"
    path = tmp_path / f"{name}.py"
    path.write_text(MODULE)
    yield importlib.import_module(name), path
    sys.modules.pop(name, None)


def test_patch_module_merges_a_class_member_by_member(module):
    mod, path = module
    shape = mod.Shape()
    recoder = jurigged.make_recoder(mod)
    recoder.patch_module(dedent("""\
        class Shape:
            def name(self):
                return "polygon"

            def corners(self):
                return self.sides
        """))
    # The members the patch does not mention are still there, and the instance made
    # before sees the change.
    assert (shape.area(), shape.name(), shape.corners()) == (0, "polygon", 0)
    assert mod.double(2) == 4 and mod.triple(2) == 6 and mod.LIMIT == 3
    recoder.commit()
    expected = MODULE.replace('        return "shape"\n',
                              '        return "polygon"\n\n'
                              '    def corners(self):\n        return self.sides\n')
    assert path.read_text() == expected


def test_patch_module_replaces_in_place_and_adds_after_the_preceding_item(module):
    mod, path = module
    recoder = jurigged.make_recoder(mod)
    recoder.patch_module(dedent("""\
        def double(x):
            return 20 * x

        def quadruple(x):
            return 4 * x

        LIMIT = 3
        """))
    assert (mod.double(1), mod.quadruple(1), mod.triple(1)) == (20, 4, 3)
    recoder.commit()
    text = path.read_text()
    # double changed where it stands; quadruple follows it; the statement that is
    # already in the file is not added twice; triple is untouched.
    assert text.index("def double") < text.index("def quadruple") < text.index("def triple")
    assert text.count("LIMIT = 3") == 1
    assert text.replace("    return 20 * x\n\ndef quadruple(x):\n    return 4 * x\n",
                        "    return 2 * x\n") == MODULE


def test_commit_writes_a_method_in_place(module):
    mod, path = module
    recoder = jurigged.make_recoder(mod.Shape.area)
    recoder.patch("def area(self):\n    return self.sides * 10\n")
    assert recoder.status == "live"
    recoder.commit()
    assert recoder.status == "saved"
    assert path.read_text() == MODULE.replace("        return 0\n",
                                              "        return self.sides * 10\n")


def test_deletable_recoder_removes_and_reinserts_its_definition(module):
    mod, path = module
    with pytest.raises(ValueError, match="cannot delete"):
        jurigged.make_recoder(mod.double).patch("")
    recoder = jurigged.make_recoder(mod.double, deletable=True)
    recoder.patch("")
    assert not hasattr(mod, "double") and mod.triple(1) == 3
    recoder.patch("def double(x):\n    return x + x + 1\n")
    assert mod.double(1) == 3
    recoder.commit()
    assert path.read_text() == MODULE.replace("return 2 * x", "return x + x + 1")


def test_out_of_sync_recoders_and_repatch(module):
    mod, path = module
    first = jurigged.make_recoder(mod.triple)
    second = jurigged.make_recoder(mod.triple)
    first.patch("def triple(x):\n    return x * 3 + 1\n")
    second.patch("def triple(x):\n    return x * 3 + 2\n")
    second.commit()
    assert first.status == "out-of-sync"
    with pytest.raises(jurigged.OutOfSyncException):
        first.commit()
    assert mod.triple(1) == 5
    first.repatch()
    assert mod.triple(1) == 4 and first.status == "live"
    first.commit()
    assert path.read_text() == MODULE.replace("return 3 * x", "return x * 3 + 1")


def test_make_recoder_gives_none_without_a_source_definition(module):
    mod, _ = module
    made_at_run_time = type("Made", (), {"__module__": mod.__name__})
    assert jurigged.make_recoder(made_at_run_time) is None
    namespace = {"__name__": mod.__name__}
    exec(compile("def from_exec():\n    return 1\n", mod.__file__, "exec"), namespace)
    assert jurigged.make_recoder(namespace["from_exec"]) is None
    assert jurigged.make_recoder(mod.Shape) is not None


def test_commit_after_a_disk_edit_that_was_applied_live(run_jurigged, tmp_path):
    # The file changed on disk and the watcher applied it: disk and live agree, so a
    # recoder's commit on top of it is not stale, and keeps both changes.
    (tmp_path / "lib.py").write_text("def f():\n    return 1\n\n\ndef g():\n    return 1\n")
    (tmp_path / "main.py").write_text(dedent("""\
        import os, time, jurigged, lib
        print("ready", flush=True)
        while lib.g() == 1:
            time.sleep(0.02)
        recoder = jurigged.make_recoder(lib.f)
        recoder.patch("def f():\\n    return 2\\n")
        recoder.commit()
        print("committed", lib.f(), lib.g(), recoder.status, flush=True)
        time.sleep(0.3)
        """))
    p = run_jurigged("-v", "main.py")
    p.expect("ready")
    (tmp_path / "lib.py").write_text("def f():\n    return 1\n\n\ndef g():\n    return 7\n")
    p.expect("committed 2 7 saved")
    assert p.wait() == 0
    assert (tmp_path / "lib.py").read_text() == (
        "def f():\n    return 2\n\n\ndef g():\n    return 7\n")
    assert "StaleFileError" not in p.output()
