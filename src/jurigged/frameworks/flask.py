"""Flask: routes added by a save are registered on the live app.

Flask refuses `app.route` once the app has served a request; for the duration of the
apply of a module holding an app, the app is told it has served none."""

from __future__ import annotations

import sys
from typing import Dict, List

from ..hooks import Update, on_update
from ..logs import logger

_reopened: Dict[str, List[object]] = {}  # module name -> apps whose flag we cleared


def _apps_in(module) -> list:
    flask = sys.modules.get("flask")
    if flask is None or module is None:
        return []
    kinds = (flask.Flask, flask.Blueprint)
    return [value for value in list(vars(module).values()) if isinstance(value, kinds)]


def _before(path: str, module_name: str, module) -> None:
    reopened = []
    for app in _apps_in(module):
        if getattr(app, "_got_first_request", False):
            app._got_first_request = False
            reopened.append(app)
    _reopened[module_name] = reopened


def _after(update: Update) -> None:
    for app in _reopened.pop(update.module_name, []):
        app._got_first_request = True
    added = [name for name in update.added if name.startswith(update.module_name + ".")]
    if added and _apps_in(update.module):
        logger.notice(f"flask: routes of {update.module_name} registered on the live "
                      f"app ({', '.join(name.rsplit('.', 1)[-1] for name in added)})",
                      update.path)


def register() -> None:
    on_update(_after, before=_before)
