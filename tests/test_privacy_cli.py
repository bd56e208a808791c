"""``rdlab privacy bench``: the DME report, its peers, the plot and bad parameters."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rdlab.cli import main
from rdlab.data.images import sample_path
from rdlab.eval.privacy_bench import client_vectors, run_bench

SPEECH = Path(__file__).resolve().parent / "data" / "inr" / "speech_ru_0181_0p5s.flac"


def _bench(capsys, *args: str) -> dict:
    status = main(["privacy", "bench", "--json", *args])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


def test_gaussian_bench_reports_rec_against_float_csgm_and_sq(capsys, tmp_path):
    plot = tmp_path / "dme.png"
    report = _bench(capsys, "--eps", "1,4", "--clients", "30", "--trials", "4", "--plot", str(plot))
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [lv["epsilon"] for lv in report["levels"]] == [1.0, 4.0]
    bits = []
    for lv in report["levels"]:
        rec, unc = lv["rec"], lv["uncompressed"]
        # a client's output is far less private than the average it feeds
        assert lv["local"]["epsilon"] > 5 * lv["central"]["epsilon"]
        assert lv["central"]["delta"] == 1e-5
        assert unc["bits"] == 32 * 16 and 0 < rec["payload_bits"] < unc["bits"] / 8
        # exact: the two MSE estimates of the same law agree within 25 % on this small run
        assert rec["mse_clients"] == pytest.approx(unc["mse_clients"], rel=0.25)
        # CSGM's first budget is REC's own bits; stochastic quantization at 1..8 bits
        assert lv["csgm"][0]["bits"] == pytest.approx(rec["payload_bits"], rel=0.5, abs=2)
        assert [r["bits_per_coordinate"] for r in lv["sq"]] == [1, 2, 4, 8]
        assert lv["checks"]["rec_no_worse_than_csgm"] is True
        # the message's proved local bound is looser than the output's own ε
        assert rec["message"]["local"]["epsilon"] > lv["local"]["epsilon"]
        assert rec["decode_per_s"] > rec["encode_per_s"] > 0
        bits.append(rec["payload_bits"])
    # less privacy: more information per client, more bits, lower MSE
    assert bits[1] > bits[0]
    assert report["levels"][1]["rec"]["mse_clients"] < report["levels"][0]["rec"]["mse_clients"]


def test_pure_mechanism_reports_the_message_guarantee(capsys):
    report = _bench(
        capsys,
        "--mechanism",
        "privunit",
        "--eps",
        "1",
        "--clients",
        "20",
        "--trials",
        "2",
        "--alpha",
        "3",
    )
    (lv,) = report["levels"]
    assert lv["local"] == {"type": "pure", "epsilon": 1.0}
    assert lv["rec"]["message"]["local"] == {"type": "pure", "epsilon": 6.0}  # 2·α·ε
    assert "csgm" not in lv
    # PrivUnit's own compression beside it: a 32-bit seed whose message is ε-LDP
    assert lv["seed"]["bits"] == 32 and lv["seed"]["message"]["local"]["epsilon"] == 1.0
    assert lv["checks"]["bits_ratio_rec_vs_seed"] < 0.5


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--eps", "0"], "epsilon must be finite and > 0"),
        (["--eps=-1,2"], "epsilon must be finite and > 0"),
        (["--eps", "nan"], "epsilon must be finite and > 0"),
        (["--delta", "0"], "--delta"),
        (["--delta", "1.5"], "--delta"),
        (["--dim", "0"], "--dim"),
        (["--alpha", "1"], "--alpha"),
        (["--reference-std", "0.01"], "unbounded"),
        (["--mechanism", "laplace", "--reference-std", "2"], "gaussian mechanism only"),
        (["--data", "images"], "needs input files"),
        (["--data", "images", "--dim", "5", sample_path()], "square dimension"),
        (["/no/such/file.png"], "input files need --data"),
    ],
)
def test_bad_parameters_are_one_line_errors(capsys, args, needle):
    try:
        status = main(["privacy", "bench", "--clients", "10", "--trials", "2", *args])
    except SystemExit as exc:  # argparse's own refusals
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2
    assert needle in err and err.count("\n") == 1, err


def test_an_existing_plot_is_refused_before_any_work(capsys, tmp_path, monkeypatch):
    plot = tmp_path / "dme.png"
    plot.write_bytes(b"keep")
    import rdlab.eval.privacy_bench as bench

    def fail(**_: object) -> None:
        raise AssertionError("the benchmark ran")

    monkeypatch.setattr(bench, "run_bench", fail)
    status = main(["privacy", "bench", "--plot", str(plot)])
    assert status == 2 and "exists" in capsys.readouterr().err
    assert plot.read_bytes() == b"keep"


def test_real_clients_from_images_and_speech_lie_in_the_unit_ball():
    for source, paths, dim in (("images", [sample_path()], 16), ("speech", [str(SPEECH)], 8)):
        x = client_vectors(source, 40, dim, paths=paths)
        norms = np.linalg.norm(x, axis=1)
        assert x.shape == (40, dim) and norms.max() == pytest.approx(1.0)
        assert np.abs(x.mean(axis=0)).max() < 1e-12  # centered
        assert np.linalg.matrix_rank(x) == dim  # real variety, not a constant vector
    # more clients than the data can give is refused, not padded
    with pytest.raises(Exception, match="clients"):
        client_vectors("images", 100_000, 16, paths=[sample_path()])


def test_bench_is_reproducible_for_a_seed():
    a = run_bench(epsilons=(2.0,), dim=4, clients=10, trials=2, seed=5)
    b = run_bench(epsilons=(2.0,), dim=4, clients=10, trials=2, seed=5)
    c = run_bench(epsilons=(2.0,), dim=4, clients=10, trials=2, seed=6)
    key = ("levels", 0, "rec", "mse")
    get = lambda r: r[key[0]][key[1]][key[2]][key[3]]  # noqa: E731
    assert get(a) == get(b) and get(a) != get(c)


def test_rounds_spend_the_budget_together(capsys):
    """Ten rounds that together meet central ε each add more noise than one round alone
    (dp-accounting composes them); a pure mechanism runs at ε / rounds per round."""
    one = _bench(capsys, "--eps", "2", "--clients", "20", "--trials", "2")
    ten = _bench(capsys, "--eps", "2", "--clients", "20", "--trials", "2", "--rounds", "10")
    z1 = one["levels"][0]["central"]["noise_multiplier"]
    z10 = ten["levels"][0]["central"]["noise_multiplier"]
    # Gaussian rounds compose exactly: ten at multiplier z equal one at z / √10
    assert ten["rounds"] == 10 and z10 / z1 == pytest.approx(math.sqrt(10), rel=5e-3)
    assert ten["levels"][0]["csgm"][0]["sigma"] > one["levels"][0]["csgm"][0]["sigma"]
    lap = _bench(
        capsys,
        "--eps",
        "2",
        "--clients",
        "20",
        "--trials",
        "2",
        "--rounds",
        "4",
        "--mechanism",
        "laplace",
    )
    assert lap["levels"][0]["local"]["epsilon"] == pytest.approx(0.5)
    assert lap["levels"][0]["central"]["pld_epsilon_at_1e-9"] <= 2.0 + 1e-6
