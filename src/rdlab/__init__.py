"""rdlab: learned data compression measured against the information-theoretic limit.

``rdlab.load(path)`` decodes any ``.rdl`` file with the codec its header names.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("rdlab")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "load"]


def __getattr__(name: str) -> Any:
    if name == "load":  # imported lazily: ``import rdlab`` stays light
        from .codecs import load

        return load
    raise AttributeError(f"module 'rdlab' has no attribute {name!r}")
