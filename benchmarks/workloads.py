"""The workloads: each runs one tool in fresh processes and returns raw measurements.

All times are seconds, measured on CLOCK_MONOTONIC. "Applied" always means the
running program itself observed the new behaviour (a new return value, or a new
traceback line from the line-number probe), never that a tool said so.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import gen
from envs import Tool
from harness import IN_PLACE, Program, Workdir, clock, current_rss_kb

MODULE = "target_mod"  # the watched module's name in the workdir
STARTUP_TIMEOUT = 120.0  # building 5M objects takes a while on a shared machine
SETTLE_MIN = 0.2  # seconds after an edit applied before the next one...
QUIET = 0.2  # ...and until the loop has run this long without a stall
SETTLE_MAX = 10.0
MAX_FAILURES = 2  # consecutive edits that never went live before giving up


@dataclass
class EditRun:
    """What one program under one tool did over a series of edits."""

    latencies: List[float] = field(default_factory=list)
    stalls: List[float] = field(default_factory=list)  # longest loop gap per edit
    first: Optional[float] = None  # latency of the first edit of the file
    baseline_stall: Optional[float] = None  # longest gap in a quiet window, no edit
    failures: int = 0  # edits that did not go live within the timeout
    attempted: int = 0
    objects: Optional[int] = None  # gc-tracked objects in the program
    peak_rss_mb: Optional[float] = None
    error: str = ""


def _start(tool: Tool, workdir: Workdir, args, run: EditRun) -> Optional[Program]:
    program = Program(tool, workdir, *args)
    ready = program.wait_for(lambda kind, t, rest: kind == "ready", STARTUP_TIMEOUT)
    if ready is None:
        program.stop()
        run.error = f"did not start: {program.last_error()}"
        return None
    run.objects = int(ready[1][2])
    # The original schedules its directory watch on a background thread; give both
    # tools a moment so the first edit is not lost to set-up.
    time.sleep(0.5)
    return program


def _settle(program: Program, settle_max: float = SETTLE_MAX) -> float:
    """Wait until the reload has visibly finished: SETTLE_MIN after it applied and no
    loop stall for QUIET seconds (a reloader still working takes the GIL, which the
    loop sees as gaps), at most `settle_max`. Returns the end of the edit's
    observation window."""
    time.sleep(SETTLE_MIN)
    deadline = clock() + settle_max
    while clock() < deadline:
        now = clock()
        if not program.gaps(now - QUIET, now):
            break
        time.sleep(0.05)
    return clock()


def _edit(program: Program, workdir: Workdir, name: str, text: str, kind: str,
          expected: str, timeout: float, run: EditRun, latencies: List[float],
          rename: str = IN_PLACE, settle_max: float = SETTLE_MAX) -> bool:
    """Write `text`, wait until the program reports `kind` == `expected`; record the
    latency in `latencies` and the longest stall in run.stalls."""
    return _edit_files(program, workdir, [(name, text)], kind, expected, timeout, run,
                       latencies, rename, settle_max)


def _edit_files(program: Program, workdir: Workdir, files: Sequence[Tuple[str, str]],
                kind: str, expected: str, timeout: float, run: EditRun,
                latencies: List[float], rename: str = IN_PLACE,
                settle_max: float = SETTLE_MAX) -> bool:
    """Save every (name, text) of `files` one after the other, as fast as possible;
    the latency runs from the end of the last save."""
    start_index = len(program.lines)
    run.attempted += 1
    for name, text in files:
        written = workdir.write(name, text, rename=rename)
    hit = program.wait_for(lambda k, t, rest: k == kind and rest == expected, timeout,
                           start=start_index)
    if hit is None:
        run.failures += 1
        if not run.error:
            run.error = (f"edit not live after {timeout:.0f} s; last line on stderr: "
                         f"{program.last_error()}")
        _settle(program)
        return False
    latency = hit[1][1] - written
    latencies.append(latency)
    if run.first is None:
        run.first = latency
    end = _settle(program, settle_max)
    run.stalls.append(max(program.gaps(written, end), default=0.0))
    return True


def edit_latency(tool: Tool, lines: int, edits: int, timeout: float,
                 rename: str = IN_PLACE, sleeping: bool = False,
                 settle_max: float = SETTLE_MAX, quiet_window: float = 2.0) -> EditRun:
    """Workloads 1 and 2: `edits` one-function edits of a `lines`-line module while
    the program calls target() in a tight loop (or, `sleeping`, sleeps 0.1 ms between
    calls): save->live latency and stalls. `rename`: the save style (one of
    harness.SAVE_STYLES)."""
    run = EditRun()
    text = gen.module(lines, value=0)
    with Workdir("loop.py", [(f"{MODULE}.py", text)]) as workdir:
        args = (MODULE, "0", "0") + (("sleep",) if sleeping else ())
        program = _start(tool, workdir, args, run)
        if program is None:
            return run
        with program:
            if program.wait_for(lambda k, t, rest: k == "ans" and rest == "0", 10) is None:
                run.error = "never answered"
                return run
            quiet_start = clock()
            time.sleep(quiet_window)
            run.baseline_stall = max(program.gaps(quiet_start, clock()), default=0.0)
            failures_in_a_row = 0
            for value in range(1, edits + 1):
                ok = _edit(program, workdir, f"{MODULE}.py", gen.set_target(text, value),
                           "ans", str(value), timeout, run, run.latencies, rename,
                           settle_max)
                failures_in_a_row = 0 if ok else failures_in_a_row + 1
                if failures_in_a_row >= MAX_FAILURES:
                    break
        run.peak_rss_mb = program.peak_rss_mb
    return run


@dataclass
class FilesRun:
    """One program watching many modules: saves of some of them, and its memory."""

    edit: EditRun = field(default_factory=EditRun)
    rss_mb: Optional[float] = None  # VmRSS once imported and settled, before edits
    rss_after_mb: Optional[float] = None  # VmRSS after the edits


def watched_files(tool: Tool, count: int, edited: int, edits: int, timeout: float,
                  settle_max: float = SETTLE_MAX, measure_only: bool = False) -> FilesRun:
    """Workloads 8 and 9: a program imports `count` small watched modules (one
    package, one directory) and loops over target() of the first `edited`; each of
    `edits` rounds saves those `edited` files at once (in place, one after the
    other) with a new return value, until the program sees all of them live, after
    one uncounted warm-up round (ours reads its baseline of a file at the first
    save; the figures are of the saves after it).
    `measure_only` (plain python): no edits, only the memory of the same program."""
    result = FilesRun()
    run = result.edit
    package = gen.flat_package(count)
    with Workdir("files.py", package) as workdir:
        program = _start(tool, workdir, (str(count), str(edited)), run)
        if program is None:
            return result
        with program:
            result.rss_mb = _rss_mb(program)
            if measure_only:
                return result
            if program.wait_for(lambda k, t, rest: k == "ans" and rest == "0", 10) is None:
                run.error = "never answered"
                return result
            sources = dict(package[1:edited + 1])
            failures_in_a_row = 0
            for value in range(0, edits + 1):
                files = [(name, gen.set_target(text, value + 1000))
                         for name, text in sources.items()]
                latencies = run.latencies if value else []  # 0: the warm-up round
                ok = _edit_files(program, workdir, files, "ans", str(value + 1000),
                                 timeout, run, latencies, settle_max=settle_max)
                failures_in_a_row = 0 if ok else failures_in_a_row + 1
                if failures_in_a_row >= MAX_FAILURES:
                    break
            result.rss_after_mb = _rss_mb(program)
        run.peak_rss_mb = program.peak_rss_mb
    return result


def _rss_mb(program: Program) -> Optional[float]:
    kb = current_rss_kb(program.process.pid)
    return kb / 1024 if kb is not None else None


@dataclass
class HeapRun:
    edit: EditRun = field(default_factory=EditRun)
    function_edits: List[float] = field(default_factory=list)
    insertions: List[float] = field(default_factory=list)
    referrer_search: Optional[float] = None  # one gc.get_referrers, in the program


def heap_edits(tool: Tool, objects: int, repeats: int, timeout: float) -> HeapRun:
    """Workload 3: with `objects` live gc-tracked objects, alternately edit one
    function of a 200-function module and insert a comment line at its top
    (`repeats` of each), after one uncounted warm-up edit (the original builds its
    model of a file on the first change)."""
    result = HeapRun()
    run = result.edit
    text = gen.function_module(200, value=0)
    with Workdir("loop.py", [(f"{MODULE}.py", text)]) as workdir:
        program = _start(tool, workdir, (MODULE, str(objects), "1"), run)
        if program is None:
            return result
        with program:
            line = program.wait_for(lambda k, t, rest: k == "line", 30)
            if line is None:
                run.error = "the probe never reported"
                return result
            probe_line = int(line[1][2])
            refs = program.wait_for(lambda k, t, rest: k == "refs", 1)
            result.referrer_search = float(refs[1][2]) if refs else None
            warm_up: List[float] = []
            text = gen.set_target(text, 1000)
            if _edit(program, workdir, f"{MODULE}.py", text, "ans", "1000", timeout,
                     run, warm_up):
                run.first = warm_up[0]
                failures_in_a_row = 0
                for index in range(1, repeats + 1):
                    text = gen.set_target(text, index)
                    ok = _edit(program, workdir, f"{MODULE}.py", text, "ans", str(index),
                               timeout, run, result.function_edits)
                    text = gen.insert_top(text, index)
                    probe_line += 1
                    ok = _edit(program, workdir, f"{MODULE}.py", text, "line",
                               str(probe_line), timeout, run, result.insertions) and ok
                    failures_in_a_row = 0 if ok else failures_in_a_row + 1
                    if failures_in_a_row >= MAX_FAILURES:
                        break
        run.peak_rss_mb = program.peak_rss_mb
    return result


def registry_edits(tool: Tool, objects: int, repeats: int, timeout: float) -> EditRun:
    """Workload 7: with `objects` live gc-tracked objects, `repeats` edits of a
    function that only a registry holds (found through the heap), after one
    uncounted warm-up edit."""
    run = EditRun()
    text = gen.registry_module(200, value=0)
    with Workdir("loop.py", [(f"{MODULE}.py", text)]) as workdir:
        program = _start(tool, workdir, (MODULE, str(objects), "registry"), run)
        if program is None:
            return run
        with program:
            if program.wait_for(lambda k, t, rest: k == "ans" and rest == "0", 30) is None:
                run.error = "never answered"
                return run
            warm_up: List[float] = []
            text = gen.set_target(text, 1000)
            if _edit(program, workdir, f"{MODULE}.py", text, "ans", "1000", timeout,
                     run, warm_up):
                run.first = warm_up[0]
                failures_in_a_row = 0
                for index in range(1, repeats + 1):
                    text = gen.set_target(text, index)
                    ok = _edit(program, workdir, f"{MODULE}.py", text, "ans", str(index),
                               timeout, run, run.latencies)
                    failures_in_a_row = 0 if ok else failures_in_a_row + 1
                    if failures_in_a_row >= MAX_FAILURES:
                        break
        run.peak_rss_mb = program.peak_rss_mb
    return run


@dataclass
class StartRun:
    walls: List[float] = field(default_factory=list)
    peak_rss_mb: List[float] = field(default_factory=list)
    error: str = ""


def startup(tools: Dict[str, Tool], modules: int, runs: int) -> Dict[str, StartRun]:
    """Workload 4: a script importing a generated package of `modules` modules, run
    plain and under each reloader: whole-process wall time and peak RSS. One
    uncounted warm-up run per tool first (bytecode caches, page cache)."""
    results = {name: StartRun() for name in tools}
    with Workdir("importer.py", gen.package(modules)) as workdir:
        for _ in range(runs + 1):
            # Interleaved, so that a slow spell of the shared machine hits all tools.
            for name, tool in tools.items():
                result = results[name]
                program = Program(tool, workdir, str(modules), "exit")
                program.finish(timeout=120)  # reaps it: wall time covers the exit
                if program.process.returncode != 0:
                    result.error = (f"exit {program.process.returncode}: "
                                    f"{program.last_error()}")
                elif _ > 0:
                    result.walls.append(program.wall)
                    result.peak_rss_mb.append(program.peak_rss_mb)
                program.stderr.close()
    return results


@dataclass
class IdleRun:
    cpu_seconds: Optional[float] = None
    duration: float = 0.0
    error: str = ""


def idle(tools: Dict[str, Tool], modules: int, duration: float) -> Dict[str, IdleRun]:
    """Workload 5: CPU time (user+sys, all threads) a process watching `modules`
    imported modules uses over `duration` seconds with no edits."""
    results = {}
    with Workdir("importer.py", gen.package(modules)) as workdir:
        for name, tool in tools.items():
            result = results[name] = IdleRun(duration=duration)
            with Program(tool, workdir, str(modules), "idle") as program:
                if program.wait_for(lambda k, t, rest: k == "ready", STARTUP_TIMEOUT) is None:
                    result.error = f"did not start: {program.last_error()}"
                    continue
                time.sleep(1.0)  # start-up work (threads, watches) is not idling
                readings = []
                for pause in (0.0, duration):
                    time.sleep(pause)
                    count = len(program.lines)
                    program.process.send_signal(signal.SIGUSR1)
                    hit = program.wait_for(lambda k, t, rest: k == "cpu", 10, start=count)
                    if hit is None:
                        result.error = f"no CPU reading: {program.last_error()}"
                        break
                    readings.append(float(hit[1][2]))
                if len(readings) == 2:
                    result.cpu_seconds = readings[1] - readings[0]
    return results


@dataclass
class AttachRun:
    seconds: Optional[float] = None
    objects: Optional[int] = None
    peak_rss_mb: Optional[float] = None
    error: str = ""


def attach(tool: Tool, objects: int) -> AttachRun:
    """Extra workload: `import jurigged; jurigged.watch()` called by a program that
    already holds `objects` gc-tracked objects (run with the tool's plain python)."""
    result = AttachRun()
    python = Tool(f"{tool.name} python", tool.python, [str(tool.python)])
    with Workdir("attach.py") as workdir:
        with Program(python, workdir, str(objects)) as program:
            hit = program.wait_for(lambda k, t, rest: k == "attached", STARTUP_TIMEOUT)
            if hit is None:
                result.error = f"did not attach: {program.last_error()}"
            else:
                elapsed, count = hit[1][2].split()
                result.seconds, result.objects = float(elapsed), int(count)
        result.peak_rss_mb = program.peak_rss_mb
    return result
