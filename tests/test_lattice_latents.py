"""Lattice latents of the hyperprior codec: the coder, the training rate, model files,
the codec end to end (determinism across threads and tilings), and ``--lattice`` training.

Tiny models (N=8, M=12, D4 latents) on synthetic images: each test takes seconds.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rdlab.cli import main
from rdlab.codecs.hyperprior import LATTICE_VERSION, VERSION, HyperpriorImageCodec
from rdlab.codecs.image_model_file import load_image_model, load_training_state
from rdlab.coding.lattice_latents import (
    LatticeLatentCoder,
    from_vectors,
    to_vectors,
    vector_block,
)
from rdlab.coding.tables import log_scale_table
from rdlab.container import decode_rdl, encode_rdl
from rdlab.data.images import read_image, sample_path
from rdlab.errors import CorruptStreamError, InputError, ModelError
from rdlab.nn.image_model import HyperpriorImageModel, ImageModelConfig, latent_lattice
from rdlab.nn.lattice_quantizer import LatticeQuantizer
from test_train_image import TINY, _synthetic_image, assert_one_line_error, run_cli


def _coder(name: str) -> tuple[LatticeLatentCoder, LatticeQuantizer]:
    lattice = latent_lattice(name, 24)
    quantizer = LatticeQuantizer(lattice, mc_samples=64, seed=0)
    coder = LatticeLatentCoder(lattice, quantizer.generator.numpy(), quantizer.cell_samples.numpy())
    return coder, quantizer


@pytest.mark.parametrize("name", ["D4", "E8"])
def test_coder_round_trips_nearest_points_with_escapes(name):
    coder, _ = _coder(name)
    rng = np.random.default_rng(1)
    shape = (24, 4, 8)
    indexes = rng.integers(0, 40, shape)  # σ from 0.11 to 16: fine and coarse classes
    scales = log_scale_table()[indexes]
    means = rng.normal(0, 3, shape)
    y = means + scales * rng.normal(size=shape)
    y[3, 2, 5] = means[3, 2, 5] + 1e4  # far outside every table: escaped
    k = coder.quantize(y, means)
    data = coder.encode(k, indexes)
    assert np.array_equal(coder.decode(data, indexes), k)
    y_hat = coder.decode_latents(data, indexes, means)
    # the reconstruction is the nearest lattice point to y - means, plus the means
    nearest = coder.lattice.nearest(torch.from_numpy(coder.to_vectors(y - means))).numpy()
    assert np.allclose(coder.to_vectors(y_hat - means), nearest, atol=1e-9)
    # and not just any point: no error exceeds the covering radius (1 for unit E8,
    # 2^{1/4}·(1/√2)·… for D4; both below 1.1)
    err = np.sqrt(((coder.to_vectors(y_hat - y)) ** 2).sum(axis=1))
    assert err.max() < 1.1


@pytest.mark.parametrize(("name", "sigma"), [("E8", 4.0), ("D4", 2.0)])
def test_rate_of_gaussian_latents_meets_the_high_resolution_entropy(name, sigma):
    """At σ ≫ cell size the rate of a unit-volume lattice is h(N(0, σ²)) per dimension
    (the differential entropy, bits): 0.5·log2(2πeσ²). 3072 vectors, seed 0; stated
    tolerance 0.03 bit/dim (the MC cell masses and 16-bit tables cost < 0.01)."""
    coder, _ = _coder(name)
    rng = np.random.default_rng(0)
    n = coder.dim
    shape = (24, 8, 16 * n)  # 3072 vectors
    scale_index = int(np.searchsorted(log_scale_table(), sigma))
    s = float(log_scale_table()[scale_index])
    indexes = np.full(shape, scale_index)
    y = s * rng.normal(size=shape)
    data = coder.encode_latents(y, indexes, np.zeros(shape))
    bits_per_dim = 8 * len(data) / y.size
    entropy = 0.5 * math.log2(2 * math.pi * math.e * s * s)
    assert abs(bits_per_dim - entropy) < 0.03, (bits_per_dim, entropy)


def test_coder_refuses_bad_shapes_and_indexes():
    coder, _ = _coder("E8")
    with pytest.raises(InputError, match="does not split"):
        coder.encode(np.zeros((12, 2, 2), np.int64), np.zeros((12, 2, 2), np.int64))
    with pytest.raises(InputError, match="indexes"):
        coder.encode(np.zeros((8, 2, 4), np.int64), np.full((8, 2, 4), 64))
    with pytest.raises(InputError, match="does not divide"):
        latent_lattice("z5", 12)  # 5 channels x 1x1 positions


@pytest.mark.parametrize("n", [2, 4, 8, 16, 24])
def test_vectors_are_blocks_of_neighbouring_positions(n):
    g, a, b = vector_block(n)
    assert g * a * b == n and 4 % a == 0 and 4 % b == 0
    latent = np.arange(48 * 8 * 12).reshape(48, 8, 12)
    v = to_vectors(latent, n)
    assert v.shape == (48 * 8 * 12 // n, n)
    assert np.array_equal(from_vectors(v, latent.shape), latent)
    # the first vector is the top-left a×b block of the first g channels
    assert np.array_equal(v[0], latent[:g, :a, :b].reshape(-1))
    batch = torch.from_numpy(np.stack([latent, latent + 1]))
    assert np.array_equal(to_vectors(batch, n)[1].numpy(), v + 1)  # torch, batched


def test_lattice_training_pass_gives_rates_and_gradients():
    torch.manual_seed(0)
    model = HyperpriorImageModel(ImageModelConfig(8, 12, (0.002, 0.008), latent_lattice="D4"))
    x = torch.rand(2, 3, 64, 64)
    out = model(x, torch.tensor([0.0, 1.0]))
    assert out["bits_y"].shape == (2,) and bool(torch.isfinite(out["bits_y"]).all())
    assert bool((out["bits_y"] > 0).all())
    (out["bits_y"].sum() + ((out["x_hat"] - x) ** 2).mean()).backward()
    assert model.g_a[0].weight.grad.abs().sum() > 0  # straight-through and rate reach g_a
    assert model.h_s_scales[-1].weight.grad.abs().sum() > 0  # the rate reaches the scales


# -- model files and the codec ------------------------------------------------------------------


@pytest.fixture(scope="module")
def lattice_models(tmp_path_factory) -> dict[str, Path]:
    """A tiny scalar model, and a D4 model fine-tuned from it for 2 steps (CLI)."""
    folder = tmp_path_factory.mktemp("lattice")
    data = folder / "images"
    data.mkdir()
    for i in range(2):
        Image.fromarray(_synthetic_image(i)).save(data / f"img{i}.png")
    base = ["--crop", "64", "--batch", "2", *TINY, "--quiet"]
    out: dict[str, Path] = {"data": data}
    for name, extra in (("scalar", []), ("d4", ["--lattice", "d4"])):
        run, model = folder / f"run-{name}", folder / f"{name}.safetensors"
        init = ["--init", str(out["scalar"])] if name != "scalar" else []
        argv = ["train", "image", str(data), "--out", str(run), "--steps", "2"]
        assert main([*argv, *base, *extra, *init]) == 0
        argv = ["train", "export", str(run / "checkpoint.pt"), str(model)]
        assert main([*argv, "--calibration", str(data), "--crops", "2"]) == 0
        out[name] = model
    return out


@pytest.fixture(scope="module")
def loud_d4(lattice_models) -> Path:
    """The D4 model with its gains raised 12× (so a barely trained model still codes
    many non-zero lattice coefficients), exported through the library."""
    from rdlab.codecs.image_model_file import export_image_model
    from rdlab.train.image import calibration_crops

    config, state = load_training_state(lattice_models["d4"])
    model = HyperpriorImageModel(config)
    model.load_state_dict(state, strict=False)
    with torch.no_grad():
        model.log_gain += math.log(12.0)
        model.log_inv_gain -= math.log(12.0)
    path = lattice_models["d4"].parent / "loud-d4.safetensors"
    export_image_model(model, path, calibration_crops(str(lattice_models["data"]), 2))
    return path


@pytest.fixture(scope="module")
def derived_d4(lattice_models) -> Path:
    """``rdlab train lattice``: D4 latents on the tiny scalar model's weights."""
    out = lattice_models["scalar"].parent / "derived-d4.safetensors"
    argv = ["train", "lattice", str(lattice_models["scalar"]), str(out), "--lattice", "D4"]
    assert main([*argv, "--calibration", str(lattice_models["data"])]) == 0
    return out


def test_derived_lattice_model_shares_the_base_weights(lattice_models, derived_d4, tmp_path):
    base = load_image_model(str(lattice_models["scalar"]))
    model = load_image_model(str(derived_d4))
    assert model.latent_lattice == "D4" and base.latent_lattice is None
    assert model.card["derived_from"] == "scalar" and model.card["base_hash"] == base.hash.hex()
    assert derived_d4.stat().st_size < lattice_models["scalar"].stat().st_size // 4
    used = ("g_a.", "g_s.", "h_a.", "h_s_means.", "log_gain", "log_inv_gain")
    derived_state = model.net.state_dict()
    for key, value in base.net.state_dict().items():
        if key.startswith(used):  # what the codec runs (the scale branch is integer)
            assert torch.equal(value, derived_state[key]), key
    assert base.scale_net.to_arrays().keys() == model.scale_net.to_arrays().keys()
    for key, value in base.scale_net.to_arrays().items():
        assert np.array_equal(value, model.scale_net.to_arrays()[key]), key
    assert model.hash != base.hash
    image = read_image(sample_path())[:64, :128]
    codec = HyperpriorImageCodec(model=str(derived_d4), quality=3)
    data = codec.encode(image)
    assert decode_rdl(data).codec_version == LATTICE_VERSION
    assert np.array_equal(
        codec.decode(data), HyperpriorImageCodec(model=str(derived_d4)).decode(data)
    )
    # a derived file whose base has changed is refused, not decoded with other weights
    moved = tmp_path / "derived.safetensors"
    moved.write_bytes(derived_d4.read_bytes())
    original = lattice_models["scalar"].read_bytes()
    try:
        lattice_models["scalar"].write_bytes(original[:-4] + b"\x00\x00\x00\x01")
        with pytest.raises(ModelError, match="other weights"):
            load_image_model(str(moved))
    finally:
        lattice_models["scalar"].write_bytes(original)
    assert load_image_model(str(moved)).latent_lattice == "D4"


def test_lattice_model_file_records_its_lattice(lattice_models):
    model = load_image_model(str(lattice_models["d4"]))
    assert model.latent_lattice == "D4"
    assert isinstance(model.latent_coder, LatticeLatentCoder)
    assert load_image_model(str(lattice_models["scalar"])).latent_lattice is None
    # the fine-tune started from the scalar weights: the transforms are close to them
    _, scalar = load_training_state(lattice_models["scalar"])
    config, state = load_training_state(lattice_models["d4"])
    assert config.latent_lattice == "D4"
    w0, w1 = scalar["g_a.0.weight"], state["g_a.0.weight"]
    assert float((w1 - w0).abs().max()) < 0.05 * float(w0.abs().max())


def test_lattice_codec_is_exact_across_threads_and_tilings(loud_d4):
    image = read_image(sample_path())  # 256x192 RGB
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        codec = HyperpriorImageCodec(model=str(loud_d4), quality=2.0, tile=64)
        data = codec.encode(image)
        first = codec.decode(data)
        torch.set_num_threads(2)
        second = HyperpriorImageCodec(model=str(loud_d4), tile=512).decode(data)
        again = HyperpriorImageCodec(model=str(loud_d4), quality=2.0, tile=512)
        assert again.encode(image) == data
    finally:
        torch.set_num_threads(old)
    assert np.array_equal(first, second)
    assert decode_rdl(data).codec_version == LATTICE_VERSION
    symbols = codec.symbols(data)
    assert symbols["residuals"].shape == (12, 12, 16)  # D4 coefficients, (M, H/16, W/16)
    assert np.mean(symbols["residuals"] != 0) > 0.05


def test_lattice_and_scalar_files_do_not_mix(lattice_models):
    image = read_image(sample_path())[:64, :64]
    scalar = HyperpriorImageCodec(model=str(lattice_models["scalar"]), quality=2)
    lattice = HyperpriorImageCodec(model=str(lattice_models["d4"]), quality=2)
    data = scalar.encode(image)
    assert decode_rdl(data).codec_version == VERSION
    with pytest.raises(ModelError, match="other weights"):
        lattice.decode(data)
    # a lattice file relabelled as format version 1 (scalar latents) is refused
    file = decode_rdl(lattice.encode(image))
    forged = encode_rdl(replace(file, codec_version=VERSION))
    with pytest.raises(CorruptStreamError, match="does not match"):
        lattice.decode(forged)


def test_lattice_training_errors_are_one_line(capsys, lattice_models, tmp_path):
    data = lattice_models["data"]
    argv = ["train", "image", data, "--out", tmp_path / "r", "--crop", "64", "--steps", "1"]
    code, _, err = run_cli(capsys, *argv, *TINY, "--lattice", "z5", "--quiet")
    assert_one_line_error(code, err)
    assert "does not divide" in err
    code, _, err = run_cli(capsys, *argv, *TINY, "--lattice", "q7", "--quiet")
    assert_one_line_error(code, err)
    # resuming a lattice run as a scalar one is refused, naming the option
    run = tmp_path / "lat"
    base = ["train", "image", data, "--out", run, "--crop", "64", "--batch", "2", *TINY]
    code, _, err = run_cli(capsys, *base, "--steps", "1", "--lattice", "d4", "--quiet")
    assert code == 0, err
    code, _, err = run_cli(capsys, *base, "--steps", "2", "--resume", "--quiet")
    assert_one_line_error(code, err)
    assert "--lattice" in err
    code, out, err = run_cli(
        capsys, *base, "--steps", "2", "--resume", "--lattice", "d4", "--quiet", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["step"] == 2


def test_cli_compresses_with_a_lattice_model_and_reports_its_format(capsys, derived_d4, tmp_path):
    out = tmp_path / "photo.rdl"
    code, stdout, err = run_cli(
        capsys, "compress", "--sample", "-o", out, "--model", derived_d4, "--quality", "2", "--json"
    )
    assert code == 0, err
    report = json.loads(stdout)
    assert report["codec_version"] == LATTICE_VERSION == decode_rdl(out.read_bytes()).codec_version
    code, _, err = run_cli(
        capsys, "decompress", out, "-o", tmp_path / "x.png", "--model", derived_d4
    )
    assert code == 0, err
