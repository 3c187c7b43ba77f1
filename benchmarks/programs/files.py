"""The program of the watched-files workloads: many watched modules, a few of them
edited, under each reloader.

    <reloader or python> files.py COUNT EDITED

Imports pkg.m0000 .. pkg.m{COUNT-1} (a generated package in the current directory,
so every module is watched), then calls target() of the first EDITED of them in a
loop, sleeping 0.1 ms between rounds (the GIL is free, as in a program that mostly
waits). It reports on stdout, with CLOCK_MONOTONIC timestamps:

    ready T             the imports are done, the loop starts
    ans T VALUE         every one of the EDITED modules' target() returns VALUE,
                        and the previous round's answers were not all VALUE

so after a save of EDITED files, "ans" comes once the last of them is live.
The harness ends it with SIGTERM.
"""

import importlib
import os
import sys
import time

SLEEP = 0.0001

clock = time.monotonic


def emit(text):
    os.write(1, (text + "\n").encode())


def main():
    count, edited = int(sys.argv[1]), int(sys.argv[2])
    modules = [importlib.import_module(f"pkg.m{index:04d}") for index in range(count)]
    watched = modules[:edited]
    emit(f"ready {clock()} {count}")
    agreed = None
    while True:
        time.sleep(SLEEP)
        answers = {module.target() for module in watched}
        now = clock()
        if len(answers) == 1:
            (answer,) = answers
            if answer != agreed:
                agreed = answer
                emit(f"ans {now} {answer}")
        else:
            agreed = None


if __name__ == "__main__":
    main()
