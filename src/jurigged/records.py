# The typed records a save is planned and applied with (swaps, steps, the commit's
# parts, failed steps kept for retry), and the node kinds they are about.

from __future__ import annotations

import types
import dataclasses
from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, List, Optional, Set, Tuple


FUNCTION_KINDS = ("function", "async function")
_TRANSIENT = ("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>")
DEFINITION_KINDS = FUNCTION_KINDS + ("class",)
_KEEP = "__jurigged_keep__"  # stands in for decorators when only the bare function is wanted
# Why a definition is re-created, when its header or decorators changed (a class whose
# metaclass or decorator makes it again says its own reason).
REASON_HEADER = "its header changed"
REASON_DECORATORS = "its decorators changed"


def scope_of(nodes, index: int) -> int:
    """The module, class or function whose namespace node `index` is bound in."""
    parent = nodes[index].parent
    while parent > 0 and nodes[parent].kind == "block":
        parent = nodes[parent].parent
    return parent


class PatchError(Exception):
    """A save that cannot be applied at all (nothing was changed)."""

    def __init__(self, message: str, line: int = 0, cause: Optional[BaseException] = None):
        super().__init__(message)
        self.line = line
        self.cause = cause


@dataclass
class Pending:
    """A step of an applied save that failed (a statement, an added definition, a
    deferred signature update): retried on every later save until it succeeds or its
    text changes, so the live module ends up as a fresh import of the file."""

    index: int                 # its node in the file's current tree
    verb: str                  # "run", "add", "update" or "replace"
    error: BaseException
    action: Optional[Callable[[], None]] = None  # "replace": the step, as prepared
    old_code: Optional[types.CodeType] = None  # "update": what the functions still run
    reported: str = ""         # the error text last shown, so a retry repeats no news
    failed_at: int = 0         # Progress.count when it last failed


@dataclass(frozen=True)
class Signature:
    """A new definition's values that live outside its code, evaluated where Python
    evaluates them (the enclosing scope, at definition time)."""

    defaults: Optional[tuple]
    kwdefaults: Optional[dict]
    annotations: dict


@dataclass(frozen=True)
class Swap:
    """An existing function (and its existing closures) given the new code in place."""

    old: object                    # its node in the old tree
    new: object                    # and in the new tree
    code: types.CodeType           # the new code
    old_code: types.CodeType       # what the live functions run now
    functions: list                # the live functions to update
    conformers: list               # objects told through `__conform__` instead
    log: bool                      # worth an "Update" line (more than a move)
    closures: bool                 # closures made before get their new code too
    signature: Optional[Signature] = None  # None: keep defaults and annotations
    deferred: Optional[types.CodeType] = None  # the context compile, when its signature
                                               # waits for statements of the save


@dataclass
class Prebuilt:
    """What a step of a save publishes in the batch's one commit (its bindings and
    trampolines), and what it does once they are live (log, index, hooks)."""

    bindings: list = dataclasses.field(default_factory=list)
    updates: list = dataclasses.field(default_factory=list)
    finish: Callable[[], None] = lambda: None
    unbound: List[Tuple[dict, object]] = dataclasses.field(default_factory=list)
    # (class, "__bases__", bases) bindings, which CPython may still refuse (see
    # commit._commit_when_unused).
    new_bases: list = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class Making:
    """What making a definition or running a statement reads, when that calls nothing
    (see inert.py); for a class, the names of its bases too."""

    reads: FrozenSet[str]
    bases: Tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Step:
    """A step of a save after the swaps: define, delete, re-create or run a node. Plain
    data: the commit (commit.py) builds the steps it can, the rest run live (apply.py),
    each by its verb and node kind."""

    index: int                     # its node in the new tree, -1 for a deletion
    node: object                   # that node (in the old tree for a deletion)
    verb: str                      # "add", "delete", "replace", "update" or "run"
    code: Optional[types.CodeType] = None  # its context compile, if it has one
    reason: str = ""               # why it is needed, when the verb does not say
    old: object = None             # "replace", "run": the node in the old tree
    origin: Optional[Tuple[int, int]] = None  # "run": the statement's lines at import
    attribute: str = ""            # "delete" of a class-body assignment: the attribute
    swap: Optional[Swap] = None    # "update": the swap waiting for its signature
    buildable: bool = False        # can be built for the commit, binding nothing
    making: Optional[Making] = None  # None: making it may run code (see inert.py)


@dataclass
class CommitPart:
    """One file's share of a batch's commit."""

    updates: list = dataclasses.field(default_factory=list)
    bindings: list = dataclasses.field(default_factory=list)
    finishers: List[Callable[[], None]] = dataclasses.field(default_factory=list)
    # (module namespace, name) of the names it unbinds, for `_commit_when_unused`.
    unbound: List[Tuple[dict, object]] = dataclasses.field(default_factory=list)
    new_bases: list = dataclasses.field(default_factory=list)  # see Prebuilt


@dataclass
class SaveOutcome:
    """What applying a save leaves, filled in by its commit and its live steps: the
    file's new code map and statement lines (the next save's baseline), the classes to
    refresh, the failures to retry."""

    codes: Dict[Tuple[str, int], types.CodeType]   # (qualname, line) -> live code
    origins: Dict[int, Tuple[int, int]]            # module-level node -> lines at import
    touched_classes: Set[int]      # new class nodes whose body changed live
    replaced: Set[int] = dataclasses.field(default_factory=set)  # classes made again
    prebuilt: Set[int] = dataclasses.field(default_factory=set)  # ids of committed steps
    failures: List[Pending] = dataclasses.field(default_factory=list)
    # Swaps left out of the commit, by the id of the live step they wait for (their
    # new code calls the definition that step makes): see Committer._waiting_swaps.
    waiting_swaps: Dict[int, List["Swap"]] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, plan: "FilePlan") -> "SaveOutcome":
        return cls(dict(plan.carried_codes), dict(plan.carried_origins),
                   set(plan.touched_classes))


class Progress:
    """Counts what changed the live program (batches, steps run): a failed step is
    worth retrying only once something happened after it failed (a retry right away
    would repeat its side effects for nothing)."""

    count = 0

    @classmethod
    def tick(cls) -> None:
        cls.count += 1


STATEMENT_VERBS = ("run",)  # the steps that run statements; every other step binds names


@dataclass(frozen=True)
class PlanEntry:
    """One thing a save would do, as shown and tested: `verb` is "update" (a swap in
    place), "add", "delete", "replace" (re-created), "run" (a statement re-run) or
    "update later" (a swap whose signature waits for a statement of the save)."""

    verb: str
    kind: str                      # the node's kind: function, class, statement, block...
    what: str                      # its qualified name, or the statement's first line
    line: int                      # in the new text (in the old one for a deletion)
    code: Optional[types.CodeType]  # compiled in context (None: a deletion)
    at_commit: bool                # published in the batch's one commit (else after it)
    reason: str = ""


@dataclass(frozen=True)
class FilePlan:
    """What saving one file does, decided before anything live changes: the swaps of
    existing functions and the steps after them, in file order, with the earlier
    failures it keeps for retry. The commit (commit.py) and the live steps
    (apply.py) perform it; building it binds and runs nothing in the module."""

    path: str
    swaps: Tuple[Swap, ...]
    steps: Tuple[Step, ...]
    carried_pending: Tuple[Pending, ...] = ()
    changed_names: FrozenSet[str] = frozenset()
    nodes: object = dataclasses.field(default=None, compare=False, repr=False)  # new tree
    # What the save keeps of the file's unchanged code: the live code of functions by
    # (qualname, line), and the import-time lines of module-level statements by node.
    carried_codes: Dict[Tuple[str, int], types.CodeType] = dataclasses.field(
        default_factory=dict, compare=False, repr=False)
    carried_origins: Dict[int, Tuple[int, int]] = dataclasses.field(
        default_factory=dict, compare=False, repr=False)
    touched_classes: FrozenSet[int] = frozenset()  # new classes whose fields may change

    def by_verb(self, verb: str) -> Tuple[Step, ...]:
        return tuple(step for step in self.steps if step.verb == verb)

    @property
    def definitions(self) -> Tuple[Step, ...]:
        return self.by_verb("add")

    @property
    def deletions(self) -> Tuple[Step, ...]:
        return self.by_verb("delete")

    @property
    def statements(self) -> Tuple[Step, ...]:
        return self.by_verb("run")

    @property
    def recreated(self) -> Tuple[Step, ...]:
        return self.by_verb("replace")

    @property
    def deferred_updates(self) -> Tuple[Step, ...]:
        return self.by_verb("update")

    def covered(self, step: Step) -> bool:
        """Whether the step is inside a class the plan re-creates whole (applying
        skips it once the class is made again from the new text)."""
        if step.index < 0 or self.nodes is None:
            return False
        recreated = {s.index for s in self.recreated if s.node.kind == "class"}
        parent = step.node.parent
        while parent > 0:
            if parent in recreated:
                return True
            parent = self.nodes[parent].parent
        return False

    def expected_at_commit(self) -> List[bool]:
        """For each step, whether the commit takes it (inert.CommitRule, read without
        building anything): deletions, the definitions and plain assignments at the
        head of the file, and past it the definitions made without running code that
        the live steps before them cannot see. A statement made only of imports may
        still be resolved into the commit."""
        from .inert import CommitRule

        rule, found = CommitRule(), []
        for step in self.steps:
            expected = rule.offers(step) and (step.verb not in STATEMENT_VERBS
                                              or step.making is not None)
            if not expected:
                rule.ran_live(step)
            found.append(expected)
        return found

    def entries(self, lines: List[str]) -> Tuple[PlanEntry, ...]:
        """Every swap, then every step not covered by a re-created class, as typed
        entries (`lines`: the new text, for naming statements)."""
        from .inert import waiting_swaps

        expected = self.expected_at_commit()
        live = [step for step, at_commit in zip(self.steps, expected)
                if not at_commit and step.index >= 0 and self.nodes is not None
                and scope_of(self.nodes, step.index) == 0]
        waiting = {id(swap): step.node.name for step in live
                   for swap in waiting_swaps(self.swaps, live).get(id(step), ())}
        found = [PlanEntry("update", swap.new.kind, swap.new.qualname, swap.new.line,
                           swap.code, id(swap) not in waiting,
                           f"waits for {waiting[id(swap)]}, made after the commit"
                           if id(swap) in waiting else "" if swap.log else "line numbers only")
                 for swap in self.swaps]
        for step, at_commit in zip(self.steps, expected):
            if self.covered(step):
                continue
            node = step.node
            what = node.qualname or (lines[node.line - 1].strip()
                                     if 0 < node.line <= len(lines) else "")
            verb = "update later" if step.verb == "update" else step.verb
            found.append(PlanEntry(verb, node.kind, what, node.line, step.code, at_commit,
                                   step.reason))
        return tuple(found)
