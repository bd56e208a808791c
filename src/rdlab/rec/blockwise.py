"""Blockwise relative entropy coding of a diagonal Gaussian in many dimensions.

The target ``Q = N(mean, diag(std**2))`` and the proposal (prior) ``P = N(prior_mean,
diag(prior_std**2))`` live on a flat parameter vector of ``dim`` entries (thousands to
millions: the weights of a Bayesian implicit neural representation). The vector is cut
into contiguous blocks (:class:`BlockPartition`, side information both sides know: it is
not part of the message) and each block's sample is sent with ``k = log2_candidates``
bits by ordered random coding (``method="ordered"``, default) or minimal random coding
(``"minimal"``) among ``N = 2**k`` candidates (see :mod:`rdlab.rec.random_coding`). The
samplers are approximate: a block whose KL (bits) approaches or exceeds ``k`` comes out
biased towards the prior; :func:`partition_by_kl` keeps each block's KL under a budget.

**Candidate pool.** Drawing ``2**16`` fresh candidates of 32 dimensions per block costs
two million Philox words and inverse CDFs (~0.2 s): far too slow for thousands of blocks.
All blocks under one seed instead share a pool ``Z`` of ``N x D_pool`` standard normals
(``rdlab.rng.normal_rows(seed, stream_id("rec/pool"), 0, 0, N, D_pool)``, ``D_pool`` =
the partition's largest block; cached per ``(seed, k, D_pool)``). Block ``b`` maps its
``d_b`` dimensions injectively into pool columns with a random permutation and random
signs (row ``b`` of the uniform rows of width ``2 * D_pool`` of stream
``"rec/block-map"``, Philox block 0: the first ``D_pool`` words are argsorted into the
permutation, the next ``D_pool`` give the signs, ``u < 1/2`` meaning -1), so its candidate
``j`` (1-based) is::

    x = prior_mean + prior_std * (sign_b * Z[j - 1, perm_b])

Within a block the ``N`` candidates are exactly i.i.d. from P. Different blocks share
the pool up to their signed permutations, so their samples are **not exactly
independent**: two blocks can pick the same pool row (with MRC about ``1 / N`` per pair;
ORC's indices concentrate on small values, so for two blocks of KL ``K`` bits it can be of
the order of ``2^-K``), and each block's choice depends on rows other blocks also score.
Over seeds, the correlation between coordinates of different blocks is zero in
expectation (independent random signs) and the tests check that it is near 0.

**Scores.** ``log r(x)`` (nats) is a quadratic in ``z`` per dimension,
``a_d z**2 + c_d z + const`` with ``a_d = (1 - prior_std**2 / std**2) / 2`` and
``c_d = sign * prior_std * (mean - prior_mean) / std**2``, so the scores of all candidates
for a batch of blocks are one float32 matrix product ``[Z, Z**2] @ coefficients``. Per
block ``b`` fresh noise comes from stream ``"rec/block-times"``, Philox block ``b``: its
first ``N`` raw words ``w`` as float32 uniforms ``((w >> 41) + 1/2) 2^-23``; ORC adds
``-log T_j`` (``T`` = cumulative sums of ``-log u``), MRC the Gumbels ``-log(-log u)``.
Only the encoder's choice uses this fast float32 path; the sample is always assembled in
float64 from the pool rows (which are bit-reproducible), identically in encoder and
decoder.

**Selection.** ``selection="sample"`` (default) adds the noise above, so the index is an
(approximate) sample of Q: what relative entropy coding promises. A codec that wants a
good reconstruction rather than a faithful sample may send another of the same ``N``
candidates at the same ``k`` bits (the decoder only reads the index):
``"greedy"`` takes the largest ``log q/p`` (no noise), ``"nearest"`` the largest
``log q`` (the candidate nearest the mean in the metric of ``std``). Both are
deterministic and biased: their samples are not distributed as Q.

**Decoder.** It reads the ``k``-bit indices and needs only the chosen pool rows: from the
cached pool when there is one (or when so many rows are needed that building it is
cheaper), else row by row (random access of :func:`rdlab.rng.open_uniform_rows`).

Message: ``k`` raw bits per block (``IndexCode.fixed(k)``, range-coded words), so
``BlockMessage.bits == k * number of blocks``. Units: KL and code lengths in bits, log
ratios in nats; vectors are float64 of shape ``(dim,)``.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch

from .. import detmath, rng
from ..errors import InputError
from .messages import IndexCode, decode_indices, encode_indices
from .streams import stream_id

__all__ = [
    "MAX_LOG2_CANDIDATES",
    "MAX_POOL_ENTRIES",
    "BlockMessage",
    "BlockPartition",
    "clear_pool_cache",
    "decode_blocks",
    "encode_blocks",
    "gaussian_kl_bits",
    "partition_by_kl",
    "partition_fixed",
    "pool",
    "prepare_pool",
]

MAX_LOG2_CANDIDATES = 20
MAX_POOL_ENTRIES = 1 << 25  # N * D_pool: 256 MiB of float64 plus 256 MiB of float32 features
_POOL_STREAM = "rec/pool"
_MAP_STREAM = "rec/block-map"
_TIME_STREAM = "rec/block-times"
_METHODS = ("ordered", "minimal")
_SELECTIONS = ("sample", "greedy", "nearest")
_BATCH_ENTRIES = 1 << 22  # blocks x candidates scored per matrix product
_POOL_CHUNK_ENTRIES = 1 << 18  # pool normals drawn at a time (2 MiB of float64)
_LOG2E = 1.0 / math.log(2.0)


# -- partitions -------------------------------------------------------------------------
@dataclass(frozen=True)
class BlockPartition:
    """Contiguous blocks over a flat vector: block ``b`` holds entries
    ``boundaries[b] .. boundaries[b + 1] - 1``; ``boundaries`` starts at 0, increases
    strictly and ends at ``dim``."""

    boundaries: tuple[int, ...]

    def __post_init__(self) -> None:
        try:
            b = np.asarray(self.boundaries, dtype=np.int64).ravel()
        except (TypeError, ValueError, OverflowError):
            raise InputError("boundaries", "must be integers") from None
        if b.size < 2 or b[0] != 0 or (np.diff(b) <= 0).any():
            raise InputError("boundaries", "must start at 0 and increase strictly (>= 1 block)")
        object.__setattr__(self, "boundaries", tuple(int(v) for v in b))

    @classmethod
    def from_sizes(cls, sizes: Any) -> BlockPartition:
        """Blocks of the given sizes (all >= 1), in order."""
        s = np.asarray(sizes, dtype=np.int64).ravel()
        if s.size == 0 or (s < 1).any():
            raise InputError("sizes", "must be a non-empty list of integers >= 1")
        return cls(tuple(np.concatenate([[0], np.cumsum(s)]).tolist()))

    @property
    def dim(self) -> int:
        return self.boundaries[-1]

    @property
    def num_blocks(self) -> int:
        return len(self.boundaries) - 1

    @cached_property
    def starts(self) -> np.ndarray:
        """First entry of each block, int64 (num_blocks,)."""
        return np.asarray(self.boundaries[:-1], dtype=np.int64)

    @cached_property
    def sizes(self) -> np.ndarray:
        """Dimensions of each block, int64 (num_blocks,)."""
        return np.diff(np.asarray(self.boundaries, dtype=np.int64))

    @property
    def max_dims(self) -> int:
        """The largest block: the width ``D_pool`` of the candidate pool."""
        return int(self.sizes.max())

    def block_slice(self, block: int) -> slice:
        b = _block_ids(block, self)[0]
        return slice(self.boundaries[b], self.boundaries[b + 1])

    def positions(self, blocks: Any = None) -> np.ndarray:
        """Flat positions (int64) of the entries of ``blocks`` (all if None), block after
        block in the given order: where :func:`decode_blocks`' output goes."""
        sel = _block_ids(blocks, self)
        sizes = self.sizes[sel]
        offsets = np.cumsum(sizes) - sizes
        return np.repeat(self.starts[sel] - offsets, sizes) + np.arange(int(sizes.sum()))


def partition_fixed(dim: int, dims_per_block: int) -> BlockPartition:
    """Blocks of ``dims_per_block`` consecutive entries (the last one may be shorter)."""
    for name, v in (("dim", dim), ("dims_per_block", dims_per_block)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InputError(name, f"must be an integer >= 1, got {v!r}")
    bounds = [*range(0, int(dim), int(dims_per_block)), int(dim)]
    return BlockPartition(tuple(bounds))


def partition_by_kl(
    kl_per_dim_bits: Any, budget_bits: float = 16.0, max_dims: int | None = None
) -> BlockPartition:
    """Contiguous greedy blocks whose KL (bits) stays within ``budget_bits``.

    A block starting at entry ``i`` takes entries ``i .. j - 1`` for the largest ``j`` with
    ``sum(kl[i:j]) <= budget_bits`` (computed from float64 cumulative sums) and at most
    ``max_dims`` entries (None: no cap; the pool then has as many columns as the largest
    block, see :data:`MAX_POOL_ENTRIES`). A single entry whose KL alone exceeds the budget
    gets a block of its own: it is still coded with the blocks' ``k`` bits, and the sample
    is then a poor approximation of Q for that entry (biased towards the prior); raise the
    number of candidates or accept it.
    """
    kl = np.asarray(kl_per_dim_bits, dtype=np.float64).ravel()
    if kl.size == 0 or not np.isfinite(kl).all() or (kl < 0).any():
        raise InputError("kl_per_dim_bits", "must be a non-empty array of finite values >= 0")
    if not (math.isfinite(budget_bits) and budget_bits > 0):
        raise InputError("budget_bits", f"must be finite and > 0, got {budget_bits}")
    if max_dims is not None and (
        isinstance(max_dims, bool) or not isinstance(max_dims, (int, np.integer)) or max_dims < 1
    ):
        raise InputError("max_dims", f"must be None or an integer >= 1, got {max_dims!r}")
    n = kl.size
    cum = np.concatenate([[0.0], np.cumsum(kl)])
    bounds = [0]
    i = 0
    while i < n:
        j = int(np.searchsorted(cum, cum[i] + budget_bits, side="right")) - 1
        j = max(j, i + 1)
        if max_dims is not None:
            j = min(j, i + int(max_dims))
        j = min(j, n)
        bounds.append(j)
        i = j
    return BlockPartition(tuple(bounds))


def gaussian_kl_bits(mean: Any, std: Any, prior_mean: Any, prior_std: Any) -> np.ndarray:
    """Per-entry D_KL(N(mean, std^2) || N(prior_mean, prior_std^2)) in bits, float64 (dim,)."""
    mu, sigma, m, s = _vectors(mean, std, prior_mean, prior_std, None)
    rho2 = (sigma / s) ** 2
    return 0.5 * (rho2 + ((mu - m) / s) ** 2 - 1.0 - np.log(rho2)) * _LOG2E


# -- validation ---------------------------------------------------------------------------
def _vectors(
    mean: Any, std: Any, prior_mean: Any, prior_std: Any, dim: int | None
) -> tuple[np.ndarray, ...]:
    out = []
    named = (("mean", mean), ("std", std), ("prior_mean", prior_mean), ("prior_std", prior_std))
    for name, v in named:
        if v is None:
            out.append(None)
            continue
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        a = np.asarray(v, dtype=np.float64)
        if a.ndim != 1:
            raise InputError(name, f"must be a flat (1-D) vector, got shape {a.shape}")
        if dim is None:
            dim = a.size
        if a.size != dim:
            raise InputError(name, f"has {a.size} entries, expected {dim}")
        if not np.isfinite(a).all():
            raise InputError(name, "must be finite")
        if name.endswith("std") and (a <= 0).any():
            raise InputError(name, "must be > 0")
        out.append(a)
    return tuple(out)


def _check_partition(partition: Any) -> BlockPartition:
    if not isinstance(partition, BlockPartition):
        raise InputError("partition", f"must be a BlockPartition, got {type(partition).__name__}")
    return partition


def _block_ids(blocks: Any, partition: BlockPartition) -> np.ndarray:
    """Block indices as int64 (all blocks if None); unique, in range."""
    if blocks is None:
        return np.arange(partition.num_blocks, dtype=np.int64)
    b = np.atleast_1d(np.asarray(blocks))
    if b.ndim != 1 or (b.size and b.dtype.kind not in "iu"):
        raise InputError("blocks", "must be a 1-D list of block indices")
    b = b.astype(np.int64)
    if b.size == 0:
        raise InputError("blocks", "must name at least one block")
    if b.min() < 0 or b.max() >= partition.num_blocks:
        raise InputError("blocks", f"must lie in 0..{partition.num_blocks - 1}")
    if np.unique(b).size != b.size:
        raise InputError("blocks", "must not repeat a block")
    return b


def _check_k(log2_candidates: Any, partition: BlockPartition) -> int:
    if isinstance(log2_candidates, bool) or not isinstance(log2_candidates, (int, np.integer)):
        raise InputError("log2_candidates", f"must be an integer, got {log2_candidates!r}")
    k = int(log2_candidates)
    if not 1 <= k <= MAX_LOG2_CANDIDATES:
        raise InputError("log2_candidates", f"must lie in 1..{MAX_LOG2_CANDIDATES}, got {k}")
    if (1 << k) * partition.max_dims > MAX_POOL_ENTRIES:
        raise InputError(
            "partition",
            f"blocks of up to {partition.max_dims} entries need a pool of 2^{k} x "
            f"{partition.max_dims} > 2^25 normals: cap the block size (max_dims)",
        )
    return k


# -- the pool -----------------------------------------------------------------------------
class _Pool:
    """``z``: float64 (N, D) standard normals; ``features``: float32 (2D, N) = [Z, Z^2]^T
    (built on first use: only the encoder scores candidates).

    Both are filled :data:`_POOL_CHUNK_ENTRIES` normals at a time: the inverse CDF and
    the casts are elementwise, so the values are those of one call on all rows, while the
    temporaries stay a few MiB (one call on 2^16 x 256 rows peaked at 1.2 GB more and took
    3.5 times as long). ``progress(done, total)``: rows built so far, after each chunk.
    """

    def __init__(
        self, seed: int, k: int, width: int, progress: Callable[[int, int], None] | None = None
    ) -> None:
        count = 1 << k
        sid = stream_id(_POOL_STREAM)
        self.z = np.empty((count, width), dtype=np.float64)
        for r0, r1 in _row_chunks(count, width):
            self.z[r0:r1] = rng.normal_rows(seed, sid, 0, r0, r1 - r0, width)
            if progress is not None:
                progress(r1, count)
        self._features: np.ndarray | None = None

    @property
    def has_features(self) -> bool:
        return self._features is not None

    @property
    def features(self) -> np.ndarray:
        if self._features is None:
            count, width = self.z.shape
            features = np.empty((2 * width, count), dtype=np.float32)
            for r0, r1 in _row_chunks(count, width):
                zt = self.z[r0:r1].T.astype(np.float32)
                features[:width, r0:r1] = zt
                features[width:, r0:r1] = zt * zt
            self._features = features
        return self._features


def _row_chunks(count: int, width: int) -> list[tuple[int, int]]:
    """Row ranges of about :data:`_POOL_CHUNK_ENTRIES` entries covering ``count`` rows."""
    rows = max(1, _POOL_CHUNK_ENTRIES // width)
    return [(r0, min(count, r0 + rows)) for r0 in range(0, count, rows)]


_POOLS: OrderedDict[tuple[int, int, int], _Pool] = OrderedDict()
_POOLS_LOCK = threading.Lock()
_POOLS_KEPT = 2


def pool(seed: int, log2_candidates: int, width: int) -> np.ndarray:
    """The candidate pool: float64 standard normals of shape (2**log2_candidates, width)
    (built once per ``(seed, log2_candidates, width)`` and cached; read-only)."""
    return _get_pool(seed, log2_candidates, width).z


def prepare_pool(
    seed: int,
    log2_candidates: int,
    width: int,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Build and cache the pool :func:`encode_blocks` uses for ``partition.max_dims ==
    width`` (with its score features), so that an encoder can report this step: for
    ``k = 16`` and 256 columns it is 16.8 million normals (about 2 s, 256 MiB with the
    features).

    Args:
        seed: the shared-randomness seed.
        log2_candidates: ``k``, 1 .. :data:`MAX_LOG2_CANDIDATES` (``2**k`` rows).
        width: the pool's columns (the largest block), ``2**k * width`` at most
            :data:`MAX_POOL_ENTRIES`.
        progress: called as ``progress(done, total)`` with the rows built, ``total`` =
            ``2**k`` rows plus the ``2**k`` of the features (nothing when cached).

    Raises:
        InputError: ``log2_candidates`` or ``width`` out of range.
    """
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise InputError("width", f"must be an integer >= 1, got {width!r}")
    k = _check_k(log2_candidates, partition_fixed(int(width), int(width)))
    count = 1 << k
    p = _cached_pool(seed, k, int(width))
    if p is not None and p.has_features:
        return
    if p is None:
        rows = None if progress is None else (lambda done, _total: progress(done, 2 * count))
        p = _get_pool(seed, k, int(width), progress=rows)
    _ = p.features  # built now, kept with the pool
    if progress is not None:
        progress(2 * count, 2 * count)


def clear_pool_cache() -> None:
    """Forget the cached pools (they hold up to 2 x 512 MiB)."""
    with _POOLS_LOCK:
        _POOLS.clear()


def _cached_pool(seed: int, k: int, width: int) -> _Pool | None:
    with _POOLS_LOCK:
        p = _POOLS.get((seed, k, width))
        if p is not None:
            _POOLS.move_to_end((seed, k, width))
        return p


def _get_pool(
    seed: int, k: int, width: int, progress: Callable[[int, int], None] | None = None
) -> _Pool:
    p = _cached_pool(seed, k, width)
    if p is None:
        p = _Pool(seed, k, width, progress)
        p.z.setflags(write=False)
        with _POOLS_LOCK:
            _POOLS[(seed, k, width)] = p
            while len(_POOLS) > _POOLS_KEPT:
                _POOLS.popitem(last=False)
    return p


def _pool_rows(seed: int, k: int, width: int, rows: np.ndarray) -> np.ndarray:
    """Pool rows ``rows`` (0-based, int64), float64 (len(rows), width): from the cached
    pool, by building it when many rows are needed, else by random access."""
    unique, inverse = np.unique(rows, return_inverse=True)
    p = _cached_pool(seed, k, width)
    if p is None and unique.size * 8 >= (1 << k):
        p = _get_pool(seed, k, width)
    if p is not None:
        return p.z[rows]
    sid = stream_id(_POOL_STREAM)
    u = np.concatenate(
        [rng.open_uniform_rows(seed, sid, 0, int(r), 1, width) for r in unique.tolist()]
    )
    return detmath.normal_ppf(u)[inverse.ravel()]


# -- per-block maps and noise ---------------------------------------------------------------
def _runs(sorted_ids: np.ndarray) -> list[tuple[int, int]]:
    """(start, count) of the runs of consecutive integers in a sorted array."""
    cuts = np.flatnonzero(np.diff(sorted_ids) != 1) + 1
    return [(int(r[0]), r.size) for r in np.split(sorted_ids, cuts)]


def _maps(seed: int, width: int, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Permutations (int64) and signs (float64 +-1) of blocks ``sel``, shape (len(sel), width)."""
    order = np.argsort(sel, kind="stable")
    sid = stream_id(_MAP_STREAM)
    u = np.concatenate(
        [rng.uniform_rows(seed, sid, 0, s, n, 2 * width) for s, n in _runs(sel[order])]
    )
    u_sel = np.empty_like(u)
    u_sel[order] = u
    perm = np.argsort(u_sel[:, :width], axis=1, kind="stable")
    sign = np.where(u_sel[:, width:] < 0.5, -1.0, 1.0)
    return perm, sign


def _noise(seed: int, block_ids: np.ndarray, count: int, method: str) -> np.ndarray:
    """Per-block ORC times ``-log T_j`` or MRC Gumbels, float32 (len(block_ids), count).

    Block ``b``'s uniforms are its first ``count`` Philox words (row 0 of width ``count``),
    cut to their top 23 bits: ``u = (w >> 41 + 1/2) 2^-23``, exact in float32 and inside
    (0, 1), so ``-log u`` and the Gumbels stay finite (at most 16.6 nats). The encoder
    alone uses this noise (the decoder receives the index), so its float32 precision only
    perturbs the choice by O(2^-23) in probability.
    """
    sid = stream_id(_TIME_STREAM)
    words = np.stack([rng.raw_words(seed, sid, int(b), count) for b in block_ids])
    u = torch.from_numpy((words >> np.uint64(41)).astype(np.float32)).add_(0.5).mul_(2.0**-23)
    e = u.log_().neg_()  # Exp(1), > 0
    if method == "ordered":
        return torch.cumsum(e, dim=1).log_().neg_().numpy()
    return e.log_().neg_().numpy()


# -- coding ---------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BlockMessage:
    """Blockwise-coded sample.

    ``blocks``: the coded block indices (int64, in coding order). ``indices``: the sent
    candidate of each (uint64, 1 .. 2**log2_candidates). ``data``: the payload (fixed-width
    indices, range-coded words). ``bits``: ideal code length in bits
    (``log2_candidates * len(blocks)``). ``sample``: float64, the entries of ``blocks``
    concatenated in that order (positions: ``partition.positions(blocks)``), bit for bit
    what :func:`decode_blocks` returns.
    """

    blocks: np.ndarray
    indices: np.ndarray
    data: bytes
    bits: float
    log2_candidates: int
    method: str
    sample: np.ndarray = field(default_factory=lambda: np.zeros(0))


class _Layout:
    """Flat bookkeeping of the entries of the selected blocks (block-major order)."""

    def __init__(self, seed: int, partition: BlockPartition, sel: np.ndarray) -> None:
        width = partition.max_dims
        sizes = partition.sizes[sel]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)])
        self.positions = partition.positions(sel)
        self.owner = np.repeat(np.arange(sel.size), sizes)  # selected-block number of each
        slot = np.arange(self.positions.size) - np.repeat(self.offsets[:-1], sizes)
        perm, sign = _maps(seed, width, sel)
        self.column = perm[self.owner, slot]
        self.sign = sign[self.owner, slot]


def _assemble(
    seed: int,
    k: int,
    width: int,
    layout: _Layout,
    indices: np.ndarray,
    m: np.ndarray,
    s: np.ndarray,
) -> np.ndarray:
    """x = prior_mean + prior_std * (sign * Z[j - 1, perm]) for the selected entries."""
    rows = indices.astype(np.int64) - 1
    z = _pool_rows(seed, k, width, rows)  # (nb, width)
    pos = layout.positions
    return m[pos] + s[pos] * (layout.sign * z[layout.owner, layout.column])


def encode_blocks(
    mean: Any,
    std: Any,
    prior_mean: Any,
    prior_std: Any,
    seed: int,
    partition: BlockPartition,
    *,
    log2_candidates: int = 16,
    method: str = "ordered",
    blocks: Any = None,
    selection: str = "sample",
) -> BlockMessage:
    """Code a sample of N(mean, std^2) against the prior N(prior_mean, prior_std^2) block
    by block (all flat float64 vectors of ``partition.dim`` entries).

    ``blocks``: indices of the blocks to code (None: all), e.g. one block at a time for
    progressive coding; each block's choice does not depend on which others are coded
    with it (up to float32 rounding of the scores in near ties). ``log2_candidates``:
    ``k`` in 1..20, bits per block. ``method``: ``"ordered"`` (ORC) or ``"minimal"`` (MRC).
    ``selection``: ``"sample"`` (the method's noisy choice), ``"greedy"`` or ``"nearest"``
    (deterministic, biased; see the module docstring).
    """
    part = _check_partition(partition)
    mu, sigma, m, s = _vectors(mean, std, prior_mean, prior_std, part.dim)
    if method not in _METHODS:
        raise InputError("method", f"must be one of {_METHODS}, got {method!r}")
    if selection not in _SELECTIONS:
        raise InputError("selection", f"must be one of {_SELECTIONS}, got {selection!r}")
    k = _check_k(log2_candidates, part)
    sel = _block_ids(blocks, part)
    width, count = part.max_dims, 1 << k
    p = _get_pool(seed, k, width)
    layout = _Layout(seed, part, sel)
    pos = layout.positions
    # log r = a z^2 + c z + const per entry (nats), z the pool value
    # "nearest" scores log q instead of log q/p: log p adds -z^2 / 2 per entry
    base = 0.0 if selection == "nearest" else 1.0
    quad = (0.5 * (base - (s[pos] / sigma[pos]) ** 2)).astype(np.float32)
    lin = (layout.sign * s[pos] * (mu[pos] - m[pos]) / sigma[pos] ** 2).astype(np.float32)
    features = p.features
    batch = max(1, _BATCH_ENTRIES // count)
    chosen = np.empty(sel.size, dtype=np.int64)
    for b0 in range(0, sel.size, batch):
        b1 = min(sel.size, b0 + batch)
        e0, e1 = layout.offsets[b0], layout.offsets[b1]
        owner, column = layout.owner[e0:e1] - b0, layout.column[e0:e1]
        coef = np.zeros((b1 - b0, 2 * width), dtype=np.float32)
        coef[owner, column] = lin[e0:e1]
        coef[owner, width + column] = quad[e0:e1]
        scores = coef @ features
        if selection == "sample":
            scores += _noise(seed, sel[b0:b1], count, method)
        chosen[b0:b1] = np.argmax(scores, axis=1)
    indices = (chosen + 1).astype(np.uint64)
    data, bits = encode_indices(IndexCode.fixed(k), indices)
    sample = _assemble(seed, k, width, layout, indices, m, s)
    return BlockMessage(sel, indices, data, bits, k, method, sample)


def decode_blocks(
    message_or_data: BlockMessage | bytes,
    prior_mean: Any,
    prior_std: Any,
    seed: int,
    partition: BlockPartition,
    *,
    log2_candidates: int = 16,
    blocks: Any = None,
) -> np.ndarray:
    """The sample of :func:`encode_blocks`: float64, the entries of the coded blocks
    concatenated in coding order (``partition.positions(blocks)`` says where they go;
    all ``partition.dim`` entries in order when all blocks were coded).

    ``message_or_data``: a :class:`BlockMessage` (its ``blocks`` and ``log2_candidates``
    are used; passing different ones is refused) or the payload bytes, then ``blocks``
    (None: all) and ``log2_candidates`` must be those of the encoder.
    """
    part = _check_partition(partition)
    _, _, m, s = _vectors(None, None, prior_mean, prior_std, part.dim)
    k = _check_k(log2_candidates, part)
    if isinstance(message_or_data, BlockMessage):
        msg = message_or_data
        if msg.log2_candidates != k:
            raise InputError(
                "log2_candidates", f"is {k}, the message was coded with {msg.log2_candidates}"
            )
        sel = msg.blocks if blocks is None else _block_ids(blocks, part)
        if not np.array_equal(sel, msg.blocks):
            raise InputError("blocks", "differ from the blocks the message codes")
        sel = _block_ids(sel, part)
        data = msg.data
    elif isinstance(message_or_data, (bytes, bytearray, memoryview)):
        sel = _block_ids(blocks, part)
        data = bytes(message_or_data)
    else:
        raise InputError(
            "message_or_data", f"must be a BlockMessage or bytes, got {type(message_or_data)}"
        )
    indices = decode_indices(IndexCode.fixed(k), data, sel.size)
    layout = _Layout(seed, part, sel)
    return _assemble(seed, k, part.max_dims, layout, indices, m, s)
