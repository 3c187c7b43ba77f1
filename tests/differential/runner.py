"""Runs generated edit sequences against a live `jurigged` and a fresh interpreter.

A sequence is generated first, with the expected snapshot of every quiet point taken
from a fresh `python main.py --fresh` on the same files (which also proves each state
valid). It is then executed: a real `jurigged -v --events - main.py` runs the project,
each save is written, the runner waits for jurigged's batch event for those files,
re-saves `sentinel.py` and asks the program for a snapshot once it sees the new
sentinel token (batches are applied in order, so every earlier save is then done).
"""

from __future__ import annotations

import json
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from .generator import Step, generate_project, make_step, statement_names
from .probe import main_script, sentinel_script

Files = Dict[str, str]


@dataclass
class Save:
    """Files written together (one batch for the watcher). `check`: compare after it."""
    files: Files
    check: bool = True


@dataclass
class PlannedStep:
    family: str
    description: str
    saves: List[Save]
    expected: dict          # fresh snapshot after the step
    state: Files            # every module file after the step
    # Per module, names bound by plain statements up to this step: if one is only in
    # the live program, its statement was deleted, and deleted statements are not
    # undone (by design, as in jurigged 0.6.1), so it is not a difference.
    tolerated: Dict[str, List[str]] = field(default_factory=dict)


@dataclass
class Sequence:
    seed: int
    families: List[str]
    initial: Files          # main.py, sentinel.py and the modules
    initial_expected: dict
    steps: List[PlannedStep] = field(default_factory=list)


@dataclass
class Failure:
    step: int               # index into steps (-1: the initial state)
    reason: str
    expected: Optional[dict] = None
    got: Optional[dict] = None
    log: str = ""


@dataclass
class Outcome:
    sequence: Sequence
    failure: Optional[Failure] = None
    steps_done: int = 0

    @property
    def converged(self) -> bool:
        return self.failure is None


# ---- processes ---------------------------------------------------------------------

def jurigged_command() -> List[str]:
    script = Path(sys.executable).parent / "jurigged"
    if script.exists():
        return [str(script)]
    found = shutil.which("jurigged")
    if found is None:
        raise RuntimeError("the jurigged command is not installed: pip install . first")
    return [found]


def child_env(directory: Path) -> dict:
    """No bytecode files (two saves within one second of the same size would load a
    stale .pyc), a fixed hash seed, and no jurigged settings from the environment."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JURIGGED_", "PYTHON"))}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0", PYTHONUNBUFFERED="1",
               HOME=str(directory))
    return env


def write_files(directory: Path, files: Files) -> None:
    for name, text in files.items():
        (directory / name).write_text(text)


def fresh_snapshot(directory: Path, timeout: float = 60) -> "tuple[Optional[dict], str]":
    """The snapshot a fresh interpreter prints for the files in `directory`, or None
    and the error output if importing them fails."""
    try:
        done = subprocess.run([sys.executable, "main.py", "--fresh"], cwd=str(directory),
                              env=child_env(directory), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "fresh interpreter timed out"
    if done.returncode != 0:
        return None, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), ""


class LiveProcess:
    """`jurigged -v --events - main.py` with its stdin for commands and its output
    read by threads; every wait has a deadline, and close() always ends it."""

    def __init__(self, directory: Path):
        self.popen = subprocess.Popen(
            [*jurigged_command(), "-v", "--events", "-", "main.py"], cwd=str(directory),
            env=child_env(directory), text=True, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.log: List[str] = []
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._batches: List[List[str]] = []
        for pipe, prefix in ((self.popen.stdout, ""), (self.popen.stderr, "stderr: ")):
            threading.Thread(target=self._read, args=(pipe, prefix), daemon=True).start()

    def _read(self, pipe, prefix: str) -> None:
        for line in pipe:
            line = line.rstrip("\n")
            self.log.append(prefix + line)
            if not prefix:
                self._lines.put(line)
        self._lines.put(None)

    def _next_line(self, deadline: float) -> Optional[str]:
        """The next stdout line; batch events are also recorded. Raises
        TimeoutError at the deadline and EOFError when the process has exited."""
        while True:
            try:
                line = self._lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                raise TimeoutError from None
            if line is None:
                self._lines.put(None)
                raise EOFError(f"jurigged exited with status {self.popen.wait()}")
            if line.startswith("{"):
                try:
                    event = json.loads(line)
                except ValueError:
                    return line
                if event.get("event") == "batch":
                    self._batches.append([os.path.basename(f) for f in event["files"]])
            return line

    def expect(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self._next_line(deadline)
            if line.startswith(prefix):
                return line

    def wait_for_batches(self, names: List[str], timeout: float) -> None:
        """Wait until jurigged has started applying batches holding all `names`
        (the watcher may split files saved together into several batches)."""
        missing = set(names)
        deadline = time.monotonic() + timeout
        while True:
            while self._batches:
                missing -= set(self._batches.pop(0))
            if not missing:
                return
            try:
                self._next_line(deadline)
            except TimeoutError:
                raise TimeoutError(f"no batch event for {sorted(missing)} within {timeout}s")

    def command(self, text: str) -> None:
        self.popen.stdin.write(text + "\n")
        self.popen.stdin.flush()

    def close(self) -> None:
        if self.popen.poll() is None:
            try:
                self.command("quit")
                self.popen.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.popen.kill()
                self.popen.wait()
        for pipe in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            try:
                pipe.close()
            except OSError:
                pass


# ---- generation --------------------------------------------------------------------

def changed(before: Files, after: Files) -> Files:
    return {name: text for name, text in after.items() if before.get(name) != text}


def generate_sequence(seed: int, families: List[str], steps: int, scratch: Path,
                      attempts: int = 25) -> Sequence:
    """A random project and `steps` valid edits, each checked by a fresh interpreter."""
    rng = random.Random(seed)
    for _ in range(attempts):
        project = generate_project(rng, families)
        files = project.files()
        initial = {"main.py": main_script([m.name for m in project.modules]),
                   "sentinel.py": sentinel_script(0), **files}
        write_files(scratch, initial)
        expected, _ = fresh_snapshot(scratch)
        if expected is not None:
            break
    else:
        raise RuntimeError(f"seed {seed}: no valid initial project")
    sequence = Sequence(seed, list(families), initial, expected)
    state = dict(files)
    tolerated = statement_names(project)
    for _ in range(steps):
        planned = None
        for _ in range(attempts):
            step = make_step(rng, project, families)
            if step is None:
                continue
            after = step.project.files()
            if after == state:
                continue
            write_files(scratch, after)
            expected, _ = fresh_snapshot(scratch)
            if expected is None:
                write_files(scratch, state)
                continue
            for module, names in statement_names(step.project).items():
                tolerated[module] = sorted(set(tolerated.get(module, [])) | set(names))
            planned = plan(step, state, after, expected, dict(tolerated))
            break
        if planned is None:
            break
        sequence.steps.append(planned)
        project, state = step.project, after
    return sequence


def plan(step: Step, before: Files, after: Files, expected: dict,
         tolerated: Dict[str, List[str]]) -> PlannedStep:
    saves = []
    current = before
    if step.broken:
        broken = {**before, **changed(before, after), **step.broken}
        saves.append(Save(changed(current, broken), check=False))
        current = broken
    saves.append(Save(changed(current, after)))
    return PlannedStep(step.family, step.description, [s for s in saves if s.files],
                       expected, after, tolerated)


# ---- execution ---------------------------------------------------------------------

def execute(sequence: Sequence, directory: Path, timeout: float = 20) -> Outcome:
    """Run the sequence under a live jurigged in `directory` (an empty folder)."""
    write_files(directory, sequence.initial)
    live = LiveProcess(directory)
    outcome = Outcome(sequence)
    token = 0

    def snapshot() -> dict:
        nonlocal token
        token += 1
        write_files(directory, {"sentinel.py": sentinel_script(token)})
        live.command(f"snap {token}")
        line = live.expect(("SNAP ", "TIMEOUT "), timeout * 2)
        if line.startswith("TIMEOUT"):
            raise TimeoutError(f"the program never saw sentinel token {token}: {line}")
        return json.loads(line.split(" ", 2)[2])

    step_index = -1
    try:
        live.expect("READY", timeout * 2)
        got = snapshot()
        if got != sequence.initial_expected:
            outcome.failure = Failure(-1, "the initial state differs",
                                      sequence.initial_expected, got)
            return outcome
        for step_index, step in enumerate(sequence.steps):
            for save in step.saves:
                write_files(directory, save.files)
                live.wait_for_batches(list(save.files), timeout)
                if not save.check:
                    token += 1
                    write_files(directory, {"sentinel.py": sentinel_script(token)})
                    live.command(f"sync {token}")
                    live.expect("SYNC ", timeout * 2)
                    continue
                got = snapshot()
                if differences(step.expected, got, step.tolerated):
                    outcome.failure = Failure(step_index, "live state differs from a fresh run",
                                              step.expected, got)
                    return outcome
            outcome.steps_done = step_index + 1
    except (TimeoutError, EOFError, OSError) as exc:
        outcome.failure = Failure(step_index, f"{type(exc).__name__}: {exc}")
    finally:
        live.close()
        if outcome.failure is not None:
            outcome.failure.log = "\n".join(live.log)
    return outcome


def run_one(seed: int, families: List[str], steps: int, timeout: float = 20) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="jurigged-diff-") as tmp:
        scratch, live = Path(tmp, "scratch"), Path(tmp, "live")
        scratch.mkdir()
        live.mkdir()
        sequence = generate_sequence(seed, families, steps, scratch)
        return execute(sequence, live, timeout)


def with_steps(sequence: Sequence, keep: List[int]) -> Sequence:
    """The sequence with only the steps `keep`; each kept step's last save also
    carries what the dropped steps before it changed (saves hold whole files)."""
    disk = dict(sequence.initial)
    steps = []
    for index in keep:
        step = sequence.steps[index]
        saves = [save for save in step.saves if not save.check]
        for save in saves:
            disk.update(save.files)
        saves.append(Save(changed(disk, step.state)))
        disk.update(step.state)
        steps.append(PlannedStep(step.family, step.description,
                                 [save for save in saves if save.files],
                                 step.expected, step.state, step.tolerated))
    return Sequence(sequence.seed, sequence.families, sequence.initial,
                    sequence.initial_expected, steps)


def _run_in_temp(sequence: Sequence, timeout: float) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="jurigged-diff-") as tmp:
        return execute(sequence, Path(tmp), timeout)


def shrink(outcome: Outcome, timeout: float = 20) -> Outcome:
    """A shorter sequence that still fails: the failing step alone, applied to the
    state just before it; otherwise the earlier steps that can be dropped one by one."""
    failure, sequence = outcome.failure, outcome.sequence
    if failure is None or failure.step < 1:
        return outcome
    before = sequence.steps[failure.step - 1]
    alone = Sequence(sequence.seed, sequence.families,
                     {**sequence.initial, **before.state}, before.expected,
                     [sequence.steps[failure.step]])
    retried = _run_in_temp(alone, timeout)
    if retried.failure is not None:
        return retried
    keep, best = list(range(failure.step + 1)), outcome
    for index in range(failure.step):
        trial = [k for k in keep if k != index]
        retried = _run_in_temp(with_steps(sequence, trial), timeout)
        if retried.failure is not None and retried.failure.step == len(trial) - 1:
            keep, best = trial, retried
    return best


# ---- reporting ---------------------------------------------------------------------

def differences(expected, got, tolerated: Optional[Dict[str, List[str]]] = None,
                path: str = "") -> List[str]:
    """Each place where two snapshots differ, as `path: expected != got`. Names only in
    the live program that `tolerated` lists for their module are not differences."""
    if isinstance(expected, dict) and isinstance(got, dict):
        lines = []
        for key in sorted(set(expected) | set(got)):
            where = f"{path}.{key}" if path else key
            if key not in got:
                lines.append(f"{where}: missing in the live program (fresh: {json.dumps(expected[key])})")
            elif key not in expected:
                module = path.split(".")[0]
                if path and "." not in path and key in (tolerated or {}).get(module, ()):
                    continue
                lines.append(f"{where}: only in the live program ({json.dumps(got[key])})")
            else:
                lines += differences(expected[key], got[key], tolerated, where)
        return lines
    if expected != got:
        return [f"{path}: fresh {json.dumps(expected)} != live {json.dumps(got)}"]
    return []


def describe_failure(outcome: Outcome) -> str:
    failure, sequence = outcome.failure, outcome.sequence
    lines = [f"seed {sequence.seed}, families {','.join(sequence.families)}: "
             f"failed at step {failure.step + 1} of {len(sequence.steps)}: {failure.reason}"]
    for index, step in enumerate(sequence.steps[:failure.step + 1]):
        lines.append(f"  step {index + 1} [{step.family}] {step.description}")
    if failure.expected is not None:
        tolerated = sequence.steps[failure.step].tolerated if failure.step >= 0 else {}
        lines += ["differences:"] + ["  " + d for d in differences(failure.expected, failure.got, tolerated)]
    return "\n".join(lines)


MARK = "=== "


def repro_text(outcome: Outcome, title: str = "") -> str:
    """A self-contained text of a failure: the files before, each save, the expected
    and live snapshots. `read_repro` turns it back into a sequence."""
    failure, sequence = outcome.failure, outcome.sequence
    out = [f"# jurigged differential repro: {title or failure.reason}",
           f"# seed {sequence.seed}, families {','.join(sequence.families)}, "
           f"python {sys.version.split()[0]}",
           "# replay: python scripts/fuzz_live.py --replay THIS_FILE"]
    for name, text in sequence.initial.items():
        out += [f"{MARK}file {name}", text.rstrip("\n")]
    for index, step in enumerate(sequence.steps[:failure.step + 1]):
        out.append(f"{MARK}step [{step.family}] {step.description}")
        for save in step.saves:
            out.append(f"{MARK}save{'' if save.check else ' (not compared)'}")
            for name, text in save.files.items():
                out += [f"{MARK}file {name}", text.rstrip("\n")]
        out += [f"{MARK}tolerated", json.dumps(step.tolerated, sort_keys=True),
                f"{MARK}expected", json.dumps(step.expected, sort_keys=True)]
    out += [f"{MARK}initial expected", json.dumps(sequence.initial_expected, sort_keys=True)]
    if failure.got is not None:
        out += [f"{MARK}got", json.dumps(failure.got, sort_keys=True),
                f"{MARK}differences"] + differences(
                    failure.expected, failure.got,
                    sequence.steps[failure.step].tolerated if failure.step >= 0 else {})
    out += [f"{MARK}reason", failure.reason, f"{MARK}log (jurigged's messages)"]
    out += [line for line in failure.log.split("\n")
            if not line.startswith(("{", "SNAP ", "SYNC ", "READY"))] + [""]
    return "\n".join(out)


def read_repro(text: str) -> Sequence:
    sections = []  # (header, lines)
    for line in text.split("\n"):
        if line.startswith(MARK):
            sections.append((line[len(MARK):], []))
        elif sections:
            sections[-1][1].append(line)
    initial: Files = {}
    initial_expected: dict = {}
    steps: List[PlannedStep] = []
    target: Files = initial
    for header, lines in sections:
        body = "\n".join(lines)
        if header.startswith("file "):
            target[header[5:]] = body + "\n"
        elif header.startswith("step "):
            family, _, description = header[6:].partition("] ")
            steps.append(PlannedStep(family, description, [], {}, {}))
        elif header.startswith("save"):
            save = Save({}, check="not compared" not in header)
            steps[-1].saves.append(save)
            target = save.files
        elif header == "expected":
            steps[-1].expected = json.loads(body)
        elif header == "tolerated":
            steps[-1].tolerated = json.loads(body)
        elif header == "initial expected":
            initial_expected = json.loads(body)
    return Sequence(0, [], initial, initial_expected, steps)
