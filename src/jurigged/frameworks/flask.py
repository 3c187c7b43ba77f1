"""Flask: after a save, the live app's routes are those a fresh run of the file would
make: a route added is registered (after the first request too), a route whose URL or
options changed serves at its new rule only, a route removed is gone.

Flask refuses `app.route` once the app has served a request (its setup methods call
`_check_setup_finished`); for the duration of the apply of a module holding an app,
that check is switched off on the app object itself. Clearing the app's
`_got_first_request` flag instead would race with requests served meanwhile, which set
it again. A decorator change re-creates the view function and registers it again
under the same endpoint, which Flask refuses (and the old rule would stay): during the
apply, `add_url_rule` on the app first drops the endpoint's old rules when the old view
came from the module being applied. Blueprints are reopened too, but routes they gain
after being registered on an app do not reach it yet."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Dict, List, Set

from ..hooks import Update, on_update
from ..logs import logger


@dataclass
class _Reopened:
    """An app (or blueprint) opened for setup during one module's apply."""

    app: object
    module_name: str
    registered: Set[str] = field(default_factory=set)  # endpoints added meanwhile
    moved: Set[str] = field(default_factory=set)  # endpoints whose old rules went


_reopened: Dict[str, List[_Reopened]] = {}  # module name -> apps opened for its apply


def _apps_in(module) -> list:
    flask = sys.modules.get("flask")
    if flask is None or module is None:
        return []
    kinds = (flask.Flask, flask.Blueprint)
    return [value for value in list(vars(module).values()) if isinstance(value, kinds)]


def _is_app(value) -> bool:
    flask = sys.modules.get("flask")
    return flask is not None and isinstance(value, flask.Flask)


def _setup_allowed(f_name: str) -> None:
    """Stands in for the app's `_check_setup_finished` while a save is applied."""


def _before(path: str, module_name: str, module) -> None:
    _close(module_name)  # an earlier apply of the module that raised before its end
    reopened = []
    for app in _apps_in(module):
        if not hasattr(app, "_check_setup_finished"):
            continue
        record = _Reopened(app, module_name)
        app._check_setup_finished = _setup_allowed  # shadows the method
        if _is_app(app):
            app.add_url_rule = _replacing_add_url_rule(record, app.add_url_rule)
        reopened.append(record)
    _reopened[module_name] = reopened


def _replacing_add_url_rule(record: _Reopened, original):
    """The app's add_url_rule during an apply: a view of this module registered again
    under its endpoint replaces the old registration instead of failing."""
    def add_url_rule(rule, endpoint=None, view_func=None, **options):
        name = endpoint if endpoint is not None else getattr(view_func, "__name__", None)
        if name is not None and name not in record.registered:
            views = record.app.view_functions
            if _defined_in(views.get(name), record.module_name):
                _drop_rules(record.app.url_map, name)
                # Replaced, not removed: requests served meanwhile find a view.
                if view_func is not None:
                    views[name] = view_func
                else:
                    views.pop(name, None)
                record.moved.add(name)
            record.registered.add(name)
        return original(rule, endpoint, view_func, **options)

    return add_url_rule


def _defined_in(view, module_name: str) -> bool:
    return view is not None and getattr(view, "__module__", None) == module_name


def _drop_endpoint(app, endpoint: str) -> None:
    _drop_rules(app.url_map, endpoint)
    app.view_functions.pop(endpoint, None)


def _drop_rules(url_map, endpoint: str) -> None:
    """Take an endpoint's rules off a werkzeug URL map. werkzeug has no public removal:
    its matcher is rebuilt from the rules that remain, then swapped in."""
    by_endpoint = getattr(url_map, "_rules_by_endpoint", None)
    if not isinstance(by_endpoint, dict):
        raise RuntimeError("this werkzeug's URL map cannot drop rules")
    matcher = getattr(url_map, "_matcher", None)
    if matcher is not None:  # werkzeug 2.2+
        fresh = type(matcher)(matcher.merge_slashes)
        for name, rules in list(by_endpoint.items()):
            for rule in rules:
                if name != endpoint and not rule.build_only:
                    fresh.add(rule)
        fresh.update()
        url_map._matcher = fresh
    doomed = by_endpoint.pop(endpoint, [])
    if isinstance(vars(url_map).get("_rules"), list):  # before werkzeug 2.2
        url_map._rules[:] = [rule for rule in url_map._rules if rule not in doomed]
    url_map._remap = True


def _stale_endpoints(record: _Reopened, update: Update) -> List[str]:
    """Endpoints of views of this module that the save deleted, or re-created without
    registering them again (their route decorator was removed)."""
    module_name = update.module_name
    deleted = set(update.deleted)
    updated = set(update.updated)
    stale = []
    for endpoint, view in list(record.app.view_functions.items()):
        if endpoint in record.registered or not _defined_in(view, module_name):
            continue
        qualname = f"{module_name}.{getattr(view, '__qualname__', '')}"
        if qualname in deleted:
            stale.append(endpoint)
        elif qualname in updated and not _still_bound(update.module, view):
            stale.append(endpoint)
    return stale


def _still_bound(module, view) -> bool:
    """Whether the module's current value of the view's name is the view, or wraps it."""
    value = vars(module).get(getattr(view, "__name__", None)) if module else None
    for _ in range(32):
        if value is view:
            return True
        value = getattr(value, "__wrapped__", None)
        if value is None:
            return False
    return False


def _close(module_name: str) -> List[_Reopened]:
    """Give the apps opened for a module's apply their own methods back."""
    records = _reopened.pop(module_name, [])
    for record in records:
        record.app.__dict__.pop("_check_setup_finished", None)
        record.app.__dict__.pop("add_url_rule", None)
    return records


def _after(update: Update) -> None:
    added = [name.rsplit(".", 1)[-1] for name in update.added
             if name.startswith(update.module_name + ".")]
    moved, removed = set(), []
    for record in _close(update.module_name):
        if not _is_app(record.app):
            continue
        moved |= record.moved
        for endpoint in _stale_endpoints(record, update):
            _drop_endpoint(record.app, endpoint)
            removed.append(endpoint)
    if added and _apps_in(update.module):
        logger.notice(f"flask: routes of {update.module_name} registered on the live "
                      f"app ({', '.join(added)})", update.path)
    if moved:
        logger.notice(f"flask: routes of {update.module_name} registered again with "
                      f"their new rules ({', '.join(sorted(moved))})", update.path)
    if removed:
        logger.notice(f"flask: routes of {update.module_name} removed from the live "
                      f"app ({', '.join(sorted(removed))})", update.path)


def register() -> None:
    on_update(_after, before=_before)
