"""`jurigged.loop` as jurigged 0.6.1 programs import it: `from jurigged.loop import
loop, xloop, __`, and also the decorator itself (`@jurigged.loop`,
`@jurigged.loop(interface="basic")`). The develoop lives in jurigged.develoop."""

from __future__ import annotations

import builtins
from types import ModuleType, SimpleNamespace

from .develoop import Develoop, loop, loop_on_error, xloop


def _namespace() -> SimpleNamespace:
    # 0.6.1's `__` also carries giving's give/given when giving is installed.
    names = dict(loop=loop, loop_on_error=loop_on_error, xloop=xloop)
    try:
        from giving import give, given
    except ImportError:
        pass
    else:
        names.update(give=give, given=given)
    return SimpleNamespace(**names)


__ = _namespace()


def inject() -> None:
    """Put `__` into builtins, so `@__.loop` works without an import."""
    builtins.__ = __


class _CallableModule(ModuleType):
    def __call__(self, function=None, **options):
        return loop(function, **options)


import sys as _sys  # noqa: E402

_sys.modules[__name__].__class__ = _CallableModule

__all__ = ["loop", "xloop", "loop_on_error", "Develoop", "inject", "__"]
