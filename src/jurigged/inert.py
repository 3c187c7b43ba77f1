# Which steps of a save the commit takes (`CommitRule`), and what that rule reads:
# the names that making a definition or running a statement reads when it calls
# nothing (such a step can be built before a changed statement above it has run: it
# neither runs the user's code nor reads what that statement binds), and the names
# compiled code reads or binds.

from __future__ import annotations

import ast
import textwrap
import types
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Set

from .records import Making, Step, Swap, _TRANSIENT

# Expressions whose evaluation runs code of the user's, or binds a name as it goes.
_RUNS_CODE = (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr,
              ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)

_CO_OPTIMIZED = 0x1


def waiting_swaps(swaps: Iterable[Swap], live_steps: List[Step]) -> Dict[int, List[Swap]]:
    """The swaps whose new code reads a module-level name that one of `live_steps`
    (run after the commit, in file order) defines: `c()` in the new `b()`, with `c`
    decorated below a changed statement. Each is left out of the commit and made
    right after the last of those steps, so no thread calls the new `b()` before `c`
    exists. (A statement run in between that calls `b()` meets the old one; the new
    one would raise NameError there on its way to `c`, as in a fresh run.) What `c`
    calls that is made live too is waited for as well. Keyed by the id of the step
    each waits for."""
    defined_live: Dict[str, int] = {}
    for position, step in enumerate(live_steps):
        if step.verb in ("add", "replace") and step.node.name:
            defined_live[step.node.name] = position
    waiting: Dict[int, List[Swap]] = {}
    if not defined_live:
        return waiting
    reads: Dict[int, Set[str]] = {}  # of each live definition, read when first needed
    for swap in swaps:
        awaited: Set[int] = set()
        pending = [name for name in names_in(swap.code, everything=True)
                   if name in defined_live]
        while pending:
            position = defined_live[pending.pop()]
            if position in awaited:
                continue
            awaited.add(position)
            if position not in reads:
                code = live_steps[position].code
                reads[position] = names_in(code, everything=True) if code else set()
            pending += [name for name in reads[position] if name in defined_live]
        if awaited:
            waiting.setdefault(id(live_steps[max(awaited)]), []).append(swap)
    return waiting


class CommitRule:
    """Which steps of a plan the commit is offered, asked in file order (the one rule
    of the commit's `_prebuild_steps` and of --explain): every buildable deletion;
    the buildable steps at the head of the file, before the first step that runs live (a fresh run
    makes them in that same order); past the head, a definition made without running
    code (`Step.making`) whose making reads nothing that the live steps before it
    name, and whose name nothing binds yet (`bound`: else a live step before it may
    reach what the name holds now through a function it calls, as a fresh run would).
    A step offered that could not be built runs live: say so with `ran_live`."""

    def __init__(self, bound: Optional[Callable[[Step], bool]] = None):
        self.head = True
        self.live_names: Set[str] = set()  # read or bound by the live steps so far
        self.bound = bound

    def offers(self, step: Step) -> bool:
        if step.verb == "delete" or self.head:
            return step.buildable
        return (step.buildable and step.verb == "add" and step.making is not None
                and not (step.making.reads | {step.node.name}) & self.live_names
                and not (self.bound is not None and self.bound(step)))

    def ran_live(self, step: Step) -> None:
        if step.verb == "delete":
            return  # a deletion runs no code: it does not end the head of the file
        self.head = False
        self.live_names.add(step.node.name)
        for code in (step.code, step.swap.code if step.swap is not None else None):
            if code is not None:
                self.live_names |= names_in(code, everything=True)


def names_in(code: types.CodeType, top: bool = True, everything: bool = False) -> Set[str]:
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
            names |= names_in(const, True, everything)
    return names


def inert_making(lines: List[str]) -> Optional[Making]:
    """What making the one definition or statement `lines` hold reads (and a class's
    bases), if making it calls nothing (no call, decorator, metaclass, comprehension,
    PEP 695 scope; a statement only assigns to plain names); None if it may run code."""
    try:
        tree = ast.parse(textwrap.dedent("\n".join(lines)) + "\n")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # too deep for this thread's stack (3.9-3.11): left to run live
    if len(tree.body) != 1:
        return None
    reads: Set[str] = set()
    if not _made_inertly(tree.body[0], reads):
        return None
    made = tree.body[0]
    bases = tuple(base.id for base in made.bases) if isinstance(made, ast.ClassDef) else ()
    return Making(frozenset(reads), bases)


def _made_inertly(statement: ast.stmt, reads: Set[str]) -> bool:
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return _function_made_inertly(statement, reads)
    if isinstance(statement, ast.ClassDef):
        return _class_made_inertly(statement, reads)
    if isinstance(statement, ast.Assign):
        return (all(_plain_target(target) for target in statement.targets)
                and _evaluates_inertly([statement.value], reads))
    return False


def _function_made_inertly(function, reads: Set[str]) -> bool:
    if function.decorator_list or getattr(function, "type_params", None):
        return False
    arguments = function.args
    evaluated = [*arguments.defaults, *(d for d in arguments.kw_defaults if d is not None)]
    every_argument = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                      *(a for a in (arguments.vararg, arguments.kwarg) if a is not None)]
    evaluated += [a.annotation for a in every_argument if a.annotation is not None]
    if function.returns is not None:
        evaluated.append(function.returns)
    return _evaluates_inertly(evaluated, reads)


def _class_made_inertly(cls: ast.ClassDef, reads: Set[str]) -> bool:
    """A class with no decorator, keyword (metaclass=) or PEP 695 scope, plain-name
    bases (whether those run code as the class is made, `__init_subclass__`, is only
    known live: the commit checks) and a body of such definitions and assignments."""
    if cls.decorator_list or cls.keywords or getattr(cls, "type_params", None):
        return False
    if not all(isinstance(base, ast.Name) for base in cls.bases):
        return False
    reads.update(base.id for base in cls.bases)
    for statement in cls.body:
        if isinstance(statement, ast.Pass) or (
                isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)):
            continue
        if isinstance(statement, ast.AnnAssign):
            if not (isinstance(statement.target, ast.Name) and _evaluates_inertly(
                    [statement.annotation, *([statement.value] if statement.value else [])],
                    reads)):
                return False
        elif not _made_inertly(statement, reads):
            return False
    return True


def _plain_target(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return True
    return isinstance(target, (ast.Tuple, ast.List)) and all(
        isinstance(element, ast.Name) for element in target.elts)


def _evaluates_inertly(expressions: Iterable[ast.expr], reads: Set[str]) -> bool:
    for node in _evaluated_nodes(expressions):
        if isinstance(node, _RUNS_CODE):
            return False
        if isinstance(node, ast.Name):
            reads.add(node.id)
    return True


def _evaluated_nodes(expressions: Iterable[ast.expr]) -> Iterator[ast.AST]:
    """The nodes of `expressions` evaluated right away: a lambda's body is not (only
    its defaults are)."""
    pending = list(expressions)
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.Lambda):
            pending += [*node.args.defaults,
                        *(d for d in node.args.kw_defaults if d is not None)]
        else:
            pending += ast.iter_child_nodes(node)
