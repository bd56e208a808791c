"""The overfitted latent-grid codec (``overfit``): exact tables, wavefront order, the
integer ARM, round trips, thread independence and refusals."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional

from rdlab.codecs import get_codec, load
from rdlab.codecs.overfit import OverfitImageCodec
from rdlab.coding.tables import shifted_location_scale_probabilities
from rdlab.container import Chunk, RdlFile, decode_rdl, encode_rdl
from rdlab.data.images import sample_path
from rdlab.errors import FormatError, InputError
from rdlab.overfit.arm import (
    ARM,
    CONTEXT,
    MEAN_SHIFTS,
    SCALES,
    IntegerARM,
    context_features,
    laplace_bits,
    wavefront_order,
)
from rdlab.overfit.bitstream import decode_stream, encode_stream
from rdlab.overfit.fit import FitSettings, fit_image, quantize_fit


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    with Image.open(sample_path()) as image:
        return np.asarray(image.convert("RGB"))[40:88, 60:124].copy()  # 48 x 64


@pytest.fixture(scope="module")
def encoded(crop: np.ndarray) -> tuple[bytes, dict]:
    codec = OverfitImageCodec(bpp=1.0, steps=120)
    data = codec.encode(crop)
    return data, codec.last_report


@pytest.mark.parametrize("scale", [0.04, 0.3, 2.0, 40.0])
@pytest.mark.parametrize("shift", [0.0, 0.25, 0.5, 0.75])
def test_shifted_tables_are_the_laplace_bins(scale: float, shift: float) -> None:
    half, masses = shifted_location_scale_probabilities("laplace", scale, shift)
    k = np.arange(-half, half + 1)
    cdf = lambda x: np.where(x < 0, 0.5 * np.exp(x / scale), 1 - 0.5 * np.exp(-x / scale))  # noqa: E731
    reference = cdf(k + 0.5 - shift) - cdf(k - 0.5 - shift)
    assert masses.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(masses[:-1], reference, rtol=1e-9, atol=1e-15)
    # negative control: the unshifted table is not the shifted one
    if shift:
        _, plain = shifted_location_scale_probabilities("laplace", scale, 0.0)
        assert np.abs(plain[:-1] / reference - 1).max() > 1e-3


def test_wavefront_order_puts_every_context_before_its_latent() -> None:
    for h, w in [(1, 1), (3, 7), (9, 4), (16, 16)]:
        order, starts = wavefront_order(h, w)
        assert sorted(order.tolist()) == list(range(h * w))
        front = np.empty(h * w, dtype=np.int64)
        for t in range(starts.size - 1):
            front[order[starts[t] : starts[t + 1]]] = t
        for i in range(h):
            for j in range(w):
                for dy, dx in CONTEXT:
                    y, x = i + dy, j + dx
                    if 0 <= y < h and 0 <= x < w:
                        assert front[y * w + x] < front[i * w + j]
    # negative control: a context reaching three columns right would break the order
    order, starts = wavefront_order(4, 8)
    front = np.empty(32, dtype=np.int64)
    for t in range(starts.size - 1):
        front[order[starts[t] : starts[t + 1]]] = t
    assert front[1 * 8 + 4] >= front[2 * 8 + 1]


def _random_arm(seed: int) -> ARM:
    torch.manual_seed(seed)
    arm = ARM(16)
    with torch.no_grad():
        for layer in arm.layers:
            layer.weight.normal_(0, 0.4)
            layer.bias.normal_(0, 0.4)
    return arm


def test_training_and_coding_see_the_same_context() -> None:
    """The float ARM's masked convolution, the gathered contexts and the coder's padded
    walk are one definition of the context (a mismatch would only cost rate, silently)."""
    from rdlab.overfit.bitstream import _GridWalk

    arm = _random_arm(7)
    grid = torch.from_numpy(np.random.default_rng(2).integers(-9, 10, (13, 17)))
    mean, log_scale = arm(context_features(grid.float()))
    conv_mean, conv_log_scale = arm.grid_parameters(grid.float())
    torch.testing.assert_close(conv_mean, mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(conv_log_scale, log_scale, rtol=1e-5, atol=1e-5)
    walk = _GridWalk(13, 17)
    padded = walk.padded(grid.numpy())
    walked = padded[walk.positions[:, None] + walk.offsets[None, :]]
    gathered = context_features(grid).numpy()[walk.order]
    assert np.array_equal(walked, gathered)
    # negative control: the same walk one column off gives other contexts
    assert not np.array_equal(padded[walk.positions[:, None] + walk.offsets[None, :] + 1], gathered)


def test_integer_arm_follows_the_float_arm() -> None:
    arm = _random_arm(3)
    grid = torch.from_numpy(np.random.default_rng(0).laplace(0, 3, (20, 30)).round())
    integer = IntegerARM.from_float(arm, 10)
    integer.load_into(arm)  # the float ARM with the coded weights
    mean, log_scale = arm(context_features(grid.float()))
    fixed_mean, fixed_log_scale = integer.outputs(context_features(grid).long().numpy())
    step = 2.0**-20
    np.testing.assert_allclose(fixed_mean * step, mean.detach().numpy(), atol=0.05)
    np.testing.assert_allclose(fixed_log_scale * step, log_scale.detach().numpy(), atol=0.05)
    base, index = integer.table_indexes(context_features(grid).long().numpy())
    coded_mean = base + (index % MEAN_SHIFTS) / MEAN_SHIFTS
    assert np.abs(coded_mean - mean.detach().numpy()).max() <= 0.125 + 0.05
    scales = SCALES[index // MEAN_SHIFTS]
    inside = np.abs(log_scale.detach().numpy()) < 3
    ratio = np.abs(np.log(scales[inside]) - log_scale.detach().numpy()[inside])
    assert ratio.max() < 0.07  # half a step of the log-spaced table, plus rounding
    # negative control: another ARM picks other tables
    other = IntegerARM.from_float(_random_arm(4), 10)
    assert (other.table_indexes(context_features(grid).long().numpy())[1] != index).mean() > 0.5


def test_laplace_bits_match_the_integer_tables_rate() -> None:
    values = torch.tensor([-3.0, 0.0, 0.0, 1.0, 5.0])
    bits = laplace_bits(values, torch.zeros(5), torch.zeros(5))  # scale 1
    p0 = 1 - np.exp(-0.5)
    assert bits[1].item() == pytest.approx(-np.log2(p0), rel=1e-5)
    p5 = 0.5 * (np.exp(-4.5) - np.exp(-5.5))
    assert bits[4].item() == pytest.approx(-np.log2(p5), rel=1e-4)


def test_stream_round_trip_is_exact_and_the_stream_is_checked(crop: np.ndarray) -> None:
    image = torch.from_numpy(crop.astype(np.float32) / 255).permute(2, 0, 1).contiguous()
    model, lmbda = fit_image(image, lmbda=1e-3, settings=FitSettings(steps=20))
    with torch.no_grad():  # latents spread as a fit at high rate leaves them
        for g in model.latents:
            g.copy_(torch.randn_like(g) * 4)
    coded, report = quantize_fit(model, image, lmbda)
    data = encode_stream(coded)
    assert report["bits"] == 8 * len(data)
    back = decode_stream(data, 48, 64, 3)
    assert all(np.array_equal(a, b) for a, b in zip(back.grids, coded.grids, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(back.synthesis, coded.synthesis, strict=True))
    with pytest.raises(FormatError):
        decode_stream(data[:-4], 48, 64, 3)
    with pytest.raises(FormatError):
        decode_stream(data + bytes(4), 48, 64, 3)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    with pytest.raises(FormatError):
        decode_stream(bytes(flipped), 48, 64, 3)


def test_codec_round_trip_reports_what_the_decoder_gives(
    crop: np.ndarray, encoded: tuple[bytes, dict]
) -> None:
    data, report = encoded
    codec = OverfitImageCodec()
    first, second = codec.decode(data), codec.decode(data)
    assert first.shape == crop.shape and first.dtype == np.uint8
    assert np.array_equal(first, second)
    mse = np.mean((first.astype(float) - crop) ** 2)
    assert 10 * np.log10(255**2 / mse) == pytest.approx(report["psnr"], abs=1e-6)
    assert report["file_bits"] == 8 * len(data)
    assert np.array_equal(load_decoded(data), first)
    assert report["psnr"] > 22  # a fit, not noise: the mean colour alone gives about 14 dB


def load_decoded(data: bytes) -> np.ndarray:
    return get_codec("overfit").decode(data)


def test_decoding_does_not_depend_on_the_thread_count(encoded: tuple[bytes, dict]) -> None:
    data, _ = encoded
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = OverfitImageCodec().decode(data)
        torch.set_num_threads(2)
        two = OverfitImageCodec().decode(data)
    finally:
        torch.set_num_threads(before)
    assert np.array_equal(one, two)


def test_synthesis_of_a_large_image_does_not_depend_on_the_thread_count() -> None:
    """Several blocks of the per-pixel layers and large upsampling products (the coded
    crop above fits in one block)."""
    from rdlab.overfit.model import LatentGridImage

    torch.manual_seed(5)
    model = LatentGridImage(301, 203, 3, 6)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    grids = [torch.round(g.detach() * 4) for g in model.latents]
    before = torch.get_num_threads()
    outputs = []
    try:
        for threads in (1, 2, 4):
            torch.set_num_threads(threads)
            with torch.no_grad():
                outputs.append(model.synthesis(model.upsample(grids)))
    finally:
        torch.set_num_threads(before)
    assert all(torch.equal(outputs[0], other) for other in outputs[1:])


def test_the_fit_and_the_decoder_upsample_alike() -> None:
    """Matrix products while fitting, ``interpolate`` while decoding: the same bicubic."""
    from rdlab.overfit.model import LatentGridImage

    torch.manual_seed(6)
    model = LatentGridImage(75, 101, 3, 5)
    grids = [torch.randn(h, w, requires_grad=True) for h, w in model.shapes]
    fitted = model.upsample(grids)
    assert fitted.requires_grad
    with torch.no_grad():
        decoded = model.upsample(grids)
    torch.testing.assert_close(fitted.detach(), decoded, rtol=0, atol=1e-5)
    nearest = torch.stack(  # control: another interpolation is far off
        [functional.interpolate(g.detach()[None, None], size=(75, 101))[0, 0] for g in grids]
    )
    assert (nearest - decoded).abs().max() > 0.1


def test_a_higher_target_rate_gives_a_larger_file(crop: np.ndarray) -> None:
    sizes = []
    for bpp in (0.5, 3.0):
        codec = OverfitImageCodec(bpp=bpp, steps=80)
        sizes.append((len(codec.encode(crop)), codec.last_report["psnr"]))
    assert sizes[1][0] > sizes[0][0] and sizes[1][1] > sizes[0][1]


def test_the_coarse_stage_corrects_lmbda_toward_the_target(crop: np.ndarray) -> None:
    from rdlab.overfit.fit import lmbda_guess

    image = torch.from_numpy(crop.astype(np.float32) / 255.0).permute(2, 0, 1)
    ends = {}
    for start in (1e-7, 1.0):  # far too cheap a rate, far too dear
        model, lmbda = fit_image(image, lmbda=start, target_bpp=0.1, settings=FitSettings(steps=40))
        ends[start] = (lmbda, model.fit_report)
    (low, report_low), (high, report_high) = ends[1e-7], ends[1.0]
    assert report_low["coarse_bpp"] > 0.1 > report_high["coarse_bpp"]
    assert 1e-7 < low <= 16e-7 and 1.0 / 16 <= high < 1.0
    # a fixed lmbda is never moved
    assert fit_image(image, lmbda=1e-3, settings=FitSettings(steps=20))[1] == 1e-3
    assert lmbda_guess(0.1) > lmbda_guess(0.4) > 0
    with pytest.raises(InputError):
        lmbda_guess(float("nan"))


def test_greyscale_round_trip(crop: np.ndarray) -> None:
    grey = crop[:, :, 1].copy()
    codec = OverfitImageCodec(bpp=1.0, steps=40)
    back = codec.decode(codec.encode(grey))
    assert back.shape == grey.shape


def test_refusals(crop: np.ndarray, encoded: tuple[bytes, dict]) -> None:
    with pytest.raises(InputError):
        OverfitImageCodec(bpp=0.5, lmbda=1e-3)
    with pytest.raises(InputError):
        OverfitImageCodec(bpp=-1)
    with pytest.raises(InputError):
        OverfitImageCodec(steps=0)
    with pytest.raises(InputError):
        OverfitImageCodec(steps=5).encode(crop.astype(np.float32))
    data, _ = encoded
    file = decode_rdl(data)
    for meta in ({"h": 48, "w": 64}, {"h": 0, "w": 64, "c": 3}, {"h": 48, "w": 64, "c": 2}):
        bad = encode_rdl(RdlFile("overfit", "1", b"", meta, file.chunks), compact=True)
        with pytest.raises(FormatError):
            OverfitImageCodec().decode(bad)
    big = encode_rdl(
        RdlFile("overfit", "1", b"", {"h": 1 << 20, "w": 1 << 20, "c": 3}, file.chunks),
        compact=True,
    )
    with pytest.raises(FormatError):  # SizeLimitError, before any decoding
        OverfitImageCodec().decode(big)
    no_chunk = encode_rdl(RdlFile("overfit", "1", b"", file.metadata, (Chunk("XXXX", b""),)))
    with pytest.raises(FormatError):
        OverfitImageCodec().decode(no_chunk)


def test_cli_compress_and_decompress(tmp_path, crop: np.ndarray) -> None:
    source = tmp_path / "crop.png"
    Image.fromarray(crop).save(source)
    out = tmp_path / "crop.rdl"
    command = [sys.executable, "-m", "rdlab", "compress", str(source), "-o", str(out)]
    run = subprocess.run(
        [*command, "--codec", "overfit", "--target-bpp", "1", "--steps", "30", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["codec"] == "overfit" and report["rdl_bytes"] == out.stat().st_size
    back = tmp_path / "back.png"
    run = subprocess.run(
        [sys.executable, "-m", "rdlab", "decompress", str(out), "-o", str(back)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    with Image.open(back) as image:
        assert np.array_equal(np.asarray(image), load(str(out)))
    refused = subprocess.run(
        [*command[:-2], "-o", str(tmp_path / "x.rdl"), "--codec", "overfit", "--quality", "3"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1


def test_stage_plan_spends_the_budget_in_full_size_steps() -> None:
    from rdlab.overfit.fit import stage_plan

    half = FitSettings(steps=600, coarse_fraction=0.5)
    plan = stage_plan(half, levels=6)
    assert plan == [(1, 1200), (0, 300)]  # half the budget at a quarter of the cost per step
    assert stage_plan(FitSettings(steps=600, coarse_stages=0), levels=6) == [(0, 600)]
    three = FitSettings(steps=600, coarse_stages=3, coarse_fraction=0.5)
    assert stage_plan(three, levels=2) == [(1, 1200), (0, 300)]
    assert stage_plan(FitSettings(steps=1000), levels=6) == [(1, 1200), (0, 700)]
    with pytest.raises(InputError):
        FitSettings(coarse_fraction=1.0)


def test_rec_estimate_of_a_fit_is_reported_and_leaves_the_fit_alone(
    crop: np.ndarray, encoded: tuple[bytes, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, report = encoded
    assert report["rec_kl_bpp"] > 0 and 10 < report["rec_psnr"] < 60
    # the estimate draws its noise from a forked RNG: without it, the same file
    import rdlab.overfit.fit as fit

    monkeypatch.setattr(fit, "rec_estimate", lambda model, image: {})
    assert OverfitImageCodec(bpp=1.0, steps=120).encode(crop) == encoded[0]


def test_integer_arm_refuses_weights_that_could_overflow() -> None:
    arm = IntegerARM.from_float(_random_arm(6), 8)
    weights = list(arm.weights)
    weights[1] = weights[1].copy()
    weights[1][0, 0] = np.iinfo(np.int64).min  # |min| wraps in numpy: checked exactly
    with pytest.raises(InputError):
        IntegerARM(tuple(weights), arm.biases, 8)
    biases = list(arm.biases)
    biases[2] = np.array([1 << 60, 0])
    with pytest.raises(InputError):
        IntegerARM(arm.weights, tuple(biases), 8)
