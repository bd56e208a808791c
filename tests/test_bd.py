"""Tests of rdlab.eval.bd: exact cases, the bjontegaard package, argument checks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from rdlab.errors import InputError
from rdlab.eval.bd import bd_psnr, bd_rate

bjontegaard = pytest.importorskip("bjontegaard")

METHODS = ["pchip", "cubic"]

# Realistic 4-point curves: (anchor rates, anchor PSNR, test rates, test PSNR).
CURVES = {
    # libx265 presets, kbit/s and dB: the example data of the bjontegaard package README
    # (https://github.com/FAU-LMS/bjontegaard), measured with ffmpeg.
    "x265_presets": (
        [9487.76, 4593.60, 2486.44, 1358.24],
        [40.037, 38.615, 36.845, 34.851],
        [9787.80, 4469.00, 2451.52, 1356.24],
        [40.121, 38.651, 36.970, 34.987],
    ),
    # Its "high bitrates" example (example_usage.py of the same repository).
    "x265_high": (
        [82472.76, 26875.24, 9487.76, 4593.6],
        [43.825, 41.404, 40.037, 38.615],
        [99896.96, 33952.04, 9787.8, 4469.0],
        [44.731, 41.875, 40.121, 38.651],
    ),
    # Typical Kodak-like JPEG (anchor) vs WebP (test) numbers, bpp and RGB PSNR.
    "jpeg_vs_webp": (
        [0.38, 0.61, 0.98, 1.62],
        [27.1, 29.6, 32.0, 34.6],
        [0.27, 0.45, 0.76, 1.30],
        [27.6, 30.0, 32.5, 35.1],
    ),
    # A learned codec vs BPG, bpp and dB, test points not at the anchor's qualities.
    "hyperprior_vs_bpg": (
        [0.13, 0.25, 0.45, 0.78],
        [27.9, 30.0, 32.3, 34.9],
        [0.11, 0.21, 0.40, 0.70, 1.05],
        [27.5, 29.7, 32.2, 34.7, 36.6],
    ),
}


def reference_value(function, curve, method: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its overlap warning
        return function(*curve, method=method, require_matching_points=False, min_overlap=0)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(CURVES))
def test_agrees_with_bjontegaard_package(name: str, method: str) -> None:
    curve = CURVES[name]
    if method == "cubic" and min(len(curve[0]), len(curve[2])) < 4:
        pytest.skip("cubic needs 4 points")
    rate = bd_rate(*curve, method=method)
    quality = bd_psnr(*curve, method=method)
    assert rate == pytest.approx(reference_value(bjontegaard.bd_rate, curve, method), rel=1e-6)
    assert quality == pytest.approx(reference_value(bjontegaard.bd_psnr, curve, method), rel=1e-6)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_bjontegaard_on_random_curves(method: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 4 if method == "cubic" else int(rng.integers(2, 8))
    anchor_rates = np.sort(rng.uniform(0.1, 2.0, n))
    anchor_psnr = 30 + 4 * np.log2(anchor_rates) + rng.normal(0, 0.2, n)
    test_rates = anchor_rates * rng.uniform(0.7, 1.1, n)
    test_psnr = anchor_psnr + rng.normal(0.2, 0.2, n)
    curve = (anchor_rates, np.sort(anchor_psnr), test_rates, np.sort(test_psnr))
    # Hand the reference its points in increasing order (ours sorts by itself).
    order = np.argsort(curve[1]), np.argsort(curve[3])
    ordered = (curve[0][order[0]], curve[1][order[0]], curve[2][order[1]], curve[3][order[1]])
    assert bd_rate(*curve, method=method) == pytest.approx(
        reference_value(bjontegaard.bd_rate, ordered, method), rel=1e-6
    )
    order = np.argsort(curve[0]), np.argsort(curve[2])
    ordered = (curve[0][order[0]], curve[1][order[0]], curve[2][order[1]], curve[3][order[1]])
    assert bd_psnr(*curve, method=method) == pytest.approx(
        reference_value(bjontegaard.bd_psnr, ordered, method), rel=1e-6
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(CURVES))
def test_rates_scaled_by_0_9_give_minus_10_percent(name: str, method: str) -> None:
    rates, quality = CURVES[name][:2]
    scaled = [0.9 * r for r in rates]
    assert bd_rate(rates, quality, scaled, quality, method=method) == pytest.approx(-10.0, abs=1e-9)
    # At equal quality the scaled curve sits log(0.9) to the left: BD-PSNR is the
    # average vertical gap, which for identical curves is 0.
    assert bd_psnr(rates, quality, rates, quality, method=method) == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(CURVES))
def test_quality_shift_gives_bd_psnr(name: str, method: str) -> None:
    rates, quality = CURVES[name][:2]
    shifted = [q + 0.5 for q in quality]
    assert bd_psnr(rates, quality, rates, shifted, method=method) == pytest.approx(0.5, abs=1e-9)
    assert bd_rate(rates, quality, rates, quality, method=method) == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_unit_and_log_base_do_not_matter(method: str) -> None:
    curve = CURVES["jpeg_vs_webp"]
    in_bits = ([r * 1e6 for r in curve[0]], curve[1], [r * 1e6 for r in curve[2]], curve[3])
    assert bd_rate(*in_bits, method=method) == pytest.approx(
        bd_rate(*curve, method=method), rel=1e-10
    )
    assert bd_psnr(*in_bits, method=method) == pytest.approx(
        bd_psnr(*curve, method=method), rel=1e-10
    )


@pytest.mark.parametrize("method", METHODS)
def test_swapping_anchor_and_test_inverts(method: str) -> None:
    a_r, a_q, t_r, t_q = CURVES["x265_presets"]
    forward = bd_rate(a_r, a_q, t_r, t_q, method=method) / 100
    backward = bd_rate(t_r, t_q, a_r, a_q, method=method) / 100
    assert (1 + forward) * (1 + backward) == pytest.approx(1.0, rel=1e-12)
    assert bd_psnr(a_r, a_q, t_r, t_q, method=method) == pytest.approx(
        -bd_psnr(t_r, t_q, a_r, a_q, method=method), rel=1e-12
    )


def test_two_point_pchip_is_linear() -> None:
    # Two points: log-rate linear in quality. Anchor log R = q/10, test log R = q/10 - 0.1
    # on the same range: Δ = -0.1 exactly.
    q = [30.0, 40.0]
    anchor = [math.exp(3.0), math.exp(4.0)]
    test = [math.exp(2.9), math.exp(3.9)]
    assert bd_rate(anchor, q, test, q) == pytest.approx(100 * math.expm1(-0.1), rel=1e-12)


def test_partial_overlap_integrates_only_the_overlap() -> None:
    # Linear curves: anchor log R = q / 10 on 30..40, test = anchor - 0.2 on 35..45.
    anchor_q, test_q = [30.0, 40.0], [35.0, 45.0]
    anchor = [math.exp(q / 10) for q in anchor_q]
    test = [math.exp(q / 10 - 0.2) for q in test_q]
    assert bd_rate(anchor, anchor_q, test, test_q) == pytest.approx(
        100 * math.expm1(-0.2), rel=1e-12
    )


def test_unsorted_input_is_sorted() -> None:
    a_r, a_q, t_r, t_q = CURVES["x265_presets"]
    order = [2, 0, 3, 1]
    shuffled = (
        [a_r[i] for i in order],
        [a_q[i] for i in order],
        [t_r[i] for i in order[::-1]],
        [t_q[i] for i in order[::-1]],
    )
    for method in METHODS:
        assert bd_rate(*shuffled, method=method) == pytest.approx(
            bd_rate(a_r, a_q, t_r, t_q, method=method), rel=1e-12
        )
        assert bd_psnr(*shuffled, method=method) == pytest.approx(
            bd_psnr(a_r, a_q, t_r, t_q, method=method), rel=1e-12
        )


def test_duplicate_quality_merged_at_geometric_mean_rate() -> None:
    a_r, a_q, t_r, t_q = CURVES["jpeg_vs_webp"]
    # Two test points at the same PSNR 30.0 with rates 0.4 and 0.5 act as one point at
    # sqrt(0.4 * 0.5).
    dup_r = [t_r[0], 0.4, 0.5, t_r[2], t_r[3]]
    dup_q = [t_q[0], 30.0, 30.0, t_q[2], t_q[3]]
    merged_r = [t_r[0], math.sqrt(0.4 * 0.5), t_r[2], t_r[3]]
    merged_q = [t_q[0], 30.0, t_q[2], t_q[3]]
    for method in METHODS:
        assert bd_rate(a_r, a_q, dup_r, dup_q, method=method) == pytest.approx(
            bd_rate(a_r, a_q, merged_r, merged_q, method=method), rel=1e-12
        )
    # After merging only 3 distinct qualities remain: too few for the cubic.
    with pytest.raises(InputError, match="distinct"):
        bd_rate(a_r, a_q, dup_r[:4], dup_q[:4], method="cubic")


@pytest.mark.parametrize(
    ("args", "kwargs", "argument", "message"),
    [
        (
            ([1, 2, 3], [30, 31, 32], [1, 2, 3], [30, 31, 32]),
            {"method": "cubic"},
            "anchor_rates",
            "at least 4",
        ),
        (([1], [30], [1, 2], [30, 31]), {}, "anchor_rates", "at least 2"),
        (([1, 2], [30, 31, 32], [1, 2], [30, 31]), {}, "anchor_quality", "values"),
        (([1, 2], [30, 31], [1, 2, 3], [30, 31]), {}, "test_quality", "values"),
        (([1, -2], [30, 31], [1, 2], [30, 31]), {}, "anchor_rates", "positive"),
        (([1, 0], [30, 31], [1, 2], [30, 31]), {}, "anchor_rates", "positive"),
        (([1, 2], [30, 31], [1, math.inf], [30, 31]), {}, "test_rates", "infinite"),
        (([1, 2], [30, math.nan], [1, 2], [30, 31]), {}, "anchor_quality", "NaN"),
        (([1, 2], [30, 31], [1, 2], [40, 41]), {}, "test_quality", "do not overlap"),
        (([1, 2], [30, 31], [1, 2], [31, 32]), {}, "test_quality", "do not overlap"),
        (([1, 2], [30, 31], [1, 2], [30, 31]), {"method": "akima"}, "method", "pchip"),
        (([[1, 2]], [[30, 31]], [1, 2], [30, 31]), {}, "anchor_rates", "one-dimensional"),
    ],
)
def test_bd_rate_input_errors(args, kwargs, argument: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        bd_rate(*args, **kwargs)
    assert info.value.argument == argument


def test_bd_psnr_no_rate_overlap() -> None:
    with pytest.raises(InputError, match="do not overlap") as info:
        bd_psnr([1, 2], [30, 31], [3, 4], [30, 31])
    assert info.value.argument == "test_rates"


def test_pchip_integral_matches_scipy_on_non_monotone_data() -> None:
    from scipy.interpolate import PchipInterpolator

    from rdlab.eval.bd import _pchip_integral

    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(2, 9))
        x = np.sort(rng.uniform(0, 10, n))
        if np.any(np.diff(x) < 1e-3):
            continue
        y = rng.normal(0, 1, n)
        y[int(rng.integers(0, n))] = y[0]  # flat pieces and sign changes of the slope
        low, high = np.sort(rng.uniform(x[0], x[-1], 2))
        expected = PchipInterpolator(x, y).integrate(low, high)
        assert _pchip_integral(x, y, low, high) == pytest.approx(expected, rel=1e-12, abs=1e-12)
