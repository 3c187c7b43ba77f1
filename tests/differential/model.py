"""The generated project as data: modules made of small items (functions, classes,
constants, closures, blocks, imports), each of which renders to source text.

Edits change this model; the runner saves whatever text changed. Keeping the model
separate from the text keeps every edit an ordinary, valid-looking change a person
would make.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Union

# Decorators every module defines (private names: the probe skips them). `_plain` is
# a closure without functools.wraps, `_tag` one with it; `_mark(N)` sets a class's
# `mark`; `_Base` is a base a plain class may gain or lose.
PRELUDE = '''\
import dataclasses, enum, functools


def _tag(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return ("tag", fn(*args, **kwargs))
    return wrapper


def _plain(fn):
    def wrapper(*args, **kwargs):
        return ["plain", fn(*args, **kwargs)]
    return wrapper


def _mark(value):
    def decorate(cls):
        cls.mark = value
        return cls
    return decorate


class _Base:
    based = 1
'''

FUNCTION_DECORATORS = ["_tag", "_plain"]
METHOD_DECORATORS = ["_tag", "_plain"]
CACHE_DECORATOR = "functools.lru_cache(maxsize=None)"


@dataclass
class Function:
    """`def name(x, y=default): return body`, or a method of one of four kinds."""
    name: str
    body: str
    default: str = "1"
    decorators: List[str] = field(default_factory=list)
    kind: str = "function"  # function, method, staticmethod, classmethod, property

    def params(self) -> str:
        return {"function": "x, y={d}", "method": "self, x, y={d}",
                "staticmethod": "x, y={d}", "classmethod": "cls, x, y={d}",
                "property": "self"}[self.kind].format(d=self.default)

    def render(self, indent: str = "") -> List[str]:
        lines = [f"{indent}@{d}" for d in self.decorators]
        if self.kind in ("staticmethod", "classmethod", "property"):
            lines.append(f"{indent}@{self.kind}")
        lines.append(f"{indent}def {self.name}({self.params()}):")
        lines.append(f"{indent}    return {self.body}")
        return lines


@dataclass
class Const:
    """`NAME = expr`: a constant or a value computed from literals only (so that a
    fresh run and a re-run of this one statement agree)."""
    name: str
    expr: str

    def render(self) -> List[str]:
        return [f"{self.name} = {self.expr}"]


@dataclass
class ClassDef:
    """A plain class, a dataclass or an Enum; `attrs` are class attributes, fields or
    members. `instance` adds `obj_<name> = Name()` after it (made at import)."""
    name: str
    kind: str  # plain, dataclass, enum
    attrs: List[Const] = field(default_factory=list)
    methods: List[Function] = field(default_factory=list)
    instance: bool = False
    bases: str = ""  # plain classes: "" or "_Base"
    decorators: List[str] = field(default_factory=list)  # plain classes: "_mark(N)"

    def render(self) -> List[str]:
        plain = "".join(f"@{d}\n" for d in self.decorators) + (
            f"class {self.name}({self.bases}):" if self.bases else f"class {self.name}:")
        header = {"plain": plain,
                  "dataclass": f"@dataclasses.dataclass\nclass {self.name}:",
                  "enum": f"class {self.name}(enum.Enum):"}[self.kind]
        lines = header.split("\n")
        for attr in self.attrs:
            if self.kind == "dataclass":
                lines.append(f"    {attr.name}: int = {attr.expr}")
            else:
                lines.append(f"    {attr.name} = {attr.expr}")
        for method in self.methods:
            lines.extend(method.render("    "))
        if len(lines) == len(header.split("\n")):
            lines.append("    pass")
        if self.instance:
            lines.append(f"obj_{self.name.lower()} = {self.name}()")
        return lines


@dataclass
class Factory:
    """A function factory whose inner function is created and stored at import."""
    name: str
    inner_body: str
    arg: str = "3"
    # Whether the closure stored at import has a cell for `k` (its inner function used
    # `k` when the closure was made): without one, an edit that starts using `k`
    # cannot reach the factory's value, so the generator never makes that edit.
    captured: bool = True

    def render(self) -> List[str]:
        return [f"def make_{self.name}(k):",
                "    def inner(x):",
                f"        return {self.inner_body}",
                "    return inner",
                f"{self.name} = make_{self.name}({self.arg})"]


@dataclass
class Block:
    """A module-level `if` or `try` whose branches define the same function name."""
    kind: str  # if, try
    function: str
    then_body: str
    else_body: str
    condition: str = "1 < 2"  # for `if`; for `try`, the statement that may raise
    const: Optional[Const] = None

    def render(self) -> List[str]:
        if self.kind == "if":
            lines = [f"if {self.condition}:"]
        else:
            lines = ["try:", f"    {self.condition}"]
        if self.const is not None:
            lines.append(f"    {self.const.name} = {self.const.expr}")
        lines += [f"    def {self.function}(x):", f"        return {self.then_body}"]
        lines.append("else:" if self.kind == "if" else "except (ImportError, ValueError):")
        lines += [f"    def {self.function}(x):", f"        return {self.else_body}"]
        return lines


@dataclass
class Import:
    """`from module import name`, or `import module` when name is empty."""
    module: str
    name: str = ""

    def render(self) -> List[str]:
        return [f"from {self.module} import {self.name}" if self.name else f"import {self.module}"]


Item = Union[Function, Const, ClassDef, Factory, Block, Import]


@dataclass
class Module:
    name: str
    items: List[Item] = field(default_factory=list)

    def render(self) -> str:
        parts = [PRELUDE]
        for item in self.items:
            parts.append("\n".join(item.render()) + "\n")
        return "\n".join(parts)

    def of_type(self, kind) -> List:
        return [item for item in self.items if isinstance(item, kind)]


@dataclass
class Project:
    """Modules in import order: a module imports only from modules after it, so there
    are no import cycles."""
    modules: List[Module]
    families: List[str] = field(default_factory=list)  # the edit families enabled
    counter: int = 0

    def fresh_name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def files(self) -> Dict[str, str]:
        return {f"{m.name}.py": m.render() for m in self.modules}

    def function_decorators(self) -> List[str]:
        return FUNCTION_DECORATORS + ([CACHE_DECORATOR] if "lru_cache" in self.families else [])

    def copy(self) -> "Project":
        return copy.deepcopy(self)

    def module(self, name: str) -> Module:
        return next(m for m in self.modules if m.name == name)

    def later(self, module: Module) -> List[Module]:
        """The modules `module` may import from."""
        return self.modules[self.modules.index(module) + 1:]
