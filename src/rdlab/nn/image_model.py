"""The hyperprior image model: GDN transforms, mean-scale Gaussian conditional, gain units.

Architecture (Ballé et al. 2018; Minnen et al. 2018 without the serial context model),
with ``N`` transform channels and ``M`` latent channels:

* analysis ``g_a``: 4 × (5×5 conv, stride 2), GDN between; image ``(B, 3, H, W)`` in
  [0, 1] → latent ``y`` ``(B, M, H/16, W/16)``;
* synthesis ``g_s``: the mirror image with transposed convolutions and IGDN;
* hyper-analysis ``h_a``: ``y`` → hyper-latent ``z`` ``(B, N, H/64, W/64)``;
* hyper-synthesis, two branches on the quantized ``ẑ``: **means** (float) and
  **scales**. Only the scales select entropy tables, so only the scale branch is run in
  exact integer arithmetic at coding time (:mod:`rdlab.nn.integer_net`); a mean that
  differs in its last bit between machines moves a reconstruction by that bit, never the
  decoding of a symbol;
* **variable rate** through gain units (Cui et al. 2021): a rate parameter ``t`` in
  ``[0, K-1]`` picks per-channel log-gains ``a(t)`` and inverse log-gains ``b(t)``,
  linearly interpolated between the K trained levels; the latent is coded as
  ``y·exp(a(t))`` and fed back to the synthesis as ``ŷ·exp(b(t))``. Level ``k`` is trained
  with ``λ_k`` (loss ``λ·255²·MSE + bits per pixel``); in between, ``log λ`` is
  interpolated too.

Training proxies: additive uniform noise for both rates, straight-through rounding of
``y - μ`` into the synthesis and of ``z`` into the hyper-synthesis ("mixed" quantization,
Minnen and Singh 2020), so the decoder is trained on what it will see.

The latent-domain half (``h_a``, the two hyper-synthesis branches, the density of ``z``
and the conditional of ``y``) is one :class:`~rdlab.nn.latent_codecs.HyperpriorLatentCodec`,
``model.latent_codec``, assembled from the entropy modules of :mod:`rdlab.nn.entropy`; the
codec (:mod:`rdlab.codecs.hyperprior`) codes with it. State-dict names of models saved
before it existed (``h_a.*``, ``z_density.*``, ...) are mapped on load
(:data:`LEGACY_NAMES`).

**Lattice latents** (``latent_lattice``, e.g. ``"E8"``): the same transforms with another
latent coder. Blocks of neighbouring positions form n-vectors (2×4 of one channel for
E8: :func:`rdlab.coding.lattice_latents.vector_block`); the
residual vector ``y - μ`` is quantized to the nearest point of the unit-volume lattice
(straight-through into the synthesis), and its rate in training is the Monte-Carlo mass
of the Gaussian product density over the Voronoi cell around the dithered residual
(``y - μ + u``, ``u`` uniform over the cell): :class:`~rdlab.nn.lattice_quantizer.LatticeQuantizer`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import InputError
from .checkerboard import CheckerboardLatentCodec, context_branches
from .entropy import EntropyBottleneck, LatticeConditional, LocationScaleConditional, ste_round
from .gdn import GDN, IGDN
from .latent_codecs import HyperpriorLatentCodec

__all__ = [
    "DEFAULT_LAMBDAS",
    "LEGACY_NAMES",
    "HyperpriorImageModel",
    "ImageModelConfig",
    "latent_lattice",
    "rename_state_key",
    "ste_round",
]

CONTEXTS = (None, "checkerboard")
"""Values of :attr:`ImageModelConfig.context`."""
DEFAULT_LAMBDAS = (0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483)
"""Rate-distortion trade-offs of the trained levels (distortion: MSE on [0, 1] × 255²)."""


LEGACY_NAMES = (
    ("h_a.", "latent_codec.h_a."),
    ("h_s_means.", "latent_codec.h_s_means."),
    ("h_s_scales.", "latent_codec.h_s_scales."),
    ("z_density.", "latent_codec.entropy_bottleneck."),
    ("latent_quantizer.", "latent_codec.conditional.quantizer."),
)
"""``(old prefix, new prefix)`` of the state-dict names of the latent-domain parts, from
before they formed ``latent_codec`` (checkpoints and model files use the old ones)."""


def rename_state_key(
    key: str, names: tuple[tuple[str, str], ...] = LEGACY_NAMES, *, reverse: bool = False
) -> str:
    """``key`` with the longest matching ``old`` prefix of ``names`` replaced by its
    ``new`` (``reverse``: ``new`` by ``old``); unchanged when none matches."""
    pairs = [(new, old) if reverse else (old, new) for old, new in names]
    matches = [(a, b) for a, b in pairs if key.startswith(a)]
    if not matches:
        return key
    a, b = max(matches, key=lambda pair: len(pair[0]))
    return b + key[len(a) :]


@dataclass(frozen=True)
class ImageModelConfig:
    """Shape of a hyperprior image model (stored in the model file).

    Attributes:
        channels: N, channels of the transforms and of the hyper-latent.
        latent_channels: M, channels of the latent.
        lambdas: λ of each trained rate level, increasing (more rate).
        latent_lattice: ``None`` for scalar latents (rounding), or the canonical name of
            the lattice of the latent vectors (``"D4"``, ``"E8"``, ``"BW16"``,
            ``"Leech"``, ...; its dimension must divide M).
        context: ``None`` (hyperprior only) or ``"checkerboard"``: the non-anchor half of
            the latent is coded with a spatial context
            (:class:`~rdlab.nn.checkerboard.CheckerboardLatentCodec`; scalar latents only).
    """

    channels: int = 128
    latent_channels: int = 192
    lambdas: tuple[float, ...] = field(default=DEFAULT_LAMBDAS)
    latent_lattice: str | None = None
    context: str | None = None

    def __post_init__(self) -> None:
        if self.context not in CONTEXTS:
            raise InputError("context", f"must be one of {CONTEXTS}, got {self.context!r}")
        if self.context is not None and self.latent_lattice is not None:
            raise InputError("context", "a context model needs scalar latents (no lattice)")

    def to_dict(self) -> dict[str, Any]:
        out = {**asdict(self), "lambdas": list(self.lambdas)}
        for key in ("latent_lattice", "context"):  # older models keep their original config
            if out[key] is None:
                del out[key]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageModelConfig:
        lattice = data.get("latent_lattice")
        context = data.get("context")
        return cls(
            channels=int(data["channels"]),
            latent_channels=int(data["latent_channels"]),
            lambdas=tuple(float(v) for v in data["lambdas"]),
            latent_lattice=None if lattice is None else str(lattice),
            context=None if context is None else str(context),
        )

    @property
    def levels(self) -> int:
        return len(self.lambdas)


def latent_lattice(name: str, latent_channels: int) -> Any:
    """The unit-volume lattice called ``name`` for latents of ``latent_channels``
    channels (its vectors' channel groups, :func:`~rdlab.coding.lattice_latents.vector_block`,
    must divide them)."""
    from ..coding.lattice_latents import vector_block
    from ..lattice import get_lattice

    lattice = get_lattice(name).unit_volume()
    group, rows, cols = vector_block(lattice.dim)
    if latent_channels % group:
        raise InputError(
            "lattice",
            f"{lattice.name} vectors span {group} channels x {rows}x{cols} positions; "
            f"{group} does not divide the {latent_channels} latent channels",
        )
    return lattice


def _conv(cin: int, cout: int, kernel: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


def _deconv(cin: int, cout: int, kernel: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(
        cin, cout, kernel, stride=stride, padding=kernel // 2, output_padding=stride - 1
    )


def hyper_synthesis_branch(n: int, m: int, activation: type[nn.Module]) -> nn.Sequential:
    """``ẑ (B, N, h, w)`` → ``(B, M, 4h, 4w)``: two stride-2 transposed convs, a 3×3 conv."""
    return nn.Sequential(
        _deconv(n, n), activation(), _deconv(n, n), activation(), _conv(n, m, 3, 1)
    )


class HyperpriorImageModel(nn.Module):
    """Mean-scale hyperprior with gain units; see the module docstring.

    Args:
        config: the model's shape (default :class:`ImageModelConfig`).

    Attributes:
        g_a, g_s: analysis and synthesis transforms.
        latent_codec: the :class:`~rdlab.nn.latent_codecs.HyperpriorLatentCodec` of the
            gained latent (its ``h_a``, ``h_s_means`` and ``h_s_scales`` are also
            reachable as attributes of the model).
        log_gain, log_inv_gain: ``(K, M)`` log-gains of the K rate levels.
    """

    def __init__(self, config: ImageModelConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ImageModelConfig()
        n, m = config.channels, config.latent_channels
        self.g_a = nn.Sequential(
            _conv(3, n), GDN(n), _conv(n, n), GDN(n), _conv(n, n), GDN(n), _conv(n, m)
        )
        self.g_s = nn.Sequential(
            _deconv(m, n), IGDN(n), _deconv(n, n), IGDN(n), _deconv(n, n), IGDN(n), _deconv(n, 3)
        )
        # created in this order, so a seed gives the weights it always gave
        h_a = nn.Sequential(
            _conv(m, n, 3, 1), nn.LeakyReLU(), _conv(n, n), nn.LeakyReLU(), _conv(n, n)
        )
        h_s_means = hyper_synthesis_branch(n, m, nn.LeakyReLU)
        h_s_scales = hyper_synthesis_branch(n, m, nn.ReLU)
        bottleneck = EntropyBottleneck(n)
        conditional: LocationScaleConditional | LatticeConditional
        if config.latent_lattice is None:
            conditional = LocationScaleConditional("gaussian")
        else:
            conditional = LatticeConditional(
                latent_lattice(config.latent_lattice, m), mc_samples=64, seed=0
            )
        if config.context == "checkerboard":
            assert isinstance(conditional, LocationScaleConditional)
            context_scales, context_means = context_branches(m, hidden=m, kernel=3)
            self.latent_codec: HyperpriorLatentCodec = CheckerboardLatentCodec(
                h_a, h_s_means, h_s_scales, bottleneck, conditional,
                context_scales, context_means,
            )  # fmt: skip
        else:
            self.latent_codec = HyperpriorLatentCodec(
                h_a, h_s_means, h_s_scales, bottleneck, conditional
            )
        log_lam = torch.log(torch.tensor(config.lambdas, dtype=torch.float32))
        # high-rate theory: step ∝ 1/sqrt(λ), so the gain starts at sqrt(λ / λ_mid)
        init = 0.5 * (log_lam - log_lam.mean())
        self.log_gain = nn.Parameter(init[:, None].repeat(1, m))
        self.log_inv_gain = nn.Parameter(-init[:, None].repeat(1, m))
        self.register_buffer("log_lambdas", log_lam, persistent=False)

    @property
    def h_a(self) -> nn.Module:
        """The hyper-analysis (``latent_codec.h_a``)."""
        return self.latent_codec.h_a

    @property
    def h_s_means(self) -> nn.Module:
        """The mean branch of the hyper-synthesis (``latent_codec.h_s_means``)."""
        return self.latent_codec.h_s_means

    @property
    def h_s_scales(self) -> nn.Module:
        """The float scale branch (``latent_codec.h_s_scales``)."""
        return self.latent_codec.h_s_scales

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        *args: Any,
    ) -> None:
        # state dicts from before latent_codec: the old names of its parts
        for key in [k for k in state_dict if k.startswith(prefix)]:
            new = prefix + rename_state_key(key[len(prefix) :])
            if new != key:
                state_dict[new] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args)

    # -- the rate parameter --------------------------------------------------------
    def _interpolate(self, table: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Rows of ``table`` (K, ...) linearly interpolated at ``t`` (B,) in [0, K-1]."""
        k = table.shape[0]
        t = t.clamp(0, k - 1)
        low = torch.clamp(torch.floor(t), max=k - 2).long() if k > 1 else torch.zeros_like(t).long()
        frac = (t - low).view(-1, *([1] * (table.dim() - 1)))
        if k == 1:
            return table[low]
        return table[low] * (1 - frac) + table[low + 1] * frac

    def lambdas_at(self, t: torch.Tensor) -> torch.Tensor:
        """λ at rate parameters ``t`` (B,): geometric interpolation between levels."""
        return torch.exp(self._interpolate(self.log_lambdas.to(t.device), t))

    def gains(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(gain, inverse_gain)``, each ``(B, M, 1, 1)``, at rate parameters ``t`` (B,)."""
        a = self._interpolate(self.log_gain, t)
        b = self._interpolate(self.log_inv_gain, t)
        return torch.exp(a)[:, :, None, None], torch.exp(b)[:, :, None, None]

    # -- pieces used by the codec ------------------------------------------------------
    def analyze(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Gained latent ``y·g(t)`` of images ``x`` (B, 3, H, W) in [0, 1]; H, W multiples of 64."""
        gain, _ = self.gains(t)
        return self.g_a(x) * gain

    def synthesize(self, y_hat: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Reconstruction (B, 3, H, W), unclamped, from the quantized gained latent."""
        _, inv_gain = self.gains(t)
        return self.g_s(y_hat * inv_gain)

    # -- training ----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training pass on images ``x`` (B, 3, H, W) in [0, 1] at rate parameters ``t`` (B,).

        Returns ``x_hat`` (B, 3, H, W), ``bits_y`` and ``bits_z`` (B,) (noisy-proxy
        information content in bits per image), and ``lmbda`` (B,).
        """
        y = self.analyze(x, t)
        latent = self.latent_codec(y, training_proxy="mixed")
        x_hat = self.synthesize(latent["y_hat"], t)
        return {
            "x_hat": x_hat,
            "bits_y": latent["bits_y"].sum(dim=(1, 2, 3)),
            "bits_z": latent["bits_z"].sum(dim=(1, 2, 3)),
            "lmbda": self.lambdas_at(t),
        }

    def rate_parameter_of_lambda(self, lmbda: float) -> float:
        """The rate parameter ``t`` whose interpolated λ equals ``lmbda`` (clamped)."""
        log_lam = [math.log(v) for v in self.config.lambdas]
        target = math.log(lmbda)
        if len(log_lam) == 1 or target <= log_lam[0]:
            return 0.0
        for i in range(len(log_lam) - 1):
            if target <= log_lam[i + 1]:
                return i + (target - log_lam[i]) / (log_lam[i + 1] - log_lam[i])
        return float(len(log_lam) - 1)
