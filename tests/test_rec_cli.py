"""``rdlab rec bench``: JSON report against the bounds, plot, bad arguments."""

from __future__ import annotations

import json

import pytest

from rdlab.cli import main
from rdlab.eval.rec_bench import RecBenchConfig, run_rec_bench


def test_rec_bench_json_reports_every_sampler_against_the_bounds(capsys, tmp_path):
    plot = tmp_path / "rec.png"
    status = main(
        [
            "rec",
            "bench",
            "--kl",
            "2,6",
            "--dims",
            "1,8",
            "--runs",
            "24",
            "--json",
            "--plot",
            str(plot),
        ]
    )
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    names = {(p["sampler"], p["dim"]) for p in report["points"]}
    assert {("pfr", 1), ("gprs", 1), ("gprs-bb", 1), ("orc", 1), ("mrc", 1)} <= names
    assert {("pfr", 8), ("orc", 8), ("mrc", 8)} <= names and ("gprs", 8) not in names
    for p in report["points"]:
        assert p["kl_bits"] == pytest.approx(2.0 if p["kl_bits"] < 4 else 6.0)
        # every message decoded to the encoder's sample (the bench raises otherwise) and
        # costs at least about KL bits; the exact samplers stay near KL + log2(KL + 1)
        assert p["mean_bits"] > p["kl_bits"] - 1.5
        if p["sampler"] in ("pfr", "gprs"):
            bound = p["kl_bits"] + 2 * (p["kl_bits"] + 2) ** 0.5 + 6
            assert p["mean_bits"] < bound
            # steps average 2^D_inf: a wide tolerance for 24 runs of a geometric-like law
            assert 0.3 < p["mean_steps"] / 2 ** p["dinf_bits"] < 2.5
        if p["sampler"] == "gprs-bb":
            assert p["mean_steps"] < 2.26 * p["kl_bits"] + 9.66
        if p["sampler"] in ("orc", "mrc"):
            assert p["mean_steps"] == 2 ** p["log2_candidates"]


def test_points_beyond_the_budget_are_listed_as_skipped():
    config = RecBenchConfig(kls=(12.0,), dims=(8,), samplers=("pfr",), runs=8, max_candidates=1000)
    report = run_rec_bench(config)
    assert report["points"] == []
    assert (
        report["skipped"][0]["sampler"] == "pfr"
        and "max_candidates" in report["skipped"][0]["reason"]
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["rec", "bench", "--samplers", "pfr,huffman"],
        ["rec", "bench", "--kl", "0:3"],
        ["rec", "bench", "--kl", "abc"],
        ["rec", "bench", "--runs", "1"],
        ["rec", "bench", "--dims", "0"],
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        status = main(argv)
        raise SystemExit(status)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rdlab: error:")
