"""The image R-D benchmark: evaluate_images, plots and ``rdlab bench images``."""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import pytest
from PIL import Image

from rdlab.cli import bench
from rdlab.codecs import classical
from rdlab.data import read_image, sample_path
from rdlab.errors import InputError
from rdlab.eval.image_bench import evaluate_images, load_rgb
from rdlab.eval.plots import rd_plot
from rdlab.parallel import Engine

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Four points per codec so that the cubic (VCEG-M33) fit has what it needs.
FEW = {
    "jpeg": "jpeg=10,30,60,90",
    "webp": "webp=10,40,70,92",
    "jpeg2000": "jpeg2000=0.2,0.5,1.0,2.0",
}


@pytest.fixture
def image_dir(tmp_path):
    """2 small photos (one >= 161 px for MS-SSIM), 1 broken file, 1 greyscale image."""
    folder = tmp_path / "images"
    folder.mkdir()
    photo = read_image(sample_path())  # 192 x 256
    Image.fromarray(photo).save(folder / "a_photo.png")
    Image.fromarray(photo[::2, ::2]).save(folder / "b_small.png")  # 96 x 128: no MS-SSIM
    (folder / "c_broken.png").write_bytes(PNG_MAGIC + b"not really a png")
    Image.fromarray(photo[:, :, 1]).save(folder / "d_grey.png")
    return folder


def _snapshot(folder):
    return sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir())


def _bench(*argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    bench.add_parser(sub)
    args = parser.parse_args(["bench", "images", *argv])
    return args.run(args)


def test_cli_writes_every_output_and_leaves_dir_alone(image_dir, tmp_path, capsys):
    before = _snapshot(image_dir)
    out = tmp_path / "out"
    argv = [str(image_dir), "--codecs", "jpeg,webp,jp2", "--out", str(out)]
    argv += [a for spec in FEW.values() for a in ("--qualities", spec)]
    assert _bench(*argv, "--json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert _snapshot(image_dir) == before
    assert sorted(os.listdir(out)) == sorted(bench.OUTPUTS)
    for name in ("rd_psnr.png", "rd_msssim.png"):
        assert (out / name).read_bytes().startswith(PNG_MAGIC)

    assert summary["dataset"]["images"] == 3
    assert [s["path"] for s in summary["skipped"]] == [str(image_dir / "c_broken.png")]
    assert summary["anchor"] == "jpeg"
    for metric in ("psnr", "ms_ssim_db"):
        for method in ("pchip", "cubic"):
            assert summary["bd"]["jpeg"][metric][method]["bd_rate"] == pytest.approx(0, abs=1e-9)
            assert summary["bd"]["webp"][metric][method]["bd_rate"] is not None
    assert summary["bd"]["jpeg"]["psnr"]["pchip"]["images"] == 3
    assert summary["bd"]["jpeg"]["ms_ssim_db"]["pchip"]["images"] == 2  # small image: none
    assert summary["codecs"]["jpeg"]["chroma"] == "4:4:4"
    assert summary["versions"]["Pillow"]
    assert [p["quality"] for p in summary["mean_curves"]["jpeg2000"]] == [0.2, 0.5, 1.0, 2.0]

    per_image = json.loads((out / "per_image.json").read_text())
    records = {r["file"]: r for r in per_image["images"]}
    assert set(records) == {"a_photo.png", "b_small.png", "d_grey.png"}
    assert records["d_grey.png"]["conversion"] == "grey replicated to RGB"
    small = records["b_small.png"]["results"]["jpeg"]
    assert all(p["ms_ssim"] is None and p["ms_ssim_db"] is None for p in small)
    big = records["a_photo.png"]["results"]["webp"]
    assert all(0 < p["ms_ssim"] < 1 for p in big)
    for point in big:
        assert point["bpp"] == pytest.approx(8 * point["bytes"] / (192 * 256))
        assert point["payload_bytes"] <= point["bytes"]
        assert point["encode_seconds"] >= 0 and point["decode_seconds"] >= 0
    bpps = [p["bpp"] for p in big]
    assert bpps == sorted(bpps)

    table = (out / "bd_rate.md").read_text()
    assert "| jpeg |" in table and "| webp |" in table and "| jpeg2000 |" in table
    assert "c_broken.png" in table


def test_existing_outputs_need_force_and_dir_is_refused(image_dir, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [str(image_dir), "--codecs", "jpeg", "--out", str(out), "--qualities", FEW["jpeg"]]
    assert _bench(*argv, "--limit", "1") == 0
    text = capsys.readouterr().out
    assert "BD-rate against jpeg" in text and "| jpeg |" in text
    with pytest.raises(InputError, match="--force"):
        _bench(*argv, "--limit", "1")
    assert _bench(*argv, "--limit", "1", "--force") == 0
    before = _snapshot(image_dir)
    for bad_out in (image_dir, image_dir / "sub"):
        with pytest.raises(InputError) as info:
            _bench(str(image_dir), "--codecs", "jpeg", "--out", str(bad_out))
        assert info.value.argument == "out"
    assert _snapshot(image_dir) == before


def test_unavailable_codec_is_reported_and_the_bench_continues(image_dir, tmp_path, monkeypatch):
    classical.works.cache_clear()
    monkeypatch.setattr(classical, "_jxl_backend", lambda: None)
    try:
        result = evaluate_images(
            image_dir,
            ["jpeg", "jxl"],
            qualities={"jpeg": [10, 30, 60, 90], "jxl": [20, 80]},
            limit=1,
        )
    finally:
        classical.works.cache_clear()
    assert "jxl" in result["unavailable"] and "pillow-jxl-plugin" in result["unavailable"]["jxl"]
    assert result["codecs"]["jxl"]["available"] is False
    assert set(result["mean_curves"]) == {"jpeg"}
    assert result["dataset"]["images"] == 1
    assert result["bd"]["jpeg"]["psnr"]["pchip"]["bd_rate"] == pytest.approx(0, abs=1e-9)


def test_unknown_codec_is_an_input_error(image_dir):
    with pytest.raises(InputError) as info:
        evaluate_images(image_dir, ["jpeg", "gif"])
    assert info.value.argument == "codecs"


def test_anchor_is_added_and_progress_is_called(image_dir):
    seen = []

    def progress(items, description, total):
        seen.append((description, total))
        return items

    result = evaluate_images(
        image_dir, ["webp"], qualities={"jpeg": [20, 80], "webp": [20, 80]}, progress=progress
    )
    assert list(result["mean_curves"]) == ["jpeg", "webp"]
    assert seen == [("benchmarking", 6)]  # 3 images x 2 codecs
    # pchip works with 2 points; cubic needs 4 and is reported per image as a failure.
    webp = result["bd"]["webp"]["psnr"]
    assert webp["pchip"]["images"] == 3 and webp["pchip"]["bd_rate"] is not None
    assert webp["cubic"]["images"] == 0 and webp["cubic"]["bd_rate"] is None
    assert len(webp["cubic"]["failures"]) == 3


def test_cli_default_codecs_start_with_rdlab(image_dir, tmp_path, monkeypatch):
    """Without --codecs the benchmark sweeps rdlab's own codec first, then the classical
    ones (as the README shows)."""
    import rdlab.eval.image_bench as image_bench

    seen = {}

    def fake(directory, codecs, **options):
        seen["codecs"] = list(codecs)
        raise InputError("stop", "enough")

    monkeypatch.setattr(image_bench, "evaluate_images", fake)
    with pytest.raises(InputError):
        _bench(str(image_dir), "--out", str(tmp_path / "out"))
    assert seen["codecs"][0] == "rdlab"
    assert set(seen["codecs"][1:]) == {"jpeg", "webp", "jpeg2000", "avif", "heic", "jxl"}


def test_translucent_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 0  # fully transparent: white
    rgba[0, 0, 3] = 255  # one opaque red-ish pixel
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    image, note = load_rgb(tmp_path / "t.png")
    assert note == "translucent alpha composited on white"
    assert image[0, 0].tolist() == [200, 0, 0]
    assert image[1, 1].tolist() == [255, 255, 255]


def test_rd_plot_is_png_bytes():
    curves = {
        "jpeg": [{"bpp": 0.5, "psnr": 30.0}, {"bpp": 1.0, "psnr": 34.0}],
        "webp": [{"bpp": 0.4, "psnr": 31.0}, {"bpp": 0.9, "psnr": 35.0}],
    }
    data = rd_plot(curves, "psnr", dataset="toy", images=2, anchor="jpeg")
    assert data.startswith(PNG_MAGIC)
    with pytest.raises(InputError):
        rd_plot(curves, "bogus")


def test_a_codec_failing_on_one_image_drops_that_image_only(image_dir, monkeypatch):
    real_encode = classical.WebpCodec.encode

    def flaky(self, x):
        if x.shape[0] < 150:  # the small image
            raise RuntimeError("encoder crashed")
        return real_encode(self, x)

    monkeypatch.setattr(classical.WebpCodec, "encode", flaky)
    result = evaluate_images(
        image_dir, ["webp"], qualities={"jpeg": [20, 50, 80], "webp": [20, 50, 80]}
    )
    assert [f["codec"] for f in result["failures"]] == ["webp"]
    assert "encoder crashed" in result["failures"][0]["error"]
    assert result["dataset"]["images"] == 2  # the photo and the greyscale image remain
    assert {r["file"] for r in result["images"]} == {"a_photo.png", "d_grey.png"}
    assert result["bd"]["webp"]["psnr"]["pchip"]["images"] == 2


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items()
                if "seconds" not in k and k != "versions"}  # fmt: skip
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def test_two_workers_give_the_same_results_as_one(image_dir):
    """Sweeps on 2 worker processes (the learned codec's model loaded per worker): every
    number but the timings equals the one-process run; the file order is the plan's."""
    sweeps = {"jpeg": [20, 50, 80], "rdlab": [1, 4]}
    one = evaluate_images(image_dir, ["jpeg", "rdlab"], qualities=sweeps)
    two = evaluate_images(image_dir, ["jpeg", "rdlab"], qualities=sweeps,
                          engine=Engine(workers=2, threads=1))  # fmt: skip
    assert [r["file"] for r in two["images"]] == ["a_photo.png", "b_small.png", "d_grey.png"]
    assert _without_timings(two) == _without_timings(one)
    assert two["images"][0]["results"]["rdlab"][1]["bpp"] > 0


def test_ray_actors_give_the_results_of_one_process(image_dir, tmp_path, capsys):
    """``rdlab bench images DIR --ray --workers 2`` on a local Ray instance (inside a
    network namespace with only loopback): the same per-image numbers as one process."""
    pytest.importorskip("ray")
    from _private_network import run_isolated

    qualities = ["--qualities", "jpeg=20,50,80", "--qualities", "webp=20,50,80"]
    argv = [str(image_dir), "--codecs", "jpeg,webp", *qualities]
    assert _bench(*argv, "--out", str(tmp_path / "one")) == 0
    capsys.readouterr()
    on_ray = ["--out", str(tmp_path / "ray"), "--ray", "--workers", "2"]
    report, child = run_isolated(tmp_path / "report.json", "--quiet", "bench", "images", *argv,
                                 *on_ray)  # fmt: skip
    assert report["code"] == 0, child.stderr.decode()[-2000:]
    one, ray = (json.loads((tmp_path / d / "per_image.json").read_text()) for d in ("one", "ray"))
    assert _without_timings(ray) == _without_timings(one)
    assert len(one["images"]) == 3
