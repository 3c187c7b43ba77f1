"""Classes whose construction in-place patching cannot reproduce (an Enum, a NamedTuple,
`__slots__`, a frozen dataclass, a metaclass, `__init_subclass__`...): telling them
apart, and moving a live program from such a class to the class re-created from the
new text."""

from __future__ import annotations

import abc
import dataclasses
import enum
import functools
import gc
import sys
import types
from dataclasses import dataclass, field
from typing import List, Optional, Set

# Metaclasses whose classes in-place patching keeps equal to a fresh run (ABCs have their
# abstract methods recomputed, see refresh_abstracts).
_PLAIN_METACLASSES = (type, abc.ABCMeta)
# Bases whose __init_subclass__ only reads the bases, which a body edit does not change.
_HARMLESS_INIT_SUBCLASS_MODULES = ("typing", "typing_extensions", "abc")


def construction_reason(cls: type, decorators: str) -> Optional[str]:
    """Why `cls`'s construction depends on its body in a way that patching the live
    class in place cannot redo, or None for a class that is patched in place.
    `decorators` is the source text of the class's decorators ('' if none)."""
    if isinstance(cls, enum.EnumMeta):
        return "an Enum"
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return "a NamedTuple"
    if type(cls).__name__ == "_TypedDictMeta":
        return "a TypedDict"
    if "__slots__" in cls.__dict__:
        return "a class with __slots__"
    params = cls.__dict__.get("__dataclass_params__")
    if params is not None and params.frozen:
        return "a frozen dataclass"
    if type(cls) not in _PLAIN_METACLASSES:
        return f"a class made by the metaclass {type(cls).__name__}"
    for base in cls.__mro__[1:-1]:
        if ("__init_subclass__" in base.__dict__
                and base.__module__ not in _HARMLESS_INIT_SUBCLASS_MODULES):
            return f"a subclass of {base.__name__}, whose __init_subclass__ runs on it"
    for value in cls.__dict__.values():
        if (hasattr(type(value), "__set_name__")
                and not isinstance(value, functools.cached_property)):
            return "a class holding __set_name__ descriptors"
    if decorators and not (params is not None and _only_dataclass(decorators)):
        return "a decorated class"
    return None


def _only_dataclass(decorators: str) -> bool:
    """Whether the decorator text is one `@dataclass` (plain dataclasses are refreshed
    in place, keeping the class object)."""
    lines = [line.strip() for line in decorators.splitlines() if line.strip()]
    return sum(line.startswith("@") for line in lines) == 1 and "dataclass" in lines[0]


def refresh_abstracts(cls: type) -> None:
    """Recompute which abstract methods `cls` and its subclasses still lack, as
    ABCMeta does when a class is created, after methods were added or removed."""
    if not isinstance(cls, abc.ABCMeta):
        return
    abstracts = {name for name, value in cls.__dict__.items()
                 if getattr(value, "__isabstractmethod__", False)}
    for base in cls.__bases__:
        for name in getattr(base, "__abstractmethods__", ()):
            if getattr(getattr(cls, name, None), "__isabstractmethod__", False):
                abstracts.add(name)
    cls.__abstractmethods__ = frozenset(abstracts)
    for subclass in cls.__subclasses__():
        refresh_abstracts(subclass)


@dataclass
class Migration:
    """What moving a program from an old class object to its successor did."""

    migrated: int = 0                      # instances whose __class__ now is the new class
    kept_members: int = 0                  # Enum members that stayed the same objects
    rebound: int = 0                       # module-level names now naming the new class
    unmigrated: int = 0                    # instances left on the old class
    reasons: List[str] = field(default_factory=list)  # why (distinct messages)

    def fail(self, reason: str) -> None:
        self.unmigrated += 1
        if reason not in self.reasons:
            self.reasons.append(reason)


def migrate(old: type, new: type) -> Migration:
    """Point the program at `new` instead of `old`: Enum members keep their identity,
    instances get the new class where the layout allows, module-level names and
    subclasses follow. One scan of the referrers of `old`."""
    result = Migration()
    if isinstance(old, enum.EnumMeta) and isinstance(new, enum.EnumMeta):
        _adopt_members(old, new, result)
    module_dicts = {id(m.__dict__) for m in list(sys.modules.values())
                    if isinstance(m, types.ModuleType)}
    for referrer in gc.get_referrers(old):
        if type(referrer) is old:
            _migrate_instance(referrer, old, new, result)
        elif type(referrer) is dict and id(referrer) in module_dicts:
            for name, value in list(referrer.items()):
                if value is old:
                    referrer[name] = new
                    result.rebound += 1
    for subclass in old.__subclasses__():
        try:
            subclass.__bases__ = tuple(new if b is old else b for b in subclass.__bases__)
        except TypeError as exc:
            result.reasons.append(f"subclass {subclass.__qualname__} keeps the old "
                                  f"class ({exc})")
    return result


def _refusal(old: type, new: type) -> Optional[str]:
    """Why instances of `old` must not get the class `new` even where CPython would
    allow the assignment (it only compares memory layouts), or None."""
    if isinstance(old, enum.EnumMeta):
        return "not members of the new Enum"
    if issubclass(old, tuple) and getattr(old, "_fields", None) != getattr(new, "_fields",
                                                                            None):
        return "their fields changed"
    return None


def _migrate_instance(instance, old: type, new: type, result: Migration) -> None:
    refusal = _refusal(old, new)
    if refusal is not None:
        result.fail(refusal)
        return
    try:
        object.__setattr__(instance, "__class__", new)  # frozen classes refuse setattr
    except TypeError as exc:
        result.fail(str(exc))
        return
    result.migrated += 1
    _fill_new_fields(instance, new)


def _fill_new_fields(instance, cls: type) -> None:
    """A migrated dataclass instance gets the defaults of the fields added since it was
    made, as a fresh construction would give it."""
    if not dataclasses.is_dataclass(cls) or not hasattr(instance, "__dict__"):
        return
    for item in dataclasses.fields(cls):
        if item.name in instance.__dict__:
            continue
        if item.default_factory is not dataclasses.MISSING:
            object.__setattr__(instance, item.name, item.default_factory())
        elif item.default is not dataclasses.MISSING:
            object.__setattr__(instance, item.name, item.default)


def fill_added_fields(cls: type, fields_before: Set[str]) -> None:
    """Existing instances of a dataclass refreshed in place get the fields added since
    they were made whose default has no class attribute to fall back on (a
    default_factory), as a fresh construction would. One scan of the referrers of
    `cls`, only when there are such fields."""
    added = [item for item in dataclasses.fields(cls) if item.name not in fields_before
             and item.default_factory is not dataclasses.MISSING]
    if not added:
        return
    for referrer in gc.get_referrers(cls):
        if type(referrer) is cls:
            _fill_new_fields(referrer, cls)


def forget_cached(cls: type, name: str) -> None:
    """Instances of `cls` (and its subclasses) drop the value a `cached_property`
    computed with the old code; the next access computes it with the new code, as in
    a fresh run. One scan of the referrers of each class."""
    for klass in [cls, *_all_subclasses(cls)]:
        for referrer in gc.get_referrers(klass):
            if type(referrer) is klass:
                attributes = getattr(referrer, "__dict__", None)
                if isinstance(attributes, dict):
                    attributes.pop(name, None)


def _all_subclasses(cls: type) -> List[type]:
    found = []
    for subclass in cls.__subclasses__():
        found.append(subclass)
        found.extend(_all_subclasses(subclass))
    return found


def _adopt_members(old, new, result: Migration) -> None:
    """Members of both versions stay the same objects (references taken before are
    still `is`-equal to the new class's members), with the new values."""
    for name, member in list(old._member_map_.items()):
        made = new._member_map_.get(name)
        if made is None or type(member) is not old:
            continue
        if new._member_type_ is not object and member._value_ != made._value_:
            continue  # the value is the member's own payload (an int, a str...)
        try:
            object.__setattr__(member, "__class__", new)
        except TypeError:
            continue
        member.__dict__.clear()
        member.__dict__.update(made.__dict__)
        new._member_map_[name] = member
        for value, holder in list(new._value2member_map_.items()):
            if holder is made:
                new._value2member_map_[value] = member
        if new.__dict__.get(name) is made:
            type.__setattr__(new, name, member)
        result.kept_members += 1


def describe(qualname: str, reason: str, migration: Migration) -> str:
    """The one log line that says what re-creating a class did and did not do."""
    parts = [f"{qualname} was re-created ({reason})"]
    moved = migration.migrated + migration.kept_members
    if moved:
        parts.append(f"{moved} existing instance(s) moved to the new class")
    if migration.unmigrated:
        parts.append(f"could not migrate {migration.unmigrated} instance(s) of {qualname} "
                     f"({'; '.join(migration.reasons)}): they keep the old class")
    elif migration.reasons:
        parts.append("; ".join(migration.reasons))
    return "; ".join(parts)
