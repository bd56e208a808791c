"""Code-length and runtime bounds of relative entropy coding (all lengths in bits).

``I`` is D_KL(Q || P) in bits and ``D_inf`` the Renyi infinity divergence
log2 sup dQ/dP in bits.

- :func:`kl_log_bound`: ``I + log2(I + 1)``, the leading terms of the optimal expected
  code length of one-shot channel simulation (Li & El Gamal 2018; Harsha et al.): no
  sampler beats it by more than a constant.
- :func:`pfr_bound`: ``I + log2(I + 1) + 4``, Li & El Gamal's upper bound for the
  Poisson functional representation with a Zipf code of exponent 1 + 1/(I + 1)
  (their constant, converted to bits).
- :func:`gprs_bound`: ``I + log2(I + 2) + 3`` for greedy Poisson rejection sampling
  (the form quoted in rdlab's issue tracker for Flamich 2023).
- :func:`ppr_log_index_bound`: ``I + log2(3.56) / min((α - 1) / 2, 1)``, the bound on
  ``E[log2 K]`` of the Poisson private representation with privacy parameter α > 1
  (Liu, Chen, Özgür & Li 2024); :func:`ppr_bound` adds the Zipf code's
  ``log2(L + 1) + 2`` for ``L`` that bound (the form of the paper's released code).
- :func:`global_steps`: ``2**D_inf``, the expected number of candidates of global A*
  coding / PFR and global GPRS (and of rejection sampling).
- :func:`bb_gprs_steps_bound`: ``2.26 I + 9.66``, the bound on the expected number of
  steps of branch-and-bound GPRS on the real line (Flamich's thesis), linear in I.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "bb_gprs_steps_bound",
    "global_steps",
    "gprs_bound",
    "kl_log_bound",
    "pfr_bound",
    "ppr_bound",
    "ppr_log_index_bound",
]


def _bits(value: ArrayLike) -> np.ndarray:
    v = np.asarray(value, dtype=np.float64)
    if (v < 0).any() or np.isnan(v).any():
        raise ValueError("divergences must be >= 0 (bits)")
    return v


def kl_log_bound(kl_bits: ArrayLike) -> np.ndarray:
    """I + log2(I + 1) bits."""
    i = _bits(kl_bits)
    return i + np.log2(i + 1.0)


def pfr_bound(kl_bits: ArrayLike) -> np.ndarray:
    """I + log2(I + 1) + 4 bits: Li & El Gamal's bound for PFR with a Zipf index code."""
    return kl_log_bound(kl_bits) + 4.0


def gprs_bound(kl_bits: ArrayLike) -> np.ndarray:
    """I + log2(I + 2) + 3 bits (greedy Poisson rejection sampling)."""
    i = _bits(kl_bits)
    return i + np.log2(i + 2.0) + 3.0


def ppr_log_index_bound(kl_bits: ArrayLike, alpha: float) -> np.ndarray:
    """I + log2(3.56) / min((α - 1) / 2, 1) bits: PPR's bound on E[log2 K] (α > 1)."""
    if not alpha > 1.0:
        raise ValueError("alpha must be > 1")
    return _bits(kl_bits) + np.log2(3.56) / min((alpha - 1.0) / 2.0, 1.0)


def ppr_bound(kl_bits: ArrayLike, alpha: float) -> np.ndarray:
    """L + log2(L + 1) + 2 bits with L = :func:`ppr_log_index_bound`: PPR's message."""
    lead = ppr_log_index_bound(kl_bits, alpha)
    return lead + np.log2(lead + 1.0) + 2.0


def global_steps(dinf_bits: ArrayLike) -> np.ndarray:
    """2**D_inf: expected candidates of global PFR / A* coding and global GPRS."""
    return np.exp2(_bits(dinf_bits))


def bb_gprs_steps_bound(kl_bits: ArrayLike) -> np.ndarray:
    """2.26 I + 9.66: expected steps of branch-and-bound GPRS on the real line."""
    return 2.26 * _bits(kl_bits) + 9.66
