# The one commit of a save (or a batch of saves): swaps, closures made before, and the
# steps that can be built without binding anything, published in one `_core.commit`
# (the second phase of a save, after plan.py, before apply.py's live steps).

from __future__ import annotations

import importlib
import sys
import time
import types
from typing import Dict, Iterable, List, Optional, Set, Tuple

from . import _core, cpython, inflight
from .apply import LiveSteps
from .context import SaveContext
from .inert import CommitRule, names_in, waiting_swaps
from .logs import logger
from .liveobjects import (
    _bind, _bindable, closure_for, _conform_method, _function_update, _held,
    _module_names_bound_to, _nested_codes, Scope,
)
from .records import (
    CommitPart, FilePlan, Prebuilt, Progress, SaveOutcome, STATEMENT_VERBS, Step, Swap,
    _TRANSIENT,
)
from .swaps import Swapper


# How long a deleted name may stay bound for calls still running the old code that
# reads it (then it is unbound anyway: such a call runs for long, as a loop would).
_UNUSED_WAIT = 0.5


def _commit_when_unused(updates: list, bindings: list, unbound: List[Tuple[dict, object]],
                        new_bases: list = ()) -> None:
    """`_core.commit(updates, bindings)`, except for the names it unbinds that a call
    running in another thread still reads. Such a call started before the commit and
    goes on running the old code (`c()` in the old `b()`, whose `c` the save
    deletes): unbinding the name under it would raise NameError in a program that
    never saw two versions mixed. So those names stay bound to their old values until
    no running call reads them (no call can start reading them after the commit: its
    functions run the new code), then are unbound in a later commit. `unbound` pairs
    the module namespace whose code reads each name with its UNBIND binding.

    `_core.commit` itself looks at the running calls (`hold_if_read`), in the same
    step as the stores: a check made here in Python could be stale by the commit, as
    another thread may run in between and enter the old code.

    `new_bases` set classes' `__bases__` first in the same step. CPython may refuse
    one (a layout, a subclass whose MRO the new bases break): the commit is then made
    without them, and those classes are made again after it (see the committer's
    `_prebuild_replaced_class`)."""
    try:
        held = _core.commit(updates, bindings=[*new_bases, *bindings], hold_if_read=unbound)
    except TypeError:
        if not new_bases:
            raise
        held = _core.commit(updates, bindings=bindings, hold_if_read=unbound)
    if not held:
        return
    old_values = {id(binding): _held(binding.namespace, binding.name) for _, binding in held}
    deadline = time.monotonic() + _UNUSED_WAIT
    while held:
        time.sleep(0.001)
        # unless something bound the name again meanwhile (no step of ours runs yet)
        held = [(namespace, binding) for namespace, binding in held
                if _held(binding.namespace, binding.name) is old_values[id(binding)]]
        still_read = held if time.monotonic() < deadline else []
        held = _core.commit([], bindings=[binding for _, binding in held],
                            hold_if_read=still_read)


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


class Committer:
    """One file's share of a batch's commit: every swap of its plan, then the steps at
    the head of the file, built without binding anything; and what follows the commit
    (index, log, hooks). A step that fails to build is handed to the live steps, which
    report and retry it."""

    def __init__(self, context: SaveContext, plan: FilePlan, outcome: SaveOutcome,
                 swapper: Swapper, live: LiveSteps):
        self.context = context
        self.plan = plan
        self.outcome = outcome
        self.swapper = swapper
        self.live = live
        self.file = context.file
        self.old, self.new = context.old, context.new
        self.new_lines = context.new_lines
        self.namespace = context.namespace

    def build(self, batch: "BatchCommit") -> CommitPart:
        """This file's share of the batch's one commit: every swap (with the closures
        made before), then the steps that can be built without binding anything.
        Nothing is visible to other threads until the commit."""
        part = CommitPart()
        # The steps first: which definitions are made live decides which swaps wait.
        self._prebuild_steps(batch, part)
        self.outcome.waiting_swaps = self._waiting_swaps()
        waiting = {id(swap) for swaps in self.outcome.waiting_swaps.values() for swap in swaps}
        nested_map: Dict[types.CodeType, types.CodeType] = {}
        for swap in self.plan.swaps:
            if id(swap) in waiting:
                continue
            part.updates.extend(self.swapper.updates(swap))
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
        part.finishers.insert(0, lambda: self._finish_swaps(lost, waiting))
        return part

    def _waiting_swaps(self) -> Dict[int, List[Swap]]:
        """The swaps that wait for a live step (inert.waiting_swaps). Swaps that also
        reach existing closures stay in the commit."""
        live = [step for step in self.plan.steps if id(step) not in self.outcome.prebuilt
                and step.index >= 0 and self.context.module_level(self.new, step.node)]
        # A generator: waiting_swaps reads it only if a definition is made live (most
        # saves make none, and their swaps' nested code is not walked for this).
        swaps = (swap for swap in self.plan.swaps
                 if not (swap.closures and any(code.co_name not in _TRANSIENT for code
                                               in _nested_codes(swap.old_code).values())))
        return waiting_swaps(swaps, live)

    def finish(self, part: CommitPart) -> None:
        """What follows the commit: index, log and hooks of what it published."""
        for finish in part.finishers:
            finish()

    def _finish_swaps(self, lost, waiting: Set[int]) -> None:
        for function, missing in lost:
            line = function.__code__.co_firstlineno
            logger.notice(f"{self.file.path}:{line}: existing closure {function.__qualname__} "
                          f"has no value for new free variable(s) {', '.join(missing)} (made "
                          f"before it used them); it raises NameError until it is made "
                          f"again", self.file.path, line)
        committed = [swap for swap in self.plan.swaps if id(swap) not in waiting]
        for swap in committed:
            self.swapper.finish(swap)
        if committed:
            old_codes = [(swap.old_code, self.context.qualname(swap.new))
                         for swap in committed]
            inflight.watch_calls(inflight.calls_of_swapped_code(old_codes, self.file.path))

    # -- steps built for the commit ---------------------------------------------------

    def _prebuild_steps(self, batch: "BatchCommit", part: CommitPart) -> None:
        """Build for the commit the steps that `CommitRule` offers: those at the head
        of the file (no live step of the save comes before them: a fresh run makes
        them in that same order), deletions, and definitions further down that run
        no code and read nothing the live steps above them name. The first step that
        cannot be built so (a statement, an added class whose body runs code for its
        effects, a class below the module level re-created, a signature update
        waiting for a statement) runs live after the commit, in file order, and so
        does every step after it that is not offered: building a later one first
        would run its decorators before code the file runs above it."""
        rule = CommitRule(self._bound_now)
        for step in self.plan.steps:
            if not rule.offers(step):
                rule.ran_live(step)
                continue
            try:
                built = self._prebuild(step, batch, past_head=not rule.head)
            except (NameError, KeyError):
                # Most likely a name of this batch that a scratch build cannot see
                # (read through the module's globals by a decorator's own code), or a
                # definition that bound no name of its own: made live after the
                # commit instead (its code then runs twice; one that fails for real
                # fails there again, and is reported and retried).
                built = None
            except Exception as exc:
                # It fails in a fresh run too: reported and retried as a live step is.
                self.outcome.prebuilt.add(id(step))
                self.live.step_failed(step, exc)
                continue
            if built is None:
                rule.ran_live(step)
                continue
            self.outcome.prebuilt.add(id(step))
            part.bindings.extend(built.bindings)
            part.updates.extend(built.updates)
            part.finishers.append(built.finish)
            part.unbound.extend(built.unbound)
            part.new_bases.extend(built.new_bases)
        batch.settle(self.file.module_name, self._names_bound_after_commit())

    def _bound_now(self, step: Step) -> bool:
        """Whether the name `step` defines is bound in its live scope already."""
        try:
            scope = self.context.live_scope(self.new, step.node)
        except LookupError:
            return True
        return step.node.name in (scope if isinstance(scope, dict) else vars(scope))

    def _bases_run_no_code(self, step: Step, batch: "BatchCommit") -> bool:
        """Whether making the definition of `step` runs no code of the user's (a
        function's: none): a class's plain-name bases are plain classes, none of them
        with an `__init_subclass__` of its own."""
        import builtins

        for name in step.making.bases:
            value = batch.value(self.namespace, name)
            if value is _core.UNBIND:
                value = getattr(builtins, name, None)
            if type(value) is not type or any(
                    "__init_subclass__" in vars(klass) for klass in value.__mro__[:-1]):
                return False
        return True

    def _prebuild_assignment(self, step: Step, batch: "BatchCommit") -> Optional[Prebuilt]:
        """A module-level assignment to plain names that calls nothing (`X = 3`,
        `A, B = "a", X`), evaluated in the batch's scratch scope and bound by the
        commit, so the functions of the save that read it see its new value with
        them. A name that holds a function or class stays with the live step (which
        keeps that object's identity)."""
        new = step.node
        if step.making is None or self.new[0].kind != "module" or new.parent != 0:
            return None
        if step.origin is not None and any(step.origin[0] <= line <= step.origin[1]
                                           for line in self.context.running_lines()):
            return None
        for name in step.making.reads:
            value = batch.value(self.namespace, name)
            if isinstance(value, types.ModuleType) and value.__name__ in batch.modules:
                return None  # its attributes the batch changes are not bound yet
        scratch = batch.scratch(self.namespace)
        before = dict(scratch.writes)
        try:
            exec(step.code, self.namespace, scratch)
            written = {name: value for name, value in scratch.writes.items()
                       if before.get(name, _core.UNBIND) is not value}
            if any(isinstance(self.namespace.get(name), (type, types.FunctionType))
                   for name in written):
                raise LookupError("it rebinds a function or class")
        except LookupError:  # NameError too: made live instead, where it may fail for real
            scratch.writes.clear()
            scratch.writes.update(before)
            return None

        def finish() -> None:
            self.context.log_run(new)
            Progress.tick()

        return Prebuilt([_core.Binding(self.namespace, name, value)
                         for name, value in written.items()], [], finish)

    def _prebuild(self, step: Step, batch: "BatchCommit", past_head: bool
                  ) -> Optional[Prebuilt]:
        """Build one step for the commit (None: it must run live instead)."""
        if step.verb == "add":
            if past_head and not self._bases_run_no_code(step, batch):
                return None
            return self._prebuild_definition(step.node, step.code, batch)
        if step.verb == "delete":
            return self._prebuild_delete(step.node, batch)
        if step.verb == "replace" and step.node.kind == "class":
            return self._prebuild_replaced_class(step, batch)
        if step.verb == "replace":
            return self._prebuild_redecorated(step, batch)
        if step.verb == "run":
            return (self._prebuild_import(step.node, step.origin, batch)
                    or self._prebuild_assignment(step, batch))
        return None

    def _names_bound_after_commit(self) -> Set[str]:
        """The names that steps run after the commit may bind (a statement's every
        name, conservatively): an import of them in another file of the batch must
        wait for those steps, as it does today."""
        names: Set[str] = set()
        for step in self.plan.steps:
            if id(step) in self.outcome.prebuilt:
                continue
            if step.node.name:
                names.add(step.node.name)
            if step.verb in STATEMENT_VERBS and step.code is not None:
                names |= names_in(step.code, everything=True)
        return names

    def _under_replaced_class(self, node) -> bool:
        replaced = {step.index for step in self.plan.steps
                    if step.verb == "replace" and self.new[step.index].kind == "class"}
        return bool(replaced.intersection(self.context.ancestor_indices(self.new, node)))

    def _prebuild_definition(self, new, code: types.CodeType,
                             batch: "BatchCommit") -> Optional[Prebuilt]:
        """An added function or class, made in a scratch scope that sees the batch's
        earlier unbound values, as a fresh run makes it; the commit binds it."""
        if new.kind == "class" and not self._defines_only(new):
            return None
        made = self._made_in_scratch(new, code, batch)
        if made is None:
            return None
        scope_object, value = made

        def finish() -> None:
            logger.add(self.context.qualname(new), self.file.path, new.line)
            if isinstance(scope_object, type):
                self.outcome.touched_classes.add(new.parent)  # an ABC may have a new abstract
            Progress.tick()

        return Prebuilt([_core.Binding(scope_object, new.name, value)], [], finish)

    def _made_in_scratch(self, new, code: types.CodeType, batch: "BatchCommit"
                         ) -> Optional[Tuple[object, object]]:
        """(live scope, value) of the definition `new`, made by running its context
        compile in a scratch scope of the batch, bound nowhere yet; None when it
        cannot be made so (see `_prebuild_definition`)."""
        if self._under_replaced_class(new):
            return None
        scope_object = self.context.live_scope(self.new, new)
        if not _bindable(scope_object, new.name):
            return None
        module_level = self.context.module_level(self.new, new)
        scope_code = code if module_level else self.context.scope_code(code, new)
        # Code that reads the module's names through its globals (a class body, a
        # type-parameter scope) would not see those the batch has not bound yet.
        through_globals = names_in(scope_code, top=not module_level)
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
        return scope_object, value

    def _prebuild_redecorated(self, step: Step, batch: "BatchCommit") -> Optional[Prebuilt]:
        """A function whose decorators changed (or that became or stopped being a
        generator), made again in a scratch scope; the commit binds it, rebinds the
        module names that held the old object (`from mod import f` elsewhere) and
        turns the old function objects into trampolines into it, all in one step."""
        old, new = step.old, step.node
        before = self.live.held_before(old)
        made = self._made_in_scratch(new, step.code, batch)
        if made is None:
            return None
        scope_object, after = made
        bindings = [_core.Binding(scope_object, new.name, after)]
        forwarding = None
        if before is not None:
            if isinstance(scope_object, dict):
                bindings += [_core.Binding(namespace, name, after)
                             for namespace, name in _module_names_bound_to(before)
                             if not (namespace is scope_object and name == new.name)]
            forwarding = self.live.forwarding(old, before, after)

        def finish() -> None:
            logger.update(self.context.qualname(new), self.file.path, new.line)
            if forwarding is not None:
                self.live.finish_forwarding(new, forwarding)
            Progress.tick()

        return Prebuilt(bindings, forwarding.updates if forwarding else [], finish)

    def _prebuild_replaced_class(self, step: Step, batch: "BatchCommit") -> Optional[Prebuilt]:
        """A module-level class made again from the new text (its metaclass or decorator
        makes it again when members change, an Enum that gains one; or its header or
        decorators changed), made in a scratch scope so that the commit binds it in the
        same step as the swaps of the functions that use what it gained. Its instances
        migrate after the commit. A class that only gets new bases stays the live
        object: they are set right after the commit."""
        old, new, code = step.old, step.node, step.code
        if not self.context.module_level(self.new, new) or self._under_replaced_class(new):
            return None
        scope_object = self.context.live_scope(self.new, new)
        if not _bindable(scope_object, new.name):
            return None
        if names_in(code, top=False) & batch.unbound_names(self.namespace):
            return None  # its body reads a name of the batch that is not bound yet
        current = _held(scope_object, old.name)
        scratch = batch.scratch(scope_object)
        exec(code, self.namespace, scratch)
        made = scratch.writes[new.name]
        if self.live.keeps_identity(current, made, step):
            def after_new_bases() -> None:
                if current.__bases__ == made.__bases__:
                    logger.update(self.context.qualname(new), self.file.path, new.line)
                elif not self.live.takes_new_bases(current, made, step):
                    _bind(scope_object, new.name, made)  # its layout refused them
                    self.live.adopt_replaced_class(current, made, step)
                Progress.tick()

            return Prebuilt([], [], after_new_bases,
                            new_bases=[_core.Binding(current, "__bases__", made.__bases__)])

        def finish() -> None:
            self.live.adopt_replaced_class(current, made, step)
            Progress.tick()

        return Prebuilt([_core.Binding(scope_object, new.name, made)], [], finish)

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
        try:
            scope = self.context.live_scope(self.old, old)
        except LookupError:
            return Prebuilt()
        if not _bindable(scope, old.name):
            return None
        held = _held(scope, old.name)
        batch.unbind(scope, old.name)

        def finish() -> None:
            if held is not None and _conform_method(held):
                _conform_method(held)(None)
            logger.delete(self.context.qualname(old), self.file.path, old.line)
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
                                      for line in self.context.running_lines()):
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
            self.context.log_run(new)
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
