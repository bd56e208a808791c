"""Entropy models as modules and latent codecs assembled from them (issue 23, items 1-3).

Each entropy module owns its whole life: the training proxy and rate in ``forward``,
integer tables for the decoder (built once, saved with ``state_dict``), real
``compress``/``decompress``. Tiny modules, fixed seeds: the file runs in seconds.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from torch import nn

from rdlab.codecs.image_model_file import export_image_model, load_image_model
from rdlab.coding import SymbolDecoder
from rdlab.coding.tables import log_scale_table
from rdlab.errors import FormatError, InputError, LengthError, ModelError, StreamEndError
from rdlab.nn import (
    EntropyBottleneck,
    FloatScaleBranch,
    HyperpriorImageModel,
    HyperpriorLatentCodec,
    ImageModelConfig,
    IntegerScaleNet,
    LatticeConditional,
    LocationScaleConditional,
)
from rdlab.nn.image_model import hyper_synthesis_branch, latent_lattice, rename_state_key


def rate_tolerance(bits: float) -> float:
    """How far a stream's size may be from the ``forward`` rate: 1 % + 64 bits (the
    range coder's final words, 16-bit table quantization)."""
    return 0.01 * bits + 64.0


def reloaded(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` through ``torch.save`` / ``torch.load(weights_only=True)``."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


# -- the example: a factorized-prior model from rdlab's parts ----------------------------------


def test_example_factorized_prior_trains_and_codes_a_real_image():
    """The "build your own codec" example: a tiny factorized-prior model trained for a
    few steps on crops of the bundled sample, then a real stream of the whole image."""
    import torch
    from torch import nn

    from rdlab.data.images import read_image, sample_path
    from rdlab.nn import GDN, IGDN, EntropyBottleneck

    torch.manual_seed(0)
    image = torch.from_numpy(read_image(sample_path())).permute(2, 0, 1).float() / 255
    n = 32
    g_a = nn.Sequential(nn.Conv2d(3, n, 5, 2, 2), GDN(n), nn.Conv2d(n, n, 5, 2, 2))
    g_s = nn.Sequential(
        nn.ConvTranspose2d(n, n, 5, 2, 2, 1), IGDN(n), nn.ConvTranspose2d(n, 3, 5, 2, 2, 1)
    )
    bottleneck = EntropyBottleneck(n)
    optimizer = torch.optim.Adam([*g_a.parameters(), *g_s.parameters(), *bottleneck.parameters()])
    losses = []
    for _ in range(30):
        corners = torch.randint(0, 128, (8, 2)).tolist()
        x = torch.stack([image[:, r : r + 64, c : c + 64] for r, c in corners])
        y_hat, bits = bottleneck(g_a(x), training_proxy="mixed")  # bits per element
        loss = bits.sum() / x[:, 0].numel() + 0.01 * 255**2 * (g_s(y_hat) - x).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    bottleneck.update()  # the integer tables the decoder uses
    with torch.no_grad():
        y = g_a(image[None])
        data = bottleneck.compress(y)  # bytes
        y_hat = bottleneck.decompress(data, y.shape)
        x_hat = g_s(y_hat).clamp(0, 1)

    assert isinstance(data, bytes) and x_hat.shape == (1, *image.shape)
    assert torch.equal(y_hat, torch.round(y))  # decoding is exact
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]), losses  # it learned
    with torch.no_grad():
        bits = float(bottleneck(y, training_proxy=None)[1].sum())
    assert abs(8 * len(data) - bits) <= rate_tolerance(bits), (8 * len(data), bits)


# -- EntropyBottleneck ----------------------------------------------------------------------------

SCALES = (0.3, 1.5, 4.0, 20.0)


def laplace_latents(seed: int, shape: tuple[int, int, int] = (2, 48, 48)) -> torch.Tensor:
    """``(B, 4, H, W)`` Laplace latents, channel ``c`` of scale ``SCALES[c]``, means 0.7."""
    g = torch.Generator().manual_seed(seed)
    b, h, w = shape
    u = torch.rand(b, len(SCALES), h, w, generator=g) - 0.5
    laplace = -torch.sign(u) * torch.log1p(-2 * u.abs())
    return 0.7 + laplace * torch.tensor(SCALES).view(1, -1, 1, 1)


@pytest.fixture(scope="module")
def trained_bottleneck() -> EntropyBottleneck:
    """An entropy bottleneck fitted to :func:`laplace_latents` (300 Adam steps)."""
    torch.manual_seed(0)
    bottleneck = EntropyBottleneck(len(SCALES))
    optimizer = torch.optim.Adam(bottleneck.parameters(), lr=0.02)
    for step in range(300):
        _, bits = bottleneck(laplace_latents(100 + step, (1, 32, 32)))
        optimizer.zero_grad()
        bits.mean().backward()
        optimizer.step()
    bottleneck.update()
    return bottleneck


def test_forward_rate_matches_the_compressed_size(trained_bottleneck):
    """Stated tolerance: 1 % + 64 bits, on 18432 values (seed 1)."""
    y = laplace_latents(1)
    with torch.no_grad():
        y_hat, bits = trained_bottleneck(y, training_proxy=None)
    assert bits.shape == y.shape and torch.equal(y_hat, torch.round(y))
    data = trained_bottleneck.compress(y)
    assert abs(8 * len(data) - float(bits.sum())) <= rate_tolerance(float(bits.sum()))
    # negative control: the rate of an untrained density is far from this stream
    with torch.no_grad():
        other = float(EntropyBottleneck(len(SCALES))(y, training_proxy=None)[1].sum())
    assert abs(8 * len(data) - other) > rate_tolerance(other)


def test_decompress_inverts_compress_exactly(trained_bottleneck):
    y = laplace_latents(2)
    y[0, 0, 0, 0], y[1, 3, 5, 7], y[0, 2, 1, 1] = 1e4, -3e5, 2.5  # escapes, a tie
    data = trained_bottleneck.compress(y)
    y_hat = trained_bottleneck.decompress(data, y.shape)
    assert y_hat.dtype == torch.float32 and torch.equal(y_hat, torch.round(y))
    # other layouts: any (B, C, ...) shape
    flat = y.reshape(2, 4, -1)
    assert torch.equal(
        trained_bottleneck.decompress(trained_bottleneck.compress(flat), flat.shape),
        torch.round(flat),
    )


def test_tables_survive_a_save_load_round_trip_and_recomputation(trained_bottleneck):
    tables = trained_bottleneck.tables
    state = reloaded(trained_bottleneck.state_dict())
    assert state["table_frequencies"].dtype == torch.int32
    torch.manual_seed(5)
    other = EntropyBottleneck(len(SCALES))
    with pytest.raises(ModelError, match="update"):
        other.compress(laplace_latents(3))
    other.load_state_dict(state)
    assert other.tables.fingerprint() == tables.fingerprint()
    y = laplace_latents(3)
    data = trained_bottleneck.compress(y)
    assert other.compress(y) == data
    assert torch.equal(other.decompress(data, y.shape), torch.round(y))
    # recomputed from the same weights: the same integers
    assert trained_bottleneck.update().fingerprint() == tables.fingerprint()
    # negative controls: other weights give other tables; a state without tables has none
    with torch.no_grad():
        other.matrices[0].add_(0.5)
    assert other.update().fingerprint() != tables.fingerprint()
    state = {k: v for k, v in state.items() if not k.startswith("table_")}
    other.load_state_dict(state)
    with pytest.raises(ModelError):
        other.tables  # noqa: B018


def test_a_cut_or_extended_stream_raises_a_format_error(trained_bottleneck, monkeypatch):
    y = laplace_latents(4)
    data = trained_bottleneck.compress(y)
    for bad in (data[:-4], data[: len(data) // 2], data + bytes(4), data + data[-4:]):
        with pytest.raises(FormatError):
            trained_bottleneck.decompress(bad, y.shape, what="chunk 'Z'")
    with pytest.raises(StreamEndError, match="chunk 'Z'"):
        trained_bottleneck.decompress(data + bytes(4), y.shape, what="chunk 'Z'")
    with pytest.raises(LengthError, match="impossible"):  # checked before decoding
        trained_bottleneck.decompress(data[:8], (1000, 4, 100, 100))
    # negative control: without the end check the extended stream decodes silently
    monkeypatch.setattr(SymbolDecoder, "finish", lambda self, what="": None)
    assert torch.equal(trained_bottleneck.decompress(data + bytes(4), y.shape), torch.round(y))


def test_training_proxies():
    torch.manual_seed(0)
    bottleneck = EntropyBottleneck(4)
    y = laplace_latents(5, (1, 8, 8)).requires_grad_(True)
    noisy, _ = bottleneck(y, training_proxy="noise")
    assert 0 < float((noisy - y).detach().abs().max()) <= 0.5
    assert not torch.equal(noisy, torch.round(y))
    for proxy in ("ste", "mixed"):
        y_hat, bits = bottleneck(y, training_proxy=proxy)
        assert torch.equal(y_hat, torch.round(y))
        (grad,) = torch.autograd.grad(y_hat.sum() + bits.sum(), y)
        assert bool((grad != 0).any())
    y_hat, _ = bottleneck(y, training_proxy=None)  # hard rounding: no gradient through it
    (grad,) = torch.autograd.grad(y_hat.sum(), y)
    assert torch.equal(y_hat, torch.round(y)) and not bool(grad.any())
    with pytest.raises(InputError, match="training_proxy"):
        bottleneck(y, training_proxy="uniform")
    with pytest.raises(InputError, match="NaN"):
        bottleneck.update()
        bottleneck.compress(torch.full((1, 4, 2, 2), float("nan")))


# -- LocationScaleConditional -----------------------------------------------------------------


@pytest.mark.parametrize("family", ["gaussian", "laplace", "logistic"])
def test_location_scale_conditional_codes_and_predicts_its_rate(family):
    conditional = LocationScaleConditional(family)
    rng = np.random.default_rng(0)
    shape = (2, 6, 24, 24)
    indexes = rng.integers(3, 45, shape)
    scales = torch.from_numpy(log_scale_table()[indexes])  # exactly table scales
    means = torch.from_numpy(rng.normal(0, 5, shape))
    noise = {"gaussian": rng.normal, "laplace": rng.laplace, "logistic": rng.logistic}[family]
    y = means + scales * torch.from_numpy(noise(size=shape))
    assert np.array_equal(conditional.scale_indexes(scales), indexes)
    data = conditional.compress(y, indexes, means)
    y_hat = conditional.decompress(data, indexes, means)
    expected = torch.round(y - means) + means  # float64, then the float32 of it
    assert y_hat.dtype == torch.float32 and torch.equal(y_hat, expected.float())
    with torch.no_grad():
        _, bits = conditional(y, scales, means, training_proxy=None)
    total = float(bits.sum())
    assert abs(8 * len(data) - total) <= rate_tolerance(total), (8 * len(data), total)
    # the rate is that of this family: another family's misses the tolerance
    other = "laplace" if family != "laplace" else "gaussian"
    with torch.no_grad():
        _, wrong_bits = LocationScaleConditional(other)(y, scales, means, training_proxy=None)
    wrong = float(wrong_bits.sum())
    assert abs(8 * len(data) - wrong) > rate_tolerance(wrong)
    with pytest.raises(StreamEndError, match="LATN"):
        conditional.decompress(data[:-4], indexes, means, what="chunk 'LATN'")
    with pytest.raises(InputError):
        conditional.compress(y, indexes[:, :3], means)


# -- LatticeConditional -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["D4", "E8"])
def test_lattice_conditional_codes_nearest_points(name):
    lattice = latent_lattice(name, 8)
    conditional = LatticeConditional(lattice)
    rng = np.random.default_rng(1)
    shape = (2, 8, 4, 8)
    scales = torch.from_numpy(rng.uniform(0.2, 6.0, shape))
    means = torch.from_numpy(rng.normal(0, 3, shape))
    y = means + scales * torch.from_numpy(rng.normal(size=shape))
    indexes = conditional.scale_indexes(scales)
    with pytest.raises(ModelError, match="update"):
        conditional.compress(y, indexes, means)
    conditional.update()
    data = conditional.compress(y, indexes, means)
    y_hat = conditional.decompress(data, indexes, means)
    with torch.no_grad():
        expected, bits = conditional(y, scales, means, training_proxy=None)
    torch.testing.assert_close(y_hat.double(), expected, rtol=0, atol=1e-5)
    assert bits.shape == y.shape and float(bits.sum()) > 0
    # the coefficients are those of the nearest points
    k = conditional.decode_symbols(data, indexes)
    assert k.shape == shape and np.abs(k).max() > 0
    # the coder's arrays: in state_dict, exact through .float() and a reload
    state = reloaded(conditional.float().state_dict())
    assert state["coding_cell_samples"].dtype == torch.float64
    fresh = LatticeConditional(lattice)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.decompress(data, indexes, means), y_hat)
    with pytest.raises(StreamEndError):
        fresh.decompress(data + bytes(4), indexes, means)


def test_lattice_training_rate_reaches_the_scales():
    conditional = LatticeConditional(latent_lattice("E8", 8))
    torch.manual_seed(0)
    y = 3 * torch.randn(1, 8, 4, 8)
    scales = torch.full_like(y, 2.0, requires_grad=True)
    y_hat, bits = conditional(y, scales, torch.zeros_like(y), training_proxy="mixed")
    bits.sum().backward()
    assert scales.grad is not None and bool((scales.grad != 0).any())
    assert y_hat.shape == y.shape


# -- HyperpriorLatentCodec --------------------------------------------------------------------


def tiny_latent_codec(conditional: nn.Module, seed: int = 0) -> HyperpriorLatentCodec:
    """A hyperprior of M=8 latent and N=4 hyper-latent channels, from the parts."""
    torch.manual_seed(seed)
    m, n = 8, 4
    h_a = nn.Sequential(
        nn.Conv2d(m, n, 3, 1, 1), nn.LeakyReLU(), nn.Conv2d(n, n, 5, 2, 2), nn.LeakyReLU(),
        nn.Conv2d(n, n, 5, 2, 2),
    )  # fmt: skip
    return HyperpriorLatentCodec(
        h_a,
        hyper_synthesis_branch(n, m, nn.LeakyReLU),
        hyper_synthesis_branch(n, m, nn.ReLU),
        EntropyBottleneck(n),
        conditional,
    )


def latents(seed: int, shape: tuple[int, ...] = (2, 8, 16, 16)) -> torch.Tensor:
    return 4 * torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("lattice", [None, "D4"])
def test_hyperprior_latent_codec_trains_codes_and_reloads(lattice):
    make = (
        (lambda: LocationScaleConditional())
        if lattice is None
        else (lambda: LatticeConditional(latent_lattice(lattice, 8)))
    )
    codec = tiny_latent_codec(make())
    y = latents(0)
    out = codec(y)  # training: noisy rates, straight-through values
    assert out["y_hat"].shape == y.shape and out["bits_z"].shape == (2, 4, 4, 4)
    (out["bits_y"].sum() + out["bits_z"].sum()).backward()
    for name, p in codec.named_parameters():
        if not name.startswith("h_s_means.0.") and not name.startswith("h_s_scales.0."):
            assert p.grad is not None, name
    with pytest.raises(ModelError):
        codec.compress(y)
    with torch.no_grad():
        codec.update(torch.round(codec.h_a(latents(1, (4, 8, 16, 16)))))
    assert isinstance(codec.scale_branch, IntegerScaleNet)
    strings, shape = codec.compress(y)
    assert len(strings) == 2 and shape == (2, 4, 4, 4)
    y_hat = codec.decompress(strings, shape)
    symbols = codec.decode_symbols(strings, shape)
    with torch.no_grad():
        z_hat = torch.round(codec.h_a(y))
        means = codec.h_s_means(z_hat).double()
    assert np.array_equal(symbols["z"], z_hat.numpy().astype(np.int64))
    if lattice is None:
        q = np.rint(y.double().numpy() - means.numpy())
        assert np.array_equal(symbols["residuals"], q)
        assert torch.equal(y_hat, (torch.from_numpy(q) + means).float())
    else:
        assert float((y_hat - y).abs().max()) < 2.0
    # everything coding needs is in state_dict: another instance decodes the streams
    state = reloaded(codec.state_dict())
    assert any(k.startswith("scale_net.") for k in state)
    assert "entropy_bottleneck.table_frequencies" in state
    other = tiny_latent_codec(make(), seed=1)
    other.load_state_dict(state)
    assert torch.equal(other.decompress(strings, shape), y_hat)
    # negative control: without its state, a decoder with other weights cannot
    stranger = tiny_latent_codec(make(), seed=1)
    with torch.no_grad():
        stranger.update(torch.round(stranger.h_a(latents(1, (4, 8, 16, 16)))))
    with pytest.raises(FormatError):
        stranger.decompress(strings, shape)
    # a cut stream is refused
    with pytest.raises(FormatError):
        codec.decompress([strings[0], strings[1][:-4]], shape)


def test_scale_branch_is_a_swappable_part():
    codec = tiny_latent_codec(LocationScaleConditional())
    y = latents(2)
    with torch.no_grad():
        codec.update(torch.round(codec.h_a(latents(3, (4, 8, 16, 16)))))
    integer = codec.scale_branch
    exact = codec.compress(y)
    assert any(k.startswith("scale_net.") for k in codec.state_dict())
    codec.scale_branch = FloatScaleBranch(codec.h_s_scales)  # float: same machine only
    floating = codec.compress(y)
    assert torch.equal(codec.decompress(*floating), codec.decompress(*exact))  # same ŷ
    with torch.no_grad():
        z_hat = torch.round(codec.h_a(y))
    same = integer.scale_indexes(z_hat.numpy(), codec.scale_table) == codec.scale_indexes(z_hat)
    assert np.mean(same) > 0.95  # the integer branch tracks the float one
    assert not any(k.startswith("scale_net.") for k in codec.state_dict())  # float: no state


# -- the shipped models are built from these parts ----------------------------------------------


def test_bundled_models_are_assembled_from_the_parts():
    scalar = load_image_model("default").latent_codec
    assert isinstance(scalar.entropy_bottleneck, EntropyBottleneck)
    assert isinstance(scalar.conditional, LocationScaleConditional)
    assert isinstance(scalar.scale_branch, IntegerScaleNet)
    e8 = load_image_model("default-e8").latent_codec
    assert isinstance(e8.conditional, LatticeConditional) and e8.conditional.dim == 8
    same_tables = e8.entropy_bottleneck.tables.fingerprint()  # default-e8 is derived
    assert same_tables == scalar.entropy_bottleneck.tables.fingerprint()


def test_old_state_dict_names_still_load():
    torch.manual_seed(0)
    model = HyperpriorImageModel(ImageModelConfig(8, 12, (0.002, 0.008), latent_lattice="D4"))
    old = {rename_state_key(k, reverse=True): v for k, v in model.state_dict().items()}
    assert "z_density.matrices.0" in old and "h_a.0.weight" in old
    assert "latent_quantizer.noise_bank" in old
    fresh = HyperpriorImageModel(ImageModelConfig(8, 12, (0.002, 0.008), latent_lattice="D4"))
    fresh.load_state_dict(old)  # strict
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key


def test_model_file_state_is_the_modules_state(tmp_path):
    """Export writes the latent codec's state (tables, integer branch) under the file's
    names; the loaded network's state_dict holds it again, and a network loaded from
    that state dict alone decodes what the model file's network encodes."""
    from rdlab.codecs.hyperprior import HyperpriorImageCodec
    from rdlab.data.images import read_image, sample_path

    torch.manual_seed(0)
    net = HyperpriorImageModel(ImageModelConfig(8, 12, (0.002, 0.008)))
    calibration = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    path = tmp_path / "tiny.safetensors"
    export_image_model(net, path, calibration)
    loaded = load_image_model(str(path))
    fingerprint = net.latent_codec.entropy_bottleneck.tables.fingerprint()
    assert loaded.z_tables.fingerprint() == fingerprint
    state = reloaded(loaded.net.state_dict())
    rebuilt = HyperpriorImageModel(loaded.net.config)
    rebuilt.load_state_dict(state)
    assert rebuilt.latent_codec.entropy_bottleneck.tables.fingerprint() == fingerprint
    image = read_image(sample_path())[:64, :128]
    codec = HyperpriorImageCodec(model=str(path), quality=1.5)
    data = codec.encode(image)
    header = codec._header(data)
    streams = codec._streams(header)
    with torch.no_grad():
        assert torch.equal(
            rebuilt.latent_codec.decompress(*streams),
            loaded.latent_codec.decompress(*streams),
        )
