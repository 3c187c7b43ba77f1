# A `Swap` carried out: the function updates it hands to `_core.commit`, and what
# follows once they are live (the function index, the file's code map, `__conform__`
# objects, caches of the old results, the log line). The batch's commit and the live
# steps (a swap whose signature waited for a statement) both swap through it.

from __future__ import annotations

import dataclasses
import functools
import types

from . import _core, classes
from .context import SaveContext
from .logs import logger
from .liveobjects import (
    closure_for, _code_doc, _conform_method, function_index, _function_update, _held, _layers,
)
from .records import SaveOutcome, Swap


class Swapper:
    """Swaps of one save, recorded in its outcome."""

    def __init__(self, context: SaveContext, outcome: SaveOutcome):
        self.context = context
        self.outcome = outcome

    def updates(self, swap: Swap) -> list:
        """The `_core.commit` updates that give every live function of `swap` its new
        code (and, if the swap has one, its new signature)."""
        cls = None
        try:
            scope = self.context.live_scope(self.context.new, swap.new)
            cls = scope if isinstance(scope, type) else None
        except LookupError:
            pass
        signature = swap.signature
        updates = []
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

    def finish(self, swap: Swap) -> None:
        """After a swap is committed: index, remember and report it, and hand the new
        function to `__conform__` objects."""
        function_index.move(swap.old_code, swap.code)
        self.outcome.codes[(swap.new.qualname, swap.new.line)] = swap.code
        self._conform(swap)
        if swap.log:
            context = self.context
            logger.update(context.qualname(swap.new), context.file.path, swap.new.line)

    def apply_now(self, swap: Swap) -> None:
        """A swap left out of the save's commit, committed on its own."""
        _core.commit(self.updates(swap))
        self.finish(swap)

    def apply_deferred(self, swap: Swap) -> None:
        """A swap whose signature waited for statements of the save: evaluated now,
        and committed on its own."""
        self.apply_now(dataclasses.replace(
            swap, signature=self.context.evaluate_signature(swap.new, swap.deferred)))

    def _conform(self, swap: Swap) -> None:
        """Objects that manage a function's code themselves (the `__conform__`
        protocol) get a new function instead of a code swap; caches of the function's
        results are emptied."""
        self._clear_caches(swap.new)
        if not swap.conformers:
            return
        context, new = self.context, swap.new
        scope = context.live_scope(context.new, new)
        cls = scope if isinstance(scope, type) else None
        model = swap.functions[0] if swap.functions else None
        closure = None
        if swap.code.co_freevars:
            cells = {"__class__": types.CellType(cls)} if cls is not None else {}
            closure = tuple(cells.get(n, types.CellType()) for n in swap.code.co_freevars)
        signature = swap.signature
        defaults = (signature.defaults if signature is not None
                    else model.__defaults__ if model else None)
        function = types.FunctionType(swap.code, context.namespace, new.name, defaults,
                                      closure)
        function.__kwdefaults__ = (signature.kwdefaults if signature is not None
                                   else model.__kwdefaults__ if model else None)
        function.__qualname__ = new.qualname
        path = context.file.path
        for conformer in swap.conformers:
            try:
                _conform_method(conformer)(function)
            except Exception as exc:
                logger.error(f"{path}:{new.line}: __conform__ of {new.qualname} failed",
                             path, new.line, exc)

    def _clear_caches(self, new) -> None:
        """`functools.lru_cache`/`cache` wrappers of an updated function forget the
        results of its old code."""
        try:
            scope = self.context.live_scope(self.context.new, new)
        except LookupError:
            return
        for layer in _layers(_held(scope, new.name)):
            clear = getattr(layer, "cache_clear", None)
            if callable(clear) and "__wrapped__" in getattr(layer, "__dict__", {}):
                clear()
            if isinstance(layer, functools.cached_property) and isinstance(scope, type):
                classes.forget_cached(scope, layer.attrname or new.name)
