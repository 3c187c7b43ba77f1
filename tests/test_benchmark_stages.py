"""benchmarks/stages.py drives the patcher's phases one by one (to time them), so it
breaks silently when their API changes: run it small and check it applied its edits
and timed every stage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

STAGES = Path(__file__).resolve().parent.parent / "benchmarks" / "stages.py"


def test_the_stage_benchmark_runs_every_stage():
    done = subprocess.run([sys.executable, str(STAGES), "200", "3"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr  # it asserts each edit went live
    stages = [line.split(" ", 2) for line in done.stdout.splitlines()]
    names = [name for _, _, name in stages]
    assert "parse + diff (C++)" in names and "commit (the swap)" in names, done.stdout
    assert all(float(seconds) >= 0 and gil in ("held", "released")
               for seconds, gil, _ in stages), done.stdout
