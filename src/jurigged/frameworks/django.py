"""Django: URL confs and settings follow a save.

A changed URL conf clears Django's resolver caches (the cached resolvers, and the
patterns each included resolver memoised); a statement re-run in the settings module
copies the constants it set onto `django.conf.settings`."""

from __future__ import annotations

import sys

from ..hooks import Update, on_update, statement_names
from ..logs import logger


def _forget_patterns(patterns, seen: set) -> None:
    for pattern in patterns:
        if id(pattern) in seen or not hasattr(pattern, "url_patterns"):
            continue
        seen.add(id(pattern))
        # cached_property memos: the patterns list, read again from the module
        pattern.__dict__.pop("url_patterns", None)
        if hasattr(pattern, "_populated"):
            pattern._populated = False
            for cache in ("_reverse_dict", "_namespace_dict", "_app_dict"):
                if isinstance(getattr(pattern, cache, None), dict):
                    getattr(pattern, cache).clear()
        try:
            inner = pattern.url_patterns
        except Exception:
            continue
        _forget_patterns(inner, seen)


def _urls_changed(update: Update) -> None:
    urls = sys.modules.get("django.urls")
    if urls is None or update.module is None or not hasattr(update.module, "urlpatterns"):
        return
    urls.clear_url_caches()
    _forget_patterns(update.module.urlpatterns, set())
    logger.notice(f"django: URL caches cleared ({update.module_name} changed)", update.path)


def _settings_changed(update: Update) -> None:
    conf = sys.modules.get("django.conf")
    if conf is None or update.module is None:
        return
    settings = conf.settings
    if not settings.configured or update.module_name != getattr(
            settings, "SETTINGS_MODULE", None):
        return
    names = sorted({name for name in statement_names(update)
                    if name.isupper() and hasattr(update.module, name)})
    for name in names:
        setattr(settings, name, getattr(update.module, name))
    if names:
        logger.notice(f"django: settings updated: {', '.join(names)}", update.path)


def register() -> None:
    on_update(_urls_changed)
    on_update(_settings_changed)
