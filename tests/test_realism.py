"""Learned realism: sliced/empirical W2, the stochastic decoder and the trade-off."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rdlab.cli import main
from rdlab.eval.realism_bench import (
    StochasticNTC,
    empirical_w2,
    run_realism_bench,
    sliced_w2,
)


def test_sliced_and_empirical_w2_measure_a_shift():
    torch.manual_seed(0)
    a = torch.randn(4000, 2)
    assert float(sliced_w2(a, a)) == pytest.approx(0.0, abs=1e-12)
    shift = torch.tensor([0.6, 0.0])
    # mean over unit directions of (shift·θ)² = |shift|² / 2 in 2-D (5 % tolerance)
    assert float(sliced_w2(a + shift, a, 2000)) == pytest.approx(0.18, rel=0.05)
    g = np.random.default_rng(1)
    x, y = g.standard_normal((800, 2)), g.standard_normal((800, 2))
    same = empirical_w2(x, y)
    assert same < 0.1  # finite-sample floor of two draws of one law (about 0.06 here)
    assert empirical_w2(x, y + np.array([0.6, 0.0])) > same + 0.25  # the shift: 0.36


def test_stochastic_decoder_is_deterministic_given_the_shared_seed():
    torch.manual_seed(0)
    model = StochasticNTC().eval()
    model.entropy_bottleneck.update()
    x = torch.randn(50, 2)
    data = model.compress(x)
    a, b = model.decompress(data, 50, seed=7), model.decompress(data, 50, seed=7)
    assert torch.equal(a, b)
    assert not torch.equal(a, model.decompress(data, 50, seed=8))  # the noise matters


def test_perception_weight_trades_distortion_for_realism():
    """Short training on the Gaussian source: a large perception weight brings the
    reconstructions' law much closer to the source (W2² at most half) at a higher MSE,
    and no point beats the theory R(D, P)."""
    report = run_realism_bench(perception_weights=(0.0, 16.0), steps=300)
    plain, real = report["points"]
    assert real["perception"] < 0.5 * plain["perception"]
    assert real["distortion"] > plain["distortion"]
    for p in report["points"]:
        assert p["rate"] > 0 and p["theory_rate"] is not None
        assert p["rate"] >= p["theory_rate"] - 0.05  # the bound (with estimation slack)


@pytest.mark.parametrize(
    "args", [["--weights=-1"], ["--lmbda", "0"], ["--steps", "0"], ["--source", "ar1"]]
)
def test_perception_bench_bad_arguments(capsys, args):
    try:
        status = main(["perception", "bench", *args])
    except SystemExit as exc:  # argparse's own refusals
        status = exc.code
    assert status == 2
    assert capsys.readouterr().err.count("\n") == 1
