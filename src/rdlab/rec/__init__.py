"""Relative entropy coding: send a sample of a target Q with a shared proposal P.

Every sampler has ``encode(target, proposal, seed, *, block=0, ...) -> Message`` and
``decode(message, proposal, seed, *, block=0) -> sample`` (float64, shape (dim,)); the
decoder regenerates the chosen candidate from the shared randomness of
:mod:`rdlab.rng` (key = seed and the sampler's stream, Philox block = ``block``), bit for
bit the encoder's sample. :data:`SAMPLERS` maps names to (encode, decode):

- ``"pfr"`` (:mod:`.pfr`): Poisson functional representation / global A* coding, exact,
  d-dimensional; about 2^D_inf candidates; Zipf-coded index.
- ``"ppr"`` (:mod:`.ppr`): Poisson private representation, exact, d-dimensional; the
  encoder's arrival times are private, so the index of a pure ε-LDP mechanism's output
  is 2αε-LDP (:mod:`rdlab.privacy`); about O(2^D_inf) candidates; Zipf-coded index.
- ``"gprs"`` (:mod:`.gprs`): global greedy Poisson rejection sampling, exact; 1-D
  Gaussian pair, triangular or uniform target with a uniform proposal.
- ``"gprs-bb"`` (:mod:`.gprs_bb`): branch-and-bound GPRS on the real line (Gaussian
  pair), exact; steps linear in KL; sends the search path.
- ``"orc"`` / ``"mrc"`` (:mod:`.random_coding`): ordered and minimal random coding with
  ``2^k`` candidates, approximate; fixed-width (or Zipf) index.

Exact samplers refuse unbounded density ratios (a target wider than the proposal) and
every loop has a step limit (:class:`rdlab.errors.StepLimitError`).
:mod:`.blockwise` codes diagonal Gaussians in many dimensions block by block (shared
candidate pool, ``2^k`` candidates per block): the interface of the Bayesian INR codec.
Units: divergences and code lengths in bits, log densities in nats.
"""

from collections.abc import Callable
from typing import Any

from . import blockwise, gprs, gprs_bb, pfr, ppr, random_coding
from .blockwise import (
    BlockMessage,
    BlockPartition,
    decode_blocks,
    encode_blocks,
    partition_by_kl,
    partition_fixed,
)
from .distributions import (
    Categorical,
    Gaussian,
    HalfspaceMixture,
    Laplace,
    Triangular,
    Uniform,
    UniformSphere,
    dinf_bits,
    kl_bits,
    log_ratio,
    register_pair,
)
from .messages import IndexCode, Message

SAMPLERS: dict[str, tuple[Callable[..., Message], Callable[..., Any]]] = {
    "pfr": (pfr.encode, pfr.decode),
    "ppr": (ppr.encode, ppr.decode),
    "gprs": (gprs.encode, gprs.decode),
    "gprs-bb": (gprs_bb.encode, gprs_bb.decode),
    "orc": (random_coding.encode_ordered, random_coding.decode_ordered),
    "mrc": (random_coding.encode_minimal, random_coding.decode_minimal),
}

__all__ = [
    "SAMPLERS",
    "BlockMessage",
    "BlockPartition",
    "Categorical",
    "Gaussian",
    "HalfspaceMixture",
    "IndexCode",
    "Laplace",
    "Message",
    "Triangular",
    "Uniform",
    "UniformSphere",
    "blockwise",
    "decode_blocks",
    "dinf_bits",
    "encode_blocks",
    "gprs",
    "gprs_bb",
    "kl_bits",
    "log_ratio",
    "partition_by_kl",
    "partition_fixed",
    "pfr",
    "ppr",
    "random_coding",
    "register_pair",
]
