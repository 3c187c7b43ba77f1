"""Benchmarks: our jurigged against the original jurigged 0.6.1, on the same machine.

    python benchmarks/run.py            # everything (under 10 minutes on 2 cores)
    python benchmarks/run.py --quick    # smaller and fewer runs, for development
    python benchmarks/run.py --check    # the harness works: both tools start and
                                        # one edit each goes live (under a minute
                                        # once the environments exist)
    python benchmarks/run.py --only latency,heap   # a subset of: saves, stages,
                                        # latency (with the stall), heap, startup,
                                        # idle, attach, registry, files, burst

The first run creates two virtual environments under benchmarks/.venvs/ with the
interpreter running this script: one with jurigged==0.6.1 from PyPI, one with this
checkout (`pip install .`, rebuilt whenever its sources change). Every workload runs
in fresh processes of each tool; both reloaders run as `jurigged -d 0.05 PROGRAM`
(0.05 s is the original's default and its minimum, so both get the same debounce).

Progress goes to stderr; the results, a markdown block for the README, go to stdout
and (full runs) to benchmarks/RESULTS.md. Comparison columns are original ÷ ours:
×N means ours is N times faster (or smaller).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

import envs  # noqa: E402
import report  # noqa: E402
import workloads  # noqa: E402
from harness import IN_PLACE, RENAME, SAVE_STYLES, median, summary  # noqa: E402
from report import megabytes, ratio, seconds, table  # noqa: E402

HERE = Path(__file__).resolve().parent
DEBOUNCE = 0.05
RELOADERS = ("original", "ours")
# Section 0 has many rows: after each edit it waits at most this long for the loop
# to run without stalls (a loaded machine always shows some), not SETTLE_MAX.
SAVES_SETTLE_MAX = 1.0
WORKLOADS = ("saves", "stages", "latency", "heap", "startup", "idle", "attach",
             "registry", "files", "burst")  # stall: with latency


@dataclass
class Config:
    edits: int
    heap_sizes: Tuple[int, ...]
    heap_repeats: int
    startup_runs: int
    idle_seconds: float
    modules: int = 200
    save_edits: int = 10
    save_sizes: Tuple[int, ...] = (50, 1_000, 10_000, 50_000)
    watched_counts: Tuple[int, ...] = (10, 1_000, 10_000)
    burst_files: int = 20
    files_edits: int = 20  # sections 8 and 9, after one warm-up save


FULL = Config(edits=20, heap_sizes=(100_000, 1_000_000, 5_000_000), heap_repeats=5,
              startup_runs=5, idle_seconds=10.0)
QUICK = Config(edits=5, heap_sizes=(100_000, 1_000_000), heap_repeats=2,
               startup_runs=3, idle_seconds=3.0, save_edits=3, files_edits=8)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _failure(run) -> str:
    if run.error.startswith("did not start"):
        return "did not start"
    if run.attempted:
        return f"not live ({run.failures}/{run.attempted} edits failed)"
    return "failed"


def _value(run, values, pick) -> str:
    return seconds(pick(values)) if values else _failure(run)


def _spread(run, values) -> str:
    """Median and range: the original's heap figures can be bimodal (see the text)."""
    if not values:
        return _failure(run)
    if len(values) == 1:
        return seconds(values[0])
    return f"{seconds(median(values))} ({seconds(min(values))} – {seconds(max(values))})"


def _ratio(a_values, b_values, pick) -> str:
    return ratio(pick(a_values), pick(b_values)) if a_values and b_values else "—"


def _p50(values) -> float:
    return summary(values)["p50"]


def _p90(values) -> float:
    return summary(values)["p90"]


def _beyond_debounce(values) -> float:
    return _p50(values) - DEBOUNCE


def _compared(tools) -> dict:
    """plain python and the two reloaders, as every table but section 0 runs them."""
    return {name: tools[name] for name in ("plain", *RELOADERS)}


def _floor(gap) -> str:
    # The program reports only gaps above its 1 ms threshold.
    return "< 1 ms" if gap == 0 else seconds(gap)


def latency_section(tools, config: Config, notes: List[str]) -> List[str]:
    runs: Dict[Tuple[str, int], workloads.EditRun] = {}
    for lines, timeout in ((50, 10.0), (10_000, 30.0)):
        for name in RELOADERS:
            log(f"[latency] {name}: {config.edits} edits of a {lines}-line module")
            run = runs[name, lines] = workloads.edit_latency(tools[name], lines,
                                                             config.edits, timeout)
            if run.error:
                notes.append(f"latency, {lines} lines, {name}: {run.error}")
    rows = []
    for lines in (50, 10_000):
        o, u = runs["original", lines], runs["ours", lines]
        for label, pick in (("p50", _p50), ("p90", _p90), ("max", max),
                            ("p50 minus the 0.05 s debounce", _beyond_debounce)):
            rows.append([f"{lines:,} lines, {label}", _value(o, o.latencies, pick),
                         _value(u, u.latencies, pick),
                         _ratio(o.latencies, u.latencies, pick)])
        rows.append([f"{lines:,} lines, first edit", seconds(o.first) if o.first else "—",
                     seconds(u.first) if u.first else "—", ratio(o.first, u.first)])
    big_o, big_u = runs["original", 10_000], runs["ours", 10_000]
    stall_rows = [
        ["longest pause, p50 of edits", _value(big_o, big_o.stalls, _p50),
         _value(big_u, big_u.stalls, _p50), _ratio(big_o.stalls, big_u.stalls, _p50)],
        ["longest pause, max of edits", _value(big_o, big_o.stalls, max),
         _value(big_u, big_u.stalls, max), _ratio(big_o.stalls, big_u.stalls, max)],
        ["longest pause with no edit (2 s, noise floor)", _floor(big_o.baseline_stall),
         _floor(big_u.baseline_stall), ""],
    ]
    n = {name: len(runs[name, 10_000].latencies) for name in RELOADERS}
    return [
        "### 1. Save → live latency",
        "",
        f"A program calls `target()` of a watched module in a tight loop; the benchmark "
        f"changes the value `target()` returns (write in place, no line moves) "
        f"{config.edits} times and measures from the end of each write to the first call "
        f"that returns the new value. Both run it as `jurigged -d 0.05 loop.py` (no "
        f"`-v`): the same 0.05 s debounce, and both apply a save on a background "
        f"thread that shares the GIL with the busy loop, as in a busy program. The first "
        f"edit is included in the percentiles and also shown alone (the original builds "
        f"its model of a file on its first change). The \"minus the debounce\" row is the "
        f"time each tool's own work adds to the 0.05 s of quiet both wait for.",
        "",
        table(["module, statistic", "original 0.6.1", "ours", "original ÷ ours"], rows),
        "",
        "### 2. Stall of the running program",
        "",
        f"Longest gap between two iterations of the program's main loop (it measures "
        f"its own gaps) from each write of the 10,000-line module until the reload has "
        f"finished (edits that went live: original {n['original']}, ours {n['ours']}). "
        f"Gaps of a few ms are the interpreter's GIL switch interval (5 ms) whenever "
        f"another thread runs Python.",
        "",
        table(["10,000-line module", "original 0.6.1", "ours", "original ÷ ours"],
              stall_rows),
    ]


# The first save comes ~2 s after the program is ready, as a person's would: with 0.5 s
# it raced our watcher's preload (which starts after 1 s without saves), and a busy
# program's first save measured that preload, not a save.
SAVES_QUIET_WINDOW = 1.5


def saves_section(tools, config: Config, notes: List[str]) -> List[str]:
    """save -> live with ours at its default (no debounce) beside the original at its
    smallest (0.05 s), for each module size, save style and kind of program."""
    rows = []
    for lines in config.save_sizes:
        for rename in SAVE_STYLES:
            for sleeping in (True, False):
                style = rename + (", sleeping" if sleeping else ", busy")
                runs = {}
                for name in RELOADERS:
                    if name == "original" and _original_skips(lines, rename, sleeping):
                        continue
                    edits = config.save_edits if lines < 50_000 or name == "ours" else 2
                    log(f"[saves] {name}: {edits} edits, {lines}-line module, {style}")
                    tool = tools["ours-default" if name == "ours" else name]
                    run = runs[name] = workloads.edit_latency(
                        tool, lines, edits, _save_timeout(name, lines, rename),
                        rename=rename, sleeping=sleeping, settle_max=SAVES_SETTLE_MAX,
                        quiet_window=SAVES_QUIET_WINDOW)
                    if run.error:
                        notes.append(f"saves, {lines} lines, {style}, {name}: {run.error}")
                o, u = runs.get("original"), runs["ours"]

                def cell(run, values, pick):
                    return "—" if run is None else _value(run, values, pick)

                rows.append([f"{lines:,} lines, {style}",
                             cell(o, o.latencies if o else [], _p50),
                             cell(o, o.latencies if o else [], _p90),
                             cell(u, u.latencies, _p50), cell(u, u.latencies, _p90),
                             _ratio(o.latencies, u.latencies, _p50) if o else "—",
                             cell(o, o.stalls if o else [], max), cell(u, u.stalls, max)])
    return [
        "### 0. Save → live by module size, save style and program",
        "",
        f"As section 1, with ours at its default (`jurigged loop.py`: a complete save "
        f"is applied at once, no debounce) and the original at its smallest debounce "
        f"(`-d 0.05`, which it cannot go below). {config.save_edits} one-function edits "
        f"per row (the original: 2 at 50,000 lines, one style only). \"in place\": "
        f"truncate and write; \"rename\": write a temporary file beside the module "
        f"and rename it over the module (an atomic save: the watcher sees a move from "
        f"the temporary name); \"rename from outside\": the same with the temporary "
        f"file in an unwatched directory (the watcher sees the module's name arrive). "
        f"The original has no handler for moves, so it never applies a \"rename\" "
        f"save (shown at 50 lines only, 2 edits with a 5 s timeout; \"—\" elsewhere); "
        f"it does see \"rename from outside\". "
        f"\"sleeping\": the program sleeps 0.1 ms between calls (the GIL "
        f"is free); \"busy\": it calls `target()` in a tight loop, so each time our "
        f"thread needs the GIL it waits up to the 5 ms switch interval. \"longest "
        f"stall\": the longest gap of the program's loop from the write until the "
        f"reload was over, worst edit.",
        "",
        table(["module, save, program", "original p50", "original p90", "ours p50",
               "ours p90", "original ÷ ours (p50)", "longest stall, original",
               "longest stall, ours"], rows),
    ]


def _original_skips(lines: int, rename: str, sleeping: bool) -> bool:
    """The original needs seconds per edit of a 50k-line module: one save style of
    it is enough to show that. It never sees a rename from beside the module (no
    handler for moves: watchdog reports a move from the temporary name), which
    the 50-line rows show; every other size would only wait for the timeout."""
    if lines >= 50_000:
        return rename != IN_PLACE or sleeping
    return rename == RENAME and lines > 50


def _save_timeout(name: str, lines: int, rename: str = IN_PLACE) -> float:
    """How long one edit may take to go live before it counts as not live."""
    if name == "original":
        if rename == RENAME:
            return 5.0
        return 15.0 if lines < 10_000 else 60.0
    return 15.0


def stages_section(tools, config: Config, notes: List[str]) -> List[str]:
    """One save, stage by stage, in one process of ours (benchmarks/stages.py)."""
    import subprocess

    columns = {}
    for lines in (50, 10_000, 50_000):
        log(f"[stages] ours: {lines}-line module")
        result = subprocess.run([str(tools["ours"].python), str(HERE / "stages.py"),
                                 str(lines), "9"], capture_output=True, text=True)
        if result.returncode != 0:
            notes.append(f"stages, {lines} lines: {result.stderr.strip()[-300:]}")
            continue
        for line in result.stdout.splitlines():
            value, gil, name = line.split(" ", 2)
            columns.setdefault((name, gil), {})[lines] = float(value)
    rows = [[name, gil] + [seconds(values[n]) if n in values else "—"
                           for n in (50, 10_000, 50_000)]
            for (name, gil), values in columns.items()]
    return [
        "### 0b. Where one save's time goes (ours)",
        "",
        "A one-function save of a generated module, stage by stage, in one process "
        "(benchmarks/stages.py: median of 9 saves; no watcher thread, so no GIL "
        "waits). \"GIL\" says whether the program's threads run during the stage.",
        "",
        table(["stage", "GIL", "50 lines", "10,000 lines", "50,000 lines"], rows),
    ]


def heap_section(tools, config: Config, notes: List[str]) -> List[str]:
    rows = []
    for size in config.heap_sizes:
        runs = {}
        for name in RELOADERS:
            log(f"[heap] {name}: {size:,} objects, {config.heap_repeats} function edits "
                f"+ {config.heap_repeats} insertions")
            started = time.monotonic()
            runs[name] = workloads.heap_edits(tools[name], size, config.heap_repeats,
                                              timeout=60.0)
            log(f"[heap]   took {time.monotonic() - started:.1f} s")
            if runs[name].edit.error:
                notes.append(f"heap {size:,}, {name}: {runs[name].edit.error}")
        o, u = runs["original"], runs["ours"]
        objects = f"{o.edit.objects or 0:,} / {u.edit.objects or 0:,}"
        rows.append([f"{size:,}", objects, "one-function edit",
                     _spread(o.edit, o.function_edits),
                     _spread(u.edit, u.function_edits),
                     _ratio(o.function_edits, u.function_edits, median)])
        rows.append(["", "", "one-line insertion at the top",
                     _spread(o.edit, o.insertions),
                     _spread(u.edit, u.insertions),
                     _ratio(o.insertions, u.insertions, median)])
        rows.append(["", "", "longest pause of the loop (any edit, warm-up included)",
                     _value(o.edit, o.edit.stalls, max), _value(u.edit, u.edit.stalls, max),
                     _ratio(o.edit.stalls, u.edit.stalls, max)])
        rows.append(["", "",
                     "one `gc.get_referrers()` in that process (a heap cost, not the tool's)",
                     seconds(o.referrer_search), seconds(u.referrer_search), ""])
        rows.append(["", "", "peak RSS of the program", megabytes(o.edit.peak_rss_mb),
                     megabytes(u.edit.peak_rss_mb),
                     ratio(o.edit.peak_rss_mb, u.edit.peak_rss_mb)])
    return [
        "### 3. Edits with a large heap",
        "",
        f"The program first builds N gc-tracked objects (a third each of lists, "
        f"instances and dicts, kept alive), then runs the loop over a 200-function "
        f"module. After one uncounted warm-up edit, it alternates {config.heap_repeats} "
        f"one-function edits (time until `target()` returns the new value) with "
        f"{config.heap_repeats} insertions of a comment line at the top, which change no "
        f"behaviour but move all 200 functions (time until the traceback line of "
        f"`probe()`, the last function, moves down by one). Median (min – max); the "
        f"ratio is of the medians. \"objects\" is "
        f"`len(gc.get_objects())` as measured in the program (original / ours). The "
        f"time of one `gc.get_referrers()` call, a full-heap search, is shown because "
        f"the original does one per changed or moved function; its lookup library "
        f"(codefind 0.1.7) switches to cached answers, which can miss functions "
        f"created since, once one such search took over 0.1 s: a range from under a "
        f"second to tens of seconds means it switched during the run, and the median "
        f"then shows its cached mode.",
        "",
        table(["heap N", "objects", "edit", "original 0.6.1", "ours", "original ÷ ours"],
              rows),
    ]


def startup_section(tools, config: Config, notes: List[str]) -> List[str]:
    lines = []
    for modules in (0, config.modules):
        lines += _startup_table(tools, config, notes, modules)
    return lines


def _startup_table(tools, config: Config, notes: List[str], modules: int) -> List[str]:
    log(f"[startup] plain, original, ours: {config.startup_runs} runs each, "
        f"{modules} modules")
    results = workloads.startup(_compared(tools), modules, config.startup_runs)
    walls = {name: median(r.walls) if r.walls else None for name, r in results.items()}
    rss = {name: median(r.peak_rss_mb) if r.peak_rss_mb else None
           for name, r in results.items()}
    for name, r in results.items():
        if r.error:
            notes.append(f"start-up, {name}: {r.error}")

    def extra(values, name):
        if values[name] is None or values["plain"] is None:
            return None
        return values[name] - values["plain"]

    rows = [
        ["wall time", seconds(walls["plain"]), seconds(walls["original"]),
         seconds(walls["ours"]), ratio(walls["original"], walls["ours"])],
        ["wall time over plain", "", seconds(extra(walls, "original")),
         seconds(extra(walls, "ours")), ratio(extra(walls, "original"), extra(walls, "ours"))],
        ["peak RSS", megabytes(rss["plain"]), megabytes(rss["original"]),
         megabytes(rss["ours"]), ratio(rss["original"], rss["ours"])],
        ["peak RSS over plain", "", megabytes(extra(rss, "original")),
         megabytes(extra(rss, "ours")), ratio(extra(rss, "original"), extra(rss, "ours"))],
    ]
    what = ("An empty script (it imports nothing)" if modules == 0 else
            f"A script that imports a generated package of {modules} modules (60 lines "
            f"each, all watched)")
    return [
        f"### 4{'a' if modules == 0 else 'b'}. Start-up: "
        f"{'empty script' if modules == 0 else f'{modules} modules'}",
        "",
        f"{what} and exits, run with plain `python` and under each reloader: "
        f"median over {config.startup_runs} runs (after one warm-up run each) of the "
        f"whole process's wall time (until `wait4` reaped it) and peak RSS (`VmHWM`, "
        f"reported by the program as it ends).",
        "",
        table(["", "plain python", "original 0.6.1", "ours", "original ÷ ours"], rows),
    ]


def idle_section(tools, config: Config, notes: List[str]) -> List[str]:
    log(f"[idle] plain, original, ours: {config.idle_seconds:g} s each")
    results = workloads.idle(_compared(tools), config.modules, config.idle_seconds)
    for name, r in results.items():
        if r.error:
            notes.append(f"idle, {name}: {r.error}")
    cpu = {name: r.cpu_seconds for name, r in results.items()}
    both = [cpu["original"], cpu["ours"]]
    # Below a millisecond over the whole period, the figures are the cost of taking
    # the reading itself (a signal and a print): a ratio of them would mean nothing.
    negligible = all(value is not None and value < 0.001 for value in both)
    rows = [[f"CPU time (user+sys) in {config.idle_seconds:g} s",
             seconds(cpu["plain"]), seconds(cpu["original"]), seconds(cpu["ours"]),
             "both negligible" if negligible else ratio(*both)]]
    return [
        "### 5. Idle",
        "",
        f"CPU time of the whole process (all threads: `time.process_time()` read by "
        f"the program at the start and end of the period) "
        f"while it watches the {config.modules} imported modules of section 4 and no "
        f"file changes.",
        "",
        table(["", "plain python", "original 0.6.1", "ours", "original ÷ ours"], rows),
    ]


def attach_section(tools, config: Config, notes: List[str]) -> List[str]:
    rows = []
    for size in config.heap_sizes:
        runs = {}
        for name in RELOADERS:
            log(f"[attach] {name}: watch() with {size:,} objects")
            runs[name] = workloads.attach(tools[name], size)
            if runs[name].error:
                notes.append(f"attach {size:,}, {name}: {runs[name].error}")
        o, u = runs["original"], runs["ours"]
        rows.append([f"{size:,} ({o.objects or 0:,} / {u.objects or 0:,})",
                     seconds(o.seconds), seconds(u.seconds), ratio(o.seconds, u.seconds),
                     megabytes(o.peak_rss_mb), megabytes(u.peak_rss_mb)])
    return [
        "### 6. Attaching to a program with a large heap (extra)",
        "",
        "`import jurigged; jurigged.watch()` called by a program (plain `python`, one "
        "run per size) that already holds N gc-tracked objects built as in section 3 "
        "(objects counted before the import: original / ours), as a long-running "
        "program that turns reloading on does. The CLI runs of sections 1-3 import "
        "jurigged before the program builds anything, so they never pay this.",
        "",
        table(["heap N (objects)", "original 0.6.1", "ours", "original ÷ ours",
               "peak RSS, original", "peak RSS, ours"], rows),
    ]


def registry_section(tools, config: Config, notes: List[str]) -> List[str]:
    rows = []
    for size in config.heap_sizes:
        runs = {}
        for name in RELOADERS:
            log(f"[registry] {name}: {size:,} objects, {config.heap_repeats} edits")
            runs[name] = workloads.registry_edits(tools[name], size, config.heap_repeats,
                                                  timeout=60.0)
            if runs[name].error:
                notes.append(f"registry {size:,}, {name}: {runs[name].error}")
        o, u = runs["original"], runs["ours"]
        rows.append([f"{size:,} ({o.objects or 0:,} / {u.objects or 0:,})",
                     _spread(o, o.latencies), _spread(u, u.latencies),
                     _ratio(o.latencies, u.latencies, median),
                     _value(o, o.stalls, max), _value(u, u.stalls, max)])
    return [
        "### 7. A function only a registry holds (extra)",
        "",
        f"As section 3, but the edited function is kept only by a registry (its "
        f"decorator stores it in a dict and returns None), so neither tool can reach it "
        f"through the module's namespace: the original finds it through its code "
        f"object's referrers, ours through one search of the module namespace's "
        f"referrers per save. {config.heap_repeats} edits after one warm-up; median "
        f"(min – max) of save → live, and the longest pause of the loop.",
        "",
        table(["heap N (objects)", "original 0.6.1", "ours", "original ÷ ours",
               "longest pause, original", "longest pause, ours"], rows),
    ]


def files_section(tools, config: Config, notes: List[str]) -> List[str]:
    """One-function saves of one module among 10 / 1k / 10k watched ones."""
    runs = {}
    for count in config.watched_counts:
        for name in RELOADERS:
            log(f"[files] {name}: {config.files_edits} saves of one of {count:,} "
                f"watched files")
            tool = tools["ours-default" if name == "ours" else name]
            runs[name, count] = workloads.watched_files(
                tool, count, 1, config.files_edits, timeout=30.0,
                settle_max=SAVES_SETTLE_MAX).edit
            if runs[name, count].error:
                notes.append(f"files, {count:,} watched, {name}: {runs[name, count].error}")
    fewest = config.watched_counts[0]

    def added(name, count):
        here, base = runs[name, count].latencies, runs[name, fewest].latencies
        if count == fewest or not here or not base:
            return ""
        return _signed(_p50(here) - _p50(base))

    rows = []
    for count in config.watched_counts:
        o, u = runs["original", count], runs["ours", count]
        rows.append([f"{count:,}", _value(o, o.latencies, _p50), _value(o, o.latencies, _p90),
                     _value(u, u.latencies, _p50), _value(u, u.latencies, _p90),
                     _ratio(o.latencies, u.latencies, _p50),
                     added("original", count), added("ours", count)])
    return [
        "### 8. Save → live with many watched files",
        "",
        f"A program imports N small watched modules (20 lines each, one package, one "
        f"directory) and calls `target()` of one of them, sleeping 0.1 ms between "
        f"calls; {config.files_edits} one-function saves (in place) of that module "
        f"after one uncounted warm-up save. "
        f"Ours at its default (no debounce), the original at `-d 0.05`, as section 0. "
        f"\"added\": p50 minus the p50 with {fewest} watched files, the cost the other "
        f"watched files add to each save (within the noise of the machine when small).",
        "",
        table(["watched files", "original p50", "original p90", "ours p50", "ours p90",
               "original ÷ ours (p50)", f"added over {fewest}, original",
               f"added over {fewest}, ours"], rows),
    ]


def _signed(value: float) -> str:
    return ("+" if value >= 0 else "−") + seconds(abs(value))


def burst_section(tools, config: Config, notes: List[str]) -> List[str]:
    """Many files saved at once, and the memory of a program watching 200 modules."""
    runs = {}
    for name in _compared(tools):
        log(f"[burst] {name}: {config.modules} modules, "
            f"{0 if name == 'plain' else config.files_edits} saves of "
            f"{config.burst_files} files at once")
        tool = tools["ours-default" if name == "ours" else name]
        runs[name] = workloads.watched_files(
            tool, config.modules, config.burst_files, config.files_edits, timeout=30.0,
            settle_max=SAVES_SETTLE_MAX, measure_only=name == "plain")
        if runs[name].edit.error:
            notes.append(f"burst, {name}: {runs[name].edit.error}")
    p, o, u = runs["plain"], runs["original"], runs["ours"]
    oe, ue = o.edit, u.edit

    def over_plain(value):
        return None if value is None or p.rss_mb is None else value - p.rss_mb

    rows = [
        [f"{config.burst_files} files saved at once, p50", "",
         _value(oe, oe.latencies, _p50), _value(ue, ue.latencies, _p50),
         _ratio(oe.latencies, ue.latencies, _p50)],
        [f"{config.burst_files} files saved at once, max", "",
         _value(oe, oe.latencies, max), _value(ue, ue.latencies, max),
         _ratio(oe.latencies, ue.latencies, max)],
        ["saves live within 30 s, warm-up included", "",
         f"{oe.attempted - oe.failures}/{oe.attempted}",
         f"{ue.attempted - ue.failures}/{ue.attempted}", ""],
        ["RSS once imported (before any save)", megabytes(p.rss_mb), megabytes(o.rss_mb),
         megabytes(u.rss_mb), ratio(o.rss_mb, u.rss_mb)],
        ["RSS once imported, over plain", "", megabytes(over_plain(o.rss_mb)),
         megabytes(over_plain(u.rss_mb)),
         ratio(over_plain(o.rss_mb), over_plain(u.rss_mb))],
        ["RSS after the saves", "", megabytes(o.rss_after_mb), megabytes(u.rss_after_mb),
         ratio(o.rss_after_mb, u.rss_after_mb)],
        ["RSS after the saves, over plain", "", megabytes(over_plain(o.rss_after_mb)),
         megabytes(over_plain(u.rss_after_mb)),
         ratio(over_plain(o.rss_after_mb), over_plain(u.rss_after_mb))],
    ]
    return [
        f"### 9. {config.burst_files} files saved at once; memory with "
        f"{config.modules} watched modules",
        "",
        f"The program of section 8 with {config.modules} watched modules, calling "
        f"`target()` of {config.burst_files} of them; {config.files_edits} times "
        f"(after one uncounted warm-up), the "
        f"benchmark saves those {config.burst_files} files one after the other as fast "
        f"as it can (in place, well under a millisecond for all) and measures from the "
        f"end of the last save until every one of the {config.burst_files} answers the "
        f"new value. Ours at its default, the original at `-d 0.05`. RSS is the "
        f"process's resident memory (`VmRSS`) 0.5 s after its imports, and again after "
        f"the saves; plain python runs the same program without a reloader (no "
        f"saves). Section 4b has the peak RSS of a script that imports 200 (larger) "
        f"modules and exits; this is the memory of one that keeps running.",
        "",
        table(["", "plain python", "original 0.6.1", "ours", "original ÷ ours"], rows),
    ]


def check(tools) -> int:
    """Both tools start and one edit each goes live."""
    status = 0
    for name in RELOADERS:
        run = workloads.edit_latency(tools[name], 50, 1, timeout=10.0)
        ok = len(run.latencies) == 1
        print(f"{'ok  ' if ok else 'FAIL'} {name}: " +
              (f"edit live in {seconds(run.latencies[0])}" if ok else run.error), flush=True)
        status |= not ok
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer edits and runs, heaps up to 1M objects")
    parser.add_argument("--check", action="store_true",
                        help="only verify the harness: each tool starts and applies one edit")
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help=f"comma-separated workloads among {', '.join(WORKLOADS)}")
    parser.add_argument("--output", type=Path,
                        help="markdown file to write (default: benchmarks/RESULTS.md for "
                             "a full run of every workload, none otherwise)")
    parser.add_argument("--heap-sizes", default="",
                        help="comma-separated heap sizes for heap, attach and registry "
                             "(e.g. 5000000), instead of the mode's")
    parser.add_argument("--save-sizes", default="",
                        help="comma-separated module sizes in lines for saves "
                             "(e.g. 50,1000), instead of the mode's")
    parser.add_argument("--startup-runs", type=int, default=0,
                        help="runs per tool for startup, instead of the mode's (medians of "
                             "3 swing by tens of ms on a loaded machine)")
    options = parser.parse_args()
    chosen = [w.strip() for w in options.only.split(",") if w.strip()]
    unknown = set(chosen) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(sorted(unknown))}")

    started = time.monotonic()
    tools = envs.tools(DEBOUNCE, log=log)
    versions = {name: envs.describe(tool) for name, tool in tools.items()}
    log(f"[envs] original: jurigged {versions['original']}; ours: jurigged {versions['ours']}")
    if options.check:
        status = check(tools)
        log(f"[check] {time.monotonic() - started:.0f} s")
        return status

    config = QUICK if options.quick else FULL
    if options.heap_sizes:
        config = dataclasses.replace(config, heap_sizes=tuple(
            int(size) for size in options.heap_sizes.split(",")))
    if options.save_sizes:
        config = dataclasses.replace(config, save_sizes=tuple(
            int(size) for size in options.save_sizes.split(",")))
    if options.startup_runs > 0:
        config = dataclasses.replace(config, startup_runs=options.startup_runs)
    notes: List[str] = []
    sections = {"saves": saves_section, "stages": stages_section,
                "latency": latency_section, "heap": heap_section,
                "startup": startup_section, "idle": idle_section,
                "attach": attach_section, "registry": registry_section,
                "files": files_section, "burst": burst_section}
    body: List[str] = []
    for name in chosen:
        body += [""] + sections[name](tools, config, notes)
    elapsed = time.monotonic() - started

    lines = ["## Benchmarks: ours vs the original jurigged 0.6.1", ""]
    lines += report.machine(envs.ROOT, report.python_version(str(tools["ours"].python)))
    lines += [f"- original: jurigged {versions['original']}",
              f"- ours: jurigged {versions['ours']}",
              f"- mode: {'quick' if options.quick else 'full'}, all workloads in "
              f"{elapsed:.0f} s; command: "
              f"`{' '.join(['python benchmarks/run.py', *sys.argv[1:]])}`",
              "- every \"original ÷ ours\" column: ×N means ours is N times faster (or "
              "smaller); below ×1, ours is slower"]
    lines += body
    if notes:
        lines += ["", "Problems seen during this run:", ""]
        lines += [f"- {note.splitlines()[0] if note else note}" for note in notes]
    text = "\n".join(lines) + "\n"
    print(text)
    output = options.output
    if output is None and not options.quick and set(chosen) == set(WORKLOADS):
        output = HERE / "RESULTS.md"
    if output is not None:
        output.write_text(text)
        log(f"[report] written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
