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
"""

from __future__ import annotations

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
from ..errors import FormatError, InputError, SizeLimitError
from ..nn.lattice_quantizer import parallelepiped_dither
from ..nn.ltc import LTCModel

__all__ = ["LTCCodec"]

NAME = "ltc"
VERSION = "2"
#: versions decoded: "1" coded the coefficients without the completion masses
#: (``lookahead=False``); "2" with them
_VERSIONS = ("1", "2")
_TAG = "LATP"
_DITHER_STREAM = 0x4C54  # "LT": the stream of the shared generator used for dither
MAX_VECTORS = 1 << 20
"""Default of ``max_vectors``: the most lattice vectors a file may declare (decoding
builds a table of candidates for every vector and coordinate at once, tens of bytes per
candidate; the LTC experiments code about 10^5)."""


class LTCCodec:
    """Codec around a trained :class:`~rdlab.nn.ltc.LTCModel`.

    ``dither_seed``: None for plain nearest-point quantization, else the seed of the
    subtractive dither (stored in the file; the decoder regenerates the dither).
    ``max_vectors``: the most lattice vectors a file to decode may declare (None: no
    limit); more raise :class:`~rdlab.errors.SizeLimitError` before decoding. The
    codec runs the model in float64: it converts ``model`` in place (``.double()``) and
    puts it in eval mode."""

    name = NAME
    version = VERSION

    def __init__(
        self,
        model: LTCModel,
        dither_seed: int | None = None,
        max_vectors: int | None = MAX_VECTORS,
    ) -> None:
        self.max_vectors = optional_limit(max_vectors, "max_vectors")
        self.model = model.double().eval()
        self.dither_seed = dither_seed
        self.hash = model_hash(self.model.state_dict())
        q = self.model.quantizer
        self.lattice_model = LatticePointModel(
            q.generator.numpy(), q.cell_samples.numpy(), self.model.density.tabulate()
        )

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
        arr = float_array(x, "x")
        k, dither = self.quantize(arr)
        return self.encode_coefficients(k, dither, arr.shape[0])

    def encode_coefficients(self, k: np.ndarray, dither: np.ndarray | None, items: int) -> bytes:
        """The ``.rdl`` file of coefficients from :meth:`quantize` of ``items`` items."""
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
        f = decode_rdl(data, codecs={NAME: _VERSIONS}, expected_model_hash=self.hash)
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
        k, dither, items = self.decode_coefficients(data)
        return self.reconstruct(self.positions(k, dither), items)
