"""``rdlab rd gaussian --remote``: the Gaussian remote source, its exact R(D) and the
measured task-aware / reconstruction-aware ECSQ curves (rdlab.eval.remote_task)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rdlab.cli import main
from rdlab.errors import InputError
from rdlab.eval.remote_task import remote_task_report
from rdlab.theory import ecsq

VS, VN = 1.0, 0.5
MMSE = VS * VN / (VS + VN)  # 1/3
MEASURED = ("task_aware", "reconstruction_aware", "reconstruction_as_is")


def remote_rate(mse: float) -> float:
    """R_remote(D) = ½ log2(σ_s⁴ / ((σ_s²+σ_n²)(D − mmse))), written out here."""
    if mse >= VS:
        return 0.0
    return 0.5 * math.log2(VS**2 / ((VS + VN) * (mse - MMSE)))


@pytest.fixture(scope="module")
def report():
    # 4 target rates (0.5 .. 4 bits), 20,000 training and 20,000 held-out samples, seed 0
    return remote_task_report(VN, signal_variance=VS, rates=np.linspace(0.5, 4.0, 4), seed=0)


def test_cli_json_has_the_three_curves_and_a_two_panel_plot(capsys, tmp_path):
    plot = tmp_path / "remote.png"
    argv = ["rd", "gaussian", "--remote", "0.5", "--points", "4", "--json", "--plot", str(plot)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert plot.read_bytes()[:4] == b"\x89PNG"
    remote = out["remote"]
    assert {"rd", "task_aware", "reconstruction_aware"} <= set(remote["curves"])
    assert "exact" in remote["curves"]["rd"]["kind"]
    assert "refit" in remote["curves"]["reconstruction_aware"]["kind"]
    assert remote["mmse"] == pytest.approx(MMSE, rel=1e-12)
    assert set(out["curves"]) == {"rd", "slb", "ecsq"}  # the direct curves stay as they were
    for p in remote["curves"]["rd"]["points"]:  # the bound, against the formula above
        if MMSE < p["distortion"] < VS:
            assert p["rate"] == pytest.approx(remote_rate(p["distortion"]), abs=1e-9)
    for key in MEASURED:
        assert len(remote["curves"][key]["points"]) == 4


def test_cli_text_shows_the_remote_tables(capsys):
    assert main(["rd", "gaussian", "--remote", "2", "--points", "2"]) == 0
    text = capsys.readouterr().out
    assert "remote source: S ~ N(0, 1), encoder sees X = S + N(0, 2)" in text
    assert "task-aware ECSQ [" in text and "reconstruction-aware ECSQ [" in text
    assert "gap dB" in text


def test_every_measured_point_lies_above_the_remote_bound(report):
    """rate >= R_remote(MSE) − 0.02 bits (finite samples); the measured margin is about
    0.1 bits at the lowest rate and 0.25 bits (ECSQ's high-rate loss) at the top."""
    for key in MEASURED:
        for p in report["curves"][key]["points"]:
            assert p["rate"] >= remote_rate(p["distortion"]) - 0.02, (key, p)
            assert p["gap_db"] > -0.01, (key, p)
            # the MSE at equal rate, by the formula: D(R) = mmse + σ_s⁴/(σ_s²+σ_n²)·2^(−2R)
            bound = MMSE + VS**2 / (VS + VN) * 2 ** (-2 * p["rate"])
            assert p["bound_distortion"] == pytest.approx(bound, rel=1e-12)
            assert p["gap_db"] == pytest.approx(10 * math.log10(p["distortion"] / bound))


def test_rates_are_real_coded_bits_close_to_the_index_entropy(report):
    for key in MEASURED:
        for p in report["curves"][key]["points"]:
            # cross-entropy with the training probabilities plus the coder's last word
            assert p["entropy"] <= p["rate"] <= p["entropy"] + 0.02, (key, p)


def test_mse_estimate_agrees_with_the_direct_mean(report):
    """``distortion`` (mmse + mean (E[S|X] − y)²) and the direct mean (S − y)² on the same
    held-out samples differ only by the noise of S given X: within 4 standard errors."""
    n = report["samples"]["test"]
    for key in MEASURED:
        for p in report["curves"][key]["points"]:
            excess = p["distortion"] - MMSE
            se = math.sqrt((2 * MMSE**2 + 4 * MMSE * excess) / n)
            assert abs(p["distortion_empirical"] - p["distortion"]) <= 4 * se, (key, p)


def test_task_aware_is_not_worse_than_reconstruction_aware(report):
    """Measured: the two coincide. E[S|X] = g·X and ECSQ is scale-equivariant
    (ECSQ(g·X, g²λ) = g·ECSQ(X, λ)), so with the same target rates both code the same
    indices and differ only by the refit gain. Stated margins: rates within 0.005 bits,
    MSE within 0.01 dB; the task-aware MSE is never more than 0.01 dB above."""
    task = report["curves"]["task_aware"]["points"]
    recon = report["curves"]["reconstruction_aware"]["points"]
    for t, r in zip(task, recon, strict=True):
        assert t["rate"] == pytest.approx(r["rate"], abs=0.005)
        assert 10 * math.log10(t["distortion"] / r["distortion"]) <= 0.01
        assert abs(10 * math.log10(t["distortion"] / r["distortion"])) <= 0.01
    lowest_t, lowest_r = task[-1], recon[-1]
    assert lowest_t["rate"] < 0.6
    assert lowest_t["distortion"] <= lowest_r["distortion"] * 10 ** (0.01 / 10)
    # the gain is what a task-blind decoder lacks: X̂ as is is worse by >= 0.15 dB at
    # the lowest rate (measured 0.24 dB) and by >= 1 dB above 2 bits (measured 1.6-1.8)
    as_is = report["curves"]["reconstruction_as_is"]["points"]
    assert as_is[-1]["gap_db"] - lowest_t["gap_db"] >= 0.15
    for t, a in zip(task, as_is, strict=True):
        if t["rate"] > 2:
            assert a["gap_db"] - t["gap_db"] >= 1.0
    assert all(abs(a - report["gain"]) < 0.02 for a in report["gain_refit"])


def test_ecsq_is_scale_equivariant():
    """Why the two curves coincide, checked on the quantizer itself."""
    x = np.random.default_rng(5).normal(0.0, math.sqrt(VS + VN), 5000)
    g, lam = VS / (VS + VN), 0.2
    plain = ecsq(x, lam, iterations=60)
    scaled = ecsq(g * x, g * g * lam, iterations=60)
    np.testing.assert_allclose(scaled.codebook, g * plain.codebook, rtol=1e-9, atol=1e-12)
    assert scaled.rate == pytest.approx(plain.rate, abs=1e-12)


def test_negative_control_nothing_beats_the_uncompressed_estimate(report):
    """No decoder of quantized X has a lower MSE on S than E[S|X] from X itself: not the
    mmse formula, and not that estimator's held-out MSE on the same samples (which is
    itself the formula within 4 standard errors)."""
    n = report["samples"]["test"]
    assert report["oracle_mse"] == pytest.approx(MMSE, abs=4 * MMSE * math.sqrt(2 / n))
    for key in MEASURED:
        for p in report["curves"][key]["points"]:
            assert p["distortion"] > MMSE
            assert p["distortion_empirical"] > report["oracle_mse"]
            if p["rate"] <= 2.5:  # excess >= 0.02, far above the noise of the direct mean
                assert p["distortion_empirical"] > MMSE


@pytest.mark.parametrize(
    "args, needle",
    [
        (["rd", "laplace", "--remote", "0.5"], "gaussian source only"),
        (["rd", "gaussian", "--remote", "0"], "finite and > 0"),
        (["rd", "gaussian", "--remote", "-1"], "finite and > 0"),
        (["rd", "gaussian", "--remote", "nan"], "finite and > 0"),
        (["rd", "gaussian", "--remote", "inf"], "finite and > 0"),
        (["rd", "gaussian", "--remote", "0.5", "--perception", "0"], "--perception"),
    ],
)
def test_remote_errors_are_one_line(capsys, args, needle):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and "--remote" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"noise_variance": 0.0}, "noise_variance"),
        ({"noise_variance": math.nan}, "noise_variance"),
        ({"noise_variance": "0.5"}, "noise_variance"),
        ({"signal_variance": -1.0}, "signal_variance"),
        ({"rates": [0.0]}, "rates"),
        ({"test": 10}, "test"),
        ({"bound_points": 1}, "bound_points"),
    ],
)
def test_remote_report_bad_input(kwargs, name):
    args = {"noise_variance": 0.5} | kwargs
    with pytest.raises(InputError) as info:
        remote_task_report(**args)
    assert info.value.argument == name
