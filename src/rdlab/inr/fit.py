"""Fitting weight posteriors by the rate-distortion ELBO.

For a batch of patches with targets ``y`` (``(B, n, C)``) the loss is, per patch,

    MSE(y, f_w(x)) + sum_i beta_i KL_i / n          (w ~ q, local reparameterization)

with ``KL_i`` the KL (bits) of weight ``i`` against the prior, ``n`` the samples per
patch, so ``beta`` trades mean squared error per value against bits per sample (the
units of the targets are the modality's normalized units, see :mod:`rdlab.inr.modalities`).
``beta`` may be one number or one per weight (per coding block, steered so each block's
KL meets its budget, see :class:`BlockBetas`). Adam on ``mu`` and ``log_sigma``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError
from ..nn.bayes_inr import BayesianINR

__all__ = ["BlockBetas", "FitReport", "fit_posteriors"]


@dataclass
class FitReport:
    """Last values of a fit: ``mse`` (per value, normalized units), ``kl_bits`` (total over
    the patches), steps taken."""

    mse: float
    kl_bits: float
    steps: int


class BlockBetas:
    """Per-block trade-offs steered towards a KL budget per block.

    ``block_of``: ``(B, P)`` int64 block index of each weight (-1: not coded in blocks);
    every ``adapt_every`` steps each block's ``log2 beta`` moves by ``rate`` times
    ``log2(KL / target_bits)`` clipped to [-1, 1]: up when the block's KL exceeds its
    budget, down when below (COMBINER's rule, made proportional so a block far off its
    budget gets there in tens of updates, not hundreds)."""

    def __init__(
        self,
        block_of: np.ndarray,
        num_blocks: int,
        beta: float,
        target_bits: float,
        *,
        rate: float = 0.05,
    ) -> None:
        self.block_of = torch.as_tensor(block_of, dtype=torch.int64)
        self.num_blocks = int(num_blocks)
        self.log_beta = torch.full((num_blocks,), math.log(beta), dtype=torch.float64)
        self.target_bits = float(target_bits)
        self.step = float(rate) * math.log(2.0)

    def per_weight(self) -> torch.Tensor:
        """``(B, P)`` float32 beta of each weight."""
        beta = torch.exp(self.log_beta).to(torch.float32)
        return beta[self.block_of.clamp(min=0)]

    def block_kl(self, kl: torch.Tensor) -> torch.Tensor:
        """KL (bits) per block from the per-weight ``(B, P)`` KL."""
        out = torch.zeros(self.num_blocks, dtype=torch.float64)
        out.index_add_(0, self.block_of.reshape(-1).clamp(min=0), kl.detach().reshape(-1).double())
        return out

    def adapt(self, kl: torch.Tensor) -> torch.Tensor:
        """One update from the current per-weight KL; returns the KL per block.
        Blocks already coded have no KL left and only drift down, which no longer matters."""
        per_block = self.block_kl(kl)
        ratio = torch.log2(per_block.clamp(min=1e-3) / self.target_bits)
        direction = ratio.clamp(-1.0, 1.0)
        self.log_beta += self.step * direction
        return per_block


def fit_posteriors(
    inr: BayesianINR,
    features: torch.Tensor,
    targets: torch.Tensor,
    *,
    steps: int,
    lr: float,
    beta: float | BlockBetas,
    adapt_every: int = 1,
    adapt_after: int = 0,
    sigma_lr_factor: float = 5.0,
    reparam_lr: float = 1e-3,
    coords_per_step: int | None = None,
    generator: torch.Generator | None = None,
    callback: Callable[[int, float, float], None] | None = None,
    lr_final_ratio: float = 1.0,
) -> FitReport:
    """Run ``steps`` Adam steps on the ELBO. ``features``: ``(n, F)``; ``targets``:
    ``(B, n, C)``. ``coords_per_step``: a random subset of the coordinates per step
    (None: all), for long signals. ``adapt_after``: steps at the starting trade-offs before
    the per-block steering begins (lets the posteriors settle first; steering from the
    first step drives every ``beta`` up while the initial KL is far from its budget).
    ``callback(step, mse, kl_bits)`` after each step. A trainable reparameterization
    (prior learning) is stepped too, at ``reparam_lr``. ``lr_final_ratio``: every step
    size follows a cosine from its start to this fraction of it over the ``steps`` (1:
    constant)."""
    if not (isinstance(lr_final_ratio, (int, float)) and 0 < lr_final_ratio <= 1):
        raise InputError("lr_final_ratio", f"must be a number in (0, 1], got {lr_final_ratio!r}")
    # log sigma moves in log units: a larger step lets the posterior spread (hence the KL)
    # settle as fast as the means fit, instead of the KL being cut through the means
    groups = [
        {"params": [inr.mu], "lr": lr},
        {"params": [inr.log_sigma], "lr": lr * sigma_lr_factor},
    ]
    if inr.reparam is not None and inr.reparam[0].requires_grad:
        groups.append({"params": list(inr.reparam), "lr": reparam_lr})
    optimizer = torch.optim.Adam(groups)
    starts = [group["lr"] for group in optimizer.param_groups]
    n = targets.shape[1]
    mse_value, kl_value = math.nan, math.nan
    for step in range(steps):
        if lr_final_ratio != 1.0:
            factor = lr_final_ratio + (1.0 - lr_final_ratio) * 0.5 * (
                1.0 + math.cos(math.pi * step / max(steps - 1, 1))
            )
            for group, start in zip(optimizer.param_groups, starts, strict=True):
                group["lr"] = start * factor
        if coords_per_step is not None and coords_per_step < n:
            idx = torch.randperm(n, generator=generator)[:coords_per_step]
            feats, tgt = features[idx], targets[:, idx]
        else:
            feats, tgt = features, targets
        out = inr(feats, sample=True)
        mse = ((out - tgt) ** 2).mean(dim=(1, 2))
        kl = inr.kl_bits()
        weights = beta.per_weight() if isinstance(beta, BlockBetas) else beta
        rate = (weights * kl).sum(dim=1) / n
        loss = (mse + rate).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            inr.log_sigma.clamp_(max=inr.prior_log_std + 0.5)
        mse_value, kl_value = float(mse.detach().mean()), float(kl.detach().sum())
        if isinstance(beta, BlockBetas) and step >= adapt_after and (step + 1) % adapt_every == 0:
            beta.adapt(kl)
        if callback is not None:
            callback(step, mse_value, kl_value)
    return FitReport(mse_value, kl_value, steps)
