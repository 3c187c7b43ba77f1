"""Random projects and random ordinary edits, one family of edit at a time.

Every edit function takes the random generator and a copy of the project, changes the
copy and returns a one-line description, or None when it does not apply (nothing to
edit). Whether the result is valid is decided by CPython itself: the runner imports
it in a fresh interpreter first and asks for another edit if that fails.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from .model import (CACHE_DECORATOR, METHOD_DECORATORS, Block, ClassDef, Const, Factory,
                    Function, Import, Module, Project)

FAMILIES = ["bodies", "defaults", "added", "removed", "renamed", "classes",
            "dataclasses", "enums", "attributes_removed", "decorators", "closures",
            "blocks", "statements", "imports", "errors", "batches", "lru_cache",
            "class_headers"]

# Families that combine other edits rather than making one of their own.
COMBINING = {"errors", "batches"}


@dataclass
class Step:
    """One step of a sequence: the project after it and how it gets there.
    `broken` holds files saved (and applied) first, with an error in them; the
    project's files are then saved to fix it."""
    family: str
    description: str
    project: Project
    broken: Dict[str, str] = field(default_factory=dict)


# ---- expressions -------------------------------------------------------------------

def constants(module: Module) -> List[str]:
    return [item.name for item in module.of_type(Const) if item.name.startswith("K")]


def imported_functions(module: Module) -> List[str]:
    return [item.name for item in module.of_type(Import) if item.name]


def expression(rng: random.Random, module: Module, params: List[str],
               extra: List[str] = ()) -> str:
    """A small integer expression over the parameters, the module's constants, calls
    of functions imported from later modules (never a cycle) and `extra` terms."""
    terms = list(params) + list(extra)
    names = constants(module)
    if names:
        terms.append(rng.choice(names))
    calls = imported_functions(module)
    if calls and rng.random() < 0.5:
        terms.append(f"{rng.choice(calls)}({params[0] if params else 1})")
    terms.append(str(rng.randint(1, 9)))
    chosen = rng.sample(terms, k=min(len(terms), rng.randint(2, 3)))
    text = chosen[0]
    for term in chosen[1:]:
        text += f" {rng.choice('+-*')} {term}"
    return text


def closure_body(rng: random.Random, module: Module, use_k: bool = True) -> str:
    """An inner function's expression, using the factory's `k` or not. A closure made
    without a cell for `k` cannot learn its value later (see the closure repros), so
    `k` is used again only by a closure that was made while it was used."""
    if not use_k:
        return expression(rng, module, ['x'])
    return f"{expression(rng, module, ['x'])} {rng.choice('+-*')} k"


def uses_k(body: str) -> bool:
    return re.search(r"\bk\b", body) is not None


def literal_value(rng: random.Random) -> str:
    """A value computed from literals only, so re-running it alone equals a fresh run."""
    return rng.choice([
        str(rng.randint(0, 99)),
        f"{rng.randint(1, 9)} * {rng.randint(1, 9)} + {rng.randint(0, 9)}",
        f"[i * {rng.randint(1, 5)} for i in range({rng.randint(1, 4)})]",
        f"'{rng.choice(['ab', 'cd', 'ef'])}'.upper() + str({rng.randint(0, 9)})",
        f"tuple(range({rng.randint(0, 4)}))",
        f"{{'k': {rng.randint(0, 9)}, 'n': len('{'x' * rng.randint(0, 3)}')}}",
    ])


def function_body(rng, module: Module, function: Function, cls: Optional[ClassDef]) -> str:
    params = {"function": ["x", "y"], "method": ["x", "y"], "staticmethod": ["x", "y"],
              "classmethod": ["x", "y"], "property": []}[function.kind]
    extra = []
    if cls is not None and cls.kind == "plain" and cls.attrs and function.kind != "staticmethod":
        owner = "cls" if function.kind == "classmethod" else "self"
        extra.append(f"{owner}.{rng.choice(cls.attrs).name}")
    if cls is not None and cls.kind == "dataclass" and cls.attrs and function.kind in ("method", "property"):
        extra.append(f"self.{rng.choice(cls.attrs).name}")
    if cls is not None and cls.kind == "enum" and function.kind in ("method", "property"):
        extra.append("self.value")
    return expression(rng, module, params, extra)


def new_function(rng, project: Project, module: Module, cls: Optional[ClassDef] = None,
                 prefix: str = "f") -> Function:
    kind = "function"
    if cls is not None:
        kind = rng.choice(["method", "method", "staticmethod", "classmethod", "property"])
        if cls.kind == "enum" and kind == "classmethod":
            kind = "method"
    function = Function(project.fresh_name(prefix), "0", str(rng.randint(0, 9)), kind=kind)
    function.body = function_body(rng, module, function, cls)
    return function


# ---- the initial project -----------------------------------------------------------

def generate_project(rng: random.Random, families: List[str]) -> Project:
    names = ["mod_a", "mod_b", "mod_c", "mod_d"][:rng.randint(2, 4)]
    project = Project([Module(name) for name in names], list(families))
    on = set(families)
    for module in project.modules:
        for _ in range(rng.randint(1, 3)):
            module.items.append(Const(project.fresh_name("K"), str(rng.randint(0, 20))))
    for module in reversed(project.modules):  # later modules first: importers see them
        if "imports" in on or "batches" in on:
            later = [f for m in project.later(module) for f in m.of_type(Function)]
            if later and rng.random() < 0.8:
                target = rng.choice(later)
                owner = next(m for m in project.modules if target in m.items)
                module.items.insert(0, Import(owner.name, target.name))
            if project.later(module) and rng.random() < 0.4:
                module.items.insert(0, Import(rng.choice(project.later(module)).name))
        for _ in range(rng.randint(1, 3)):
            function = new_function(rng, project, module)
            if "decorators" in on and rng.random() < 0.4:
                function.decorators.append(rng.choice(project.function_decorators()))
            if "lru_cache" in on and rng.random() < 0.4:
                function.decorators.append(CACHE_DECORATOR)
            module.items.append(function)
        if "statements" in on:
            module.items.append(Const(project.fresh_name("V"), literal_value(rng)))
    modules = project.modules
    for kind, family in (("plain", "classes"), ("dataclass", "dataclasses"), ("enum", "enums")):
        if family in on or (kind != "enum" and "attributes_removed" in on):
            add_class(rng, project, rng.choice(modules), kind)
    if "closures" in on:
        module = rng.choice(modules)
        module.items.append(Factory(project.fresh_name("adder"), closure_body(rng, module)))
    if "blocks" in on:
        module = rng.choice(modules)
        add_block(rng, project, module, "if")
        add_block(rng, project, rng.choice(modules), "try")
    return project


def add_class(rng, project: Project, module: Module, kind: str) -> ClassDef:
    prefix = {"plain": "Plain", "dataclass": "Data", "enum": "Color"}[kind]
    cls = ClassDef(project.fresh_name(prefix), kind, instance=(kind == "plain"))
    for _ in range(rng.randint(1, 3)):
        cls.attrs.append(Const(project.fresh_name("M" if kind == "enum" else "a"),
                               str(rng.randint(0, 50))))
    for _ in range(rng.randint(1, 2)):
        cls.methods.append(new_function(rng, project, module, cls, "m"))
    module.items.insert(rng.randint(0, len(module.items)), cls) if kind != "plain" else \
        module.items.append(cls)
    return cls


def add_block(rng, project: Project, module: Module, kind: str) -> Block:
    condition = rng.choice(["1 < 2", "2 < 1"]) if kind == "if" else \
        rng.choice(["import json", "int('x')", "import no_such_module_here"])
    block = Block(kind, project.fresh_name("bf"), expression(rng, module, ["x"]),
                  expression(rng, module, ["x"]), condition)
    if rng.random() < 0.6:
        block.const = Const(project.fresh_name("BK"), str(rng.randint(0, 9)))
    module.items.append(block)
    return block


# ---- edits, by family --------------------------------------------------------------

Edit = Callable[[random.Random, Project], Optional[str]]


def pick_module(rng, project: Project, kind) -> Optional[Module]:
    having = [m for m in project.modules if m.of_type(kind)]
    return rng.choice(having) if having else None


def edit_body(rng, project):
    module = pick_module(rng, project, Function)
    if module is None:
        return None
    function = rng.choice(module.of_type(Function))
    function.body = function_body(rng, module, function, None)
    return f"{module.name}.{function.name}: body -> return {function.body}"


def edit_default(rng, project):
    module = pick_module(rng, project, Function)
    if module is None:
        return None
    function = rng.choice(module.of_type(Function))
    function.default = str(int(function.default) + rng.randint(1, 5))
    return f"{module.name}.{function.name}: default y={function.default}"


def edit_add(rng, project):
    module = rng.choice(project.modules)
    function = new_function(rng, project, module)
    position = rng.randint(0, len(module.items))
    module.items.insert(position, function)
    return f"{module.name}: add function {function.name} at item {position}"


def edit_remove(rng, project):
    module = pick_module(rng, project, Function)
    if module is None:
        return None
    function = rng.choice(module.of_type(Function))
    module.items.remove(function)
    return f"{module.name}: remove function {function.name}"


def edit_rename(rng, project):
    module = pick_module(rng, project, Function)
    if module is None:
        return None
    function = rng.choice(module.of_type(Function))
    old, function.name = function.name, project.fresh_name("r")
    return f"{module.name}: rename function {old} -> {function.name}"


def classes_of(project: Project, kind: str):
    return [(m, c) for m in project.modules for c in m.of_type(ClassDef) if c.kind == kind]


def edit_class_member(rng, project, kind: str, action: str = ""):
    """Edit a method (body, default, added, removed, renamed) or an attribute. Enum
    members are removed here too; other attributes by `attributes_removed`."""
    found = classes_of(project, kind)
    if not found:
        return None
    module, cls = rng.choice(found)
    action = action or rng.choice(["body", "body", "default", "add", "remove", "rename",
                                   "attr", "add_attr"] + (["remove_attr"] if kind == "enum" else []))
    where = f"{module.name}.{cls.name}"
    if action in ("body", "default", "remove", "rename") and cls.methods:
        method = rng.choice(cls.methods)
        if action == "body":
            method.body = function_body(rng, module, method, cls)
            return f"{where}.{method.name}: body -> return {method.body}"
        if action == "default" and method.kind != "property":
            method.default = str(int(method.default) + 1)
            return f"{where}.{method.name}: default y={method.default}"
        if action == "remove":
            cls.methods.remove(method)
            return f"{where}: remove {method.kind} {method.name}"
        if action == "rename":
            old, method.name = method.name, project.fresh_name("rm")
            return f"{where}: rename {method.kind} {old} -> {method.name}"
    if action == "attr" and cls.attrs:
        attr = rng.choice(cls.attrs)
        attr.expr = str(rng.randint(51, 99) if kind == "enum" else rng.randint(0, 99))
        return f"{where}.{attr.name} = {attr.expr}"
    if action == "add_attr":
        attr = Const(project.fresh_name("M" if kind == "enum" else "a"), str(rng.randint(100, 199)))
        cls.attrs.insert(rng.randint(0, len(cls.attrs)), attr)
        return f"{where}: add {'member' if kind == 'enum' else 'attribute'} {attr.name} = {attr.expr}"
    if action == "remove_attr" and len(cls.attrs) > 1:
        attr = rng.choice(cls.attrs)
        cls.attrs.remove(attr)
        return f"{where}: remove {'member' if kind == 'enum' else 'attribute'} {attr.name}"
    if action == "remove_attr":
        return None
    method = new_function(rng, project, module, cls, "m")
    cls.methods.insert(rng.randint(0, len(cls.methods)), method)
    return f"{where}: add {method.kind} {method.name}"


def edit_class(rng, project):
    if rng.random() < 0.15 or not classes_of(project, "plain"):
        module = rng.choice(project.modules)
        cls = add_class(rng, project, module, "plain")
        return f"{module.name}: add class {cls.name}"
    return edit_class_member(rng, project, "plain")


def edit_dataclass(rng, project):
    return edit_class_member(rng, project, "dataclass")


def edit_enum(rng, project):
    return edit_class_member(rng, project, "enum")


def edit_remove_attribute(rng, project):
    """A class attribute or a dataclass field removed from the class body."""
    action = "remove_attr" if rng.random() < 0.7 else "add_attr"  # keep some to remove
    return edit_class_member(rng, project, rng.choice(["plain", "dataclass"]), action)


def edit_class_header(rng, project):
    """A plain class gains or loses its base, or its class decorator is added, removed
    or given another argument (the class is made again, or gets new bases in place)."""
    found = classes_of(project, "plain")
    if not found:
        module = rng.choice(project.modules)
        cls = add_class(rng, project, module, "plain")
        return f"{module.name}: add class {cls.name}"
    module, cls = rng.choice(found)
    where = f"{module.name}.{cls.name}"
    if rng.random() < 0.4:
        cls.bases = "" if cls.bases else "_Base"
        return f"{where}: bases -> ({cls.bases})"
    if cls.decorators and rng.random() < 0.4:
        cls.decorators = []
        return f"{where}: remove class decorator"
    cls.decorators = [f"_mark({rng.randint(0, 99)})"]
    return f"{where}: class decorator @{cls.decorators[0]}"


def edit_decorator(rng, project):
    targets = [(m, f, None) for m in project.modules for f in m.of_type(Function)]
    targets += [(m, f, c) for m in project.modules for c in m.of_type(ClassDef)
                if c.kind == "plain" for f in c.methods if f.kind == "method"]
    if not targets:
        return None
    module, function, cls = rng.choice(targets)
    where = f"{module.name}.{cls.name + '.' if cls else ''}{function.name}"
    if function.decorators and rng.random() < 0.5:
        removed = function.decorators.pop(rng.randrange(len(function.decorators)))
        return f"{where}: remove decorator @{removed}"
    choices = METHOD_DECORATORS if cls else project.function_decorators()
    added = rng.choice([d for d in choices if d not in function.decorators] or choices)
    function.decorators.insert(0, added)
    return f"{where}: add decorator @{added}"


def edit_cached(rng, project):
    """The body or a default of a function decorated with functools.lru_cache (a
    fresh run has an empty cache)."""
    cached = [(m, f) for m in project.modules for f in m.of_type(Function)
              if CACHE_DECORATOR in f.decorators]
    if not cached:
        return edit_decorator(rng, project)
    module, function = rng.choice(cached)
    if rng.random() < 0.5:
        function.default = str(int(function.default) + 1)
        return f"{module.name}.{function.name} (lru_cache): default y={function.default}"
    function.body = function_body(rng, module, function, None)
    return f"{module.name}.{function.name} (lru_cache): body -> return {function.body}"


def edit_closure(rng, project):
    module = pick_module(rng, project, Factory)
    if module is None or rng.random() < 0.1:
        module = rng.choice(project.modules)
        factory = Factory(project.fresh_name("adder"), closure_body(rng, module))
        module.items.insert(rng.randint(0, len(module.items)), factory)
        return f"{module.name}: add factory make_{factory.name} and {factory.name}"
    factory = rng.choice(module.of_type(Factory))
    if rng.random() < 0.7:
        # Dropping `k` is fine (the live closure keeps its cell); using it again only
        # where the live closure has one.
        factory.inner_body = closure_body(rng, module, factory.captured and rng.random() < 0.75)
        return f"{module.name}.make_{factory.name}.inner: body -> return {factory.inner_body}"
    factory.arg = str(rng.randint(0, 9))
    factory.captured = uses_k(factory.inner_body)  # the statement re-runs: a new closure
    return f"{module.name}: {factory.name} = make_{factory.name}({factory.arg})"


def edit_block(rng, project):
    module = pick_module(rng, project, Block)
    if module is None:
        return None
    block = rng.choice(module.of_type(Block))
    action = rng.choice(["then", "else", "then", "else", "const", "condition"])
    if action == "then":
        block.then_body = expression(rng, module, ["x"])
        return f"{module.name}: {block.kind} block, first {block.function}: return {block.then_body}"
    if action == "else":
        block.else_body = expression(rng, module, ["x"])
        return f"{module.name}: {block.kind} block, second {block.function}: return {block.else_body}"
    if action == "const" and block.const is not None:
        block.const.expr = str(rng.randint(10, 99))
        return f"{module.name}: {block.kind} block, {block.const.name} = {block.const.expr}"
    if block.kind == "if":
        block.condition = "2 < 1" if block.condition == "1 < 2" else "1 < 2"
    else:
        block.condition = rng.choice([c for c in ["import json", "int('x')", "int('7')"]
                                      if c != block.condition])
    return f"{module.name}: {block.kind} block, condition -> {block.condition}"


def edit_statement(rng, project):
    module = rng.choice(project.modules)
    values = module.of_type(Const)
    action = rng.choice(["change", "change", "add", "move"])
    if action == "change" and values:
        const = rng.choice(values)
        const.expr = literal_value(rng) if not const.name.startswith("K") else str(rng.randint(0, 99))
        return f"{module.name}: {const.name} = {const.expr}"
    if action == "move" and values and len(module.items) > 1:
        const = rng.choice(values)
        module.items.remove(const)
        position = rng.randint(0, len(module.items))
        module.items.insert(position, const)
        return f"{module.name}: move {const.name} to item {position}"
    const = Const(project.fresh_name("V"), literal_value(rng))
    module.items.insert(rng.randint(0, len(module.items)), const)
    return f"{module.name}: add statement {const.name} = {const.expr}"


def edit_import(rng, project):
    importers = [m for m in project.modules if project.later(m)]
    module = rng.choice(importers)
    imports = module.of_type(Import)
    unused = [item for item in imports if not uses(module, item.name or item.module)]
    if unused and rng.random() < 0.3:
        # A used import is never removed: the name would stay bound in the live module
        # (deleted statements are not undone, by design) while a fresh run fails.
        item = rng.choice(unused)
        module.items.remove(item)
        return f"{module.name}: remove {item.render()[0]}"
    functions = [(m, f) for m in project.later(module) for f in m.of_type(Function)]
    if not functions:
        return None
    owner, target = rng.choice(functions)
    if target.name in imported_functions(module):
        return None
    module.items.insert(0, Import(owner.name, target.name))
    user = new_function(rng, project, module)
    user.body = f"{target.name}(x) + {rng.randint(1, 9)}"
    module.items.append(user)
    return f"{module.name}: from {owner.name} import {target.name}, used by new {user.name}"


def uses(module: Module, name: str) -> bool:
    """Whether any line of the module other than an import names `name`."""
    text = "\n".join(line for item in module.items if not isinstance(item, Import)
                     for line in item.render())
    return re.search(rf"\b{re.escape(name)}\b", text) is not None


def statement_names(project: Project) -> Dict[str, List[str]]:
    """Per module, the names bound by plain statements (constants, imports, values in
    blocks): deleting such a statement leaves its name bound in the live module, by
    design, so the comparison tolerates these names once their statement is gone."""
    names: Dict[str, List[str]] = {}
    for module in project.modules:
        bound = names.setdefault(module.name, [])
        for item in module.items:
            if isinstance(item, Const):
                bound.append(item.name)
            elif isinstance(item, Import):
                bound.append(item.name or item.module)
            elif isinstance(item, Block):
                if item.const is not None:
                    bound.append(item.const.name)
                if item.condition.startswith("import "):
                    bound.append(item.condition.split()[1])
    return names


def edit_new_function_imported_elsewhere(rng, project):
    """The batch case: a function added to one module and imported by another, saved
    together."""
    importers = [m for m in project.modules if project.later(m)]
    module = rng.choice(importers)
    owner = rng.choice(project.later(module))
    target = new_function(rng, project, owner)
    owner.items.append(target)
    module.items.insert(0, Import(owner.name, target.name))
    user = new_function(rng, project, module)
    user.body = f"{target.name}(x) * {rng.randint(1, 9)}"
    module.items.append(user)
    return f"{owner.name}: add {target.name}; {module.name}: import it, used by new {user.name}"


EDITS: Dict[str, Edit] = {
    "bodies": edit_body, "defaults": edit_default, "added": edit_add,
    "removed": edit_remove, "renamed": edit_rename, "classes": edit_class,
    "dataclasses": edit_dataclass, "enums": edit_enum,
    "attributes_removed": edit_remove_attribute, "decorators": edit_decorator,
    "lru_cache": edit_cached, "class_headers": edit_class_header,
    "closures": edit_closure, "blocks": edit_block, "statements": edit_statement,
    "imports": edit_import,
}


def simple_families(families: List[str]) -> List[str]:
    return [f for f in families if f not in COMBINING] or ["bodies", "added"]


def make_step(rng: random.Random, project: Project, families: List[str]) -> Optional[Step]:
    """One random step from the enabled families, or None if the chosen edit did not
    apply. The returned project is a changed copy."""
    family = rng.choice(families)
    new = project.copy()
    if family == "batches":
        if rng.random() < 0.4:
            return Step(family, edit_new_function_imported_elsewhere(rng, new), new)
        done = [d for d in (EDITS[rng.choice(simple_families(families))](rng, new)
                            for _ in range(rng.randint(2, 3))) if d]
        return Step(family, " + ".join(done), new) if done else None
    if family == "errors":
        description = EDITS[rng.choice(simple_families(families))](rng, new)
        if not description:
            return None
        return Step(family, description, new, broken=inject_error(rng, project, new))
    description = EDITS[family](rng, new)
    return Step(family, description, new) if description else None


def inject_error(rng, before: Project, after: Project) -> Dict[str, str]:
    """The files of `after` with an error put into one of the files the edit changed:
    a syntax error, or a module-level statement that raises."""
    old, new = before.files(), after.files()
    changed = [name for name in new if new[name] != old.get(name)] or list(new)
    name = rng.choice(changed)
    lines = new[name].split("\n")
    tops = [i for i, line in enumerate(lines) if line and not line[0].isspace()
            and not line.startswith(("@", "else", "except")) and i > 0
            and not lines[i - 1].startswith("@")]
    position = rng.choice(tops) if tops else len(lines)
    error = rng.choice(["def broken(:", "x = (1,", "_BROKEN = 1 // 0",
                        "raise RuntimeError('injected')"])
    lines.insert(position, error)
    return {name: "\n".join(lines).rstrip("\n") + "\n"}
