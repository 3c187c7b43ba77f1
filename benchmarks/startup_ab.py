"""Start-up of two installations side by side (a branch against main, say), with plain
Python in the same loop: on a shared machine whose load moves by the minute, only
runs interleaved one by one compare. Prints, per program size, the fastest and the
median wall time, the CPU time (user + system, every thread) and the peak RSS, each
also over plain Python.

    python benchmarks/startup_ab.py --runs 30 \\
        before=/tmp/venv-main/bin/jurigged after=/tmp/venv-branch/bin/jurigged

Each NAME=COMMAND runs as `COMMAND -d 0.05 importer.py N exit` (as section 4 of
run.py does) in a temporary folder holding benchmarks/programs/importer.py and a
generated package of N modules; plain is the first command's Python.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import gen  # noqa: E402


@dataclass
class Runs:
    walls: List[float] = field(default_factory=list)  # ms
    cpus: List[float] = field(default_factory=list)  # ms
    peaks: List[float] = field(default_factory=list)  # MiB


def run_once(argv: List[str], folder: str) -> tuple:
    """(wall ms, CPU ms, peak RSS MiB) of one run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.run(argv, cwd=folder, stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise SystemExit(f"{argv[0]} exited with {process.returncode}")
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    return wall, cpu, int(process.stdout.split()[-1]) / 1024  # "peak T KB"


def measure(commands: Dict[str, List[str]], modules: int, runs: int) -> Dict[str, Runs]:
    results = {name: Runs() for name in commands}
    with tempfile.TemporaryDirectory(prefix="jurigged-ab-") as folder:
        for name, text in gen.package(modules):
            path = Path(folder, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        shutil.copyfile(HERE / "programs/importer.py", Path(folder, "importer.py"))
        os.chmod(Path(folder, "importer.py"), 0o644)  # see harness.Workdir
        for index in range(runs + 1):  # the first round warms caches, uncounted
            for name, command in commands.items():
                wall, cpu, peak = run_once(command + ["importer.py", str(modules), "exit"],
                                           folder)
                if index:
                    results[name].walls.append(wall)
                    results[name].cpus.append(cpu)
                    results[name].peaks.append(peak)
    return results


def report(modules: int, results: Dict[str, Runs]) -> None:
    plain = results["plain"]
    low, mid = min(plain.walls), statistics.median(plain.walls)
    cpu_low, peak = min(plain.cpus), statistics.median(plain.peaks)
    for name, r in results.items():
        print(f"{modules:>4} {name:8} wall min {min(r.walls):6.1f} (+{min(r.walls) - low:5.1f}) "
              f"median {statistics.median(r.walls):6.1f} (+{statistics.median(r.walls) - mid:5.1f}) ms"
              f"  CPU min +{min(r.cpus) - cpu_low:5.1f} ms"
              f"  peak RSS {statistics.median(r.peaks):6.2f} MiB "
              f"(+{statistics.median(r.peaks) - peak:4.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tools", nargs="+", metavar="NAME=COMMAND")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--modules", type=int, nargs="+", default=[0, 200])
    options = parser.parse_args()
    commands: Dict[str, List[str]] = {}
    for item in options.tools:
        name, _, command = item.partition("=")
        commands[name] = [command, "-d", "0.05"]
    first = Path(next(iter(commands.values()))[0])
    commands = {"plain": [str(first.parent / "python")], **commands}
    for modules in options.modules:
        report(modules, measure(commands, modules, options.runs))


if __name__ == "__main__":
    main()
