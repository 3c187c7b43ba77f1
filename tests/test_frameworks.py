"""End to end: the framework hooks (jurigged.frameworks) with the real frameworks. A real
`jurigged` process serves an app through the framework's test client in a loop, the
test edits the app's files, and checks the responses."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

# The program under test: `setup` makes a client, PROBE is a tuple of responses printed
# as `R <repr>` whenever it changes.
APP = """\
import sys, time
{setup}
def probe():
    try:
        return {probe}
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc)[:80])
print("ready", flush=True)
last = object()
for _ in range(6000):
    value = probe()
    if value != last:
        sys.stdout.write(f"R {{value!r}}\\n"); sys.stdout.flush()
        last = value
    time.sleep(0.005)
"""


def start(run_jurigged, tmp_path: Path, files: dict, setup: str, probe: str):
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    (tmp_path / "app.py").write_text(APP.format(setup=textwrap.dedent(setup), probe=probe))
    process = run_jurigged("-v", "app.py")
    process.expect("ready", timeout=30)
    return process


def edit(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(textwrap.dedent(text))


FLASK_V1 = """\
from flask import Flask
app = Flask(__name__)

@app.route("/a")
def a():
    return "a1"
"""

FLASK_V2 = """\
from flask import Flask
app = Flask(__name__)

@app.route("/a")
def a():
    return "a2"

@app.route("/b")
def b():
    return "b1"
"""


def test_flask_route_added_after_first_request_and_changed(run_jurigged, tmp_path):
    pytest.importorskip("flask")
    setup = "import web\nclient = web.app.test_client()\n"
    probe = ("(client.get('/a').get_data(as_text=True), "
             "client.get('/b').status_code)")
    process = start(run_jurigged, tmp_path, {"web.py": FLASK_V1}, setup, probe)
    process.expect("R ('a1', 404)", stream="out", timeout=30)
    edit(tmp_path, "web.py", FLASK_V2)
    process.expect("flask: routes of web registered", stream="err", timeout=30)
    process.expect("R ('a2', 200)", stream="out", timeout=30)
