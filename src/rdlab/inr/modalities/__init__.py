"""The modalities of the INR codec and their registry.

Each modality is a :class:`Modality` (reading, normalizing, restoring, writing, distortion,
rate unit, file suffixes, encoder defaults), one module each:

============  ==========================  ====================================  ==========
modality      signal                      normalized values                     rate unit
============  ==========================  ====================================  ==========
``image``     uint8 ``(H, W, 3)``         ``v / 255 - 1/2``, ``(H, W, 3)``       bits/pixel
``audio``     :class:`~rdlab.data.audio   ``x / peak`` (peak = max abs sample,   kbit/s
              .Audio` (mono, [-1, 1))     in the metadata), ``(n, 1)``
``protein``   :class:`~rdlab.data         ``(xyz - centroid) / 16 Å``, ``(n,     bits/atom
              .proteins.CaTrace`          3)``; sequence coded beside it
``video``     :class:`~rdlab.data.video   ``v / 255 - 1/2``, ``(T, H, W, 3)``    bits/pixel
              .Video`                                                            (per frame)
============  ==========================  ====================================  ==========

To add one, subclass :class:`Modality` and :func:`register_modality` an instance (a
built-in one: a module here and one line in ``_BUILTIN``); the codec, the trainer, the
command line and the benchmark ask the registry. The built-in modules load on first use,
so that listing the names (:func:`modality_names`) stays cheap.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

from ...errors import InputError
from .base import Architecture, Modality, Prepared

__all__ = [
    "Architecture",
    "Modality",
    "Prepared",
    "get_modality",
    "modality_for_path",
    "modality_for_signal",
    "modality_names",
    "register_modality",
    "unregister_modality",
]

#: the built-in modalities: name -> module of this package holding ``MODALITY``. Where
#: several claim a file, the one registered last wins (images claim every file).
_BUILTIN = {
    "image": "image",
    "video": "video",
    "audio": "audio",
    "protein": "protein",
}
#: name -> modality, in registration order (None: a built-in not loaded yet)
_REGISTRY: dict[str, Modality | None] = dict.fromkeys(_BUILTIN)


def register_modality(modality: Modality, *, replace: bool = False) -> Modality:
    """Make ``modality`` known to the INR codec, its models, trainer and command line
    under ``modality.name``; it claims files before every modality registered earlier.

    Args:
        modality: an instance of a :class:`Modality` subclass.
        replace: allow replacing a modality of the same name.

    Returns:
        ``modality``.

    Raises:
        InputError: not a :class:`Modality`, no name, or the name is taken.
    """
    if not isinstance(modality, Modality):
        raise InputError("modality", f"must be a Modality, got {type(modality).__name__}")
    name = getattr(modality, "name", None)
    if not isinstance(name, str) or not name:
        raise InputError("modality", "needs a non-empty name")
    if name in _REGISTRY and not replace:
        raise InputError("modality", f"{name!r} is already registered (replace=True)")
    _REGISTRY.pop(name, None)
    _REGISTRY[name] = modality
    return modality


def unregister_modality(name: str) -> None:
    """Forget the modality ``name`` (no error if it is not registered)."""
    _REGISTRY.pop(name, None)


def modality_names() -> tuple[str, ...]:
    """The registered modalities' names, in registration order (loads nothing)."""
    return tuple(_REGISTRY)


def get_modality(name: str) -> Modality:
    """The registered modality ``name``.

    Raises:
        InputError: no modality has this name.
    """
    if name not in _REGISTRY:
        have = ", ".join(_REGISTRY)
        raise InputError("modality", f"unknown modality {name!r} (have {have})")
    modality = _REGISTRY[name]
    if modality is None:
        module = importlib.import_module(f"{__name__}.{_BUILTIN[name]}")
        modality = _REGISTRY[name] = module.MODALITY
    return modality


def _first_claiming(claims: Callable[[Modality], bool]) -> Modality | None:
    """The latest registered modality for which ``claims`` holds (None: none)."""
    for name in reversed(tuple(_REGISTRY)):
        modality = get_modality(name)
        if claims(modality):
            return modality
    return None


def modality_for_path(path: str | os.PathLike[str]) -> Modality:
    """The modality of the file (or folder) ``path``: the latest registered one whose
    :meth:`~Modality.detect` claims it (images claim whatever no other does).

    Raises:
        InputError: no modality claims it.
    """
    found = _first_claiming(lambda modality: modality.detect(path))
    if found is None:
        raise InputError("input", f"{os.fspath(path)}: no INR modality reads this file")
    return found


def modality_for_signal(signal: Any) -> Modality:
    """The modality of the in-memory ``signal``: the latest registered one whose
    :meth:`~Modality.accepts` takes it.

    Raises:
        InputError: no modality takes it.
    """
    found = _first_claiming(lambda modality: modality.accepts(signal))
    if found is None:
        raise InputError("signal", f"cannot code a {type(signal).__name__} with the INR codec")
    return found
