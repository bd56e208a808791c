"""Exact fixed-point scale branch (rdlab.nn.integer_net): accuracy against the float
branch, bit-exactness across threads, batch splits and an independent int64 reference,
scale indexes, serialization and the static exactness bound."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from rdlab.coding.conditional import LocationScaleCoder
from rdlab.errors import InputError, ModelError
from rdlab.nn import integer_net
from rdlab.nn.image_model import hyper_synthesis_branch
from rdlab.nn.integer_net import IntegerScaleNet

N, M = 16, 24
TOLERANCE = 2e-3
"""Largest |fixed-point scale - float scale| allowed, as a fraction of the output range."""


def _branch(seed: int = 0) -> nn.Sequential:
    """A small scale branch with non-trivial weights: random normal weights and biases of
    varied size per channel, one all-zero output channel and one with tiny weights."""
    torch.manual_seed(seed)
    branch = hyper_synthesis_branch(N, M, nn.ReLU)
    with torch.no_grad():
        for conv in branch[::2]:
            weight = conv.weight
            fan_in = weight[0].numel() if isinstance(conv, nn.Conv2d) else weight.shape[0] * 9
            gain = torch.exp(0.5 * torch.randn(conv.out_channels)) / math.sqrt(fan_in)
            shape = (1, -1, 1, 1) if isinstance(conv, nn.ConvTranspose2d) else (-1, 1, 1, 1)
            weight.copy_(torch.randn_like(weight) * gain.view(shape))
            conv.bias.copy_(torch.randn(conv.out_channels) * 0.5)
        branch[0].weight[:, 3] = 0.0  # a dead channel: only its bias
        branch[2].weight[:, 5] *= 1e-9  # tiny weights: the shift cap
        branch[4].bias += 2.0  # mostly positive scales
    return branch


def _z(shape: tuple[int, ...], seed: int, high: int = 8) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(-high, high + 1, shape, generator=generator).double()


@pytest.fixture(scope="module")
def branch() -> nn.Sequential:
    return _branch()


@pytest.fixture(scope="module")
def net(branch: nn.Sequential) -> IntegerScaleNet:
    return IntegerScaleNet.from_module(branch, _z((6, N, 6, 8), seed=1))


def _float_scales(branch: nn.Sequential, z: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return branch.double()(z.double()).numpy()


def _reference(arrays: dict[str, np.ndarray], z: np.ndarray) -> np.ndarray:
    """Independent int64 evaluation from the definition of (transposed) convolution:
    one einsum per kernel tap, scattered (transposed) or gathered (plain)."""
    amax = int(arrays["activation_max"][0])
    x = np.clip(np.asarray(z).astype(np.int64), -amax, amax)
    count = len([k for k in arrays if k.endswith(".weight")])
    for i in range(count):
        w = arrays[f"layer{i}.weight"].astype(np.int64)
        bias = arrays[f"layer{i}.bias"]
        shift = arrays[f"layer{i}.shift"][None, :, None, None]
        transposed, s, p, op = (int(v) for v in arrays[f"layer{i}.geometry"])
        k = w.shape[2]
        batch, _, h, wd = x.shape
        if transposed:
            full = np.zeros(
                (batch, w.shape[1], (h - 1) * s + k + op, (wd - 1) * s + k + op), dtype=np.int64
            )
            for ty in range(k):
                for tx in range(k):
                    full[:, :, ty : ty + s * (h - 1) + 1 : s, tx : tx + s * (wd - 1) + 1 : s] += (
                        np.einsum("bihw,io->bohw", x, w[:, :, ty, tx])
                    )
            acc = full[:, :, p : p + s * h, p : p + s * wd]
        else:
            padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
            ho, wo = h + 2 * p - k + 1, wd + 2 * p - k + 1
            acc = np.zeros((batch, w.shape[0], ho, wo), dtype=np.int64)
            for ty in range(k):
                for tx in range(k):
                    acc += np.einsum(
                        "bihw,oi->bohw", padded[:, :, ty : ty + ho, tx : tx + wo], w[:, :, ty, tx]
                    )
        acc = acc + bias[None, :, None, None]
        if i < count - 1:
            x = np.minimum(np.maximum(acc, 0) >> shift, amax)
        else:
            x = (acc + ((np.int64(1) << shift) >> 1)) >> shift
    return x


# 1. accuracy ---------------------------------------------------------------------------
def test_fixed_point_matches_float_branch(branch: nn.Sequential, net: IntegerScaleNet) -> None:
    z = _z((2, N, 5, 7), seed=2)
    v = net.fixed_point_scales(z)
    assert v.dtype == np.int64 and v.shape == (2, M, 20, 28)
    ref = _float_scales(branch, z)
    approx = v * 2.0**-net.output_frac_bits
    spread = float(ref.max() - ref.min())
    assert spread > 1.0
    assert np.abs(approx - ref).max() < TOLERANCE * spread
    assert net.frac_bits[0] == 0 and len(net.frac_bits) == 4
    assert net.output_frac_bits == net.frac_bits[-1]


def test_activation_peaks_use_about_14_bits(branch: nn.Sequential, net: IntegerScaleNet) -> None:
    calibration = _z((6, N, 6, 8), seed=1)
    with torch.no_grad():
        a1 = torch.relu(branch[0].double()(calibration))
        a2 = torch.relu(branch[2].double()(a1))
    for f, act in zip(net.frac_bits[1:3], (a1, a2), strict=True):
        peak = float(act.max()) * 2.0**f
        assert 2**13 <= peak <= 2**14


# 2. exactness --------------------------------------------------------------------------
def test_identical_for_any_thread_count(net: IntegerScaleNet) -> None:
    z = _z((1, N, 24, 32), seed=3)  # large enough for multithreaded products
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = net.fixed_point_scales(z)
        torch.set_num_threads(2)
        two = net.fixed_point_scales(z)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(one, two)


def test_identical_for_any_batch_split_and_chunking(
    net: IntegerScaleNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    z = _z((3, N, 6, 9), seed=4)
    together = net.fixed_point_scales(z)
    for b in range(3):
        np.testing.assert_array_equal(net.fixed_point_scales(z[b : b + 1]), together[b : b + 1])
    monkeypatch.setattr(integer_net, "_CHUNK_BYTES", 1)  # one output row per matrix product
    np.testing.assert_array_equal(net.fixed_point_scales(z.numpy()), together)


def test_matches_independent_int64_reference(net: IntegerScaleNet) -> None:
    arrays = net.to_arrays()
    z = _z((2, N, 3, 4), seed=5)
    np.testing.assert_array_equal(net.fixed_point_scales(z), _reference(arrays, z.numpy()))
    # far beyond the calibration: the input and the activations saturate, still exact
    loud = _z((1, N, 3, 4), seed=6, high=60000)
    np.testing.assert_array_equal(net.fixed_point_scales(loud), _reference(arrays, loud.numpy()))


# 3. scale indexes ----------------------------------------------------------------------
def test_scale_indexes(branch: nn.Sequential, net: IntegerScaleNet) -> None:
    z = _z((2, N, 5, 7), seed=7)
    ref = _float_scales(branch, z)
    table = np.geomspace(0.11, float(ref.max()) * 0.9, 24)
    idx = net.scale_indexes(z, table)
    v = net.fixed_point_scales(z)
    frac = net.output_frac_bits
    assert idx.dtype == np.int64 and idx.shape == v.shape

    # thresholds are floor(table · 2**frac), exactly
    thresholds = net.thresholds(table)
    exact = [math.floor(Fraction(float(t)) * 2**frac) for t in table]
    assert thresholds.tolist() == exact
    # ... and the index is the integer comparison
    counted = np.minimum((v[..., None] > thresholds).sum(axis=-1), table.size - 1)
    np.testing.assert_array_equal(idx, counted)

    # the coder's rule on the fixed-point scales, exactly (v · 2**-frac is exact)
    coder = LocationScaleCoder(scales=table)
    positive = v > 0
    np.testing.assert_array_equal(coder.scale_indexes(v[positive] * 2.0**-frac), idx[positive])
    assert (idx[~positive] == 0).all()

    # the coder's rule on the float scales, except where the float-vs-fixed-point error
    # (at most `err`, itself < TOLERANCE · range) can cross a table entry
    err = float(np.abs(v * 2.0**-frac - ref).max())
    assert err < TOLERANCE * float(ref.max() - ref.min())
    near = (np.abs(ref[..., None] - table).min(axis=-1) <= err) | (ref <= err)
    assert (~near).sum() > 0.5 * ref.size
    np.testing.assert_array_equal(coder.scale_indexes(ref[~near]), idx[~near])
    assert len(np.unique(idx)) > 10


def test_bad_inputs_are_refused(net: IntegerScaleNet) -> None:
    with pytest.raises(InputError, match="z_hat"):
        net.fixed_point_scales(np.full((1, N, 2, 2), 0.5))
    with pytest.raises(InputError, match="z_hat"):
        net.fixed_point_scales(np.zeros((1, N + 1, 2, 2)))
    with pytest.raises(InputError, match="scale_table"):
        net.scale_indexes(np.zeros((1, N, 2, 2)), np.array([1.0, 0.5]))


# 4. serialization ----------------------------------------------------------------------
def test_arrays_round_trip(net: IntegerScaleNet) -> None:
    arrays = net.to_arrays()
    assert all(a.dtype in (np.int16, np.int32, np.int64) for a in arrays.values())
    # 12-bit weights are stored in 16 bits; the loader widens any integer dtype
    assert all(arrays[k].dtype == np.int16 for k in arrays if k.endswith(".weight"))
    wide = {k: (v.astype(np.int32) if k.endswith(".weight") else v) for k, v in arrays.items()}
    np.testing.assert_array_equal(
        IntegerScaleNet.from_arrays(wide).fixed_point_scales(_z((1, N, 3, 3), seed=9)),
        net.fixed_point_scales(_z((1, N, 3, 3), seed=9)),
    )
    assert {"layer0.weight", "layer2.bias", "layer1.shift", "frac_bits"} <= set(arrays)
    z = _z((2, N, 4, 5), seed=8)
    again = IntegerScaleNet.from_arrays(arrays)
    assert again.output_frac_bits == net.output_frac_bits
    np.testing.assert_array_equal(again.fixed_point_scales(z), net.fixed_point_scales(z))

    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    loaded = safetensors_numpy.load(safetensors_numpy.save(arrays))
    np.testing.assert_array_equal(
        IntegerScaleNet.from_arrays(loaded).fixed_point_scales(z), net.fixed_point_scales(z)
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda a: a.pop("layer1.bias"), "missing array 'layer1.bias'"),
        (lambda a: a.pop("frac_bits"), "missing array 'frac_bits'"),
        (lambda a: a.update({"layer0.shift": a["layer0.shift"][:-1]}), "'layer0.shift' has shape"),
        (lambda a: a.update({"layer2.weight": a["layer2.weight"][:, :-1]}), "takes 15 channels"),
        (lambda a: a.update({"layer1.bias": a["layer1.bias"] * 0.5}), "expected integers"),
        (lambda a: a.update({"layer1.shift": a["layer1.shift"] + 1}), "shift !="),
        (lambda a: a.update({"extra": np.zeros(1, np.int64)}), "unexpected array 'extra'"),
        (lambda a: a.update({"layer0.geometry": np.array([1, 2, 0, 1])}), "upsample exactly"),
    ],
)
def test_from_arrays_refuses_bad_arrays(net: IntegerScaleNet, edit, message: str) -> None:
    arrays = net.to_arrays()
    edit(arrays)
    with pytest.raises(ModelError, match=message) as info:
        IntegerScaleNet.from_arrays(arrays)
    assert "\n" not in str(info.value)


# 5. the static exactness bound ---------------------------------------------------------
def test_exactness_bound_is_checked(branch: nn.Sequential, net: IntegerScaleNet) -> None:
    calibration = _z((2, N, 4, 4), seed=9)
    # 32-bit weights: 2**31 · (2**15 - 1) · 16·25 taps > 2**52
    with pytest.raises(ModelError, match=r"2\*\*52"):
        IntegerScaleNet.from_module(branch, calibration, weight_bits=32)
    IntegerScaleNet.from_module(branch, calibration, weight_bits=16)  # 2**15 · 2**15 · 400: ok
    arrays = net.to_arrays()
    arrays["layer2.weight"] = arrays["layer2.weight"].astype(np.int64) << 20
    with pytest.raises(ModelError, match=r"layer 2: accumulator bound .* 2\*\*52"):
        IntegerScaleNet.from_arrays(arrays)


def test_from_module_refuses_unsupported_branches() -> None:
    calibration = _z((1, 4, 3, 3), seed=10)
    with pytest.raises(ModelError, match="expected ReLU"):
        IntegerScaleNet.from_module(
            nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 4, 3, padding=1)),
            calibration,
        )
    with pytest.raises(ModelError, match="stride 1"):
        IntegerScaleNet.from_module(nn.Sequential(nn.Conv2d(4, 4, 3, stride=2)), calibration)
    with pytest.raises(InputError, match="calibration"):
        IntegerScaleNet.from_module(hyper_synthesis_branch(4, 4, nn.ReLU), calibration + 0.5)
