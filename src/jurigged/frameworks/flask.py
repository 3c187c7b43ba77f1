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
came from the module being applied.

Blueprints are reopened too. A blueprint only records its routes (deferred functions,
run on each app at `register_blueprint`), so after the apply the routes it recorded
meanwhile are run on every live app (of a watched module) it is registered on, with a
setup state like that registration's: its URL prefix, subdomain and URL defaults are
read back from a rule the registration made (Flask keeps no registration options).
An endpoint recorded again replaces its old rules, one whose view the save deleted or
unrouted is dropped, and the blueprint forgets their old records, so that it registers
on a new app as a fresh run's would.

Class-based views (`Cls.as_view(name)`): the view function keeps its class and the
HTTP methods the class had when it was made (a MethodView computes them when the
class is created). After a save of the class's module, each endpoint's view gets the
class now bound under its name, and, when the methods a fresh class would have differ,
those methods, and its rules are made again with them. A view of a class registered
again under its endpoint (the app's rules re-run) replaces the old one, wherever the
class is defined."""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Set

from ..hooks import Update, on_update
from ..logs import logger
from . import watched_modules


@dataclass
class _Reopened:
    """An app (or blueprint) opened for setup during one module's apply."""

    app: object
    module_name: str
    registered: Set[str] = field(default_factory=set)  # endpoints added meanwhile
    moved: Set[str] = field(default_factory=set)  # endpoints whose old rules went
    recorded: int = 0  # a blueprint's deferred functions before the apply


@dataclass
class _Route:
    """What one deferred function of a blueprint registers (its `add_url_rule`)."""

    rule: str
    endpoint: str
    view_func: object
    options: dict


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
        else:
            record.recorded = len(app.deferred_functions)
        reopened.append(record)
    _reopened[module_name] = reopened


def _replacing_add_url_rule(record: _Reopened, original):
    """The app's add_url_rule during an apply: a view of this module registered again
    under its endpoint replaces the old registration instead of failing."""
    def add_url_rule(rule, endpoint=None, view_func=None, **options):
        name = endpoint if endpoint is not None else getattr(view_func, "__name__", None)
        if name is not None and name not in record.registered:
            views = record.app.view_functions
            old = views.get(name)
            if _defined_in(old, record.module_name) or _same_view_class(old, view_func):
                _drop_rules(record.app.url_map, name)
                # Replaced, not removed: requests served meanwhile find a view.
                if view_func is not None:
                    views[name] = view_func
                else:
                    views.pop(name, None)
                record.moved.add(name)
            elif old is None and view_func is not None:
                views[name] = view_func  # Flask adds the rule first: no rule without view
            record.registered.add(name)
        return original(rule, endpoint, view_func, **options)

    return add_url_rule


def _same_view_class(old, new) -> bool:
    """Whether two views were made by `as_view` of the same class (or of its
    re-creation): registering the class again under its endpoint is no clash."""
    old_class = getattr(old, "view_class", None)
    new_class = getattr(new, "view_class", None)
    return (isinstance(old_class, type) and isinstance(new_class, type)
            and (old_class.__module__, old_class.__qualname__)
            == (new_class.__module__, new_class.__qualname__))


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
    moved, removed, registered = set(), [], set()
    for record in _close(update.module_name):
        if not _is_app(record.app):
            _blueprint_after(record, update)
            continue
        moved |= record.moved
        registered |= record.registered
        for endpoint in _stale_endpoints(record, update):
            _drop_endpoint(record.app, endpoint)
            removed.append(endpoint)
    _refresh_view_classes(update)
    added = sorted(registered - moved)
    if added:
        logger.notice(f"flask: routes of {update.module_name} registered on the live "
                      f"app ({', '.join(added)})", update.path)
    if moved:
        logger.notice(f"flask: routes of {update.module_name} registered again with "
                      f"their new rules ({', '.join(sorted(moved))})", update.path)
    if removed:
        logger.notice(f"flask: routes of {update.module_name} removed from the live "
                      f"app ({', '.join(sorted(removed))})", update.path)


class _RouteRecorder:
    """Stands in for a setup state to learn what a deferred function would register;
    a deferred function that is not a route fails on the missing `app`."""

    def __init__(self):
        self.routes: List[_Route] = []

    def add_url_rule(self, rule, endpoint=None, view_func=None, **options):
        if endpoint is None:
            endpoint = getattr(view_func, "__name__", None)
        self.routes.append(_Route(rule, endpoint, view_func, options))


def _routes_of(deferred) -> List[_Route]:
    recorder = _RouteRecorder()
    try:
        deferred(recorder)
    except Exception:
        return []
    return recorder.routes


def _blueprint_after(record: _Reopened, update: Update) -> None:
    blueprint = record.app
    old = blueprint.deferred_functions[:record.recorded]
    new = blueprint.deferred_functions[record.recorded:]
    old_routes = [(deferred, _routes_of(deferred)) for deferred in old]
    new_routes = [route for deferred in new for route in _routes_of(deferred)]
    new_endpoints = {route.endpoint for route in new_routes}
    replaced = {route.endpoint for _, routes in old_routes for route in routes
                if route.endpoint in new_endpoints}
    stale = {route.endpoint for _, routes in old_routes for route in routes
             if route.endpoint not in new_endpoints and _unrouted(route.view_func, update)}
    if not (new_routes or stale):
        return
    registrations = _registrations(blueprint, update.module)
    for app, name in registrations:
        state = blueprint.make_setup_state(
            app, _registration_options(app, name, old_routes), False)
        for endpoint in stale:
            _drop_endpoint(app, f"{name}.{endpoint}")
        for route in new_routes:
            full = f"{name}.{route.endpoint}"
            if route.endpoint in replaced and full in app.view_functions:
                _drop_rules(app.url_map, full)
                app.view_functions[full] = route.view_func  # no gap, and no clash
            elif full not in app.view_functions and route.view_func is not None:
                # Flask adds the rule before the view: a request served by another
                # thread in between would find the rule and no view (KeyError, 500).
                app.view_functions[full] = route.view_func
        _run_on(app, [deferred for deferred in new if _routes_of(deferred)], state)
    # The blueprint forgets the records the save replaced or removed.
    gone = replaced | stale
    blueprint.deferred_functions[:] = [
        deferred for deferred, routes in old_routes
        if not any(route.endpoint in gone for route in routes)] + new
    told = []
    if new_endpoints:
        told.append(f"registered ({', '.join(sorted(new_endpoints))})")
    if stale:
        told.append(f"removed ({', '.join(sorted(stale))})")
    where = (f"on {len(registrations)} live app registration(s)" if registrations
             else "(not registered on a live app)")
    logger.notice(f"flask: routes of blueprint {blueprint.name} in "
                  f"{update.module_name} {' and '.join(told)} {where}", update.path)


def _run_on(app, deferreds: list, state) -> None:
    """Run a blueprint's route records on an app that may have served requests."""
    shadowed = "_check_setup_finished" in vars(app)
    app._check_setup_finished = _setup_allowed
    try:
        for deferred in deferreds:
            deferred(state)
    finally:
        if not shadowed:
            vars(app).pop("_check_setup_finished", None)


def _unrouted(view, update: Update) -> bool:
    """Whether the save deleted a view of its module or re-created it unrouted."""
    if not _defined_in(view, update.module_name):
        return False
    qualname = f"{update.module_name}.{getattr(view, '__qualname__', '')}"
    if qualname in update.deleted:
        return True
    return qualname in update.updated and not _still_bound(update.module, view)


def _registrations(blueprint, module) -> list:
    """(app, registered name) for each registration of the blueprint on an app of a
    watched module (a blueprint can be registered twice, under two names)."""
    flask = sys.modules.get("flask")
    found, seen = [], set()
    for each in watched_modules(module):
        for app in list(vars(each).values()):
            if not isinstance(app, flask.Flask) or id(app) in seen:
                continue
            seen.add(id(app))
            found.extend((app, name) for name, value in list(app.blueprints.items())
                         if value is blueprint)
    return found


def _registration_options(app, name: str, old_routes) -> dict:
    """The options of the registration named `name`, read back from a rule it made:
    Flask joins the URL prefix and the route's rule with one slash."""
    prefix, _, own = name.rpartition(".")
    options = {"name": own, "name_prefix": prefix}
    rules = getattr(app.url_map, "_rules_by_endpoint", {})
    for _, routes in old_routes:
        for route in routes:
            for rule in rules.get(f"{name}.{route.endpoint}", []):
                tail = route.rule.lstrip("/")
                if not route.rule:
                    url_prefix = rule.rule
                elif rule.rule.endswith("/" + tail):
                    url_prefix = rule.rule[:len(rule.rule) - len(tail) - 1]
                else:
                    continue
                options["url_prefix"] = url_prefix
                if "subdomain" not in route.options:
                    options["subdomain"] = rule.subdomain or None
                own_defaults = route.options.get("defaults") or {}
                options["url_defaults"] = {key: value for key, value in
                                           (rule.defaults or {}).items()
                                           if key not in own_defaults}
                return options
    return options


def _refresh_view_classes(update: Update) -> None:
    """The views of the module's view classes, on every live app, get the class bound
    now and the methods a fresh run's class would have (and rules with them)."""
    flask = sys.modules.get("flask")
    views = sys.modules.get("flask.views")
    if flask is None or views is None or update.module is None:
        return
    changed, endpoints = [], 0
    for each in watched_modules(update.module):
        for app in list(vars(each).values()):
            if not isinstance(app, flask.Flask):
                continue
            for endpoint, view in list(app.view_functions.items()):
                cls = getattr(view, "view_class", None)
                if not isinstance(cls, type) or cls.__module__ != update.module_name:
                    continue
                now = _bound_class(update.module, cls)
                if now is not cls:
                    view.view_class = now
                methods = _fresh_methods(now, views, update.path)
                if methods is None or set(methods) == set(view.methods or ()):
                    continue
                old = {method.upper() for method in view.methods or ()}
                view.methods = now.methods = methods
                if _remake_rules(app.url_map, endpoint, old, methods):
                    endpoints += 1
                    label = f"{now.__qualname__}: {', '.join(sorted(methods))}"
                    if label not in changed:
                        changed.append(label)
    if changed:
        logger.notice(f"flask: view class methods of {update.module_name} updated "
                      f"({'; '.join(changed)}) on {endpoints} endpoint(s)", update.path)


def _bound_class(module, cls):
    now = module
    for part in cls.__qualname__.split("."):
        now = getattr(now, part, None)
    return now if isinstance(now, type) and now.__name__ == cls.__name__ else cls


def _fresh_methods(cls, views, path: str):
    """The methods MethodView gives a class when it is created (from its bases'
    methods and the HTTP method functions it has), or None if the class is no
    MethodView or names its methods in its body."""
    if not issubclass(cls, views.MethodView) or _sets_methods(cls, path):
        return None
    methods = set()
    for base in cls.__bases__:
        methods.update(getattr(base, "methods", None) or ())
    methods.update(key.upper() for key in views.http_method_funcs if hasattr(cls, key))
    return methods or None


def _sets_methods(cls, path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as source:
            tree = ast.parse(source.read())
    except (OSError, SyntaxError, ValueError):
        return True  # unknown: the methods are left as they are
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            for statement in node.body:
                targets = (statement.targets if isinstance(statement, ast.Assign)
                           else [statement.target] if isinstance(statement, ast.AnnAssign)
                           else [])
                if any(isinstance(target, ast.Name) and target.id == "methods"
                       for target in targets):
                    return True
    return False


def _remake_rules(url_map, endpoint: str, old: Set[str], methods) -> bool:
    """Make the endpoint's rules again with `methods` in place of `old`, the methods
    the view had (a rule given its own `methods=` keeps them)."""
    rules = list(getattr(url_map, "_rules_by_endpoint", {}).get(endpoint, []))
    extra = {"HEAD", "OPTIONS"}
    if not any(old <= set(rule.methods or ()) <= old | extra for rule in rules):
        return False
    fresh = []
    for rule in rules:
        kwargs = dict(rule.get_empty_kwargs())
        current = set(rule.methods or ())
        if old <= current <= old | extra:
            # HEAD comes back from werkzeug with GET; OPTIONS is Flask's own
            kwargs["methods"] = ({method.upper() for method in methods}
                                 | (current - old - {"HEAD"}))
        copy = type(rule)(rule.rule, **kwargs)
        if hasattr(rule, "provide_automatic_options"):
            copy.provide_automatic_options = rule.provide_automatic_options
        fresh.append(copy)
    _drop_rules(url_map, endpoint)
    for rule in fresh:
        url_map.add(rule)
    return True


def register() -> None:
    on_update(_after, before=_before)
