"""C++ source model against ast.parse: the whole stdlib, and a 10,000-line file after a
one-function edit (parse + diff, whole-file and incremental, against ast.parse). Prints
times and ratios.

Run: python benchmarks/bench_source_model.py [--repeat N]
"""
import argparse
import ast
import os
import sysconfig
import time
import warnings

from jurigged import _core


def stdlib_sources():
    root = sysconfig.get_paths()["stdlib"]
    sources = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d != "site-packages")
        for name in sorted(files):
            if name.endswith(".py"):
                with open(os.path.join(directory, name), "rb") as f:
                    sources.append(f.read())
    return sources


def best_of(repeat, work):
    """Best CPU time of this process: the machine may be shared, wall time is noisier."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def parse_all(parse, sources):
    def work():
        for source in sources:
            try:
                parse(source)
            except (SyntaxError, ValueError):
                pass
    return work


def big_file(functions=1200):
    """About 10 lines per function: a 10,000-line module of classes and functions."""
    parts = ["import os\n\n"]
    for i in range(functions):
        if i % 10 == 0:
            parts.append(f"\nclass Group{i}:\n    '''Holds a few methods.'''\n\n")
        parts.append(f"    def method_{i}(self, a, b={i}):\n"
                     f"        # combine the arguments\n"
                     f"        total = a + b * {i}\n"
                     f"        if total > {i}:\n"
                     f"            return total - 1\n"
                     f"        values = [x for x in range(total)]\n"
                     f"        return sum(values)\n\n")
    return "".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    sources = stdlib_sources()
    size = sum(map(len, sources)) / 1e6
    model = best_of(args.repeat, parse_all(_core.parse, sources))
    reference = best_of(args.repeat, parse_all(ast.parse, sources))
    print(f"stdlib: {len(sources)} files, {size:.1f} MB")
    print(f"  model parse   {model * 1000:9.1f} ms  ({size / model:.0f} MB/s)")
    print(f"  ast.parse     {reference * 1000:9.1f} ms")
    print(f"  ratio         {reference / model:9.1f}x")

    old_text = big_file()
    new_text = old_text.replace("total = a + b * 500\n", "total = a - b * 500\n")
    assert new_text != old_text
    old_source, new_source = old_text.encode(), new_text.encode()
    lines = old_text.count("\n")
    old_tree = _core.parse(old_source)

    def edit_cycle():
        plan = _core.diff(old_tree, _core.parse(new_source))
        changed = [entry for entry in plan if entry[0]]
        assert changed, "the edit must show up in the plan"

    def incremental_cycle():
        # what a save does: parse against the running tree, then the changed entries
        changes = _core.changes(old_tree, _core.parse(new_source, against=old_tree))
        assert changes.entries, "the edit must show up in the changes"

    model = best_of(args.repeat * 3, edit_cycle)
    incremental = best_of(args.repeat * 3, incremental_cycle)
    reference = best_of(args.repeat * 3, lambda: ast.parse(new_source))
    print(f"{lines}-line file, one function edited:")
    print(f"  model parse+diff {model * 1000:7.2f} ms  (whole file)")
    print(f"  model against    {incremental * 1000:7.2f} ms  (parse(against=old) + changes)")
    print(f"  ast.parse        {reference * 1000:7.2f} ms")
    print(f"  ratio            {reference / model:7.1f}x whole file, {reference / incremental:.1f}x against")


if __name__ == "__main__":
    main()
