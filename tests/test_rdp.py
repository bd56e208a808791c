"""Rate–distortion–perception of the Gaussian source, and coding at the limit with REC."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from rdlab.cli import main
from rdlab.errors import InputError
from rdlab.eval.rdp_gaussian import deterministic_baseline, rec_point, w2_to_gaussian
from rdlab.theory import gaussian_rd, gaussian_vector_rd
from rdlab.theory.rdp import (
    gaussian_rdp,
    gaussian_rdp_common_randomness,
    gaussian_rdp_w2,
    gaussian_test_channel,
    gaussian_vector_rdp,
    perception_of,
)


@pytest.mark.parametrize("var", [1.0, 2.5])
def test_perfect_realism_matches_the_closed_form(var):
    """R(D, 0) = ½ log2(σ⁴ / (σ⁴ − (σ² − D/2)²)) for D <= 2σ², 0 beyond."""
    for d in var * np.linspace(0.02, 2.0, 40):
        expected = 0.5 * math.log2(var**2 / (var**2 - (var - d / 2) ** 2)) if d < 2 * var else 0
        assert gaussian_rdp_w2(d, 0.0, var) == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert gaussian_test_channel(d, 0.0, var).rate == pytest.approx(expected, abs=1e-9)
    assert gaussian_rdp_w2(2.5 * var, 0.0, var) == 0.0


def _brute_force(d, p, measure, var=1.0):
    """min I over a 2-D grid of (τ, correlation) meeting D and P: an independent check."""
    sigma = math.sqrt(var)
    tau = np.unique(np.append(np.linspace(1e-3, 3 * sigma, 1500), sigma))[:, None]
    rho = np.linspace(0.0, 0.9999, 1500)[None, :]
    dist = var + tau**2 - 2 * rho * sigma * tau
    if measure == "w2":
        perc = (sigma - tau) ** 2
    else:
        v = (sigma / tau) ** 2
        perc = 0.5 * (v - 1 - np.log(v))
    rate = -0.5 * np.log2(1 - rho**2) + 0 * tau
    ok = (dist <= d) & (perc <= p)
    return float(rate[ok].min()) if ok.any() else math.inf


@pytest.mark.parametrize("measure", ["w2", "kl"])
@pytest.mark.parametrize("d,p", [(0.2, 0.0), (0.2, 0.02), (0.5, 0.05), (0.8, 0.3), (1.3, 0.01)])
def test_rdp_agrees_with_a_brute_force_optimization(measure, d, p):
    got = float(gaussian_rdp(d, p, 1.0, measure)[0])
    brute = _brute_force(d, p, measure)
    # the grid can only do worse; its resolution costs at most a few thousandths of a bit
    assert got <= brute + 1e-9
    assert brute - got < 0.02
    if measure == "w2":
        assert got == pytest.approx(gaussian_test_channel(d, p, 1.0, "w2").rate, abs=1e-9)


def test_rdp_lies_between_rd_and_perfect_realism_and_is_monotone():
    d = np.linspace(0.05, 1.9, 30)
    for measure in ("w2", "kl"):
        r0 = gaussian_rdp(d, 0.0, 1.0, measure)
        r1 = gaussian_rdp(d, 0.05, 1.0, measure)
        rinf = gaussian_rdp(d, 10.0, 1.0, measure)
        assert np.all(r0 >= r1 - 1e-12) and np.all(r1 >= rinf - 1e-12)
        assert np.all(np.diff(r1) <= 1e-12)  # non-increasing in D
        # P large: R(D) (for KL only below σ²: reaching rate 0 just above σ² needs a
        # nearly degenerate output law, whose KL to the source is unbounded)
        near = d < 0.95 if measure == "kl" else np.ones(d.shape, bool)
        np.testing.assert_allclose(rinf[near], gaussian_rd(d)[near], atol=1e-9)
        # negative control: realism is not free below D = σ²
        assert np.all((r0 - gaussian_rd(d))[(d > 0.2) & (d < 0.9)] > 0.01)


def test_test_channel_reaches_its_point():
    for measure, (d, p) in (("w2", (0.3, 0.02)), ("kl", (0.3, 0.02)), ("w2", (0.7, 0.0))):
        ch = gaussian_test_channel(d, p, 1.0, measure)
        assert ch.distortion == pytest.approx(d, rel=1e-9)
        assert ch.perception <= p + 1e-9
        assert ch.tau2 == pytest.approx(ch.a**2 + ch.s2, rel=1e-12)  # Var(aX + N) = τ²
        assert perception_of(math.sqrt(ch.tau2), 1.0, measure) == pytest.approx(ch.perception)


def test_vector_rdp_reduces_to_known_cases():
    # identical components: n copies of the scalar problem at D/n, P/n
    r, tau = gaussian_vector_rdp([1.0] * 4, 4 * 0.3, 4 * 0.01)
    assert r == pytest.approx(4 * gaussian_rdp_w2(0.3, 0.01), rel=1e-5)
    np.testing.assert_allclose(tau, tau[0], rtol=1e-4)
    # no perception constraint: reverse water-filling
    var = np.array([2.0, 1.0, 0.5, 0.1])
    r_inf, _ = gaussian_vector_rdp(var, 1.0, 100.0)
    assert r_inf == pytest.approx(4 * float(gaussian_vector_rd(np.diag(var), 0.25)[0]), rel=1e-5)
    r0, tau0 = gaussian_vector_rdp(var, 1.0, 0.0)
    assert r0 > r_inf + 0.1
    np.testing.assert_allclose(tau0**2, var, rtol=1e-4)  # P = 0: every output law is exact


def test_bad_arguments_are_refused():
    with pytest.raises(InputError, match="perception"):
        gaussian_rdp_w2(0.5, -1.0)
    with pytest.raises(InputError, match="perception"):
        gaussian_rdp(0.5, 0.1, 1.0, "tv")
    with pytest.raises(InputError, match="distortion"):
        gaussian_test_channel(float("nan"), 0.1)
    with pytest.raises(InputError, match="variances"):
        gaussian_vector_rdp([1.0, -1.0], 1.0, 0.1)


def test_rec_codes_the_source_at_perfect_realism_exactly():
    """P = 0: the decoded samples are N(0, 1) exactly (KS at 0.001), the mean message per
    block of 2 samples is within log2(I + 1) + 4 bits of I = 2 R(D, 0), and the MSE is D
    within 4 standard errors. Negative control: the deterministic decoder's output (the
    channel mean a·x, no shared noise) is rejected by the same test."""
    point = rec_point(0.5, 0.0, block=2, blocks=1500, seed=3)
    assert point["output_ks_pvalue"] > 1e-3
    info = 2 * point["theory_rate"]
    assert point["kl_per_block"] == pytest.approx(info, rel=0.1)
    assert point["bits_per_block"] <= info + math.log2(info + 1) + 4
    se = 0.5 * math.sqrt(2 / 3000) * 1.5  # MSE of Gaussian errors: SE ≈ D·sqrt(2/m)
    assert abs(point["distortion"] - 0.5) < 4 * se * 2
    assert point["w2_to_source"] < 0.01
    x = np.random.default_rng(5).standard_normal(3000)
    a = gaussian_test_channel(0.5, 0.0).a
    assert stats.kstest(a * x, stats.norm().cdf).pvalue < 1e-6
    # the quantizer without common randomness has a discrete output: W2² stays > 0
    det = deterministic_baseline(0.5)
    assert det["w2_to_source"] > 0.01 and det["distortion"] < 0.1


def test_rec_at_intermediate_perception_sends_the_channel_output_law():
    point = rec_point(0.4, 0.05, block=2, blocks=1000, seed=4)
    assert point["output_ks_pvalue"] > 1e-3  # against N(0, τ²), τ = 1 − √0.05
    assert point["channel"]["tau2"] == pytest.approx((1 - math.sqrt(0.05)) ** 2, rel=1e-6)
    assert point["w2_to_source"] == pytest.approx(0.05, abs=0.01)
    info = 2 * point["theory_rate"]
    assert point["bits_per_block"] <= info + math.log2(info + 1) + 4


def test_w2_estimate_sees_a_scale_error():
    g = np.random.default_rng(6)
    assert w2_to_gaussian(g.standard_normal(20000), 1.0) < 2e-3
    assert w2_to_gaussian(0.8 * g.standard_normal(20000), 1.0) == pytest.approx(0.04, abs=5e-3)


def test_rd_command_draws_perception_curves(capsys, tmp_path):
    plot = tmp_path / "rdp.png"
    status = main(
        ["rd", "gaussian", "--perception", "0,0.05", "--points", "6", "--json", "--plot", str(plot)]
    )
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert {"rdp:0", "rdp:0.05"} <= set(report["curves"])
    assert "exact" in report["curves"]["rdp:0"]["kind"]
    for p in report["curves"]["rdp:0"]["points"]:
        assert p["rate"] >= float(gaussian_rd(p["distortion"])) - 1e-12


@pytest.mark.parametrize(
    "args, needle",
    [
        (["rd", "gaussian", "--rec"], "needs --perception"),
        (["rd", "laplace", "--perception", "0"], "gaussian source only"),
        (["rd", "gaussian", "--common-rate", "0.5"], "needs --perception"),
    ],
)
def test_rd_perception_errors(capsys, args, needle):
    assert main(args) == 2
    assert needle in capsys.readouterr().err


def test_remote_gaussian_rd_limits():
    """The task variable seen through noise: the rate diverges at the estimation error
    that remains without compression, reaches 0 at the task variance, and is the plain
    R(D) without noise; a Monte-Carlo check of that floor (seed 7, 1 %)."""
    from rdlab.theory import gaussian_remote_rd

    mmse = 2.0 * 0.5 / 2.5
    r = gaussian_remote_rd([mmse, mmse + 1e-9, 1.0, 2.0, 3.0], 2.0, 0.5)
    assert math.isinf(r[0]) and r[1] > 10 and r[2] > 0 and r[3] == 0 and r[4] == 0
    d = np.linspace(0.1, 1.9, 10)
    np.testing.assert_allclose(gaussian_remote_rd(d, 2.0, 0.0), gaussian_rd(d, 2.0), rtol=1e-12)
    g = np.random.default_rng(7)
    s = g.normal(0, math.sqrt(2.0), 400_000)
    x = s + g.normal(0, math.sqrt(0.5), s.size)
    assert np.mean((s - 2.0 / 2.5 * x) ** 2) == pytest.approx(mmse, rel=0.01)
    # noise makes the task dearer: more bits than the noiseless R(D) at every D
    assert np.all(gaussian_remote_rd(d[d > mmse], 2.0, 0.5) > gaussian_rd(d[d > mmse], 2.0))


# --- limited common randomness -------------------------------------------------------

# a grid of jointly Gaussian auxiliaries, uniform in I(X; U) and I(U; Y) (5 mbit steps)
_CR_RATES = np.linspace(0.0, 6.0, 1201)
_CR_RHO = np.sqrt(1.0 - 2.0 ** (-2.0 * _CR_RATES))


def _cr_table(common_rate):
    """Every grid pair (ρ1, ρ2): its product ρ1ρ2 (sorted) and the least
    max(I(X; U), I(U; Y) − R_c) over the pairs with at least that product."""
    prod = (_CR_RHO[:, None] * _CR_RHO[None, :]).ravel()
    value = np.maximum(_CR_RATES[:, None], _CR_RATES[None, :] - common_rate).ravel()
    order = np.argsort(prod)
    prod, value = prod[order], value[order]
    return prod, np.minimum.accumulate(value[::-1])[::-1]


def _brute_force_cr(d, p, common_rate, measure, var=1.0):
    """min over a grid of (τ, ρ1, ρ2) of max(I(X; U), I(U; Y) − R_c) subject to
    σ² + τ² − 2στρ1ρ2 <= D and the perception of N(0, τ²) <= P: an independent check
    (no balance equation, no closed form)."""
    sigma = math.sqrt(var)
    if measure == "w2":
        tau = np.linspace(max(sigma - math.sqrt(p), 1e-6), sigma + math.sqrt(p), 2001)
    else:
        tau = np.linspace(1e-3, 4 * sigma, 8001)
        v = (sigma / tau) ** 2
        tau = tau[0.5 * (v - 1 - np.log(v)) <= p]
    tau = np.unique(np.append(tau, sigma))
    need = (var + tau**2 - d) / (2 * sigma * tau)  # the least ρ1ρ2 meeting D at each τ
    prod, best = _cr_table(common_rate)
    k = np.searchsorted(prod, need, side="left")
    ok = k < prod.size
    return float(best[k[ok]].min()) if ok.any() else math.inf


def _realism_closed_form(d, common_rate, var=1.0):
    """R(D, 0, R_c) from the quadratic c x² + (1 − c) x − ρ² = 0 (the textbook root)."""
    if d >= 2 * var:
        return 0.0
    rho = 1 - d / (2 * var)
    if math.isinf(common_rate):
        x = rho * rho
    else:
        c = 2.0 ** (-2 * common_rate)
        x = (-(1 - c) + math.sqrt((1 - c) ** 2 + 4 * c * rho * rho)) / (2 * c)
    return -0.5 * math.log2(1 - x)


@pytest.mark.parametrize("var", [1.0, 2.5])
@pytest.mark.parametrize("common_rate", [0.0, 0.3, 1.0, 2.5])
def test_perfect_realism_with_limited_common_randomness(var, common_rate):
    """P = 0: the closed form, a brute-force grid over (ρ1, ρ2) (within 0.01 bit; the
    grid can only do worse) and Xie et al.'s distortion-rate form
    D = 2σ²(1 − √((1 − 2^(−2R))(1 − 2^(−2(R + R_c)))))."""
    for d in var * np.array([0.05, 0.25, 0.5, 1.0, 1.7, 2.0, 2.4]):
        got = float(gaussian_rdp_common_randomness(d, 0.0, common_rate, var)[0])
        assert got == pytest.approx(_realism_closed_form(d, common_rate, var), abs=1e-9)
        brute = _brute_force_cr(d, 0.0, common_rate, "w2", var)
        assert got <= brute + 1e-9
        assert brute - got < 0.01
        if d < 2 * var:
            back = (
                2
                * var
                * (1 - math.sqrt((1 - 2 ** (-2 * got)) * (1 - 2 ** (-2 * (got + common_rate)))))
            )
            assert back == pytest.approx(d, rel=1e-9)
        else:
            assert got == 0.0


def test_limited_common_randomness_limits():
    """R_c = 0 at P = 0: ½ log2(2σ²/D), i.e. R(D) at twice the MSE; R_c = ∞: the
    unlimited-common-randomness R(D, P) of :func:`gaussian_rdp` for both measures."""
    for var in (1.0, 2.5):
        d = var * np.linspace(0.02, 2.6, 60)
        expected = np.maximum(0.5 * np.log2(2 * var / d), 0.0)
        got = gaussian_rdp_common_randomness(d, 0.0, 0.0, var)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got, gaussian_rd(d / 2, var), rtol=1e-12, atol=1e-12)
        for measure in ("w2", "kl"):
            for p in (0.0, 0.02, 0.1, 0.5, 2.0):
                np.testing.assert_allclose(
                    gaussian_rdp_common_randomness(d, p, math.inf, var, measure),
                    gaussian_rdp(d, p, var, measure),
                    rtol=1e-9,
                    atol=1e-9,
                )


@pytest.mark.parametrize("measure", ["w2", "kl"])
def test_limited_common_randomness_is_monotone(measure):
    """More common randomness or a looser perception constraint never costs rate."""
    d = np.linspace(0.05, 2.2, 30)
    rates = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, math.inf)
    levels = (0.0, 0.005, 0.02, 0.1, 0.4, 1.5)
    table = np.array(
        [[gaussian_rdp_common_randomness(d, p, rc, 1.0, measure) for rc in rates] for p in levels]
    )  # (P, R_c, D)
    assert np.all(np.diff(table, axis=1) <= 1e-12)
    assert np.all(np.diff(table, axis=0) <= 1e-12)
    # and strictly in R_c at P = 0 where a rate is needed
    assert np.all(np.diff(table[0][:, d < 2.0], axis=0) < 0)


@pytest.mark.parametrize("measure", ["w2", "kl"])
@pytest.mark.parametrize("common_rate", [0.0, 0.5])
@pytest.mark.parametrize("d,p", [(0.2, 0.02), (0.5, 0.05), (0.8, 0.3), (1.3, 0.01)])
def test_limited_common_randomness_agrees_with_brute_force(measure, common_rate, d, p):
    """P > 0: against a grid over (τ, ρ1, ρ2) (within 0.01 bit, two grid steps; the grid
    can only do worse)."""
    got = float(gaussian_rdp_common_randomness(d, p, common_rate, 1.0, measure)[0])
    brute = _brute_force_cr(d, p, common_rate, measure)
    assert got <= brute + 1e-9
    assert brute - got < 0.01


def test_limited_common_randomness_negative_controls():
    """Common randomness matters: unlimited is strictly cheaper than none for every
    0 < D < 2σ² at P = 0 (by more than 0.05 bit in the middle), both are 0 from 2σ² on;
    and the brute force tells the unlimited rate apart from the R_c = 0 problem, so the
    comparison above has teeth."""
    d = np.linspace(0.01, 1.99, 50)
    none = gaussian_rdp_common_randomness(d, 0.0, 0.0)
    unlimited = gaussian_rdp_common_randomness(d, 0.0, math.inf)
    assert np.all(unlimited < none)
    assert np.all((none - unlimited)[(d > 0.1) & (d < 1.5)] > 0.05)
    assert np.all(gaussian_rdp_common_randomness([2.0, 2.5, 9.0], 0.0, 0.0) == 0.0)
    assert _brute_force_cr(0.5, 0.0, 0.0, "w2") - float(unlimited[np.argmin(abs(d - 0.5))]) > 0.3
    # D = 0 needs an infinite rate, whatever the common randomness
    assert math.isinf(gaussian_rdp_common_randomness(0.0, 0.0, math.inf)[0])
    assert math.isinf(gaussian_rdp_common_randomness(0.0, 0.5, 1.0, 1.0, "kl")[0])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"common_rate": -1.0}, "common_rate"),
        ({"common_rate": float("nan")}, "common_rate"),
        ({"common_rate": "1"}, "common_rate"),
        ({"common_rate": True}, "common_rate"),
        ({"distortion": -0.1}, "distortion"),
        ({"distortion": [0.5, float("nan")]}, "distortion"),
        ({"distortion": "a"}, "distortion"),
        ({"perception": -0.1}, "perception"),
        ({"perception": math.inf}, "perception"),
        ({"variance": 0.0}, "variance"),
        ({"measure": "tv"}, "perception"),
    ],
)
def test_limited_common_randomness_bad_input(kwargs, name):
    args = {"distortion": 0.5, "perception": 0.0, "common_rate": 0.5} | kwargs
    with pytest.raises(InputError, match=name):
        gaussian_rdp_common_randomness(**args)


def test_rd_command_draws_limited_common_randomness_curves(capsys, tmp_path):
    plot = tmp_path / "rdp.png"
    argv = ["rd", "gaussian", "--perception", "0,0.05", "--common-rate", "0,inf"]
    status = main([*argv, "--points", "4", "--json", "--plot", str(plot)])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    curves = report["curves"]
    assert {"rdp:0:cr0", "rdp:0:crinf", "rdp:0.05:cr0", "rdp:0.05:crinf"} <= set(curves)
    assert "exact" in curves["rdp:0:cr0"]["kind"]
    assert "upper bound" in curves["rdp:0.05:cr0"]["kind"]
    assert "exact" in curves["rdp:0.05:crinf"]["kind"]
    for p in curves["rdp:0:cr0"]["points"]:  # R(D) at twice the MSE
        assert p["rate"] == pytest.approx(float(gaussian_rd(p["distortion"] / 2)), abs=1e-9)
    unlimited = {p["distortion"]: p["rate"] for p in curves["rdp:0.05"]["points"]}
    for p in curves["rdp:0.05:crinf"]["points"]:
        assert p["rate"] == pytest.approx(unlimited[p["distortion"]], abs=1e-9)
    for p in curves["rdp:0.05:cr0"]["points"]:
        assert p["rate"] >= unlimited[p["distortion"]] - 1e-12


def test_rd_command_refuses_bad_common_rates(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["rd", "gaussian", "--perception", "0", "--common-rate", "-1"])
    assert exc.value.code == 2
    assert "common randomness rates" in capsys.readouterr().err
