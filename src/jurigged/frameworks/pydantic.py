"""pydantic v2 (and FastAPI): a model whose fields changed is made real, and the
FastAPI routes that use it (in any watched module: models.py and app.py) are rebuilt
to use the new class.

A model whose annotations no longer match its fields is rebuilt as a new class from
its current namespace (pydantic builds fields only when the class is created), bound
in place of the old one. A model of any watched module whose fields name a model that
was re-created (`item: Item`, `List[Item]`), or name a model rebuilt so, gets the new
class in its fields and `model_rebuild(force=True)`, as a fresh run would build it; it
keeps its identity, so the FastAPI routes that use it are refreshed too."""

from __future__ import annotations

import functools
import inspect
import operator
import sys
import types
from typing import List

from ..hooks import Update, on_update
from ..logs import logger
from . import watched_modules as _watched_modules

_PYDANTIC_MADE = ("__pydantic", "model_", "__class_vars__", "__private_attributes__",
                  "__signature__", "__abstractmethods__", "_abc_impl", "__weakref__",
                  "__dict__", "__slots__", "__parameters__", "__orig_bases__")


def _stale_models(module, base) -> list:
    stale = []
    for name, value in list(vars(module).items()):
        if (isinstance(value, type) and issubclass(value, base) and value is not base
                and value.__module__ == module.__name__):
            if _fields_differ(value):
                stale.append((name, value))
    return stale


def _fields_differ(cls) -> bool:
    """Whether the class body's annotations (as a save left them) are not the fields
    pydantic built: a field added, removed or given another type."""
    own = cls.__dict__.get("__annotations__", {})
    fields = cls.model_fields
    inherited = set()
    for base in cls.__mro__[1:]:
        inherited.update(getattr(base, "model_fields", None) or {})
    if set(own) - set(fields) - set(getattr(cls, "__class_vars__", ())):
        return True
    if any(name not in own and name not in inherited for name in fields):
        return True
    return any(isinstance(own[name], type) and fields[name].annotation is not own[name]
               for name in own if name in fields)


def _rebuilt(cls):
    namespace = {key: value for key, value in cls.__dict__.items()
                 if not key.startswith(_PYDANTIC_MADE)}
    namespace["__annotations__"] = dict(cls.__dict__.get("__annotations__", {}))
    for name, info in cls.model_fields.items():
        if name in namespace["__annotations__"] and name not in namespace:
            if not info.is_required():
                namespace[name] = info
    return type(cls)(cls.__name__, cls.__bases__, namespace)


def _models_changed(update: Update) -> None:
    pydantic = sys.modules.get("pydantic")
    if pydantic is None or update.module is None or not hasattr(pydantic, "BaseModel"):
        return
    rebuilt: List[str] = []
    for name, cls in _stale_models(update.module, pydantic.BaseModel):
        fresh = _rebuilt(cls)
        setattr(update.module, name, fresh)
        _rebind_in_watched_modules(cls, fresh)  # `from models import Item` elsewhere
        rebuilt.append(name)
    dependants = _rebuild_dependants(update.module, pydantic.BaseModel)
    routes = sum(_refresh_fastapi_routes(app, dependants)
                 for app in _fastapi_apps(update.module))
    told = []
    if rebuilt:
        told.append(f"pydantic: rebuilt {', '.join(rebuilt)}")
    if dependants:
        told.append(("" if rebuilt else "pydantic: ") + "rebuilt the models that use "
                    f"them ({', '.join(sorted(cls.__qualname__ for cls in dependants))})")
    if routes:  # without a rebuild, the classes were re-created by the patcher itself
        told.append(("FastAPI" if told else "fastapi:") + f" {routes} route(s) refreshed")
    if told:
        logger.notice("; ".join(told), update.path)


def _models_of_watched_modules(first, base) -> list:
    models, seen = [], set()
    for module in _watched_modules(first):
        for value in list(vars(module).values()):
            if (isinstance(value, type) and issubclass(value, base) and value is not base
                    and value.__module__ == module.__name__ and id(value) not in seen):
                seen.add(id(value))
                models.append(value)
    return models


def _rebuild_dependants(first, base) -> list:
    """Models whose fields name a re-created model (or a model rebuilt here, until
    none is left): the stale class in their fields is replaced by the current one and
    the model rebuilt in place (pydantic copies a nested model's schema into the
    schema of the model that uses it, so that one is rebuilt too)."""
    rebuilt: list = []
    pending = _models_of_watched_modules(first, base)
    changed = True
    while changed:
        changed = False
        for cls in [cls for cls in pending if cls not in rebuilt]:
            if _refresh_fields(cls, rebuilt):
                rebuilt.append(cls)
                changed = True
    return rebuilt


def _refresh_fields(cls, rebuilt: list) -> bool:
    fields = getattr(cls, "__pydantic_fields__", None) or cls.model_fields
    annotations = cls.__dict__.get("__annotations__", {})
    stale = False
    for name, info in fields.items():
        fresh = _fresh_hint(info.annotation)
        if fresh is not None:
            info.annotation = fresh
            if name in annotations and not isinstance(annotations[name], str):
                annotations[name] = _fresh_hint(annotations[name]) or annotations[name]
            stale = True
        elif _mentions(info.annotation, rebuilt):
            stale = True
    if stale:
        try:
            cls.model_rebuild(force=True)
        except Exception as exc:
            path, line = _where(cls)
            logger.error(f"{path}:{line}: pydantic: cannot rebuild {cls.__qualname__}: "
                         f"{exc}", path, line, exc)
            return False
    return stale


def _where(cls):
    try:
        return inspect.getsourcefile(cls) or "", inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return getattr(sys.modules.get(cls.__module__), "__file__", "") or "", 0


def _mentions(hint, classes: list) -> bool:
    """Whether a type hint is, or holds (inside generics), one of `classes`."""
    if not classes:
        return False
    if isinstance(hint, type) and hint in classes:
        return True
    args = getattr(hint, "__args__", None)
    if isinstance(hint, type) or not isinstance(args, tuple):
        return False
    return any(_mentions(arg, classes) for arg in args)


def _rebind_in_watched_modules(old: type, new: type) -> None:
    for module in _watched_modules(None):
        namespace = vars(module)
        for name, value in list(namespace.items()):
            if value is old:
                namespace[name] = new


def _fastapi_apps(module) -> list:
    """The FastAPI apps of the updated module and of every watched one: a model saved
    in models.py is used by the routes of app.py."""
    fastapi = sys.modules.get("fastapi")
    if fastapi is None:
        return []
    apps, seen = [], set()
    for each in _watched_modules(module):
        for value in list(vars(each).values()):
            if isinstance(value, fastapi.FastAPI) and id(value) not in seen:
                seen.add(id(value))
                apps.append(value)
    return apps


def _refresh_fastapi_routes(app, rebuilt: list) -> int:
    """Routes hold the model in their dependant and response field, made when the
    route was added: a route whose endpoint or response model names a model class
    that was since re-created, or one of the models `rebuilt` in place, is made again
    from its endpoint and its options."""
    from fastapi.routing import APIRoute

    count = 0
    router = app.router
    for index, route in enumerate(list(router.routes)):
        if not isinstance(route, APIRoute):
            continue
        endpoint = route.endpoint
        hints = getattr(endpoint, "__annotations__", {})
        stale = {key: _fresh_hint(hint) for key, hint in hints.items()}
        stale = {key: now for key, now in stale.items() if now is not None}
        response_model = _fresh_hint(route.response_model)
        if (not stale and response_model is None
                and not _stale_dependant(route.dependant, rebuilt)
                and not _mentions(route.response_model, rebuilt)
                and not any(_mentions(hint, rebuilt) for hint in hints.values())):
            continue
        hints.update(stale)
        options = _route_options(route, type(route))  # a custom route_class kept
        options["response_model"] = response_model or route.response_model
        router.routes[index] = type(route)(route.path, endpoint, **options)
        count += 1
    if count:
        app.openapi_schema = None
        if hasattr(app, "middleware_stack"):
            app.middleware_stack = None
    return count


def _stale_dependant(dependant, rebuilt: list) -> bool:
    """Whether a parameter of the route (or of its dependencies) was built from an old
    model: an endpoint with string annotations (`from __future__ import annotations`)
    names its models only through its globals, which the re-created class is bound in."""
    groups = ("path_params", "query_params", "header_params", "cookie_params",
              "body_params")
    for group in groups:
        for parameter in getattr(dependant, group, None) or []:
            annotation = getattr(getattr(parameter, "field_info", None), "annotation", None)
            if _fresh_hint(annotation) is not None or _mentions(annotation, rebuilt):
                return True
    return any(_stale_dependant(inner, rebuilt)
               for inner in getattr(dependant, "dependencies", None) or [])


def _route_options(route, route_class) -> dict:
    """The options the route was made with (APIRoute keeps each under its own name)."""
    parameters = inspect.signature(route_class.__init__).parameters
    return {name: getattr(route, name) for name, parameter in parameters.items()
            if name not in ("self", "path", "endpoint")
            and parameter.kind is parameter.KEYWORD_ONLY
            and name in vars(route)}


def _fresh_hint(hint):
    """`hint` with each model class that was since re-created (its module's name now
    holds another class) replaced by the current one, inside generics too
    (`List[Item]`, `Optional[Item]`, `Annotated[Item, ...]`); None if nothing is stale."""
    now = _current_model(hint)
    if now is not None:
        return now
    args = getattr(hint, "__args__", None)
    if not isinstance(args, tuple) or not args or isinstance(hint, type):
        return None
    fresh = [_fresh_hint(arg) for arg in args]
    if all(each is None for each in fresh):
        return None
    args = tuple(arg if each is None else each for arg, each in zip(args, fresh))
    try:
        if hasattr(hint, "copy_with"):  # typing's aliases, Union and Annotated
            return hint.copy_with(args)
        if isinstance(hint, types.GenericAlias):  # list[Item]
            return types.GenericAlias(hint.__origin__, args)
        if type(hint).__name__ == "UnionType":  # Item | None
            return functools.reduce(operator.or_, args)
    except Exception:
        return None
    return None


def _current_model(hint):
    """The class now bound under an old model class's module and qualified name."""
    pydantic = sys.modules.get("pydantic")
    if not isinstance(hint, type) or pydantic is None or "<" in hint.__qualname__:
        return None
    if not issubclass(hint, pydantic.BaseModel):
        return None
    now = sys.modules.get(hint.__module__)
    for part in hint.__qualname__.split("."):
        now = getattr(now, part, None)
    if (isinstance(now, type) and now is not hint and issubclass(now, pydantic.BaseModel)
            and now.__name__ == hint.__name__):
        return now
    return None


def register() -> None:
    on_update(_models_changed)
