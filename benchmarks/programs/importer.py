"""The program the start-up and idle workloads run under each reloader (and plain).

    <reloader or python> importer.py COUNT MODE

Imports pkg.m000 .. pkg.m{COUNT-1} (a generated package in the current directory,
so every module is watched). MODE "exit" ends right away: the harness times the
whole process. MODE "idle" prints "ready T" and then sleeps until SIGTERM, so the
harness can read the CPU time the watching process spends with nothing to do.
"""

import importlib
import os
import sys
import time


def main():
    count, mode = int(sys.argv[1]), sys.argv[2]
    for index in range(count):
        importlib.import_module(f"pkg.m{index:03d}")
    if mode == "idle":
        os.write(1, f"ready {time.monotonic()}\n".encode())
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
