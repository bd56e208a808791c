"""The lattice transform coding codec: real ``.rdl`` bitstreams of LTC models.

``encode(x)`` runs the analysis transform (float64), quantizes each lattice vector to
the nearest lattice point (optionally with subtractive dither from the shared
generator), and codes the integer lattice coefficients with
:func:`rdlab.coding.lattice_points.encode_lattice_points` (an autoregressive model over
the coefficients built from the model's own Monte-Carlo cell likelihood). The file
carries the model's hash (decoding with other weights is an error), the item count
and shape, and the dither seed. ``decode`` rebuilds the same integer tables, decodes
the coefficients, maps them to lattice points (minus the dither) and runs the synthesis
transform.

What is bit-exact across machines: the coefficients (hence the bitstream and the lattice
points, computed element-wise in float64). The synthesis output is a float64 network
evaluation (identical on one machine; within rounding elsewhere).

Models are not bundled: a file names its model by hash
(:func:`rdlab.nn.ltc.ltc_model_hash`, the hash of the model's float64 state, which is
also what its model file records, see :func:`rdlab.nn.ltc.save_ltc_model`). A codec
made without a model (``get_codec("ltc")``, as :func:`rdlab.decompress` does) decodes
the files of the models registered in this process with :func:`register_ltc_model`;
``LTCCodec(model=PATH)`` (``rdlab decompress --model PATH``) reads a model file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._arrays import float_array, optional_limit
from ..coding.lattice_points import (
    LatticePointModel,
    decode_lattice_points,
    encode_lattice_points,
)
from ..container import Chunk, RdlFile, decode_rdl, encode_rdl, model_hash
from ..errors import FormatError, InputError, ModelError, SizeLimitError
from ..nn.lattice_quantizer import parallelepiped_dither
from ..nn.ltc import LTCModel, as_float64, load_ltc_model, save_ltc_model
from .registry import find_model, register_codec, register_model

__all__ = [
    "NAME",
    "VERSION",
    "VERSIONS",
    "LTCCodec",
    "load_ltc_model",
    "register_ltc_model",
    "save_ltc_model",
]

NAME = "ltc"
VERSION = "2"
#: versions decoded: "1" coded the coefficients without the completion masses
#: (``lookahead=False``); "2" with them
VERSIONS = ("1", "2")
_TAG = "LATP"
_DITHER_STREAM = 0x4C54  # "LT": the stream of the shared generator used for dither
MAX_VECTORS = 1 << 20
"""Default of ``max_vectors``: the most lattice vectors a file may declare (decoding
builds a table of candidates for every vector and coordinate at once, tens of bytes per
candidate; the LTC experiments code about 10^5)."""


@dataclass(frozen=True)
class _Prepared:
    """What coding with one model needs: its float64 copy, hash and coder tables."""

    model: LTCModel
    hash: bytes
    lattice_model: LatticePointModel

    @classmethod
    def of(cls, model: LTCModel) -> _Prepared:
        own = as_float64(model)
        q = own.quantizer
        tables = LatticePointModel(
            q.generator.numpy(), q.cell_samples.numpy(), own.density.tabulate()
        )
        return cls(own, model_hash(own.state_dict()), tables)


class LTCCodec:
    """Codec around a trained :class:`~rdlab.nn.ltc.LTCModel`.

    Items are arrays ``(items, *item_shape)``: ``(items, d)`` for a one-shot model,
    ``(items, n, d)`` for a block model; they decode to float64 arrays of that shape.

    Args:
        model: the model (runs as a float64 copy in eval mode: the caller's model is
            not changed), the path of its model file
            (:func:`~rdlab.nn.ltc.save_ltc_model`), or None: decode only, with the
            models registered by :func:`register_ltc_model`, found by the file's hash.
        dither_seed: None for plain nearest-point quantization, else the seed of the
            subtractive dither (stored in the file; the decoder regenerates the dither).
        max_vectors: the most lattice vectors a file to decode may declare (None: no
            limit); more raise :class:`~rdlab.errors.SizeLimitError` before decoding.

    Raises:
        InputError: a model path that is not a file; ModelError: not an LTC model file.
    """

    name = NAME
    version = VERSION
    description = "lattice transform coding of vectors (a trained LTC model)"

    def __init__(
        self,
        model: LTCModel | str | os.PathLike[str] | None = None,
        dither_seed: int | None = None,
        max_vectors: int | None = MAX_VECTORS,
    ) -> None:
        self.max_vectors = optional_limit(max_vectors, "max_vectors")
        self.dither_seed = dither_seed
        if model is not None and not isinstance(model, LTCModel):
            model = load_ltc_model(model)
        self._prepared = None if model is None else _Prepared.of(model)

    # -- the model ---------------------------------------------------------------------
    def _state(self) -> _Prepared:
        if self._prepared is None:
            raise ModelError(
                "ltc: this codec has no model: give one (LTCCodec(model), "
                "get_codec('ltc', model=MODEL_OR_PATH))"
            )
        return self._prepared

    @property
    def model(self) -> LTCModel:
        """The float64 copy of the model the codec runs."""
        return self._state().model

    @property
    def hash(self) -> bytes:
        """The model's hash (:func:`rdlab.nn.ltc.ltc_model_hash`), carried by the files."""
        return self._state().hash

    @property
    def lattice_model(self) -> LatticePointModel:
        """The coder's model of the lattice coefficients."""
        return self._state().lattice_model

    def _for_file(self, data: bytes) -> LTCCodec:
        """This codec, or (without a model) one with the registered model the file names.

        Raises:
            ModelError: no registered model has the file's hash (the message says how to
                give it).
        """
        if self._prepared is not None:
            return self
        file_hash = decode_rdl(data, codecs={NAME: VERSIONS}).model_hash
        found = find_model(NAME, file_hash)
        if found is None:
            raise ModelError(
                f"ltc file: its model (hash {file_hash.hex()[:16]}) is not known here: give "
                "its model file (rdlab decompress --model MODEL.safetensors; "
                "rdlab.codecs.get_codec('ltc', model=PATH)) or register the model in this "
                "process (rdlab.codecs.ltc.register_ltc_model(model))"
            )
        codec = LTCCodec(None, self.dither_seed, self.max_vectors)
        codec._prepared = found
        return codec

    # -- helpers ---------------------------------------------------------------------
    def channels_for(self, items: int) -> np.ndarray:
        """Density channel of every coordinate of the (items·L, n) coded vectors."""
        ch = self.model.channels.numpy()
        return np.broadcast_to(ch[None], (items, *ch.shape)).reshape(-1, ch.shape[-1])

    def _dither(self, seed: int | None, count: int) -> np.ndarray | None:
        if seed is None:
            return None
        return parallelepiped_dither(self.lattice_model.generator, seed, _DITHER_STREAM, count)

    def quantize(self, x: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Lattice coefficients (N·L, n) int64 of the items x (N, *item_shape), and the
        dither used (or None)."""
        arr = float_array(x, "x")
        if not np.isfinite(arr).all():
            raise InputError("x", "contains NaN or infinite values")
        xt = torch.from_numpy(arr).double()
        self.model.check_items(xt)
        with torch.no_grad():
            v = self.model.to_vectors(self.model.analysis(xt))
        flat = v.reshape(-1, v.shape[-1]).numpy()
        dither = self._dither(self.dither_seed, flat.shape[0])
        target = flat if dither is None else flat + dither
        q = self.model.quantizer
        k = q.coefficients(q.lattice.nearest(torch.from_numpy(target)))
        return k.numpy(), dither

    def positions(self, k: np.ndarray, dither: np.ndarray | None) -> np.ndarray:
        """Latent positions of coded coefficients: k @ G (element-wise) minus the dither."""
        g = self.lattice_model.generator
        pts = np.zeros(k.shape)
        for i in range(g.shape[0]):
            pts = pts + k[:, i : i + 1].astype(np.float64) * g[i][None, :]
        return pts if dither is None else pts - dither

    def reconstruct(self, positions: np.ndarray, items: int) -> np.ndarray:
        m = self.model
        n = m.quantizer.dim
        v = torch.from_numpy(positions).reshape(items, -1, n)
        with torch.no_grad():
            return m.synthesis(m.from_vectors(v)).numpy()

    # -- codec protocol ----------------------------------------------------------------
    def encode(self, x: Any) -> bytes:
        """The ``.rdl`` file of the items ``x`` ``(items, *item_shape)``.

        Raises:
            InputError: ``x`` has another item shape, or non-finite values.
            ModelError: the codec was made without a model.
        """
        arr = float_array(x, "x")
        self._refuse_more_than_decodes(arr.shape[0] if arr.ndim else 0)
        k, dither = self.quantize(arr)
        return self.encode_coefficients(k, dither, arr.shape[0])

    def _refuse_more_than_decodes(self, items: int) -> None:
        """Refuse to write a file the decoder would refuse (``max_vectors``)."""
        count = items * int(self.model.channels.shape[0])
        if self.max_vectors is not None and count > self.max_vectors:
            raise InputError(
                "x",
                f"{items} items are {count} lattice vectors, more than the decoder's limit "
                f"of {self.max_vectors} (max_vectors): the file would not decode",
            )

    def encode_coefficients(self, k: np.ndarray, dither: np.ndarray | None, items: int) -> bytes:
        """The ``.rdl`` file of coefficients from :meth:`quantize` of ``items`` items.

        Raises:
            InputError: more lattice vectors than ``max_vectors`` (the decoder would
                refuse the file).
        """
        self._refuse_more_than_decodes(items)
        shift = None if dither is None else -dither
        payload = encode_lattice_points(k, self.lattice_model, self.channels_for(items), shift)
        meta = {
            "items": items,
            "item_shape": list(self.model.item_shape),
            "lattice": self.model.quantizer.lattice.name,
            "dither_seed": self.dither_seed,
        }
        return encode_rdl(RdlFile(NAME, VERSION, self.hash, meta, (Chunk(_TAG, payload),)))

    def decode_coefficients(self, data: bytes) -> tuple[np.ndarray, np.ndarray | None, int]:
        """The coefficients ``(items·L, n)`` int64 of an LTC file, its dither (or None)
        and its item count.

        Raises:
            FormatError: the file is invalid: bad metadata; its subclasses
                :class:`~rdlab.errors.StreamEndError` when the coefficient stream does
                not end with the last coefficient, :class:`~rdlab.errors.SizeLimitError`
                when it declares more than ``max_vectors`` vectors (checked first).
        """
        f = decode_rdl(data, codecs={NAME: VERSIONS}, expected_model_hash=self.hash)
        meta = f.metadata
        items, seed = meta.get("items"), meta.get("dither_seed")
        if (
            not isinstance(items, int)
            or isinstance(items, bool)
            or items < 0
            or meta.get("item_shape") != list(self.model.item_shape)
        ):
            raise FormatError("ltc file: bad 'items' or 'item_shape' metadata")
        if seed is not None and (
            not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**64
        ):
            raise FormatError("ltc file: bad 'dither_seed' metadata")
        count = items * int(self.model.channels.shape[0])
        if self.max_vectors is not None and count > self.max_vectors:
            raise SizeLimitError(
                f"ltc file: {items} items are {count} lattice vectors, more than this "
                f"decoder's limit of {self.max_vectors} (max_vectors)"
            )
        k = decode_lattice_points(
            f.chunk(_TAG),
            count,
            self.lattice_model,
            self.channels_for(items),
            None if seed is None else -self._dither(seed, count),
            lookahead=f.codec_version != "1",
        )
        return k, self._dither(seed, count), items

    def decode(self, data: bytes) -> np.ndarray:
        """The items of an LTC file, float64 ``(items, *item_shape)``.

        Raises:
            FormatError: the file is invalid (see :meth:`decode_coefficients`);
                :class:`~rdlab.errors.WeightsMismatchError`: written with another model.
            ModelError: made without a model, and the file's model is not registered.
        """
        codec = self._for_file(data)
        k, dither, items = codec.decode_coefficients(data)
        return codec.reconstruct(codec.positions(k, dither), items)


def register_ltc_model(model: LTCModel) -> bytes:
    """Let ``rdlab.decompress`` / ``rdlab.load`` (any codec made without a model) decode
    the files of ``model`` in this process; returns its hash. A float64 copy is kept:
    later changes to ``model`` do not change what decodes."""
    prepared = _Prepared.of(model)
    register_model(NAME, prepared.hash, prepared)
    return prepared.hash


register_codec(NAME, LTCCodec, VERSIONS)
