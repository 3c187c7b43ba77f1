"""Regression tests from the differential fuzzer's saved failures
(tests/differential/repros/): each case is replayed under a real `jurigged` process and
every quiet point compared with a fresh interpreter on the same files."""

from __future__ import annotations

from pathlib import Path

import pytest

from differential.runner import describe_failure, execute, read_repro

REPROS = Path(__file__).parent / "differential" / "repros"

# The saved cases that converge now (the README table says what each one was).
CONVERGING = [
    "batch-import-of-function-added-in-same-batch.txt",
    "block-edit-of-branch-not-taken.txt",
    "class-attribute-removed-stays.txt",
    "closure-cell-lost-when-variable-used-again.txt",
    "closure-not-updated-after-code-moved.txt",
    "decorator-added-old-imported-reference.txt",
    "enum-member-added-not-a-member.txt",
    "enum-member-removed-stays.txt",
    "enum-member-value-not-changed.txt",
    "lru-cache-stale-after-edit.txt",
    # Found by mixed runs after the families above passed alone:
    "lru-cache-under-plain-decorator-stale.txt",
    "lru-cache-stale-after-callee-edit.txt",
    "lru-cache-stale-after-constant-rerun.txt",
    "decorator-added-imported-elsewhere-keeps-old-object.txt",
    "decorator-removed-imported-elsewhere-keeps-wrapper.txt",
    # Found by the long mixed run of 2026-12-03 (seeds 9000-9199):
    "class-attribute-removed-beside-a-changed-one.txt",
]


def replay(name: str, tmp_path: Path):
    sequence = read_repro((REPROS / name).read_text())
    return execute(sequence, tmp_path)


@pytest.mark.parametrize("name", CONVERGING)
def test_saved_failure_now_converges(name, tmp_path):
    outcome = replay(name, tmp_path)
    assert outcome.converged, describe_failure(outcome) + "\n" + outcome.failure.log[-4000:]
    assert outcome.steps_done == len(outcome.sequence.steps)


def test_a_closure_without_a_cell_for_a_new_variable_is_named_in_a_log_line(tmp_path):
    """What cannot be made equal: an existing closure whose factory never captured the
    variable its new code uses (the factory's frame, and the value, are gone). It
    cannot converge; jurigged must say so, naming the closure and the variable."""
    outcome = replay("closure-new-free-variable-wrong-value.txt", tmp_path)
    assert not outcome.converged
    assert any("existing closure make_adder36.<locals>.inner has no value for new free "
               "variable(s) k" in line for line in outcome.failure.log.split("\n")), \
        outcome.failure.log[-4000:]


def test_every_converging_case_is_a_saved_file():
    missing = [name for name in CONVERGING if not (REPROS / name).exists()]
    assert not missing, missing
