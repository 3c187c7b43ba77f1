"""Where the time of one save goes: each stage of a one-function save of a generated
module, timed in one process running our jurigged (no watcher, no reloader thread).

    <ours' python> benchmarks/stages.py LINES EDITS

Prints one line per stage, "stage SECONDS gil" (median over EDITS saves), where gil
is "held" or "released" (the stage runs without the GIL: a program's threads go on).
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import gen  # noqa: E402


def main() -> None:
    lines, edits = int(sys.argv[1]), int(sys.argv[2])
    from jurigged import patcher
    from jurigged.context import SaveContext
    from jurigged.parsing import SourceLines, parse_source
    from jurigged.patch import Patch
    from jurigged.plan import Planner

    folder = tempfile.mkdtemp(prefix="jurigged-stages-")
    text = gen.module(lines, value=0)
    path = os.path.join(folder, "stages_target.py")
    with open(path, "w") as handle:
        handle.write(text)
    sys.path.insert(0, folder)
    module = importlib.import_module("stages_target")
    file = patcher.SourceFile(path, module.__name__, text.encode(), module)
    file._ensure_baseline()
    stages = {}

    def timed(name, gil, action):
        start = time.perf_counter()
        result = action()
        stages.setdefault((name, gil), []).append(time.perf_counter() - start)
        return result

    for value in range(1, edits + 1):
        source = gen.set_target(text, value).encode()
        timed("read the file (in the watcher thread)", "released",
              lambda: open(path, "rb").read())
        tree = timed("parse + diff (C++)", "released",
                     lambda: parse_source(source, path, against=file.tree))
        new_lines = timed("decode + line starts", "held", lambda: SourceLines(source, tree))
        planner = timed("plan: changed entries to Python", "held",
                        lambda: Planner(SaveContext(file, tree, new_lines)))
        timed("plan: validate", "held", lambda: planner.validate_whole_file(source))
        plan = timed("plan: prepare (compile one function)", "held", planner.prepare)
        patch = Patch(planner.context, plan)
        timed("commit (the swap)", "held", lambda: patch.committer.finish(
            patcher._commit_batch([(file, source, patch)])[id(file)]))
        timed("adopt the new tree", "held", lambda: file.adopt(patch, source))
        timed("run steps", "held", lambda: (patch.live.run_steps(True),
                                            patch.live.run_steps(False),
                                            patch.live.refresh_classes()))
        del patch, planner, plan, tree
        assert module.target() == value
    for (name, gil), values in stages.items():
        values.sort()
        print(f"{values[len(values) // 2]:.9f} {gil} {name}")


if __name__ == "__main__":
    main()
