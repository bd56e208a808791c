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
- :func:`global_steps`: ``2**D_inf``, the expected number of candidates of global A*
  coding / PFR and global GPRS (and of rejection sampling).
- :func:`bb_gprs_steps_bound`: ``2.26 I + 9.66``, the bound on the expected number of
  steps of branch-and-bound GPRS on the real line (Flamich's thesis), linear in I.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["bb_gprs_steps_bound", "global_steps", "gprs_bound", "kl_log_bound", "pfr_bound"]


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


def global_steps(dinf_bits: ArrayLike) -> np.ndarray:
    """2**D_inf: expected candidates of global PFR / A* coding and global GPRS."""
    return np.exp2(_bits(dinf_bits))


def bb_gprs_steps_bound(kl_bits: ArrayLike) -> np.ndarray:
    """2.26 I + 9.66: expected steps of branch-and-bound GPRS on the real line."""
    return 2.26 * _bits(kl_bits) + 9.66
