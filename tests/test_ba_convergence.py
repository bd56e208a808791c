"""Certified Blahut–Arimoto (``certify=True``): the reported gap really bounds the error.

Checks against references that are themselves achievable points (so their objective is an
upper bound on the optimum, whether or not they converged) and against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from rdlab.data.sources import BananaSource
from rdlab.theory import (
    binary_rd,
    blahut_arimoto,
    blahut_arimoto_grid_2d,
    slopes_for_distortions,
)

LN2 = float(np.log(2.0))


def _objective(res) -> np.ndarray:
    """F = R + s·D per dimension in bits (s in nats per unit of total distortion)."""
    return res.rate + res.slopes * res.distortion_total / res.dim / LN2


def _lower(res) -> np.ndarray:
    return res.rate_lower + res.slopes * res.distortion_total / res.dim / LN2


@pytest.fixture(scope="module")
def banana_32():
    src = BananaSource()
    g1, g2, dens = src.grid(32)
    slopes = slopes_for_distortions(np.geomspace(0.01, 0.9 * src.variance, 5))
    fast = blahut_arimoto_grid_2d(dens, g1, g2, slopes, tol=1e-3, max_iter=3000, certify=True)
    return src, (g1, g2, dens), slopes, fast


def test_certified_banana_curve_has_gaps_below_tolerance(banana_32):
    _src, _grid, _slopes, fast = banana_32
    assert fast.certified
    assert np.all(fast.gap < 1e-3) and np.all(fast.gap >= -1e-12)
    assert np.allclose(_objective(fast) - _lower(fast), fast.gap, atol=1e-9)
    assert np.all(np.diff(fast.rate) < 0) and np.all(np.diff(fast.distortion) > 0)


def test_certificate_bounds_the_error_against_a_long_reference_run(banana_32):
    _src, (g1, g2, dens), slopes, fast = banana_32
    # a long run to a 10x tighter certified tolerance
    ref = blahut_arimoto_grid_2d(dens, g1, g2, slopes, tol=1e-4, max_iter=20000, certify=True)
    f_fast, f_ref = _objective(fast), _objective(ref)
    # the reference is achievable, so it lies above every valid lower bound ...
    assert np.all(f_ref >= _lower(fast) - 1e-9)
    # ... and the fast point is within its certified gap (< tol) of it, and vice versa
    assert np.all(f_fast - f_ref <= fast.gap + 1e-9)
    assert np.all(f_ref - f_fast <= ref.gap + 1e-9)
    assert np.all(np.abs(f_fast - f_ref) < 1e-3)


def test_plain_ba_reference_never_beats_the_certified_lower_bound(banana_32):
    _src, (g1, g2, dens), slopes, fast = banana_32
    with pytest.warns(RuntimeWarning):
        plain = blahut_arimoto_grid_2d(dens, g1, g2, slopes, tol=1e-9, max_iter=600, on_cap="warn")
    assert np.all(_objective(plain) >= _lower(fast) - 1e-9)


def test_certified_binary_source_matches_the_closed_form_within_its_gap():
    p = 0.3
    slopes = np.array([0.7, 1.5, 3.0, 5.0])
    res = blahut_arimoto([p, 1 - p], 1.0 - np.eye(2), slopes, tol=1e-6, certify=True)
    exact = binary_rd(res.distortion, p)
    # R_up is achievable at D (>= R(D)); the point's height above the curve is at most
    # its objective gap
    assert np.all(res.rate - exact >= -1e-9)
    assert np.all(res.rate - exact <= res.gap + 1e-9)
    assert np.all(res.gap < 1e-6)
    assert np.all(res.rate_lower <= exact + 1e-9)


def test_certified_mode_reports_an_honest_gap_when_capped():
    src = BananaSource()
    g1, g2, dens = src.grid(24)
    slopes = slopes_for_distortions(np.array([0.9 * src.variance]))
    with pytest.warns(RuntimeWarning, match="certified gap"):
        res = blahut_arimoto_grid_2d(
            dens, g1, g2, slopes, tol=1e-9, max_iter=3, on_cap="warn", certify=True
        )
    assert res.iterations[0] == 3
    assert res.gap[0] >= 1e-9
