"""pydantic v2 (and FastAPI): a model whose fields changed is made real, and the
FastAPI routes of the module's apps are rebuilt to use it.

A model whose annotations no longer match its fields is rebuilt as a new class from
its current namespace (pydantic builds fields only when the class is created), bound
in place of the old one; dependants then get `model_rebuild(force=True)`."""

from __future__ import annotations

import sys
from typing import List

from ..hooks import Update, on_update
from ..logs import logger

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
        setattr(update.module, name, _rebuilt(cls))
        rebuilt.append(name)
    for value in list(vars(update.module).values()):
        if rebuilt and isinstance(value, type) and issubclass(value, pydantic.BaseModel):
            try:
                value.model_rebuild(force=True)
            except Exception:
                pass
    routes = _refresh_fastapi_routes(update.module)
    if not rebuilt:
        if routes:  # the classes were re-created by the patcher itself
            logger.notice(f"fastapi: {routes} route(s) refreshed", update.path)
        return
    logger.notice(f"pydantic: rebuilt {', '.join(rebuilt)}"
                  + (f"; {routes} FastAPI route(s) refreshed" if routes else ""),
                  update.path)


def _refresh_fastapi_routes(module) -> int:
    """Routes hold the model in their dependant and response field, made when the
    route was added: add each route of the module's apps again from its endpoint."""
    fastapi = sys.modules.get("fastapi")
    if fastapi is None:
        return 0
    from fastapi.routing import APIRoute

    count = 0
    for app in [v for v in vars(module).values() if isinstance(v, fastapi.FastAPI)]:
        router = app.router
        for index, route in enumerate(list(router.routes)):
            if not isinstance(route, APIRoute):
                continue
            endpoint = route.endpoint
            hints = getattr(endpoint, "__annotations__", {})
            stale = {key: _current(module, hint) for key, hint in hints.items()}
            stale = {key: now for key, now in stale.items() if now is not None}
            response_model = _current(module, route.response_model)
            if not stale and response_model is None:
                continue
            hints.update(stale)
            response_model = response_model or route.response_model
            fresh = APIRoute(route.path, endpoint, response_model=response_model,
                             methods=route.methods, name=route.name,
                             status_code=route.status_code, tags=route.tags,
                             dependencies=route.dependencies)
            router.routes[index] = fresh
            count += 1
        app.openapi_schema = None
        if hasattr(app, "middleware_stack"):
            app.middleware_stack = None
    return count


def _current(module, hint):
    """The module's current class of the same name as an old model class."""
    if isinstance(hint, type) and hint.__module__ == module.__name__:
        now = getattr(module, hint.__name__, None)
        if isinstance(now, type) and now is not hint:
            return now
    return None


def register() -> None:
    on_update(_models_changed)
