"""The coding order and the block partition of a signal's weights.

Both sides derive them from what they share: the model (its KL profile per weight), the
number of patches and the number of blocks (in the file header). Nothing of the
partition is sent.

* **Order.** The ``num_patches * num_params`` weights (row-major: patch, then weight) are
  shuffled by a permutation drawn from the shared generator (``rdlab.rng`` uniforms of
  stream :data:`ORDER_STREAM` argsorted, stable), so every block mixes layers and
  patches and progressive fine-tuning has freedom left everywhere.
* **Blocks.** Along that order the model's average KL per weight is accumulated
  (float64, sequential) and cut into ``num_blocks`` contiguous blocks of equal expected
  KL; the encoder then steers each block's actual KL to its budget.
"""

from __future__ import annotations

import numpy as np

from .. import rng
from ..errors import InputError
from ..rec.blockwise import BlockPartition

__all__ = ["MAX_BLOCK_DIMS", "ORDER_STREAM", "BlockLayout", "block_layout", "min_blocks"]

#: stream of the shared generator for the weight order ("INRO")
ORDER_STREAM = 0x494E524F
#: largest block (weights): the width of the REC candidate pool (2^k x width normals)
MAX_BLOCK_DIMS = 256
_MARGIN = 1.05


class BlockLayout:
    """``order``: int64 ``(D,)``, position ``i`` of the coding order holds flat weight
    ``order[i]``; ``partition``: the blocks over the coding order; ``block_of``: int64
    ``(num_patches, num_params)`` block of each weight."""

    def __init__(self, order: np.ndarray, partition: BlockPartition, shape: tuple[int, int]):
        self.order = order
        self.partition = partition
        block_of_pos = np.repeat(np.arange(partition.num_blocks), partition.sizes)
        flat = np.empty(order.size, dtype=np.int64)
        flat[order] = block_of_pos
        self.block_of = flat.reshape(shape)

    @property
    def num_blocks(self) -> int:
        return self.partition.num_blocks

    def to_order(self, flat: np.ndarray) -> np.ndarray:
        """``(num_patches, num_params)`` (or flat) values in coding order."""
        return np.asarray(flat).reshape(-1)[self.order]

    def from_order(self, ordered: np.ndarray) -> np.ndarray:
        """Values in coding order back to the flat row-major weight vector."""
        out = np.empty_like(np.asarray(ordered))
        out[self.order] = ordered
        return out


def min_blocks(num_weights: int) -> int:
    """Fewest blocks that keep every block within :data:`MAX_BLOCK_DIMS` weights."""
    return int(num_weights * _MARGIN / MAX_BLOCK_DIMS) + 1


def block_layout(
    kl_profile: np.ndarray, num_patches: int, num_blocks: int, seed: int
) -> BlockLayout:
    """The order and partition for ``num_patches`` patches of a model whose average KL
    per weight is ``kl_profile`` (bits, ``(num_params,)``), cut into ``num_blocks``."""
    profile = np.asarray(kl_profile, dtype=np.float64).reshape(-1)
    params = profile.size
    total = int(num_patches) * params
    if num_patches < 1:
        raise InputError("num_patches", "must be >= 1")
    if not min_blocks(total) <= num_blocks <= total:
        raise InputError(
            "num_blocks",
            f"must be in {min_blocks(total)}..{total} for {total} weights, got {num_blocks}",
        )
    keys = rng.uniforms(int(seed), ORDER_STREAM, 0, total)
    order = np.argsort(keys, kind="stable").astype(np.int64)
    # A floor f on each weight's share keeps weights with (near-)zero average KL from
    # piling into huge blocks: a block of MAX_BLOCK_DIMS weights then holds at least
    # MAX_BLOCK_DIMS * f >= (total mass) / num_blocks, the mass of one block.
    raw = max(float(profile.sum()) * num_patches, 1e-12)
    crowd = total / (num_blocks * MAX_BLOCK_DIMS)
    factor = _MARGIN / (1.0 - crowd) if crowd < 1.0 / _MARGIN else 1.0
    floor = max(factor * raw / (num_blocks * MAX_BLOCK_DIMS), 1e-12)
    weights = np.maximum(profile, floor)
    cum = np.cumsum(np.tile(weights, num_patches)[order])
    targets = cum[-1] * (np.arange(1, num_blocks) / num_blocks)
    cuts = np.searchsorted(cum, targets, side="left") + 1
    bounds = np.concatenate([[0], cuts, [total]]).astype(np.int64)
    # strictly increasing (at least one weight per block), within 0..total
    bounds[1:-1] = np.maximum.accumulate(bounds[1:-1] - np.arange(1, num_blocks)) + np.arange(
        1, num_blocks
    )
    room = total - np.arange(num_blocks, -1, -1)  # bound i can be at most total - (nb - i)
    bounds = np.minimum(bounds, room)
    bounds[0], bounds[-1] = 0, total
    partition = BlockPartition(tuple(int(b) for b in bounds))
    return BlockLayout(order, partition, (int(num_patches), params))
