# Planning a save: the diff's entries turned into swaps and steps (the typed records
# of records.py), each compiled in context. It reads the live module (to find the
# functions to update, and to evaluate new signatures in a captured scope) but binds
# nothing there: commit.py and apply.py do.

from __future__ import annotations

import types
import dataclasses
from typing import Dict, List, Optional, Set, Tuple

from . import _core, classes
from .context import SaveContext
from .inert import inert_making
from .locate import conformers_of
from .logs import logger
from .liveobjects import _conform_method, _kind_flags, runs_code
from .records import (
    DEFINITION_KINDS, FilePlan, FUNCTION_KINDS, PatchError, Pending, REASON_DECORATORS,
    REASON_HEADER, scope_of, Signature, STATEMENT_VERBS, Step, Swap,
)

# The longest definition or statement (in lines) whose making is checked for calls.
_LONGEST_INERT = 200


class _OldToNew:
    """Old node index -> new node index: the entries of the plan (which may re-pair
    nodes), then the diff's pairs of the unchanged ones."""

    def __init__(self, changes, plan):
        self._changes = changes
        self._planned = {o: n for _, o, n in plan if o >= 0 and n >= 0}

    def get(self, old: int, default=None):
        if old in self._planned:
            return self._planned[old]
        if old < 0:
            return default
        try:
            new = self._changes.new_index(old)
        except IndexError:
            return default
        return default if new < 0 else new

    def __getitem__(self, old: int) -> int:
        new = self.get(old)
        if new is None:
            raise KeyError(old)
        return new

    def __contains__(self, old: int) -> bool:
        return self.get(old) is not None


def _pair_same_named_by_position(plan, old_nodes, new_nodes) -> List[tuple]:
    """Same-named functions of one scope (`f` in both branches of an `if` or `try`)
    paired by position, not by similarity: with identical texts, similarity pairs
    the edited live branch with the other one, and the edit goes nowhere (or an edit
    of the branch that never ran goes to the live function). Only when no such
    function was added or deleted, so that positions correspond."""
    entries = [tuple(entry) for entry in plan]
    groups: Dict[tuple, List[int]] = {}
    for position in _crossing_functions(entries, new_nodes):
        _, old, new = entries[position]
        key = (scope_of(old_nodes, old), scope_of(new_nodes, new), new_nodes[new].name)
        groups.setdefault(key, []).append(position)
    for (old_scope, new_scope, name), positions in groups.items():
        if len(positions) < 2 or not (
                _named_in(old_nodes, old_scope, name) == len(positions)
                == _named_in(new_nodes, new_scope, name)):
            continue
        olds = sorted(entries[p][1] for p in positions)
        news = sorted(entries[p][2] for p in positions)
        for position, old, new in zip(sorted(positions, key=lambda p: entries[p][2]),
                                      olds, news):
            entries[position] = (_change_between(old_nodes[old], new_nodes[new]), old, new)
    return entries


def _crossing_functions(entries: List[tuple], new_nodes) -> List[int]:
    """Positions of matched, changed functions paired out of file order (an earlier
    new one with a later old one): only those can be mispaired twins. Cheap, as every
    save pays it: node names are slow to read, kinds are not."""
    matched = [(old, position) for position, (change, old, new) in enumerate(entries)
               if change and old >= 0 and new >= 0
               and new_nodes[new].kind in FUNCTION_KINDS]
    crossing = []
    highest = -1
    lowest_after = [0] * len(matched)
    lowest = len(entries) + len(new_nodes) + 1 if matched else 0
    for i in range(len(matched) - 1, -1, -1):
        lowest_after[i] = lowest
        lowest = min(lowest, matched[i][0])
    for i, (old, position) in enumerate(matched):
        if old < highest or old > lowest_after[i]:
            crossing.append(position)
        highest = max(highest, old)
    return crossing


def _named_in(nodes, scope: int, name: str) -> int:
    """How many functions named `name` are bound in `scope` (blocks included)."""
    count = 0
    for child in nodes[scope].children:
        node = nodes[child]
        if node.kind == "block":
            count += _named_in(nodes, child, name)
        elif node.kind in FUNCTION_KINDS and node.name == name:
            count += 1
    return count


def _change_between(old, new) -> int:
    """The diff's change bits for two definitions, from their hashes."""
    change = 0
    if old.decorators_hash != new.decorators_hash:
        change |= _core.DECORATORS_CHANGED
    if old.header_hash != new.header_hash:
        change |= _core.SIGNATURE_CHANGED
    if old.body_hash != new.body_hash:
        change |= _core.BODY_CHANGED
    if change:
        return change
    if old.layout_hash != new.layout_hash:
        return _core.REFORMATTED
    return _core.MOVED if old.line != new.line else 0


def _assigned_names(lines: List[str]) -> Set[str]:
    """The plain names a class-body statement binds (`x = 1`, `x: int = 1`, `a = b = 2`);
    empty for anything else, or for text that does not parse alone."""
    import ast
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent("\n".join(lines)))
    except SyntaxError:
        return set()
    names: Set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            names |= {t.id for t in statement.targets if isinstance(t, ast.Name)}
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            names.add(statement.target.id)
    return names


def _bound_names(lines: List[str]) -> Set[str]:
    """Every name a module- or class-level statement (or block) binds; empty for text
    that does not parse alone."""
    import ast
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent("\n".join(lines)))
    except SyntaxError:
        return set()
    names: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
    return names


def _mangled(name: str, class_name: str) -> str:
    """`name` as a class body named `class_name` stores it (private names are
    mangled)."""
    if name.startswith("__") and not name.endswith("__"):
        return f"_{class_name.lstrip('_')}{name}"
    return name


def names_bound_by(node, lines: List[str], nodes=None) -> Set[str]:
    """The names `node` binds, with the definitions around it (with `nodes`)."""
    if node.kind == "module":
        return set()
    names = set()
    in_function = False  # what a statement in a function binds is local to its calls
    parent = node.parent if nodes is not None else -1
    while parent > 0:
        if nodes[parent].name:
            names.add(nodes[parent].name)
        in_function = in_function or nodes[parent].kind in FUNCTION_KINDS
        parent = nodes[parent].parent
    if node.kind in DEFINITION_KINDS:
        return names | {node.name}
    if in_function:
        return names
    return names | _bound_names(lines[node.line - 1: node.end_line])


class Planner:
    """Plans one save: `prepare` turns the diff's changed entries into a `FilePlan`."""

    def __init__(self, context: SaveContext):
        self.context = context
        self.file = context.file
        self.old, self.new = context.old, context.new
        self.new_lines = context.new_lines
        # Only the changed entries of the diff are planned (self.plan); the unchanged
        # ones stay in C++ (self._changes), so a save costs what it changed.
        self._changes = _core.changes(self.file.tree, context.new_tree)
        self._positions: List[int] = list(self._changes.positions)
        plan = list(self._changes.entries)
        failed = {p.index for p in self.file.pending if p.verb == "replace"}
        plan = self._with_unchanged(plan, failed)
        plan = _pair_same_named_by_position(plan, self.old, self.new)
        self.plan = self._redo_failed_replacements(plan)
        self.old_to_new = _OldToNew(self._changes, self.plan)
        self.swaps: List[Swap] = []       # existing functions to update in place
        self.steps: List[Step] = []       # the rest, in file order
        self.codes: Dict[Tuple[str, int], types.CodeType] = {}  # carried live codes
        self.origins: Dict[int, Tuple[int, int]] = {}  # carried import-time lines
        self.touched_classes: Set[int] = set()  # new class nodes whose fields may change
        self.rerun_units: Set[int] = set()  # new blocks that re-run whole
        self._restructured: Optional[Tuple[Set[int], Set[int]]] = None
        self._classes_losing_attributes: Dict[int, int] = {}  # old class -> new class

    def _with_unchanged(self, plan: List[tuple], old_indices) -> List[tuple]:
        """`plan` with the unchanged entries of `old_indices` put back in their place."""
        extra = [(self._changes.position(o), (0, o, self._changes.new_index(o)))
                 for o in old_indices if o >= 0 and self._changes.unchanged(o)]
        if not extra:
            return plan
        merged = sorted(list(zip(self._positions, plan)) + extra, key=lambda item: item[0])
        self._positions = [position for position, _ in merged]
        return [entry for _, entry in merged]

    def _carry_unchanged(self) -> None:
        """What unchanged definitions and statements keep: the live code of functions
        (keyed by name and line, both the same) and the import-time lines of
        module-level statements (keyed by node index, which may have shifted)."""
        # Entries the plan changes itself (a failed re-creation is redone) carry nothing.
        redone = [o for change, o, _ in self.plan if change and o >= 0
                  and self._changes.unchanged(o)]
        dropped = {(node.qualname, node.line) for node in
                   map(self.old.__getitem__, [*self._changes.uncarried_functions, *redone])}
        for key, code in self.file.codes.items():
            if key not in dropped:
                self.codes.setdefault(key, code)
        for old_index, origin in self.file.origins.items():
            if self._changes.unchanged(old_index):
                self.origins.setdefault(self._changes.new_index(old_index), origin)

    def _redo_failed_replacements(self, plan: List[tuple]) -> List[tuple]:
        """A definition whose re-creation failed on an earlier save (a new decorator
        that raised) is re-created by this save again, from its current text."""
        failed = {p.index for p in self.file.pending if p.verb == "replace"}
        if not failed:
            return plan
        return [(change | _core.DECORATORS_CHANGED if old in failed and new >= 0
                 and not change & _core.ADDED else change, old, new)
                for change, old, new in plan]

    # -- 1. prepare ------------------------------------------------------------------------

    def prepare(self) -> FilePlan:
        """Plan the save: every change compiled in context and turned into a swap or a
        step. Nothing live is bound or run."""
        olds, news = self._restructured_classes()  # unchanged classes whose members change
        olds = olds | {self._changes.old_index(n) for n in news if n > 0}
        self.plan = self._with_unchanged(self.plan, {o for o in olds if o > 0})
        self._carry_unchanged()
        for change, old_index, new_index in self.plan:
            old = self.old[old_index] if old_index >= 0 else None
            new = self.new[new_index] if new_index >= 0 else None
            node, tree = (new, self.new) if new is not None else (old, self.old)
            if node.kind == "module" or self.context.in_function(tree, node):
                continue
            if new is not None and self._covered_by_rerun(change, new):
                continue
            if change & _core.ADDED:
                self._prepare_added(new_index, new)
            elif change & _core.DELETED:
                self._prepare_deleted(old)
            else:
                self._prepare_matched(change, old_index, new_index, old, new)
        self._prepare_lost_class_attributes()
        return FilePlan(self.file.path, tuple(self.swaps), tuple(self.steps),
                        tuple(self._carry_pending()), frozenset(self._changed_names()),
                        self.new, self.codes, self.origins, frozenset(self.touched_classes))

    _UNCHANGED = _core.MOVED | _core.REFORMATTED

    def _changed_names(self) -> Set[str]:
        """The names this save redefines, re-runs or deletes (with the classes they are
        in), for finding the cached results it makes stale. More is harmless."""
        names: Set[str] = set()
        for change, old_index, new_index in self.plan:
            if not change & ~self._UNCHANGED:
                continue
            if new_index >= 0:
                names |= names_bound_by(self.new[new_index], self.new_lines, self.new)
            else:
                names |= names_bound_by(self.old[old_index], self.file.lines, self.old)
        return names

    def _covered_by_rerun(self, change, new) -> bool:
        """A statement or block nested in a block that re-runs whole runs as part of it
        (once: a fresh import runs it once, with its loop and branches), and so does a
        definition added inside one. Such a block's own hash covers every statement
        inside it, so a changed nested statement always makes it re-run."""
        if new.kind in DEFINITION_KINDS and not change & _core.ADDED:
            return False
        return self._inside_rerun(new)

    def _inside_rerun(self, new) -> bool:
        """Whether a block around `new`, in its own scope, re-runs whole."""
        index = new.parent
        while index > 0 and self.new[index].kind == "block":
            if index in self.rerun_units:
                return True
            index = self.new[index].parent
        return False

    _REDONE = (_core.BODY_CHANGED | _core.SIGNATURE_CHANGED | _core.DECORATORS_CHANGED
               | _core.CLASS_HEADER_CHANGED)

    def _carry_pending(self) -> List[Pending]:
        """The file's earlier failures that this save neither changes nor re-runs, with
        their nodes renumbered in the new tree."""
        if not self.file.pending:
            return []
        change_of_old = {old: change for change, old, _ in self.plan if old >= 0}
        carried = []
        for pending in self.file.pending:
            index = self.old_to_new.get(pending.index)
            if index is None or change_of_old.get(pending.index, 0) & self._REDONE:
                continue
            if self._inside_rerun(self.new[index]):
                continue
            # A copy: this save may still be refused, leaving the file as it was.
            carried.append(dataclasses.replace(pending, index=index))
        return carried

    def validate_whole_file(self, source: bytes) -> None:
        """What CPython's compiler rejects in the whole file (a late `from __future__`,
        `break` moved out of its loop...) is refused here, as at import. Compiling the
        whole file costs, so it is done only when the save adds code or changes a
        statement outside functions: edits of function bodies are checked by their
        own compile, in context."""
        if not any(self._may_break_the_file(change, new_index)
                   for change, _, new_index in self.plan):
            return
        try:
            compile(source, self.file.path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            raise PatchError(f"{type(exc).__name__}: {exc.msg}", exc.lineno or 0, exc)
        except ValueError as exc:
            raise PatchError(str(exc), 0, exc)

    def _may_break_the_file(self, change, new_index) -> bool:
        if new_index < 0 or not change & (_core.ADDED | _core.BODY_CHANGED):
            return False
        node = self.new[new_index]
        if node.kind == "module" or self.context.in_function(self.new, node):
            return False
        return bool(change & _core.ADDED) or (
            node.kind in ("statement", "block") and bool(change & _core.BODY_CHANGED))

    def _prepare_added(self, new_index, new) -> None:
        if new.kind not in DEFINITION_KINDS:
            self._prepare_statement(-1, new_index, new)
            return
        code = self.context.compile(new)
        self.steps.append(Step(
            new_index, new, "add", code=code, buildable=True, making=self._making(new)))

    def _prepare_deleted(self, old) -> None:
        if old.kind == "block":
            self._prepare_deleted_block(old)
        if old.kind not in DEFINITION_KINDS:
            parent_new = self.old_to_new.get(old.parent)
            if parent_new is not None:
                self.touched_classes.add(parent_new)  # a dataclass may have lost a field
                if self.old[old.parent].kind == "class":
                    self._classes_losing_attributes[old.parent] = parent_new
            return
        if not self._kept_in_new_scope(old):
            self.steps.append(Step(-1, old, "delete", buildable=True))

    def _kept_in_new_scope(self, old) -> bool:
        """Whether a same-named definition still exists in the new version of the
        scope of the deleted `old` (then its name stays bound: nothing to delete)."""
        scope_index = old.parent
        while scope_index > 0 and self.old[scope_index].kind == "block":
            scope_index = self.old[scope_index].parent
        parent_new = self.old_to_new.get(scope_index)
        return parent_new is not None and any(
            self.new[i].name == old.name for i in self.context.scope_members(parent_new))

    def _prepare_lost_class_attributes(self) -> None:
        """The attributes that class-body assignments deleted or changed no longer bind
        come off the live class, as a fresh run would not have them (the diff may pair
        `a = 1` deleted with `b = 2` changed, so a class's whole old body is read)."""
        for class_old, class_new in sorted(self._classes_losing_attributes.items()):
            bound_by = {}
            for child in self.old[class_old].children:
                old = self.old[child]
                if old.kind == "statement":
                    for name in _assigned_names(self.file.lines[old.line - 1: old.end_line]):
                        bound_by.setdefault(name, old)
            kept = set()
            for index in self.context.scope_members(class_new):
                node = self.new[index]
                if node.kind in DEFINITION_KINDS:
                    kept.add(node.name)
                else:
                    kept |= _assigned_names(self.new_lines[node.line - 1: node.end_line])
            owner = self.old[class_old]
            for name in sorted(set(bound_by) - kept):
                self.steps.append(Step(-1, bound_by[name], "delete",
                                       attribute=_mangled(name, owner.name)))

    def _prepare_deleted_block(self, old) -> None:
        """A deleted block takes the definitions inside it along (its entry stands for
        them), unless the new version binds the same names."""
        for child in old.children:
            node = self.old[child]
            if node.kind == "block":
                self._prepare_deleted_block(node)
            elif node.kind in DEFINITION_KINDS and not self._kept_in_new_scope(node):
                self.steps.append(Step(-1, node, "delete", buildable=True))

    def _prepare_matched(self, change, old_index, new_index, old, new) -> None:
        key_old = (old.qualname, old.line)
        if new.kind in FUNCTION_KINDS:
            if change & _core.DECORATORS_CHANGED:
                code = self.context.compile(new)
                self.steps.append(Step(new_index, new, "replace", code, REASON_DECORATORS,
                                       old, buildable=True))
                return
            if change == 0:  # unchanged
                if key_old in self.file.codes:
                    self.codes[(new.qualname, new.line)] = self.file.codes[key_old]
                return
            self._prepare_swap(change, old, new, new_index)
        elif new.kind == "class":
            if change & (_core.CLASS_HEADER_CHANGED | _core.DECORATORS_CHANGED):
                code = self.context.compile(new)
                reason = (REASON_DECORATORS if change & _core.DECORATORS_CHANGED
                          else REASON_HEADER)
                self.steps.append(Step(new_index, new, "replace", code, reason, old,
                                       buildable=True))
            elif self._members_restructured(old_index, new_index):
                self._prepare_restructured_class(old, new_index, new)
        elif new.kind == "block":
            if old.header_hash != new.header_hash:
                self._prepare_statement(old_index, new_index, new)
            else:
                self._carry_origin(old_index, new_index)
        else:  # statement
            if change & _core.BODY_CHANGED:
                if old.parent > 0 and self.old[old.parent].kind == "class":
                    self._classes_losing_attributes[old.parent] = new.parent
                self._prepare_statement(old_index, new_index, new)
            else:
                self._carry_origin(old_index, new_index)

    def _members_restructured(self, old_index, new_index) -> bool:
        """Whether a save adds, removes or re-runs members of the class (more than
        swapping the code of its existing methods)."""
        olds, news = self._restructured_classes()
        return old_index in olds or new_index in news

    def _restructured_classes(self) -> Tuple[Set[int], Set[int]]:
        """The old and new indices of the classes whose members a save adds, removes
        or re-runs; one pass over the plan, kept for the whole patch."""
        if self._restructured is not None:
            return self._restructured
        olds: Set[int] = set()
        news: Set[int] = set()
        for change, o, n in self.plan:
            node = self.new[n] if n >= 0 else self.old[o]
            if not change & (_core.ADDED | _core.DELETED | _core.DECORATORS_CHANGED) and (
                    node.kind in FUNCTION_KINDS + ("module",)
                    or not change & ~(_core.MOVED | _core.REFORMATTED)):
                continue
            if n >= 0:
                news.add(self._owner_class(self.new, node))
            else:
                olds.add(self._owner_class(self.old, node))
        self._restructured = (olds, news)
        return self._restructured

    @staticmethod
    def _owner_class(nodes, node) -> int:
        """The index of the class whose body holds `node` (through blocks), or -1."""
        index = node.parent
        while index > 0 and nodes[index].kind == "block":
            index = nodes[index].parent
        return index if index > 0 and nodes[index].kind == "class" else -1

    def _prepare_restructured_class(self, old, new_index, new) -> None:
        """A class built by a metaclass or decorator is made again from the new text
        when its members change; any other class is patched in place (and ABCs get
        their abstract methods recomputed)."""
        live = self.context.held_old(old)
        if not isinstance(live, type):
            return
        decorators = "\n".join(self.new_lines[new.line - 1: new.def_line - 1])
        reason = classes.construction_reason(live, decorators)
        if reason is None:
            self.touched_classes.add(new_index)
            return
        code = self.context.compile(new)
        self.steps.append(Step(new_index, new, "replace", code, reason, old,
                               buildable=True))

    def _carry_origin(self, old_index, new_index) -> None:
        if old_index in self.file.origins:
            self.origins[new_index] = self.file.origins[old_index]

    def _prepare_statement(self, old_index, new_index, new) -> None:
        code = self.context.compile(new)
        if new.kind == "block":
            self.rerun_units.add(new_index)
        origin = self.file.origins.get(old_index) if old_index >= 0 else None
        making = (self._making(new) if new.kind == "statement" and new.parent == 0
                  and self.new[0].kind == "module" else None)
        self.steps.append(Step(new_index, new, "run", code, old=self.old[old_index]
                               if old_index >= 0 else None, origin=origin,
                               buildable=True, making=making))

    def _making(self, new):
        """What making `new` reads, if that calls nothing (inert.py). Long ones are
        not looked at (parsing them would cost as much as compiling them again)."""
        if new.end_line - new.line >= _LONGEST_INERT:
            return None
        return inert_making(self.new_lines[new.line - 1: new.end_line])

    def _prepare_swap(self, change, old, new, new_index: int = -1) -> None:
        signature = bool(change & _core.SIGNATURE_CHANGED)
        module_code = self.context.compile(new, keep_decorators=False)
        new_code = self.context.function_code(module_code, new)
        old_code, functions = self.context.live_functions(old)
        if old_code is None and self.context.held_old(old) is not None and _conform_method(
                self.context.held_old(old)):
            old_code = new_code  # a conformer without a visible function: call it only
        if old_code is None:
            if self.context.module_level(self.old, old) and old.parent > 0:
                return  # under a branch that did not run: nothing live to update
            if not change & (_core.BODY_CHANGED | _core.SIGNATURE_CHANGED):
                return  # only moved: nothing the user would miss
            logger.notice(f"no live function found for {self.context.qualname(old)}; "
                          f"the change applies to code defined from now on",
                          self.file.path, new.line)
            return
        if _kind_flags(old_code) != _kind_flags(new_code):
            # Plain function <-> generator/coroutine: CPython deprecates swapping the
            # code of such a function, so it is re-created and forwarded to instead.
            code = self.context.compile(new)
            self.steps.append(Step(new_index, new, "replace", code,
                                   "it becomes or stops being a generator or coroutine", old,
                                   buildable=True))
            return
        conformers = [c for c in [self.context.held_old(old)] + functions if _conform_method(c)]
        heap_found = [f for f in functions if f in self.context.found_in_heap]
        conformers += [c for c in conformers_of(heap_found)
                       if all(c is not known for known in conformers)]
        functions = [f for f in functions if not _conform_method(f)]
        log = bool(change & (_core.BODY_CHANGED | _core.SIGNATURE_CHANGED))
        # Closures made before follow moves too, or the next body edit, which maps
        # nested code by the factory's current code, would miss them.
        closures = bool(change & (_core.BODY_CHANGED | _core.MOVED | _core.REFORMATTED))
        swap = Swap(old, new, new_code, old_code, functions, conformers, log, closures)
        if signature:
            now = self._signature_now(new, module_code)
            if now is None:
                # The defaults may need statements of this same save: update later.
                swap = dataclasses.replace(swap, deferred=module_code)
                self.steps.append(Step(new_index, new, "update", module_code,
                                       "its defaults may need a statement of this save",
                                       swap=swap))
                return
            swap = dataclasses.replace(swap, signature=now)
        self.swaps.append(swap)

    def _signature_now(self, new, module_code) -> Optional[Signature]:
        """The new signature's values if they can be evaluated before this save runs
        anything: not when a changed statement above may change what they see, nor
        when they fail (they may need a statement of this save)."""
        if any(step.verb in STATEMENT_VERBS for step in self.steps):
            return None
        if not runs_code(self.file.module):
            # A view runs nothing: the values stay unknown, the plan has the shape of a
            # live save whose new defaults evaluate.
            return Signature(None, None, {})
        try:
            return self.context.evaluate_signature(new, module_code)
        except Exception:
            return None
