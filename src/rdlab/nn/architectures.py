"""A registry of model architectures, and model files that name theirs.

A model built from rdlab's parts is saved as a model file (:func:`save_model`: its
``state_dict()`` after ``update()``, with the integer entropy tables, in safetensors)
whose metadata names its **architecture** from this registry and the architecture's
**config**; :func:`load_model` rebuilds it with :func:`build_architecture` and loads the
tensors. The learned image codec (:mod:`rdlab.codecs.learned`) decodes the files of such
models.

An architecture is a factory ``factory(**config) -> nn.Module`` whose module offers
what the codec runs (:class:`LearnedImageModel`): ``g_a``, ``g_s``, ``alignment``,
``compress_latent`` and ``decompress_latent``. Built in: ``"factorized"``
(:class:`FactorizedPriorModel`). Register your own with :func:`register_architecture`
(in the process that saves and the one that loads its files).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from .._files import write_atomic
from ..container import model_hash
from ..errors import InputError, ModelError
from .entropy.base import CodingState, TrainingProxy
from .entropy.bottleneck import EntropyBottleneck
from .gdn import GDN, IGDN
from .model_files import check_shapes_on_meta, load_state, read_model_file

__all__ = [
    "MODEL_FORMAT",
    "FactorizedPriorModel",
    "LearnedImageModel",
    "architecture_names",
    "build_architecture",
    "learned_model_hash",
    "load_model",
    "register_architecture",
    "save_model",
]

MODEL_FORMAT = "rdlab-learned-model/1"
"""The ``format`` metadata of model files written by :func:`save_model`."""


@runtime_checkable
class LearnedImageModel(Protocol):
    """What the learned image codec runs (an ``nn.Module`` with these members).

    Attributes:
        alignment: images are padded to a multiple of it (pixels) before ``g_a``.
        g_a: analysis, image ``(B, 3, H, W)`` in [0, 1] → latent ``(B, M, H/a, W/a)``.
        g_s: synthesis, quantized latent → image ``(B, 3, H, W)`` (clipped by the codec).
    """

    alignment: int
    g_a: nn.Module
    g_s: nn.Module

    def compress_latent(self, y: torch.Tensor) -> list[bytes]:
        """Latent ``(1, M, h, w)`` → its streams (one chunk each)."""
        ...

    def decompress_latent(self, strings: list[bytes], shape: tuple[int, ...]) -> torch.Tensor:
        """Streams and the latent's shape → the quantized latent (float32)."""
        ...


MAX_CHANNELS = 4096
"""Most channels a built-in architecture takes (a file's config is checked against it)."""
MAX_LAYERS = 8
"""Most stride-2 stages of the built-in architecture (alignment up to 256 pixels)."""


class FactorizedPriorModel(nn.Module):
    """A factorized-prior image model from rdlab's parts (architecture ``"factorized"``).

    ``g_a``: ``layers`` × (5x5 conv, stride 2, GDN), the last conv without GDN, to ``M``
    channels; ``g_s``: the mirror with transposed convs and IGDN; the latent is coded by
    an :class:`~rdlab.nn.entropy.EntropyBottleneck`.

    Args:
        channels: N, hidden channels of the transforms.
        latent_channels: M, channels of the latent.
        layers: stride-2 stages (>= 1): the latent is ``2**layers`` times smaller.

    Raises:
        InputError: a size below 1 or above :data:`MAX_CHANNELS` / :data:`MAX_LAYERS`
            (bounds that keep a model file's config from asking for any memory at all).

    Shapes: images ``(B, 3, H, W)`` in [0, 1] with ``H, W`` multiples of
    :attr:`alignment`; latents ``(B, M, H / 2**layers, W / 2**layers)``.
    """

    def __init__(self, channels: int = 32, latent_channels: int = 32, layers: int = 2) -> None:
        super().__init__()
        for name, value, top in (
            ("channels", channels, MAX_CHANNELS),
            ("latent_channels", latent_channels, MAX_CHANNELS),
            ("layers", layers, MAX_LAYERS),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                raise InputError(name, f"must be an integer in 1..{top}, got {value!r}")
        n, m = channels, latent_channels
        widths = [3] + [n] * (layers - 1) + [m]
        analysis: list[nn.Module] = []
        synthesis: list[nn.Module] = []
        for i in range(layers):
            analysis.append(nn.Conv2d(widths[i], widths[i + 1], 5, 2, 2))
            synthesis.append(nn.ConvTranspose2d(widths[-1 - i], widths[-2 - i], 5, 2, 2, 1))
            if i < layers - 1:
                analysis.append(GDN(widths[i + 1]))
                synthesis.append(IGDN(widths[-2 - i]))
        self.g_a = nn.Sequential(*analysis)
        self.g_s = nn.Sequential(*synthesis)
        self.entropy_bottleneck = EntropyBottleneck(m)
        self.alignment = 2**layers

    def forward(
        self, x: torch.Tensor, *, training_proxy: TrainingProxy = "mixed"
    ) -> dict[str, torch.Tensor]:
        """Training pass.

        Args:
            x: images ``(B, 3, H, W)`` in [0, 1], ``H, W`` multiples of :attr:`alignment`.
            training_proxy: how the latent is quantized (:mod:`rdlab.nn.entropy.base`).

        Returns:
            ``{"x_hat": (B, 3, H, W), "bits": (B, M, h, w)}``: the reconstruction and the
            rate of each latent element in bits.
        """
        y_hat, bits = self.entropy_bottleneck(self.g_a(x), training_proxy=training_proxy)
        return {"x_hat": self.g_s(y_hat), "bits": bits}

    def update(self) -> None:
        """Build the entropy bottleneck's integer tables (before saving or coding)."""
        self.entropy_bottleneck.update()

    def compress_latent(self, y: torch.Tensor) -> list[bytes]:
        """``[stream]`` of ``round(y)``, ``y`` ``(1, M, h, w)``.

        Raises:
            ModelError: no tables (:meth:`update`).
        """
        return [self.entropy_bottleneck.compress(y)]

    def decompress_latent(self, strings: list[bytes], shape: tuple[int, ...]) -> torch.Tensor:
        """The latent ``shape`` ``(1, M, h, w)`` of :meth:`compress_latent`'s streams.

        Raises:
            InputError: not one stream, or ``shape`` not ``(B, M, ...)``.
            FormatError: a stream too short for ``shape`` (checked before decoding), or
                not one that ends with its last symbol.
        """
        if len(strings) != 1:
            raise InputError("strings", f"a factorized model codes one stream, got {len(strings)}")
        return self.entropy_bottleneck.decompress(strings[0], shape, what="latent stream")


_ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {"factorized": FactorizedPriorModel}


def register_architecture(name: str, factory: Callable[..., nn.Module]) -> None:
    """Make ``factory(**config)`` the architecture ``name`` (replacing one of the same name).

    Args:
        name: non-empty, lower case; model files name it.
        factory: called with a model file's config (JSON keyword arguments); returns an
            ``nn.Module`` offering :class:`LearnedImageModel`'s members.

    Raises:
        InputError: on argument ``name``: not a non-empty lower-case string.
    """
    if not isinstance(name, str) or not name or name != name.strip().lower():
        raise InputError("name", f"architecture name {name!r} must be non-empty lower case")
    _ARCHITECTURES[name] = factory


def architecture_names() -> tuple[str, ...]:
    """The registered architectures (built-in ``"factorized"`` first)."""
    return tuple(_ARCHITECTURES)


def build_architecture(name: str, **config: Any) -> nn.Module:
    """A new (untrained) model of architecture ``name`` with ``config``.

    Raises:
        ModelError: no architecture ``name`` is registered, or ``config`` does not suit
            it.
    """
    factory = _ARCHITECTURES.get(name)
    if factory is None:
        raise ModelError(
            f"unknown model architecture {name!r} (registered: {', '.join(_ARCHITECTURES)}; "
            "register yours with rdlab.nn.architectures.register_architecture)"
        )
    try:
        return factory(**config)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"architecture {name!r}: bad config {config} ({exc})") from None


def _arrays(model: nn.Module) -> dict[str, np.ndarray]:
    """The model's ``state_dict`` as NumPy arrays (CPU copies)."""
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def learned_model_hash(model: nn.Module) -> bytes:
    """The 32-byte hash the model's ``.rdl`` files carry: :func:`rdlab.container.model_hash`
    of its ``state_dict`` (integer tables included), the one its model file records."""
    return model_hash(_arrays(model))


def _check_updated(model: nn.Module) -> None:
    for name, module in model.named_modules():
        if isinstance(module, CodingState) and not module.coding_arrays():
            raise ModelError(
                f"model: {name or 'the model'} has no integer tables: call update() first"
            )


def save_model(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    architecture: str,
    config: dict[str, Any],
    overwrite: bool = False,
) -> bytes:
    """Write ``model`` to the safetensors model file ``path`` atomically.

    The file holds ``model.state_dict()`` (integer entropy tables included) and the
    metadata ``format`` (:data:`MODEL_FORMAT`), ``architecture``, ``config`` (JSON) and
    ``model_hash``.

    Args:
        path: the file to write (``.safetensors``).
        model: the model, after ``update()`` (it is not changed).
        architecture: a registered architecture name.
        config: keyword arguments that rebuild ``model`` with
            ``build_architecture(architecture, **config)`` (JSON-serialisable).
        overwrite: replace an existing file.

    Returns:
        the model's hash (32 bytes), the one its ``.rdl`` files carry.

    Raises:
        ModelError: unknown architecture; a config that does not rebuild the model's
            tensors; an entropy model without tables (call ``update()``).
        InputError: on ``"output"``: ``path`` exists (without ``overwrite``); on
            ``"config"``: not JSON-serialisable.
    """
    from safetensors.numpy import save

    _check_updated(model)
    try:
        text = json.dumps(config, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InputError("config", f"must be JSON-serialisable ({exc})") from None
    arrays = _arrays(model)
    fresh = _arrays(build_architecture(architecture, **config))
    if any(k not in arrays or arrays[k].shape != v.shape for k, v in fresh.items()):
        raise ModelError(
            f"model: architecture {architecture!r} with config {text} does not build this "
            "model's tensors"
        )
    digest = model_hash(arrays)
    metadata = {
        "format": MODEL_FORMAT,
        "architecture": architecture,
        "config": text,
        "model_hash": digest.hex(),
    }
    write_atomic(path, save(arrays, metadata=metadata), overwrite=overwrite)
    return digest


def load_model(path: str | os.PathLike[str]) -> nn.Module:
    """The model in the file ``path`` (written by :func:`save_model`), in eval mode (its
    hash, :func:`learned_model_hash`, is the one the file records).

    Raises:
        InputError: on ``"model"``: ``path`` is not a file.
        ModelError: not such a model file, an unknown architecture (one line; register
            it with :func:`register_architecture`), or tensors that do not have the hash
            it records.
    """
    metadata, config, arrays = read_model_file(path, MODEL_FORMAT, "learned")
    source, architecture = os.fspath(path), metadata.get("architecture", "")
    what = f"architecture {architecture!r}"
    check_shapes_on_meta(source, lambda: build_architecture(architecture, **config), arrays, what)
    model = build_architecture(architecture, **config)
    load_state(model, arrays, source, what)
    return model.eval()
