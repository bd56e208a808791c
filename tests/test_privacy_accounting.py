"""Tests of rdlab.privacy.guarantees and rdlab.privacy.accounting.

Tolerances are stated at each assertion. Monte-Carlo checks use fixed seeds and a
bound of 5 standard errors, each with a negative control that the same bound rejects.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings

import dp_accounting
import mpmath
import numpy as np
import pytest
from scipy.special import ndtr

from rdlab.errors import InputError
from rdlab.privacy.accounting import Accountant, calibrate_gaussian, central_gaussian_epsilon
from rdlab.privacy.guarantees import (
    ApproxDP,
    Guarantee,
    PureDP,
    gaussian_delta,
    gaussian_epsilon,
    gaussian_noise_multiplier,
    laplace_scale,
)

# --------------------------------------------------------------------------- statements


def test_statements_text_json_and_frozen() -> None:
    assert str(PureDP(2)) == "2-DP"
    assert str(ApproxDP(1, 1e-5)) == "(1, 1e-05)-DP"
    assert str(ApproxDP(0.5, 0.25)) == "(0.5, 0.25)-DP"
    assert PureDP(2).to_json() == {"type": "pure", "epsilon": 2.0}
    assert ApproxDP(1, 1e-5).to_json() == {"type": "approx", "epsilon": 1.0, "delta": 1e-5}
    assert ApproxDP(0, 0.1).epsilon == 0.0  # (0, δ)-DP is a valid statement
    assert PureDP(1).delta == 0.0
    assert isinstance(PureDP(1), Guarantee) and isinstance(ApproxDP(1, 0.1), Guarantee)
    with pytest.raises(dataclasses.FrozenInstanceError):
        PureDP(1).epsilon = 2.0  # type: ignore[misc]


# --------------------------------------------------------------------------- Gaussian δ(ε)


def _mc_delta(epsilon: float, s: float, n: int, seed: int) -> tuple[float, float]:
    """Monte-Carlo δ(ε) = E_P[(1 − e^(ε − L))₊] and its standard error.

    P = N(0, s²), Q = N(1, s²); the privacy loss L = log p(X)/q(X) = (1 − 2X)/(2s²) of
    X ~ P, computed from samples of X (not from its known Gaussian law).
    """
    x = np.random.default_rng(seed).normal(0.0, s, size=n)
    loss = (1.0 - 2.0 * x) / (2.0 * s * s)
    terms = np.maximum(0.0, -np.expm1(epsilon - loss))
    return float(terms.mean()), float(terms.std(ddof=1) / math.sqrt(n))


@pytest.mark.parametrize(("epsilon", "s", "seed"), [(1.0, 1.0, 1), (0.5, 2.0, 2), (3.0, 0.6, 3)])
def test_gaussian_delta_matches_monte_carlo(epsilon: float, s: float, seed: int) -> None:
    mc, se = _mc_delta(epsilon, s, n=1_000_000, seed=seed)
    exact = gaussian_delta(epsilon, s)
    # Tolerance: 5 standard errors of the Monte-Carlo mean (false alarm < 1e-6).
    assert abs(mc - exact) < 5 * se
    # Negative controls: a 3 % larger noise multiplier, and the δ of the classic
    # formula's missing e^ε factor, are both far outside the same band.
    assert abs(mc - gaussian_delta(epsilon, 1.03 * s)) > 5 * se
    wrong = float(ndtr(0.5 / s - epsilon * s) - ndtr(-0.5 / s - epsilon * s))
    assert abs(mc - wrong) > 5 * se


def _mp_delta(epsilon: float, s: float) -> float:
    mpmath.mp.dps = 60
    e, s_ = mpmath.mpf(epsilon), mpmath.mpf(s)
    half = 1 / (2 * s_)
    return float(mpmath.ncdf(half - e * s_) - mpmath.exp(e) * mpmath.ncdf(-half - e * s_))


@pytest.mark.parametrize(
    ("epsilon", "s"), [(1.0, 1.0), (40.0, 0.5), (200.0, 0.2), (5.0, 5.0), (0.0, 3.0)]
)
def test_gaussian_delta_is_accurate_without_overflow(epsilon: float, s: float) -> None:
    reference = _mp_delta(epsilon, s)  # 60-digit arithmetic
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = gaussian_delta(epsilon, s)
    # Tolerance: relative 1e-9, down to δ ~ 1e-300 (the (200, 0.2) case).
    assert reference > 0.0
    assert value == pytest.approx(reference, rel=1e-9)


def test_naive_formula_fails_where_log_domain_does_not() -> None:
    # Negative control for the test above: the direct float formula overflows or
    # cancels at large ε, so the test above does check the stable evaluation.
    epsilon, s = 800.0, 0.05
    with np.errstate(all="ignore"):
        naive = float(ndtr(0.5 / s - epsilon * s) - np.exp(epsilon) * ndtr(-0.5 / s - epsilon * s))
    assert not math.isfinite(naive) or naive != pytest.approx(_mp_delta(epsilon, s), rel=1e-3)
    assert gaussian_delta(epsilon, s) == pytest.approx(_mp_delta(epsilon, s), rel=1e-9)
    assert gaussian_delta(1e6, 1.0) == 0.0  # underflows to 0, no overflow error


def test_gaussian_curves_are_monotone() -> None:
    eps = np.linspace(0.0, 8.0, 41)
    for s in (0.5, 1.0, 3.0):
        deltas = [gaussian_delta(e, s) for e in eps]
        assert all(a > b for a, b in itertools.pairwise(deltas))  # δ decreases in ε
    for e in (0.1, 1.0, 4.0):
        deltas = [gaussian_delta(e, s) for s in (0.3, 0.6, 1.0, 2.0, 5.0)]
        assert all(a > b for a, b in itertools.pairwise(deltas))  # δ decreases in s
    epsilons = [gaussian_epsilon(s, 1e-5) for s in (0.3, 0.6, 1.0, 2.0, 5.0)]
    assert all(a > b for a, b in itertools.pairwise(epsilons))  # ε decreases in s
    epsilons = [gaussian_epsilon(1.0, d) for d in (1e-10, 1e-6, 1e-3, 1e-1)]
    assert all(a > b for a, b in itertools.pairwise(epsilons))  # ε decreases in δ


@pytest.mark.parametrize("s", [0.3, 1.0, 5.0, 50.0])
@pytest.mark.parametrize("delta", [1e-5, 1e-12])
def test_gaussian_calibration_round_trips(s: float, delta: float) -> None:
    eps = gaussian_epsilon(s, delta)
    # Tolerance: the solvers' relative 1e-10, with margin 1e-8.
    assert gaussian_noise_multiplier(eps, delta) == pytest.approx(s, rel=1e-8)
    assert gaussian_delta(eps, s) <= delta  # rounded to the safe side
    assert gaussian_delta(eps, s) == pytest.approx(delta, rel=1e-8)
    s_back = gaussian_noise_multiplier(eps, delta)
    assert gaussian_delta(eps, s_back) <= delta
    # Independent implementation (dp_accounting's own bisection), relative 1e-6.
    assert eps == pytest.approx(dp_accounting.get_epsilon_gaussian(s, delta), rel=1e-6)


def test_gaussian_epsilon_is_zero_when_delta_covers_total_variation() -> None:
    s = 3.0
    tv = gaussian_delta(0.0, s)  # = 2Φ(1/(2s)) − 1
    assert tv == pytest.approx(2 * float(ndtr(1 / (2 * s))) - 1, rel=1e-12)
    assert gaussian_epsilon(s, tv * 1.01) == 0.0
    assert gaussian_epsilon(s, tv * 0.99) > 0.0


def test_laplace_scale() -> None:
    assert laplace_scale(0.5, 2.0) == 4.0
    assert laplace_scale(2.0, 1.0) == 0.5


# --------------------------------------------------------------------------- accountant


def test_pld_single_gaussian_matches_analytic() -> None:
    for s in (0.7, 1.0, 3.0):
        exact = gaussian_epsilon(s, 1e-5)
        pld = Accountant().add_gaussian(s).epsilon(1e-5)
        rdp = Accountant(kind="rdp").add_gaussian(s).epsilon(1e-5)
        # Tolerance: 1 % (PLD discretization 1e-3 nats, pessimistic rounding).
        assert pld == pytest.approx(exact, rel=1e-2)
        assert pld >= exact * (1 - 1e-9)  # an upper bound, up to float noise
        assert rdp >= exact  # RDP is a valid but looser bound
        assert rdp > pld


@pytest.mark.parametrize("kind", ["pld", "rdp"])
def test_k_gaussians_equal_one_with_multiplier_over_sqrt_k(kind: str) -> None:
    s, k, delta = 4.0, 16, 1e-6
    acc = Accountant(kind=kind)
    for _ in range(k):  # k separate compositions (not the count shortcut)
        acc.add_gaussian(s)
    exact = gaussian_epsilon(s / math.sqrt(k), delta)
    assert central_gaussian_epsilon(s, delta, rounds=k) == exact
    if kind == "pld":
        assert acc.epsilon(delta) == pytest.approx(exact, rel=1e-2)  # tolerance 1 %
        counted = Accountant().add_gaussian(s, count=k).epsilon(delta)
        assert counted == pytest.approx(exact, rel=1e-2)
    else:
        assert acc.epsilon(delta) >= exact
    # Negative control: k compositions cost clearly more than one.
    assert acc.epsilon(delta) > 2 * gaussian_epsilon(s, delta)


def test_pld_kind_matches_dp_accounting_pld_accountant() -> None:
    cases = [
        (dp_accounting.GaussianDpEvent(1.5), 3, lambda a: a.add_gaussian(1.5, 3)),
        (dp_accounting.LaplaceDpEvent(2.0), 5, lambda a: a.add_laplace(2.0, 5)),
        (
            dp_accounting.PoissonSampledDpEvent(0.05, dp_accounting.GaussianDpEvent(1.0)),
            50,
            lambda a: a.add_subsampled_gaussian(0.05, 1.0, 50),
        ),
    ]
    for event, count, add in cases:
        ref = dp_accounting.pld.PLDAccountant(value_discretization_interval=1e-3)
        ref.compose(event, count)
        ours = add(Accountant())
        # Same dp_accounting construction: equal up to float noise (relative 1e-9).
        assert ours.epsilon(1e-6) == pytest.approx(ref.get_epsilon(1e-6), rel=1e-9)
        assert ours.delta(1.0) == pytest.approx(ref.get_delta(1.0), rel=1e-9)


def test_pure_dp_composition_bounds() -> None:
    eps, interval = 0.3, 1e-3
    for k in (2, 5, 10):
        acc = Accountant(value_discretization_interval=interval).add_guarantee(PureDP(eps), k)
        total = acc.epsilon(1e-9)
        # Basic composition bound kε, up to pessimistic rounding of one grid step each.
        assert total <= k * (eps + interval)
        assert total > eps  # negative control: composing costs more than one mechanism
    # Many compositions: PLD is strictly tighter than kε at δ = 1e-6.
    acc = Accountant().add_guarantee(PureDP(0.1), 200)
    assert acc.epsilon(1e-6) < 0.5 * 200 * 0.1
    # RDP kind composes pure DP as (ε²/2)-zCDP: valid (>= the PLD value) but looser.
    rdp = Accountant(kind="rdp").add_guarantee(PureDP(0.1), 200).epsilon(1e-6)
    assert rdp >= acc.epsilon(1e-6)


def test_approx_dp_composition() -> None:
    acc = Accountant().add_guarantee(ApproxDP(0.5, 1e-6), 10)
    # δ must pay for the 10 failure probabilities: below 1 − (1 − 1e-6)^10 no finite ε.
    assert math.isinf(acc.epsilon(5e-6))
    with pytest.raises(InputError) as info:
        acc.guarantee(5e-6)
    assert info.value.argument == "delta"
    g = acc.guarantee(1e-4)
    assert isinstance(g, ApproxDP) and g.delta == 1e-4
    assert 0.5 < g.epsilon <= 10 * (0.5 + 1e-3)


def test_laplace_accounting() -> None:
    eps = 0.8
    b = laplace_scale(eps, 1.0)
    for kind in ("pld", "rdp"):
        acc = Accountant(kind=kind).add_laplace(b)
        # One Laplace mechanism is exactly ε-DP: within one grid step (1e-3) at δ = 1e-12
        # for PLD; RDP only upper-bounds it (within 50 %).
        value = acc.epsilon(1e-12)
        assert value >= eps * (1 - 1e-3)
        assert value <= (eps + 2e-3 if kind == "pld" else 1.5 * eps)


@pytest.mark.parametrize("kind", ["pld", "rdp"])
def test_subsampling_lowers_epsilon(kind: str) -> None:
    s, rounds, delta = 1.0, 20, 1e-5
    full = Accountant(kind=kind).add_gaussian(s, rounds).epsilon(delta)
    by_rate = [
        Accountant(kind=kind).add_subsampled_gaussian(q, s, rounds).epsilon(delta)
        for q in (0.01, 0.1, 0.5, 1.0)
    ]
    assert all(a < b for a, b in itertools.pairwise(by_rate))  # ε increases with q
    assert by_rate[0] < 0.25 * full  # amplification by subsampling is substantial
    # sampling_rate = 1 is the plain Gaussian: 1 % (PLD: other discretization path),
    # identical for RDP (same formula at q = 1).
    assert by_rate[-1] == pytest.approx(full, rel=1e-2 if kind == "pld" else 1e-12)


def test_randomized_response() -> None:
    eps, k = 1.0, 2
    p = k / (math.exp(eps) + k - 1)
    # Under replace_special one response costs max(ln(1/p), ln(k(1 − p + p/k))) < ε.
    exact_one = max(math.log(1 / p), math.log(k * (1 - p + p / k)))
    for kind in ("pld", "rdp"):
        one = Accountant(kind=kind, neighboring_relation="replace_special")
        one.add_randomized_response(eps, k)
        ten = Accountant(kind=kind, neighboring_relation="replace_special")
        ten.add_randomized_response(eps, k, count=10)
        assert one.epsilon(1e-9) < eps
        if kind == "pld":
            assert one.epsilon(1e-9) == pytest.approx(exact_one, abs=2e-3)  # grid 1e-3
        # count is honoured (dp_accounting 0.6.0's PLDAccountant ignores it here):
        # 10 responses at δ = 1e-9 cost more than 5 single ones.
        assert ten.epsilon(1e-9) > 5 * one.epsilon(1e-9)
    with pytest.raises(InputError) as info:
        Accountant().add_randomized_response(eps, k)
    assert info.value.argument == "neighboring_relation"


def test_accountant_json_and_empty_state() -> None:
    acc = Accountant()
    assert acc.epsilon(1e-5) == 0.0 and acc.delta(0.5) == 0.0
    assert acc.guarantee(1e-5) == ApproxDP(0.0, 1e-5)
    acc.add_gaussian(2.0, 3).add_guarantee(PureDP(0.1)).add_subsampled_gaussian(0.1, 1.0, 4)
    doc = acc.to_json()
    assert doc["kind"] == "pld" and doc["neighboring_relation"] == "add_or_remove"
    assert doc["value_discretization_interval"] == 1e-3
    assert doc["events"] == [
        {"mechanism": "gaussian", "noise_multiplier": 2.0, "count": 3},
        {"mechanism": "guarantee", "guarantee": {"type": "pure", "epsilon": 0.1}, "count": 1},
        {
            "mechanism": "subsampled_gaussian",
            "sampling_rate": 0.1,
            "noise_multiplier": 1.0,
            "count": 4,
        },
    ]
    g = acc.guarantee(1e-5)
    assert g.epsilon == acc.epsilon(1e-5)
    assert acc.delta(g.epsilon) <= 1e-5 * (1 + 1e-6)


# --------------------------------------------------------------------------- calibration


@pytest.mark.parametrize(
    ("epsilon", "delta", "rounds", "rate", "kind"),
    [
        (1.0, 1e-5, 1, 1.0, "pld"),
        (2.0, 1e-5, 50, 1.0, "pld"),
        (2.0, 1e-5, 100, 0.02, "pld"),
        (2.0, 1e-5, 100, 0.02, "rdp"),
    ],
)
def test_calibrate_gaussian_round_trip(
    epsilon: float, delta: float, rounds: int, rate: float, kind: str
) -> None:
    s = calibrate_gaussian(epsilon, delta, rounds=rounds, sampling_rate=rate, kind=kind)

    def eps_at(m: float) -> float:
        acc = Accountant(kind=kind)
        if rate == 1.0:
            return acc.add_gaussian(m, rounds).epsilon(delta)
        return acc.add_subsampled_gaussian(rate, m, rounds).epsilon(delta)

    assert eps_at(s) <= epsilon  # the returned multiplier meets the target
    assert eps_at(s / (1 + 2e-3)) > epsilon  # and is minimal within 2e-3 (tolerance 1e-3)
    if rate == 1.0:
        exact = math.sqrt(rounds) * gaussian_noise_multiplier(epsilon, delta)
        assert s == pytest.approx(exact, rel=2e-3)
    else:
        assert s < math.sqrt(rounds) * gaussian_noise_multiplier(epsilon, delta)


def test_calibrate_gaussian_terminates_when_no_noise_is_needed() -> None:
    # δ = 1e-5 exceeds the chance (1e-6 per round) that a record is ever sampled.
    with pytest.raises(InputError) as info:
        calibrate_gaussian(1.0, 1e-5, rounds=3, sampling_rate=1e-6)
    assert info.value.argument == "epsilon"


# --------------------------------------------------------------------------- bad inputs

_NAN = float("nan")


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: PureDP(0), "epsilon"),
        (lambda: PureDP(-1), "epsilon"),
        (lambda: PureDP(_NAN), "epsilon"),
        (lambda: PureDP(math.inf), "epsilon"),
        (lambda: PureDP("1"), "epsilon"),
        (lambda: ApproxDP(-1, 1e-5), "epsilon"),
        (lambda: ApproxDP(1, 0), "delta"),
        (lambda: ApproxDP(1, 1), "delta"),
        (lambda: ApproxDP(1, _NAN), "delta"),
        (lambda: gaussian_delta(-0.1, 1.0), "epsilon"),
        (lambda: gaussian_delta(1.0, 0.0), "noise_multiplier"),
        (lambda: gaussian_delta(_NAN, 1.0), "epsilon"),
        (lambda: gaussian_epsilon(1.0, 1.5), "delta"),
        (lambda: gaussian_epsilon(-1.0, 1e-5), "noise_multiplier"),
        (lambda: gaussian_noise_multiplier(1.0, 0.0), "delta"),
        (lambda: gaussian_noise_multiplier(_NAN, 1e-5), "epsilon"),
        (lambda: laplace_scale(0.0, 1.0), "epsilon"),
        (lambda: laplace_scale(1.0, -1.0), "l1_sensitivity"),
        (lambda: Accountant(kind="moments"), "kind"),
        (lambda: Accountant(neighboring_relation="replace_one"), "neighboring_relation"),
        (lambda: Accountant(value_discretization_interval=0), "value_discretization_interval"),
        (lambda: Accountant().add_gaussian(1.0, count=0), "count"),
        (lambda: Accountant().add_gaussian(1.0, count=1.5), "count"),
        (lambda: Accountant().add_gaussian(1.0, count=True), "count"),
        (lambda: Accountant().add_gaussian(_NAN), "noise_multiplier"),
        (lambda: Accountant().add_laplace(0.0), "scale_over_l1_sensitivity"),
        (lambda: Accountant().add_subsampled_gaussian(0.0, 1.0), "sampling_rate"),
        (lambda: Accountant().add_subsampled_gaussian(1.5, 1.0), "sampling_rate"),
        (lambda: Accountant().add_guarantee(PureDP(1), count=-1), "count"),
        (lambda: Accountant().add_guarantee((1.0, 1e-5)), "g"),
        (lambda: Accountant(kind="rdp").add_guarantee(ApproxDP(1, 1e-5)), "g"),
        (
            lambda: Accountant(neighboring_relation="replace_special").add_randomized_response(
                1.0, 1
            ),
            "num_buckets",
        ),
        (lambda: Accountant().epsilon(0.0), "delta"),
        (lambda: Accountant().epsilon(_NAN), "delta"),
        (lambda: Accountant().delta(-1.0), "epsilon"),
        (lambda: central_gaussian_epsilon(1.0, 1e-5, rounds=0), "rounds"),
        (lambda: calibrate_gaussian(0.0, 1e-5), "epsilon"),
        (lambda: calibrate_gaussian(1.0, 1.0), "delta"),
        (lambda: calibrate_gaussian(1.0, 1e-5, rounds=0), "rounds"),
        (lambda: calibrate_gaussian(1.0, 1e-5, sampling_rate=0.0), "sampling_rate"),
        (lambda: calibrate_gaussian(1.0, 1e-5, kind="x"), "kind"),
    ],
)
def test_bad_inputs_raise_input_error_naming_the_argument(call, argument: str) -> None:
    with pytest.raises(InputError) as info:
        call()
    assert info.value.argument == argument
    assert str(info.value).startswith(f"{argument}: ")
    assert "\n" not in str(info.value)
