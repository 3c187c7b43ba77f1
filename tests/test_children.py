"""End to end: child processes of a program run by `jurigged` are live. A fork Pool, a
spawn ProcessPoolExecutor, an os.fork() child, a subprocess of sys.executable and
gunicorn's pre-forked workers, all started before an edit, run the edited code
after it; with --no-children they keep the code they started with."""

from __future__ import annotations

import http.client
import re
import sys
import time
from pathlib import Path
from textwrap import dedent

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="fork and the native watcher: Linux only")

LIB = 'def f():\n    return "old"\n'
NEW_LIB = 'def f():\n    return "new"\n'

# Probes the parent, a fork Pool and a spawn ProcessPoolExecutor (both created
# before any edit) and prints `R (parent, fork, spawn)` whenever that changes.
POOLS = dedent("""\
    import multiprocessing, sys, time
    from concurrent.futures import ProcessPoolExecutor
    import lib

    def probe(fork_pool, spawn_pool):
        fork = set(fork_pool.map(lib.call_f, range(4), chunksize=1))
        spawn = set(spawn_pool.map(lib.call_f, range(4), chunksize=1))
        return (lib.f(), sorted(fork), sorted(spawn))

    if __name__ == "__main__":
        fork_pool = multiprocessing.get_context("fork").Pool(2)
        # One worker: from 3.13 an executor starts its workers on demand, and one
        # started after the edit would rightly run the new file.
        spawn_pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        last = None
        try:
            for _ in range(3000):
                value = probe(fork_pool, spawn_pool)
                if value != last:
                    print(f"R {value!r}", flush=True)
                    last = value
                if value[0] == "new" and "settled" not in globals():
                    settled = 0
                if "settled" in globals():
                    settled += 1
                    if settled == 50:
                        break
                time.sleep(0.01)
        finally:
            fork_pool.terminate()
            spawn_pool.shutdown()
        print("done", flush=True)
    """)

POOL_LIB = LIB + "def call_f(_):\n    return f()\n"


def test_fork_pool_and_spawn_executor_created_before_the_edit(run_jurigged, tmp_path):
    (tmp_path / "lib.py").write_text(POOL_LIB)
    (tmp_path / "app.py").write_text(POOLS)
    process = run_jurigged("-v", "app.py")
    process.expect("R ('old', ['old'], ['old'])", stream="out", timeout=60)
    (tmp_path / "lib.py").write_text(POOL_LIB.replace('"old"', '"new"'))
    process.expect("R ('new', ['new'], ['new'])", stream="out", timeout=60)
    process.expect("done", stream="out", timeout=60)
    assert process.wait(30) == 0
    # The parent says what changed, once; the children say nothing.
    assert process.lines["out"].count("Update lib.f") == 1
    assert process.lines["out"].count(f"Watch {tmp_path / 'lib.py'}") == 1


def test_no_children_leaves_them_with_the_old_code(run_jurigged, tmp_path):
    (tmp_path / "lib.py").write_text(POOL_LIB)
    (tmp_path / "app.py").write_text(POOLS)
    process = run_jurigged("--no-children", "app.py")
    process.expect("R ('old', ['old'], ['old'])", stream="out", timeout=60)
    (tmp_path / "lib.py").write_text(POOL_LIB.replace('"old"', '"new"'))
    process.expect("R ('new', ['old'], ['old'])", stream="out", timeout=60)
    # 50 more rounds after the parent changed: the children never do.
    process.expect("done", stream="out", timeout=60)
    assert process.wait(30) == 0
    assert [line for line in process.lines["out"] if line.startswith("R ")][-1] == \
        "R ('new', ['old'], ['old'])"


def test_children_setting_in_the_environment(run_jurigged, tmp_path):
    (tmp_path / "lib.py").write_text(POOL_LIB)
    (tmp_path / "app.py").write_text(POOLS)
    from conftest import subprocess_env

    env = dict(subprocess_env(tmp_path / "home"), JURIGGED_CHILDREN="0")
    process = run_jurigged("app.py", env=env)
    process.expect("R ('old', ['old'], ['old'])", stream="out", timeout=60)
    (tmp_path / "lib.py").write_text(POOL_LIB.replace('"old"', '"new"'))
    process.expect("R ('new', ['old'], ['old'])", stream="out", timeout=60)
    process.expect("done", stream="out", timeout=60)
    assert process.wait(30) == 0


# The child made by os.fork() prints `C <value>` on each change of lib.f(), and ends
# once it has seen the new one; the parent waits for it.
FORK = dedent("""\
    import os, sys, time
    import lib

    pid = os.fork()
    if pid == 0:
        last = None
        status = 1
        for _ in range(6000):
            value = lib.f()
            if value != last:
                print(f"C {value}", flush=True)
                last = value
            if value == "new":
                status = 0
                break
            time.sleep(0.005)
        os._exit(status)
    _, status = os.waitpid(pid, 0)
    while lib.f() != "new":  # the parent's own watcher may come after the child's
        time.sleep(0.005)
    print("child status", os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8, flush=True)
    """)


def test_os_fork_child_is_live(run_jurigged, tmp_path):
    (tmp_path / "lib.py").write_text(LIB)
    (tmp_path / "app.py").write_text(FORK)
    process = run_jurigged("app.py")
    process.expect("C old", stream="out", timeout=30)
    (tmp_path / "lib.py").write_text(NEW_LIB)
    process.expect("C new", stream="out", timeout=30)
    process.expect("child status 0", stream="out", timeout=30)
    assert process.wait(30) == 0


# A subprocess of sys.executable running another script, from another directory: it
# watches the files the parent watches (the default: *.py under the parent's
# directory), its own script included.
SUBPROCESS_PARENT = dedent("""\
    import subprocess, sys
    child = subprocess.run([sys.executable, "../child.py"], cwd="elsewhere")
    print("child status", child.returncode, flush=True)
    """)

SUBPROCESS_CHILD = dedent("""\
    import sys, time
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    import lib

    def mine():
        return "mine-old"

    last = None
    for _ in range(6000):
        value = (lib.f(), mine())
        if value != last:
            print(f"S {value!r}", flush=True)
            last = value
        if value == ("new", "mine-new"):
            break
        time.sleep(0.005)
    else:
        sys.exit(1)
    """)


def test_subprocess_of_sys_executable_is_live(run_jurigged, tmp_path):
    (tmp_path / "lib.py").write_text(LIB)
    (tmp_path / "app.py").write_text(SUBPROCESS_PARENT)
    (tmp_path / "child.py").write_text(SUBPROCESS_CHILD)
    (tmp_path / "elsewhere").mkdir()
    process = run_jurigged("-v", "app.py")
    process.expect("S ('old', 'mine-old')", stream="out", timeout=30)
    (tmp_path / "lib.py").write_text(NEW_LIB)
    process.expect("S ('new', 'mine-old')", stream="out", timeout=30)
    (tmp_path / "child.py").write_text(SUBPROCESS_CHILD.replace('return "mine-old"',
                                                               'return "mine-new"'))
    process.expect("S ('new', 'mine-new')", stream="out", timeout=30)
    process.expect("child status 0", stream="out", timeout=30)
    assert process.wait(30) == 0
    # Only the parent's lines: the child watched lib.py and child.py silently.
    assert not any("child.py" in line for line in process.lines["out"]
                   if line.startswith("Watch"))


# A save that fails in every process (BOTH) and one that fails in the children only
# (CHILD_ONLY: multiprocessing.parent_process() is None in the parent alone).
FAILING_LIB = dedent("""\
    import multiprocessing

    def f():
        return "new"

    def call_f(_):
        return f()

    BOTH = 1 / 0
    CHILD_ONLY = 1 / (multiprocessing.parent_process() is None)
    """)

# POOLS, ending 50 rounds after every process runs the "last" version.
POOLS_UNTIL_LAST = POOLS.replace('value[0] == "new"',
                                 'value == ("last", ["last"], ["last"])')


def test_an_error_met_by_several_processes_is_printed_once(run_jurigged, tmp_path):
    (tmp_path / "lib.py").write_text(POOL_LIB)
    (tmp_path / "app.py").write_text(POOLS_UNTIL_LAST)
    process = run_jurigged("app.py")
    process.expect("R ('old', ['old'], ['old'])", stream="out", timeout=60)
    # Each process applies each save in turn: once all of them run the save after a
    # failing one, all of them have reported (or not) what the failing one did.
    # A failure is printed once the files have been quiet a moment (a save soon
    # after may fix it): the next save waits for it.
    failed = 0
    for answer, text in (("new", FAILING_LIB), ("newer", POOL_LIB),
                         ("again", FAILING_LIB), ("last", POOL_LIB)):
        (tmp_path / "lib.py").write_text(text.replace('"new"', f'"{answer}"')
                                         .replace('"old"', f'"{answer}"'))
        process.expect(f"R ('{answer}', ['{answer}'], ['{answer}'])", stream="out",
                       timeout=60)
        if text is FAILING_LIB:
            failed += 1
            process.seen_times("lib.py:9:", failed, stream="err", timeout=60)
            process.seen_times("lib.py:10:", failed, stream="err", timeout=60)
    process.expect("done", stream="out", timeout=60)
    assert process.wait(30) == 0
    errors = [line for line in process.lines["err"] if line.startswith("jurigged:")]
    both = [line for line in errors if "lib.py:9:" in line]
    child_only = [line for line in errors if "lib.py:10:" in line]
    # Once per failing save (twice), not once per process (four times).
    assert len(both) == 2, process.output("err")
    # Met by the three children only: printed, once per save, by one of them.
    assert len(child_only) == 2, process.output("err")
    assert all("(process " in line for line in child_only), process.output("err")
    assert "BOTH = 1 / 0" in process.output("err")


def test_a_child_reports_its_errors_with_its_process_id(run_jurigged, tmp_path):
    started = "import os\nSTARTED_IN = os.getpid()\n"  # run once, in the parent
    (tmp_path / "lib.py").write_text(started + LIB)
    (tmp_path / "app.py").write_text(FORK)
    process = run_jurigged("app.py")
    process.expect("C old", stream="out", timeout=30)
    # Fails in the forked child only.
    (tmp_path / "lib.py").write_text(started + LIB
                                     + "CHECK = 1 / (os.getpid() == STARTED_IN)\n")
    line = process.seen("(process ", stream="err", timeout=30)
    assert "lib.py:5:" in line and "failed" in line
    (tmp_path / "lib.py").write_text(started + NEW_LIB)
    process.expect("child status 0", stream="out", timeout=30)
    assert process.wait(30) == 0


WSGI_APP = dedent("""\
    import os

    def answer():
        return "old"

    def app(environ, start_response):
        body = f"{answer()} {os.getpid()}".encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    """)


def _get(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/", headers={"Connection": "close"})
        return connection.getresponse().read().decode()
    finally:
        connection.close()


def _answers_of_every_worker(port: int, workers: int, wanted: str, timeout: float):
    """Ask until each of the `workers` processes has answered `wanted` (requests land
    on whichever worker accepts first). Returns {pid: last answer}."""
    answers = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer, pid = _get(port).split()
        answers[pid] = answer
        if len(answers) >= workers and all(a == wanted for a in answers.values()):
            return answers
    pytest.fail(f"not every worker answered {wanted!r} within {timeout}s: {answers}")


@pytest.mark.parametrize("preload", [False, True], ids=["imported-in-worker", "preload"])
def test_gunicorn_workers_serve_the_edited_handler(run_jurigged, tmp_path, preload):
    pytest.importorskip("gunicorn")
    (tmp_path / "wsgi.py").write_text(WSGI_APP)
    args = ["-m", "gunicorn", "-w", "2", "-b", "127.0.0.1:0", "--graceful-timeout", "5",
            "--worker-tmp-dir", str(tmp_path)]
    process = run_jurigged("-w", str(tmp_path / "wsgi.py"), *args,
                           *(["--preload"] if preload else []), "wsgi:app")
    line = process.seen("Listening at: http://127.0.0.1:", stream="err", timeout=60)
    port = int(re.search(r"127\.0\.0\.1:(\d+)", line).group(1))
    process.seen("Booting worker", stream="err", timeout=60)
    before = _answers_of_every_worker(port, 2, "old", timeout=60)
    (tmp_path / "wsgi.py").write_text(WSGI_APP.replace('return "old"', 'return "new"'))
    after = _answers_of_every_worker(port, 2, "new", timeout=60)
    assert set(after) == set(before)  # the same workers, not restarted ones


ASGI_APP = dedent("""\
    import os

    def answer():
        return "old"

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        body = f"{answer()} {os.getpid()}".encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    """)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_uvicorn_spawned_workers_serve_the_edited_handler(run_jurigged, tmp_path):
    pytest.importorskip("uvicorn")
    (tmp_path / "asgi.py").write_text(ASGI_APP)
    port = _free_port()
    process = run_jurigged("-m", "uvicorn", "--workers", "2", "--host", "127.0.0.1",
                           "--port", str(port), "--no-access-log", "asgi:app")
    for _ in range(2):
        process.expect("Application startup complete", stream="err", timeout=60)
    before = _answers_of_every_worker(port, 2, "old", timeout=60)
    (tmp_path / "asgi.py").write_text(ASGI_APP.replace('return "old"', 'return "new"'))
    after = _answers_of_every_worker(port, 2, "new", timeout=60)
    assert set(after) == set(before)


# The worker function lives in the main script, which a spawn or forkserver child
# runs again as __mp_main__ (and a fork child inherits).
MAIN_WORKER = dedent("""\
    import multiprocessing, sys, time
    from concurrent.futures import ProcessPoolExecutor

    def work(_):
        return "old"

    if __name__ == "__main__":
        pools = [ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(method))
                 for method in ("fork", "spawn", "forkserver")]
        last = None
        try:
            for _ in range(3000):
                value = tuple(pool.submit(work, 0).result() for pool in pools)
                if value != last:
                    print(f"R {value!r}", flush=True)
                    last = value
                if value == ("new",) * 3:
                    break
                time.sleep(0.01)
        finally:
            for pool in pools:
                pool.shutdown()
    """)


def test_a_worker_function_in_the_main_script_every_start_method(run_jurigged, tmp_path):
    (tmp_path / "app.py").write_text(MAIN_WORKER)
    process = run_jurigged("app.py")
    process.expect("R ('old', 'old', 'old')", stream="out", timeout=60)
    (tmp_path / "app.py").write_text(MAIN_WORKER.replace('return "old"', 'return "new"'))
    process.expect("R ('new', 'new', 'new')", stream="out", timeout=60)
    assert process.wait(60) == 0


def _python_child(code: str, env: dict, cwd: Path):
    import subprocess

    return subprocess.run([sys.executable, "-c", code], env=env, cwd=str(cwd),
                          capture_output=True, text=True, timeout=60)


IMPORTED = "import sys; print(sorted(m for m in sys.modules if m.startswith('jurigged')))"


def test_without_the_handoff_a_python_process_imports_nothing_of_jurigged(tmp_path):
    from conftest import subprocess_env

    env = subprocess_env(tmp_path)
    env.pop("JURIGGED_HANDOFF", None)
    result = _python_child(IMPORTED, env, tmp_path)
    assert result.returncode == 0 and result.stdout == "[]\n", result.stderr


def test_a_handoff_from_another_installation_or_unreadable_is_ignored(tmp_path):
    from conftest import subprocess_env
    from jurigged.processes import FilterSpec, Handoff

    other = Handoff(prefix=str(tmp_path), filters=[FilterSpec.here(None)])
    env = dict(subprocess_env(tmp_path), JURIGGED_HANDOFF=other.encode())
    # The bootstrap reads the hand-off (importing jurigged) but does not watch.
    watching = ("import sys; live = sys.modules.get('jurigged.live'); "
                "print(live is not None and live._watcher is not None)")
    result = _python_child(watching, env, tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "False\n", "")
    env["JURIGGED_HANDOFF"] = Handoff(prefix=sys.prefix,
                                      filters=[FilterSpec.here(None)]).encode()
    result = _python_child(watching, env, tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, "True\n", "")
    env["JURIGGED_HANDOFF"] = "{not json"
    result = _python_child("print('ran')", env, tmp_path)
    assert result.returncode == 0 and result.stdout == "ran\n"
    assert result.stderr.startswith("jurigged: ignoring JURIGGED_HANDOFF:")


def test_the_handoff_is_json_that_decodes_to_what_was_shared(tmp_path):
    """Its strings are written by hand when nothing in them needs escaping; the
    others as json.dumps writes them."""
    import json

    from jurigged.processes import FilterSpec, Handoff

    awkward = ['/plain/path.py', 'a "quoted" name', 'back\\slash', 'tab\there',
               'caf\u00e9/\u2603.py', '\x7f', '']
    spec = FilterSpec([str(tmp_path)], exclude=awkward, always=[], cwd=str(tmp_path))
    handoff = Handoff(prefix=sys.prefix, filters=[spec], debounce=0.25, reports="t0k")
    text = handoff.encode()
    assert json.loads(text) == json.loads(json.dumps(handoff.as_dict()))
    assert Handoff.decode(text) == handoff


def test_forked_children_write_no_events(run_jurigged, tmp_path):
    import json

    (tmp_path / "lib.py").write_text(LIB)
    (tmp_path / "app.py").write_text(FORK)
    events = tmp_path / "events.jsonl"
    process = run_jurigged("--events", str(events), "app.py")
    process.expect("C old", stream="out", timeout=30)
    (tmp_path / "lib.py").write_text(NEW_LIB)
    process.expect("child status 0", stream="out", timeout=30)
    assert process.wait(30) == 0
    updates = [event for event in map(json.loads, events.read_text().splitlines())
               if event["event"] == "update"]
    assert [event["qualname"] for event in updates] == ["lib.f"]


# watch() in the program itself, then Watcher.stop(): a Python child started before
# the stop is live, one started after it is not.
STOP_PARENT = dedent("""\
    import subprocess, sys
    import jurigged

    watcher = jurigged.watch()
    import lib

    def child(tag):
        return subprocess.Popen([sys.executable, "child.py", tag])

    before = child("before")
    watcher.stop()
    after = child("after")
    print("statuses", before.wait(), after.wait(), flush=True)
    """)

STOP_CHILD = dedent("""\
    import os, sys, time
    import lib

    def say(*words):  # one write a line: both children share the pipe
        sys.stdout.write(" ".join(map(str, words)) + "\\n")
        sys.stdout.flush()

    tag = sys.argv[1]
    live = sys.modules.get("jurigged.live")
    watching = live is not None and live._watcher is not None and not live._watcher.stopped
    say(tag, "watching", watching)
    last = None
    while not os.path.exists("finish"):
        value = lib.f()
        if value != last:
            say(tag, value)
            last = value
        time.sleep(0.005)
    say(tag, "final", lib.f())
    """)


def test_children_started_after_stop_are_not_live(run_jurigged, tmp_path):
    (tmp_path / "lib.py").write_text(LIB)
    (tmp_path / "app.py").write_text(STOP_PARENT)
    (tmp_path / "child.py").write_text(STOP_CHILD)
    process = run_jurigged("app.py", command=[sys.executable])
    process.seen("before watching True", stream="out", timeout=30)
    process.seen("after watching False", stream="out", timeout=30)
    process.seen("before old", stream="out", timeout=30)
    process.seen("after old", stream="out", timeout=30)
    (tmp_path / "lib.py").write_text(NEW_LIB)
    process.seen("before new", stream="out", timeout=30)
    (tmp_path / "finish").write_text("")
    process.seen("statuses 0 0", stream="out", timeout=30)
    assert process.wait(30) == 0
    assert "after final old" in process.lines["out"]
    assert "before final new" in process.lines["out"]
