"""The command line: reports, --json, exit codes, one-line errors, safe outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from rdlab.cli import main
from rdlab.data import read_image, sample_path


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, expected_code=2):
    assert code == expected_code
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rdlab: error:") or lines[0].startswith("rdlab: internal error:")


def test_info_json_lists_dependencies_and_codecs(capsys):
    code, out, _ = run_cli(capsys, "info", "--json")
    assert code == 0
    report = json.loads(out)
    for name in ("torch", "numpy", "scipy", "constriction", "Pillow", "tqdm"):
        assert report["dependencies"][name], name
    assert "lossless" in report["codecs"]
    assert "hyperprior" in report["codecs"]
    # rdlab's own benchmark codecs have their place, apart from the classical ones
    assert set(report["classical_codecs"]) == {"jpeg", "webp", "jpeg2000", "avif", "heic", "jxl"}
    assert report["classical_codecs"]["jpeg"] is True  # Pillow always has JPEG
    assert set(report["bench_codecs"]) == {"rdlab", "rdlab-e8", "rdlab-refine"}
    assert report["bench_codecs"]["rdlab-e8"]["model"] == "default-e8"
    assert all(entry["model_bundled"] for entry in report["bench_codecs"].values())
    assert "self_test" not in report  # nothing learned is run without --self-test


def test_info_reports_bundled_models_from_their_files(capsys):
    import hashlib
    from importlib.resources import files

    code, out, _ = run_cli(capsys, "info", "--json")
    assert code == 0
    models = json.loads(out)["models"]
    data = (files("rdlab") / "models" / "default.safetensors").read_bytes()
    assert models["default"] == {
        "codec": "hyperprior",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert any(m["codec"] == "inr" for m in models.values())
    head = (files("rdlab") / "models" / "realism" / "default.safetensors").read_bytes()
    assert models["realism/default"]["sha256"] == hashlib.sha256(head).hexdigest()
    assert json.loads(out)["threads"]["default"] >= 1


def test_info_self_test_runs_every_codec(capsys):
    code, out, _ = run_cli(capsys, "info", "--self-test", "--json")
    report = json.loads(out)
    tested = {entry["codec"]: entry for entry in report["self_test"]}
    assert set(tested) == set(report["registry"])  # every codec of the one registry
    assert set(report["registry"]) == (
        set(report["codecs"]) | set(report["classical_codecs"]) | set(report["bench_codecs"])
    )
    assert tested["ltc"]["kind"] == "rdlab"  # the vector codec runs too
    failed = {name: e.get("error") for name, e in tested.items() if not e["ok"]}
    assert failed == {}
    assert code == 0
    assert all(e["seconds"] >= 0 and e["bytes"] > 0 for e in tested.values())
    assert report["torch"]["threads"] >= 1


def test_demo_round_trips_exactly_and_beats_png(capsys, tmp_path):
    out_file = tmp_path / "demo.rdl"
    code, out, _ = run_cli(capsys, "demo", "--json", "-o", str(out_file))
    assert code == 0
    report = json.loads(out)
    assert report["exact_round_trip"] is True
    assert report["bits_per_pixel"] < report["png_bits_per_pixel"]
    # the file costs the information content plus coder and header overhead (< 1 %)
    assert report["bits_per_pixel"] == pytest.approx(
        report["information_content_bits_per_pixel"], rel=0.01
    )
    assert out_file.stat().st_size == report["file_bytes"]


def test_compress_decompress_round_trip(capsys, tmp_path):
    rdl, png = tmp_path / "x.rdl", tmp_path / "x.png"
    code, out, _ = run_cli(
        capsys, "compress", sample_path(), "-o", str(rdl), "--codec", "lossless", "--json"
    )
    assert code == 0 and json.loads(out)["rdl_bytes"] == rdl.stat().st_size
    assert json.loads(out)["lossless"] is True and json.loads(out)["psnr_db"] is None
    code, out, _ = run_cli(capsys, "decompress", str(rdl), "-o", str(png), "--json")
    assert code == 0
    assert np.array_equal(read_image(png), read_image(sample_path()))

    code, out, _ = run_cli(capsys, "inspect", str(rdl), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["codec"] == "lossless"
    assert [c["tag"] for c in report["chunks"]] == ["SIDE", "RESD"]
    assert report["total_size"] == rdl.stat().st_size
    assert (
        report["header_size"] + sum(16 + c["length"] for c in report["chunks"])
        == rdl.stat().st_size
    )


def test_existing_output_is_kept_unless_forced(capsys, tmp_path):
    target = tmp_path / "x.rdl"
    target.write_bytes(b"precious")
    code, _, err = run_cli(capsys, "compress", sample_path(), "-o", str(target))
    assert_one_line_error(code, err)
    assert target.read_bytes() == b"precious"
    code, _, _ = run_cli(capsys, "compress", sample_path(), "-o", str(target), "--force")
    assert code == 0 and target.read_bytes()[:4] == b"\x89RDL"


def test_never_writes_over_the_input(capsys, tmp_path):
    rdl = tmp_path / "x.rdl"
    assert run_cli(capsys, "compress", sample_path(), "-o", str(rdl))[0] == 0
    before = rdl.read_bytes()
    code, _, err = run_cli(capsys, "decompress", str(rdl), "-o", str(rdl), "--force")
    assert_one_line_error(code, err)
    assert rdl.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["x.rdl"]  # no temporary file left behind


@pytest.mark.parametrize(
    "damage", ["missing", "not-rdl", "truncated", "bitflip", "directory", "unknown-codec"]
)
def test_bad_files_give_one_line_and_exit_2(capsys, tmp_path, damage):
    rdl = tmp_path / "x.rdl"
    assert run_cli(capsys, "compress", sample_path(), "-o", str(rdl))[0] == 0
    data = bytearray(rdl.read_bytes())
    if damage == "missing":
        rdl.unlink()
    elif damage == "not-rdl":
        rdl.write_bytes(b"hello, world\n" * 10)
    elif damage == "truncated":
        rdl.write_bytes(bytes(data[: len(data) // 2]))
    elif damage == "bitflip":
        data[len(data) // 2] ^= 0x10
        rdl.write_bytes(bytes(data))
    elif damage == "directory":
        rdl.unlink()
        rdl.mkdir()
    elif damage == "unknown-codec":
        from rdlab.container import RdlFile, decode_rdl, encode_rdl

        f = decode_rdl(bytes(data))
        rdl.write_bytes(encode_rdl(RdlFile("no-such-codec", "9", b"", f.metadata, f.chunks)))
    for command in ("inspect", "decompress"):
        if command == "inspect" and damage == "unknown-codec":
            continue  # inspect shows files of any codec
        code, _, err = (
            run_cli(capsys, command, str(rdl), "-o", str(tmp_path / "o.png"))
            if command == "decompress"
            else run_cli(capsys, command, str(rdl))
        )
        assert_one_line_error(code, err)
    assert not (tmp_path / "o.png").exists()


def test_bad_images_and_arguments(capsys, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    code, _, err = run_cli(capsys, "compress", str(text))
    assert_one_line_error(code, err)
    code, _, err = run_cli(
        capsys, "compress", sample_path(), "--codec", "nope", "-o", str(tmp_path / "y.rdl")
    )
    assert_one_line_error(code, err)
    assert "nope" in err
    with pytest.raises(SystemExit) as info:
        main(["inspect"])  # missing argument: argparse, one line, exit 2
    assert info.value.code == 2
    assert_one_line_error(2, capsys.readouterr().err)


def test_internal_errors_exit_1_and_debug_shows_traceback(capsys, monkeypatch):
    from rdlab.cli import info

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(info, "collect", broken)
    code, _, err = run_cli(capsys, "info")
    assert_one_line_error(code, err, expected_code=1)
    assert "--debug" in err
    code, _, err = run_cli(capsys, "--debug", "info")
    assert code == 1 and "Traceback" in err and "boom" in err


def test_console_entry_point_runs_in_a_subprocess(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rdlab", "inspect", str(tmp_path / "none.rdl")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("rdlab: error:") and result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_several_inputs_get_their_own_outputs(capsys, tmp_path):
    import shutil

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    shutil.copy(sample_path(), a)
    shutil.copy(sample_path(), b)
    code, out, _ = run_cli(capsys, "compress", str(a), str(b), "--codec", "lossless", "--json")
    assert code == 0
    assert [f["output"] for f in json.loads(out)["files"]] == [f"{a}.rdl", f"{b}.rdl"]
    code, _, err = run_cli(capsys, "compress", str(a), str(b), "-o", str(tmp_path / "x.rdl"))
    assert_one_line_error(code, err)
    a.unlink()
    code, out, _ = run_cli(capsys, "decompress", f"{a}.rdl", "--json")
    assert code == 0 and json.loads(out)["output"] == str(a)  # a.png.rdl -> a.png
    assert np.array_equal(read_image(a), read_image(b))
