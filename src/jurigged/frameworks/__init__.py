"""Built-in update hooks for web frameworks, one small module each.

Each hook does nothing unless its framework is already imported (it looks in
sys.modules and never imports the framework itself)."""

from __future__ import annotations


def register_builtin() -> None:
    from . import django, flask, pydantic

    for framework in (django, flask, pydantic):
        framework.register()
