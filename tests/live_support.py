"""The probe loop of the end-to-end tests: the program a real `jurigged` process runs,
which prints `R <repr(value)>` whenever the value of a probe expression changes; how to
start it on files in a folder; and what a fresh interpreter answers for the same probe
on the files as they are on disk."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from textwrap import dedent, indent
from typing import Dict, Optional


def probe_loop(probe: str, *, imports: str = "import lib", setup: str = "",
               rounds: int = 4000, catch: bool = True, main_guard: bool = False) -> str:
    """The text of a program that runs `imports` and `setup` (references a test takes
    before any edit, as a real program would), prints `ready`, then evaluates `probe`
    every 5 ms, `rounds` times, printing `R <repr(value)>` each time the value changes.

    `catch`: an exception in the probe is printed as `R ('raised', <type name>)` and the
    loop goes on; without it, the exception ends the program. `main_guard`: the loop
    runs only as __main__, so that a fresh interpreter can import the program and call
    probe() (see fresh_probe_line)."""
    if catch:
        body = (f"    try:\n        return {probe}\n"
                "    except Exception as exc:\n"
                "        return (\"raised\", type(exc).__name__)\n")
    else:
        body = f"    return {probe}\n"
    loop = ("print(\"ready\", flush=True)\n"
            "last = object()\n"
            f"for _ in range({rounds}):\n"
            "    value = probe()\n"
            "    if value != last:\n"
            "        sys.stdout.write(f\"R {value!r}\\n\"); sys.stdout.flush()\n"
            "        last = value\n"
            "    time.sleep(0.005)\n")
    if main_guard:
        loop = "if __name__ == \"__main__\":\n" + indent(loop, "    ")
    return f"import sys, time\n{imports}\n{dedent(setup)}\ndef probe():\n{body}{loop}"


def start_probe_loop(run_jurigged, folder: Path, program: str, files: Dict[str, str],
                     *args: str, env: Optional[dict] = None):
    """Write `files` (name: text, as they are) and `program` as app.py into `folder`,
    start `jurigged -v ARGS app.py` there (with `env`, else the fixture's), and wait for
    the program's `ready`."""
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / "app.py").write_text(program)
    process = run_jurigged("-v", *args, "app.py", cwd=folder, env=env)
    process.expect("ready")
    return process


def fresh_probe_line(folder: Path, env: dict) -> str:
    """The `R <value>` line that a fresh interpreter prints for the probe of the
    program app.py (written with main_guard) on the files in `folder` as they are now.
    It writes no bytecode, which a later fresh run could take for the newer source."""
    result = subprocess.run(
        [sys.executable, "-B", "-c", "import app; print(f'R {app.probe()!r}')"],
        cwd=str(folder), env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]
