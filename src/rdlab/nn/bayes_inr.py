"""Bayesian implicit neural representations: SIREN-style networks with Gaussian weights.

An implicit neural representation (INR) stores a signal as the weights of a small network
from coordinates to values. Here every weight of every patch has a mean-field Gaussian
posterior ``N(mu, sigma^2)`` against a Gaussian prior ``N(prior_mean, prior_std^2)``
shared by all patches (learned from a training set, :mod:`rdlab.inr.prior`), as in
COMBINER (Guo et al., 2023) and RECOMBINER (He et al., 2024). The codec sends one sample
of the weights with relative entropy coding at about ``KL(q || p)`` bits.

Network (:class:`INRConfig`): coordinates ``x`` in ``[-1, 1]^in_dim`` go through Fourier
features ``[x, sin(pi f_l x), cos(pi f_l x)]`` (``f_l`` geometric from 1 to
``max_frequency`` cycles per unit half-width), then ``layers`` hidden layers
``h <- sin(w0 * (h W + b))`` of width ``hidden``, then a linear output layer. The weights
of one patch form a flat vector of :meth:`INRConfig.num_params` entries, layer by layer,
each layer's ``W`` (``in x out``, row-major) followed by its ``b``.

**Learned positional encoding** (RECOMBINER): optionally each patch also codes a small
latent grid, ``grid`` points per axis with ``grid_channels`` values each, stored after the
layers in the same flat vector (grid points row-major, channels fastest) and coded like
the weights (its own prior per entry). Its multilinear interpolation at the coordinates
is appended to the Fourier features, so the network gets a coarse, directly coded
picture of its patch: cheap local means and slopes that sine layers pay many weights for.

**Linear reparameterization** (RECOMBINER): optionally the coded vector is a latent ``h``
and each layer's weights (its ``W`` and ``b`` together, ``d_l`` entries) are
``w_l = A_l h_l`` with a learned ``d_l x d_l`` matrix ``A_l`` shared by all patches. The
posterior and the prior stay diagonal in ``h``, so ``A`` lets the prior express
correlations between weights (and the posterior move along them) at no rate cost.

Two evaluation paths:

* :class:`BayesianINR` (torch, float32) for fitting: a batch of patches, each with its own
  posterior, sampled by reparameterization (one draw of the weights per patch and step),
  KL in bits per weight.
* :func:`evaluate_deterministic` (NumPy, float64) for decoding: every matrix product is a
  fixed-order loop of element-wise multiply-adds and every sine is :func:`rdlab.detmath.sin`,
  so the output depends on nothing but the weights and the coordinates: the same bits on
  every machine, thread count and batch split.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import detmath
from ..errors import InputError

__all__ = [
    "BayesianINR",
    "INRConfig",
    "evaluate_deterministic",
    "fourier_features",
    "fourier_features_deterministic",
    "gaussian_kl_bits_torch",
    "grid_interpolation",
    "reparameterize_deterministic",
    "validate_reparam",
]

_LN2 = math.log(2.0)
#: initial (and first prior) standard deviation of the positional grid's values
GRID_INIT_STD = 0.5


@dataclass(frozen=True)
class INRConfig:
    """Architecture of one patch's network.

    ``in_dim``: coordinate dimensions (1 audio / protein, 2 image, 3 video); ``out_dim``:
    values per coordinate; ``hidden`` width and ``layers`` hidden layers; ``frequencies``
    Fourier frequencies per coordinate, geometric from 1 to ``max_frequency`` (cycles over
    the half-width of the ``[-1, 1]`` patch: a patch of ``L`` samples has its Nyquist
    frequency at ``L / 2``); ``w0``: the sine's frequency factor; ``grid`` and
    ``grid_channels``: the learned positional encoding (grid points per axis >= 2 and
    values per point; both 0 for none, the default)."""

    in_dim: int
    out_dim: int
    hidden: int = 32
    layers: int = 3
    frequencies: int = 8
    max_frequency: float = 16.0
    w0: float = 30.0
    grid: int = 0
    grid_channels: int = 0

    def __post_init__(self) -> None:
        for name in ("in_dim", "out_dim", "hidden", "layers", "frequencies"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(name, f"must be an integer >= 1, got {value!r}")
        for name in ("grid", "grid_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(name, f"must be an integer >= 0, got {value!r}")
        if (self.grid == 0) != (self.grid_channels == 0) or self.grid == 1:
            raise InputError(
                "grid",
                "needs grid >= 2 points per axis and grid_channels >= 1 (or both 0), got "
                f"{self.grid} and {self.grid_channels}",
            )
        for name in ("max_frequency", "w0"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InputError(name, f"must be a finite number > 0, got {value!r}")

    @property
    def feature_dim(self) -> int:
        """Fourier features per coordinate."""
        return self.in_dim * (1 + 2 * self.frequencies)

    @property
    def grid_points(self) -> int:
        """Points of the positional grid (``grid ** in_dim``; 0 without one)."""
        return self.grid**self.in_dim if self.grid else 0

    @property
    def grid_offset(self) -> int:
        """Start of the positional grid's values in the flat vector (after the layers)."""
        return self.layer_offsets()[-1][2]

    def layer_shapes(self) -> list[tuple[int, int]]:
        """(in, out) per linear layer, input to output (the first layer's input: the
        Fourier features and the grid channels)."""
        first = self.feature_dim + self.grid_channels
        dims = [first] + [self.hidden] * self.layers + [self.out_dim]
        return list(itertools.pairwise(dims))

    def layer_offsets(self) -> list[tuple[int, int, int]]:
        """Per layer: (start of W, start of b, end) in the flat weight vector."""
        out, pos = [], 0
        for fan_in, fan_out in self.layer_shapes():
            w_end = pos + fan_in * fan_out
            out.append((pos, w_end, w_end + fan_out))
            pos = w_end + fan_out
        return out

    def num_params(self) -> int:
        """Entries of one patch's flat vector: the layers' weights, then the grid."""
        return self.grid_offset + self.grid_points * self.grid_channels

    def layer_sizes(self) -> list[int]:
        """Weights per layer (``W`` and ``b``): the sizes ``d_l`` of the reparameterization
        matrices."""
        return [end - start for start, _, end in self.layer_offsets()]

    def frequency_list(self) -> np.ndarray:
        """The Fourier frequencies f_l (float64), l = 0 .. frequencies - 1."""
        if self.frequencies == 1:
            return np.array([1.0])
        ratio = float(self.max_frequency) ** (1.0 / (self.frequencies - 1))
        return np.array([ratio**level for level in range(self.frequencies)], dtype=np.float64)

    def init_std(self) -> np.ndarray:
        """SIREN-style initial weight scale per parameter (float64, (num_params,)): the
        standard deviation of U(-1/fan_in, 1/fan_in) for the first layer, of
        U(+-sqrt(6/fan_in)/w0) for the hidden ones and of U(+-sqrt(6/fan_in)) / 3 for the
        output layer; biases get the same scale as their layer's weights; the grid's values
        :data:`GRID_INIT_STD`."""
        std = np.full(self.num_params(), GRID_INIT_STD, dtype=np.float64)
        shapes = self.layer_shapes()
        for index, ((w0, _, end), (fan_in, _)) in enumerate(
            zip(self.layer_offsets(), shapes, strict=True)
        ):
            if index == 0:
                bound = 1.0 / fan_in
            elif index < len(shapes) - 1:
                bound = math.sqrt(6.0 / fan_in) / self.w0
            else:
                bound = math.sqrt(6.0 / fan_in) / 3.0
            std[w0:end] = bound / math.sqrt(3.0)
        return std

    def to_dict(self) -> dict[str, Any]:
        """The fields (without the grid's when there is none: older model files, and
        their hashes, stay as they were)."""
        out = asdict(self)
        if not self.grid:
            del out["grid"], out["grid_channels"]
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> INRConfig:
        try:
            return cls(**values)
        except TypeError as exc:
            raise InputError("config", f"not an INR configuration: {exc}") from None


def grid_interpolation(coords: np.ndarray, config: INRConfig) -> np.ndarray:
    """Multilinear interpolation weights of the positional grid at ``coords`` (``(n,
    in_dim)`` in [-1, 1]): float64 ``(n, grid_points)``, each row summing to 1. Grid point
    ``i`` of an axis sits at ``-1 + 2 i / (grid - 1)``, points row-major (last axis
    fastest). Plain IEEE arithmetic, so the same bits everywhere; ``(n, 0)`` without a
    grid."""
    x = np.asarray(coords, dtype=np.float64)
    n, g = x.shape[0], config.grid
    if not g:
        return np.zeros((n, 0))
    u = (np.clip(x, -1.0, 1.0) + 1.0) * (0.5 * (g - 1))
    lower = np.clip(np.floor(u), 0, g - 2).astype(np.int64)
    frac = u - lower
    out = np.zeros((n, config.grid_points))
    rows = np.arange(n)
    for corner in itertools.product((0, 1), repeat=config.in_dim):
        index = np.zeros(n, dtype=np.int64)
        weight = np.ones(n)
        for axis, bit in enumerate(corner):
            index = index * g + lower[:, axis] + bit
            weight = weight * (frac[:, axis] if bit else 1.0 - frac[:, axis])
        out[rows, index] += weight
    return out


def fourier_features(coords: torch.Tensor, config: INRConfig) -> torch.Tensor:
    """``(n, in_dim)`` coordinates in [-1, 1] to ``(n, feature_dim + grid_points)`` input
    features (torch): the Fourier features, then the positional grid's interpolation
    weights (:func:`grid_interpolation`; none without a grid)."""
    freqs = torch.as_tensor(config.frequency_list() * math.pi, dtype=coords.dtype)
    angles = coords.unsqueeze(-1) * freqs  # (..., in_dim, F)
    parts = [coords, torch.sin(angles).flatten(-2), torch.cos(angles).flatten(-2)]
    if config.grid:
        weights = grid_interpolation(coords.detach().double().cpu().numpy(), config)
        parts.append(torch.as_tensor(weights, dtype=coords.dtype))
    return torch.cat(parts, dim=-1)


def fourier_features_deterministic(coords: np.ndarray, config: INRConfig) -> np.ndarray:
    """:func:`fourier_features` in float64 with :mod:`rdlab.detmath` (bit-reproducible)."""
    x = np.asarray(coords, dtype=np.float64)
    freqs = config.frequency_list() * math.pi
    angles = x[..., :, None] * freqs
    shape = (*x.shape[:-1], -1)
    parts = [x, detmath.sin(angles).reshape(shape), detmath.cos(angles).reshape(shape)]
    if config.grid:
        parts.append(grid_interpolation(x, config))
    return np.concatenate(parts, axis=-1)


def gaussian_kl_bits_torch(
    mu: torch.Tensor, log_sigma: torch.Tensor, prior_mean: torch.Tensor, prior_log_std: torch.Tensor
) -> torch.Tensor:
    """Element-wise KL(N(mu, sigma^2) || N(prior_mean, prior_std^2)) in bits."""
    log_ratio = 2.0 * (log_sigma - prior_log_std)
    inv_var = torch.exp(-2.0 * prior_log_std)
    return 0.5 * (torch.exp(log_ratio) + (mu - prior_mean) ** 2 * inv_var - 1.0 - log_ratio) / _LN2


class BayesianINR(nn.Module):
    """Mean-field Gaussian posteriors over the weights of ``num_patches`` networks.

    Parameters ``mu`` and ``log_sigma``, shape ``(num_patches, num_params)``; buffers
    ``prior_mean`` and ``prior_log_std`` (``(num_params,)``, shared by the patches) and
    ``fixed`` / ``fixed_values`` (``(num_patches, num_params)``): weights already sent are
    fixed to their coded sample, with no posterior spread and no KL.

    ``reparam``: None, or one ``(d_l, d_l)`` matrix per layer (see the module docstring);
    then ``mu``, ``log_sigma`` and the prior live in the latent ``h``. ``train_reparam``:
    the matrices are parameters (prior learning), else fixed buffers (encoding)."""

    def __init__(
        self,
        config: INRConfig,
        num_patches: int,
        prior_mean: Any,
        prior_std: Any,
        *,
        init_mean: Any = None,
        init_log_sigma: float | Any = None,
        reparam: Any = None,
        train_reparam: bool = False,
    ) -> None:
        super().__init__()
        self.config = config
        count = config.num_params()
        pm = torch.as_tensor(np.asarray(prior_mean, dtype=np.float32)).reshape(count)
        ps = torch.as_tensor(np.asarray(prior_std, dtype=np.float32)).reshape(count)
        if not (torch.isfinite(pm).all() and torch.isfinite(ps).all() and (ps > 0).all()):
            raise InputError("prior", "means must be finite and standard deviations > 0")
        self.register_buffer("prior_mean", pm)
        self.register_buffer("prior_log_std", torch.log(ps))
        if init_mean is None:
            mean = pm.expand(num_patches, count).clone()
        else:
            mean = torch.as_tensor(np.asarray(init_mean, dtype=np.float32)).reshape(
                num_patches, count
            )
        if init_log_sigma is None:
            log_sigma = (torch.log(ps) - 3.0).expand(num_patches, count).clone()
        else:
            log_sigma = torch.as_tensor(
                np.broadcast_to(np.asarray(init_log_sigma, dtype=np.float32), (num_patches, count))
            ).clone()
        self.mu = nn.Parameter(mean.clone())
        self.log_sigma = nn.Parameter(log_sigma)
        self.register_buffer("fixed", torch.zeros(num_patches, count, dtype=torch.bool))
        self.register_buffer("fixed_values", torch.zeros(num_patches, count))
        self.reparam: nn.ParameterList | None = None
        if reparam is not None:
            mats = validate_reparam(reparam, config)
            self.reparam = nn.ParameterList(
                nn.Parameter(torch.as_tensor(m, dtype=torch.float32), requires_grad=train_reparam)
                for m in mats
            )

    @property
    def num_patches(self) -> int:
        return int(self.mu.shape[0])

    def fix(self, flat_positions: np.ndarray, values: np.ndarray) -> None:
        """Fix the weights at ``flat_positions`` (indices into the ``(num_patches *
        num_params)`` row-major vector) to ``values`` (their coded sample)."""
        pos = torch.as_tensor(np.asarray(flat_positions, dtype=np.int64))
        vals = torch.as_tensor(np.asarray(values, dtype=np.float32))
        self.fixed.view(-1)[pos] = True
        self.fixed_values.view(-1)[pos] = vals

    def effective(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and standard deviation with the fixed weights applied."""
        mu = torch.where(self.fixed, self.fixed_values, self.mu)
        sigma = torch.where(self.fixed, torch.zeros_like(self.mu), torch.exp(self.log_sigma))
        return mu, sigma

    def kl_bits(self) -> torch.Tensor:
        """KL (bits) per weight, ``(num_patches, num_params)``; 0 for fixed weights."""
        kl = gaussian_kl_bits_torch(self.mu, self.log_sigma, self.prior_mean, self.prior_log_std)
        return torch.where(self.fixed, torch.zeros_like(kl), kl)

    def network_weights(self, latent: torch.Tensor) -> torch.Tensor:
        """The networks' weights ``(num_patches, num_params)`` of coded vectors ``latent``
        (the identity without a reparameterization)."""
        if self.reparam is None:
            return latent
        parts = [
            latent[:, start:end] @ mat.T
            for (start, _, end), mat in zip(self.config.layer_offsets(), self.reparam, strict=True)
        ]
        parts.append(latent[:, self.config.grid_offset :])  # the grid: not reparameterized
        return torch.cat(parts, dim=1)

    def forward(self, features: torch.Tensor, sample: bool = True) -> torch.Tensor:
        """Network outputs ``(num_patches, n, out_dim)`` at ``features`` (``(n, F)`` shared
        by the patches, or ``(num_patches, n, F)``). ``sample``: one draw of every weight
        from its posterior (reparameterization: ``mu + sigma * eps``, one draw per patch
        shared by its coordinates, which is what the decoder will use); else the posterior
        means."""
        mu, sigma = self.effective()
        latent = mu + sigma * torch.randn_like(mu) if sample else mu
        weights = self.network_weights(latent)
        h = features if features.dim() == 3 else features.expand(self.num_patches, -1, -1)
        cfg = self.config
        if cfg.grid:
            values = weights[:, cfg.grid_offset :].reshape(-1, cfg.grid_points, cfg.grid_channels)
            position = torch.matmul(h[..., cfg.feature_dim :], values)  # (patches, n, channels)
            h = torch.cat([h[..., : cfg.feature_dim], position], dim=-1)
        last = len(self.config.layer_offsets()) - 1
        for index, ((w_start, b_start, end), (fan_in, fan_out)) in enumerate(
            zip(self.config.layer_offsets(), self.config.layer_shapes(), strict=True)
        ):
            mat = weights[:, w_start:b_start].reshape(-1, fan_in, fan_out)
            z = torch.baddbmm(weights[:, b_start:end].unsqueeze(1), h, mat)
            h = z if index == last else torch.sin(self.config.w0 * z)
        return h


def validate_reparam(reparam: Any, config: INRConfig) -> list[np.ndarray]:
    """The reparameterization matrices as float64 arrays, checked: one finite ``(d_l,
    d_l)`` matrix per layer of ``config``."""
    sizes = config.layer_sizes()
    mats = [np.asarray(m, dtype=np.float64) for m in reparam]
    if len(mats) != len(sizes):
        raise InputError("reparam", f"needs {len(sizes)} matrices (one per layer), got {len(mats)}")
    for mat, size in zip(mats, sizes, strict=True):
        if mat.shape != (size, size) or not np.isfinite(mat).all():
            raise InputError("reparam", f"matrices must be finite and of sizes {sizes} squared")
    return mats


def reparameterize_deterministic(latent: np.ndarray, reparam: Any, config: INRConfig) -> np.ndarray:
    """Network weights ``w_l = A_l h_l`` from coded vectors ``latent`` (``(num_patches,
    num_params)``), bit-reproducibly in float64: each output is the sum over ``j`` in
    increasing order of ``A_l[:, j] * h_l[j]`` (one rounding per operation, no BLAS)."""
    h = np.asarray(latent, dtype=np.float64)
    if h.ndim != 2 or h.shape[1] != config.num_params():
        raise InputError("latent", f"must have shape (patches, {config.num_params()})")
    out = h.copy()  # the positional grid's values pass unchanged
    for (start, _, end), mat in zip(
        config.layer_offsets(), validate_reparam(reparam, config), strict=True
    ):
        acc = np.zeros((h.shape[0], end - start), dtype=np.float64)
        for j in range(end - start):
            acc += h[:, start + j : start + j + 1] * mat[None, :, j]
        out[:, start:end] = acc
    return out


def _grid_values(weights: np.ndarray, feats: np.ndarray, config: INRConfig) -> np.ndarray:
    """The positional grid interpolated at the coordinates: ``(patches, n, channels)``,
    summed over the grid points in increasing order (one rounding per operation)."""
    values = weights[:, config.grid_offset :].reshape(-1, config.grid_points, config.grid_channels)
    interp = feats[:, config.feature_dim :]
    out = np.zeros((weights.shape[0], feats.shape[0], config.grid_channels))
    for k in range(config.grid_points):
        out += interp[None, :, k : k + 1] * values[:, None, k, :]
    return out


#: activations per tile in :func:`evaluate_deterministic` (float64 values: 1 MiB)
_TILE_ENTRIES = 2**17


def evaluate_deterministic(
    weights: np.ndarray, coords: np.ndarray, config: INRConfig, *, chunk: int = 128
) -> np.ndarray:
    """Network outputs for a batch of weight vectors, bit-reproducibly (float64).

    ``weights``: ``(num_patches, num_params)``; ``coords``: ``(n, in_dim)`` shared by the
    patches. Returns ``(num_patches, n, out_dim)`` float64. Each matrix product is the sum
    over the input features in increasing order of element-wise products (one rounding
    per operation, no BLAS), so the result does not depend on the machine, the thread
    count or how the patches and coordinates are split. The work goes in tiles of
    ``chunk`` coordinates and as many patches as keep a layer's activations near
    :data:`_TILE_ENTRIES` values (about 1 MiB, so they stay in cache: a 256x256 image
    decodes in half the time of one 64-patch x 1,024-coordinate tile)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != config.num_params():
        raise InputError("weights", f"must have shape (patches, {config.num_params()})")
    coords = np.asarray(coords, dtype=np.float64)
    out = np.empty((w.shape[0], coords.shape[0], config.out_dim), dtype=np.float64)
    layers = list(zip(config.layer_offsets(), config.layer_shapes(), strict=True))
    chunk = max(1, int(chunk))
    width = max(max(fan_in, fan_out) for fan_in, fan_out in config.layer_shapes())
    group = max(1, _TILE_ENTRIES // (chunk * width))
    for c0 in range(0, coords.shape[0], chunk):
        feats = fourier_features_deterministic(coords[c0 : c0 + chunk], config)
        for p0 in range(0, w.shape[0], group):
            wp = w[p0 : p0 + group]
            h = np.broadcast_to(feats, (wp.shape[0], *feats.shape))
            if config.grid:
                grid = _grid_values(wp, feats, config)
                h = np.concatenate([h[..., : config.feature_dim], grid], -1)
            for index, ((w_start, b_start, end), (fan_in, fan_out)) in enumerate(layers):
                mat = wp[:, w_start:b_start].reshape(-1, fan_in, fan_out)
                z = np.repeat(wp[:, None, b_start:end], h.shape[1], axis=1)
                for i in range(fan_in):
                    z += h[:, :, i : i + 1] * mat[:, None, i, :]
                if index == len(layers) - 1:
                    h = z
                else:
                    z *= config.w0
                    h = detmath.sin(z)
            out[p0 : p0 + group, c0 : c0 + chunk] = h
    return out
