"""End to end: a Dask LocalCluster (worker processes, loopback) connected with
jurigged.dask.connect runs the edited task function on every worker, those that join
after the edit included. The workers import `lib` from their own copy of the file,
which is never edited (as on other machines): only the save sent through the
cluster can change what they run."""

from __future__ import annotations

import sys
from textwrap import dedent

import pytest

pytest.importorskip("distributed", reason="jurigged.dask needs distributed "
                    "(pip install 'jurigged[dask]')")

LIB = 'def f():\n    return "old"\n'

APP = dedent("""\
    import os, sys, time
    sys.path.insert(0, "client_side")
    import lib
    sys.path.remove("client_side")
    sys.path.insert(0, "worker_side")  # what the workers import

    from dask.distributed import Client, LocalCluster
    import jurigged.dask

    def probe(client):
        workers = sorted(client.scheduler_info()["workers"])
        futures = [client.submit(lib.f, pure=False, workers=[w], allow_other_workers=False)
                   for w in workers]
        return (len(workers), sorted(set(client.gather(futures))))

    if __name__ == "__main__":
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
        jurigged.dask.connect(client)
        print("ready", flush=True)
        last, grown = None, False
        try:
            for _ in range(3000):
                value = probe(client)
                if value != last:
                    print(f"R {value!r}", flush=True)
                    last = value
                if os.path.exists("grow") and not grown:
                    cluster.scale(3)
                    client.wait_for_workers(3, timeout=120)
                    grown = True
                if os.path.exists("stop"):
                    break
                time.sleep(0.02)
        finally:
            client.close()
            cluster.close()
        print("done", flush=True)
    """)


@pytest.mark.parametrize("children", [True, False], ids=["children-live", "no-children"])
def test_every_worker_runs_the_edited_task(run_jurigged, tmp_path, children):
    for side in ("client_side", "worker_side"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "lib.py").write_text(LIB)
    (tmp_path / "app.py").write_text(APP)
    process = run_jurigged(*([] if children else ["--no-children"]), "-v", "app.py")
    process.expect("R (2, ['old'])", stream="out", timeout=120)
    (tmp_path / "client_side" / "lib.py").write_text(LIB.replace('"old"', '"new"'))
    process.expect("R (2, ['new'])", stream="out", timeout=60)
    (tmp_path / "grow").write_text("")
    process.expect("R (3, ['new'])", stream="out", timeout=120)
    (tmp_path / "stop").write_text("")
    process.expect("done", stream="out", timeout=120)
    assert process.wait(60) == 0
    assert "R (3, ['old'" not in process.output("out")
