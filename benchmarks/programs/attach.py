"""The program of the attach workload: start watching inside a program that already
holds a large heap, as `jurigged.watch()` called by a long-running program does.

    python attach.py HEAP_OBJECTS

Builds HEAP_OBJECTS gc-tracked objects (as programs/loop.py does), then imports
jurigged and calls jurigged.watch(debounce=0.05), and reports on stdout:

    attached T SECONDS OBJECTS   time of `import jurigged` + `watch()`; OBJECTS =
                                 gc-tracked objects before the import

then sleeps until SIGTERM.
"""

import gc
import os
import sys
import time

from loop import build_heap


def main():
    heap = build_heap(int(sys.argv[1]))  # noqa: F841 (kept alive on purpose)
    objects = len(gc.get_objects())
    start = time.perf_counter()
    import jurigged

    jurigged.watch(debounce=0.05)
    elapsed = time.perf_counter() - start
    os.write(1, f"attached {time.monotonic()} {elapsed} {objects}\n".encode())
    while True:  # until SIGTERM: the harness reads the peak RSS of a live process
        time.sleep(3600)


if __name__ == "__main__":
    main()
