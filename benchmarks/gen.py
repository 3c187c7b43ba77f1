"""Generated Python source for the benchmark workloads.

Every module is deterministic (the same text on every run and for both tools) and
looks like ordinary application code: functions with loops and branches, classes
with methods, docstrings and comments, so that parsing and diffing costs are
representative rather than those of a file of one-line stubs.

Each edit the harness makes keeps the line count of the edited function unchanged
(only a returned constant changes), so a "one-function edit" moves no other
definition; only the explicit insertion workload moves lines.
"""

from __future__ import annotations

from typing import List, Tuple

TARGET_MARK = "# <target>"


def _function(name: str, seed: int) -> List[str]:
    """A 10-line top-level function."""
    return [
        f"def {name}(items, scale={seed % 7 + 1}):",
        f'    """Sum of the items of {name} above a threshold, scaled."""',
        "    total = 0",
        "    for position, item in enumerate(items):",
        f"        if item > {seed % 13} and position % {seed % 3 + 2}:",
        "            total += item * scale",
        "        else:",
        "            total -= position",
        f"    return {{'name': '{name}', 'total': total, 'seed': {seed}}}",
        "",
    ]


def _class(name: str, seed: int, methods: int = 4) -> List[str]:
    """A class with an __init__ and `methods` small methods (6 + 5 * methods lines)."""
    lines = [
        f"class {name}:",
        f'    """Record type {name}."""',
        "",
        "    def __init__(self, value):",
        "        self.value = value",
        "",
    ]
    for m in range(methods):
        lines += [
            f"    def step_{m}(self, delta={m}):",
            f"        # keeps value within bounds {seed}..{seed + 100}",
            f"        self.value = min(max(self.value + delta, {seed}), {seed + 100})",
            "        return self.value",
            "",
        ]
    return lines


def _target(value: int) -> List[str]:
    return [
        f"def target():  {TARGET_MARK}",
        '    """The function the benchmark edits; its answer tells which version runs."""',
        f"    return {value}",
        "",
    ]


def _probe() -> List[str]:
    # Raising on its own line lets the program read the line number its code object
    # reports, which changes only once the reloader has fixed up moved functions.
    return [
        "class ProbeError(Exception):",
        "    pass",
        "",
        "def probe():",
        "    raise ProbeError()",
        "",
    ]


def module(lines: int, value: int = 0, probe: bool = False) -> str:
    """A module of about `lines` lines (at least the target) with `target()` in the
    middle returning `value`, optionally ending with a line-number probe."""
    head = ['"""Generated benchmark module."""', "", "import math", ""]
    body: List[str] = []
    seed = 0
    budget = max(lines - len(head) - len(_target(0)) - (len(_probe()) if probe else 0), 0)
    while True:
        piece = _class(f"Record{seed}", seed) if seed % 3 == 2 else _function(f"func_{seed}", seed)
        if len(body) + len(piece) > budget:
            piece = _function(f"func_{seed}", seed)
            if len(body) + len(piece) > budget:
                break
        body += piece
        seed += 1
    while len(body) < budget:
        body.append(f"CONSTANT_{len(body)} = {len(body)}")
    middle = _definition_boundary(body, len(body) // 2)
    text = head + body[:middle] + _target(value) + body[middle:]
    if probe:
        text += _probe()
    return "\n".join(text) + "\n"


def function_module(functions: int, value: int = 0) -> str:
    """A module of exactly `functions` top-level functions (the target among them,
    in the middle), followed by the probe: the heap workload's 200-function module."""
    body: List[str] = []
    for i in range(functions - 1):
        if i == functions // 2:
            body += _target(value)
        body += _function(f"func_{i}", i)
    return "\n".join(['"""Generated benchmark module."""', ""] + body + _probe()) + "\n"


def registry_module(functions: int, value: int = 0) -> str:
    """The 200-function module with its target held only by a registry: the decorator
    stores it in REGISTRY and returns None, so no namespace leads to it (the heap
    search's workload)."""
    text = function_module(functions, value)
    registry = ["REGISTRY = {}", "", "def register(function):",
                "    REGISTRY[function.__name__] = function", "    return None", ""]
    first, rest = text.split("\n", 1)
    rest = rest.replace(f"def target():  {TARGET_MARK}",
                        f"@register\ndef target():  {TARGET_MARK}")
    return "\n".join([first] + registry) + "\n" + rest


def _definition_boundary(body: List[str], near: int) -> int:
    for index in range(near, len(body)):
        if body[index].startswith(("def ", "class ")):
            return index
    return len(body)


def set_target(text: str, value: int) -> str:
    """The same text with target() returning `value` (no line moves)."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.endswith(TARGET_MARK):
            lines[index + 2] = f"    return {value}"
            return "\n".join(lines)
    raise ValueError("no target in this module")


def insert_top(text: str, count: int) -> str:
    """The text with a comment line inserted under the docstring: it changes no
    behaviour but moves every definition one line down."""
    first, rest = text.split("\n", 1)
    return f"{first}\n# inserted line {count}\n{rest}"


def package(modules: int, lines_each: int = 60) -> List[Tuple[str, str]]:
    """(relative path, text) for a package `pkg` of `modules` modules."""
    files = [("pkg/__init__.py", '"""Generated benchmark package."""\n')]
    for i in range(modules):
        files.append((f"pkg/m{i:03d}.py", module(lines_each, value=i)))
    return files


def flat_package(modules: int, lines_each: int = 20) -> List[Tuple[str, str]]:
    """(relative path, text) for a package `pkg` of `modules` small modules named
    m0000.., every target() returning 0: the watched-files workloads' package."""
    files = [("pkg/__init__.py", '"""Generated benchmark package."""\n')]
    for i in range(modules):
        files.append((f"pkg/m{i:04d}.py", module(lines_each, value=0)))
    return files
