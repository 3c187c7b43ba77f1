"""Start-up of a child process with and without jurigged (not a test; workload 8).

A parent program starts Python children and times them (programs/spawner.py):
`python -c pass` through subprocess, and a multiprocessing spawn child importing a
generated package of 200 modules. The parent runs

- plain, without our jurigged installed (the `original` venv: no bootstrap file),
- plain, with our jurigged installed (the `ours` venv): jurigged not in use, so the
  only cost is the .pth bootstrap looking up one environment variable,
- under `jurigged --no-children`,
- under `jurigged` (children live: each child imports jurigged and watches the
  files it imports).

    python benchmarks/bench_children.py [--runs 10] [--modules 200]

Prints a markdown table of medians (and the fastest run) to stdout.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

import envs  # noqa: E402
import gen  # noqa: E402
from harness import median  # noqa: E402
from report import seconds, table  # noqa: E402

PROGRAM = Path(__file__).resolve().parent / "programs" / "spawner.py"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parents(original: Path, ours: Path) -> Dict[str, List[str]]:
    return {
        "plain, jurigged not installed": [str(original / "bin" / "python")],
        "plain, jurigged installed (not in use)": [str(ours / "bin" / "python")],
        "jurigged --no-children": [str(ours / "bin" / "jurigged"), "--no-children"],
        "jurigged (children live)": [str(ours / "bin" / "jurigged")],
    }


def measure(argv: List[str], workdir: Path, runs: int, modules: int) -> Dict[str, List[float]]:
    result = subprocess.run([*argv, "spawner.py", str(runs + 1), str(modules)],
                            cwd=workdir, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stderr[-3000:]}")
    times: Dict[str, List[float]] = {"bare": [], "spawn": []}
    for line in result.stdout.splitlines():
        kind, _, value = line.partition(" ")
        if kind in times:
            times[kind].append(float(value))
    # The first round warms the page cache and writes the bytecode caches.
    return {kind: values[1:] for kind, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--modules", type=int, default=200)
    args = parser.parse_args()
    original, ours = envs.ensure_original(log), envs.ensure_ours(log)
    workdir = Path(tempfile.mkdtemp(prefix="jurigged-bench-children-"))
    try:
        shutil.copy(PROGRAM, workdir / PROGRAM.name)
        for name, text in gen.package(args.modules):
            (workdir / name).parent.mkdir(parents=True, exist_ok=True)
            (workdir / name).write_text(text)
        rows = []
        for label, argv in parents(original, ours).items():
            log(f"[children] {label}: {args.runs} rounds")
            times = measure(argv, workdir, args.runs, args.modules)
            rows.append([label,
                         f"{seconds(median(times['bare']))} ({seconds(min(times['bare']))})",
                         f"{seconds(median(times['spawn']))} ({seconds(min(times['spawn']))})"])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(table(["parent", "`python -c pass` child, median (fastest)",
                 f"spawn child importing {args.modules} modules, median (fastest)"], rows))


if __name__ == "__main__":
    main()
