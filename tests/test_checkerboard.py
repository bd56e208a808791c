"""Checkerboard context model: layout, exact coding, determinism, and that the context
lowers the rate where the hyperprior cannot see the detail."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from torch import nn

from rdlab.errors import FormatError, InputError, ModelError
from rdlab.nn.checkerboard import (
    CheckerboardLatentCodec,
    anchor_mask,
    context_branches,
    merge_checkerboard,
    split_checkerboard,
)
from rdlab.nn.entropy.bottleneck import EntropyBottleneck
from rdlab.nn.entropy.conditional import LocationScaleConditional
from rdlab.nn.latent_codecs import HyperpriorLatentCodec

M, N = 8, 6


def _hyper(m: int = M, n: int = N) -> dict[str, nn.Module]:
    """A hyperprior at a quarter of the latent's resolution (as in the image model)."""
    return {
        "h_a": nn.Sequential(
            nn.Conv2d(m, n, 3, padding=1), nn.ReLU(), nn.Conv2d(n, n, 5, stride=4, padding=2)
        ),
        "h_s_means": nn.Sequential(
            nn.ConvTranspose2d(n, n, 4, stride=4), nn.ReLU(), nn.Conv2d(n, m, 3, padding=1)
        ),
        "h_s_scales": nn.Sequential(
            nn.ConvTranspose2d(n, n, 4, stride=4), nn.ReLU(), nn.Conv2d(n, m, 3, padding=1)
        ),
        "entropy_bottleneck": EntropyBottleneck(n),
        "conditional": LocationScaleConditional(),
    }


def make_codec(seed: int = 0) -> CheckerboardLatentCodec:
    torch.manual_seed(seed)
    scales, means = context_branches(M)
    return CheckerboardLatentCodec(**_hyper(), context_scales=scales, context_means=means)


def smooth_latents(count: int, seed: int, size: int = 16) -> torch.Tensor:
    """Spatially correlated latents: blurred noise, detail finer than the hyper-latent grid."""
    g = np.random.default_rng(seed)
    field = gaussian_filter(g.standard_normal((count, M, size, size)), (0, 0, 1.2, 1.2))
    return torch.from_numpy(12.0 * field).float()


@pytest.fixture(scope="module")
def ready() -> tuple[CheckerboardLatentCodec, torch.Tensor]:
    codec = make_codec().eval()
    y = smooth_latents(3, 1)
    codec.update(calibration_y=y)
    return codec, y


def test_split_and_merge_are_inverse_and_follow_the_mask():
    t = torch.arange(2 * 3 * 4 * 6).reshape(2, 3, 4, 6)
    a, b = split_checkerboard(t)
    assert a.shape == b.shape == (2, 3, 4, 3)
    assert torch.equal(merge_checkerboard(a, b), t)
    mask = anchor_mask(4, 6)
    ma, mb = split_checkerboard(mask)
    assert bool((ma == 1).all()) and bool((mb == 0).all())
    assert float(mask.sum()) == 12
    with pytest.raises(InputError):
        split_checkerboard(torch.zeros(1, 1, 4, 5))


def test_round_trip_matches_the_training_pass(ready):
    codec, y = ready
    strings, shape = codec.compress(y)
    assert len(strings) == 3
    y_hat = codec.decompress(strings, shape)
    with torch.no_grad():
        proxy = codec(y, training_proxy="ste")  # the same rounding, float context means
    assert torch.allclose(y_hat, proxy["y_hat"], atol=1e-4)
    symbols = codec.decode_symbols(strings, shape)
    assert np.array_equal(symbols["residuals"], np.rint((y - proxy["means"]).numpy()))


def test_context_indexes_are_exact_across_threads_batches_and_processes(ready):
    codec, y = ready
    strings, shape = codec.compress(y)
    reference = codec.decode_symbols(strings, shape)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = codec.decode_symbols(strings, shape)
    finally:
        torch.set_num_threads(threads)
    for key in reference:
        assert np.array_equal(one[key], reference[key]), key
    # one sample at a time: the same integers as that sample of the batch
    for i in range(y.shape[0]):
        alone = codec.decode_symbols(*codec.compress(y[i : i + 1]))
        for key in ("indexes", "context_indexes", "residuals"):
            assert np.array_equal(alone[key][0], reference[key][i]), key
    # a forked process decodes the same integers
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        forked = pool.apply(_decode_in_child, (codec, strings, shape))
    assert np.array_equal(forked, reference["context_indexes"])


def _decode_in_child(codec, strings, shape):
    torch.set_num_threads(1)
    return codec.decode_symbols(strings, shape)["context_indexes"]


def test_integer_context_agrees_with_the_float_rule_almost_everywhere(ready):
    codec, y = ready
    strings, shape = codec.compress(y)
    exact = codec.decode_symbols(strings, shape)["context_indexes"]
    with torch.no_grad():
        proxy = codec(y, training_proxy="ste")
    _, scales = split_checkerboard(proxy["scales"])
    floating = codec.conditional.scale_indexes(scales.clamp_min(1e-9).detach())
    differ = np.abs(exact - floating)
    assert differ.max() <= 1 and differ.mean() < 0.05  # only at table boundaries


def test_coding_arrays_restore_the_same_coder(ready):
    codec, y = ready
    strings, _ = codec.compress(y)
    arrays = codec.coding_arrays()
    assert any(k.startswith("context_net.") for k in arrays)
    fresh = make_codec()
    fresh.load_state_dict(codec.state_dict(), strict=False)
    fresh.eval()
    fresh.entropy_bottleneck.update()
    fresh.set_coding_arrays(arrays)
    assert fresh.compress(y)[0] == strings
    fresh.set_coding_arrays(None)
    with pytest.raises(ModelError):
        fresh.context_indexes(np.zeros((1, M, 4, 4), np.int64), np.zeros((1, M, 4, 4), np.int64))


def test_bad_streams_and_inputs_are_refused(ready):
    codec, y = ready
    strings, shape = codec.compress(y)
    with pytest.raises(InputError):
        codec.decompress(strings[:2], shape)
    with pytest.raises(FormatError):
        codec.decompress([strings[0], strings[1], strings[2][: len(strings[2]) // 2]], shape)
    with pytest.raises(FormatError):
        codec.decompress([strings[0], strings[2], strings[1]], shape)
    with pytest.raises(ModelError):
        CheckerboardLatentCodec(
            **{**_hyper(), "conditional": nn.Identity()}, context_scales=nn.Sequential(),
            context_means=nn.Identity(),
        )  # fmt: skip
    untrained = make_codec().eval()
    untrained.update(calibration_z=torch.round(untrained.h_a(y)))
    with pytest.raises(ModelError, match="context branch"):
        untrained.compress(y)


def _train(codec: nn.Module, steps: int, seed: int) -> float:
    """Rate (bits per latent element, noisy proxy) at the end of a short training run."""
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(codec.parameters(), lr=3e-3)
    for step in range(steps):
        y = smooth_latents(8, 100 + step)
        out = codec(y, training_proxy="noise")
        loss = (out["bits_y"].sum() + out["bits_z"].sum()) / y.numel()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        y = smooth_latents(16, 7)
        out = codec(y, training_proxy="noise")
        return float((out["bits_y"].sum() + out["bits_z"].sum()) / y.numel())


def test_the_context_lowers_the_rate_of_detail_the_hyperprior_cannot_see():
    """Same hyperprior, same steps: the checkerboard model's rate ends lower on latents
    whose correlation is finer than the hyper-latent grid (negative control: the
    hyperprior alone, trained identically)."""
    torch.manual_seed(0)
    plain = HyperpriorLatentCodec(**_hyper())
    context = make_codec()
    bits_plain = _train(plain, 250, 0)
    bits_context = _train(context, 250, 0)
    assert bits_context < 0.9 * bits_plain, (bits_context, bits_plain)


# -- the image codec with a context model (format version 3) ----------------------------------


@pytest.fixture(scope="module")
def context_model(tmp_path_factory):
    """A tiny checkerboard image model: trained 2 steps (CLI) and exported."""
    from PIL import Image

    from rdlab.cli import main

    folder = tmp_path_factory.mktemp("ctx")
    data = folder / "photos"
    data.mkdir()
    g = np.random.default_rng(0)
    for i in range(2):
        smooth = gaussian_filter(g.random((256, 256, 3)), (3, 3, 0))
        pixels = np.clip(255 * (smooth - smooth.min()) / np.ptp(smooth), 0, 255)
        Image.fromarray(pixels.astype(np.uint8)).save(data / f"p{i}.png")
    run, model = folder / "run", folder / "ctx.safetensors"
    tiny = ["--channels", "8", "--latent-channels", "12", "--lambdas", "0.002,0.02"]
    argv = ["train", "image", str(data), "--out", str(run), "--crop", "64", "--batch", "2"]
    assert main([*argv, *tiny, "--context", "checkerboard", "--steps", "2", "--quiet"]) == 0
    argv = ["train", "export", str(run / "checkpoint.pt"), str(model)]
    assert main([*argv, "--calibration", str(data), "--crops", "2", "--quiet"]) == 0
    return model, data


def test_context_model_files_decode_exactly_everywhere(context_model):
    from rdlab.codecs.hyperprior import CONTEXT_VERSION, HyperpriorImageCodec
    from rdlab.codecs.image_model_file import load_image_model
    from rdlab.container import decode_rdl

    path, _ = context_model
    model = load_image_model(str(path))
    assert model.net.config.context == "checkerboard"
    assert model.net.latent_codec.context_branch is not None
    g = np.random.default_rng(3)
    image = (gaussian_filter(g.random((130, 200, 3)), (2, 2, 0)) * 255).astype(np.uint8)
    codec = HyperpriorImageCodec(quality=2, model=str(path))
    data = codec.encode(image)
    file = decode_rdl(data)
    assert file.codec_version == CONTEXT_VERSION
    assert [c.tag for c in file.chunks] == ["HYPR", "LATN", "LAT2"]
    decoded = codec.decode(data)
    assert decoded.shape == image.shape
    reference = codec.symbols(data)
    assert reference["context_indexes"].shape[-1] * 2 == reference["residuals"].shape[-1]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = HyperpriorImageCodec(quality=2, model=str(path), tile=64)
        assert one.encode(image) == data  # the same file from 1 thread and small tiles
        assert np.array_equal(one.decode(data), decoded)
        for key, value in one.symbols(data).items():
            assert np.array_equal(value, reference[key]), key
    finally:
        torch.set_num_threads(threads)


def test_context_model_starts_from_a_hyperprior_and_refuses_mismatches(context_model, tmp_path):
    from rdlab.cli import main
    from rdlab.codecs.hyperprior import HyperpriorImageCodec

    path, data = context_model
    tiny = ["--channels", "8", "--latent-channels", "12", "--lambdas", "0.002,0.02"]
    plain_run, plain = tmp_path / "plain", tmp_path / "plain.safetensors"
    argv = ["train", "image", str(data), "--crop", "64", "--batch", "2", *tiny, "--quiet"]
    assert main([*argv, "--out", str(plain_run), "--steps", "1"]) == 0
    assert main(["train", "export", str(plain_run / "checkpoint.pt"), str(plain),
                 "--calibration", str(data), "--crops", "2", "--quiet"]) == 0  # fmt: skip
    # a hyperprior model file starts a context model (the context branches start fresh)
    assert main([*argv, "--out", str(tmp_path / "warm"), "--steps", "1",
                 "--context", "checkerboard", "--init", str(plain)]) == 0  # fmt: skip
    # a file of the plain model is not decoded by the context model
    image = np.full((64, 64, 3), 120, np.uint8)
    plain_file = HyperpriorImageCodec(quality=1, model=str(plain)).encode(image)
    with pytest.raises(ModelError):
        HyperpriorImageCodec(model=str(path)).decode(plain_file)
    assert main([*argv, "--out", str(tmp_path / "x"), "--steps", "1", "--context",
                 "checkerboard", "--lattice", "E8"]) == 2  # fmt: skip


# committed vector: tests/data/context_tiny.safetensors (a tiny checkerboard model: 8/12
# channels, λ 0.01 and 0.1, 400 CPU steps on two synthetic photos, exported with them as
# calibration) and the bundled chelsea sample coded with it at quality 2. SHA-256 of the
# decoded integers (z, indexes, context_indexes, residuals; int64 little-endian) from the
# run that wrote it: entropy decoding and the integer context are exact on any machine.
CONTEXT_VECTOR_SYMBOLS = "aa87fdf1c5bfbcc17d05f491807f847cc5149ea110e99acf992631f49cb60309"


def test_committed_context_vector_decodes_to_its_integers():
    import hashlib
    from pathlib import Path

    from rdlab.codecs.hyperprior import HyperpriorImageCodec

    data_dir = Path(__file__).parent / "data"
    codec = HyperpriorImageCodec(model=str(data_dir / "context_tiny.safetensors"))
    data = (data_dir / "context_tiny_chelsea.rdl").read_bytes()
    symbols = codec.symbols(data)
    digest = hashlib.sha256()
    for key in ("z", "indexes", "context_indexes", "residuals"):
        digest.update(np.ascontiguousarray(symbols[key], dtype="<i8").tobytes())
    assert digest.hexdigest() == CONTEXT_VECTOR_SYMBOLS
    # not a trivial vector: most context indexes and residuals are nonzero
    assert (symbols["context_indexes"] != 0).mean() > 0.5
    assert (symbols["residuals"] != 0).mean() > 0.5
    assert codec.decode(data).shape == (192, 256, 3)
