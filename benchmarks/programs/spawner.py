"""The program the child start-up benchmark (bench_children.py) runs, plain or under
jurigged: it starts Python children and times each from the parent's side.

    <python or jurigged> spawner.py RUNS COUNT

For each of RUNS rounds it prints two lines, in CLOCK_MONOTONIC seconds:
  "bare T"  a `subprocess.run([sys.executable, "-c", "pass"])`, whole process;
  "spawn T" a multiprocessing spawn Process that imports pkg.m000 .. pkg.m{COUNT-1}
            (a generated package in the current directory, watched by default),
            from start() to its first message back.
"""

import importlib
import multiprocessing
import subprocess
import sys
import time


def child(count, connection):
    for index in range(count):
        importlib.import_module(f"pkg.m{index:03d}")
    connection.send("ready")
    connection.close()


def main():
    runs, count = int(sys.argv[1]), int(sys.argv[2])
    spawn = multiprocessing.get_context("spawn")
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        print(f"bare {time.monotonic() - started}", flush=True)

        receiver, sender = spawn.Pipe(duplex=False)
        started = time.monotonic()
        process = spawn.Process(target=child, args=(count, sender))
        process.start()
        receiver.recv()
        print(f"spawn {time.monotonic() - started}", flush=True)
        process.join()


if __name__ == "__main__":
    main()
