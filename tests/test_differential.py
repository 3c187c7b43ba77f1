"""The short CI run of the differential fuzzer (tests/differential): fixed seeds, the
edit families that converge today. The long run is scripts/fuzz_live.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from differential.generator import FAMILIES
from differential.runner import (describe_failure, differences, execute,
                                 generate_sequence, read_repro, run_one)

# Families whose random sequences converge on today's code (each passed
# `python scripts/fuzz_live.py --per-family --families NAME` over at least 10 seeds,
# and mixed runs of all of them converge; see tests/differential/repros/README.md).
# A family that finds a bug not fixed yet is taken out of this list until it is.
PASSING = ["bodies", "defaults", "added", "removed", "renamed", "classes", "dataclasses",
           "enums", "attributes_removed", "decorators", "closures", "blocks",
           "statements", "imports", "errors", "batches", "lru_cache", "class_headers"]
FAILING = [family for family in FAMILIES if family not in PASSING]

SEEDS = list(range(11, 17))
STEPS = 8


@pytest.mark.parametrize("seed", SEEDS)
def test_random_edits_converge_to_a_fresh_run(seed):
    outcome = run_one(seed, PASSING, STEPS)
    assert outcome.converged, describe_failure(outcome) + "\n" + outcome.failure.log[-4000:]
    assert outcome.steps_done == STEPS


def test_the_runner_reports_a_live_state_that_differs(tmp_path):
    """The comparison is not vacuous: a sequence whose expected snapshot is wrong
    fails at that step with the difference named."""
    scratch, live = tmp_path / "scratch", tmp_path / "live"
    scratch.mkdir()
    live.mkdir()
    sequence = generate_sequence(3, ["bodies"], 2, scratch)
    assert len(sequence.steps) == 2
    module = sorted(sequence.steps[1].expected)[0]
    sequence.steps[1].expected[module]["NOT_THERE"] = {"kind": "value", "repr": "1"}
    outcome = execute(sequence, live)
    assert outcome.failure is not None and outcome.failure.step == 1
    assert any("NOT_THERE: missing in the live program" in line
               for line in differences(outcome.failure.expected, outcome.failure.got))


def test_names_of_deleted_statements_are_tolerated_only_at_module_level():
    expected = {"m": {"f": {"call": "= 1"}, "C": {"members": {}}}}
    got = {"m": {"f": {"call": "= 1"}, "K": {"kind": "value"},
                 "C": {"members": {"K": {"kind": "value"}}}}}
    assert differences(expected, got, {"m": ["K"]}) == [
        'm.C.members.K: only in the live program ({"kind": "value"})']
    assert len(differences(expected, got, {})) == 2


def test_the_passing_list_names_only_known_families():
    assert set(PASSING) <= set(FAMILIES), set(PASSING) - set(FAMILIES)


def test_saved_repros_can_be_replayed():
    """Every saved failure parses back into a runnable sequence (replay them with
    `scripts/fuzz_live.py --replay FILE`; they fail until their bug is fixed)."""
    folder = Path(__file__).parent / "differential" / "repros"
    files = sorted(folder.glob("*.txt"))
    assert files
    for path in files:
        sequence = read_repro(path.read_text())
        assert "main.py" in sequence.initial and sequence.initial_expected, path
        assert sequence.steps and all(step.saves and step.expected for step in sequence.steps), path
