"""Flask: routes added by a save are registered on the live app.

Flask refuses `app.route` once the app has served a request (its setup methods call
`_check_setup_finished`); for the duration of the apply of a module holding an app,
that check is switched off on the app object itself. Clearing the app's
`_got_first_request` flag instead would race with requests served meanwhile, which set
it again."""

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


def _setup_allowed(f_name: str) -> None:
    """Stands in for the app's `_check_setup_finished` while a save is applied."""


def _before(path: str, module_name: str, module) -> None:
    reopened = []
    for app in _apps_in(module):
        if hasattr(app, "_check_setup_finished"):
            app._check_setup_finished = _setup_allowed  # shadows the method
            reopened.append(app)
    _reopened[module_name] = reopened


def _after(update: Update) -> None:
    for app in _reopened.pop(update.module_name, []):
        app.__dict__.pop("_check_setup_finished", None)
    added = [name for name in update.added if name.startswith(update.module_name + ".")]
    if added and _apps_in(update.module):
        logger.notice(f"flask: routes of {update.module_name} registered on the live "
                      f"app ({', '.join(name.rsplit('.', 1)[-1] for name in added)})",
                      update.path)


def register() -> None:
    on_update(_after, before=_before)
