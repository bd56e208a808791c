"""The coded form of a latent-grid image and its range-coded stream.

:class:`CodedGrids` is everything the decoder needs besides the image size: the
architecture, the integer ARM, the synthesis weights as integers with their exponent and
the integer grids. One range-coded stream (:mod:`rdlab.coding.stream`) holds, in order:

1. the architecture and exponents (non-negative integers);
2. the ARM's and the synthesis's weight integers, each net's with a zero-mean discretized
   Laplace whose scale index leads its section;
3. the grids, coarsest first, each in wavefront order (:func:`rdlab.overfit.arm.wavefront_order`):
   one group of latents per wavefront, whose tables the integer ARM picks from the
   latents decoded before it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from ..coding.stream import SymbolDecoder, SymbolEncoder
from ..coding.tables import FrequencyTables, location_scale_tables, log_scale_table
from ..errors import CorruptStreamError
from .arm import CONTEXT, IntegerARM, arm_tables, wavefront_order
from .model import LatentGridImage, grid_shapes

__all__ = [
    "CodedGrids",
    "decode_stream",
    "encode_stream",
    "grid_bits",
    "net_bits",
    "network_arrays",
]

_MAX_HIDDEN_LAYERS = 4
_MAX_EXPONENT = 16


@lru_cache(maxsize=1)
def _weight_tables() -> FrequencyTables:
    return location_scale_tables("laplace", log_scale_table(0.11, 4096.0, 64))


@dataclass(frozen=True)
class CodedGrids:
    """A latent-grid image as the file carries it.

    Attributes:
        levels: number of grids.
        hidden: widths of the synthesis's hidden per-pixel layers.
        arm: the integer ARM (its hidden width is its first layer's output count).
        synthesis: the synthesis parameters as integers, in ``Synthesis`` parameter order.
        synthesis_exponent: the synthesis weights are ``synthesis * 2**-exponent``.
        grids: int64 grids, finest first, shapes :func:`rdlab.overfit.model.grid_shapes`.
    """

    levels: int
    hidden: tuple[int, ...]
    arm: IntegerARM
    synthesis: tuple[np.ndarray, ...]
    synthesis_exponent: int
    grids: tuple[np.ndarray, ...]

    def model(self, height: int, width: int, channels: int) -> LatentGridImage:
        """The float model these integers stand for (grids, ARM and synthesis set)."""
        model = LatentGridImage(
            height, width, channels, self.levels, self.hidden, self.arm.weights[0].shape[0]
        )
        self.arm.load_into(model.arm)
        scale = 2.0**-self.synthesis_exponent
        with torch.no_grad():
            for param, values in zip(model.synthesis.parameters(), self.synthesis, strict=True):
                param.copy_(
                    torch.from_numpy(values.astype(np.float64) * scale).reshape(param.shape)
                )
            for param, grid in zip(model.latents, self.grids, strict=True):
                param.copy_(torch.from_numpy(grid.astype(np.float64)))
        return model


def network_arrays(module: torch.nn.Module, exponent: int) -> tuple[np.ndarray, ...]:
    """A module's parameters rounded to multiples of ``2**-exponent``, as integers."""
    return tuple(
        np.rint(p.detach().double().numpy() * 2.0**exponent).astype(np.int64).reshape(p.shape)
        for p in module.parameters()
    )


def _weight_scale_index(values: np.ndarray) -> int:
    scale = max(float(np.abs(values).mean()) if values.size else 0.0, 1e-9)
    table = log_scale_table(0.11, 4096.0, 64)
    return int(np.clip(np.searchsorted(table, scale), 0, table.size - 1))


def _encode_net(encoder: SymbolEncoder, arrays: tuple[np.ndarray, ...]) -> None:
    flat = np.concatenate([a.ravel() for a in arrays])
    index = _weight_scale_index(flat)
    encoder.encode_nonnegative(np.array([index]))
    encoder.encode_values(flat, np.full(flat.size, index), _weight_tables())


def net_bits(arrays: tuple[np.ndarray, ...]) -> float:
    """Bits (whole 32-bit words) one net's integers take in a stream of their own."""
    encoder = SymbolEncoder()
    _encode_net(encoder, arrays)
    return 8.0 * len(encoder.to_bytes())


def _decode_net(decoder: SymbolDecoder, shapes: list[tuple[int, ...]]) -> tuple[np.ndarray, ...]:
    index = int(decoder.decode_nonnegative(1)[0])
    if index >= len(_weight_tables()):
        raise CorruptStreamError(f"weight table index {index} is out of range")
    total = sum(int(np.prod(s)) for s in shapes)
    flat = decoder.decode_values(np.full(total, index), _weight_tables())
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(flat[start : start + size].reshape(shape))
        start += size
    return tuple(out)


class _GridWalk:
    """Positions and context offsets of one grid in a padded array (2 rows above,
    2 columns each side, zeros outside)."""

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width
        self.stride = width + 4
        order, self.starts = wavefront_order(height, width)
        i, j = np.divmod(order, width)
        self.order = order
        self.positions = (i + 2) * self.stride + (j + 2)
        self.offsets = np.array([dy * self.stride + dx for dy, dx in CONTEXT], dtype=np.int64)

    def padded(self, grid: np.ndarray | None = None) -> np.ndarray:
        out = np.zeros((self.height + 2) * self.stride, dtype=np.int64)
        if grid is not None:
            out.reshape(self.height + 2, self.stride)[2:, 2 : 2 + self.width] = grid
        return out

    def fronts(self):
        for t in range(self.starts.size - 1):
            yield slice(int(self.starts[t]), int(self.starts[t + 1]))


def grid_bits(arm: IntegerARM, grid: np.ndarray) -> float:
    """Bits of one integer grid under the integer ARM's tables (main symbols)."""
    walk = _GridWalk(*grid.shape)
    padded = walk.padded(grid)
    context = padded[walk.positions[:, None] + walk.offsets[None, :]]
    base, index = arm.table_indexes(context)
    return arm_tables().information_content_bits(grid.ravel()[walk.order] - base, index)


def _encode_grid(encoder: SymbolEncoder, arm: IntegerARM, grid: np.ndarray) -> None:
    walk = _GridWalk(*grid.shape)
    padded = walk.padded(grid)
    context = padded[walk.positions[:, None] + walk.offsets[None, :]]
    base, index = arm.table_indexes(context)
    values = grid.ravel()[walk.order] - base
    tables = arm_tables()
    for front in walk.fronts():
        encoder.encode_values(values[front], index[front], tables)


def _decode_grid(decoder: SymbolDecoder, arm: IntegerARM, height: int, width: int) -> np.ndarray:
    walk = _GridWalk(height, width)
    padded = walk.padded()
    tables = arm_tables()
    for front in walk.fronts():
        at = walk.positions[front]
        base, index = arm.table_indexes(padded[at[:, None] + walk.offsets[None, :]])
        padded[at] = decoder.decode_values(index, tables) + base
    return padded.reshape(height + 2, walk.stride)[2:, 2 : 2 + width].copy()


def _arm_shapes(hidden: int) -> list[tuple[int, ...]]:
    sizes = [len(CONTEXT), hidden, hidden, 2]
    weights = [(b, a) for a, b in itertools.pairwise(sizes)]
    return weights + [(b,) for _, b in itertools.pairwise(sizes)]


def encode_stream(coded: CodedGrids) -> bytes:
    """The range-coded stream of ``coded`` (see the module docstring for its layout)."""
    encoder = SymbolEncoder()
    arm_hidden = coded.arm.weights[0].shape[0]
    encoder.encode_nonnegative(np.array([coded.levels, len(coded.hidden)]))
    exponents = [coded.arm.exponent, coded.synthesis_exponent]
    encoder.encode_nonnegative(np.array([*coded.hidden, arm_hidden, *exponents]))
    _encode_net(encoder, (*coded.arm.weights, *coded.arm.biases))
    _encode_net(encoder, coded.synthesis)
    for grid in reversed(coded.grids):
        _encode_grid(encoder, coded.arm, grid)
    return encoder.to_bytes()


def decode_stream(data: bytes, height: int, width: int, channels: int) -> CodedGrids:
    """Inverse of :func:`encode_stream` for an image of the given size.

    Raises:
        CorruptStreamError: an architecture out of range, or a stream that does not
            decode to exactly its symbols.
    """
    decoder = SymbolDecoder(data)
    levels, layers = (int(v) for v in decoder.decode_nonnegative(2))
    if not 1 <= levels <= 12 or layers > _MAX_HIDDEN_LAYERS:
        raise CorruptStreamError(f"latent-grid stream: {levels} levels, {layers} hidden layers")
    values = [int(v) for v in decoder.decode_nonnegative(layers + 3)]
    hidden, (arm_hidden, arm_exponent, synthesis_exponent) = tuple(values[:layers]), values[layers:]
    if not all(1 <= h <= 256 for h in hidden) or not 1 <= arm_hidden <= 64:
        raise CorruptStreamError(f"latent-grid stream: widths {hidden}, ARM {arm_hidden}")
    if not (1 <= arm_exponent <= _MAX_EXPONENT and 1 <= synthesis_exponent <= _MAX_EXPONENT):
        raise CorruptStreamError("latent-grid stream: weight exponent out of range")
    arm_arrays = _decode_net(decoder, _arm_shapes(arm_hidden))
    try:
        arm = IntegerARM(arm_arrays[:3], arm_arrays[3:], arm_exponent)
    except ValueError as error:
        raise CorruptStreamError(f"latent-grid stream: {error}") from None
    template = LatentGridImage(1, 1, channels, 1, hidden)
    shapes = [tuple(p.shape) for p in template.synthesis.parameters()]
    shapes[0] = (shapes[0][0], levels)  # the first layer takes one input per grid
    synthesis = _decode_net(decoder, shapes)
    grid_list = [
        _decode_grid(decoder, arm, h, w) for h, w in reversed(grid_shapes(height, width, levels))
    ]
    decoder.finish("latent-grid stream")
    return CodedGrids(
        levels, hidden, arm, synthesis, synthesis_exponent, tuple(reversed(grid_list))
    )
