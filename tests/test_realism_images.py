"""Image realism mode: the realism head, its files, the codec's realism decode, the
realism statistics, training and the commands."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter

from rdlab.cli import main
from rdlab.codecs.hyperprior import HyperpriorImageCodec
from rdlab.codecs.image_model_file import load_image_model
from rdlab.codecs.realism_file import (
    bundled_realism_heads,
    load_realism_head,
    save_realism_head,
)
from rdlab.data.images import read_image
from rdlab.errors import InputError, ModelError
from rdlab.metrics.realism import detail_ratio, patch_sliced_w2
from rdlab.nn.realism import RealismHead, RealismHeadConfig, shared_noise

SAMPLE = str(files("rdlab") / "samples" / "chelsea_256x192.png")


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rdlab: error:"), err


@pytest.fixture(scope="module")
def sample() -> np.ndarray:
    return read_image(SAMPLE)


@pytest.fixture(scope="module")
def sample_file(sample) -> bytes:
    return HyperpriorImageCodec(quality=1).encode(sample)


# -- statistics ----------------------------------------------------------------------------


def test_patch_sw2_and_detail_ratio_rank_blur_and_texture(sample):
    assert patch_sliced_w2(sample, sample) == 0.0
    assert detail_ratio(sample, sample) == pytest.approx(1.0)
    blurred = np.clip(np.rint(gaussian_filter(sample.astype(float), (1.5, 1.5, 0))), 0, 255)
    blurred = blurred.astype(np.uint8)
    # negative control: a blur keeps the mean but loses the spread of textured patches
    assert detail_ratio(sample, blurred) < 0.2
    noise = np.random.default_rng(0).normal(0, 4, sample.shape)
    noisy = np.clip(np.rint(blurred + noise), 0, 255).astype(np.uint8)
    # texture of about the right energy brings the patch statistics back towards the original
    assert patch_sliced_w2(sample, noisy) < patch_sliced_w2(sample, blurred)
    assert detail_ratio(sample, noisy) > detail_ratio(sample, blurred)
    with pytest.raises(InputError):
        patch_sliced_w2(sample[:4, :4], sample[:4, :4])
    with pytest.raises(InputError):
        patch_sliced_w2(sample, sample[:, :-1])


# -- the head and its noise ------------------------------------------------------------------


def test_shared_noise_rows_do_not_depend_on_the_rows_read_with_them():
    whole = shared_noise(5, 2, 0, 12, 40)
    assert whole.shape == (1, 2, 12, 40)
    assert torch.equal(whole[:, :, 3:7], shared_noise(5, 2, 3, 4, 40))
    assert not torch.equal(whole, shared_noise(6, 2, 0, 12, 40))
    big = shared_noise(1, 2, 0, 200, 200)
    assert abs(float(big.mean())) < 0.01 and abs(float(big.std()) - 1.0) < 0.01


def test_an_untrained_head_is_the_identity_and_its_receptive_field_is_its_halo():
    torch.manual_seed(0)
    head = RealismHead(RealismHeadConfig(channels=8, layers=3))
    x = torch.rand(1, 3, 32, 32)
    noise = torch.randn(1, 2, 32, 32)
    assert torch.equal(head(x, noise, torch.tensor([1.0])), x)
    torch.nn.init.normal_(head.net[-1].weight, std=0.1)
    base = head(x, noise, torch.tensor([1.0]))
    changed = noise.clone()
    changed[:, :, 16, 16] += 5.0  # one noise value moves outputs within the halo only
    moved = (head(x, changed, torch.tensor([1.0])) - base).abs().sum(dim=(0, 1)) > 0
    rows = torch.nonzero(moved.any(dim=1)).flatten()
    assert rows.min() >= 16 - head.halo and rows.max() <= 16 + head.halo
    assert rows.max() - rows.min() == 2 * head.halo


def test_head_config_is_checked():
    with pytest.raises(InputError):
        RealismHeadConfig(layers=1)
    with pytest.raises(InputError):
        RealismHeadConfig.from_dict({"channels": 8})


# -- head files --------------------------------------------------------------------------------


def test_head_files_round_trip_and_are_bound_to_their_model(tmp_path):
    model = load_image_model("default")
    torch.manual_seed(1)
    head = RealismHead(RealismHeadConfig(channels=8, layers=3, levels=model.levels))
    torch.nn.init.normal_(head.net[-1].weight, std=0.01)
    path = tmp_path / "head.safetensors"
    save_realism_head(head, model, path, card="test")
    loaded = load_realism_head(str(path), model)
    for key, value in head.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    other = load_image_model("default-e8")
    assert other.hash != model.hash
    with pytest.raises(ModelError, match="another image model"):
        load_realism_head(str(path), other)
    damaged = bytearray(path.read_bytes())
    damaged[-3] ^= 0xFF
    (tmp_path / "damaged.safetensors").write_bytes(bytes(damaged))
    with pytest.raises(ModelError):
        load_realism_head(str(tmp_path / "damaged.safetensors"), model)
    with pytest.raises(InputError):
        load_realism_head(str(tmp_path / "missing.safetensors"), model)
    with pytest.raises(InputError, match="no bundled realism head"):
        load_realism_head("default", other)


# -- the codec's realism decode ------------------------------------------------------------------


def test_the_bundled_head_exists_for_the_default_model():
    assert "default" in bundled_realism_heads()


def test_realism_decode_is_reproducible_and_leaves_the_plain_decode_alone(sample_file):
    plain = HyperpriorImageCodec().decode(sample_file)
    real = HyperpriorImageCodec(realism="default").decode(sample_file)
    again = HyperpriorImageCodec(realism="default", realism_seed=0, tile=64).decode(sample_file)
    other_seed = HyperpriorImageCodec(realism="default", realism_seed=1).decode(sample_file)
    assert real.shape == plain.shape and real.dtype == np.uint8
    assert np.array_equal(real, again)  # same seed: same pixels, whatever the band height
    assert not np.array_equal(real, plain)
    assert not np.array_equal(real, other_seed)  # the shared noise matters
    assert np.array_equal(HyperpriorImageCodec().decode(sample_file), plain)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one_thread = HyperpriorImageCodec(realism="default").decode(sample_file)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(one_thread, real)


def test_realism_decode_restores_texture_at_a_bounded_psnr_cost(sample, sample_file):
    """The bundled head's claim on the bundled photo (never a training photo): lower patch
    SW2² and more fine detail than the plain decode, for at most 1 dB of PSNR."""
    from rdlab.metrics import psnr

    plain = HyperpriorImageCodec().decode(sample_file)
    real = HyperpriorImageCodec(realism="default").decode(sample_file)
    assert patch_sliced_w2(sample, real) < 0.5 * patch_sliced_w2(sample, plain)
    assert detail_ratio(sample, real) > 1.5 * detail_ratio(sample, plain)
    assert psnr(sample, plain) - 1.0 < psnr(sample, real) < psnr(sample, plain)


def test_codec_refuses_bad_realism_options():
    with pytest.raises(InputError):
        HyperpriorImageCodec(realism="")
    with pytest.raises(InputError):
        HyperpriorImageCodec(realism="default", realism_seed=-1)
    with pytest.raises(InputError):
        HyperpriorImageCodec(realism="default", realism_seed=True)


# -- commands -----------------------------------------------------------------------------------


def test_decompress_with_realism(tmp_path, capsys, sample_file):
    source = tmp_path / "cat.rdl"
    source.write_bytes(sample_file)
    out = tmp_path / "cat.png"
    code, text, err = run_cli(
        capsys, "decompress", source, "-o", out, "--realism", "--realism-seed", "3", "--json"
    )
    assert code == 0, err
    report = json.loads(text)
    assert report["realism"] == {"head": "default", "seed": 3}
    expected = HyperpriorImageCodec(realism="default", realism_seed=3).decode(sample_file)
    assert np.array_equal(np.asarray(Image.open(out)), expected)


def test_decompress_realism_refusals(tmp_path, capsys, sample):
    lossless = tmp_path / "cat.rdl"
    code, _, err = run_cli(capsys, "compress", SAMPLE, "-o", lossless, "--codec", "lossless")
    assert code == 0, err
    code, _, err = run_cli(capsys, "decompress", lossless, "-o", tmp_path / "a.png", "--realism")
    assert_one_line_error(code, err)
    code, _, err = run_cli(
        capsys, "decompress", lossless, "-o", tmp_path / "b.png", "--realism-seed", "2"
    )
    assert_one_line_error(code, err)
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "b.png").exists()


def test_perception_images_command(tmp_path, capsys):
    plot = tmp_path / "realism.png"
    code, out, err = run_cli(
        capsys, "perception", "images", "--quality", "2", "--json", "--plot", plot
    )
    assert code == 0, err
    report = json.loads(out)
    (row,) = report["qualities"]
    assert row["quality"] == 2.0 and row["bpp"] > 0
    assert row["realism"]["patch_sw2"] < row["plain"]["patch_sw2"]
    assert row["realism"]["psnr"] < row["plain"]["psnr"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = run_cli(capsys, "perception", "images", "--quality", "9")
    assert_one_line_error(code, err)


# -- training ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    image = read_image(SAMPLE)
    for i, (top, left) in enumerate(((0, 0), (0, 60), (40, 20))):
        Image.fromarray(image[top : top + 128, left : left + 192]).save(folder / f"p{i}.png")
    return folder


def test_train_realism_writes_a_head_the_codec_decodes_with(tmp_path, capsys, photo_dir):
    run = tmp_path / "run"
    args = ("train", "realism", photo_dir, "--out", run, "--steps", "4", "--batch", "2",
            "--crop", "64", "--crops", "6", "--channels", "8", "--layers", "3",
            "--log-every", "2", "--json")  # fmt: skip
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["step"] == 4 and Path(summary["head"]).is_file()
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4] and all(np.isfinite(r["loss"]) for r in rows)
    image = read_image(SAMPLE)
    data = HyperpriorImageCodec(quality=2).encode(image)
    decoded = HyperpriorImageCodec(realism=summary["head"]).decode(data)
    assert decoded.shape == image.shape
    # resuming to more steps continues the same run
    code, out, err = run_cli(capsys, *args[:-1], "--steps", "6", "--resume", "--json")
    assert code == 0, err
    assert json.loads(out)["step"] == 6


@pytest.mark.parametrize(
    "extra",
    [("--crop", "100"), ("--perception-weight", "-1"), ("--steps", "0"), ("--crops", "0")],
)
def test_train_realism_refuses_bad_options_before_any_work(tmp_path, capsys, photo_dir, extra):
    code, _, err = run_cli(capsys, "train", "realism", photo_dir, "--out", tmp_path / "r", *extra)
    assert_one_line_error(code, err)
    assert not (tmp_path / "r").exists()
