"""The codec protocol and the registry that finds codecs by name."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from .._files import read_bytes
from ..container import decode_rdl
from ..errors import InputError, UnknownCodecError


@runtime_checkable
class Codec(Protocol):
    """What every rdlab codec offers."""

    name: str
    version: str
    description: str

    def encode(self, x: Any) -> bytes:
        """Data to the bytes of a complete ``.rdl`` file."""
        ...

    def decode(self, data: bytes) -> Any:
        """Bytes of an ``.rdl`` file written by this codec back to data."""
        ...


_REGISTRY: dict[str, tuple[Callable[..., Codec], tuple[str, ...]]] = {}


def register_codec(name: str, factory: Callable[..., Codec], versions: tuple[str, ...]) -> None:
    """Make ``factory`` (called with keyword options) available under ``name``.

    ``versions`` lists the codec versions whose files this installation decodes.
    """
    _REGISTRY[name] = (factory, versions)


def _ensure_builtin() -> None:
    if "lossless" not in _REGISTRY:
        from . import lossless  # noqa: F401  (registers itself)
    if "hyperprior" not in _REGISTRY:
        from . import hyperprior  # noqa: F401  (registers itself)
    if "inr" not in _REGISTRY:
        from . import inr  # noqa: F401  (registers itself)


def available_codecs() -> dict[str, tuple[str, ...]]:
    """Registered codec names with the versions they decode (the mapping
    :func:`rdlab.container.decode_rdl` takes as ``codecs``)."""
    _ensure_builtin()
    return {name: versions for name, (_, versions) in sorted(_REGISTRY.items())}


def get_codec(name: str, **options: Any) -> Codec:
    """A codec instance by name (case-insensitive)."""
    _ensure_builtin()
    key = name.lower()
    if key not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise InputError("codec", f"unknown codec {name!r} (available: {known})")
    return _REGISTRY[key][0](**options)


def load(path: str | os.PathLike[str]) -> Any:
    """Decode an ``.rdl`` file with the codec named in its header."""
    return decode_bytes(read_bytes(path))


def decode_bytes(data: bytes) -> Any:
    """Decode the bytes of an ``.rdl`` file with the codec named in its header."""
    header = decode_rdl(data, codecs=available_codecs())
    try:
        codec = get_codec(header.codec)
    except InputError as exc:  # registered versions but no factory: should not happen
        raise UnknownCodecError(str(exc)) from None
    return codec.decode(data)
