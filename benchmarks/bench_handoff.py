"""The native watcher's hand-off alone: from the end of a save (close() returned, or
rename() into place) to a Python thread holding the batch, with no patching. A thread
waits in `_core.Watcher.wait` as live.py's does; this process saves a file of LINES
lines (one line changed each time) every PAUSE seconds, so each save finds the waiting
thread idle as a real one does.

    python benchmarks/bench_handoff.py [LINES] [SAVES] [rename] [--pause SECONDS]

Prints the median and p90 of the hand-off (ms): the kernel's event, the native
threads, the read and hash of the file, the wake-up and the GIL take.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time

from jurigged import _core


def measure(lines: int, saves: int, rename: bool, pause: float):
    folder = tempfile.mkdtemp(prefix="jurigged-handoff-")
    path = os.path.join(folder, "target.py")
    body = "".join(f"x{k} = {k}\n" for k in range(lines))
    with open(path, "w") as handle:
        handle.write(body)
    watcher = _core.Watcher()
    with open(path, "rb") as handle:
        watcher.add(path, handle.read())
    arrived = []
    done = threading.Event()

    def wait_loop():
        while not done.is_set():
            events = watcher.wait(-1)
            if events:
                arrived.append(time.monotonic())

    thread = threading.Thread(target=wait_loop, daemon=True)
    thread.start()
    time.sleep(0.3)  # the added-file check
    arrived.clear()
    latencies = []
    for number in range(saves):
        text = f"value = {number}\n" + body
        written = _save(path, text, rename)
        deadline = time.monotonic() + 5
        while len(arrived) <= number and time.monotonic() < deadline:
            time.sleep(0.0005)
        if len(arrived) > number:
            latencies.append(arrived[number] - written)
        else:
            arrived.append(float("nan"))
        time.sleep(pause)
    done.set()
    watcher.close()
    thread.join(2)
    return latencies


def _save(path: str, text: str, rename: bool) -> float:
    target = path + ".~save" if rename else path
    with open(target, "w") as handle:
        handle.write(text)
    if rename:
        os.replace(target, path)
    return time.monotonic()


def _summary(values) -> str:
    values = sorted(values)
    if not values:
        return "none"
    median = values[len(values) // 2]
    p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
    return f"median {median * 1000:.3f} ms, p90 {p90 * 1000:.3f} ms (n={len(values)})"


def main() -> None:
    args = sys.argv[1:]
    pause = 0.02
    if "--pause" in args:
        at = args.index("--pause")
        pause = float(args[at + 1])
        del args[at:at + 2]
    rename = "rename" in args
    numbers = [int(a) for a in args if a.isdigit()]
    lines = numbers[0] if numbers else 50
    saves = numbers[1] if len(numbers) > 1 else 100
    print(f"{lines} lines, {saves} saves, {'rename' if rename else 'in place'}, "
          f"pause {pause * 1000:.0f} ms")
    print("  hand-off:", _summary(measure(lines, saves, rename, pause)))


if __name__ == "__main__":
    main()
