"""`jurigged --explain OLD NEW`: what saving NEW over OLD would do to a live module,
printed without running or importing anything.

One line per entry of the real planner's plan (the `FilePlan` a save makes), in the
order the patcher takes them: what goes into the one commit that other threads see
as a single step, then what runs after it. The planner reads the module through a
`DefinitionsView`: OLD's compiled functions and classes, made without running any of
OLD (no statement, decorator or default; classes made by `type`), so what depends on
the running program (a class's metaclass, which branch ran) is not known here and a
step may still turn out to be a no-op or be applied after the commit.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from typing import List, TextIO

from .liveobjects import DefinitionsView
from .parsing import parse_source
from .patcher import SourceFile

_views = itertools.count()


@dataclass
class PlannedStep:
    """One thing a save would do, in the words `--explain` prints."""

    line: int          # in NEW (in OLD for a deletion)
    verb: str          # update, add, delete, re-create, re-run, move
    what: str          # the qualified name, or the statement's first line
    at_commit: bool    # published in the batch's one commit (else run after it)
    why: str = ""


class Refused(Exception):
    """The planner refused the save (it said why on stderr)."""


_WORDS = {"update": "update", "update later": "update", "add": "add", "delete": "delete",
          "replace": "re-create", "run": "re-run"}


def explain(old: bytes, new: bytes, path: str) -> List[PlannedStep]:
    """The steps saving `new` over `old` would take (SyntaxError if either is not
    valid Python, Refused if the planner refuses it)."""
    parse_source(old, path)
    parse_source(new, path)
    compile(new, path, "exec", dont_inherit=True)  # refused as a whole, as when saved
    name = f"<explain {next(_views)}>"
    file = SourceFile(path, name, old, module=DefinitionsView(name, old, path))
    if old == new:
        return []
    patch = file.stage(new)
    if patch is None:
        raise Refused(path)
    steps = [_step(entry) for entry in patch.plan.entries(patch.context.new_lines)]
    return sorted(steps, key=lambda s: not s.at_commit)


def _step(entry) -> PlannedStep:
    verb = _WORDS[entry.verb]
    why = entry.reason
    if verb == "update" and why == "line numbers only":
        verb = "move"
    elif entry.verb == "add" and not entry.at_commit:
        why = why or "after a re-run statement of the file"
    elif entry.verb == "replace" and entry.kind != "class" and why == "its decorators changed":
        why = "decorators changed; old references forwarded to it"
    return PlannedStep(entry.line, verb, entry.what, entry.at_commit, why)


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
    except Refused:
        print(f"{new_path}: this save would be refused", file=err)
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
