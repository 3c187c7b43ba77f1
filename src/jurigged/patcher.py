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

This module is the facade (SourceFile, batches, retries); `Patch` (patch.py), one
save of one file, wires its phases: plan.py's Planner (1), commit.py's Committer (2)
and apply.py's LiveSteps (3, 4), over context.py (the save's trees, a node compiled
in its context, its live scope), swaps.py (a swap carried out), records.py (the typed
records: FilePlan, Step, SaveOutcome...) and liveobjects.py (namespaces, functions and
the function index).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import types

TYPE_CHECKING = False  # typing costs ~5 ms of start-up: annotations only (strings)
if TYPE_CHECKING:
    from typing import Callable, Collection, Dict, Iterable, List, Optional, Set, Tuple

    from .parsing import SourceLines

from .logs import logger

# The patch machinery (plan, commit, apply and their records: ~10 ms of imports) loads
# with the first save: watching costs every program at start-up, editing only some.
# Its names are imported where they are used; these are for callers and tests.
_LAZY = {"Patch": "patch", "function_index": "liveobjects", "PatchError": "records",
         "Pending": "records", "Progress": "records", "CommitPart": "records"}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __package__), name)


# Held around every apply (the watcher thread's batches, Recoders, retries), so that
# two appliers never interleave their steps on the same live modules. Re-entrant: an
# apply may run user code that applies (a Recoder called from a re-run statement).
apply_lock = threading.RLock()


# The files whose `pending` is not empty, by id (see SourceFile.pending).
_failing: Dict[int, "SourceFile"] = {}


def failing_files() -> List["SourceFile"]:
    """Every file with failed steps to retry."""
    return list(_failing.values())


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
        self.pending: List[Pending] = []

    @property
    def pending(self) -> List[Pending]:
        """Failed steps, retried on later saves."""
        return self._pending

    @pending.setter
    def pending(self, steps: List[Pending]) -> None:
        # Assigned, never changed in place: the files with failed steps are then
        # known without a look at every watched file on each save.
        self._pending = steps
        if steps:
            _failing[id(self)] = self
        else:
            _failing.pop(id(self), None)

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
        # Resolved only when asked (rarely): one lstat per path component, for every
        # imported module, was ~40 us of each import.
        return (filename == self.path
                or os.path.realpath(filename) == os.path.realpath(self.path))

    # -- parsing --------------------------------------------------------------------

    def _parse(self, source: bytes):
        from .parsing import SourceLines, parse_source

        tree = parse_source(source, self.path, against=self.tree)
        lines = SourceLines(source, tree)
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
        from .patch import Patch
        from .records import PatchError

        try:
            patch = Patch.planned(self, new_tree, new_lines, source)
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
        context = patch.context
        self.source = source
        self.tree, self.lines, self.nodes = context.new_tree, context.new_lines, context.new
        self.codes = patch.outcome.codes
        self.origins = patch.outcome.origins
        self.pending = list(patch.plan.carried_pending)


# -- batches -------------------------------------------------------------------------------


def apply_batch(changes: List[Tuple[SourceFile, bytes]],
                watched: Iterable[SourceFile] = (), *, report: bool = True,
                every_file: Optional[Collection[SourceFile]] = None,
                on_staged: Optional[Callable[[], None]] = None) -> List[SourceFile]:
    """Apply files saved together as one unit: every file is validated and compiled
    first (a refused file is reported, the others still apply); then every swap of
    every file, with the definitions, deletions and imports built for it, becomes
    visible in one commit; then the other steps run, statements a module after the
    modules of the batch it imports from. Failed steps of this batch and of earlier
    ones (in `watched` files) are retried at the end. Returns the files whose save
    was applied. With `report=False`, steps that still fail are not reported yet (the
    watcher first gives the next save of a checkout a moment to fix them): call
    `report_failures` then. `every_file`: all watched files, where the caches the
    batch may make stale are looked for (by default the batch's and `watched`).
    `on_staged` is called when every file is compiled, before anything live changes."""
    with apply_lock:
        return _apply_batch(changes, watched, report, every_file, on_staged)


def _apply_batch(changes: List[Tuple[SourceFile, bytes]],
                 watched: Iterable[SourceFile], report: bool,
                 every_file: Optional[Collection[SourceFile]],
                 on_staged: Optional[Callable[[], None]] = None) -> List[SourceFile]:
    from .records import Progress

    latest: Dict[int, Tuple[SourceFile, bytes]] = {}
    for file, source in changes:  # a file saved twice in one batch: its last text
        latest.pop(id(file), None)
        latest[id(file)] = (file, source)
    Progress.tick()
    staged = [(file, source, file.stage(source)) for file, source in latest.values()]
    staged = [(file, source, patch) for file, source, patch in staged if patch is not None]
    if on_staged is not None:
        on_staged()
    committed = _commit_batch(staged)
    applied: List[Tuple[SourceFile, "Patch"]] = []
    for file, source, patch in staged:  # in batch order, as before
        if id(file) in committed:
            _guarded(file, lambda: patch.committer.finish(committed[id(file)]))
            file.adopt(patch, source)
            applied.append((file, patch))
    for file, patch in applied:
        _guarded(file, lambda: patch.live.run_steps(early=True))
    for file, patch in _dependency_order(applied):
        _guarded(file, lambda: patch.live.run_steps(early=False))
    for file, patch in applied:
        _guarded(file, patch.live.refresh_classes)
        if patch.outcome.failures:
            file.pending = file.pending + patch.outcome.failures
    files = [file for file, _ in applied]
    files += [file for file in watched if file not in files]
    changed = {name for _, patch in applied for name in patch.plan.changed_names}
    retry_pending(files, changed, report=report)
    _clear_stale_caches(applied, files if every_file is None else every_file, changed)
    return [file for file, _ in applied]


def _clear_stale_caches(applied, files: Collection[SourceFile], changed: Set[str]) -> None:
    """Cached results computed from what the batch changed are forgotten."""
    from . import caches

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
    from .commit import BatchCommit, _commit_when_unused

    batch = BatchCommit(file.module_name for file, _, _ in staged)
    parts: Dict[int, CommitPart] = {}
    for file, patch in _dependency_order([(file, patch) for file, _, patch in staged]):
        part = _guarded_value(file, lambda: patch.committer.build(batch))
        if part is not None:
            parts[id(file)] = part
    try:
        _commit_when_unused([u for part in parts.values() for u in part.updates],
                            [b for part in parts.values() for b in part.bindings],
                            [n for part in parts.values() for n in part.unbound],
                            [b for part in parts.values() for b in part.new_bases])
        return parts
    except (TypeError, ValueError):
        pass
    committed: Dict[int, CommitPart] = {}
    for file, _, patch in staged:
        part = parts.get(id(file))
        if part is None:
            continue
        try:
            _commit_when_unused(part.updates, part.bindings, part.unbound, part.new_bases)
            committed[id(file)] = part
        except (TypeError, ValueError) as exc:
            logger.error(f"{file.path}: could not update the live functions ({exc}); "
                         f"nothing applied", file.path, 0)
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
    from .patch import Patch
    from .plan import names_bound_by
    from .records import Progress

    patch = Patch.over_current_text(file)
    still, progress = [], False
    for pending in file.pending:
        if pending.failed_at >= Progress.count:
            still.append(pending)  # nothing happened since it failed
            continue
        try:
            patch.live.retry(pending)
            Progress.tick()
            progress = True
            if changed is not None:
                changed |= names_bound_by(file.nodes[pending.index], file.lines)
        except Exception as exc:
            pending.error, pending.failed_at = exc, Progress.count
            still.append(pending)
    file.pending = still
    file.codes.update(patch.outcome.codes)
    file.origins.update(patch.outcome.origins)
    patch.live.refresh_classes()
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
        for imported in _imported_modules(file, patch.context.new_lines):
            if imported in by_module:
                visit(imported)
        ordered.append((file, patch))

    for file, _ in applied:
        visit(file.module_name)
    return ordered


def _imported_modules(file: SourceFile, lines: SourceLines) -> Set[str]:
    """The modules (and their parent packages) a file's text imports from, relative
    imports resolved against its package. Read from the import lines alone, not a
    parse of the whole file (~30 ms at 10,000 lines): a line that only looks like an
    import (in a string) adds an order among the batch's files, nothing else."""
    import re

    is_package = os.path.basename(file.path) == "__init__.py"
    package = file.module_name if is_package else file.module_name.rpartition(".")[0]
    names: Set[str] = set()
    text = lines.text
    for match in re.finditer(r"^[ \t]*import[ \t]+([^\n;#]+)", text, re.M):
        names.update(_leading_names(match.group(1)))
    for match in re.finditer(r"^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]*"
                             r"(\([^)]*\)|[^\n;#]*)", text, re.M):
        level, base = len(match.group(1)), match.group(2)
        if level:
            parts = package.split(".") if package else []
            parts = parts[: len(parts) - (level - 1)] if level > 1 else parts
            base = ".".join(parts + ([base] if base else []))
        if base:
            names.add(base)
            names.update(f"{base}.{name}" for name in _leading_names(match.group(3)))
    parents = {".".join(name.split(".")[:k]) for name in names
               for k in range(1, name.count(".") + 1)}
    return names | parents


def _leading_names(aliases: str) -> List[str]:
    """The dotted names of `a.b as c, (d, e)`: a.b, d, e."""
    import re

    found = (re.match(r"[\w.]+", part.strip(" \t\n()\\")) for part in aliases.split(","))
    return [match.group(0) for match in found if match]
