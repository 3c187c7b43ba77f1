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

import importlib
import os
import sys
import threading
import types
from importlib.util import decode_source
from typing import Collection, Dict, Iterable, List, Optional, Set, Tuple

from . import _core, caches, classes
from .logs import logger
from .parsing import parse_source
from .commit import BatchCommit, _commit_when_unused, PatchCommit
from .plan import PatchPlan
from .context import PatchContext
from .liveobjects import (
    _bind, _conform_method, function_index, _function_update, _functions_in, _held, _layers, _rebind_module_names, Scope, _trampoline, _unbind,
)
from .records import (
    CommitPart, DEFINITION_KINDS, PatchError, Pending, Progress, STATEMENT_VERBS, Step, Swap,
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


class Patch(PatchPlan, PatchContext, PatchCommit):
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


