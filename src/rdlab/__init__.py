"""rdlab: learned data compression measured against the information-theoretic limit.

``rdlab.compress(image)`` codes an image with the learned codec (bundled default model),
``rdlab.decompress(data)`` decodes any ``.rdl`` bytes, ``rdlab.load(path)`` any ``.rdl``
file, each with the codec its header names (found in :mod:`rdlab.codecs.registry`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("rdlab")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "compress", "decompress", "load"]


def compress(image: Any, *, codec: str = "hyperprior", **options: Any) -> bytes:
    """An image (uint8 ``(H, W, 3)`` or ``(H, W)``) to the bytes of an ``.rdl`` file.

    ``codec``: any codec of the registry (:func:`rdlab.codecs.codec_specs`); ``options``
    go to it: for ``hyperprior``, ``quality`` (1..6), ``target_bpp``, ``lmbda``,
    ``model``, ``tile``, ``refine`` (encoder-side latent refinement steps).
    """
    from .codecs import get_codec

    return get_codec(codec, **options).encode(image)


def decompress(data: bytes) -> Any:
    """The bytes of any ``.rdl`` file back to its data: an image is a uint8 array, LTC
    items a float64 array ``(items, *item_shape)``.

    Raises:
        FormatError: the bytes are not a valid ``.rdl`` file of a registered codec.
        ModelError: the file's model is not found (an LTC file: register it with
            :func:`rdlab.codecs.ltc.register_ltc_model`, or decode with
            ``rdlab.codecs.get_codec("ltc", model=PATH)``).
    """
    from .codecs.registry import decode_bytes

    return decode_bytes(bytes(data))


def __getattr__(name: str) -> Any:
    if name == "load":  # imported lazily: ``import rdlab`` stays light
        from .codecs import load

        return load
    raise AttributeError(f"module 'rdlab' has no attribute {name!r}")
