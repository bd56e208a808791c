"""Rate–distortion–perception of the Gaussian source (squared error distortion).

Source X ~ N(0, σ²); reconstruction Y; distortion D = E(X − Y)² (MSE per dimension);
perception P = a divergence between the laws of X and Y; **unlimited common
randomness** between encoder and decoder (what relative entropy coding provides). Rates
in bits per dimension.

For a reconstruction jointly Gaussian with X, ``Y ~ N(0, τ²)`` with covariance c:
``D = σ² + τ² − 2c`` and ``I(X; Y) = −½ log2(1 − c² / (σ² τ²))``; for a given τ the
least rate at distortion D uses ``c = (σ² + τ² − D) / 2`` (rate 0 when c <= 0; τ is
feasible when ``|σ − τ| <= √D``). R(D, P) is then a one-dimensional minimum over τ:

- ``perception="w2"``: P = W2²(P_X, P_Y) = (σ − τ)². **Exact**: jointly Gaussian
  reconstructions are optimal (Zhang, Qian, Chen & Khisti 2021), and the minimum has the
  closed form of :func:`gaussian_rdp_w2`: R(D) itself when ``√P >= σ − √|σ² − D|``,
  otherwise the rate at ``τ = σ − √P``. At P = 0 this is
  ``½ log2(σ⁴ / (σ⁴ − (σ² − D/2)²))`` for ``D <= 2σ²``.
- ``perception="kl"``: P = D_KL(P_X ‖ P_Y) = ½ (σ²/τ² − 1 − ln(σ²/τ²)) **nats**. The
  minimum over jointly Gaussian reconstructions, computed here, is achievable, hence an
  **upper bound** on R(D, P); Serra, Stavrou & Kountouris (2024) study when it is tight
  (not re-derived here).

**Limited common randomness** (:func:`gaussian_rdp_common_randomness`): encoder and
decoder share only ``R_c`` bits per sample. With the output law fixed to P_Y, the
achievable (R, R_c) are those with ``R >= I(X; U)`` and ``R + R_c >= I(U; Y)`` for some
``X − U − Y`` with ``E(X − Y)² <= D`` (Saldi, Linder & Yüksel 2015; Wagner 2022 for
P_Y = P_X). For jointly Gaussian ``U`` and ``Y ~ N(0, τ²)`` with ρ1 = corr(X, U),
ρ2 = corr(U, Y): ``D = σ² + τ² − 2στ ρ1ρ2``, ``I(X; U) = −½ log2(1 − ρ1²)``,
``I(U; Y) = −½ log2(1 − ρ2²)``. For a given τ only the product ρ1ρ2 >= ρ_τ =
``(σ² + τ² − D) / (2στ)`` matters, and the least ``max(I(X; U), I(U; Y) − R_c)``
balances the two terms: with ``c = 2^(−2 R_c)`` and ``x = ρ1²``,
``c x² + (1 − c) x = ρ_τ²``, rate ``−½ log2(1 − x)``, increasing in ρ_τ; so the best τ is
the same as with unlimited common randomness (the feasible τ nearest ``√(σ² − D)``). At
``R_c = ∞`` this is ``−½ log2(1 − ρ_τ²)`` (the functions above); at ``R_c = 0`` and
P = 0 it is ``½ log2(2σ² / D)``, R(D) at twice the MSE.

- P = 0 (perfect realism, either measure): **exact, by citation**. Xie, Li, Chen &
  Zhang (2024, arXiv:2403.14849) obtain the output-constrained distortion–rate function
  explicitly for Gaussian source and output laws; we take it to be the jointly Gaussian
  value computed here, in distortion–rate form
  ``D = σ² + τ² − 2στ √((1 − 2^(−2R))(1 − 2^(−2(R + R_c))))``. The achievability is
  checked here (tests); the converse is theirs and was not re-derived or checked
  against their theorem's text.
- P > 0: the jointly Gaussian value with an i.i.d. N(0, τ²) output is achievable, hence an
  **upper bound**; it is exact only at ``R_c = ∞`` with W2. Xie, Li, Chen, Yu & Zhang
  (2024, arXiv:2409.02388) show that for an i.i.d. output law the known bounds are not
  tight in general at weak perception (non-Gaussian outputs can do better), and Qu,
  Chen, Yu & Xu (2025, arXiv:2504.17236) solve a different formulation (W2² between the
  n-letter laws), which this module does not implement.

:func:`gaussian_remote_rd` is the task-side limit: the rate needed to estimate a
Gaussian task variable seen only through Gaussian noise.

:func:`gaussian_test_channel` returns the optimal channel ``Y = aX + N(0, s²)`` that a
stochastic codec samples (with REC) to reach the point; :func:`gaussian_vector_rdp` splits
D and P over independent components (the componentwise Gaussian optimum, an achievable
upper bound; it equals reverse water-filling when P is large).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq, minimize, minimize_scalar

from ..errors import InputError

__all__ = [
    "PERCEPTIONS",
    "GaussianChannel",
    "gaussian_rdp",
    "gaussian_rdp_common_randomness",
    "gaussian_rdp_w2",
    "gaussian_remote_rd",
    "gaussian_test_channel",
    "gaussian_vector_rdp",
    "perception_of",
]

#: perception measures: name -> what P is
PERCEPTIONS = {
    "w2": "squared Wasserstein-2 distance W2²(P_X, P_Y) (squared data units)",
    "kl": "D_KL(P_X ‖ P_Y) in nats",
}
_GRID = 4001


def _check(name: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(name, f"must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise InputError(name, f"must be finite and {'> 0' if positive else '>= 0'}, got {v}")
    return v


def _check_perception(perception: str) -> str:
    if perception not in PERCEPTIONS:
        raise InputError("perception", f"must be one of {', '.join(PERCEPTIONS)}")
    return perception


def perception_of(tau: float, sigma: float, perception: str) -> float:
    """P between N(0, σ²) and N(0, τ²): W2² = (σ − τ)², or KL(P_X ‖ P_Y) in nats."""
    if _check_perception(perception) == "w2":
        return (sigma - tau) ** 2
    v = (sigma / tau) ** 2
    return 0.5 * (v - 1.0 - math.log(v))


def _rate(tau: float, sigma: float, d: float) -> float:
    """Least I(X; Y) in bits over jointly Gaussian Y ~ N(0, τ²) at distortion d."""
    c = 0.5 * (sigma * sigma + tau * tau - d)
    if c <= 0.0:
        return 0.0
    gap = 1.0 - (c / (sigma * tau)) ** 2
    return math.inf if gap <= 0.0 else -0.5 * math.log2(gap)


def gaussian_rdp_w2(distortion: float, perception: float, variance: float = 1.0) -> float:
    """R(D, P) in bits of N(0, σ²) with P = W2² (closed form; see the module docstring).

    Raises:
        InputError: negative or non-finite D or P, variance <= 0.
    """
    d = _check("distortion", distortion)
    p = _check("perception", perception)
    var = _check("variance", variance, positive=True)
    sigma = math.sqrt(var)
    if d == 0.0:
        return math.inf
    if math.sqrt(p) >= sigma - math.sqrt(abs(var - d)):
        return max(0.0, 0.5 * math.log2(var / d))
    return _rate(sigma - math.sqrt(p), sigma, d)


@dataclass(frozen=True)
class GaussianChannel:
    """The optimal jointly Gaussian test channel ``Y = a X + N(0, s2)`` at (D, P):
    ``tau2`` = Var(Y), ``rate`` = I(X; Y) in bits, ``distortion`` and ``perception`` as
    reached (MSE; the chosen measure's units)."""

    a: float
    s2: float
    tau2: float
    rate: float
    distortion: float
    perception: float


def _tau_interval(sigma: float, d: float, p: float, perception: str) -> tuple[float, float]:
    """τ with |σ − τ| <= √D and perception(τ) <= P (empty: lo > hi)."""
    lo, hi = max(1e-12, sigma - math.sqrt(d)), sigma + math.sqrt(d)
    if perception == "w2":
        return max(lo, sigma - math.sqrt(p)), min(hi, sigma + math.sqrt(p))
    if p == 0.0:
        return max(lo, sigma), min(hi, sigma)

    def excess(tau: float) -> float:
        return perception_of(tau, sigma, "kl") - p

    small = sigma * 1e-9
    t_lo = small if excess(small) <= 0 else brentq(excess, small, sigma)
    big = sigma * 1e9
    t_hi = big if excess(big) <= 0 else brentq(excess, sigma, big)
    return max(lo, t_lo), min(hi, t_hi)


def gaussian_test_channel(
    distortion: float, perception: float, variance: float = 1.0, measure: str = "w2"
) -> GaussianChannel:
    """The jointly Gaussian channel achieving R(D, P) (see the module docstring): the
    rate is minimized over τ on a 4001-point grid of the feasible interval, then refined
    by SciPy's bounded scalar minimizer (tolerance 1e-12 σ in τ).

    Raises:
        InputError: bad arguments, or no τ meets both D and P.
    """
    d = _check("distortion", distortion, positive=True)
    p = _check("perception", perception)
    var = _check("variance", variance, positive=True)
    measure = _check_perception(measure)
    sigma = math.sqrt(var)
    lo, hi = _tau_interval(sigma, d, p, measure)
    if lo > hi * (1 + 1e-15):
        raise InputError("distortion", f"no reconstruction meets D = {d:g} and P = {p:g}")
    if hi - lo <= 1e-15 * sigma:
        tau = lo
    else:
        grid = np.linspace(lo, hi, _GRID)
        rates = np.array([_rate(float(t), sigma, d) for t in grid])
        k = int(np.argmin(rates))
        bracket = (float(grid[max(k - 1, 0)]), float(grid[min(k + 1, _GRID - 1)]))
        refined = minimize_scalar(
            lambda t: _rate(t, sigma, d),
            bounds=bracket,
            method="bounded",
            options={"xatol": 1e-12 * sigma},
        )
        tau = min((float(grid[k]), float(refined.x)), key=lambda t: _rate(t, sigma, d))
    c = max(0.0, 0.5 * (var + tau * tau - d))
    a_coef = c / var
    s2 = max(tau * tau - c * c / var, 0.0)
    reached = var + tau * tau - 2.0 * c
    return GaussianChannel(
        a_coef, s2, tau * tau, _rate(tau, sigma, d), reached, perception_of(tau, sigma, measure)
    )


def gaussian_rdp(
    distortion: Any, perception: float, variance: float = 1.0, measure: str = "w2"
) -> np.ndarray:
    """R(D, P) in bits for each distortion (MSE) in ``distortion``: exact for ``"w2"``
    (closed form), the jointly Gaussian minimum (an achievable upper bound) for
    ``"kl"``; ``inf`` where no reconstruction meets both constraints."""
    measure = _check_perception(measure)
    d = np.atleast_1d(np.asarray(distortion, dtype=np.float64))
    out = np.empty(d.shape)
    for i, di in np.ndenumerate(d):
        if measure == "w2":
            out[i] = gaussian_rdp_w2(float(di), perception, variance)
        else:
            try:
                out[i] = gaussian_test_channel(float(di), perception, variance, measure).rate
            except InputError:
                out[i] = math.inf
    return out


def _check_common_rate(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError("common_rate", f"must be a number (bits per sample), got {value!r}")
    v = float(value)
    if math.isnan(v) or v < 0:
        raise InputError("common_rate", f"must be >= 0 bits per sample (inf allowed), got {v}")
    return v


def _limited_cr_rate(rho: float, common_rate: float) -> float:
    """Least ``max(I(X; U), I(U; Y) − R_c)`` in bits over jointly Gaussian U with
    ``corr(X, U) · corr(U, Y) >= rho``: 0 for rho <= 0, inf for rho >= 1, else the balance
    point ``c x² + (1 − c) x = rho²`` (``c = 2^(−2 R_c)``, ``x = corr(X, U)²``)."""
    if rho <= 0.0:
        return 0.0
    if rho >= 1.0:
        return math.inf
    c = 2.0 ** (-2.0 * common_rate)  # 0.0 at R_c = inf
    # the positive root, written without cancellation (exact at c = 0 and c = 1)
    x = 2.0 * rho * rho / ((1.0 - c) + math.sqrt((1.0 - c) ** 2 + 4.0 * c * rho * rho))
    return -0.5 * math.log1p(-x) / math.log(2.0)


def gaussian_rdp_common_randomness(
    distortion: Any,
    perception: float,
    common_rate: float,
    variance: float = 1.0,
    measure: str = "w2",
) -> np.ndarray:
    """R(D, P) in bits per sample of N(0, σ²) when encoder and decoder share only
    ``common_rate`` bits per sample of common randomness (see the module docstring).

    The jointly Gaussian optimum: the perception- and distortion-feasible τ (Var(Y) = τ²)
    nearest ``√(max(σ² − D, 0))`` minimizes the needed correlation ρ_τ (ρ_τ is convex or
    increasing in τ > 0), then the balance point in closed form. **Exact** at P = 0 (by
    citation: Xie, Li, Chen & Zhang 2024) and at ``common_rate = inf`` with ``"w2"`` (equals
    :func:`gaussian_rdp`); otherwise an achievable **upper bound**.

    Args:
        distortion: MSE per sample, a scalar or array of any shape (each >= 0, finite).
        perception: P >= 0: W2² in squared data units (``"w2"``) or KL(P_X ‖ P_Y) in nats
            (``"kl"``).
        common_rate: R_c >= 0 in bits per sample; ``math.inf`` for unlimited.
        variance: σ² > 0.
        measure: ``"w2"`` or ``"kl"``.

    Returns:
        float64 array of the shape of ``np.atleast_1d(distortion)``: rates in bits per
        sample, 0 where no information is needed, ``inf`` where no reconstruction meets
        both D and P (e.g. D = 0).

    Raises:
        InputError: negative or non-finite distortion or perception, negative or NaN
            common_rate, variance <= 0, unknown measure.
    """
    measure = _check_perception(measure)
    p = _check("perception", perception)
    rc = _check_common_rate(common_rate)
    var = _check("variance", variance, positive=True)
    try:
        d = np.atleast_1d(np.asarray(distortion, dtype=np.float64))
    except (TypeError, ValueError):
        raise InputError("distortion", "must be numbers (MSE per sample)") from None
    if not np.all(np.isfinite(d)) or (d < 0).any():
        raise InputError("distortion", "must be finite and >= 0 (MSE per sample)")
    sigma = math.sqrt(var)
    out = np.empty(d.shape)
    for i, di in np.ndenumerate(d):
        dv = float(di)
        lo, hi = _tau_interval(sigma, dv, p, measure)
        if dv == 0.0 or lo > hi * (1 + 1e-15):
            out[i] = math.inf
            continue
        tau = min(max(math.sqrt(max(var - dv, 0.0)), lo), hi)
        c = 0.5 * (var + tau * tau - dv)  # Cov(X, Y) needed at distortion dv
        rho = 0.0 if c <= 0.0 else min(c / (sigma * tau), 1.0)
        out[i] = _limited_cr_rate(rho, rc)
    return out


def gaussian_vector_rdp(
    variances: Any, distortion: float, perception: float, measure: str = "w2"
) -> tuple[float, np.ndarray]:
    """R(D, P) in bits per vector of independent N(0, σ_i²) components under total MSE
    ``distortion`` and total perception ``perception`` (W2² adds over independent
    components; so does KL), over componentwise jointly Gaussian reconstructions: SLSQP
    over (τ_i, c_i) from the water-filling start. Returns (rate, τ_i).

    Raises:
        InputError: bad arguments.
    """
    var = np.atleast_1d(np.asarray(variances, dtype=np.float64))
    if var.ndim != 1 or var.size == 0 or not np.all(np.isfinite(var)) or (var <= 0).any():
        raise InputError("variances", "must be a non-empty vector of positive numbers")
    d = _check("distortion", distortion, positive=True)
    p = _check("perception", perception)
    measure = _check_perception(measure)
    n = var.size
    sig = np.sqrt(var)
    # start: the R(D) solution (τ_i² = max(σ_i² − θ, 0)), nudged inside
    theta = _water_level(var, d)
    tau0 = np.sqrt(np.maximum(var - theta, 1e-6 * var))
    c0 = np.minimum(tau0 * tau0, sig * tau0 * (1 - 1e-6))

    def unpack(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.abs(z[:n]) + 1e-12, z[n:]

    def rate(z: np.ndarray) -> float:
        tau, c = unpack(z)
        rho2 = np.clip((c / (sig * tau)) ** 2, 0.0, 1.0 - 1e-15)
        return float(np.sum(-0.5 * np.log2(1.0 - rho2)))

    def dist_slack(z: np.ndarray) -> float:
        tau, c = unpack(z)
        return d - float(np.sum(var + tau * tau - 2.0 * c))

    def perc_slack(z: np.ndarray) -> float:
        tau, _ = unpack(z)
        return p - sum(
            perception_of(float(t), float(s), measure) for t, s in zip(tau, sig, strict=True)
        )

    def corr_slack(z: np.ndarray) -> np.ndarray:
        tau, c = unpack(z)
        return sig * tau - np.abs(c)

    best = None
    for start_tau in (tau0, sig.copy()):
        z0 = np.concatenate([start_tau, np.minimum(c0, sig * start_tau * (1 - 1e-6))])
        res = minimize(
            rate,
            z0,
            method="SLSQP",
            constraints=[
                {"type": "ineq", "fun": dist_slack},
                {"type": "ineq", "fun": perc_slack},
                {"type": "ineq", "fun": corr_slack},
            ],
            options={"maxiter": 500, "ftol": 1e-12},
        )
        ok = dist_slack(res.x) > -1e-7 and perc_slack(res.x) > -1e-7
        if ok and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        raise InputError("distortion", f"no reconstruction meets D = {d:g} and P = {p:g}")
    return float(best.fun), unpack(best.x)[0]


def _water_level(var: np.ndarray, d: float) -> float:
    """θ with sum(min(θ, σ_i²)) = D (total), reverse water-filling."""
    if d >= var.sum():
        return float(var.max())
    return float(brentq(lambda t: float(np.minimum(t, var).sum()) - d, 0.0, float(var.max())))


def gaussian_remote_rd(
    distortion: Any, signal_variance: float, noise_variance: float
) -> np.ndarray:
    """Remote-source R(D) in bits: S ~ N(0, σ_s²) is the task variable, the encoder sees
    X = S + N(0, σ_n²), the decoder estimates S under MSE. With
    ``mmse = σ_s² σ_n² / (σ_s² + σ_n²)`` (the error even without compression),
    ``R(D) = ½ log2(σ_s⁴ / ((σ_s² + σ_n²)(D − mmse)))`` for ``mmse < D < σ_s²``, 0 from
    ``σ_s²`` on, ``inf`` at or below mmse (the classical result, e.g. Berger 1971,
    via the Gaussian estimate E[S | X]).

    Raises:
        InputError: non-positive variances or negative distortions.
    """
    vs = _check("signal_variance", signal_variance, positive=True)
    vn = _check("noise_variance", noise_variance)
    d = np.atleast_1d(np.asarray(distortion, dtype=np.float64))
    if not np.all(np.isfinite(d)) or (d < 0).any():
        raise InputError("distortion", "must be finite and >= 0")
    mmse = vs * vn / (vs + vn)
    explained = vs * vs / (vs + vn)  # Var(E[S | X])
    with np.errstate(divide="ignore", invalid="ignore"):
        r = 0.5 * np.log2(explained / (d - mmse))
    return np.where(d <= mmse, np.inf, np.maximum(r, 0.0))
