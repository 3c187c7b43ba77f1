"""The long run of the differential fuzzer: random projects and edit sequences under a
live `jurigged`, each quiet point compared with a fresh interpreter on the same files.

    python scripts/fuzz_live.py                      # 50 sequences of 12 edits, all families
    python scripts/fuzz_live.py --seed 100 --count 20 --steps 8 --families enums,closures
    python scripts/fuzz_live.py --duration 600       # as many sequences as fit in 10 minutes
    python scripts/fuzz_live.py --per-family         # each family alone, then a table
    python scripts/fuzz_live.py --replay tests/differential/repros/X.txt

Sequence i uses seed SEED+i, so any failure is re-run with `--seed N --count 1`. Each
failure prints the seed, the edits and the differences, and (with --repros DIR) is
shrunk to its failing step where possible and written to DIR as a replayable text file.
Exit status: 0 if every sequence converged, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from differential.generator import FAMILIES  # noqa: E402
from differential.runner import (Outcome, describe_failure, execute, read_repro,  # noqa: E402
                                 repro_text, run_one, shrink)


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--count", type=int, default=50, help="sequences to run (default 50)")
    parser.add_argument("--steps", type=int, default=12, help="edits per sequence (default 12)")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop starting new sequences after this many seconds "
                             "(for each family, with --per-family)")
    parser.add_argument("--families", default=",".join(FAMILIES),
                        help="comma-separated edit families (default: all): " + ",".join(FAMILIES))
    parser.add_argument("--per-family", action="store_true",
                        help="run --count sequences for each family alone and print a table")
    parser.add_argument("--repros", type=Path, default=None,
                        help="write each failure, shrunk, as a text file in this folder")
    parser.add_argument("--timeout", type=float, default=20,
                        help="deadline in seconds for each wait on the live process")
    parser.add_argument("--replay", type=Path, default=None,
                        help="run a repro file written by --repros and compare again")
    parser.add_argument("-q", "--quiet", action="store_true", help="only the summary")
    return parser.parse_args(argv)


def run_batch(args, families: List[str], label: str) -> List[Outcome]:
    outcomes = []
    started = time.monotonic()
    for index in range(args.count):
        if args.duration is not None and time.monotonic() - started > args.duration:
            break
        seed = args.seed + index
        outcome = run_one(seed, families, args.steps, args.timeout)
        outcomes.append(outcome)
        if outcome.converged:
            if not args.quiet:
                print(f"[{label}] seed {seed}: converged ({outcome.steps_done} steps)", flush=True)
            continue
        print(f"[{label}] " + describe_failure(outcome), flush=True)
        if args.repros is not None:
            short = shrink(outcome, args.timeout)
            args.repros.mkdir(parents=True, exist_ok=True)
            path = args.repros / f"{label}-seed{seed}.txt"
            path.write_text(repro_text(short))
            print(f"  repro: {path}", flush=True)
    return outcomes


def replay(args) -> int:
    import tempfile

    sequence = read_repro(args.replay.read_text())
    with tempfile.TemporaryDirectory(prefix="jurigged-diff-") as tmp:
        outcome = execute(sequence, Path(tmp), args.timeout)
    if outcome.converged:
        print(f"{args.replay}: converged (the bug it shows is fixed)")
        return 0
    print(describe_failure(outcome))
    return 1


def main(argv: List[str]) -> int:
    args = parse_args(argv)
    if args.replay is not None:
        return replay(args)
    families = [f for f in args.families.split(",") if f]
    unknown = set(families) - set(FAMILIES)
    if unknown:
        sys.exit(f"unknown families: {', '.join(sorted(unknown))}")
    results: Dict[str, List[Outcome]] = {}
    if args.per_family:
        for family in families:
            results[family] = run_batch(args, [family], family)
    else:
        results["+".join(families) if len(families) < 4 else "mixed"] = run_batch(
            args, families, "mixed" if len(families) >= 4 else "+".join(families))
    print("\nconverged / sequences, by family:")
    for label, outcomes in results.items():
        good = sum(o.converged for o in outcomes)
        print(f"  {label:12} {good:3} / {len(outcomes)}")
    return 0 if all(o.converged for group in results.values() for o in group) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
