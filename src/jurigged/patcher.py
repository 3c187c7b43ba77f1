"""Applying a save (or several files saved together) to a live module.

A batch of saves is applied in four steps:

1. prepare: each file is validated as CPython would (the whole file is compiled when
   the save changes module-level statements) and every changed definition and
   statement is compiled in its real context (a synthetic source that puts the
   enclosing class headers on their real lines, so that line numbers, `super()`, name
   mangling and class-scope defaults come out exactly as Python compiles them). A file
   that fails is reported and not applied; the others of the batch still are.
2. commit: across every file of the batch, existing functions (and their existing
   closures) get their new code, and the added definitions (made beforehand in a
   scratch scope, unbound), deleted names and leading imports are bound or unbound,
   all in one C++ call that runs no Python code, so no thread sees half a save.
3. run: what could not be made before the commit without changing the order in which
   a fresh run would run the user's code (definitions after a changed statement of
   their file, re-created classes, decorator changes) is applied, then changed
   statements re-run in file order, each module after the modules of the batch it
   imports from. A changed statement inside a module-level block re-runs the whole
   outermost block, once (its loops and branches as a fresh import runs them).
4. retry: a step that failed (this batch or an earlier one) is run again, until it
   succeeds or its text changes; what still fails is reported.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import threading
import time
import types
import dataclasses
from importlib.util import decode_source
from typing import Collection, Dict, Iterable, List, Optional, Set, Tuple

from . import _core, caches, classes, cpython
from .locate import HeapSearch, conformers_of
from .logs import logger
from .parsing import parse_source
from .context import future_flags, PatchContext
from .liveobjects import (
    _bind, _bindable, closure_for, _code_doc, _conform_method, function_index,
    _function_update, _functions_in, _held, _kind_flags, _layers, _nested_codes,
    _rebind_module_names, Scope, _trampoline, _unbind,
)
from .records import (
    CommitPart, DEFINITION_KINDS, FUNCTION_KINDS, _KEEP, PatchError, Pending, Prebuilt,
    Progress, Signature, STATEMENT_VERBS, Step, Swap, _TRANSIENT,
)


# Held around every apply (the watcher thread's batches, Recoders, retries), so that
# two appliers never interleave their steps on the same live modules. Re-entrant: an
# apply may run user code that applies (a Recoder called from a re-run statement).
apply_lock = threading.RLock()


class SourceFile:
    """A watched file, the module it runs as, and what is known of its live code."""

    def __init__(self, path: str, module_name: str, source: bytes, module=None):
        self.path = path
        self.module_name = module_name
        self.source = source
        self._module = module
        self.nodes: Optional[list] = None  # the source model's nodes, parsed lazily
        self.tree = None
        self.lines: List[str] = []
        self.codes: Dict[Tuple[str, int], types.CodeType] = {}
        self.origins: Dict[int, Tuple[int, int]] = {}  # module-level node -> lines at import
        self.pending: List[Pending] = []  # failed steps, retried on later saves
        self._real_path = os.path.realpath(path)

    # -- the live module ------------------------------------------------------------

    @property
    def module(self):
        if self._module is not None:
            return self._module
        return sys.modules.get(self.module_name)

    @property
    def namespace(self) -> Optional[dict]:
        module = self.module
        return None if module is None else module.__dict__

    def _same_file(self, filename: str) -> bool:
        return filename == self.path or os.path.realpath(filename) == self._real_path

    # -- parsing --------------------------------------------------------------------

    def _parse(self, source: bytes):
        tree = parse_source(source, self.path, against=self.tree)
        lines = decode_source(source).splitlines()
        return tree, lines

    def _ensure_baseline(self) -> None:
        if self.tree is not None:
            return
        self.tree, self.lines = self._parse(self.source)
        self.nodes = self.tree.nodes  # a view: nodes become objects only when read
        for index in self.nodes[0].children:
            node = self.nodes[index]
            if node.kind in ("statement", "block"):
                self.origins[index] = (node.line, node.end_line)

    # -- applying a save -------------------------------------------------------------

    def apply(self, source: bytes) -> bool:
        """Patch the live module to run `source`. Returns whether anything was applied.
        Errors are reported; the program keeps running the last good code."""
        return self in apply_batch([(self, source)], [self])

    def stage(self, source: bytes) -> Optional["Patch"]:
        """Parse, validate and compile a save without changing anything live. Returns
        the prepared patch, or None (after reporting why) when the save is refused;
        the baseline stays what runs, so a later good save applies every difference."""
        if source == self.source or self.namespace is None:
            return None  # unchanged, or not imported (yet, or its import failed)
        try:
            self._ensure_baseline()
        except (SyntaxError, UnicodeDecodeError, ValueError) as exc:
            # Nothing to diff against: applying would guess, and adopting the new text
            # would hide its changes for good. Refuse until the program restarts.
            logger.error(f"{self.path}: cannot read the running version of this file; "
                         f"nothing applied (restart to run the new code)",
                         self.path, 0, exc)
            return None
        try:
            new_tree, new_lines = self._parse(source)
        except SyntaxError as exc:
            line = exc.lineno or 0
            logger.error(f"{self.path}:{line}: syntax error; nothing applied, the "
                         f"previous code keeps running", self.path, line, exc)
            return None
        except (UnicodeDecodeError, ValueError) as exc:
            logger.error(f"{self.path}: cannot decode the file ({exc}); nothing applied",
                         self.path, 0)
            return None
        try:
            patch = Patch(self, new_tree, new_lines)
            patch.validate_whole_file(source)
            patch.prepare()
        except PatchError as exc:
            logger.error(f"{self.path}:{exc.line}: {exc}; nothing applied, the previous "
                         f"code keeps running", self.path, exc.line, exc.cause)
            return None
        except Exception as exc:  # a bug of ours: this file only, not the whole batch
            logger.error(f"{self.path}: internal error while preparing this save ({exc}); "
                         f"nothing applied", self.path, 0, exc)
            return None
        return patch

    def adopt(self, patch: "Patch", source: bytes) -> None:
        """The save is committed: it is the baseline of the next diff from now on."""
        self.source = source
        self.tree, self.lines, self.nodes = patch.new_tree, patch.new_lines, patch.new
        self.codes = patch.new_codes
        self.origins = patch.new_origins
        self.pending = patch.carried_pending


# -- batches -------------------------------------------------------------------------------


def apply_batch(changes: List[Tuple[SourceFile, bytes]],
                watched: Iterable[SourceFile] = (), *, report: bool = True,
                every_file: Optional[Collection[SourceFile]] = None) -> List[SourceFile]:
    """Apply files saved together as one unit: every file is validated and compiled
    first (a refused file is reported, the others still apply); then every swap of
    every file, with the definitions, deletions and imports built for it, becomes
    visible in one commit; then the other steps run, statements a module after the
    modules of the batch it imports from. Failed steps of this batch and of earlier
    ones (in `watched` files) are retried at the end. Returns the files whose save
    was applied. With `report=False`, steps that still fail are not reported yet (the
    watcher first gives the next save of a checkout a moment to fix them): call
    `report_failures` then. `every_file`: all watched files, where the caches the
    batch may make stale are looked for (by default the batch's and `watched`)."""
    with apply_lock:
        return _apply_batch(changes, watched, report, every_file)


def _apply_batch(changes: List[Tuple[SourceFile, bytes]],
                 watched: Iterable[SourceFile], report: bool,
                 every_file: Optional[Collection[SourceFile]]) -> List[SourceFile]:
    latest: Dict[int, Tuple[SourceFile, bytes]] = {}
    for file, source in changes:  # a file saved twice in one batch: its last text
        latest.pop(id(file), None)
        latest[id(file)] = (file, source)
    Progress.tick()
    staged = [(file, source, file.stage(source)) for file, source in latest.values()]
    staged = [(file, source, patch) for file, source, patch in staged if patch is not None]
    committed = _commit_batch(staged)
    applied: List[Tuple[SourceFile, "Patch"]] = []
    for file, source, patch in staged:  # in batch order, as before
        if id(file) in committed:
            _guarded(file, lambda: patch.finish_commit(committed[id(file)]))
            file.adopt(patch, source)
            applied.append((file, patch))
    for file, patch in applied:
        _guarded(file, lambda: patch.run_steps(early=True))
    for file, patch in _dependency_order(applied):
        _guarded(file, lambda: patch.run_steps(early=False))
    for file, patch in applied:
        _guarded(file, patch.refresh_classes)
        file.pending.extend(patch.failures)
    files = [file for file, _ in applied]
    files += [file for file in watched if file not in files]
    changed = {name for _, patch in applied for name in getattr(patch, "changed_names", ())}
    retry_pending(files, changed, report=report)
    _clear_stale_caches(applied, files if every_file is None else every_file, changed)
    return [file for file, _ in applied]


def _clear_stale_caches(applied, files: Collection[SourceFile], changed: Set[str]) -> None:
    """Cached results computed from what the batch changed are forgotten."""
    try:
        caches.clear_stale([file.namespace for file, _ in applied if file.namespace is not None],
                           files, changed)
    except Exception as exc:  # a bug of ours must not undo the applied batch
        logger.error(f"internal error while clearing stale caches ({exc})", "", 0, exc)


def _commit_batch(staged: List[Tuple[SourceFile, bytes, "Patch"]]) -> Dict[int, CommitPart]:
    """Build every file's share of the commit (a module after those of the batch it
    imports from, so that its imports see their new names) and publish them all in
    one `_core.commit`. If the engine refuses that, each file is committed on its own
    so that one file's refusal leaves the others applied. Returns the committed parts
    by file id."""
    batch = BatchCommit(file.module_name for file, _, _ in staged)
    parts: Dict[int, CommitPart] = {}
    for file, patch in _dependency_order([(file, patch) for file, _, patch in staged]):
        part = _guarded_value(file, lambda: patch.build_commit(batch))
        if part is not None:
            parts[id(file)] = part
    try:
        _commit_when_unused([u for part in parts.values() for u in part.updates],
                            [b for part in parts.values() for b in part.bindings],
                            [n for part in parts.values() for n in part.unbound])
        return parts
    except (TypeError, ValueError):
        pass
    committed: Dict[int, CommitPart] = {}
    for file, _, patch in staged:
        part = parts.get(id(file))
        if part is None:
            continue
        try:
            _commit_when_unused(part.updates, part.bindings, part.unbound)
            committed[id(file)] = part
        except (TypeError, ValueError) as exc:
            patch.refused(exc)
    return committed


# How long a deleted name may stay bound for calls still running the old code that
# reads it (then it is unbound anyway: such a call runs for long, as a loop would).
_UNUSED_WAIT = 0.5


def _commit_when_unused(updates: list, bindings: list, unbound: List[Tuple[dict, object]]
                        ) -> None:
    """`_core.commit(updates, bindings)`, except for the names it unbinds that a call
    running in another thread still reads. Such a call started before the commit and
    goes on running the old code (`c()` in the old `b()`, whose `c` the save
    deletes): unbinding the name under it would raise NameError in a program that
    never saw two versions mixed. So those names stay bound to their old values until
    no running call reads them (no call can start reading them after the commit: its
    functions run the new code), then are unbound in a second commit. `unbound` pairs
    the module namespace whose code reads each name with its UNBIND binding.

    No other thread runs between a check of the running calls and the commit after
    it: the check comes right after this thread takes the GIL back (`time.sleep`
    gives it up), and CPython's GIL (3.9-3.13) lets a thread that just took it run a
    whole switch interval (5 ms by default) before another may ask for it, far longer
    than the check takes. (A free-threaded build has no such guarantee.)"""
    if not unbound:
        _core.commit(updates, bindings=bindings)
        return
    me = threading.get_ident()
    time.sleep(0)
    in_use = _names_in_use(unbound, me)
    held = [(namespace, binding) for namespace, binding in unbound
            if (id(namespace), binding.name) in in_use]
    if not held:
        _core.commit(updates, bindings=bindings)
        return
    held_ids = {id(binding) for _, binding in held}
    old_values = {id(binding): _held(binding.namespace, binding.name) for _, binding in held}
    _core.commit(updates, bindings=[b for b in bindings if id(b) not in held_ids])
    deadline = time.monotonic() + _UNUSED_WAIT
    while held:
        time.sleep(0.001)
        in_use = (_names_in_use(held, me) if time.monotonic() < deadline else set())
        ready = [binding for namespace, binding in held
                 if (id(namespace), binding.name) not in in_use
                 # unless a step bound the name again meanwhile (none runs here yet)
                 and _held(binding.namespace, binding.name) is old_values[id(binding)]]
        held = [(namespace, binding) for namespace, binding in held
                if (id(namespace), binding.name) in in_use]
        _core.commit([], bindings=ready)


def _names_in_use(unbound: List[Tuple[dict, object]], me: int) -> Set[Tuple[int, str]]:
    """The (namespace id, name) pairs of `unbound` that code running in a thread other
    than `me` (at any depth of its stack) reads from its globals or attributes."""
    names: Dict[int, Set[str]] = {}
    for namespace, binding in unbound:
        names.setdefault(id(namespace), set()).add(binding.name)
    found: Set[Tuple[int, str]] = set()
    for thread, frame in sys._current_frames().items():
        if thread == me:
            continue
        while frame is not None:
            wanted = names.get(id(frame.f_globals))
            if wanted:
                found.update((id(frame.f_globals), name)
                             for name in wanted.intersection(frame.f_code.co_names))
            frame = frame.f_back
    return found


class BatchCommit:
    """What the files of a batch share while their commit is built: the values built
    but not bound yet, by namespace (later definitions and imports of the batch read
    them, as they would in a fresh run), and the names that steps run after the
    commit bind later, by module."""

    def __init__(self, modules: Iterable[str]):
        self.modules = set(modules)
        self._scratch: Dict[int, Scope] = {}
        self._owners: Dict[int, object] = {}  # keeps each id valid while in use
        self._later: Dict[str, Set[str]] = {}

    def scratch(self, scope_object) -> Scope:
        """The scope a definition of `scope_object` (a module dict or a class) is made
        in: reads see the batch's unbound values first, writes stay unbound."""
        key = id(scope_object)
        found = self._scratch.get(key)
        if found is None:
            read = {} if isinstance(scope_object, dict) else scope_object.__dict__
            found = self._scratch[key] = Scope(read)
            self._owners[key] = scope_object
        return found

    def bind(self, scope_object, name: str, value) -> None:
        self.scratch(scope_object)[name] = value

    def unbind(self, scope_object, name: str) -> None:
        scratch = self.scratch(scope_object)
        scratch.writes.pop(name, None)
        scratch.deleted.add(name)

    def unbound_names(self, scope_object) -> Set[str]:
        scratch = self._scratch.get(id(scope_object))
        return set(scratch.writes) if scratch is not None else set()

    def value(self, namespace: dict, name: str):
        """What `namespace[name]` is once the batch commits (UNBIND: nothing)."""
        scratch = self._scratch.get(id(namespace))
        if scratch is not None:
            if name in scratch.writes:
                return scratch.writes[name]
            if name in scratch.deleted:
                return _core.UNBIND
        return namespace.get(name, _core.UNBIND)

    def settle(self, module_name: str, later: Set[str]) -> None:
        self._later[module_name] = later

    def settled(self, module_name: str, name: str) -> bool:
        """Whether the commit fixes what `name` of the module is: it is not in the
        batch, or its share is built and no step after the commit binds `name`."""
        if module_name not in self.modules:
            return True
        return module_name in self._later and name not in self._later[module_name]


def _guarded_value(file: SourceFile, action):
    """Like `_guarded`, for an action whose result is wanted (None after an error)."""
    try:
        return action()
    except Exception as exc:
        logger.error(f"{file.path}: internal error while applying this save ({exc})",
                     file.path, 0, exc)
        return None


def _guarded(file: SourceFile, action) -> bool:
    """Run one file's part of a batch; an error of ours there is reported and stops
    only that file. Returns what `action` returned (False after an error)."""
    try:
        return action() is not False
    except Exception as exc:
        logger.error(f"{file.path}: internal error while applying this save ({exc})",
                     file.path, 0, exc)
        return False


def retry_pending(files: List[SourceFile], changed: Optional[Set[str]] = None, *,
                  report: bool = True) -> None:
    """Run failed steps again, in passes while some succeed (one may need another),
    then report what still fails (unless `report` is False). The names of the steps
    that succeed are added to `changed`."""
    with apply_lock:
        _retry_pending(files, changed)
        if report:
            report_failures(files)


def _retry_pending(files: List[SourceFile], changed: Optional[Set[str]]) -> None:
    if any(file.pending for file in files):
        importlib.invalidate_caches()  # a module it imports may have been created since
    while any(_retry_file(file, changed) for file in files if file.pending):
        pass


def unreported_failures(files: Iterable[SourceFile]) -> bool:
    """Whether a failed step of these files has not been reported in its latest form."""
    return any(_failure_text(pending) != pending.reported
               for file in files for pending in file.pending)


def report_failures(files: Iterable[SourceFile]) -> None:
    """Report each failed step of these files once per distinct error."""
    for file in files:
        for pending in file.pending:
            _report_failure(file, pending)


def _retry_file(file: SourceFile, changed: Optional[Set[str]] = None) -> bool:
    """One pass over a file's failed steps; returns whether any succeeded."""
    if file.namespace is None or file.nodes is None:
        return False
    patch = Patch(file, file.tree, file.lines, plan=[])
    still, progress = [], False
    for pending in file.pending:
        if pending.failed_at >= Progress.count:
            still.append(pending)  # nothing happened since it failed
            continue
        try:
            patch.retry(pending)
            Progress.tick()
            progress = True
            if changed is not None:
                changed |= patch.names_bound_by(patch.new[pending.index], patch.new_lines)
        except Exception as exc:
            pending.error, pending.failed_at = exc, Progress.count
            still.append(pending)
    file.pending = still
    file.codes.update(patch.new_codes)
    file.origins.update(patch.new_origins)
    patch.refresh_classes()
    return progress


def _report_failure(file: SourceFile, pending: Pending) -> None:
    node = file.nodes[pending.index]
    text = _failure_text(pending)
    if text == pending.reported:
        return  # said already; it is retried on every save until it works
    pending.reported = text
    what = node.qualname or f"line {node.line}"
    logger.error(f"{file.path}:{node.line}: {pending.verb} {what} failed (retried on the "
                 f"next save)", file.path, node.line, pending.error)


def _failure_text(pending: Pending) -> str:
    return f"{type(pending.error).__name__}: {pending.error}"


def _dependency_order(applied: List[Tuple[SourceFile, "Patch"]]
                      ) -> List[Tuple[SourceFile, "Patch"]]:
    """The applied files with each after the files of the batch it imports from
    (import order otherwise; a cycle keeps import order)."""
    if len(applied) < 2:
        return applied
    by_module = {file.module_name: (file, patch) for file, patch in applied}
    ordered: List[Tuple[SourceFile, "Patch"]] = []
    visited: Set[str] = set()

    def visit(name: str) -> None:
        if name in visited:
            return
        visited.add(name)
        file, patch = by_module[name]
        for imported in _imported_modules(file, patch.new_lines):
            if imported in by_module:
                visit(imported)
        ordered.append((file, patch))

    for file, _ in applied:
        visit(file.module_name)
    return ordered


def _imported_modules(file: SourceFile, lines: List[str]) -> Set[str]:
    """The modules (and their parent packages) a file's text imports from, relative
    imports resolved against its package."""
    import ast

    try:
        tree = ast.parse("\n".join(lines) + "\n")
    except (SyntaxError, ValueError):
        return set()
    is_package = os.path.basename(file.path) == "__init__.py"
    package = file.module_name if is_package else file.module_name.rpartition(".")[0]
    names: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(parts + ([base] if base else []))
            if base:
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names)
    parents = {".".join(name.split(".")[:k]) for name in names
               for k in range(1, name.count(".") + 1)}
    return names | parents


class _OldToNew:
    """Old node index -> new node index: the entries of the plan (which may re-pair
    nodes), then the diff's pairs of the unchanged ones."""

    def __init__(self, changes, plan):
        self._changes = changes
        self._planned = {o: n for _, o, n in plan if o >= 0 and n >= 0}

    def get(self, old: int, default=None):
        if old in self._planned:
            return self._planned[old]
        if self._changes is None or old < 0:
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
        key = (_scope_of(old_nodes, old), _scope_of(new_nodes, new), new_nodes[new].name)
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


def _scope_of(nodes, index: int) -> int:
    """The module, class or function whose namespace node `index` is bound in."""
    parent = nodes[index].parent
    while parent > 0 and nodes[parent].kind == "block":
        parent = nodes[parent].parent
    return parent


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


class Patch(PatchContext):
    """One save of one file, from plan to live objects."""

    def __init__(self, file: SourceFile, new_tree, new_lines: List[str],
                 plan: Optional[list] = None):
        """`plan` defaults to the diff from the file's baseline; an empty plan gives a
        patch over the current text, for retrying failed steps."""
        self.file = file
        self.new_tree = new_tree
        self.old, self.new = file.nodes, new_tree.nodes
        self.new_lines = new_lines
        self.namespace = file.namespace
        self.flags = future_flags(self.namespace)
        # Only the changed entries of the diff are planned (self.plan); the unchanged
        # ones stay in C++ (self._changes), so a save costs what it changed.
        self._changes = None
        self._positions: List[int] = []
        if plan is None:
            self._changes = _core.changes(file.tree, new_tree)
            self._positions = list(self._changes.positions)
            plan = list(self._changes.entries)
            failed = {p.index for p in self.file.pending if p.verb == "replace"}
            plan = self._with_unchanged(plan, failed)
            plan = _pair_same_named_by_position(plan, self.old, self.new)
            plan = self._redo_failed_replacements(plan)
        self.plan = plan
        self.old_to_new = _OldToNew(self._changes, self.plan)
        self.swaps: List[Swap] = []       # existing functions to update in place
        self.steps: List[Step] = []       # the rest, in file order
        self.replaced: Set[int] = set()   # new class nodes re-created whole
        self.new_codes: Dict[Tuple[str, int], types.CodeType] = {}
        self.new_origins: Dict[int, Tuple[int, int]] = {}
        self.touched_classes: Set[int] = set()  # new class nodes whose body statements ran
        self._heap = HeapSearch(self.namespace, file._same_file)
        self.found_in_heap: List[types.FunctionType] = []  # placed by the heap search
        self.rerun_units: Set[int] = set()  # new blocks that re-run whole
        self.deferred_codes: Dict[int, types.CodeType] = {}  # deferred swap -> live code
        self.failures: List[Pending] = []  # steps of this save that failed
        self.carried_pending: List[Pending] = []  # earlier failures this save leaves as is

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
        if self._changes is None:
            return
        # Entries the plan changes itself (a failed re-creation is redone) carry nothing.
        redone = [o for change, o, _ in self.plan if change and o >= 0
                  and self._changes.unchanged(o)]
        dropped = {(node.qualname, node.line) for node in
                   map(self.old.__getitem__, [*self._changes.uncarried_functions, *redone])}
        for key, code in self.file.codes.items():
            if key not in dropped:
                self.new_codes.setdefault(key, code)
        for old_index, origin in self.file.origins.items():
            if self._changes.unchanged(old_index):
                self.new_origins.setdefault(self._changes.new_index(old_index), origin)

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

    def prepare(self) -> None:
        if self._changes is not None:  # unchanged classes whose members change
            olds, news = self._restructured_classes()
            olds = olds | {self._changes.old_index(n) for n in news if n > 0}
            self.plan = self._with_unchanged(self.plan, {o for o in olds if o > 0})
        self._carry_unchanged()
        for change, old_index, new_index in self.plan:
            old = self.old[old_index] if old_index >= 0 else None
            new = self.new[new_index] if new_index >= 0 else None
            node, tree = (new, self.new) if new is not None else (old, self.old)
            if node.kind == "module" or self._in_function(tree, node):
                continue
            if new is not None and self._covered_by_rerun(change, new):
                continue
            if change & _core.ADDED:
                self._prepare_added(new_index, new)
            elif change & _core.DELETED:
                self._prepare_deleted(old)
            else:
                self._prepare_matched(change, old_index, new_index, old, new)
        self.carried_pending = self._carry_pending()
        self.changed_names = self._changed_names()

    _UNCHANGED = _core.MOVED | _core.REFORMATTED

    def _changed_names(self) -> Set[str]:
        """The names this save redefines, re-runs or deletes (with the classes they are
        in), for finding the cached results it makes stale. More is harmless."""
        names: Set[str] = set()
        for change, old_index, new_index in self.plan:
            if not change & ~self._UNCHANGED:
                continue
            if new_index >= 0:
                names |= self.names_bound_by(self.new[new_index], self.new_lines, self.new)
            else:
                names |= self.names_bound_by(self.old[old_index], self.file.lines, self.old)
        return names

    @staticmethod
    def names_bound_by(node, lines: List[str], nodes=None) -> Set[str]:
        """The names `node` binds, with the definitions around it (with `nodes`)."""
        if node.kind == "module":
            return set()
        names = set()
        parent = node.parent if nodes is not None else -1
        while parent > 0:
            if nodes[parent].name:
                names.add(nodes[parent].name)
            parent = nodes[parent].parent
        if node.kind in DEFINITION_KINDS:
            return names | {node.name}
        return names | _bound_names(lines[node.line - 1: node.end_line])

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
        if node.kind == "module" or self._in_function(self.new, node):
            return False
        return bool(change & _core.ADDED) or (
            node.kind in ("statement", "block") and bool(change & _core.BODY_CHANGED))


    def _prepare_added(self, new_index, new) -> None:
        if new.kind not in DEFINITION_KINDS:
            self._prepare_statement(-1, new_index, new)
            return
        code = self._compile(new)
        self.steps.append(Step(
            new_index, new, "add", lambda: self._define(new, code, "add"),
            lambda batch: self._prebuild_definition(new, code, batch), code=code))

    def _prepare_deleted(self, old) -> None:
        if old.kind == "block":
            self._prepare_deleted_block(old)
        if old.kind not in DEFINITION_KINDS:
            parent_new = self.old_to_new.get(old.parent)
            if parent_new is not None:
                self.touched_classes.add(parent_new)  # a dataclass may have lost a field
                if self.old[old.parent].kind == "class":
                    self._prepare_deleted_class_attributes(old, parent_new)
            return
        self.steps.append(Step(-1, old, "delete", lambda: self._delete(old),
                               lambda batch: self._prebuild_delete(old, batch)))

    def _prepare_deleted_class_attributes(self, old, class_new: int) -> None:
        """A class-body assignment deleted from the text takes its attribute off the
        live class, as a fresh run would not have it (unless the new body still binds
        the name)."""
        names = _assigned_names(self.file.lines[old.line - 1: old.end_line])
        kept = set()
        for index in self._scope_members(class_new):
            node = self.new[index]
            if node.kind in DEFINITION_KINDS:
                kept.add(node.name)
            else:
                kept |= _assigned_names(self.new_lines[node.line - 1: node.end_line])
        owner = self.old[old.parent]
        for name in sorted(names - kept):
            attribute = _mangled(name, owner.name)
            self.steps.append(Step(-1, old, "delete", lambda attribute=attribute: (
                self._delete_class_attribute(old, attribute))))

    def _delete_class_attribute(self, old, attribute: str) -> None:
        cls = _held(self._live_scope(self.old, self.old[old.parent]), self.old[old.parent].name)
        if isinstance(cls, type) and attribute in cls.__dict__:
            try:
                delattr(cls, attribute)
            except (AttributeError, TypeError):
                return  # a metaclass that keeps it (its class is re-created instead)
            logger.delete(f"{self._qualname(self.old[old.parent])}.{attribute}",
                          self.file.path, old.line)

    def _prepare_deleted_block(self, old) -> None:
        """A deleted block takes the definitions inside it along (its entry stands for
        them), unless the new version binds the same names."""
        for child in old.children:
            node = self.old[child]
            if node.kind == "block":
                self._prepare_deleted_block(node)
            elif node.kind in DEFINITION_KINDS:
                self.steps.append(Step(
                    -1, node, "delete", lambda node=node: self._delete(node),
                    lambda batch, node=node: self._prebuild_delete(node, batch)))

    def _prepare_matched(self, change, old_index, new_index, old, new) -> None:
        key_old = (old.qualname, old.line)
        if new.kind in FUNCTION_KINDS:
            if change & _core.DECORATORS_CHANGED:
                code = self._compile(new)
                self.steps.append(Step(new_index, new, "replace",
                                       lambda: self._redecorate(old, new, code), code=code))
                return
            if change == 0:  # unchanged
                if key_old in self.file.codes:
                    self.new_codes[(new.qualname, new.line)] = self.file.codes[key_old]
                return
            self._prepare_swap(change, old, new, new_index)
        elif new.kind == "class":
            if change & (_core.CLASS_HEADER_CHANGED | _core.DECORATORS_CHANGED):
                code = self._compile(new)
                reason = ("its decorators changed" if change & _core.DECORATORS_CHANGED
                          else "")
                self.steps.append(Step(new_index, new, "replace", lambda: self._replace_class(
                    old, new_index, new, code, reason), code=code))
            elif self._members_restructured(old_index, new_index):
                self._prepare_restructured_class(old, new_index, new)
        elif new.kind == "block":
            if old.header_hash != new.header_hash:
                self._prepare_statement(old_index, new_index, new)
            else:
                self._carry_origin(old_index, new_index)
        else:  # statement
            if change & _core.BODY_CHANGED:
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
        cached = getattr(self, "_restructured", None)
        if cached is not None:
            return cached
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
        live = self._held_old(old)
        if not isinstance(live, type):
            return
        decorators = "\n".join(self.new_lines[new.line - 1: new.def_line - 1])
        reason = classes.construction_reason(live, decorators)
        if reason is None:
            self.touched_classes.add(new_index)
            return
        code = self._compile(new)
        self.steps.append(Step(new_index, new, "replace", lambda: self._replace_class(
            old, new_index, new, code, reason), code=code))

    def _carry_origin(self, old_index, new_index) -> None:
        if old_index in self.file.origins:
            self.new_origins[new_index] = self.file.origins[old_index]

    def _prepare_statement(self, old_index, new_index, new) -> None:
        code = self._compile(new)
        if new.kind == "block":
            self.rerun_units.add(new_index)
        origin = self.file.origins.get(old_index) if old_index >= 0 else None
        self.steps.append(Step(
            new_index, new, "run", lambda: self._rerun(new, code, origin, old_index, new_index),
            lambda batch: self._prebuild_import(new, origin, batch), code=code))

    def _prepare_swap(self, change, old, new, new_index: int = -1) -> None:
        signature = bool(change & _core.SIGNATURE_CHANGED)
        module_code = self._compile(new, keep_decorators=False)
        new_code = self._function_code(module_code, new)
        old_code, functions = self._live_functions(old)
        if old_code is None and self._held_old(old) is not None and _conform_method(
                self._held_old(old)):
            old_code = new_code  # a conformer without a visible function: call it only
        if old_code is None:
            if self._module_level(self.old, old) and old.parent > 0:
                return  # under a branch that did not run: nothing live to update
            if not change & (_core.BODY_CHANGED | _core.SIGNATURE_CHANGED):
                return  # only moved: nothing the user would miss
            logger.notice(f"no live function found for {self._qualname(old)}; "
                          f"the change applies to code defined from now on",
                          self.file.path, new.line)
            return
        if _kind_flags(old_code) != _kind_flags(new_code):
            # Plain function <-> generator/coroutine: CPython deprecates swapping the
            # code of such a function, so it is re-created and forwarded to instead.
            code = self._compile(new)
            self.steps.append(Step(new_index, new, "replace",
                                   lambda: self._redecorate(old, new, code), code=code))
            return
        conformers = [c for c in [self._held_old(old)] + functions if _conform_method(c)]
        heap_found = [f for f in functions if f in self.found_in_heap]
        conformers += [c for c in conformers_of(heap_found)
                       if all(c is not known for known in conformers)]
        functions = [f for f in functions if not _conform_method(f)]
        swap = Swap(old, new, new_code, old_code, functions, conformers,
                    log=bool(change & (_core.BODY_CHANGED | _core.SIGNATURE_CHANGED)),
                    # Closures made before follow moves too, or the next body edit, which
                    # maps nested code by the factory's current code, would miss them.
                    closures=bool(change & (_core.BODY_CHANGED | _core.MOVED
                                            | _core.REFORMATTED)))
        if signature:
            swap.signature = self._signature_now(new, module_code)
            if swap.signature is None:
                # The defaults may need statements of this same save: update later.
                swap.deferred = module_code
                self.deferred_codes[new_index] = old_code
                self.steps.append(Step(new_index, new, "update",
                                       lambda: self._deferred_swap(swap)))
                return
        self.swaps.append(swap)

    def _signature_now(self, new, module_code) -> Optional[Signature]:
        """The new signature's values if they can be evaluated before this save runs
        anything: not when a changed statement above may change what they see, nor
        when they fail (they may need a statement of this save)."""
        if any(step.verb in STATEMENT_VERBS for step in self.steps):
            return None
        try:
            return self._evaluate_signature(new, module_code)
        except Exception:
            return None

    def _evaluate_signature(self, new, module_code) -> Signature:
        """Defaults, keyword defaults and annotations of the new definition, evaluated
        where Python evaluates them: in the enclosing (class) scope, at definition."""
        scope_object = self._live_scope(self.new, new)
        scope_code = self._scope_code(module_code, new)
        scope = self._run_in_scope(scope_code, scope_object, capture=True,
                                   extra={_KEEP: lambda f: f})
        made = scope.writes[new.name]
        return Signature(made.__defaults__, made.__kwdefaults__, dict(made.__annotations__))

    # -- 2. commit -----------------------------------------------------------------------

    def _swap_updates(self, swap: Swap) -> list:
        updates = []
        cls = None
        try:
            scope = self._live_scope(self.new, swap.new)
            cls = scope if isinstance(scope, type) else None
        except LookupError:
            pass
        signature = swap.signature
        for function in swap.functions:
            closure, _ = closure_for(function, swap.code, cls)
            if signature is None:
                updates.append(_function_update(function, swap.code, closure=closure,
                                                    doc=_code_doc(swap.code)))
            else:
                updates.append(_function_update(
                    function, swap.code, closure=closure, defaults=signature.defaults,
                    kwdefaults=signature.kwdefaults, annotations=signature.annotations,
                    doc=_code_doc(swap.code)))
        return updates

    def build_commit(self, batch: "BatchCommit") -> CommitPart:
        """This file's share of the batch's one commit: every swap (with the closures
        made before), then the steps that can be built without binding anything.
        Nothing is visible to other threads until the commit."""
        part = CommitPart()
        nested_map: Dict[types.CodeType, types.CodeType] = {}
        for swap in self.swaps:
            part.updates.extend(self._swap_updates(swap))
            if swap.closures:
                old_nested = _nested_codes(swap.old_code)
                new_nested = _nested_codes(swap.code)
                for key, code in old_nested.items():
                    # Comprehension code never outlives its call, and identical code
                    # needs no swap: only real changes cost the heap scan.
                    if (key in new_nested and code.co_name not in _TRANSIENT
                            and new_nested[key] != code):
                        nested_map[code] = new_nested[key]
        lost = []
        if nested_map:
            for function in _core.functions_using(list(nested_map)):
                code = nested_map[function.__code__]
                closure, missing = closure_for(function, code, None)
                if missing:
                    lost.append((function, missing))
                part.updates.append(_function_update(function, code, closure=closure))
        part.finishers.append(lambda: self._finish_swaps(lost))
        self._prebuild_steps(batch, part)
        return part

    def commit(self) -> bool:
        """This save's commit on its own (outside a batch). False (nothing changed) if
        the engine refused it."""
        part = self.build_commit(BatchCommit([self.file.module_name]))
        try:
            _core.commit(part.updates, bindings=part.bindings)
        except (TypeError, ValueError) as exc:
            self.refused(exc)
            return False
        self.finish_commit(part)
        return True

    def refused(self, exc: BaseException) -> None:
        logger.error(f"{self.file.path}: could not update the live functions ({exc}); "
                     f"nothing applied", self.file.path, 0)
        self.swaps = []

    def finish_commit(self, part: CommitPart) -> None:
        """What follows the commit: index, log and hooks of what it published."""
        for finish in part.finishers:
            finish()

    def _finish_swaps(self, lost) -> None:
        for function, missing in lost:
            line = function.__code__.co_firstlineno
            logger.notice(f"{self.file.path}:{line}: existing closure {function.__qualname__} "
                          f"has no value for new free variable(s) {', '.join(missing)} (made "
                          f"before it used them); it raises NameError until it is made "
                          f"again", self.file.path, line)
        for swap in self.swaps:
            self._finish_swap(swap)

    # -- steps built for the commit ---------------------------------------------------

    def _prebuild_steps(self, batch: "BatchCommit", part: CommitPart) -> None:
        """Build the steps at the head of the file (those no statement of the save
        comes before: a fresh run makes them in that same order) for the commit.
        The first step that cannot be built so (a statement, a class whose body runs
        code for its effects, a re-created class or decorator change) and every step
        after it are run live after the commit, in file order as today: building a
        later one first would run its decorators before code the file runs above it.
        Deletions run no code and always go into the commit."""
        head = True
        for step in self.steps:
            if step.prebuild is None or not (head or step.verb == "delete"):
                head = head and step.verb == "delete"
                continue
            try:
                built = step.prebuild(batch)
            except (NameError, KeyError):
                # Most likely a name of this batch that a scratch build cannot see
                # (read through the module's globals by a decorator's own code), or a
                # definition that bound no name of its own: made live after the
                # commit instead (its code then runs twice; one that fails for real
                # fails there again, and is reported and retried).
                built = None
            except Exception as exc:
                # It fails in a fresh run too: reported and retried as a live step is.
                step.prebuilt = True
                self._step_failed(step, exc)
                continue
            if built is None:
                head = head and step.verb == "delete"
                continue
            step.prebuilt = True
            part.bindings.extend(built.bindings)
            part.updates.extend(built.updates)
            part.finishers.append(built.finish)
            part.unbound.extend(built.unbound)
        batch.settle(self.file.module_name, self._names_bound_after_commit())

    def _names_bound_after_commit(self) -> Set[str]:
        """The names that steps run after the commit may bind (a statement's every
        name, conservatively): an import of them in another file of the batch must
        wait for those steps, as it does today."""
        names: Set[str] = set()
        for step in self.steps:
            if step.prebuilt:
                continue
            if step.node.name:
                names.add(step.node.name)
            if step.verb in STATEMENT_VERBS and step.code is not None:
                names |= _names_in(step.code, everything=True)
        return names

    def _under_replaced_class(self, node) -> bool:
        replaced = {step.index for step in self.steps
                    if step.verb == "replace" and self.new[step.index].kind == "class"}
        return bool(replaced.intersection(self._ancestor_indices(self.new, node)))

    def _prebuild_definition(self, new, code: types.CodeType,
                             batch: "BatchCommit") -> Optional[Prebuilt]:
        """An added function or class, made in a scratch scope that sees the batch's
        earlier unbound values, as a fresh run makes it; the commit binds it."""
        if self._under_replaced_class(new):
            return None
        scope_object = self._live_scope(self.new, new)
        if not _bindable(scope_object, new.name):
            return None
        if new.kind == "class" and not self._defines_only(new):
            return None
        module_level = self._module_level(self.new, new)
        scope_code = code if module_level else self._scope_code(code, new)
        # Code that reads the module's names through its globals (a class body, a
        # type-parameter scope) would not see those the batch has not bound yet.
        through_globals = _names_in(scope_code, top=not module_level)
        if through_globals & batch.unbound_names(self.namespace):
            return None
        scratch = batch.scratch(scope_object)
        if module_level:
            exec(code, self.namespace, scratch)
        else:
            exec(scope_code, self.namespace, scratch,
                 **cpython.exec_closure(scope_code, scope_object))
            if scratch.classcell is not None:
                scratch.classcell.cell_contents = scope_object
                scratch.classcell = None
        value = scratch.writes[new.name]
        if not module_level:
            set_name = getattr(type(value), "__set_name__", None)
            if set_name is not None:
                set_name(value, scope_object, new.name)

        def finish() -> None:
            logger.add(self._qualname(new), self.file.path, new.line)
            if isinstance(scope_object, type):
                self.touched_classes.add(new.parent)  # an ABC may have a new abstract
            Progress.tick()

        return Prebuilt([_core.Binding(scope_object, new.name, value)], [], finish)

    def _defines_only(self, new) -> bool:
        """Whether a class body only defines (methods, attributes, nested such
        classes, a docstring). A body with statements run for their effect (a call, a
        loop, an import) is run live after the commit, so its effects come in file
        order among the save's other live steps, as in a fresh run."""
        import ast
        import textwrap

        text = "\n".join(self.new_lines[new.line - 1: new.end_line])
        try:
            tree = ast.parse(textwrap.dedent(text))
        except SyntaxError:
            return False
        return all(_only_defines(statement) for statement in tree.body)

    def _prebuild_delete(self, old, batch: "BatchCommit") -> Optional[Prebuilt]:
        """A deleted definition's name, unbound by the commit."""
        if self._kept_in_new_scope(old):
            return Prebuilt()
        try:
            scope = self._live_scope(self.old, old)
        except LookupError:
            return Prebuilt()
        if not _bindable(scope, old.name):
            return None
        held = _held(scope, old.name)
        batch.unbind(scope, old.name)

        def finish() -> None:
            if held is not None and _conform_method(held):
                _conform_method(held)(None)
            logger.delete(self._qualname(old), self.file.path, old.line)
            Progress.tick()

        binding = _core.Binding(scope, old.name, _core.UNBIND)
        return Prebuilt([binding], [], finish, [(self.namespace, binding)])

    def _prebuild_import(self, new, origin, batch: "BatchCommit") -> Optional[Prebuilt]:
        """A module-level statement of only imports from modules already imported is
        resolved without running it (no import runs: each name is what the module
        holds, or will hold once the batch commits), so the names it binds become
        visible together with the functions that use them."""
        if new.parent != 0 or new.kind != "statement" or self.new[0].kind != "module":
            return None
        if origin is not None and any(origin[0] <= line <= origin[1]
                                      for line in self._running_lines()):
            return None
        statements = _import_statements(self.new_lines[new.line - 1: new.end_line])
        if statements is None:
            return None
        values = []
        for statement in statements:
            for alias in statement.names:
                found = self._resolve_import(statement, alias, batch)
                if found is None:
                    return None
                values.append(found)
        for name, value in values:
            batch.bind(self.namespace, name, value)

        def finish() -> None:
            self._log_run(new)
            Progress.tick()

        return Prebuilt([_core.Binding(self.namespace, name, value) for name, value in values],
                        [], finish)

    def _resolve_import(self, statement, alias, batch: "BatchCommit"
                        ) -> Optional[Tuple[str, object]]:
        """(name, value) that one imported name of `statement` binds, or None when
        only running the import can tell (a module not imported yet, `*`, a module's
        own `__getattr__`, a name a live step of the batch binds later)."""
        import ast

        if isinstance(statement, ast.Import):
            module = sys.modules.get(alias.name)
            if module is None:
                return None
            if alias.asname:
                return alias.asname, module
            top = sys.modules.get(alias.name.partition(".")[0])
            return (alias.name.partition(".")[0], top) if top is not None else None
        if statement.module == "__future__" or alias.name == "*":
            return None
        try:
            full = importlib.util.resolve_name("." * statement.level + (statement.module or ""),
                                               self.namespace.get("__package__") or "")
        except (ImportError, ValueError):
            return None
        module = sys.modules.get(full)
        if module is None or not batch.settled(full, alias.name):
            return None
        value = batch.value(module.__dict__, alias.name)
        if value is _core.UNBIND:
            value = sys.modules.get(f"{full}.{alias.name}", _core.UNBIND)
        if value is _core.UNBIND:
            return None
        return alias.asname or alias.name, value


    def _finish_swap(self, swap: Swap) -> None:
        """After a swap is committed: index, remember and report it, and hand the new
        function to `__conform__` objects."""
        function_index.move(swap.old_code, swap.code)
        self.new_codes[(swap.new.qualname, swap.new.line)] = swap.code
        self._conform(swap)
        if swap.log:
            logger.update(self._qualname(swap.new), self.file.path, swap.new.line)

    def _conform(self, swap: Swap) -> None:
        """Objects that manage a function's code themselves (the `__conform__`
        protocol) get a new function instead of a code swap; caches of the function's
        results are emptied."""
        self._clear_caches(swap.new)
        if not swap.conformers:
            return
        new = swap.new
        scope = self._live_scope(self.new, new)
        cls = scope if isinstance(scope, type) else None
        model = swap.functions[0] if swap.functions else None
        closure = None
        if swap.code.co_freevars:
            cells = {"__class__": types.CellType(cls)} if cls is not None else {}
            closure = tuple(cells.get(n, types.CellType()) for n in swap.code.co_freevars)
        signature = swap.signature
        defaults = (signature.defaults if signature is not None
                    else model.__defaults__ if model else None)
        function = types.FunctionType(swap.code, self.namespace, new.name, defaults, closure)
        function.__kwdefaults__ = (signature.kwdefaults if signature is not None
                                   else model.__kwdefaults__ if model else None)
        function.__qualname__ = new.qualname
        for conformer in swap.conformers:
            try:
                _conform_method(conformer)(function)
            except Exception as exc:
                logger.error(f"{self.file.path}:{new.line}: __conform__ of "
                             f"{new.qualname} failed", self.file.path, new.line, exc)

    def _clear_caches(self, new) -> None:
        """`functools.lru_cache`/`cache` wrappers of an updated function forget the
        results of its old code."""
        try:
            scope = self._live_scope(self.new, new)
        except LookupError:
            return
        for layer in _layers(_held(scope, new.name)):
            clear = getattr(layer, "cache_clear", None)
            if callable(clear) and "__wrapped__" in getattr(layer, "__dict__", {}):
                clear()
            if isinstance(layer, functools.cached_property) and isinstance(scope, type):
                classes.forget_cached(scope, layer.attrname or new.name)

    def _deferred_swap(self, swap: Swap) -> None:
        swap.signature = self._evaluate_signature(swap.new, swap.deferred)
        _core.commit(self._swap_updates(swap))
        self._finish_swap(swap)

    # -- 3. run --------------------------------------------------------------------------

    def run(self) -> None:
        """Bind this save's definitions, then run its statements."""
        self.run_steps(early=True)
        self.run_steps(early=False)
        self.refresh_classes()

    def run_steps(self, early: bool) -> None:
        """Run the early steps (deletions, and definitions no statement of this save
        comes before: a batch binds them in every file first), or the others, in file
        order (a definition after a changed statement may use what it made, as at
        import). A failure is kept in `failures` (to retry) or reported."""
        live = [step for step in self.steps if not step.prebuilt]  # the rest was committed
        first_statement = next((i for i, step in enumerate(live)
                                if step.verb in STATEMENT_VERBS), len(live))
        for position, step in enumerate(live):
            if early != (step.verb == "delete" or position < first_statement):
                continue
            if step.index >= 0 and self.replaced.intersection(
                    self._ancestor_indices(self.new, step.node)):
                continue  # its class was re-created with it inside
            try:
                step.run()
                Progress.tick()
            except Exception as exc:
                self._step_failed(step, exc)

    def _step_failed(self, step: Step, exc: BaseException) -> None:
        new_index, node, verb = step.index, step.node, step.verb
        if new_index >= 0 and verb in ("run", "add", "update", "replace"):
            old_code = self.deferred_codes.get(new_index)
            if old_code is not None:
                # The functions still run it: later lookups must find them by it.
                self.new_codes[(node.qualname, node.line)] = old_code
            self.failures.append(Pending(
                new_index, verb, exc, step.run if verb == "replace" else None, old_code,
                failed_at=Progress.count))
            return
        what = node.qualname or f"line {node.line}"
        logger.error(f"{self.file.path}:{node.line}: {verb} {what} failed",
                     self.file.path, node.line, exc)

    def retry(self, pending: Pending) -> None:
        """Do a failed step again, from the file's current text; raises if it fails."""
        node = self.new[pending.index]
        if pending.verb == "run":
            origin = self.file.origins.get(pending.index)
            self._rerun(node, self._compile(node), origin, pending.index, pending.index)
        elif pending.verb == "add":
            self._define(node, self._compile(node), "add")
        elif pending.verb == "replace":
            pending.action()  # prepared from this same text: no save of it came since
        else:
            self._retry_swap(node, pending)

    def _retry_swap(self, node, pending: Pending) -> None:
        module_code = self._compile(node, keep_decorators=False)
        old_code = self.file.codes.get((node.qualname, node.line), pending.old_code)
        functions = [f for f in function_index.functions(old_code)
                     if not _conform_method(f)]
        swap = Swap(node, node, self._function_code(module_code, node), old_code, functions,
                    [], log=True, closures=False, deferred=module_code)
        self._deferred_swap(swap)

    def refresh_classes(self) -> None:
        """Dataclasses whose fields changed get their generated methods again."""
        for index in sorted(self.touched_classes):
            node = self.new[index] if index > 0 else None
            if node is None or node.kind != "class" or index in self.replaced:
                continue
            try:
                self._refresh_dataclass(index, node)
            except Exception as exc:
                logger.error(f"{self.file.path}:{node.line}: regenerating dataclass "
                             f"{node.qualname} failed", self.file.path, node.line, exc)

    _DATACLASS_MADE = ("__init__", "__repr__", "__eq__", "__hash__", "__match_args__",
                       "__dataclass_fields__", "__dataclass_params__", "__lt__", "__le__",
                       "__gt__", "__ge__", "__setattr__", "__delattr__")

    def _refresh_dataclass(self, index, node) -> None:
        """A dataclass whose fields changed gets the methods the decorator generates
        made again, from the new text, on the same class object."""
        scope_object = self._live_scope(self.new, node)
        cls = _held(scope_object, node.name)
        if isinstance(cls, type):
            classes.refresh_abstracts(cls)
        if not isinstance(cls, type) or "__dataclass_fields__" not in cls.__dict__:
            return
        code = self._compile(node)
        if self._module_level(self.new, node):
            scope = Scope({})
            exec(code, self.namespace, scope)
        else:
            scope = self._run_in_scope(self._scope_code(code, node), scope_object,
                                       capture=True)
        made = scope.writes.get(node.name)
        if not isinstance(made, type):
            return
        own = {self.new[i].name for i in self._scope_members(index)}
        fields_before = set(cls.__dict__["__dataclass_fields__"])
        for name in self._DATACLASS_MADE:
            if name in own:
                continue
            if name in made.__dict__:
                setattr(cls, name, made.__dict__[name])
            elif name in cls.__dict__ and name != "__hash__":
                delattr(cls, name)
        classes.fill_added_fields(cls, fields_before)
        logger.update(self._qualname(node), self.file.path, node.line)

    def _define(self, new, code: types.CodeType, verb: str) -> None:
        if verb == "run":
            self.touched_classes.add(new.parent)
        scope_object = self._live_scope(self.new, new)
        if self._module_level(self.new, new):
            exec(code, self.namespace)
        else:
            self._run_in_scope(self._scope_code(code, new), scope_object, capture=False)
        if verb == "run":
            self._log_run(new)
        elif verb == "replace":
            logger.update(self._qualname(new), self.file.path, new.line)
        else:
            logger.add(self._qualname(new), self.file.path, new.line)
            if isinstance(scope_object, type):
                self.touched_classes.add(new.parent)  # an ABC may have a new abstract

    def _redecorate(self, old, new, code: types.CodeType) -> None:
        """A function whose decorators changed is defined again; what held the old
        one is forwarded to the new one."""
        try:
            before = _held(self._live_scope(self.old, old), old.name)
        except LookupError:
            before = None
        self._define(new, code, "replace")
        if before is None:
            return
        scope_object = self._live_scope(self.new, new)
        after = _held(scope_object, new.name)
        if isinstance(scope_object, dict) and after is not None:
            # `from mod import f` elsewhere (or `g = f` here) names the new object, as
            # in a fresh run; other holders get the trampoline below.
            _rebind_module_names(before, after)
        if self._forward(old, new, before, after):
            logger.notice(f"{self._qualname(new)}: decorators changed, so it was "
                          f"re-created; references taken before now call the new one",
                          self.file.path, new.line)

    def _forward(self, old, new, before, after) -> bool:
        """After a decorator change re-created a function, the old function objects
        (held by references taken before: imports elsewhere, callbacks, bound methods)
        run a trampoline into the new decorated object, so they behave as it does."""
        kinds = (staticmethod, classmethod)
        if type(before) in kinds or type(after) in kinds:
            if type(before) is not type(after):
                logger.notice(f"{self._qualname(new)}: changed between a plain, static "
                              f"and class method; references taken before keep the old "
                              f"version", self.file.path, new.line)
                return False
            before, after = before.__func__, after.__func__
        if isinstance(before, types.FunctionType):
            olds = [before]
        else:
            olds = self._functions_defined_by(old, before)
        updates = []
        for function in olds:
            if function is after or not callable(after):
                continue
            trampoline = _trampoline(after)
            code = trampoline.__code__.replace(co_name=function.__code__.co_name)
            if sys.version_info >= (3, 11):
                code = code.replace(co_qualname=function.__qualname__)
            function_index.forget(function.__code__)
            updates.append(_function_update(function, code, closure=trampoline.__closure__,
                                                defaults=None, kwdefaults=None))
        for layer in _layers(before):
            clear = getattr(layer, "cache_clear", None)
            if callable(clear):
                clear()
        _core.commit(updates)
        return bool(updates) or not olds

    def _log_run(self, new) -> None:
        text = "\n".join(self.new_lines[new.line - 1: new.end_line])
        logger.run(self.file.module_name, self.file.path, new.line, text)

    def _kept_in_new_scope(self, old) -> bool:
        """Whether a same-named definition still exists in the new version of the
        scope of the deleted `old` (then its name stays bound)."""
        scope_index = old.parent
        while scope_index > 0 and self.old[scope_index].kind == "block":
            scope_index = self.old[scope_index].parent
        parent_new = self.old_to_new.get(scope_index)
        return parent_new is not None and any(self.new[i].name == old.name
                                              for i in self._scope_members(parent_new))

    def _delete(self, old) -> None:
        if self._kept_in_new_scope(old):
            return
        try:
            scope = self._live_scope(self.old, old)
        except LookupError:
            return
        held = _held(scope, old.name)
        if held is not None and _conform_method(held):
            _conform_method(held)(None)
        _unbind(scope, old.name)
        logger.delete(self._qualname(old), self.file.path, old.line)


    def _rerun(self, new, code, origin, old_index, new_index) -> None:
        if origin is not None:
            start, end = origin
            if any(start <= line <= end for line in self._running_lines()):
                self.new_origins[new_index] = origin
                logger.notice(f"{self.file.module_name}:{new.line}: this statement is "
                              f"running now; the change applies on restart",
                              self.file.path, new.line)
                return
        scope_object = self._live_scope(self.new, new)
        names = [self.new[i].name for i in self._scope_members(new_index)
                 if self.new[i].kind in DEFINITION_KINDS]
        before = {name: _held(scope_object, name) for name in names}
        if self._module_level(self.new, new):
            exec(code, self.namespace)
        else:
            self._run_in_scope(self._scope_code(code, new), scope_object, capture=False)
        self._keep_identities(scope_object, before)
        self._log_run(new)
        self.touched_classes.add(new.parent)

    def _keep_identities(self, scope_object, before: dict) -> None:
        """A re-run statement that redefines a function leaves the old function object
        in place, running the new code, so references taken earlier stay live. A class
        it redefines stays the live class too: its members are updated by their own
        steps of the save, on the class that instances and references share."""
        for name, old_value in before.items():
            new_value = _held(scope_object, name)
            if new_value is old_value or old_value is None or new_value is None:
                continue
            if getattr(old_value, "__qualname__", None) != getattr(
                    new_value, "__qualname__", None):
                continue
            if (isinstance(old_value, types.FunctionType)
                    and isinstance(new_value, types.FunctionType)):
                old_code = old_value.__code__
                _core.commit([_function_update(
                    old_value, new_value.__code__, closure=new_value.__closure__,
                    defaults=new_value.__defaults__, kwdefaults=new_value.__kwdefaults__,
                    annotations=dict(new_value.__annotations__), doc=new_value.__doc__)])
                function_index.move(old_code, new_value.__code__)
                _bind(scope_object, name, old_value)
            elif (isinstance(old_value, type) and isinstance(new_value, type)
                    and type(old_value) is type(new_value)
                    and old_value.__bases__ == new_value.__bases__):
                _bind(scope_object, name, old_value)

    def _replace_class(self, old, new_index, new, code, reason: str = "") -> None:
        scope_object = self._live_scope(self.new, new)
        current = _held(scope_object, old.name)
        if self._module_level(self.new, new):
            scope = Scope({})
            exec(code, self.namespace, scope)
        else:
            scope = self._run_in_scope(self._scope_code(code, new), scope_object, capture=True)
        made = scope.writes.get(new.name)
        if (reason in ("", "its decorators changed") and isinstance(current, type)
                and isinstance(made, type)
                and type(made) is type(current) and current.__bases__ != made.__bases__):
            try:
                current.__bases__ = made.__bases__
                logger.update(self._qualname(new), self.file.path, new.line)
                return
            except TypeError:
                pass
        _bind(scope_object, new.name, made)
        self.replaced.add(new_index)
        self._index_class_functions(made, new)
        logger.update(self._qualname(new), self.file.path, new.line)
        if not isinstance(current, type) or not isinstance(made, type):
            return
        migration = classes.migrate(current, made)
        if migration.reasons:  # a complete migration needs no word beyond "Update"
            text = classes.describe(self._qualname(new), reason or "its header changed",
                                    migration)
            logger.notice(f"{self.file.path}:{new.line}: {text}", self.file.path, new.line)

    def _index_class_functions(self, cls, node) -> None:
        """Remember the functions of a re-created class, so that later edits of its
        methods reach them (not the functions of the class it replaced)."""
        if not isinstance(cls, type):
            return
        prefix = node.qualname + "."
        for value in list(cls.__dict__.values()):
            for function in _functions_in(value, set()):
                code = function.__code__
                if (self.file._same_file(code.co_filename)
                        and function.__qualname__.startswith(prefix)):
                    function_index.add(code, function)
                    self.new_codes[(function.__qualname__, code.co_firstlineno)] = code


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


_CO_OPTIMIZED = 0x1


def _names_in(code: types.CodeType, top: bool = True, everything: bool = False) -> Set[str]:
    """The names `code` reads or binds when it runs: its own (unless `top` is False)
    and those of the code it runs right away (class bodies, comprehensions, PEP 695
    type-parameter scopes), not function bodies, which run later (with `everything`,
    those too)."""
    names = set(code.co_names) if top else set()
    for const in code.co_consts:
        if not isinstance(const, types.CodeType):
            continue
        runs_now = (not const.co_flags & _CO_OPTIMIZED or const.co_name in _TRANSIENT
                    or const.co_name.startswith("<generic parameters of"))
        if everything or runs_now:
            names |= _names_in(const, True, everything)
    return names


def _only_defines(statement) -> bool:
    """Whether a class-body statement only defines something (see `_defines_only`)."""
    import ast

    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Pass,
                              ast.Assign, ast.AnnAssign)):
        return True
    if isinstance(statement, ast.ClassDef):
        return all(_only_defines(inner) for inner in statement.body)
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


def _import_statements(lines: List[str]) -> Optional[list]:
    """The `import`/`from ... import` statements the text is made of, or None if it
    holds anything else."""
    import ast

    try:
        tree = ast.parse("\n".join(lines) + "\n")
    except (SyntaxError, ValueError):
        return None
    if not tree.body or not all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in tree.body):
        return None
    return tree.body
