"""``rdlab rd``: curves, JSON, plots and errors."""

from __future__ import annotations

import argparse
import json

import pytest

from rdlab.cli import rd
from rdlab.errors import InputError


def _parse(argv):
    parser = argparse.ArgumentParser()
    rd.add_parser(parser.add_subparsers())
    return parser.parse_args(["rd", *argv])


def test_gaussian_json_has_all_curves_and_ecsq_is_above_rd(capsys):
    args = _parse(["gaussian", "--points", "6", "--json"])
    assert args.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    curves = report["curves"]
    assert set(curves) == {"rd", "slb", "ecsq"}
    assert curves["rd"]["kind"] == "exact (closed form)"
    assert report["units"]["rate"] == "bits per dimension"
    for p in curves["ecsq"]["points"]:
        rd_rate = max(0.0, 0.5 * __import__("math").log2(1 / p["distortion"]))
        assert p["rate"] >= rd_rate - 0.01


def test_ar1_text_includes_ecvq(capsys):
    args = _parse(["ar1", "--dim", "2", "--rho", "0.9", "--points", "4"])
    assert rd.run(args) == 0
    out = capsys.readouterr().out
    assert "ECVQ" in out and "R(D) [exact (closed form)]" in out


def test_plot_is_written_atomically_and_not_overwritten(tmp_path, capsys):
    out = tmp_path / "rd.png"
    args = _parse(["gaussian", "--points", "4", "--plot", str(out)])
    rd.run(args)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InputError) as info:
        rd.run(args)
    assert info.value.argument == "output"
    rd.run(_parse(["gaussian", "--points", "4", "--plot", str(out), "--force"]))


@pytest.mark.parametrize(
    ("argv", "argument"),
    [
        (["gaussian", "--points", "1"], "--points"),
        (["banana", "--dim", "3"], "--dim"),
        (["ar1", "--rho", "1.2"], "rho"),
        (["gaussian", "--dim", "0"], "--dim"),
    ],
)
def test_bad_options_raise_input_error(argv, argument):
    with pytest.raises(InputError) as info:
        rd.run(_parse(argv))
    assert info.value.argument == argument
