"""The codec protocol and the registry that finds codecs by name."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from .._files import read_bytes
from ..container import decode_rdl
from ..errors import InputError, ModelError, UnknownCodecError


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

#: The built-in codecs: name -> (module that registers it, the versions it decodes).
#: Known without importing the modules (two of them load PyTorch), so that ``rdlab info``
#: starts fast and :func:`get_codec` imports only the codec asked for. A module that
#: registers other versions than listed here is refused (keep the two in step).
BUILTIN_CODECS: dict[str, tuple[str, tuple[str, ...]]] = {
    "hyperprior": (".hyperprior", ("1", "2")),
    "inr": (".inr", ("1", "2", "3")),
    "lossless": (".lossless", ("1", "2")),
}


def register_codec(name: str, factory: Callable[..., Codec], versions: tuple[str, ...]) -> None:
    """Make ``factory`` (called with keyword options) available under ``name``.

    ``versions`` lists the codec versions whose files this installation decodes.

    Raises:
        ModelError: ``name`` is a built-in codec and ``versions`` differ from
            :data:`BUILTIN_CODECS` (a programming error: update the table).
    """
    if name in BUILTIN_CODECS and tuple(versions) != BUILTIN_CODECS[name][1]:
        raise ModelError(
            f"codec {name} registers versions {tuple(versions)} but "
            f"rdlab.codecs.registry.BUILTIN_CODECS lists {BUILTIN_CODECS[name][1]}: update it"
        )
    _REGISTRY[name] = (factory, versions)


def _ensure_builtin(names: tuple[str, ...] | None = None) -> None:
    """Import the built-in codec modules (those named in ``names``; None: all)."""
    for name, (module, _) in BUILTIN_CODECS.items():
        if name not in _REGISTRY and (names is None or name in names):
            importlib.import_module(module, __package__)  # registers itself


def known_codecs() -> dict[str, tuple[str, ...]]:
    """What :func:`available_codecs` returns, without importing any codec module (the
    built-in codecs from :data:`BUILTIN_CODECS`, plus any registered so far)."""
    known = {name: versions for name, (_, versions) in BUILTIN_CODECS.items()}
    known.update({name: versions for name, (_, versions) in _REGISTRY.items()})
    return dict(sorted(known.items()))


def available_codecs() -> dict[str, tuple[str, ...]]:
    """Registered codec names with the versions they decode (the mapping
    :func:`rdlab.container.decode_rdl` takes as ``codecs``)."""
    _ensure_builtin()
    return {name: versions for name, (_, versions) in sorted(_REGISTRY.items())}


def get_codec(name: str, **options: Any) -> Codec:
    """A codec instance by name (case-insensitive); imports only that codec's module."""
    key = name.lower()
    _ensure_builtin((key,))
    if key not in _REGISTRY:
        _ensure_builtin()
    if key not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise InputError("codec", f"unknown codec {name!r} (available: {known})")
    return _REGISTRY[key][0](**options)


def load(path: str | os.PathLike[str]) -> Any:
    """Decode an ``.rdl`` file with the codec named in its header."""
    return decode_bytes(read_bytes(path))


def decode_bytes(data: bytes) -> Any:
    """Decode the bytes of an ``.rdl`` file with the codec named in its header."""
    header = decode_rdl(data, codecs=known_codecs())  # imports only the file's codec
    try:
        codec = get_codec(header.codec)
    except InputError as exc:  # registered versions but no factory: should not happen
        raise UnknownCodecError(str(exc)) from None
    return codec.decode(data)
