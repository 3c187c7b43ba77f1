"""The program the start-up and idle workloads run under each reloader (and plain).

    <reloader or python> importer.py COUNT MODE

Imports pkg.m000 .. pkg.m{COUNT-1} (a generated package in the current directory,
so every module is watched). MODE "exit" reports its peak RSS ("peak T KB") and
ends: the harness times the whole process. MODE "idle" prints "ready T" and then
sleeps until SIGTERM, answering each SIGUSR1 with "cpu T SECONDS" (its CPU time so
far), so the harness can tell the CPU time the watching process spends with
nothing to do.
"""

import importlib
import os
import signal
import sys
import time


def report_cpu(signum, frame):
    # CPU time of the whole process (every thread), read from inside: on this VM's
    # kernel, /proc/PID/stat read by another process missed short wake-ups entirely.
    os.write(1, f"cpu {time.monotonic()} {time.process_time()}\n".encode())


def main():
    count, mode = int(sys.argv[1]), sys.argv[2]
    for index in range(count):
        importlib.import_module(f"pkg.m{index:03d}")
    if mode == "exit":
        # Our own peak RSS (VmHWM): the harness cannot get it right from wait4.
        with open("/proc/self/status") as status:
            peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
        os.write(1, f"peak {time.monotonic()} {peak}\n".encode())
    if mode == "idle":
        signal.signal(signal.SIGUSR1, report_cpu)
        os.write(1, f"ready {time.monotonic()}\n".encode())
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
