"""Turning measurements into the markdown tables printed and saved as RESULTS.md.

Every comparison column is original ÷ ours: "×3.0" means ours takes a third of
the time (or memory) the original does, "×0.5" that ours takes twice as much.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence


def seconds(value: Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if value < 0.001:
        return f"{value * 1e6:.3g} µs"
    if value < 1:
        return f"{value * 1000:.3g} ms"
    return f"{value:.3g} s"


def megabytes(value: Optional[float]) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:,.0f} MB" if value >= 100 else f"{value:.3g} MB"


def ratio(original: Optional[float], ours: Optional[float]) -> str:
    """original ÷ ours, as "×N" (N > 1: ours is N times faster or smaller)."""
    if original is None or ours is None or math.isnan(original) or math.isnan(ours):
        return "—"
    if ours <= 0:
        return "—"  # nothing to divide by: the figures speak for themselves
    return f"×{original / ours:.3g}"


def table(header: Sequence[str], rows: List[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit(root: Path) -> str:
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                "src", "engine", "CMakeLists.txt", "pyproject.toml"],
                               capture_output=True, text=True).stdout.strip()
        return commit + (" + uncommitted changes" if dirty else "")
    except OSError:
        return "unknown"


def machine(root: Path, python: str) -> List[str]:
    return [
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {_cpu_model()}",
        f"- Python: {python}",
        f"- ours: commit {_git_commit(root)}",
    ]


def python_version(executable: str) -> str:
    result = subprocess.run([executable, "-c", "import sys; print(sys.version.split()[0], "
                             "sys.implementation.name)"], capture_output=True, text=True)
    return result.stdout.strip() or sys.version.split()[0]
