"""End-to-end codecs behind one protocol, found by name in one registry.

A codec turns data into the bytes of a complete file and back:

- ``name``, ``version`` and ``description``: the first two are written into the header
  of the ``.rdl`` files it writes;
- ``encode(x) -> bytes`` and ``decode(data) -> x``: ``decode`` reads every file its own
  ``encode`` writes (and refuses others with a :class:`~rdlab.errors.FormatError`).

The registry (:mod:`rdlab.codecs.registry`) holds every codec with its capabilities
(:class:`CodecSpec`: what it writes, quality range, modalities, the ``.rdl`` versions it
decodes, lossless or not, whether it works here): rdlab's ``.rdl`` codecs, the
hyperprior's benchmark presets and the classical image codecs. :func:`get_codec` makes
any of them; :func:`load` reads any ``.rdl`` file and decodes it with the codec its
header names.
"""

from __future__ import annotations

from .registry import (
    Codec,
    CodecSpec,
    QualityRange,
    available_codecs,
    bench_codecs,
    codec_spec,
    codec_specs,
    find_model,
    get_codec,
    is_available,
    known_codecs,
    load,
    register,
    register_codec,
    register_model,
)

__all__ = [
    "Codec",
    "CodecSpec",
    "QualityRange",
    "available_codecs",
    "bench_codecs",
    "codec_spec",
    "codec_specs",
    "find_model",
    "get_codec",
    "is_available",
    "known_codecs",
    "load",
    "register",
    "register_codec",
    "register_model",
]
