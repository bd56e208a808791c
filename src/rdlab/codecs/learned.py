"""The learned image codec: real ``.rdl`` files of a model built from rdlab's parts.

``encode(image)`` pads the image to the model's ``alignment`` (edge replication), runs
``g_a``, codes the latent with the model's entropy model(s) (one chunk per stream) and
writes the height, width and latent shape; the file carries the model's hash
(:func:`~rdlab.nn.architectures.learned_model_hash`). ``decode`` finds the model by that
hash, decodes the latent, runs ``g_s``, crops, clips and rounds to uint8.

Models are not bundled: a codec made without a model (``get_codec("learned")``, as
:func:`rdlab.decompress` does) decodes the files of the models registered in this
process with :func:`register_learned_model`; ``LearnedImageCodec(model=PATH)``
(``rdlab decompress --model PATH``) reads a model file
(:func:`~rdlab.nn.architectures.save_model`), whose architecture must be registered
(the built-in ones always are).

Determinism: the entropy tables are the integer tables stored in the model, so the
decoded symbols (the latent) are bit-exact on every machine; ``g_s`` runs in float32,
so the pixels are identical on one machine and within rounding elsewhere.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .._arrays import optional_limit
from ..container import Chunk, RdlFile, decode_rdl, encode_rdl
from ..errors import CorruptStreamError, InputError, ModelError, SizeLimitError
from ..nn.architectures import (
    architecture_names,
    build_architecture,
    learned_model_hash,
    load_model,
    register_architecture,
    save_model,
)
from .hyperprior import MAX_PIXELS, _check_image
from .registry import find_model, register_codec, register_model

__all__ = [
    "NAME",
    "VERSION",
    "VERSIONS",
    "LearnedImageCodec",
    "architecture_names",
    "build_architecture",
    "load_model",
    "register_architecture",
    "register_learned_model",
    "save_model",
]

NAME = "learned"
VERSION = "1"
VERSIONS = ("1",)
MAX_STREAMS = 16
"""The most latent streams (chunks ``LS00``...) a file may hold."""


@dataclass(frozen=True)
class _Prepared:
    """A CPU copy of the model in eval mode, and its hash."""

    model: nn.Module
    hash: bytes

    @classmethod
    def of(cls, model: nn.Module) -> _Prepared:
        own = copy.deepcopy(model).cpu().eval()
        for member in ("g_a", "g_s", "alignment", "compress_latent", "decompress_latent"):
            if not hasattr(own, member):
                raise InputError("model", f"has no {member!r} (see rdlab.nn.architectures)")
        return cls(own, learned_model_hash(own))


class LearnedImageCodec:
    """Codec around a model from :mod:`rdlab.nn.architectures` (see the module doc).

    Images are uint8 ``(H, W, 3)`` or ``(H, W)`` (coded as RGB, decoded back to grey).

    Args:
        model: the model (after ``update()``; a CPU copy in eval mode is used, the
            caller's model is not changed), the path of its model file, or None: decode
            only, with the models registered by :func:`register_learned_model`.
        max_pixels: the largest image a file to decode may declare (None: no limit);
            larger raise :class:`~rdlab.errors.SizeLimitError` before decoding.

    Raises:
        InputError: a model path that is not a file, or a model without the members the
            codec runs. ModelError: not a learned model file, or its architecture is
            unknown.
    """

    name = NAME
    version = VERSION
    description = "learned image codec of a model built from rdlab's parts"

    def __init__(
        self,
        model: nn.Module | str | os.PathLike[str] | None = None,
        max_pixels: int | None = MAX_PIXELS,
    ) -> None:
        self.max_pixels = optional_limit(max_pixels, "max_pixels")
        if model is not None and not isinstance(model, nn.Module):
            model = load_model(model)
        self._prepared = None if model is None else _Prepared.of(model)

    @property
    def model(self) -> nn.Module:
        """The CPU copy of the model the codec runs.

        Raises:
            ModelError: the codec has no model.
        """
        if self._prepared is None:
            raise ModelError(
                "learned: this codec has no model: give one (get_codec('learned', "
                "model=MODEL_OR_PATH))"
            )
        return self._prepared.model

    @property
    def hash(self) -> bytes:
        """The model's hash (32 bytes), carried by the files."""
        self.model  # noqa: B018  (raises without a model)
        return self._prepared.hash  # type: ignore[union-attr]

    def _prepared_for(self, data: bytes) -> _Prepared:
        if self._prepared is not None:
            return self._prepared
        file_hash = decode_rdl(data, codecs={NAME: VERSIONS}).model_hash
        found = find_model(NAME, file_hash)
        if found is None:
            raise ModelError(
                f"learned file: its model (hash {file_hash.hex()[:16]}) is not known here: "
                "give its model file (rdlab decompress --model MODEL.safetensors; "
                "rdlab.codecs.get_codec('learned', model=PATH)) or register the model in "
                "this process (rdlab.codecs.learned.register_learned_model(model))"
            )
        return found

    # -- codec protocol ----------------------------------------------------------------
    def encode(self, x: Any) -> bytes:
        """The ``.rdl`` file of the image ``x`` (uint8 ``(H, W, 3)`` or ``(H, W)``).

        Raises:
            InputError: not such an image, or more pixels than ``max_pixels`` (the
                decoder would refuse the file). ModelError: no model, or no tables.
        """
        rgb, mode = _check_image(x)
        height, width = rgb.shape[:2]
        if min(height, width) < 1:
            raise InputError("image", f"is empty ({height}x{width})")
        if self.max_pixels is not None and height * width > self.max_pixels:
            raise InputError(
                "image", f"{width}x{height} is more than the decoder's {self.max_pixels} pixels"
            )
        model = self.model
        a = int(model.alignment)
        padded = np.pad(rgb, ((0, -height % a), (0, -width % a), (0, 0)), mode="edge")
        xt = torch.from_numpy(padded).permute(2, 0, 1)[None].float().div_(255.0)
        with torch.no_grad():
            y = model.g_a(xt)
            strings = model.compress_latent(y)
        meta = {"height": height, "width": width, "mode": mode, "latent_shape": list(y.shape)}
        chunks = tuple(Chunk(f"LS{i:02d}", s) for i, s in enumerate(strings))
        return encode_rdl(RdlFile(NAME, VERSION, self.hash, meta, chunks))

    def decode(self, data: bytes) -> np.ndarray:
        """The image of a learned ``.rdl`` file: uint8 ``(H, W, 3)`` (``(H, W)`` for grey).

        Raises:
            FormatError: the file is invalid: bad metadata, a stream too short for the
                declared latent (before decoding) or not ending with its last symbol;
                :class:`~rdlab.errors.SizeLimitError`: more than ``max_pixels``;
                :class:`~rdlab.errors.WeightsMismatchError`: written with another model.
            ModelError: made without a model, and the file's model is not registered.
        """
        prepared = self._prepared_for(data)
        file = decode_rdl(data, codecs={NAME: VERSIONS}, expected_model_hash=prepared.hash)
        model = prepared.model
        height, width, mode, shape = self._header(file, int(model.alignment))
        strings = [file.chunk(f"LS{i:02d}") for i in range(len(file.chunks))]
        with torch.no_grad():
            try:
                y_hat = model.decompress_latent(strings, shape)
            except InputError as exc:  # a latent shape or stream count the model refuses
                raise CorruptStreamError(f"learned file: {exc}") from None
            x_hat = model.g_s(y_hat)
        if x_hat.ndim != 4 or x_hat.shape[:2] != (1, 3) or min(x_hat.shape[2:]) < 1:
            raise ModelError(f"learned: g_s gave shape {tuple(x_hat.shape)}, not (1, 3, H, W)")
        pixels = torch.round(x_hat[0, :, :height, :width].clamp(0.0, 1.0) * 255.0)
        rgb = pixels.to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
        if rgb.shape[:2] != (height, width):
            raise ModelError(f"learned: g_s gave {rgb.shape[:2]}, smaller than the image")
        if mode == "L":
            return np.round(rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)
        return rgb

    def _header(self, file: RdlFile, alignment: int) -> tuple[int, int, str, tuple[int, ...]]:
        """Height, width, mode and latent shape, checked before any allocation."""
        meta = file.metadata
        height, width, mode, shape = (
            meta.get(k) for k in ("height", "width", "mode", "latent_shape")
        )
        ints = [height, width, *(shape if isinstance(shape, list) else [None])]
        if (
            not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in ints)
            or mode not in ("RGB", "L")
            or len(shape) != 4
            or shape[0] != 1
            or shape[2] != -(-height // alignment)
            or shape[3] != -(-width // alignment)
            or not 1 <= len(file.chunks) <= MAX_STREAMS
            or [c.tag for c in file.chunks] != [f"LS{i:02d}" for i in range(len(file.chunks))]
        ):
            raise CorruptStreamError("learned file: metadata out of range")
        if self.max_pixels is not None and height * width > self.max_pixels:
            raise SizeLimitError(
                f"learned file: {width}x{height} is {height * width} pixels, more than this "
                f"decoder's limit of {self.max_pixels} (max_pixels)"
            )
        return height, width, mode, tuple(shape)


def register_learned_model(model: nn.Module) -> bytes:
    """Let ``rdlab.decompress`` / ``rdlab.load`` decode the files of ``model`` (after
    ``update()``) in this process; returns its hash. A CPU copy is kept: later changes
    to ``model`` do not change what decodes.

    Raises:
        InputError: the model lacks the members the codec runs.
    """
    prepared = _Prepared.of(model)
    register_model(NAME, prepared.hash, prepared)
    return prepared.hash


register_codec(NAME, LearnedImageCodec, VERSIONS)
