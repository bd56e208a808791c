"""Names of the shared random streams relative entropy coding draws from.

Each sampler reads its own stream of :mod:`rdlab.rng` (key = (seed, stream id)), with
the block number as the Philox block index, so two samplers never share candidates and
a block's randomness never depends on other blocks. Stream ids are the first 8 bytes
(little endian) of SHA-256 of the stream's name: fixed forever, part of the format.

Layouts (rows of :func:`rdlab.rng.open_uniform_rows`, 0-based row = candidate - 1):

- global samplers (PFR / A*, GPRS, ordered and minimal random coding): row k has
  ``1 + dim`` words: word 0 drives the arrival time (or Gumbel) of candidate k + 1,
  words 1.. its coordinates through ``proposal.from_uniforms``;
- branch-and-bound GPRS: row d - 1 has 2 words for the tree node at depth d (the
  arrival-time increment and the position of the sample inside the node's interval);
- blockwise diagonal-Gaussian coding: a shared pool of candidate rows (stream
  ``rec/pool``, Philox block 0), block b's signed permutation in row b of stream
  ``rec/block-map`` (Philox block 0, so runs of consecutive blocks are one call), and
  block b's arrival times in stream ``rec/block-times``, Philox block b.
"""

from __future__ import annotations

import hashlib
from functools import cache

import numpy as np

from .. import rng

__all__ = ["candidate_rows", "candidates_at", "stream_id"]


@cache
def stream_id(name: str) -> int:
    """The 64-bit stream id of a named stream."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


def candidate_rows(
    proposal: object, seed: int, stream: str, block: int, start: int, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates ``start + 1 .. start + count`` of a global sampler.

    Returns ``(u0, x)``: the open uniform that drives each candidate's arrival time,
    shape (count,), and the candidates, shape (count, dim), from ``proposal.from_uniforms``.
    """
    dim = int(proposal.dim)  # type: ignore[attr-defined]
    u = rng.open_uniform_rows(seed, stream_id(stream), block, start, count, 1 + dim)
    return u[:, 0], proposal.from_uniforms(u[:, 1:])  # type: ignore[attr-defined]


def candidates_at(
    proposal: object,
    seed: int,
    stream: str,
    blocks: np.ndarray,
    indices: np.ndarray,
    *,
    fast: bool = False,
) -> np.ndarray:
    """Candidate ``indices[i]`` (1-based) of block ``blocks[i]`` for every ``i`` in one
    vectorized pass (:func:`rdlab.rng.open_uniform_rows_at`): shape (n, dim), bit for bit
    what :func:`candidate_rows` gives for each alone. ``fast``: the proposal's
    ``fast_from_uniforms`` where it has one (encoder-side search, not bit-exact)."""
    dim = int(proposal.dim)  # type: ignore[attr-defined]
    rows = np.asarray(indices, dtype=np.uint64) - np.uint64(1)
    u = rng.open_uniform_rows_at(
        seed, stream_id(stream), np.asarray(blocks, dtype=np.uint64), rows, 1 + dim
    )[:, 1:]
    transform = getattr(proposal, "fast_from_uniforms", None) if fast else None
    return (transform or proposal.from_uniforms)(u)  # type: ignore[attr-defined]
