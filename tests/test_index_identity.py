"""The function index finds functions by identity, never by address: after
`importlib.reload` (which frees the old functions, so CPython hands their addresses to
the new ones) an edit reaches the right function, and the index keeps nothing alive."""

from __future__ import annotations

import gc
import importlib
import subprocess
import sys
import types
import weakref
from pathlib import Path
from textwrap import dedent

from jurigged.function_index import FunctionIndex
from jurigged.patcher import SourceFile, function_index

MOD = dedent("""\
    def f():
        return "f1"


    def g():
        return "g1"
    """)

# Imports mod, prints `R (mod.f(), mod.g())` whenever it changes, reloads mod when the
# file `reload-now` appears and stops when `stop` appears.
APP = dedent("""\
    import importlib, os, sys, time
    import mod
    print("ready", flush=True)
    reloaded = False
    last = None
    for _ in range(6000):
        if not reloaded and os.path.exists("reload-now"):
            old_f = id(mod.f)
            importlib.reload(mod)
            reloaded = True
            print("reloaded, g took f's address:", id(mod.g) == old_f, flush=True)
        if os.path.exists("stop"):
            break
        value = (mod.f(), mod.g())
        if value != last:
            sys.stdout.write(" ".join(map(str, ("R", repr(value),))) + "\\n"); sys.stdout.flush()
            last = value
        time.sleep(0.005)
    """)


def fresh_run(folder: Path) -> str:
    """What a new interpreter prints for (mod.f(), mod.g()) on the files now on disk."""
    done = subprocess.run([sys.executable, "-c", "import mod; print(repr((mod.f(), mod.g())))"],
                          cwd=str(folder), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def save(folder: Path, text: str) -> None:
    (folder / "mod.py").write_text(text)


def updates_after(process, start: int) -> list:
    return [line for line in process.lines["out"][start:] if line.startswith("Update ")]


def start(run_jurigged, tmp_path):
    save(tmp_path, MOD)
    (tmp_path / "app.py").write_text(APP)
    process = run_jurigged("-v", "app.py")
    process.expect("R ('f1', 'g1')", stream="out")
    return process


def finish(process, tmp_path, last_edit: int) -> None:
    """Stop the program and check the last save logged `Update mod.f` only."""
    (tmp_path / "stop").write_text("")
    assert process.wait(timeout=30) == 0, process.output()
    assert updates_after(process, last_edit) == ["Update mod.f"], process.output()


def test_edit_after_reload_reaches_f_only(run_jurigged, tmp_path):
    p = start(run_jurigged, tmp_path)
    (tmp_path / "reload-now").write_text("")
    p.expect("reloaded", stream="out")
    edited = MOD.replace('"f1"', '"f2"')
    before = len(p.lines["out"])
    save(tmp_path, edited)
    expected = fresh_run(tmp_path)
    assert expected == "('f2', 'g1')"
    p.expect(f"R {expected}", stream="out", timeout=20)
    finish(p, tmp_path, before)


def test_index_entry_left_by_a_reloaded_function_never_aliases(run_jurigged, tmp_path):
    # Edit f (the index records f under its new code), reload (f dies; g is usually
    # allocated where f was), edit g (the index records the new g), edit f again: the
    # save must reach the new f, not whatever now lives at the old f's address.
    p = start(run_jurigged, tmp_path)
    text = MOD.replace('"f1"', '"f2"')
    save(tmp_path, text)
    p.expect("R ('f2', 'g1')", stream="out", timeout=20)
    (tmp_path / "reload-now").write_text("")
    p.expect("reloaded", stream="out")
    text = text.replace('"g1"', '"g2"')
    save(tmp_path, text)
    p.expect("R ('f2', 'g2')", stream="out", timeout=20)
    p.seen("Update mod.g", stream="out")  # logged after the swap, maybe after the R line
    text = text.replace('"f2"', '"f3"')
    before = len(p.lines["out"])
    save(tmp_path, text)
    expected = fresh_run(tmp_path)
    assert expected == "('f3', 'g2')"
    p.expect(f"R {expected}", stream="out", timeout=20)
    finish(p, tmp_path, before)


# -- in process: the index itself, and the patcher's use of it ------------------------------


def _function(body: str = "return 1") -> types.FunctionType:
    namespace: dict = {}
    exec(f"def h():\n    {body}\n", namespace)
    return namespace["h"]


def test_lookup_proves_the_function_still_runs_the_code():
    index = FunctionIndex()
    f = _function()
    code = f.__code__
    assert index.add(code, f)
    assert not index.add(code, f)
    assert index.functions(code) == [f] and code in index and len(index) == 1
    f.__code__ = _function("return 2").__code__
    assert index.functions(code) == [] and code not in index and len(index) == 0


def test_move_keeps_only_functions_that_run_the_new_code():
    index = FunctionIndex()
    swapped, left = _function(), _function()
    left.__code__ = swapped.__code__
    old = swapped.__code__
    index.add(old, swapped)
    index.add(old, left)
    new = _function("return 2").__code__
    swapped.__code__ = new
    index.move(old, new)
    assert index.functions(new) == [swapped]
    assert index.functions(old) == [left]


def test_a_new_code_object_at_a_dead_ones_address_finds_nothing():
    index = FunctionIndex()
    base = _function().__code__
    for _ in range(1000):
        code = base.replace(co_name="a")
        index.add(code, types.FunctionType(code, {}))  # the function dies at once
        address = id(code)
        del code
        other = base.replace(co_name="b")  # same size: CPython reuses the memory
        if id(other) == address:
            break
    else:
        raise AssertionError("CPython never reused the address of a code object")
    function = types.FunctionType(other, {})
    assert index.functions(other) == []
    assert other not in index
    assert index.add(other, function)
    assert index.functions(other) == [function]


def test_dead_functions_and_codes_are_dropped_and_kept_alive_by_nothing():
    index = FunctionIndex()
    codes = []
    for _ in range(500):
        f = _function()
        index.add(f.__code__, f)
        codes.append(weakref.ref(f.__code__))
        del f
    gc.collect()
    assert all(ref() is None for ref in codes)
    assert len(index) == 0
    assert len(index._entries) < 200  # swept as it grew, not only when asked its size


def test_many_saves_and_reloads_neither_grow_the_index_nor_keep_old_code(tmp_path, monkeypatch):
    module_name = "index_identity_probe"
    path = tmp_path / f"{module_name}.py"
    path.write_text(MOD)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(module_name)
    try:
        file = SourceFile(str(path), module_name, path.read_bytes())
        codes = []  # every code object f and g have run
        sizes = []
        others = len(function_index)  # functions other tests of this process indexed
        for round_number in range(40):
            text = MOD.replace('"f1"', f'"f{round_number}"').replace('"g1"', f'"g{round_number}"')
            assert file.apply(text.encode())
            assert (module.f(), module.g()) == (f"f{round_number}", f"g{round_number}")
            codes += [weakref.ref(module.f.__code__), weakref.ref(module.g.__code__)]
            if round_number % 4 == 1:
                path.write_text(text)
                importlib.reload(module)
                codes += [weakref.ref(module.f.__code__), weakref.ref(module.g.__code__)]
            sizes.append(len(function_index))
        gc.collect()
        assert max(sizes) <= others + 2, (others, sizes)
        current = (module.f.__code__, module.g.__code__)
        alive = [ref for ref in codes if ref() is not None and ref() not in current]
        assert not alive, f"{len(alive)} old code objects of f and g are still alive"
    finally:
        sys.modules.pop(module_name, None)
