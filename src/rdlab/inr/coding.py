"""Coding the weights of a signal's patches with relative entropy coding.

Encoder (COMBINER's procedure):

1. lay out the weights in blocks (:func:`rdlab.inr.blocks.block_layout`);
2. fit the posteriors by the ELBO with one trade-off per block, steered so each block's
   KL meets ``block_kl_target`` bits (:class:`rdlab.inr.fit.BlockBetas`);
3. code the blocks group by group with blockwise ordered random coding
   (:func:`rdlab.rec.blockwise.encode_blocks`, ``2^k`` candidates, ``k`` bits per
   block), fixing each coded block to its sample, and **fine-tune** the posteriors of the
   blocks still to come after each group, so they make up for the coded samples' noise.

The payload is the ``k``-bit indices of all blocks in coding order, bit-packed (most
significant bit first): exactly ``ceil(k * blocks / 8)`` bytes. Decoder: regenerate
the chosen candidates from the shared randomness (:func:`rdlab.rec.blockwise.decode_blocks`)
and put them back in weight order: bit-exact float64 weights on every machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import CountMismatchError, FormatError
from ..nn.bayes_inr import BayesianINR, fourier_features
from ..rec.blockwise import decode_blocks, encode_blocks
from ..rec.messages import IndexCode, encode_indices
from .blocks import MAX_BLOCK_DIMS, block_layout, min_blocks
from .fit import BlockBetas, fit_posteriors
from .modalities import get_modality
from .model_file import INRModel

__all__ = [
    "DEFAULT_FIT",
    "EncodedWeights",
    "decode_weights",
    "encode_weights",
    "fit_settings",
    "pack_indices",
    "unpack_indices",
]

#: encoder settings used when a model file does not give them
DEFAULT_FIT = {
    "steps": 1500,
    "fine_tune_steps": 60,
    "groups": 12,
    "lr": 2e-3,
    "log2_candidates": 16,
    "block_kl_target": 16.0,
    "coords_per_step": None,
    "max_coords_per_step": None,
    "lr_final_ratio": 1.0,
    "selection": "sample",
}


def fit_settings(model: INRModel, **overrides: object) -> dict[str, object]:
    """The model's encoder settings over its modality's
    (:attr:`rdlab.inr.modalities.Modality.fit`) over :data:`DEFAULT_FIT`, then
    ``overrides`` (None values ignored)."""
    out = dict(DEFAULT_FIT)
    out.update(get_modality(model.modality).fit)
    out.update({k: v for k, v in model.fit.items() if k in DEFAULT_FIT})
    out.update({k: v for k, v in overrides.items() if v is not None})
    return out


@dataclass
class EncodedWeights:
    """``payload``: the indices' bytes; ``weights``: the coded vectors, float64 ``(B, P)``
    exactly as the decoder rebuilds them (the latent ``h`` of a reparameterized model: the
    network's weights are ``model.network_weights(weights)``); ``block_kl_bits``: KL of
    each block when it was coded; ``payload_bits``: ``k`` times the blocks."""

    payload: bytes
    weights: np.ndarray
    block_kl_bits: np.ndarray
    payload_bits: int


def encode_weights(
    model: INRModel,
    coords: np.ndarray,
    patches: np.ndarray,
    *,
    num_blocks: int,
    seed: int,
    settings: dict[str, object] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    torch_seed: int = 0,
) -> EncodedWeights:
    """Fit and code the weights for ``patches`` (``(B, n, C)`` normalized targets at the
    patch ``coords`` ``(n, in_dim)``) in ``num_blocks`` blocks. ``progress(stage, done,
    total)`` is called as fitting and coding advance."""
    s = dict(settings or fit_settings(model))
    k = int(s["log2_candidates"])
    torch.manual_seed(torch_seed)
    gen = torch.Generator().manual_seed(torch_seed)
    num_patches = patches.shape[0]
    layout = block_layout(model.kl_profile, num_patches, num_blocks, seed)
    feats = fourier_features(torch.as_tensor(coords, dtype=torch.float32), model.config)
    targets = torch.as_tensor(np.asarray(patches, dtype=np.float32))
    inr = BayesianINR(
        model.config, num_patches, model.prior_mean, model.prior_std, reparam=model.reparam
    )
    betas = BlockBetas(layout.block_of, layout.num_blocks, model.beta, float(s["block_kl_target"]))
    steps, tune = int(s["steps"]), int(s["fine_tune_steps"])
    groups = max(1, min(int(s["groups"]), layout.num_blocks))
    total_steps = steps + tune * (groups - 1)
    done = 0

    def tick(step: int, mse: float, kl: float) -> None:
        nonlocal done
        done += 1
        if progress is not None and (done % 10 == 0 or done == total_steps):
            progress("fit", done, total_steps)

    cps = s.get("coords_per_step")
    budget = s.get("max_coords_per_step")
    if not cps and budget and num_patches * patches.shape[1] > int(budget):
        # a large signal: each step fits a random subset of every patch's coordinates,
        # so a step costs what the budget allows whatever the signal's size (the encoder
        # only: the format and the decoder do not change)
        cps = max(64, int(budget) // num_patches)
    fit_kwargs = {
        "lr": float(s["lr"]),
        "coords_per_step": int(cps) if cps else None,
        "generator": gen,
        "callback": tick,
    }
    final = float(s["lr_final_ratio"])
    fit_posteriors(
        inr, feats, targets, steps=steps, beta=betas, adapt_after=steps // 3,
        lr_final_ratio=final, **fit_kwargs,
    )  # fmt: skip
    if final != 1.0:  # fine-tuning goes on at the step size the fit ended with
        fit_kwargs["lr"] = float(s["lr"]) * final

    prior_mean = layout.to_order(np.tile(model.prior_mean, num_patches))
    prior_std = layout.to_order(np.tile(model.prior_std, num_patches))
    bounds = np.linspace(0, layout.num_blocks, groups + 1).round().astype(np.int64)
    indices = np.empty(layout.num_blocks, dtype=np.uint64)
    block_kl = np.empty(layout.num_blocks, dtype=np.float64)
    coded = np.empty(layout.partition.dim, dtype=np.float64)  # samples, coding order
    for g in range(groups):
        sel = np.arange(bounds[g], bounds[g + 1])
        with torch.no_grad():
            mu = layout.to_order(inr.mu.detach().double().numpy())
            sigma = layout.to_order(torch.exp(inr.log_sigma.detach().double()).numpy())
            block_kl[sel] = betas.block_kl(inr.kl_bits()).numpy()[sel]
        message = encode_blocks(
            mu, sigma, prior_mean, prior_std, seed, layout.partition,
            log2_candidates=k, blocks=sel, selection=str(s["selection"]),
        )  # fmt: skip
        indices[sel] = message.indices
        positions = layout.partition.positions(sel)
        coded[positions] = message.sample
        inr.fix(layout.order[positions], message.sample)
        if progress is not None:
            progress("code", int(bounds[g + 1]), layout.num_blocks)
        if g + 1 < groups and tune > 0:
            fit_posteriors(inr, feats, targets, steps=tune, beta=betas, **fit_kwargs)
    payload = pack_indices(indices, k)
    weights = layout.from_order(coded).reshape(num_patches, model.num_params)
    return EncodedWeights(payload, weights, block_kl, k * layout.num_blocks)


def pack_indices(indices: np.ndarray, k: int) -> bytes:
    """1-based candidate indices (``1 .. 2^k``) as ``k``-bit fields, MSB first."""
    values = np.asarray(indices, dtype=np.uint64) - np.uint64(1)
    shifts = np.arange(k - 1, -1, -1, dtype=np.uint64)
    bits = ((values[:, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits.reshape(-1)).tobytes()


def _check_payload(data: bytes, count: int, k: int) -> None:
    """Refuse a payload that is not ``count`` ``k``-bit fields: another length
    (:class:`~rdlab.errors.CountMismatchError`), or padding bits after the last field that
    are not zero (the encoder writes zeros: :class:`~rdlab.errors.FormatError`)."""
    if len(data) != -(-count * k // 8):
        raise CountMismatchError(
            f"the weight payload has {len(data)} bytes, {count} blocks of {k} bits need "
            f"{-(-count * k // 8)}"
        )
    padding = -count * k % 8
    if padding and data[-1] & ((1 << padding) - 1):
        raise FormatError("the weight payload's padding bits after its last block are not zero")


def unpack_indices(data: bytes, count: int, k: int) -> np.ndarray:
    """Inverse of :func:`pack_indices`; refuses a payload of the wrong length or with
    padding bits that are not zero (:class:`~rdlab.errors.FormatError`)."""
    _check_payload(data, count, k)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=count * k)
    weights = np.uint64(1) << np.arange(k - 1, -1, -1, dtype=np.uint64)
    values = (bits.reshape(count, k).astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return values + np.uint64(1)


def decode_weights(
    model: INRModel,
    payload: bytes,
    *,
    num_patches: int,
    num_blocks: int,
    seed: int,
    log2_candidates: int,
) -> np.ndarray:
    """The float64 vectors ``(num_patches, num_params)`` coded in ``payload`` (the latent
    ``h`` of a reparameterized model; see :meth:`INRModel.network_weights`).

    Before any allocation, the block count must be one the encoder can use for that
    many weights (``min_blocks(weights) .. weights``: every block holds 1 to
    :data:`~rdlab.inr.blocks.MAX_BLOCK_DIMS` weights, so the payload's length bounds the
    signal's size) and the payload exactly its ``k``-bit fields.

    Raises:
        CountMismatchError: the block count does not fit the weights, or the payload's
            length does not fit the block count.
        FormatError: the payload's padding bits are not zero.
    """
    weights = int(num_patches) * int(model.num_params)
    fewest = min_blocks(weights) if weights <= MAX_BLOCK_DIMS * num_blocks else None
    if fewest is None or not fewest <= num_blocks <= weights:
        raise CountMismatchError(
            f"the INR file declares {num_blocks} blocks for {num_patches} patches of "
            f"{model.num_params} weights, which need "
            f"{'more' if fewest is None else f'{fewest} to {weights}'} blocks"
        )
    _check_payload(payload, num_blocks, log2_candidates)
    layout = block_layout(model.kl_profile, num_patches, num_blocks, seed)
    prior_mean = layout.to_order(np.tile(model.prior_mean, num_patches))
    prior_std = layout.to_order(np.tile(model.prior_std, num_patches))
    indices = unpack_indices(payload, layout.num_blocks, log2_candidates)
    coded, _ = encode_indices(IndexCode.fixed(log2_candidates), indices)
    ordered = decode_blocks(
        coded, prior_mean, prior_std, seed, layout.partition, log2_candidates=log2_candidates
    )
    return layout.from_order(ordered).reshape(num_patches, model.num_params)
