"""FTL for Python: the SDK that module authors import."""

from ftl._version import __version__

__all__ = ["__version__"]
