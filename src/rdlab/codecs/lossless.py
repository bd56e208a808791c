"""``lossless``: a lossless 8-bit image codec built on rdlab's entropy coder.

It exercises the same pieces a learned codec uses, with integer transforms instead of
learned ones, so that it is exact and fast on any machine:

1. reversible colour transform (JPEG 2000 RCT) for RGB: ``Y = (R + 2G + B) >> 2``,
   ``U = B - G``, ``V = R - G``;
2. planar prediction per channel: the residual is the 2-D finite difference
   ``x[i, j] - x[i, j-1] - x[i-1, j] + x[i-1, j-1]`` (zero outside the image), inverted
   exactly by two cumulative sums;
3. a forward-adaptive Laplace model: per channel and ``block x block`` tile, the encoder
   picks the scale index whose Laplace diversity is nearest the tile's mean absolute
   residual; the indexes are side information (coded first, as differences, with a
   Laplace table), the residuals are coded with the indexed Laplace tables — the
   hyperprior pattern with integer side information.

File: codec ``lossless`` version ``1``; metadata holds the image shape, block size and
scale table; chunk ``SIDE`` the scale indexes, chunk ``RESD`` the residuals.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import to_numpy
from ..coding import LocationScaleCoder, log_scale_table
from ..container import Chunk, RdlFile, decode_rdl, encode_rdl
from ..errors import CorruptHeaderError, InputError
from .registry import register_codec

NAME = "lossless"
VERSION = "1"
_SCALES = (0.15, 160.0, 40)  # Laplace diversities: min, max, count (log-spaced)
_SIDE_SCALE = 1.5


def rct_forward(rgb: np.ndarray) -> np.ndarray:
    """Reversible colour transform, ``(H, W, 3)`` uint8 -> ``(3, H, W)`` int64 (Y, U, V)."""
    r, g, b = (rgb[..., k].astype(np.int64) for k in range(3))
    return np.stack([(r + 2 * g + b) >> 2, b - g, r - g])


def rct_inverse(yuv: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rct_forward`: ``(3, H, W)`` int64 -> ``(H, W, 3)`` int64."""
    y, u, v = yuv
    g = y - ((u + v) >> 2)
    return np.stack([v + g, g, u + g], axis=-1)


def planar_residual(x: np.ndarray) -> np.ndarray:
    """2-D finite difference over the last two axes (zero padding), int64."""
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 0), (1, 0)])
    return np.diff(np.diff(padded, axis=-1), axis=-2)


def planar_inverse(r: np.ndarray) -> np.ndarray:
    """Inverse of :func:`planar_residual`: two cumulative sums."""
    return np.cumsum(np.cumsum(r, axis=-1), axis=-2)


def _block_view_means(a: np.ndarray, block: int) -> np.ndarray:
    """Mean of ``|a|`` over ``block x block`` tiles (partial tiles at the edges), float64."""
    c, h, w = a.shape
    bh, bw = -(-h // block), -(-w // block)
    padded = np.zeros((c, bh * block, bw * block), dtype=np.float64)
    count = np.zeros((1, bh * block, bw * block), dtype=np.float64)
    padded[:, :h, :w] = np.abs(a)
    count[:, :h, :w] = 1.0
    sums = padded.reshape(c, bh, block, bw, block).sum(axis=(2, 4))
    counts = count.reshape(1, bh, block, bw, block).sum(axis=(2, 4))
    return sums / counts


class LosslessImageCodec:
    """Lossless coding of 8-bit greyscale or RGB images (``(H, W)`` or ``(H, W, 3)`` uint8)."""

    name = NAME
    version = VERSION
    description = "lossless 8-bit images: RCT + planar prediction + indexed Laplace tables"

    def __init__(self, block: int = 16) -> None:
        if not 4 <= int(block) <= 256:
            raise InputError("block", f"must be between 4 and 256, got {block}")
        self.block = int(block)
        self.coder = LocationScaleCoder("laplace", log_scale_table(*_SCALES))
        self.side_coder = LocationScaleCoder("laplace", [_SIDE_SCALE])

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _check_image(x: Any) -> np.ndarray:
        image = to_numpy(x, "image")
        if image.dtype != np.uint8:
            raise InputError("image", f"must be uint8, got {image.dtype}")
        if image.ndim == 2:
            image = image[..., None]
        if image.ndim != 3 or image.shape[2] not in (1, 3):
            raise InputError("image", f"must have shape (H, W) or (H, W, 3), got {image.shape}")
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise InputError("image", f"is empty (shape {image.shape})")
        return image

    def _pixel_indexes(self, side: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
        _c, h, w = shape
        full = np.repeat(np.repeat(side, self.block, axis=1), self.block, axis=2)
        return full[:, :h, :w]

    # ------------------------------------------------------------------- coding
    def encode(self, x: Any) -> bytes:
        """An image to the bytes of an ``.rdl`` file."""
        image = self._check_image(x)
        h, w, channels = image.shape
        planes = rct_forward(image) if channels == 3 else image.transpose(2, 0, 1).astype(np.int64)
        residual = planar_residual(planes)
        diversity = np.maximum(_block_view_means(residual, self.block), 1e-3)
        side = self.coder.scale_indexes(diversity)  # (C, bh, bw) table indexes
        side_diff = np.diff(side.reshape(side.shape[0], -1), axis=1, prepend=0)
        side_bytes = self.side_coder.encode(side_diff, np.zeros_like(side_diff))
        pixel_idx = self._pixel_indexes(side, residual.shape)
        resd_bytes = self.coder.encode(residual, pixel_idx)
        metadata = {
            "height": h,
            "width": w,
            "channels": channels,
            "block": self.block,
            "colour_transform": "rct" if channels == 3 else "none",
            "model": {
                "family": "laplace",
                "scales": list(_SCALES),
                "side_scale": _SIDE_SCALE,
                "tables": self.coder.tables.fingerprint()[:16],
            },
        }
        file = RdlFile(
            NAME, VERSION, b"", metadata, (Chunk("SIDE", side_bytes), Chunk("RESD", resd_bytes))
        )
        return encode_rdl(file)

    def decode(self, data: bytes) -> np.ndarray:
        """Bytes of an ``.rdl`` file to the image, ``(H, W)`` or ``(H, W, 3)`` uint8."""
        file = decode_rdl(data, codecs={NAME: (VERSION,)})
        meta = file.metadata
        try:
            h, w, channels, block = (int(meta[k]) for k in ("height", "width", "channels", "block"))
            tables = meta["model"]["tables"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptHeaderError(f"lossless metadata is incomplete: {exc}") from None
        if channels not in (1, 3) or not (0 < h <= 1 << 20 and 0 < w <= 1 << 20) or block < 4:
            raise CorruptHeaderError(f"lossless metadata out of range: {meta}")
        if h * w * channels > 1 << 30:
            raise CorruptHeaderError(f"image of {h}x{w}x{channels} is larger than 2**30 samples")
        codec = LosslessImageCodec(block)
        if tables != codec.coder.tables.fingerprint()[:16]:
            raise CorruptHeaderError("the file's Laplace tables differ from this installation's")
        bh, bw = -(-h // block), -(-w // block)
        side_diff = codec.side_coder.decode(
            file.chunk("SIDE"), np.zeros((channels, bh * bw), np.int64)
        )
        side = np.cumsum(side_diff, axis=1).reshape(channels, bh, bw)
        if (side < 0).any() or (side >= len(codec.coder.scales)).any():
            raise CorruptHeaderError("scale indexes out of range: the SIDE chunk is corrupt")
        pixel_idx = codec._pixel_indexes(side, (channels, h, w))
        residual = codec.coder.decode(file.chunk("RESD"), pixel_idx)
        planes = planar_inverse(residual)
        image = rct_inverse(planes) if channels == 3 else planes.transpose(1, 2, 0)
        if image.min() < 0 or image.max() > 255:
            raise CorruptHeaderError("decoded samples leave 0..255: the stream is corrupt")
        image = image.astype(np.uint8)
        return image[..., 0] if channels == 1 else image

    def information_content_bits(self, x: Any) -> float:
        """Bits the residuals would cost under the model's unquantized Laplace masses."""
        image = self._check_image(x)
        planes = (
            rct_forward(image) if image.shape[2] == 3 else image.transpose(2, 0, 1).astype(np.int64)
        )
        residual = planar_residual(planes)
        side = self.coder.scale_indexes(np.maximum(_block_view_means(residual, self.block), 1e-3))
        return self.coder.ideal_bits(residual, self._pixel_indexes(side, residual.shape))


register_codec(NAME, LosslessImageCodec, (VERSION,))
