"""Exact fixed-point evaluation of the hyper-synthesis *scale* branch.

Each predicted scale selects an entropy-coding table, so encoder and decoder must compute
bit-identical scales on any machine, thread count and batch size. :class:`IntegerScaleNet`
turns a trained branch (``rdlab.nn.image_model.hyper_synthesis_branch(n, m, nn.ReLU)``: a
chain of ``Conv2d`` / ``ConvTranspose2d`` layers with ``ReLU`` between them) into integer
arithmetic:

* **Weights**: per output channel ``c``, ``W_int = round(W · 2**s_c)`` with the largest
  ``s_c`` (the channel's *weight fraction bits*) that keeps ``|W_int| < 2**(weight_bits-1)``.
* **Activations** are integers ``a_int ≈ a · 2**f_l`` with one fraction bit count ``f_l``
  per layer input. The input ẑ is used as is (``f_0 = 0``); ``f_l`` for the later layers
  is chosen from a calibration batch so that the largest calibration activation is at
  most ``2**14`` (of the clamp range ``[0, 2**15 - 1]``: one bit of headroom). At run
  time every activation (and ẑ, to ``±(2**15 - 1)``) is **clamped** to that range, so
  inputs far beyond the calibration saturate instead of overflowing.
* **Accumulators** of output channel ``c`` have ``f_l + s_c`` fraction bits; the bias is
  rounded to that grid. Between layers: ``a_next = min(floor(relu(acc) / 2**k_c), 2**15-1)``
  with ``k_c = f_l + s_c - f_{l+1} >= 0`` (exact; ``f_{l+1}`` is also capped at
  ``min_c(f_l + s_c)`` so no shift is negative, and ``s_c`` at ``f_{l+1} - f_l + 24`` so
  all-zero or tiny channels do not blow up their bias). The last layer rounds (half up)
  to :attr:`IntegerScaleNet.output_frac_bits` (chosen so that the largest calibration
  ``|output|`` is at most ``2**20``; the int64 output is not clamped):
  ``floor((acc + 2**(k_c-1)) / 2**k_c)``.
* **Products and sums** are computed as im2col + matrix product in float64 on the CPU
  (a stride-``s`` transposed convolution as ``s²`` stride-1 polyphase convolutions, one
  matrix product). Every operand is an integer and, checked when the network is built,
  ``max|W_int| · max|activation| · fan_in + max|bias| < 2**52`` for every layer (``fan_in``:
  input channels × kernel taps), so every partial sum is an integer below ``2**53`` and
  float64 arithmetic is exact in any summation order: results do not depend on the BLAS,
  thread count, batch split or platform. Torch convolution kernels are never used (some
  backends use Winograd/FFT transforms, which are not exact).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from .._arrays import float_array, to_numpy
from ..errors import InputError, ModelError

__all__ = ["IntegerScaleNet"]

ACTIVATION_BITS = 16
"""Width of a signed activation: activations are clamped to ``±(2**15 - 1)``."""
_ACTIVATION_TARGET = 14  # largest calibration activation <= 2**14: one bit of headroom
_OUTPUT_TARGET = 20  # largest calibration |output| <= 2**20 (the output is int64, unclamped)
_MAX_EXTRA_SHIFT = 24  # cap on k_c, so tiny or zero channels do not inflate their bias
_EXACT_LIMIT = 2**52  # bound on every accumulator: float64 is exact below 2**53
_MAX_SHIFT = 62
_MAX_FRAC = 40  # fraction bits of an activation or output, at most
_CHUNK_BYTES = 256 * 2**20  # im2col memory per matrix product


@dataclass(frozen=True)
class _Layer:
    """One integer layer; ``weight`` in torch's layout (``Conv2d``: (out, in, k, k),
    ``ConvTranspose2d``: (in, out, k, k)); ``bias``, ``weight_frac``, ``shift``: (out,)."""

    transposed: bool
    stride: int
    padding: int
    output_padding: int
    weight: np.ndarray  # int64
    bias: np.ndarray  # int64
    weight_frac: np.ndarray  # int64, s_c
    shift: np.ndarray  # int64, k_c

    @property
    def in_channels(self) -> int:
        return self.weight.shape[0 if self.transposed else 1]

    @property
    def out_channels(self) -> int:
        return self.weight.shape[1 if self.transposed else 0]

    @property
    def kernel(self) -> int:
        return self.weight.shape[2]

    @property
    def fan_in(self) -> int:
        return self.in_channels * self.kernel * self.kernel


def _fail(message: str) -> ModelError:
    return ModelError(f"integer scale net: {message}")


def _geometry(module: nn.Module, index: int) -> tuple[bool, int, int, int]:
    """(transposed, stride, padding, output_padding) of a supported convolution."""
    if not isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        raise _fail(f"module {index} is {type(module).__name__}, expected a convolution")
    transposed = isinstance(module, nn.ConvTranspose2d)
    square = {
        name: getattr(module, name)
        for name in ("kernel_size", "stride", "padding", "dilation", "output_padding")
    }
    for name, value in square.items():
        if not isinstance(value, tuple) or len(set(value)) != 1:
            raise _fail(f"module {index}: {name} {value} is not square")
    if module.groups != 1 or module.dilation[0] != 1 or module.padding_mode != "zeros":
        raise _fail(f"module {index}: groups, dilation and padding_mode must be defaults")
    geometry = (
        transposed,
        module.stride[0],
        module.padding[0],
        module.output_padding[0] if transposed else 0,
    )
    _check_geometry(geometry, module.kernel_size[0], index)
    return geometry


def _check_geometry(geometry: tuple[bool, int, int, int], kernel: int, index: int) -> None:
    transposed, stride, padding, output_padding = geometry
    if not transposed:
        if stride != 1 or output_padding != 0 or not 0 <= padding < kernel:
            raise _fail(f"layer {index}: convolutions must have stride 1, 0 <= padding < kernel")
    elif not (
        1 <= stride <= kernel
        and 0 <= padding < kernel
        and 0 <= output_padding < stride
        and kernel + output_padding - 2 * padding == stride
    ):
        raise _fail(
            f"layer {index}: transposed convolutions must upsample exactly by their stride "
            f"(kernel {kernel}, stride {stride}, padding {padding}, "
            f"output_padding {output_padding})"
        )


def _weight_frac_bits(weight: np.ndarray, weight_bits: int) -> np.ndarray:
    """Per output channel (axis 0 of ``weight``, float64): the largest ``s`` with
    ``max|round(W · 2**s)| < 2**(weight_bits - 1)``; 62 for an all-zero row."""
    limit = 2 ** (weight_bits - 1) - 1
    fracs = []
    for row in weight.reshape(weight.shape[0], -1):
        peak = float(np.abs(row).max())
        if peak == 0.0:
            fracs.append(_MAX_SHIFT)  # capped below
            continue
        s = weight_bits - 1 - math.frexp(peak)[1]  # peak · 2**s in [2**(wb-2), 2**(wb-1))
        while round(math.ldexp(peak, s)) > limit:
            s -= 1
        fracs.append(s)
    return np.asarray(fracs, dtype=np.int64)


def _frac_from_peak(peak: float, target: int) -> int:
    """The largest ``f <= 40`` with ``peak · 2**f <= 2**target``."""
    if peak <= 0.0:
        return _MAX_FRAC
    return min(target - math.frexp(peak)[1], _MAX_FRAC)


def _round_scaled(values: np.ndarray, fracs: np.ndarray) -> np.ndarray:
    """``round(values[c, ...] · 2**fracs[c])`` (half away from zero) as int64, exactly."""
    out = np.empty(values.shape, dtype=np.int64)
    for c in range(values.shape[0]):
        scaled = np.ldexp(values[c], int(fracs[c]))
        if not np.all(np.abs(scaled) < 2.0**62):
            raise _fail("a quantized weight or bias does not fit int64")
        out[c] = (np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)).astype(np.int64)
    return out


class IntegerScaleNet:
    """Exact fixed-point evaluation of a hyper-synthesis scale branch.

    Build one with :meth:`from_module` (from a trained float branch and a calibration
    batch) or :meth:`from_arrays` (from :meth:`to_arrays`, e.g. read from safetensors).
    See the module docstring for the number format.

    Attributes:
        output_frac_bits: fraction bits of :meth:`fixed_point_scales`: an output ``v``
            stands for the scale ``v · 2**-output_frac_bits``.
        frac_bits: fraction bits of each layer's input, then of the output (length
            layers + 1; the first is 0: ẑ is used as is).
        activation_max: clamp bound of every activation (``2**15 - 1``).
    """

    def __init__(self, layers: list[_Layer], frac_bits: list[int], activation_max: int) -> None:
        self._layers = layers
        self.frac_bits = [int(f) for f in frac_bits]
        self.output_frac_bits = self.frac_bits[-1]
        self.activation_max = int(activation_max)
        self._check()
        self._plans = [self._plan(layer) for layer in layers]

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_module(
        cls, branch: nn.Sequential, calibration: torch.Tensor, weight_bits: int = 12
    ) -> IntegerScaleNet:
        """Quantize ``branch`` (convolutions with ``ReLU`` between them, none after the last).

        Args:
            branch: e.g. ``hyper_synthesis_branch(n, m, nn.ReLU)`` (float weights).
            calibration: realistic ẑ, (B, n, h, w), integer values; only its activation
                peaks are used, to choose each layer's fraction bits.
            weight_bits: signed width of the quantized weights, 2 to 32.

        Raises:
            ModelError: an unsupported module or geometry, or a network whose
                accumulators could reach ``2**52`` (then float64 would not be exact).
        """
        if not 2 <= weight_bits <= 32:
            raise InputError("weight_bits", f"must be in [2, 32], got {weight_bits}")
        modules = list(branch)
        if len(modules) % 2 != 1:
            raise _fail("expected convolutions alternating with ReLU, ending in a convolution")
        for i, module in enumerate(modules):
            if i % 2 == 1 and not isinstance(module, nn.ReLU):
                raise _fail(f"module {i} is {type(module).__name__}, expected ReLU")
        x = torch.as_tensor(_z_array(calibration, "calibration"), dtype=torch.float64)
        activation_max = 2 ** (ACTIVATION_BITS - 1) - 1
        layers: list[_Layer] = []
        frac_bits = [0]
        convs = modules[::2]
        with torch.no_grad():
            for index, module in enumerate(convs):
                geometry = _geometry(module, 2 * index)
                last = index == len(convs) - 1
                weight = module.weight.detach().cpu().double()
                bias = (
                    module.bias.detach().cpu().double()
                    if module.bias is not None
                    else torch.zeros(module.out_channels, dtype=torch.float64)
                )
                # the float reference (float64) gives the calibration peak of this output
                if geometry[0]:
                    x = functional.conv_transpose2d(
                        x,
                        weight,
                        bias,
                        stride=geometry[1],
                        padding=geometry[2],
                        output_padding=geometry[3],
                    )
                else:
                    x = functional.conv2d(x, weight, bias, padding=geometry[2])
                if not last:
                    x = torch.relu(x)
                peak = float(x.abs().max()) if x.numel() else 0.0
                w = weight.numpy()
                per_out = w.transpose(1, 0, 2, 3) if geometry[0] else w
                s = _weight_frac_bits(per_out, weight_bits)
                f_in = frac_bits[-1]
                f_out = min(
                    _frac_from_peak(peak, _OUTPUT_TARGET if last else _ACTIVATION_TARGET),
                    int((f_in + s).min()),
                )
                # channels with tiny (or zero) weights: no finer grid than 2**-k_max below
                # the output's, so their bias stays far from the accumulator bound
                s = np.minimum(s, f_out - f_in + _MAX_EXTRA_SHIFT)
                w_int = _round_scaled(per_out, s)
                if geometry[0]:
                    w_int = w_int.transpose(1, 0, 2, 3)
                b_int = _round_scaled(bias.numpy(), s + f_in)
                layers.append(
                    _Layer(
                        *geometry,
                        weight=np.ascontiguousarray(w_int),
                        bias=b_int,
                        weight_frac=s,
                        shift=f_in + s - f_out,
                    )
                )
                frac_bits.append(f_out)
        return cls(layers, frac_bits, activation_max)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The network as integer arrays (for safetensors).

        ``layer{i}.weight`` (torch layout; int16 when every weight fits, as 12-bit
        weights do, else int32), ``layer{i}.bias`` (int64, (out,), on
        the accumulator grid), ``layer{i}.weight_frac`` (int64, (out,), ``s_c``),
        ``layer{i}.shift`` (int64, (out,), ``k_c``), ``layer{i}.geometry`` (int64,
        ``[transposed, stride, padding, output_padding]``), ``frac_bits`` (int64,
        (layers + 1,)), ``activation_max`` (int64, (1,)).
        """
        arrays: dict[str, np.ndarray] = {}
        for i, layer in enumerate(self._layers):
            small = not layer.weight.size or int(np.abs(layer.weight).max()) < 2**15
            arrays[f"layer{i}.weight"] = layer.weight.astype(np.int16 if small else np.int32)
            arrays[f"layer{i}.bias"] = layer.bias.copy()
            arrays[f"layer{i}.weight_frac"] = layer.weight_frac.copy()
            arrays[f"layer{i}.shift"] = layer.shift.copy()
            arrays[f"layer{i}.geometry"] = np.array(
                [layer.transposed, layer.stride, layer.padding, layer.output_padding],
                dtype=np.int64,
            )
        arrays["frac_bits"] = np.array(self.frac_bits, dtype=np.int64)
        arrays["activation_max"] = np.array([self.activation_max], dtype=np.int64)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, Any]) -> IntegerScaleNet:
        """Rebuild a network from :meth:`to_arrays`; every array is checked.

        Raises:
            ModelError: a missing, unexpected, non-integer or mis-shaped array, values out
                of range, or a network that fails the exactness bound.
        """

        def get(name: str, shape: tuple[int | None, ...]) -> np.ndarray:
            if name not in arrays:
                raise _fail(f"missing array {name!r}")
            value = to_numpy(arrays[name], name)
            if value.dtype.kind not in "iu":
                raise _fail(f"array {name!r} has dtype {value.dtype}, expected integers")
            if value.ndim != len(shape) or any(
                want is not None and got != want
                for got, want in zip(value.shape, shape, strict=True)
            ):
                wanted = tuple("?" if d is None else d for d in shape)
                raise _fail(f"array {name!r} has shape {value.shape}, expected {wanted}")
            if value.size and (value.max() >= 2**62 or value.min() <= -(2**62)):
                raise _fail(f"array {name!r} holds values beyond ±2**62")
            return value.astype(np.int64)

        count = 0
        while f"layer{count}.weight" in arrays:
            count += 1
        if count == 0:
            raise _fail("missing array 'layer0.weight'")
        expected = {"frac_bits", "activation_max"} | {
            f"layer{i}.{part}"
            for i in range(count)
            for part in ("weight", "bias", "weight_frac", "shift", "geometry")
        }
        unexpected = sorted(set(arrays) - expected)
        if unexpected:
            raise _fail(f"unexpected array {unexpected[0]!r}")
        frac_bits = get("frac_bits", (count + 1,))
        activation_max = int(get("activation_max", (1,))[0])
        layers = []
        for i in range(count):
            geometry = get(f"layer{i}.geometry", (4,))
            weight = get(f"layer{i}.weight", (None, None, None, None))
            transposed = bool(geometry[0])
            if geometry[0] not in (0, 1) or weight.shape[2] != weight.shape[3]:
                raise _fail(f"layer {i}: bad geometry {geometry.tolist()} or non-square kernel")
            out = weight.shape[1 if transposed else 0]
            layers.append(
                _Layer(
                    transposed,
                    int(geometry[1]),
                    int(geometry[2]),
                    int(geometry[3]),
                    weight=weight,
                    bias=get(f"layer{i}.bias", (out,)),
                    weight_frac=get(f"layer{i}.weight_frac", (out,)),
                    shift=get(f"layer{i}.shift", (out,)),
                )
            )
        return cls(layers, frac_bits.tolist(), activation_max)

    def _check(self) -> None:
        """Consistency of the layers and the static exactness bound (raises ModelError)."""
        if not 1 <= self.activation_max < 2**31:
            raise _fail(f"activation_max {self.activation_max} is not in [1, 2**31)")
        if len(self.frac_bits) != len(self._layers) + 1 or self.frac_bits[0] != 0:
            raise _fail("frac_bits must have layers + 1 entries, the first 0")
        for i, layer in enumerate(self._layers):
            _check_geometry(
                (layer.transposed, layer.stride, layer.padding, layer.output_padding),
                layer.kernel,
                i,
            )
            if i and layer.in_channels != self._layers[i - 1].out_channels:
                raise _fail(
                    f"layer {i} takes {layer.in_channels} channels, layer {i - 1} "
                    f"gives {self._layers[i - 1].out_channels}"
                )
            if not np.array_equal(
                layer.shift, self.frac_bits[i] + layer.weight_frac - self.frac_bits[i + 1]
            ):
                raise _fail(f"layer {i}: shift != frac_in + weight_frac - frac_out")
            if layer.shift.min() < 0 or layer.shift.max() > _MAX_SHIFT:
                raise _fail(f"layer {i}: shifts must be in [0, {_MAX_SHIFT}]")
            w_max = int(np.abs(layer.weight).max()) if layer.weight.size else 0
            b_max = int(np.abs(layer.bias).max()) if layer.bias.size else 0
            bound = w_max * self.activation_max * layer.fan_in + b_max
            if bound >= _EXACT_LIMIT:
                raise _fail(
                    f"layer {i}: accumulator bound {w_max} * {self.activation_max} * "
                    f"{layer.fan_in} + {b_max} = 2**{math.log2(bound):.1f} is not below "
                    "2**52, float64 would not be exact"
                )

    # -- evaluation -----------------------------------------------------------------
    @staticmethod
    def _plan(layer: _Layer) -> dict[str, Any]:
        """The layer as one stride-1 correlation: a float64 matrix (rows: output channels,
        for a transposed convolution × stride² phases; columns: in × window²), the bias
        and shift per row, the window size and the padding (low, high) of the input."""
        k, s, p = layer.kernel, layer.stride, layer.padding
        w = layer.weight
        if not layer.transposed:
            rows = w.reshape(w.shape[0], -1)
            return {
                "matrix": torch.from_numpy(rows.astype(np.float64)),
                "bias": torch.from_numpy(layer.bias.astype(np.float64))[:, None],
                "shift": layer.shift,
                "window": k,
                "pad": (p, p),
                "phases": 1,
            }
        # out[s·q + r] = Σ_t W[t] · x[q + d] with t = r + p - s·d (for each phase r)
        taps = [
            (r, t, -((t - r - p) // s)) for r in range(s) for t in range(k) if (t - r - p) % s == 0
        ]
        d_lo = min(d for _, _, d in taps)
        d_hi = max(d for _, _, d in taps)
        window = d_hi - d_lo + 1
        c_in, c_out = w.shape[0], w.shape[1]
        kernel = np.zeros((c_out, s, s, c_in, window, window), dtype=np.int64)
        w_oi = w.transpose(1, 0, 2, 3)  # (out, in, k, k)
        for ry, ty, dy in taps:
            for rx, tx, dx in taps:
                kernel[:, ry, rx, :, dy - d_lo, dx - d_lo] = w_oi[:, :, ty, tx]
        return {
            "matrix": torch.from_numpy(kernel.reshape(c_out * s * s, -1).astype(np.float64)),
            "bias": torch.from_numpy(np.repeat(layer.bias, s * s).astype(np.float64))[:, None],
            "shift": np.repeat(layer.shift, s * s),
            "window": window,
            "pad": (-d_lo, d_hi),
            "phases": s,
        }

    def _accumulate(self, plan: dict[str, Any], x: torch.Tensor) -> torch.Tensor:
        """Integer accumulators (float64) of one layer for ``x`` (B, C, H, W), as
        (B, rows, H_out, W_out) on the phase grid; chunked over images and rows."""
        lo, hi = plan["pad"]
        window = plan["window"]
        if lo >= 0 and hi >= 0:
            x = functional.pad(x, (lo, hi, lo, hi))
        else:  # a window that starts (or ends) inside the input: crop
            x = functional.pad(x, (max(lo, 0), max(hi, 0), max(lo, 0), max(hi, 0)))
            x = x[
                ...,
                max(-lo, 0) : x.shape[-2] - max(-hi, 0),
                max(-lo, 0) : x.shape[-1] - max(-hi, 0),
            ]
        batch, channels, height, width = x.shape
        h_out, w_out = height - window + 1, width - window + 1
        matrix: torch.Tensor = plan["matrix"]
        out = torch.empty((batch, matrix.shape[0], h_out, w_out), dtype=torch.float64)
        column_bytes = 8 * channels * window * window * w_out
        band = max(1, _CHUNK_BYTES // max(column_bytes, 1))
        for b in range(batch):
            for r0 in range(0, h_out, band):
                r1 = min(h_out, r0 + band)
                cols = functional.unfold(x[b : b + 1, :, r0 : r1 + window - 1], window)[0]
                acc = torch.matmul(matrix, cols)
                acc += plan["bias"]
                out[b, :, r0:r1] = acc.view(-1, r1 - r0, w_out)
        return out

    def fixed_point_scales(self, z_hat: np.ndarray | torch.Tensor) -> np.ndarray:
        """Predicted scales in fixed point, exactly.

        Args:
            z_hat: quantized hyper-latent, (B, n, h, w), integer values (any real dtype);
                clamped to ``±activation_max``.

        Returns:
            int64 (B, m, 4h, 4w) (for the two stride-2 layers of the hyperprior):
            ``round(scale · 2**output_frac_bits)`` as this network computes it.
        """
        x = torch.from_numpy(_z_array(z_hat, "z_hat"))
        if x.shape[1] != self._layers[0].in_channels:
            raise InputError(
                "z_hat", f"has {x.shape[1]} channels, expected {self._layers[0].in_channels}"
            )
        amax = float(self.activation_max)
        x = x.clamp(-amax, amax)
        last = len(self._layers) - 1
        for index, plan in enumerate(self._plans):
            acc = self._accumulate(plan, x)
            if index < last:
                # floor(relu(acc) / 2**k): exact in float64 (power-of-two scaling, floor)
                scale = torch.from_numpy(np.ldexp(1.0, -plan["shift"]))[None, :, None, None]
                acc.clamp_(min=0.0).mul_(scale).floor_().clamp_(max=amax)
            else:
                acc_int = acc.numpy().astype(np.int64)
                shift = plan["shift"][None, :, None, None]
                half = np.left_shift(np.int64(1), shift) >> 1
                acc = torch.from_numpy(np.right_shift(acc_int + half, shift))
            s = plan["phases"]
            if s > 1:
                batch, rows, height, width = acc.shape
                acc = (
                    acc.view(batch, rows // (s * s), s, s, height, width)
                    .permute(0, 1, 4, 2, 5, 3)
                    .reshape(batch, rows // (s * s), height * s, width * s)
                )
            x = acc
        return np.ascontiguousarray(x.numpy(), dtype=np.int64)

    def thresholds(self, scale_table: Any) -> np.ndarray:
        """``floor(scale_table · 2**output_frac_bits)`` as int64, computed exactly
        (``math.ldexp`` on float64 is exact).

        For an integer fixed-point scale ``v``: ``v · 2**-output_frac_bits <= table[i]``
        exactly when ``v <= thresholds[i]`` (a ceiling would be off by one whenever
        ``table[i] · 2**output_frac_bits`` is not an integer).
        """
        table = float_array(scale_table, "scale_table")
        if table.ndim != 1 or table.size == 0:
            raise InputError("scale_table", f"must be a non-empty 1-D array, got {table.shape}")
        if (table <= 0).any() or (np.diff(table) <= 0).any():
            raise InputError("scale_table", "must be > 0 and strictly increasing")
        limit = 2**62  # above every output
        return np.array(
            [min(math.floor(math.ldexp(float(t), self.output_frac_bits)), limit) for t in table],
            dtype=np.int64,
        )

    def scale_indexes(self, z_hat: np.ndarray | torch.Tensor, scale_table: Any) -> np.ndarray:
        """Index of the smallest table scale ``>=`` each predicted scale, clamped to
        ``[0, len(scale_table) - 1]`` (the rule of ``LocationScaleCoder.scale_indexes``
        applied to ``v · 2**-output_frac_bits``), int64 (B, m, 4h, 4w). Decided by integer
        comparisons only: the index is the number of :meth:`thresholds` ``< v``; a
        predicted scale ``<= 0`` gets index 0.

        Args:
            z_hat: as for :meth:`fixed_point_scales`.
            scale_table: increasing scales > 0 (float64), e.g. ``LocationScaleCoder.scales``.
        """
        thresholds = self.thresholds(scale_table)
        v = self.fixed_point_scales(z_hat)
        idx = np.searchsorted(thresholds, v, side="left")
        return np.minimum(idx, thresholds.size - 1).astype(np.int64)


def _z_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a contiguous float64 (B, C, h, w) array of integers."""
    array = float_array(value, name)
    if array.ndim != 4:
        raise InputError(name, f"must have shape (B, C, h, w), got {array.shape}")
    if array.size and not np.array_equal(array, np.rint(array)):
        raise InputError(name, "must hold integers (quantized values)")
    return np.ascontiguousarray(array)
