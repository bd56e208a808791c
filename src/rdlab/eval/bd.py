"""Bjøntegaard delta (BD-rate, BD-PSNR) between two rate-quality curves.

Each curve is a set of operating points ``(rate, quality)``: rates in any positive unit
(bits per pixel, kbit/s, bytes: only ratios matter) and quality in dB (PSNR, MS-SSIM in
dB, ...). Rates enter as natural logarithms; the BD-rate percentage does not depend on
the base.

Two interpolation methods:

- ``"pchip"`` (default): piecewise cubic Hermite interpolation on the sorted points,
  with the shape-preserving slopes of Fritsch & Carlson as used by MATLAB's ``pchip``
  (weighted harmonic mean inside, the three-point end formula clamped at the ends); this
  is the method of the JCT-VC / JVET common-test-condition spreadsheets
  (JCTVC-L1100, JVET-T2010). Needs at least 2 points per curve (2 points: a line).
- ``"cubic"``: VCEG-M33 (G. Bjøntegaard, "Calculation of average PSNR differences
  between RD-curves", 2001): one cubic polynomial per curve, least-squares fitted (an
  exact fit for 4 points), integrated analytically. Needs at least 4 points per curve.

Both curves are integrated exactly over the overlap of their abscissa ranges (quality
for BD-rate, log-rate for BD-PSNR) and the difference of the integrals is divided by the
overlap's length. Points are sorted by the abscissa first. Points of one curve that
share an abscissa are merged into one whose ordinate is the mean of theirs (for BD-rate,
equal qualities become one point at the geometric mean of their rates); the point counts
above apply after merging. Anchor and test may have different numbers of points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._arrays import float_array
from ..errors import InputError

__all__ = ["METHODS", "bd_psnr", "bd_rate"]

#: Interpolation methods and the number of distinct points each needs per curve.
METHODS = {"pchip": 2, "cubic": 4}

ArrayLike = Sequence[float] | np.ndarray


def _curve(rates: Any, quality: Any, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Checked ``(log_rates, quality)`` of one curve as 1-D float64 arrays."""
    rate_name, quality_name = f"{prefix}_rates", f"{prefix}_quality"
    rate_array = float_array(rates, rate_name)
    quality_array = float_array(quality, quality_name)
    for array, name in ((rate_array, rate_name), (quality_array, quality_name)):
        if array.ndim != 1:
            raise InputError(name, f"must be one-dimensional, got shape {array.shape}")
    if quality_array.size != rate_array.size:
        raise InputError(
            quality_name,
            f"has {quality_array.size} values but {rate_name} has {rate_array.size}",
        )
    if rate_array.size and rate_array.min() <= 0:
        raise InputError(rate_name, f"must be positive, got minimum {rate_array.min()!r}")
    return np.log(rate_array), quality_array


def _merge_sorted(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points sorted by ``x``; points with equal ``x`` merged at the mean of their ``y``."""
    unique_x, inverse = np.unique(x, return_inverse=True)
    sums = np.bincount(inverse, weights=y, minlength=unique_x.size)
    counts = np.bincount(inverse, minlength=unique_x.size)
    return unique_x, sums / counts


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Shape-preserving derivatives at the knots (Fritsch-Carlson / MATLAB ``pchip``)."""
    h = np.diff(x)
    delta = np.diff(y) / h
    if x.size == 2:
        return np.array([delta[0], delta[0]])
    slopes = np.zeros_like(x)
    left, right = delta[:-1], delta[1:]
    h_left, h_right = h[:-1], h[1:]
    same_sign = left * right > 0
    w1 = 2.0 * h_right + h_left
    w2 = h_right + 2.0 * h_left
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 + w2) / (w1 / left + w2 / right)
    slopes[1:-1] = np.where(same_sign, harmonic, 0.0)
    slopes[0] = _pchip_end(h[0], h[1], delta[0], delta[1])
    slopes[-1] = _pchip_end(h[-1], h[-2], delta[-1], delta[-2])
    return slopes


def _pchip_end(h0: float, h1: float, d0: float, d1: float) -> float:
    """Non-centred three-point end slope, clamped to keep the end piece shape-preserving."""
    slope = ((2.0 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
    if slope * d0 <= 0:
        return 0.0
    if d0 * d1 <= 0 and abs(slope) > abs(3.0 * d0):
        return 3.0 * d0
    return slope


def _pchip_integral(x: np.ndarray, y: np.ndarray, low: float, high: float) -> float:
    """Exact integral over ``[low, high]`` (inside ``[x[0], x[-1]]``) of the pchip
    interpolant of sorted, distinct knots ``x``."""
    slopes = _pchip_slopes(x, y)
    h = np.diff(x)
    delta = np.diff(y) / h
    # Piece k in the local variable s = t - x[k]: y_k + d_k s + c2 s^2 + c3 s^3.
    c2 = (3.0 * delta - 2.0 * slopes[:-1] - slopes[1:]) / h
    c3 = (slopes[:-1] + slopes[1:] - 2.0 * delta) / (h * h)
    start = np.clip(low, x[:-1], x[1:]) - x[:-1]
    stop = np.clip(high, x[:-1], x[1:]) - x[:-1]

    def antiderivative(s: np.ndarray) -> np.ndarray:
        return s * (y[:-1] + s * (slopes[:-1] / 2.0 + s * (c2 / 3.0 + s * c3 / 4.0)))

    return float(np.sum(antiderivative(stop) - antiderivative(start)))


def _cubic_integral(x: np.ndarray, y: np.ndarray, low: float, high: float) -> float:
    """Exact integral over ``[low, high]`` of the least-squares cubic through ``(x, y)``.

    The fit is done in the centred, scaled variable ``t = (x - centre) / scale`` (the
    same polynomial as a fit in ``x``, better conditioned).
    """
    centre = 0.5 * (x[0] + x[-1])
    scale = 0.5 * (x[-1] - x[0])
    t = (x - centre) / scale
    coefficients = np.linalg.lstsq(np.vander(t, 4, increasing=True), y, rcond=None)[0]
    integral = np.concatenate([[0.0], coefficients / np.arange(1, 5)])
    t_low, t_high = (low - centre) / scale, (high - centre) / scale
    area = np.polynomial.polynomial.polyval(t_high, integral) - np.polynomial.polynomial.polyval(
        t_low, integral
    )
    return float(scale * area)


def _mean_difference(
    anchor: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    method: str,
    axis_name: str,
) -> float:
    """Mean of ``f_test - f_anchor`` over the overlap of the abscissa ranges, where each
    curve is given as ``(abscissa, ordinate)``."""
    if method not in METHODS:
        raise InputError("method", f"must be one of {sorted(METHODS)}, got {method!r}")
    curves = []
    for (x, y), prefix in ((anchor, "anchor"), (test, "test")):
        x_sorted, y_sorted = _merge_sorted(x, y)
        if x_sorted.size < METHODS[method]:
            raise InputError(
                f"{prefix}_rates",
                f"method {method!r} needs at least {METHODS[method]} points with distinct "
                f"{axis_name}, got {x_sorted.size}",
            )
        curves.append((x_sorted, y_sorted))
    (xa, ya), (xt, yt) = curves
    low, high = max(xa[0], xt[0]), min(xa[-1], xt[-1])
    if not high > low:
        raise InputError(
            "test_quality" if axis_name == "quality" else "test_rates",
            f"the {axis_name} ranges of anchor ({xa[0]:.6g}..{xa[-1]:.6g}) and test "
            f"({xt[0]:.6g}..{xt[-1]:.6g}) do not overlap"
            + (" (log-rates shown)" if axis_name != "quality" else ""),
        )
    integrate = _pchip_integral if method == "pchip" else _cubic_integral
    return (integrate(xt, yt, low, high) - integrate(xa, ya, low, high)) / (high - low)


def bd_rate(
    anchor_rates: ArrayLike,
    anchor_quality: ArrayLike,
    test_rates: ArrayLike,
    test_quality: ArrayLike,
    *,
    method: str = "pchip",
) -> float:
    """Bjøntegaard-delta rate: the average rate difference of the test curve against the
    anchor at equal quality, in percent (negative: the test needs fewer bits).

    Log-rate is interpolated as a function of quality for each curve; the mean log-rate
    difference ``Δ`` over the overlapping quality range gives ``100 * (exp(Δ) - 1)``.
    ``method`` is ``"pchip"`` (JVET CTC) or ``"cubic"`` (VCEG-M33); see the module
    docstring for sorting, duplicates and point counts.
    """
    log_anchor, q_anchor = _curve(anchor_rates, anchor_quality, "anchor")
    log_test, q_test = _curve(test_rates, test_quality, "test")
    delta = _mean_difference((q_anchor, log_anchor), (q_test, log_test), method, "quality")
    return float(100.0 * np.expm1(delta))


def bd_psnr(
    anchor_rates: ArrayLike,
    anchor_quality: ArrayLike,
    test_rates: ArrayLike,
    test_quality: ArrayLike,
    *,
    method: str = "pchip",
) -> float:
    """Bjøntegaard-delta quality: the average quality difference of the test curve
    against the anchor at equal rate, in the unit of the quality (dB for PSNR; positive:
    the test is better).

    Quality is interpolated as a function of log-rate for each curve and the mean
    difference is taken over the overlapping log-rate range. ``method`` as in
    :func:`bd_rate`.
    """
    log_anchor, q_anchor = _curve(anchor_rates, anchor_quality, "anchor")
    log_test, q_test = _curve(test_rates, test_quality, "test")
    return float(_mean_difference((log_anchor, q_anchor), (log_test, q_test), method, "rate"))
