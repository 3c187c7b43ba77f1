"""CPU used by an idle process whose Watcher waits on 200 watched files (not a test).

Prints the process's user+system CPU time (all threads: the inotify thread, the
watcher's settle thread and the waiting thread) over the waiting period.

    python benchmarks/bench_idle.py [--seconds 10] [--files 200] [--poll-ms 0] [--main-thread]
"""

import argparse
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path

from jurigged._core import Watcher


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--poll-ms", type=int, default=0)
    parser.add_argument(
        "--main-thread",
        action="store_true",
        help="wait in the main thread (which wakes every 200 ms to let Ctrl-C in) instead of a worker thread",
    )
    args = parser.parse_args()

    base = Path(__file__).resolve().parents[1] / "build"
    base.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(dir=base, prefix="bench-idle-"))
    try:
        watcher = Watcher(poll_ms=args.poll_ms)
        for i in range(args.files):
            # Spread over 10 packages, like a project's modules.
            path = workdir / f"pkg{i % 10}" / f"mod{i}.py"
            path.parent.mkdir(exist_ok=True)
            content = b"def f():\n    return %d\n" % i
            path.write_bytes(content)
            watcher.add(str(path), content)
        watcher.wait(500)  # let the first read of every file (after add) settle

        wall_start, cpu_start = time.monotonic(), cpu_seconds()
        result = []
        wait = lambda: result.append(watcher.wait(int(args.seconds * 1000)))  # noqa: E731
        if args.main_thread:
            wait()
        else:
            waiter = threading.Thread(target=wait)
            waiter.start()
            waiter.join()
        (batch,) = result
        wall, cpu = time.monotonic() - wall_start, cpu_seconds() - cpu_start
        watcher.close()
        assert batch == [], batch
        mode = f"polling every {args.poll_ms} ms" if args.poll_ms else ("polling" if watcher.polling else "inotify")
        mode += ", waiting in the main thread" if args.main_thread else ", waiting in a worker thread"
        print(f"{args.files} files, {mode}: {cpu * 1000:.1f} ms CPU in {wall:.1f} s ({100 * cpu / wall:.3f}% of one core)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
