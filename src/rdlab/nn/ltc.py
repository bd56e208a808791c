"""Lattice transform coding models: analysis MLP -> lattice quantizer -> synthesis MLP.

Two layouts (Lei, Hassani & Saeedi Bidokhti, ICLR 2025):

- **one-shot** (``block=False``): a source vector x ∈ R^d maps to a latent y ∈ R^n,
  n = lattice dimension, quantized as one lattice vector; coordinate j of y has its own
  density channel j.
- **block** (``block=True``): n i.i.d. copies of a d-dimensional source, x of shape
  (n, d), each copy transformed alone to a latent of ``latent_dim`` coordinates; latent
  coordinate c across the n copies is one n-dimensional lattice vector, whose entries
  share density channel c.

Both give the quantizer lattice vectors of shape (batch, L, n) with a channel map (L, n).
Rates are reported in bits per source dimension (per scalar of x).

**Model files** (:func:`save_ltc_model`, :func:`load_ltc_model`): one safetensors file
holding the model's float64 state (every parameter and buffer, by its ``state_dict``
name) and, in its metadata, ``format`` (:data:`MODEL_FORMAT`), ``config`` (the
constructor's arguments, the lattice by name and scale) and ``model_hash``. The hash is
:func:`rdlab.container.model_hash` of those tensors, i.e. of the float64 state the LTC
codec runs: the very hash its ``.rdl`` files carry, so a decoder finds a file's model
by it.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import torch
from torch import nn

from .._files import write_atomic
from ..container import model_hash
from ..errors import InputError, ModelError
from ..lattice import get_lattice
from .lattice_quantizer import LatticeQuantizer
from .mixture import GaussianMixtureDensity
from .model_files import load_state, read_model_file

__all__ = [
    "MODEL_FORMAT",
    "LTCModel",
    "ResidualMLP",
    "as_float64",
    "load_ltc_model",
    "ltc_model_hash",
    "save_ltc_model",
]

MODEL_FORMAT = "rdlab-ltc-model/1"
"""The ``format`` metadata of LTC model files."""


class ResidualMLP(nn.Module):
    """y = A·x + MLP(x): a linear map plus a two-hidden-layer GELU MLP whose last layer
    starts at zero (so training starts from the linear map ``init_gain``·I where the
    dimensions allow)."""

    def __init__(self, d_in: int, d_out: int, hidden: int = 64, init_gain: float = 1.0):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        with torch.no_grad():
            self.linear.weight.zero_()
            m = min(d_in, d_out)
            self.linear.weight[:m, :m] = init_gain * torch.eye(m)
            self.linear.bias.zero_()
        self.mlp = nn.Sequential(
            nn.Linear(d_in, hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, d_out),
        )
        with torch.no_grad():
            self.mlp[-1].weight.zero_()
            self.mlp[-1].bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) + self.mlp(x)


class LTCModel(nn.Module):
    """Analysis transform, lattice quantizer, factorized mixture density, synthesis.

    Args:
        source_dim: d, dimension of one source vector.
        lattice: an :class:`rdlab.lattice.Lattice` (its dim is n).
        block: block layout (n copies of x per coded item) instead of one-shot.
        latent_dim: block layout only: latent coordinates per copy (default d).
        hidden: width of the MLPs; components: mixture components per channel;
        mc_samples: quasi-MC cell samples for likelihoods; init_gain: initial analysis
        gain (the synthesis starts at its inverse).
    """

    def __init__(
        self,
        source_dim: int,
        lattice: Any,
        *,
        block: bool = False,
        latent_dim: int | None = None,
        hidden: int = 64,
        components: int = 5,
        mc_samples: int = 64,
        init_gain: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        n = lattice.dim
        self.config: dict[str, Any] = {
            "source_dim": source_dim,
            "lattice": lattice.name,
            "lattice_scale": lattice.scale,
            "block": block,
            "latent_dim": latent_dim,
            "hidden": hidden,
            "components": components,
            "mc_samples": mc_samples,
            "init_gain": init_gain,
            "seed": seed,
        }
        if source_dim < 1:
            raise InputError("source_dim", "must be >= 1")
        if not block and latent_dim not in (None, n):
            raise InputError("latent_dim", "a one-shot model's latent has the lattice dimension")
        self.source_dim = source_dim
        self.block = block
        self.latent_dim = (latent_dim or source_dim) if block else n
        self.analysis = ResidualMLP(source_dim, self.latent_dim, hidden, init_gain)
        self.synthesis = ResidualMLP(self.latent_dim, source_dim, hidden, 1.0 / init_gain)
        self.quantizer = LatticeQuantizer(lattice, mc_samples=mc_samples, seed=seed)
        self.density = GaussianMixtureDensity(
            self.latent_dim if block else n, components, init_scale=init_gain
        )
        if block:
            ch = torch.arange(self.latent_dim)[:, None].expand(self.latent_dim, n)
        else:
            ch = torch.arange(n)[None, :]
        self.register_buffer("channels", ch.contiguous())

    @property
    def item_shape(self) -> tuple[int, ...]:
        """Shape of one coded item: (d,) one-shot, (n, d) block."""
        n = self.quantizer.dim
        return (n, self.source_dim) if self.block else (self.source_dim,)

    @property
    def item_dims(self) -> int:
        """Source scalars per coded item (the denominator of bits per dimension)."""
        return int(torch.tensor(self.item_shape).prod())

    def check_items(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:]) != self.item_shape or x.ndim != len(self.item_shape) + 1:
            raise InputError(
                "x", f"must have shape (batch, {self.item_shape}), got {tuple(x.shape)}"
            )

    def to_vectors(self, y: torch.Tensor) -> torch.Tensor:
        """Latents -> lattice vectors (batch, L, n)."""
        return y.transpose(1, 2) if self.block else y.unsqueeze(1)

    def from_vectors(self, v: torch.Tensor) -> torch.Tensor:
        return v.transpose(1, 2) if self.block else v.squeeze(1)

    def log_density(self, z: torch.Tensor) -> torch.Tensor:
        """Per-coordinate log densities (nats) of z (batch, L, [M,] n)."""
        ch = self.channels if z.ndim == 3 else self.channels.unsqueeze(1)
        return self.density.log_prob(z, ch)

    def forward(
        self, x: torch.Tensor, proxy: str = "noise", mc_samples: int | None = 32
    ) -> dict[str, torch.Tensor]:
        """Training pass. ``proxy``: ``"noise"`` (rate and synthesis at y + u, u uniform
        over the cell), ``"mixed"`` (rate at y + u, synthesis at the nearest point with a
        straight-through gradient) or ``"ste"`` (both at the nearest point, straight
        through). Returns ``x_hat`` and ``bits`` per item (log2 cell mass, quasi-MC with
        ``mc_samples`` random cell samples, or the fixed ones when None)."""
        self.check_items(x)
        if proxy not in ("noise", "mixed", "ste"):
            raise InputError("proxy", f"must be 'noise', 'mixed' or 'ste', got {proxy!r}")
        v = self.to_vectors(self.analysis(x))
        hard = None if proxy == "noise" else self.quantizer.quantize(v, straight_through=True)
        rated = hard if proxy == "ste" else self.quantizer.noise(v)
        ll = self.quantizer.log2_likelihood(rated, self.log_density, samples=mc_samples)
        x_hat = self.synthesis(self.from_vectors(rated if hard is None else hard))
        return {"x_hat": x_hat, "bits": -ll.sum(dim=-1)}


# ------------------------------------------------------------------------- model files
def as_float64(model: LTCModel) -> LTCModel:
    """A float64 copy of ``model`` in eval mode (``model`` itself is left as it is)."""
    return copy.deepcopy(model).double().eval()


def ltc_model_hash(model: LTCModel) -> bytes:
    """The 32-byte hash of ``model`` that LTC ``.rdl`` files carry:
    :func:`rdlab.container.model_hash` of its float64 ``state_dict``."""
    return model_hash(as_float64(model).state_dict())


def _named_lattice(model: LTCModel) -> Any:
    """The lattice of ``config`` (by name and scale), checked to be ``model``'s own."""
    lattice = model.quantizer.lattice
    try:
        named = get_lattice(lattice.name).scaled(lattice.scale)
    except InputError:
        named = None
    if named is None or not torch.equal(named.generator, lattice.generator):
        raise InputError(
            "model", f"its lattice {lattice.name!r} is not one rdlab.lattice.get_lattice names"
        )
    return named


def save_ltc_model(
    path: str | os.PathLike[str], model: LTCModel, *, overwrite: bool = False
) -> bytes:
    """Write ``model`` (any dtype or mode; it is not changed) to the model file ``path``
    atomically (see the module doc); returns its hash, the one its ``.rdl`` files carry.

    Raises:
        InputError: its lattice is not named by :func:`rdlab.lattice.get_lattice` (with
            a scale); on ``"output"``: ``path`` exists (without ``overwrite``).
    """
    from safetensors.numpy import save

    _named_lattice(model)
    state = as_float64(model).state_dict()
    arrays = {key: value.detach().cpu().numpy() for key, value in state.items()}
    digest = model_hash(arrays)
    metadata = {
        "format": MODEL_FORMAT,
        "config": json.dumps(model.config, sort_keys=True),
        "model_hash": digest.hex(),
    }
    write_atomic(path, save(arrays, metadata=metadata), overwrite=overwrite)
    return digest


def load_ltc_model(path: str | os.PathLike[str]) -> LTCModel:
    """The model in the file ``path`` (written by :func:`save_ltc_model`), float64 and in
    eval mode.

    Raises:
        InputError: on ``"model"``: ``path`` is not a file.
        ModelError: it is not an LTC model file, or its tensors do not have the hash it
            records.
    """
    _, config, arrays = read_model_file(path, MODEL_FORMAT, "LTC")
    source = os.fspath(path)
    try:
        lattice = get_lattice(config.pop("lattice")).scaled(config.pop("lattice_scale"))
        model = LTCModel(lattice=lattice, **config).double()
    except (KeyError, TypeError, ValueError, InputError) as exc:
        text = " ".join(str(exc).split())
        raise ModelError(f"{source} is not an rdlab LTC model file ({text})") from None
    load_state(model, arrays, source, "its LTC model")
    return model.eval()
