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
from importlib.util import decode_source
from typing import Collection, Dict, Iterable, List, Optional, Set, Tuple

from . import _core, caches, classes, cpython
from .logs import logger
from .parsing import parse_source
from .plan import PatchPlan
from .context import PatchContext
from .liveobjects import (
    _bind, _bindable, closure_for, _code_doc, _conform_method, function_index, _function_update, _functions_in, _held, _layers, _nested_codes, _rebind_module_names, Scope, _trampoline, _unbind,
)
from .records import CommitPart, DEFINITION_KINDS, PatchError, Pending, Prebuilt, Progress, STATEMENT_VERBS, Step, Swap, _TRANSIENT


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


class Patch(PatchPlan, PatchContext):
    """One save of one file, from plan to live objects."""


    def _delete_class_attribute(self, old, attribute: str) -> None:
        cls = _held(self._live_scope(self.old, self.old[old.parent]), self.old[old.parent].name)
        if isinstance(cls, type) and attribute in cls.__dict__:
            try:
                delattr(cls, attribute)
            except (AttributeError, TypeError):
                return  # a metaclass that keeps it (its class is re-created instead)
            logger.delete(f"{self._qualname(self.old[old.parent])}.{attribute}",
                          self.file.path, old.line)


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
