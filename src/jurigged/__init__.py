"""jurigged: live code updates for running Python programs."""

from .version import __version__

__all__ = ["__version__"]
