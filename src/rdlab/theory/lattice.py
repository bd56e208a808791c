"""Lattice quantizer figures of merit.

The normalized second moment of a lattice Λ ⊂ R^n with Voronoi cell V of volume |V| is

    G(Λ) = (1/n) · E||e||² / |V|^(2/n),   e uniform over V,

and its high-rate gap to the Gaussian R(D) (the space-filling loss) is
10·log10(2πe·G) dB, i.e. ½·log2(2πe·G) bits per dimension; G → 1/(2πe) as n → ∞.

Reference values (Conway & Sloane, "Sphere Packings, Lattices and Groups", 3rd ed.,
Springer 1999, Ch. 2 Table 2.3; and "Voronoi regions of lattices, second moments of
polytopes, and quantization", IEEE Trans. Inf. Theory 28(2):211–226, 1982): see
:data:`KNOWN_G`.

The exact nearest-point algorithms themselves (Z^n, A_n, D_n, D_n*, E8, BW16, Leech) live
in :mod:`rdlab.lattice` (torch); this module stays numpy-only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._arrays import float_array
from ..errors import InputError

__all__ = [
    "KNOWN_G",
    "high_rate_gap_bits",
    "high_rate_gap_db",
    "normalized_second_moment",
    "normalized_second_moment_mc",
]

#: Normalized second moments of known lattices (Conway & Sloane 1999, Table 2.3):
#: Z (any n) 1/12; A2 (hexagonal) 5/(36·√3); D4; E8; Barnes–Wall BW16; Leech Λ24.
KNOWN_G: dict[str, float] = {
    "Z": 1.0 / 12.0,
    "A2": 5.0 / (36.0 * np.sqrt(3.0)),
    "D4": 0.0766032,
    "E8": 0.0716821,
    "BW16": 0.0682976,
    "Leech": 0.0657714,
}

_TWO_PI_E = 2.0 * np.pi * np.e


def normalized_second_moment(errors: Any, volume: float) -> float:
    """G = (1/n)·mean||e||² / V^(2/n) from quantization errors ``errors`` (N, n) that are
    uniform over the Voronoi cell of volume ``volume``."""
    e = float_array(errors, "errors")
    if e.ndim != 2 or e.shape[0] < 1 or e.shape[1] < 1:
        raise InputError("errors", f"must be an (N, n) array, got shape {e.shape}")
    v = float_array(volume, "volume")
    if v.ndim != 0 or not v > 0:
        raise InputError("volume", f"must be a positive number, got {volume!r}")
    n = e.shape[1]
    return float(np.mean(np.sum(e * e, axis=1)) / n / float(v) ** (2.0 / n))


def normalized_second_moment_mc(
    nearest_point: Callable[[np.ndarray], np.ndarray],
    generator: Any,
    samples: int = 200_000,
    seed: int = 0,
) -> float:
    """Monte-Carlo G of the lattice with rows of ``generator`` as basis vectors.

    Points x = u·B with u uniform on [0, 1)^n cover one fundamental cell uniformly, so the
    errors x − Q(x) are uniform over the Voronoi cell; V = |det B|. ``nearest_point`` maps
    (N, n) points to their nearest lattice points (N, n)."""
    b = float_array(generator, "generator")
    if b.ndim != 2 or b.shape[0] != b.shape[1]:
        raise InputError("generator", f"must be a square matrix, got shape {b.shape}")
    volume = abs(float(np.linalg.det(b)))
    if volume <= 0:
        raise InputError("generator", "is singular")
    if not isinstance(samples, (int, np.integer)) or samples < 1:
        raise InputError("samples", f"must be a positive integer, got {samples!r}")
    x = np.random.default_rng(seed).random((samples, b.shape[0])) @ b
    return normalized_second_moment(x - nearest_point(x), volume)


def high_rate_gap_db(g: Any) -> np.ndarray:
    """10·log10(2πe·G) dB: the lattice quantizer's high-rate distance to R(D)."""
    return 10.0 * np.log10(_TWO_PI_E * float_array(g, "g"))


def high_rate_gap_bits(g: Any) -> np.ndarray:
    """½·log2(2πe·G) bits per dimension (1.53 dB ↔ 0.254 bit for Z)."""
    return 0.5 * np.log2(_TWO_PI_E * float_array(g, "g"))
