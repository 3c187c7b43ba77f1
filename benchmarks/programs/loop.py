"""The program the latency, stall and heap workloads run under each reloader.

    <reloader> loop.py MODULE HEAP_OBJECTS PROBE [sleep]

PROBE is 0, 1 (also report probe() lines) or "registry" (call
MODULE.REGISTRY["target"]() instead of MODULE.target(): a function only a registry
holds). With "sleep", each iteration sleeps SLEEP seconds first: a program that
mostly waits (the GIL is free), instead of a busy one.

It builds HEAP_OBJECTS gc-tracked objects (kept alive to the end), imports MODULE
(a watched file in the current directory), then calls MODULE.target() in a tight
loop forever. It reports on stdout, one line each, with CLOCK_MONOTONIC timestamps
(the same clock in every process on the machine, so the harness can subtract its
own write times from them):

    refs T SECONDS      (HEAP_OBJECTS > 0) median time of one gc.get_referrers()
                        call at this heap size: the cost of a full-heap referrer
                        search, the original's way to find a code object's functions
    ready T OBJECTS     the loop starts; OBJECTS = gc-tracked objects at that point
    ans T VALUE         target() returned a value different from the previous one
    line T LINE         (PROBE=1) the line MODULE.probe() raises from changed
    gap T SECONDS       one loop iteration took longer than GAP_THRESHOLD: the
                        main loop was stalled (by the reloader, or the GIL)

The harness ends it with SIGTERM.
"""

import gc
import importlib
import os
import sys
import time

GAP_THRESHOLD = 0.001
SLEEP = 0.0001

clock = time.monotonic  # CLOCK_MONOTONIC on Linux, as the harness uses


class Item:
    def __init__(self, index):
        self.index = index
        self.label = "item"


def build_heap(count):
    """About `count` gc-tracked objects: a third each of lists, instances and dicts
    (each dict holds an instance, so that CPython tracks it)."""
    third = count // 3
    items = [Item(i) for i in range(count - 2 * third)]
    lists = [[i] for i in range(third)]
    dicts = [{"item": items[i % len(items)]} for i in range(third)] if items else []
    return items, lists, dicts


def referrer_search_seconds(code):
    times = []
    for _ in range(3):
        start = time.perf_counter()
        gc.get_referrers(code)
        times.append(time.perf_counter() - start)
    return sorted(times)[1]


def probe_line(module):
    try:
        module.probe()
    except Exception as error:
        tb = error.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        return tb.tb_lineno
    return -1


def emit(text):
    # os.write: unbuffered, one line per call, safe while the reloader prints too.
    os.write(1, (text + "\n").encode())


def main():
    name, heap_objects, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    probing = mode == "1"
    sleeping = sys.argv[4:] == ["sleep"]
    heap = build_heap(heap_objects)  # noqa: F841 (kept alive on purpose)
    module = importlib.import_module(name)
    if mode == "registry":
        def target():
            return module.REGISTRY["target"]()
    else:
        def target():
            return module.target()
    objects = len(gc.get_objects())
    if heap_objects:
        held = module.REGISTRY["target"] if mode == "registry" else module.target
        emit(f"refs {clock()} {referrer_search_seconds(held.__code__)}")
    value = line = None
    emit(f"ready {clock()} {objects}")
    previous = clock()
    while True:
        if sleeping:
            time.sleep(SLEEP)
        answer = target()
        now = clock()
        wrote = False
        if now - previous > GAP_THRESHOLD:
            emit(f"gap {now} {now - previous}")
            wrote = True
        if answer != value:
            value = answer
            emit(f"ans {now} {answer}")
            wrote = True
        if probing:
            current = probe_line(module)
            if current != line:
                line = current
                emit(f"line {now} {current}")
                wrote = True
        # Time spent reporting is ours, not a stall of the program.
        previous = clock() if wrote else now


if __name__ == "__main__":
    main()
