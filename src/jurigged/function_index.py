"""The function index: which live functions run which code object, so that a save finds
the functions of a changed definition without scanning the heap.

Entries are keyed by id(code) but never trusted on the key alone: CPython reuses the
address of a dead object, so every lookup proves that the entry's weak reference still
names this very code object and that each function returned is alive and runs exactly
that code (`f.__code__ is code`). Code objects and functions are both held weakly, so
the index keeps nothing alive; entries that no longer prove anything are dropped as they
are met and by a sweep whenever the index doubles in size. No weakref callbacks: nothing
here ever runs in the middle of someone else's operation.
"""

from __future__ import annotations

import threading
import types
import weakref
from dataclasses import dataclass, field
from typing import Dict, List, Optional

_FIRST_SWEEP = 64  # entries before the first sweep; later sweeps when the size doubles


@dataclass
class _Entry:
    code: weakref.ref  # proves the id() key still names the same code object
    functions: List[weakref.ref] = field(default_factory=list)

    def running(self, code: types.CodeType) -> List[types.FunctionType]:
        """The functions still alive and running `code`; forgets all others."""
        live, kept = [], []
        for ref in self.functions:
            function = ref()
            if function is not None and function.__code__ is code:
                live.append(function)
                kept.append(ref)
        self.functions = kept
        return live


class FunctionIndex:
    """Which live functions run which code object (both held weakly)."""

    def __init__(self) -> None:
        self._entries: Dict[int, _Entry] = {}
        self._sweep_at = _FIRST_SWEEP
        # Recoders apply from other threads than the watcher's; re-entrant because a
        # garbage collection run inside a method may finalise objects that save.
        self._lock = threading.RLock()

    def add(self, code: types.CodeType, function: types.FunctionType) -> bool:
        """Record that `function` runs `code`; False if it was already recorded."""
        if function.__code__ is not code:
            raise ValueError(f"{function.__qualname__} does not run this code object")
        with self._lock:
            entry = self._entry(code)
            if entry is None:
                entry = self._entries[id(code)] = _Entry(weakref.ref(code))
                self._sweep_if_grown()
            if any(f is function for f in entry.running(code)):
                return False
            entry.functions.append(weakref.ref(function))
            return True

    def functions(self, code: types.CodeType) -> List[types.FunctionType]:
        """The recorded functions that are alive and run exactly `code`."""
        with self._lock:
            entry = self._entry(code)
            if entry is None:
                return []
            live = entry.running(code)
            if not live:
                del self._entries[id(code)]
            return live

    def move(self, old_code: types.CodeType, new_code: types.CodeType) -> None:
        """After a swap: the functions of `old_code` that now run `new_code` are
        recorded under it; those still running `old_code` stay where they are."""
        if old_code is new_code:
            return
        with self._lock:
            entry = self._entry(old_code)
            if entry is None:
                return
            del self._entries[id(old_code)]
            for ref in entry.functions:
                function = ref()
                if function is not None and function.__code__ is new_code:
                    self.add(new_code, function)
            if entry.running(old_code):
                self._entries[id(old_code)] = entry

    def forget(self, code: types.CodeType) -> None:
        with self._lock:
            if self._entry(code) is not None:
                del self._entries[id(code)]

    def __contains__(self, code: types.CodeType) -> bool:
        return bool(self.functions(code))

    def __len__(self) -> int:
        """The number of live (code, function) records."""
        with self._lock:
            self._sweep()
            return sum(len(entry.functions) for entry in self._entries.values())

    def _entry(self, code: types.CodeType) -> Optional[_Entry]:
        """The entry for this very code object; a stale entry left at its address by a
        dead code object is dropped."""
        entry = self._entries.get(id(code))
        if entry is not None and entry.code() is not code:
            del self._entries[id(code)]
            return None
        return entry

    def _sweep_if_grown(self) -> None:
        if len(self._entries) >= self._sweep_at:
            self._sweep()
            self._sweep_at = max(_FIRST_SWEEP, 2 * len(self._entries))

    def _sweep(self) -> None:
        for key, entry in list(self._entries.items()):
            code = entry.code()
            if code is None or not entry.running(code):
                del self._entries[key]
