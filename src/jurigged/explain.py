"""`jurigged --explain OLD NEW`: what saving NEW over OLD would do to a live module,
printed without running or importing anything.

One line per step, in the order the patcher takes them: what goes into the one
commit that other threads see as a single step, then what runs after it. The plan
is read from the source model's diff (as the patcher reads it); what depends on the
live program (which functions exist, a class's metaclass) is not known here, so a
step may still turn out to be a no-op or be applied after the commit.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import List, TextIO

from . import _core
from .parsing import parse_source, source_lines

_FUNCTION_KINDS = ("function", "async function")
_DEFINITION_KINDS = _FUNCTION_KINDS + ("class",)


@dataclass
class PlannedStep:
    """One thing a save would do."""

    line: int          # in NEW (in OLD for a deletion)
    verb: str          # update, add, delete, re-create, re-run, move
    what: str          # the qualified name, or the statement's first line
    at_commit: bool    # published in the batch's one commit (else run after it)
    why: str = ""


def explain(old: bytes, new: bytes, path: str) -> List[PlannedStep]:
    """The steps saving `new` over `old` would take (SyntaxError if either is not
    valid Python)."""
    old_tree, new_tree = parse_source(old, path), parse_source(new, path)
    old_nodes, new_nodes = list(old_tree.nodes), list(new_tree.nodes)
    new_lines = source_lines(new)
    compile(new, path, "exec", dont_inherit=True)  # refused as a whole, as when saved
    steps: List[PlannedStep] = []
    statement_seen = False  # after a re-run statement, definitions wait for it
    for change, old_index, new_index in _core.diff(old_tree, new_tree):
        node = new_nodes[new_index] if new_index >= 0 else old_nodes[old_index]
        nodes = new_nodes if new_index >= 0 else old_nodes
        if node.kind == "module" or _in_function(nodes, node):
            continue  # part of its function's change
        step = _step(change, node, new_lines, statement_seen)
        if step is None:
            continue
        statement_seen = statement_seen or step.verb == "re-run"
        steps.append(step)
    return sorted(steps, key=lambda s: not s.at_commit)


def _step(change: int, node, new_lines: List[str], statement_seen: bool):
    text = node.qualname or (new_lines[node.line - 1].strip() if node.line <= len(new_lines)
                             else "")
    if change & _core.DELETED:
        if node.kind in _DEFINITION_KINDS:
            return PlannedStep(node.line, "delete", node.qualname, True)
        return None  # a statement's effects stay, as they would in the live program
    if change & _core.ADDED:
        if node.kind in _DEFINITION_KINDS:
            return PlannedStep(node.line, "add", node.qualname, not statement_seen,
                               "after a re-run statement of the file" if statement_seen
                               else "")
        return PlannedStep(node.line, "re-run", text, False)
    if node.kind in _FUNCTION_KINDS:
        if change & _core.DECORATORS_CHANGED:
            return PlannedStep(node.line, "re-create", node.qualname, False,
                               "decorators changed; old references forwarded to it")
        if change & (_core.BODY_CHANGED | _core.SIGNATURE_CHANGED):
            waits = statement_seen and bool(change & _core.SIGNATURE_CHANGED)
            return PlannedStep(node.line, "update", node.qualname, not waits,
                               "its defaults may need a re-run statement" if waits else "")
        if change & (_core.MOVED | _core.REFORMATTED):
            return PlannedStep(node.line, "move", node.qualname, True, "line numbers only")
        return None
    if node.kind == "class":
        if change & (_core.CLASS_HEADER_CHANGED | _core.DECORATORS_CHANGED):
            return PlannedStep(node.line, "re-create", node.qualname, False,
                               "its header or decorators changed")
        return None
    if change & _core.BODY_CHANGED or (node.kind == "block" and change & ~(
            _core.MOVED | _core.REFORMATTED)):
        return PlannedStep(node.line, "re-run", text, False)
    return None


def _in_function(nodes, node) -> bool:
    while node.parent > 0:
        node = nodes[node.parent]
        if node.kind in _FUNCTION_KINDS:
            return True
    return False


def run(paths: List[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Print the plan for saving paths[1] over paths[0]; 1 if either cannot be read."""
    old_path, new_path = paths
    try:
        with open(old_path, "rb") as f:
            old = f.read()
        with open(new_path, "rb") as f:
            new = f.read()
        steps = explain(old, new, new_path)
    except SyntaxError as error:
        print(f"{error.filename or new_path}:{error.lineno}: SyntaxError: {error.msg}; "
              f"this save would be refused", file=err)
        return 1
    except OSError as error:
        print(f"{error.filename}: {error.strerror or error}", file=err)
        return 1
    if not steps:
        print("nothing to do", file=out)
    for step in steps:
        when = "commit" if step.at_commit else "after "
        why = f"  ({step.why})" if step.why else ""
        where = old_path if step.verb == "delete" else new_path
        print(f"{when} {where}:{step.line}: {step.verb} {step.what}{why}", file=out)
    return 0
