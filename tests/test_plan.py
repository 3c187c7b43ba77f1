"""The planner on its own, in this process: planning a save gives a typed, immutable
`FilePlan` (swaps, definitions, deletions, statements, re-created definitions, each
with its node, compiled code and reason) and changes nothing in the live module."""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import sys
import textwrap
import types

import pytest

from jurigged.patcher import SourceFile
from jurigged.records import FilePlan, PlanEntry

_names = itertools.count()


@pytest.fixture
def planned(tmp_path, monkeypatch):
    """plan(old, new) -> (FilePlan, entries, module): `old` imported for real as a
    module, `new` planned over it (None: the save is refused)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    imported = []

    def plan(old: str, new: str):
        name = f"plan_probe_{next(_names)}"
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(old))
        module = importlib.import_module(name)
        imported.append(name)
        before = _state(module)
        file = SourceFile(str(path), name, path.read_bytes())
        new_text = textwrap.dedent(new)
        patch = file.stage(new_text.encode())
        assert _state(module) == before, "planning changed the live module"
        if patch is None:
            return None, (), module
        return patch.plan, patch.plan.entries(new_text.splitlines()), module

    yield plan
    for name in imported:
        sys.modules.pop(name, None)


def _state(module):
    """What planning must leave as it is: every binding, and every function's code."""
    bindings = dict(vars(module))
    codes = {name: value.__code__ for name, value in bindings.items()
             if isinstance(value, types.FunctionType)}
    return bindings, codes


def verbs(entries):
    return [(entry.verb, entry.what) for entry in entries]


def test_body_edit_is_one_swap_with_the_new_code(planned):
    plan, entries, module = planned("def f():\n    return 1\n", "def f():\n    return 2\n")
    assert verbs(entries) == [("update", "f")]
    (swap,) = plan.swaps
    assert swap.functions == [module.f]
    assert swap.old_code is module.f.__code__
    assert swap.code is not module.f.__code__ and 2 in swap.code.co_consts
    assert not plan.steps and module.f() == 1


def test_added_function_is_a_definition_compiled_but_not_bound(planned):
    plan, entries, module = planned("def f():\n    return 1\n",
                                    "def f():\n    return 1\n\n\ndef g():\n    return 3\n")
    assert verbs(entries) == [("add", "g")]
    (step,) = plan.definitions
    assert step.node.line == 5 and isinstance(step.code, types.CodeType)
    assert not hasattr(module, "g")


def test_deleted_function_is_a_deletion_and_stays_bound_until_applied(planned):
    plan, entries, module = planned("def f():\n    return 1\n\n\ndef g():\n    return 3\n",
                                    "def f():\n    return 1\n")
    assert verbs(entries) == [("delete", "g")]
    (step,) = plan.deletions
    assert step.index == -1 and step.code is None
    assert module.g() == 3


def test_decorator_change_re_creates_the_function(planned):
    old = """\
    import functools

    def f():
        return 1
    """
    new = """\
    import functools

    @functools.lru_cache(maxsize=None)
    def f():
        return 1
    """
    plan, entries, module = planned(old, new)
    assert [(e.verb, e.what, e.reason) for e in entries] == [
        ("replace", "f", "its decorators changed")]
    assert not plan.swaps and not hasattr(module.f, "cache_clear")


def test_changed_statement_is_re_run_later_not_now(planned):
    plan, entries, module = planned("X = 1\n\n\ndef f():\n    return X\n",
                                    "X = 2\n\n\ndef f():\n    return X\n")
    assert verbs(entries) == [("run", "X = 2")]
    (step,) = plan.statements
    assert step.node.kind == "statement" and isinstance(step.code, types.CodeType)
    assert module.X == 1


def test_signature_after_a_changed_statement_waits_for_it(planned):
    old = "D = 1\n\n\ndef f(x=D):\n    return x\n"
    new = "D = 5\n\n\ndef f(x=D + 1):\n    return x\n"
    plan, entries, module = planned(old, new)
    assert [(e.verb, e.what) for e in entries] == [("run", "D = 5"), ("update later", "f")]
    (step,) = plan.deferred_updates
    assert "statement" in step.reason
    assert module.f() == 1


def test_enum_member_added_re_creates_the_class(planned):
    old = """\
    import enum

    class Color(enum.Enum):
        RED = 1
    """
    new = """\
    import enum

    class Color(enum.Enum):
        RED = 1
        BLUE = 2
    """
    plan, entries, module = planned(old, new)
    (entry,) = entries
    # Made again in the commit: the functions of the save that use BLUE see it.
    assert (entry.verb, entry.kind, entry.what, entry.at_commit) == (
        "replace", "class", "Color", True)
    assert entry.reason == "an Enum"  # what builds the class: its metaclass
    # The new member's statement is in the plan, covered by the class made again.
    (statement,) = plan.statements
    assert plan.covered(statement)
    assert not hasattr(module.Color, "BLUE")


def test_method_edit_swaps_the_method_of_the_live_class(planned):
    old = "class A:\n    def m(self):\n        return 1\n"
    new = "class A:\n    def m(self):\n        return 2\n"
    plan, entries, module = planned(old, new)
    assert verbs(entries) == [("update", "A.m")]
    assert plan.swaps[0].functions == [module.A.m]


def test_syntax_error_gives_no_plan(planned, capfd):
    plan, entries, module = planned("def f():\n    return 1\n", "def f(:\n    return 2\n")
    assert plan is None
    assert "syntax error" in capfd.readouterr().err
    assert module.f() == 1


def test_the_plan_and_its_entries_are_values(planned):
    plan, entries, _ = planned("def f():\n    return 1\n", "def f():\n    return 2\n")
    assert isinstance(plan, FilePlan) and isinstance(plan.swaps, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.swaps = ()
    assert isinstance(entries[0], PlanEntry)
    with pytest.raises(dataclasses.FrozenInstanceError):
        entries[0].verb = "delete"


def test_a_failed_statement_is_carried_in_the_next_plan(tmp_path, monkeypatch, capfd):
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"plan_probe_{next(_names)}"
    path = tmp_path / f"{name}.py"
    path.write_text("def f():\n    return 1\n")
    module = importlib.import_module(name)
    try:
        file = SourceFile(str(path), name, path.read_bytes())
        failing = "import plan_probe_missing_module\n\n\ndef f():\n    return 1\n"
        assert file.apply(failing.encode())
        assert "plan_probe_missing_module" in capfd.readouterr().err
        (pending,) = file.pending
        patch = file.stage(failing.replace("return 1", "return 2").encode())
        (carried,) = patch.plan.carried_pending
        assert (carried.verb, carried.index) == ("run", pending.index)
        assert carried is not pending  # the file keeps its own until the save applies
        assert module.f() == 1
    finally:
        sys.modules.pop(name, None)


def test_planning_over_a_definitions_view_runs_nothing(tmp_path, capfd):
    from jurigged.liveobjects import DefinitionsView

    old = textwrap.dedent("""\
        print("RAN")

        def f(x=print("RAN default")):
            return 1

        class A:
            print("RAN body")

            def m(self):
                return super().m()
        """)
    new = old.replace("return 1", "return 2").replace("return super().m()", "return 3")
    path = str(tmp_path / "viewed.py")
    view = DefinitionsView("viewed", old.encode(), path)
    assert isinstance(view.A, type) and view.f.__defaults__ is None
    patch = SourceFile(path, "viewed", old.encode(), module=view).stage(new.encode())
    entries = patch.plan.entries(new.splitlines())
    assert [(e.verb, e.what, e.at_commit) for e in entries] == [
        ("update", "f", True), ("update", "A.m", True)]
    assert "RAN" not in capfd.readouterr().out
