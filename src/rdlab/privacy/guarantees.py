"""Differential-privacy statements and the exact calibration of the Gaussian mechanism.

A mechanism M is (ε, δ)-differentially private when, for every pair of neighbouring
datasets D, D' and every event S, P[M(D) ∈ S] ≤ e^ε·P[M(D') ∈ S] + δ. :class:`PureDP` is
the case δ = 0, :class:`ApproxDP` the case δ > 0.

Units used throughout :mod:`rdlab.privacy`:

==================  ==========================================================
quantity            unit
==================  ==========================================================
ε (epsilon)         nats: the privacy loss is a natural logarithm (e^ε, not 2^ε)
δ (delta)           a probability, in (0, 1)
L2 sensitivity      the data's units: max ‖f(D) − f(D')‖₂ over neighbours (Gaussian)
L1 sensitivity      the data's units: max ‖f(D) − f(D')‖₁ over neighbours (Laplace)
noise multiplier    dimensionless: Gaussian noise std / L2 sensitivity (per coordinate;
                    the same multiplier holds for a vector of any dimension because
                    the sensitivity is a norm of the whole vector)
Laplace scale       the data's units: b in the density exp(−|x|/b)/(2b), per coordinate
==================  ==========================================================

The Gaussian mechanism with L2 sensitivity 1 and noise std ``s`` (the noise multiplier)
is (ε, δ(ε))-DP for exactly (Balle & Wang 2018, "Improving the Gaussian mechanism for
differential privacy: analytical calibration and optimal denoising", Theorem 8)

    δ(ε) = Φ(1/(2s) − ε·s) − e^ε·Φ(−1/(2s) − ε·s),

and for no smaller δ. :func:`gaussian_delta` evaluates it in the log domain with
:func:`scipy.special.log_ndtr` (log δ = a + log(−expm1(b − a)) with a, b the logs of the
two terms), so that nothing overflows for large ε and tiny δ keep their relative
accuracy. :func:`gaussian_epsilon` and :func:`gaussian_noise_multiplier` invert it with
:func:`scipy.optimize.brentq` on log δ (the latter on log s) to a relative tolerance of
1e-10, and round the result to the safe side (the returned ε or s satisfies
δ(ε; s) ≤ δ).

Which ε values are allowed: ε > 0 where ε is a pure-DP statement or a budget that must
be met with a finite amount of noise (:class:`PureDP`, :func:`laplace_scale`);
ε ≥ 0 where ε is a point on a privacy curve (:func:`gaussian_delta`,
:func:`gaussian_noise_multiplier`) or part of an (ε, δ) statement (:class:`ApproxDP`:
(0, δ)-DP is a meaningful statement, δ is then a total-variation bound). ε must be
finite everywhere; δ must lie in the open interval (0, 1).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.special import log_ndtr

from ..errors import InputError

__all__ = [
    "ApproxDP",
    "Guarantee",
    "PureDP",
    "gaussian_delta",
    "gaussian_epsilon",
    "gaussian_noise_multiplier",
    "laplace_scale",
]

#: Relative tolerance of the root finders (in ε, and in the noise multiplier).
RTOL = 1e-10
#: Absolute tolerance of ε near ε = 0 (nats).
_EPS_XTOL = 1e-14
#: Bracket expansion limit: ε searched up to 2**_MAX_DOUBLINGS nats, s in e^±600.
_MAX_DOUBLINGS = 64
_LOG_S_LIMIT = 600.0


def _real(name: str, value: Any) -> float:
    """``value`` as a finite float, or :class:`InputError` naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InputError(name, f"must be a real number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise InputError(name, f"must be finite, got {x}")
    return x


def _check_epsilon(value: Any, *, allow_zero: bool, name: str = "epsilon") -> float:
    x = _real(name, value)
    if allow_zero and x < 0:
        raise InputError(name, f"must be >= 0, got {_fmt(x)}")
    if not allow_zero and x <= 0:
        raise InputError(name, f"must be > 0, got {_fmt(x)}")
    return x


def _check_delta(value: Any, name: str = "delta") -> float:
    x = _real(name, value)
    if not 0.0 < x < 1.0:
        raise InputError(name, f"must be in (0, 1), got {_fmt(x)}")
    return x


def _check_positive(name: str, value: Any) -> float:
    x = _real(name, value)
    if x <= 0:
        raise InputError(name, f"must be > 0, got {_fmt(x)}")
    return x


def _fmt(x: float) -> str:
    """Shortest exact text of a float, without a trailing '.0' ('2', '1e-05', '0.5')."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


@dataclass(frozen=True)
class PureDP:
    """An ε-DP statement (δ = 0).

    Attributes:
        epsilon: privacy loss bound in nats; finite and > 0 (0-DP would be a mechanism
            whose output ignores the data: nothing to account for).

    Raises:
        InputError: ``epsilon`` is not a finite number > 0.
    """

    epsilon: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", _check_epsilon(self.epsilon, allow_zero=False))

    @property
    def delta(self) -> float:
        """Always 0.0 (so code can read ``g.delta`` of any :data:`Guarantee`)."""
        return 0.0

    def to_json(self) -> dict[str, Any]:
        """``{"type": "pure", "epsilon": ε}`` (ε in nats)."""
        return {"type": "pure", "epsilon": self.epsilon}

    def __str__(self) -> str:
        return f"{_fmt(self.epsilon)}-DP"


@dataclass(frozen=True)
class ApproxDP:
    """An (ε, δ)-DP statement with δ > 0.

    Attributes:
        epsilon: privacy loss bound in nats; finite and >= 0 ((0, δ)-DP is allowed: the
            output distributions on neighbours are then within total variation δ).
        delta: failure probability, in the open interval (0, 1).

    Raises:
        InputError: ``epsilon`` is negative or not finite, or ``delta`` is not in (0, 1).
    """

    epsilon: float
    delta: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", _check_epsilon(self.epsilon, allow_zero=True))
        object.__setattr__(self, "delta", _check_delta(self.delta))

    def to_json(self) -> dict[str, Any]:
        """``{"type": "approx", "epsilon": ε, "delta": δ}`` (ε in nats)."""
        return {"type": "approx", "epsilon": self.epsilon, "delta": self.delta}

    def __str__(self) -> str:
        return f"({_fmt(self.epsilon)}, {_fmt(self.delta)})-DP"


Guarantee = PureDP | ApproxDP
"""A differential-privacy statement: :class:`PureDP` or :class:`ApproxDP`."""


def _gaussian_log_delta(epsilon: float, s: float) -> float:
    """log δ(ε) of the Gaussian mechanism (sensitivity 1, std ``s``); no validation.

    With a = log Φ(1/(2s) − εs) and b = ε + log Φ(−1/(2s) − εs) (b < a), δ = e^a − e^b,
    so log δ = a + log(−expm1(b − a)). Returns a very negative finite number instead of
    −inf when b − a rounds to 0 (only for δ far below the smallest float).
    """
    half = 0.5 / s
    a = float(log_ndtr(half - epsilon * s))
    b = epsilon + float(log_ndtr(-half - epsilon * s))
    gap = -math.expm1(b - a)
    if gap <= 0.0:
        return -1e300
    return a + math.log(gap)


def gaussian_delta(epsilon: float, noise_multiplier: float) -> float:
    """Exact δ(ε) of the Gaussian mechanism (Balle & Wang 2018, analytic Gaussian).

    δ(ε) = Φ(1/(2s) − εs) − e^ε·Φ(−1/(2s) − εs), with s = ``noise_multiplier``, for a
    query of L2 sensitivity 1 (a query of sensitivity Δ with noise std σ has s = σ/Δ).
    Computed in the log domain; no overflow for large ε (the result underflows to 0.0
    only where δ < 1e-308).

    Args:
        epsilon: ε in nats, finite and >= 0 (δ(0) is the total variation distance).
        noise_multiplier: s = noise std / L2 sensitivity, finite and > 0.

    Returns:
        δ, a probability in [0, 1): the smallest δ for which the mechanism is (ε, δ)-DP.

    Raises:
        InputError: an argument is NaN, infinite or out of range.
    """
    eps = _check_epsilon(epsilon, allow_zero=True)
    s = _check_positive("noise_multiplier", noise_multiplier)
    return math.exp(_gaussian_log_delta(eps, s))


def gaussian_epsilon(noise_multiplier: float, delta: float) -> float:
    """Smallest ε (nats) for which the Gaussian mechanism is (ε, δ)-DP.

    Inverts :func:`gaussian_delta` in ε: brackets the root by doubling ε, then
    :func:`scipy.optimize.brentq` on log δ(ε) − log δ, relative tolerance 1e-10 (plus an
    absolute 1e-14 near ε = 0); the result is nudged up if needed so that
    ``gaussian_delta(result, noise_multiplier) <= delta``.

    Args:
        noise_multiplier: s = noise std / L2 sensitivity, finite and > 0.
        delta: target δ in (0, 1).

    Returns:
        ε >= 0 in nats; 0.0 when δ(0) = 2Φ(1/(2s)) − 1 is already <= ``delta``.

    Raises:
        InputError: an argument is NaN, infinite or out of range.
    """
    s = _check_positive("noise_multiplier", noise_multiplier)
    d = _check_delta(delta)
    log_target = math.log(d)

    def f(eps: float) -> float:
        return _gaussian_log_delta(eps, s) - log_target

    if f(0.0) <= 0.0:
        return 0.0
    lo, hi = 0.0, 1.0
    for _ in range(_MAX_DOUBLINGS):
        if f(hi) <= 0.0:
            break
        lo, hi = hi, 2.0 * hi
    else:  # pragma: no cover - needs s below ~1e-10 with δ near 1e-300
        raise InputError("noise_multiplier", f"epsilon exceeds 2**{_MAX_DOUBLINGS} nats")
    root = float(brentq(f, lo, hi, xtol=_EPS_XTOL, rtol=RTOL))
    step = _EPS_XTOL + RTOL * root
    for _ in range(8):
        if f(root) <= 0.0:
            break
        root += step
    return min(root, hi)


def gaussian_noise_multiplier(epsilon: float, delta: float) -> float:
    """Smallest noise multiplier s for which the Gaussian mechanism is (ε, δ)-DP.

    δ(ε; s) decreases in s, so the answer is the root of log δ(ε; s) = log δ, found with
    :func:`scipy.optimize.brentq` on u = log s (bracket: u = 0 ± 1, 2, 4, ..., capped
    at |u| <= 600), absolute tolerance 1e-11 in u, i.e. relative 1e-10 in s. The result
    is nudged up if needed so that ``gaussian_delta(epsilon, result) <= delta``.

    Args:
        epsilon: ε in nats, finite and >= 0.
        delta: δ in (0, 1).

    Returns:
        s = noise std / L2 sensitivity (dimensionless), > 0.

    Raises:
        InputError: an argument is NaN, infinite or out of range, or no s in
            [e^-600, e^600] reaches (ε, δ).
    """
    eps = _check_epsilon(epsilon, allow_zero=True)
    d = _check_delta(delta)
    log_target = math.log(d)

    def g(u: float) -> float:
        return _gaussian_log_delta(eps, math.exp(u)) - log_target

    lo = hi = 0.0
    step = 1.0
    while g(hi) > 0.0:
        lo, hi = hi, hi + step
        step *= 2.0
        if hi > _LOG_S_LIMIT:
            raise InputError(
                "delta", f"no noise multiplier <= e^{_LOG_S_LIMIT:g} reaches ({eps}, {d})-DP"
            )
    if lo == hi:
        step = 1.0
        while g(lo) <= 0.0:
            hi, lo = lo, lo - step
            step *= 2.0
            if lo < -_LOG_S_LIMIT:
                raise InputError(
                    "epsilon",
                    f"no noise multiplier >= e^-{_LOG_S_LIMIT:g} is needed for ({eps}, {d})",
                )
    xtol = RTOL / 10.0
    root = float(brentq(g, lo, hi, xtol=xtol))
    for _ in range(8):
        if g(root) <= 0.0:
            break
        root += xtol
    return math.exp(min(root, hi))


def laplace_scale(epsilon: float, l1_sensitivity: float) -> float:
    """Laplace scale b = Δ₁/ε that makes the Laplace mechanism ε-DP.

    Args:
        epsilon: ε in nats, finite and > 0.
        l1_sensitivity: Δ₁ = max ‖f(D) − f(D')‖₁ in the data's units, finite and > 0.

    Returns:
        b in the data's units (per coordinate: noise density exp(−|x|/b)/(2b)).

    Raises:
        InputError: an argument is NaN, infinite or <= 0.
    """
    eps = _check_epsilon(epsilon, allow_zero=False)
    sens = _check_positive("l1_sensitivity", l1_sensitivity)
    return sens / eps
