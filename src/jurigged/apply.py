# The live steps of a save after its commit (the third phase, after plan.py and
# commit.py): definitions, deletions, re-run statements, re-created classes and
# decorator changes, failed steps retried, dataclasses refreshed.

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Optional

from . import _core, classes, inflight
from .logs import logger
from .liveobjects import (
    _bind, _conform_method, function_index, _function_update, _functions_in, _held, _layers,
    _rebind_module_names, Scope, _trampoline, _unbind,
)
from .context import SaveContext
from .records import (
    DEFINITION_KINDS, FilePlan, Pending, Progress, REASON_DECORATORS, REASON_HEADER,
    SaveOutcome, STATEMENT_VERBS, Step, Swap,
)
from .swaps import Swapper


@dataclass
class Forwarding:
    """How the old function objects of a re-created function forward to the new one:
    the trampoline updates (for a commit) and what follows them."""

    before: object                  # what the scope held before
    after: object                   # what it holds now
    forwarded: list                 # (function, the code it ran)
    updates: list                   # for `_core.commit`
    said: bool = False              # worth the "references now call the new one" line
    kinds_changed: bool = False     # plain/static/class method changed: not forwarded


class LiveSteps:
    """The steps of one save's plan that the commit did not take, run live in file
    order; failures kept in the outcome for retry."""

    def __init__(self, context: SaveContext, plan: FilePlan, outcome: SaveOutcome,
                 swapper: Swapper):
        self.context = context
        self.plan = plan
        self.outcome = outcome
        self.swapper = swapper
        self.file = context.file
        self.old, self.new = context.old, context.new
        self.new_lines = context.new_lines
        self.namespace = context.namespace

    def run(self, step: Step) -> None:
        """Do one step live (raises what it raises)."""
        verb, node = step.verb, step.node
        if verb == "add":
            self._define(node, step.code, "add")
        elif verb == "delete" and step.attribute:
            self._delete_class_attribute(node, step.attribute)
        elif verb == "delete":
            self._delete(node)
        elif verb == "replace" and node.kind == "class":
            self._replace_class(step)
        elif verb == "replace":
            self._redecorate(step.old, node, step.code)
        elif verb == "run":
            self._rerun(node, step.code, step.origin, step.index)
        else:
            self.swapper.apply_deferred(step.swap)

    def _delete_class_attribute(self, old, attribute: str) -> None:
        cls = _held(self.context.live_scope(self.old, self.old[old.parent]), self.old[old.parent].name)
        if isinstance(cls, type) and attribute in cls.__dict__:
            try:
                delattr(cls, attribute)
            except (AttributeError, TypeError):
                return  # a metaclass that keeps it (its class is re-created instead)
            logger.delete(f"{self.context.qualname(self.old[old.parent])}.{attribute}",
                          self.file.path, old.line)

    # -- 3. run --------------------------------------------------------------------------

    def run_steps(self, early: bool) -> None:
        """Run the early steps (deletions, and definitions no statement of this save
        comes before: a batch binds them in every file first), or the others, in file
        order (a definition after a changed statement may use what it made, as at
        import). A failure is kept in `failures` (to retry) or reported."""
        live = [step for step in self.plan.steps
                if id(step) not in self.outcome.prebuilt]  # the rest was committed
        first_statement = next((i for i, step in enumerate(live)
                                if step.verb in STATEMENT_VERBS), len(live))
        for position, step in enumerate(live):
            if early != (step.verb == "delete" or position < first_statement):
                continue
            if step.index >= 0 and self.outcome.replaced.intersection(
                    self.context.ancestor_indices(self.new, step.node)):
                continue  # its class was re-created with it inside
            try:
                self.run(step)
                Progress.tick()
            except Exception as exc:
                self.step_failed(step, exc)
            self.apply_waiting_swaps(step)
        if not early:
            self.apply_waiting_swaps()

    def apply_waiting_swaps(self, step: Optional[Step] = None) -> None:
        """The swaps that waited for `step` to run (made or failed), or every one left."""
        keys = [id(step)] if step is not None else list(self.outcome.waiting_swaps)
        for key in keys:
            for swap in self.outcome.waiting_swaps.pop(key, ()):
                self.swapper.apply_now(swap)

    def step_failed(self, step: Step, exc: BaseException) -> None:
        """Keep a failed step for retry (or report it, for a deletion)."""
        new_index, node, verb = step.index, step.node, step.verb
        if new_index >= 0 and verb in ("run", "add", "update", "replace"):
            old_code = step.swap.old_code if step.swap is not None else None
            if old_code is not None:
                # The functions still run it: later lookups must find them by it.
                self.outcome.codes[(node.qualname, node.line)] = old_code
            action = (lambda: self.run(step)) if verb == "replace" else None
            self.outcome.failures.append(Pending(new_index, verb, exc, action, old_code,
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
            self._rerun(node, self.context.compile(node), origin, pending.index)
        elif pending.verb == "add":
            self._define(node, self.context.compile(node), "add")
        elif pending.verb == "replace":
            pending.action()  # prepared from this same text: no save of it came since
        else:
            self._retry_swap(node, pending)

    def _retry_swap(self, node, pending: Pending) -> None:
        module_code = self.context.compile(node, keep_decorators=False)
        old_code = self.file.codes.get((node.qualname, node.line), pending.old_code)
        functions = [f for f in function_index.functions(old_code)
                     if not _conform_method(f)]
        swap = Swap(node, node, self.context.function_code(module_code, node), old_code, functions,
                    [], log=True, closures=False, deferred=module_code)
        self.swapper.apply_deferred(swap)

    def refresh_classes(self) -> None:
        """Dataclasses whose fields changed get their generated methods again."""
        for index in sorted(self.outcome.touched_classes):
            node = self.new[index] if index > 0 else None
            if node is None or node.kind != "class" or index in self.outcome.replaced:
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
        scope_object = self.context.live_scope(self.new, node)
        cls = _held(scope_object, node.name)
        if isinstance(cls, type):
            classes.refresh_abstracts(cls)
        if not isinstance(cls, type) or "__dataclass_fields__" not in cls.__dict__:
            return
        code = self.context.compile(node)
        if self.context.module_level(self.new, node):
            scope = Scope({})
            exec(code, self.namespace, scope)
        else:
            scope = self.context.run_in_scope(self.context.scope_code(code, node), scope_object,
                                       capture=True)
        made = scope.writes.get(node.name)
        if not isinstance(made, type):
            return
        own = {self.new[i].name for i in self.context.scope_members(index)}
        fields_before = set(cls.__dict__["__dataclass_fields__"])
        for name in self._DATACLASS_MADE:
            if name in own:
                continue
            if name in made.__dict__:
                setattr(cls, name, made.__dict__[name])
            elif name in cls.__dict__ and name != "__hash__":
                delattr(cls, name)
        classes.fill_added_fields(cls, fields_before)
        logger.update(self.context.qualname(node), self.file.path, node.line)

    def _define(self, new, code: types.CodeType, verb: str) -> None:
        if verb == "run":
            self.outcome.touched_classes.add(new.parent)
        scope_object = self.context.live_scope(self.new, new)
        if self.context.module_level(self.new, new):
            exec(code, self.namespace)
        else:
            self.context.run_in_scope(self.context.scope_code(code, new), scope_object, capture=False)
        if verb == "run":
            self.context.log_run(new)
        elif verb == "replace":
            logger.update(self.context.qualname(new), self.file.path, new.line)
        else:
            logger.add(self.context.qualname(new), self.file.path, new.line)
            if isinstance(scope_object, type):
                self.outcome.touched_classes.add(new.parent)  # an ABC may have a new abstract

    def _redecorate(self, old, new, code: types.CodeType) -> None:
        """A function whose decorators changed is defined again; what held the old
        one is forwarded to the new one."""
        before = self.held_before(old)
        self._define(new, code, "replace")
        if before is None:
            return
        scope_object = self.context.live_scope(self.new, new)
        after = _held(scope_object, new.name)
        if isinstance(scope_object, dict) and after is not None:
            # `from mod import f` elsewhere (or `g = f` here) names the new object, as
            # in a fresh run; other holders get the trampoline below.
            _rebind_module_names(before, after)
        forwarding = self.forwarding(old, before, after)
        _core.commit(forwarding.updates)
        self.finish_forwarding(new, forwarding)

    def held_before(self, old):
        """What the live scope holds under the old definition's name (None: nothing)."""
        try:
            return _held(self.context.live_scope(self.old, old), old.name)
        except LookupError:
            return None

    def forwarding(self, old, before, after) -> Forwarding:
        """After a decorator change re-created a function, the old function objects
        (held by references taken before: imports elsewhere, callbacks, bound methods)
        run a trampoline into the new decorated object, so they behave as it does:
        the updates that do it, for a commit."""
        kinds = (staticmethod, classmethod)
        if type(before) in kinds or type(after) in kinds:
            if type(before) is not type(after):
                return Forwarding(before, after, [], [], kinds_changed=True)
            before, after = before.__func__, after.__func__
        if isinstance(before, types.FunctionType):
            olds = [before]
        else:
            olds = self.context.functions_defined_by(old, before)
        forwarded, updates = [], []
        for function in olds:
            if function is after or not callable(after):
                continue
            trampoline = _trampoline(after)
            code = trampoline.__code__.replace(co_name=function.__code__.co_name)
            if sys.version_info >= (3, 11):
                code = code.replace(co_qualname=function.__qualname__)
            forwarded.append((function, function.__code__))
            updates.append(_function_update(function, code, closure=trampoline.__closure__,
                                            defaults=None, kwdefaults=None))
        return Forwarding(before, after, forwarded, updates, said=bool(updates) or not olds)

    def finish_forwarding(self, new, forwarding: Forwarding) -> None:
        """Once the trampolines are live: the old code forgotten, caches of the old
        object emptied, and a word on what references taken before now do."""
        qualname, path = self.context.qualname(new), self.file.path
        if forwarding.kinds_changed:
            logger.notice(f"{qualname}: changed between a plain, static and class method; "
                          f"references taken before keep the old version", path, new.line)
            return
        for _, old_code in forwarding.forwarded:
            function_index.forget(old_code)
        for layer in _layers(forwarding.before):
            clear = getattr(layer, "cache_clear", None)
            if callable(clear):
                clear()
        # A decorator's wrapper code is shared by the wrappers it makes, the new one
        # included: calls of that code are not calls of the old function.
        shared = {id(f.__code__) for f in _functions_in(forwarding.after, set())}
        inflight.watch_calls(inflight.calls_of_swapped_code(
            [(old_code, qualname) for _, old_code in forwarding.forwarded
             if id(old_code) not in shared], path))
        if forwarding.said:
            logger.notice(f"{qualname}: decorators changed, so it was re-created; "
                          f"references taken before now call the new one", path, new.line)

    def _delete(self, old) -> None:
        try:
            scope = self.context.live_scope(self.old, old)
        except LookupError:
            return
        held = _held(scope, old.name)
        if held is not None and _conform_method(held):
            _conform_method(held)(None)
        _unbind(scope, old.name)
        logger.delete(self.context.qualname(old), self.file.path, old.line)

    def _rerun(self, new, code, origin, new_index: int) -> None:
        if origin is not None:
            start, end = origin
            if any(start <= line <= end for line in self.context.running_lines()):
                self.outcome.origins[new_index] = origin
                logger.notice(f"{self.file.module_name}:{new.line}: this statement is "
                              f"running now; the change applies on restart",
                              self.file.path, new.line)
                return
        scope_object = self.context.live_scope(self.new, new)
        names = [self.new[i].name for i in self.context.scope_members(new_index)
                 if self.new[i].kind in DEFINITION_KINDS]
        before = {name: _held(scope_object, name) for name in names}
        if self.context.module_level(self.new, new):
            exec(code, self.namespace)
        else:
            self.context.run_in_scope(self.context.scope_code(code, new), scope_object, capture=False)
        self._keep_identities(scope_object, before)
        self.context.log_run(new)
        self.outcome.touched_classes.add(new.parent)

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

    def _replace_class(self, step: Step) -> None:
        old, new, code = step.old, step.node, step.code
        scope_object = self.context.live_scope(self.new, new)
        current = _held(scope_object, old.name)
        if self.context.module_level(self.new, new):
            scope = Scope({})
            exec(code, self.namespace, scope)
        else:
            scope = self.context.run_in_scope(self.context.scope_code(code, new), scope_object, capture=True)
        made = scope.writes.get(new.name)
        if not self.takes_new_bases(current, made, step):
            _bind(scope_object, new.name, made)
            self.adopt_replaced_class(current, made, step)

    @staticmethod
    def keeps_identity(current, made, step: Step) -> bool:
        """Whether a class re-created for its header or decorators stays the live class
        object, given the bases it was made with (same metaclass, other bases)."""
        return (step.reason in (REASON_HEADER, REASON_DECORATORS) and isinstance(current, type)
                and isinstance(made, type) and type(made) is type(current)
                and current.__bases__ != made.__bases__)

    def takes_new_bases(self, current, made, step: Step) -> bool:
        """Give the live class the bases of `made` in place, if it keeps its identity
        and its layout allows; returns whether it did."""
        if not self.keeps_identity(current, made, step):
            return False
        try:
            current.__bases__ = made.__bases__
        except TypeError:
            return False
        logger.update(self.context.qualname(step.node), self.file.path, step.node.line)
        return True

    def adopt_replaced_class(self, current, made, step: Step) -> None:
        """What follows the binding of a re-created class: its functions indexed, the
        instances of the class it replaced migrated where their layout allows."""
        new = step.node
        self.outcome.replaced.add(step.index)
        self._index_class_functions(made, new)
        logger.update(self.context.qualname(new), self.file.path, new.line)
        if not isinstance(current, type) or not isinstance(made, type):
            return
        migration = classes.migrate(current, made)
        if migration.reasons:  # a complete migration needs no word beyond "Update"
            text = classes.describe(self.context.qualname(new), step.reason, migration)
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
                    self.outcome.codes[(function.__qualname__, code.co_firstlineno)] = code
