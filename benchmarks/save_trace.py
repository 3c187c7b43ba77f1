"""Where the time of one end-to-end save goes, in a real `jurigged` process: the
benchmark's program (programs/loop.py) runs under our jurigged with timing wrappers
around each step of the save path (the watcher thread's wake-up, checkout and trust
checks, hooks, parse, plan, commit, adopt, retries, caches), and the harness saves a
generated module as in section 0. Unlike stages.py this sees the hand-off from the
native watcher and what live.py does around a save.

    python benchmarks/save_trace.py LINES EDITS [busy] [rename|outside] [--python PY]

Prints, per stage, its median over the edits (the first edit apart) in milliseconds,
from the end of the write; PY defaults to benchmarks/.venvs/ours (run run.py once)."""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
_ENV_LOG = "JURIGGED_SAVE_TRACE"  # set only by this script, for its own child


# -- inside the traced process -------------------------------------------------------------


def _install_tracing(log_path: str) -> None:
    """Wrap the save path's functions; each apply appends its records to the log."""
    from jurigged import caches, checkouts, live, logs, parsing, patcher, trust
    import jurigged.apply as apply_module
    import jurigged.commit as commit
    import jurigged.plan as plan

    records = []
    clock = time.monotonic
    switch = os.environ.get("JURIGGED_SAVE_TRACE_SWITCH_S")  # A/B the apply's interval
    if switch:
        live.APPLY_SWITCH_INTERVAL_S = float(switch)

    def wrap(owner, name, label):
        original = getattr(owner, name, None)
        if original is None:  # the save path was refactored: say so, trace the rest
            print(f"save_trace: no {getattr(owner, '__name__', owner)}.{name} to time "
                  f"({label})", file=sys.stderr)
            return
        static = isinstance(owner, type) and isinstance(owner.__dict__.get(name), staticmethod)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            start = clock()
            try:
                return original(*args, **kwargs)
            finally:
                if threading.current_thread().name == "jurigged":
                    records.append((label, start, clock()))

        setattr(owner, name, staticmethod(wrapper) if static else wrapper)

    class TracedNative:
        def __init__(self, native):
            self._native = native

        def __getattr__(self, name):
            return getattr(self._native, name)

        def wait(self, timeout=-1):
            events = self._native.wait(timeout)
            if events:
                now = clock()
                records.append(("watcher thread has the batch (GIL held)", now, now))
            return events

    make_native = live.Watcher._make_native
    live.Watcher._make_native = lambda self: TracedNative(make_native(self))
    for owner, name, label in [
        (live.Watcher, "_with_rest_of_checkout", "checkout check"),
        (trust, "without_untrusted_saves", "trust check"),
        (trust, "why_untrusted", "  trust: why_untrusted"),
        (trust._PathWalk, "_problem_without_links", "  trust: quick"),
        (checkouts, "in_progress", "  checkout: in_progress"),
        (checkouts, "_held", "  checkout: _held"),
        (live.Watcher, "_emit", "hooks (prerun, postrun)"),
        (patcher.SourceFile, "_ensure_baseline", "baseline (first save only)"),
        (parsing, "parse_source", "parse + diff (GIL released)"),
        (parsing.SourceLines, "__init__", "decode + line starts"),
        (plan.Planner, "__init__", "plan: changed entries"),
        (plan.Planner, "validate_whole_file", "plan: validate"),
        (plan.Planner, "prepare", "plan: prepare (compile)"),
        (commit.Committer, "build", "commit: build"),
        (commit, "_commit_when_unused", "commit: the swap"),
        (commit.Committer, "finish", "after commit: index, log"),
        (patcher.SourceFile, "adopt", "adopt"),
        (apply_module.LiveSteps, "run_steps", "run steps"),
        (patcher, "retry_pending", "retries"),
        (caches, "clear_stale", "stale caches"),
        (logs.Logger, "_emit", "logging"),
    ]:
        wrap(owner, name, label)
    patcher.parse_source = parsing.parse_source

    apply = live.Watcher.apply

    def traced_apply(self, events, **options):
        start = clock()
        try:
            return apply(self, events, **options)
        finally:
            end = clock()
            with open(log_path, "a") as log:
                for label, began, ended in records:
                    log.write(f"T {began:.7f} {ended:.7f} {label}\n")
                log.write(f"A {start:.7f} {end:.7f} whole apply\n")
            records.clear()

    live.Watcher.apply = traced_apply


def _run_jurigged(argv) -> None:
    import runpy

    _install_tracing(os.environ[_ENV_LOG])
    sys.argv = ["jurigged", *argv]
    runpy.run_module("jurigged", run_name="__main__", alter_sys=True)


# -- the driver ------------------------------------------------------------------------------


def _stages_per_edit(log_path: str, latencies):
    """One {stage: ms from the end of the write} per edit: start and end of each stage."""
    writes, spans = [], []
    with open(log_path) as log:
        for line in log:
            kind, start, end, label = line.rstrip("\n").split(" ", 3)
            if kind == "W":
                writes.append(float(start))
            else:
                spans.append((float(start), float(end), label))
    edits = []
    for index, written in enumerate(writes):
        following = writes[index + 1] if index + 1 < len(writes) else float("inf")
        mine = [span for span in spans if written - 0.01 <= span[0] < following]
        if mine and index < len(latencies):
            edits.append((written, mine, latencies[index]))
    return edits


def main() -> None:
    sys.path.insert(0, str(HERE))
    import harness
    import workloads
    from envs import Tool

    args = sys.argv[1:]
    python = Path(HERE / ".venvs" / "ours" / "bin" / "python")
    if "--python" in args:
        at = args.index("--python")
        python = Path(args[at + 1])
        del args[at:at + 2]
    lines, edits = int(args[0]), int(args[1])
    busy = "busy" in args[2:]
    style = (harness.RENAME if "rename" in args[2:] else
             harness.RENAME_OUTSIDE if "outside" in args[2:] else harness.IN_PLACE)
    log_path = f"/tmp/jurigged-save-trace-{os.getpid()}.log"
    os.environ[_ENV_LOG] = log_path
    write = harness.Workdir.write

    def logged_write(self, name, text, rename=harness.IN_PLACE):
        written = write(self, name, text, rename)
        if name == f"{workloads.MODULE}.py" and getattr(self, "_editing", False):
            with open(log_path, "a") as log:
                log.write(f"W {written:.7f} {written:.7f} written\n")
        self._editing = True  # the first write sets the workdir up
        return written

    harness.Workdir.write = logged_write
    tool = Tool("ours", python, [str(python), str(Path(__file__).resolve()), "--inside"])
    try:
        run = workloads.edit_latency(tool, lines, edits, timeout=30.0, rename=style,
                                     sleeping=not busy)
        if run.error:
            print("error:", run.error)
        report(_stages_per_edit(log_path, run.latencies), run)
    finally:
        if os.path.exists(log_path):
            os.remove(log_path)


def report(edits, run) -> None:
    def ms(value):
        return f"{value * 1000:.3f}"

    print(f"{len(edits)} edits; save->live (ms): {', '.join(ms(v) for v in run.latencies)}")
    print(f"longest stall per edit (ms): {', '.join(ms(v) for v in run.stalls)}; "
          f"with no edit: {ms(run.baseline_stall or 0.0)}")
    print("per edit (ms): write -> batch in the watcher thread, the apply, save -> live")
    for written, spans, latency in edits:
        got = min(span[0] for span in spans)
        whole = [end - start for start, end, label in spans if label == "whole apply"]
        print(f"  {ms(got - written):>8} {ms(sum(whole)):>8} {ms(latency):>8}")
    for number, (written, spans, latency) in enumerate(edits[:1] + edits[-1:]):
        print(f"\n{'first' if number == 0 else 'last'} edit (ms after the write: "
              f"start, end, duration)")
        for start, end, label in sorted(spans):
            print(f"  {ms(start - written):>8} {ms(end - written):>8} {ms(end - start):>8}  {label}")
        print(f"  {'':>8} {ms(latency):>8} {'':>8}  the program sees the new code")
    durations = {}
    for _, spans, _ in edits[1:]:
        seen = {}
        for start, end, label in spans:
            seen[label] = seen.get(label, 0.0) + (end - start)
        for label, total in seen.items():
            durations.setdefault(label, []).append(total)
        first = min(span[0] for span in spans)
        durations.setdefault("(write -> watcher thread has the batch)", []).append(
            first - _written_of(edits, spans))
    if durations:
        print("\nmedian per stage over the edits after the first (ms, summed per save):")
        for label, values in durations.items():
            values.sort()
            print(f"  {ms(values[len(values) // 2]):>8}  {label}")


def _written_of(edits, spans) -> float:
    for written, mine, _ in edits:
        if mine is spans:
            return written
    return 0.0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--inside"]:
        _run_jurigged(sys.argv[2:])
    else:
        main()
