"""Send a mechanism's output exactly: PPR messages for one client or a whole round.

A client privatizes its vector with a :class:`~rdlab.privacy.mechanisms.Mechanism` and,
instead of sending the noisy vector (32-bit floats), sends one relative-entropy-coded
index per block of the output; the server regenerates the output from the shared
randomness. With the default coder, **PPR** (:mod:`rdlab.rec.ppr`), the server's value
has *exactly* the mechanism's law, so every statement about the uncompressed mechanism
(unbiasedness, variance, the central guarantee after aggregation) holds unchanged.

Coders (:data:`CODERS`):

- ``"ppr"`` (default): exact; the message (indices + public candidates) is **2αε-LDP**
  when the mechanism is pure ε-LDP (proof in :mod:`rdlab.rec.ppr`; blocks of a product
  mechanism add up to the whole vector's ε). For the Gaussian mechanism rdlab proves a
  valid but loose (ε', δ') (restriction to a ball plus a coupling:
  :func:`rdlab.privacy.mechanisms.gaussian.ppr_gaussian_message_bound`); the decoded
  output's guarantees are the mechanism's in every case.
- ``"pfr"``: A* / PFR, exact and a little shorter, but its index is a deterministic
  function of the input and the shared randomness: **no local guarantee** for the message
  (the output's central guarantees still hold).
- ``"direct"``: the uncompressed mechanism (32-bit floats per output coordinate), the
  baseline.

Approximate samplers (ordered / minimal random coding) are refused: they change the
output law, and rdlab's versions select with shared randomness, for which no privacy
statement is known. GPRS (global or branch-and-bound) is exact but one-dimensional and
deterministic given the shared randomness, like PFR: refused in favour of ``"pfr"``.

Shared randomness: stream ``"rec/ppr"`` (or ``"rec/pfr"``) under ``seed``; client ``c``
of round ``r``, block ``b`` of ``B`` uses Philox block ``((r · 2^32) + c) · B + b`` (r < 2^16,
c < 2^32, B <= 2^16), so no
two clients, rounds or blocks share candidates. The private randomness (arrival times,
the exponential race, PrivUnit's rounding) comes from the caller's ``generator``.

A round's payload is one range-coded stream: for each block, every client's index
under the Zipf code of the block's public KL budget (:meth:`Mechanism.kl_budget_bits`),
so the code reveals nothing about the inputs. Code lengths are in bits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..coding import SymbolDecoder, SymbolEncoder
from ..errors import CorruptStreamError, InputError
from ..rec import pfr, ppr
from ..rec.messages import IndexCode
from ..rec.pfr import check_pair
from ..rec.streams import candidates_at
from .guarantees import ApproxDP, PureDP
from .mechanisms import Mechanism

__all__ = [
    "CODERS",
    "MessageGuarantee",
    "PrivateMessage",
    "RoundMessage",
    "decode",
    "decode_round",
    "encode",
    "encode_round",
    "message_guarantee",
]

#: coder name -> what it is
CODERS = {
    "ppr": "Poisson private representation (exact; message 2αε-LDP for pure mechanisms)",
    "pfr": "A* / PFR (exact; no local guarantee for the message)",
    "direct": "uncompressed mechanism output, 32-bit floats",
}
_SAMPLERS = {"ppr": ppr, "pfr": pfr}
_REFUSED = ("orc", "mrc", "gprs", "gprs-bb")
_MAX_ROUND = 1 << 16
_MAX_CLIENT = 1 << 32
_MAX_BLOCKS = 1 << 16
_MAX_STEPS = 1 << 24  # so that the Philox block number stays below 2^64


@dataclass(frozen=True)
class MessageGuarantee:
    """What the transmitted message guarantees locally, and why.

    ``local``: a DP statement for the message (index and public randomness) between any
    two inputs, or ``None`` when rdlab states none; ``output``: the mechanism's own
    local guarantee (what the decoded value carries); ``basis``: one sentence."""

    local: PureDP | ApproxDP | None
    output: PureDP | ApproxDP
    basis: str

    def to_json(self) -> dict[str, Any]:
        return {
            "local": None if self.local is None else self.local.to_json(),
            "output": self.output.to_json(),
            "basis": self.basis,
        }


def _check_coder(coder: str) -> str:
    if coder in ("orc", "mrc"):
        raise InputError(
            "coder",
            f"{coder!r} is refused for private mechanisms: it sends an approximate sample "
            "(the mechanism's law and guarantee change) selected with shared randomness, "
            "for which no privacy statement is known; use 'ppr'",
        )
    if coder in _REFUSED:
        raise InputError(
            "coder",
            f"{coder!r} is exact but one-dimensional, and its index is fixed by the input "
            "and the shared randomness (no local guarantee): use 'pfr' for that in any "
            "dimension, or 'ppr'",
        )
    if coder not in CODERS:
        raise InputError("coder", f"unknown {coder!r}; known: {', '.join(CODERS)}")
    return coder


def message_guarantee(
    mechanism: Mechanism,
    coder: str = "ppr",
    alpha: float = ppr.DEFAULT_ALPHA,
    delta: float | None = None,
) -> MessageGuarantee:
    """The local guarantee of what a client sends (see the module docstring);
    ``delta``: where an approximate statement is made (default: the mechanism's δ).

    Raises:
        InputError: unknown or refused coder, bad ``alpha``.
    """
    coder = _check_coder(coder)
    out = mechanism.local_guarantee()
    if coder == "direct":
        return MessageGuarantee(out, out, "the message is the mechanism's output")
    if coder == "pfr":
        return MessageGuarantee(
            None,
            out,
            "A* picks the index deterministically from the input and the shared "
            "randomness: the message has no local guarantee",
        )
    a = ppr.check_alpha(alpha)
    local = mechanism.ppr_message_guarantee(a, delta)
    if isinstance(out, PureDP):
        basis = (
            f"PPR with alpha = {a:g} of a pure {out.epsilon:g}-LDP mechanism is "
            f"2 alpha eps = {2.0 * a * out.epsilon:g}-LDP (Liu et al. 2024)"
        )
    elif local is not None:
        basis = (
            "PPR of the Gaussian: restricted to a ball the output is pure-DP, and PPR on the "
            "restricted law picks the same index unless the choice leaves the ball "
            "(proved, loose: rdlab.privacy.mechanisms.gaussian.ppr_gaussian_message_bound)"
        )
    else:
        basis = "no local guarantee is proved here for this mechanism's PPR message"
    return MessageGuarantee(local, out, basis)


def _philox_blocks(round_: int, clients: np.ndarray, b: int, n_blocks: int) -> np.ndarray:
    """Philox block numbers of block ``b`` of ``clients`` in ``round_`` (uint64)."""
    c = np.asarray(clients, dtype=np.uint64)
    base = np.uint64(round_) * np.uint64(_MAX_CLIENT) + c
    return base * np.uint64(n_blocks) + np.uint64(b)


def _outputs(
    mechanism: Mechanism,
    per_block: list[np.ndarray],
    clients: np.ndarray,
    round_: int,
    coder: str,
    seed: int,
) -> np.ndarray:
    """The mechanism outputs that the indices ``per_block[b]`` (one per client) stand
    for, regenerated in one vectorized pass per block: shape (clients, out dim)."""
    refs = mechanism.references()
    stream = _SAMPLERS[coder].STREAM
    parts = [
        candidates_at(ref, seed, stream, _philox_blocks(round_, clients, b, len(refs)), idx)
        for b, (ref, idx) in enumerate(zip(refs, per_block, strict=True))
    ]
    return mechanism.join(parts)


def _check_index(value: Any, name: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(name, f"must be an integer, got {value!r}")
    if not 0 <= int(value) < limit:
        raise InputError(name, f"must be in [0, {limit}), got {value}")
    return int(value)


def _codes(mechanism: Mechanism) -> list[IndexCode]:
    if len(mechanism.references()) > _MAX_BLOCKS:
        raise InputError("block_size", f"more than {_MAX_BLOCKS} blocks per client")
    return [IndexCode.zeta(max(0.0, float(k))) for k in mechanism.kl_budget_bits()]


def _search(
    coder: str,
    law: Any,
    ref: Any,
    seed: int,
    block: int,
    alpha: float,
    generator: np.random.Generator,
) -> tuple[int, int]:
    """(index, candidates examined) of one block by the coder's search."""
    log_m = check_pair(law, ref)
    if coder == "ppr":
        return ppr.search(law, ref, seed, block, log_m, alpha, generator, _MAX_STEPS)
    return pfr.search(law, ref, seed, block, log_m, _MAX_STEPS)


@dataclass(frozen=True, eq=False)
class PrivateMessage:
    """One client's message: ``indices`` (uint64, one per block), ``bits`` (ideal code
    length in bits), ``steps`` (candidates the encoder examined) and ``output`` (the
    mechanism output the server will decode, bit for bit; encoder side only)."""

    indices: np.ndarray
    bits: float
    steps: int
    output: np.ndarray


def encode(
    mechanism: Mechanism,
    x: Any,
    *,
    seed: int,
    client: int = 0,
    round: int = 0,
    alpha: float = ppr.DEFAULT_ALPHA,
    coder: str = "ppr",
    generator: np.random.Generator | None = None,
) -> PrivateMessage:
    """Privatize ``x`` with ``mechanism`` and code the output exactly.

    Args:
        mechanism: the local randomizer.
        x: the client's input (shape (mechanism.dim,)); mapped into the domain by
            ``mechanism.prepare`` (clipping, as each mechanism states).
        seed: the shared seed; client, round: select this client's shared candidates.
        alpha: PPR's privacy parameter (> 1).
        coder: ``"ppr"`` or ``"pfr"`` (``"direct"`` has no index: use
            ``mechanism.sample``).
        generator: the client's private randomness (default: fresh OS entropy).

    Returns:
        A :class:`PrivateMessage`.

    Raises:
        InputError: bad input, coder, alpha, client or round.
    """
    coder = _check_coder(coder)
    if coder == "direct":
        raise InputError("coder", "'direct' sends the output itself; use mechanism.sample")
    alpha = ppr.check_alpha(alpha)
    client = _check_index(client, "client", _MAX_CLIENT)
    round_ = _check_index(round, "round", _MAX_ROUND)
    if generator is None:
        generator = np.random.default_rng()
    prepared = mechanism.prepare(x, generator)
    refs = mechanism.references()
    indices, bits, steps = [], 0.0, 0
    laws = mechanism.laws(prepared)
    for b, (law, ref, code) in enumerate(zip(laws, refs, _codes(mechanism), strict=True)):
        block = int(_philox_blocks(round_, np.array([client]), b, len(refs))[0])
        index, examined = _search(coder, law, ref, seed, block, alpha, generator)
        indices.append(index)
        bits += float(code.bits([index])[0])
        steps += examined
    idx = np.array(indices, dtype=np.uint64)
    output = _outputs(
        mechanism, [idx[b : b + 1] for b in range(len(refs))], [client], round_, coder, seed
    )[0]
    return PrivateMessage(idx, bits, steps, output)


def decode(
    mechanism: Mechanism,
    indices: Any,
    *,
    seed: int,
    client: int = 0,
    round: int = 0,
    coder: str = "ppr",
) -> np.ndarray:
    """The mechanism output that ``indices`` (one per block) stand for, float64."""
    coder = _check_coder(coder)
    if coder == "direct":
        raise InputError("coder", "'direct' has nothing to decode")
    refs = mechanism.references()
    idx = np.asarray(indices)
    if idx.shape != (len(refs),) or idx.dtype.kind not in "iu" or (idx < 1).any():
        raise InputError("indices", f"must be {len(refs)} integers >= 1")
    client = _check_index(client, "client", _MAX_CLIENT)
    round_ = _check_index(round, "round", _MAX_ROUND)
    per_block = [idx[b : b + 1].astype(np.uint64) for b in range(len(refs))]
    return _outputs(mechanism, per_block, np.array([client]), round_, coder, seed)[0]


@dataclass(frozen=True, eq=False)
class RoundMessage:
    """Every client's message of one round in one payload.

    ``payload``: the range-coded indices (bytes); ``clients``: how many;
    ``bits``: ideal code length per client (bits, shape (clients,)); ``steps``:
    candidates examined per client; ``outputs``: what the server decodes (encoder side,
    shape (clients, out dim)); ``encode_seconds``: wall time of the encoder."""

    payload: bytes
    clients: int
    bits: np.ndarray
    steps: np.ndarray
    outputs: np.ndarray
    encode_seconds: float


def encode_round(
    mechanism: Mechanism,
    inputs: Any,
    *,
    seed: int,
    round: int = 0,
    alpha: float = ppr.DEFAULT_ALPHA,
    coder: str = "ppr",
    generator: np.random.Generator | None = None,
    progress: Callable[[int], None] | None = None,
) -> RoundMessage:
    """Encode every row of ``inputs`` (shape (clients, dim)) as client ``0 .. n-1`` of
    ``round``; ``progress(k)`` is called after each client. See :func:`encode`."""
    x = np.asarray(inputs, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != mechanism.dim or x.shape[0] < 1:
        raise InputError("inputs", f"must have shape (clients, {mechanism.dim}), got {x.shape}")
    if generator is None:
        generator = np.random.default_rng()
    start = time.perf_counter()
    messages = []
    for c in range(x.shape[0]):
        messages.append(
            encode(
                mechanism,
                x[c],
                seed=seed,
                client=c,
                round=round,
                alpha=alpha,
                coder=coder,
                generator=generator,
            )
        )
        if progress is not None:
            progress(c + 1)
    indices = np.stack([m.indices for m in messages])  # (clients, blocks)
    encoder = SymbolEncoder()
    for b, code in enumerate(_codes(mechanism)):
        code.encode_into(encoder, indices[:, b])
    elapsed = time.perf_counter() - start
    return RoundMessage(
        encoder.to_bytes(),
        x.shape[0],
        np.array([m.bits for m in messages]),
        np.array([m.steps for m in messages]),
        np.stack([m.output for m in messages]),
        elapsed,
    )


def decode_round(
    mechanism: Mechanism,
    payload: bytes,
    clients: int,
    *,
    seed: int,
    round: int = 0,
    coder: str = "ppr",
) -> np.ndarray:
    """The outputs of a round's ``clients`` messages, shape (clients, out dim), decoded in
    one vectorized pass per block (:func:`rdlab.rec.ppr.decode_many`).

    Raises:
        CorruptStreamError: the payload is not exactly the encoding of ``clients`` messages.
        InputError: bad ``clients``, ``round`` or coder.
    """
    coder = _check_coder(coder)
    if coder == "direct":
        raise InputError("coder", "'direct' has nothing to decode")
    n = _check_index(clients, "clients", _MAX_CLIENT)
    if n < 1:
        raise InputError("clients", "must be >= 1")
    round_ = _check_index(round, "round", _MAX_ROUND)
    codes = _codes(mechanism)
    # every index costs at least the code length of index 1 (its most likely value):
    # refuse counts the payload cannot hold before decoding anything
    least = sum(float(code.bits([1])[0]) for code in codes)
    if n * least > 8 * len(payload) + 64:
        raise CorruptStreamError(
            f"a payload of {len(payload)} bytes cannot hold {n} clients' indices"
        )
    try:
        decoder = SymbolDecoder(payload)
        per_block = [code.decode_from(decoder, n) for code in codes]
        decoder.finish("private round")
    except CorruptStreamError:
        raise
    except Exception as exc:  # constriction's own errors on garbage
        raise CorruptStreamError(f"cannot decode the round's indices: {exc}") from None
    return _outputs(mechanism, per_block, np.arange(n), round_, coder, seed)
