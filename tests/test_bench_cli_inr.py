"""``rdlab bench audio|proteins|video DIR --out OUT``: the INR benchmark on a folder, with
tiny toy models and samples (outputs, refusals before any work, failures)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from rdlab.cli import bench, main
from rdlab.inr.model_file import save_inr_model
from test_inr import toy_model
from test_inr_bench import FIT

DATA = Path(__file__).resolve().parent / "data" / "inr"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("inr-models")
    for modality in ("audio", "protein", "video"):
        save_inr_model(folder / f"inr-{modality}-toy.safetensors", toy_model(modality, fit=FIT))
    return str(folder)


@pytest.fixture
def proteins(tmp_path) -> Path:
    """Two chain files, a file of another kind (ignored) and a broken chain."""
    folder = tmp_path / "proteins"
    folder.mkdir()
    for name in ("cytc_d1kyow_.pdb.gz", "cytc_d1kyow_.cif"):
        shutil.copy(DATA / name, folder / name)
    (folder / "notes.txt").write_text("not a structure\n")
    (folder / "zz_broken.pdb").write_text("HEADER    NOTHING HERE\nEND\n")
    return folder


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any signal starts being coded."""
    from rdlab.eval.inr_bench import common

    def refuse(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(common, "map_unordered", refuse)


def _snapshot(folder: Path):
    return sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir())


def _exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's refusals
        return int(exc.code)


def test_proteins_end_to_end_then_a_rerun_without_force_is_refused(
    proteins, model_dir, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    before = _snapshot(proteins)
    argv = ["bench", "proteins", str(proteins), "--out", str(out), "--model-dir", model_dir,
            "--bits-per-atom", "24,40", "--ca-steps", "0.5,2", "--steps", "8",
            "--fine-tune-steps", "0"]  # fmt: skip
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert _snapshot(proteins) == before
    assert sorted(p.name for p in out.iterdir()) == sorted(bench.inr_outputs("protein"))
    assert json.loads((out / "results.json").read_text()) == result
    assert (out / "inr_protein.png").read_bytes().startswith(PNG_MAGIC)
    # the modality's files, sorted; notes.txt is not one
    names = ["cytc_d1kyow_.cif", "cytc_d1kyow_.pdb.gz", "zz_broken.pdb"]
    assert result["files"] == [str(proteins / n) for n in names]
    section = result["protein"]
    assert [r["name"] for r in section["signals"]] == names[:2]
    ((failure),) = section["failures"]
    assert failure["path"] == str(proteins / "zz_broken.pdb") and "C-alpha" in failure["error"]
    assert section["settings"] == {"bits_per_atom": [24.0, 40.0], "ca_steps_angstrom": [0.5, 2.0]}
    for record in section["signals"]:
        assert [p["target"] for p in record["results"]["inr"]] == [24.0, 40.0]
        assert all(p["fit_steps"] == 8 for p in record["results"]["inr"])  # no fine-tuning
    # the means in summary.md are those of the two records, computed here again
    rmsd = [r["results"]["inr"][0]["rmsd_angstrom"] for r in section["signals"]]
    summary = (out / "summary.md").read_text()
    assert "| inr | 24 | " in summary and f"| {sum(rmsd) / 2:.3g} | 2 |" in summary
    assert "zz_broken.pdb" in summary

    monkeypatch.setattr("rdlab.eval.inr_bench.common.map_unordered", _no_map)
    written = _snapshot(out)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--force" in err and err.count("\n") == 1
    assert _snapshot(out) == written
    monkeypatch.undo()
    assert main([*argv, "--force", "--limit", "1"]) == 0
    assert "1 files, 0 failed" in capsys.readouterr().out
    assert json.loads((out / "results.json").read_text())["files"] == [str(proteins / names[0])]


def _no_map(*args, **kwargs):
    raise AssertionError("work started")


def test_audio_with_limit_spread_and_two_workers(model_dir, tmp_path, capsys):
    folder = tmp_path / "audio"
    folder.mkdir()
    for name in ("a.flac", "b.flac", "c.flac"):
        shutil.copy(DATA / "speech_ru_0181_0p5s.flac", folder / name)
    out = tmp_path / "out"
    argv = ["bench", "audio", str(folder), "--out", str(out), "--model-dir", model_dir,
            "--kbps", "12", "--seconds", "0.25", "--steps", "5", "--limit", "2",
            "--workers", "2", "--json"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["files"] == [str(folder / "a.flac"), str(folder / "c.flac")]  # spread
    assert result["workers"] == 2 and result["engine"] == "local"
    section = result["audio"]
    assert [r["name"] for r in section["signals"]] == ["a.flac", "c.flac"]
    # the same file twice: the same points (the INR codec is deterministic)
    a, c = (r["results"]["inr"][0] for r in section["signals"])
    assert a["bytes"] == c["bytes"] and a["snr_db"] == c["snr_db"]
    assert math.isclose(section["mean_curves"]["inr"][0]["snr_db"], a["snr_db"])
    assert set(section["bd_vs_peers"]["opus"]) == {"file", "payload"}
    assert "## BD-rate of INR against its peers" in (out / "summary.md").read_text()
    assert (out / "inr_audio.png").read_bytes().startswith(PNG_MAGIC)


def test_video_end_to_end(model_dir, tmp_path, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(DATA / "carphone_8x32x32.png", folder / "carphone.png")
    out = tmp_path / "out"
    argv = ["bench", "video", str(folder), "--out", str(out), "--model-dir", model_dir,
            "--bpp", "3", "--frames", "2", "--crop", "16", "--steps", "5"]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "1 files, 0 failed" in text and "| inr | 3 |" in text
    result = json.loads((out / "results.json").read_text())
    (record,) = result["video"]["signals"]
    assert (record["frames"], record["height"], record["width"]) == (2, 16, 16)
    assert sorted(p.name for p in out.iterdir()) == sorted(bench.inr_outputs("video"))


REFUSALS = {  # case -> what the one-line error says
    "missing dir": "is not a directory",
    "dir is a file": "is not a directory",
    "no usable file": "holds no audio files",
    "out is dir": "input folder",
    "out inside dir": "input folder",
    "out is a file": "is not a folder",
    "limit 0": "limit: must be a positive integer",
    "steps 0": "steps: must be an integer >= 1",
    "fine-tune-steps -1": "fine_tune_steps: must be an integer >= 0",
    "seed -1": "seed: must be an integer in 0..2^32-1",
    "workers 0": "--workers: must be >= 1",
    "threads 0": "threads: must be an integer >= 1",
    "kbps 0": "argument --kbps: values must be finite and > 0, got 0",
    "kbps text": "argument --kbps: not a list of numbers",
    "seconds 0": "seconds: must be a finite number > 0",
    "model dir missing": "model-dir",
    "no model": "no inr-audio-*.safetensors",
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_before_any_work(case, model_dir, tmp_path, capsys, no_work):
    folder = tmp_path / "audio"
    folder.mkdir()
    shutil.copy(DATA / "speech_ru_0181_0p5s.flac", folder / "a.flac")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no audio here\n")
    out = tmp_path / "out"
    directory, extra = folder, []
    if case == "missing dir":
        directory = tmp_path / "nowhere"
    elif case == "dir is a file":
        directory = folder / "a.flac"
    elif case == "no usable file":
        directory = empty
    elif case == "out is dir":
        out = folder
    elif case == "out inside dir":
        out = folder / "results"
    elif case == "out is a file":
        out = tmp_path / "file"
        out.write_text("x")
    elif case == "model dir missing":
        extra = ["--model-dir", str(tmp_path / "no-models")]
    elif case == "no model":
        extra = ["--model-dir", str(empty)]
    else:
        option, value = case.split()
        extra = [f"--{option}", value]
    if "--model-dir" not in extra:
        extra += ["--model-dir", model_dir]
    before = _snapshot(folder)
    argv = ["bench", "audio", str(directory), "--out", str(out), "--steps", "5", *extra]
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rdlab: error: ") and err.count("\n") == 1, err
    assert REFUSALS[case] in err
    assert _snapshot(folder) == before
    if case != "out is a file":
        assert not out.exists() or out == folder


def test_help_lists_the_modality_options():
    from rdlab.eval.inr_bench import DEFAULTS

    for target, option, key in (("audio", "--kbps", "kbps"),
                                ("proteins", "--bits-per-atom", "bits_per_atom"),
                                ("video", "--bpp", "video_bpp")):  # fmt: skip
        text = _help(target)
        assert option in text and "--workers" in text and "--ray" in text, text
        assert ",".join(f"{v:g}" for v in DEFAULTS[key]) in text  # the benchmark's defaults


def _help(target: str) -> str:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), pytest.raises(SystemExit) as info:
        main(["bench", target, "--help"])
    assert info.value.code == 0
    return buffer.getvalue()
