"""End-to-end codecs behind one protocol, found by name in a registry.

A codec turns data into the bytes of a complete ``.rdl`` file and back:

- ``name`` and ``version``: strings written into the file header;
- ``encode(x) -> bytes`` and ``decode(data) -> x``: ``decode`` reads every file its own
  ``encode`` writes (and refuses others with a :class:`~rdlab.errors.FormatError`).

:func:`load` reads any ``.rdl`` file and decodes it with the codec its header names.
"""

from __future__ import annotations

from .registry import Codec, available_codecs, get_codec, known_codecs, load, register_codec

__all__ = ["Codec", "available_codecs", "get_codec", "known_codecs", "load", "register_codec"]
