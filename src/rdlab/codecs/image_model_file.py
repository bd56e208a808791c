"""Model files of the hyperprior image codec: export from a trained model, load by name.

A model file is one safetensors file holding everything the codec needs and nothing it
does not:

* float weights of the analysis/synthesis transforms, the hyper-analysis, the mean
  branch and the gains (large tensors as float16, to keep the file small; the codec
  computes in float32);
* the **scale branch in integers** (:class:`~rdlab.nn.integer_net.IntegerScaleNet`),
  the only network whose output selects entropy tables;
* the **hyper-latent tables as integer frequencies** (tabulated once from the learned
  density at export, never recomputed at decode time);
* for **lattice latents** (config ``latent_lattice``), the lattice generator and the
  Voronoi-cell samples of the latent coder, as float64 (both sides must use the same
  bits, so they are stored, not recomputed);
* metadata: the model config and a model card (training command, data, steps, time).

A **derived** model file (:func:`derive_lattice_model`) holds only what differs from a
base model — the lattice coder's arrays and config — and names the base by name and
hash (metadata ``base``, ``base_hash``); loading reads the base's weights under it and
refuses a base whose hash has changed. ``default-e8`` is the default model so derived.

The tensor names are those of the model's ``state_dict()`` under the file's own names
(:data:`FILE_NAMES`: ``h_a.*`` for ``latent_codec.h_a.*``, ``z_tables.*`` for the entropy
bottleneck's tables, ``scale_net.*`` for the integer scale branch, ``lattice.*`` for the
lattice coder), so the format is the one files were always written in.

The SHA-256 of the file's bytes is the model hash written into every ``.rdl`` file, so
decoding with other weights is refused instead of producing garbage. Bundled models live
in ``rdlab/models/NAME.safetensors``; ``load_image_model`` also takes a path.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._files import write_atomic
from ..coding.conditional import LocationScaleCoder
from ..coding.lattice_latents import LatticeLatentCoder, voronoi_cell_samples
from ..coding.tables import FrequencyTables
from ..container import model_hash
from ..errors import InputError, ModelError
from ..nn.image_model import (
    LEGACY_NAMES,
    HyperpriorImageModel,
    ImageModelConfig,
    latent_lattice,
    rename_state_key,
)
from ..nn.integer_net import IntegerScaleNet
from ..nn.latent_codecs import HyperpriorLatentCodec

__all__ = [
    "FILE_NAMES",
    "FORMAT",
    "ImageCodecModel",
    "bundled_image_models",
    "derive_lattice_model",
    "export_image_model",
    "load_image_model",
]

FORMAT = "rdlab-hyperprior-1"
FILE_NAMES = (
    *LEGACY_NAMES,
    ("z_tables.frequencies", "latent_codec.entropy_bottleneck.table_frequencies"),
    ("z_tables.sizes", "latent_codec.entropy_bottleneck.table_sizes"),
    ("z_tables.offsets", "latent_codec.entropy_bottleneck.table_offsets"),
    ("scale_net.", "latent_codec.scale_net."),
    ("context_net.", "latent_codec.context_net."),
    ("context_means.", "latent_codec.context_means."),
    ("context_scales.", "latent_codec.context_scales."),
    ("lattice.generator", "latent_codec.conditional.coding_generator"),
    ("lattice.cell_samples", "latent_codec.conditional.coding_cell_samples"),
)
"""``(file name prefix, state-dict name prefix)`` of every tensor a model file holds."""
_LATTICE_KEYS = ("lattice.generator", "lattice.cell_samples")
_FLOAT_PREFIXES = (
    "g_a.", "g_s.", "h_a.", "h_s_means.", "context_means.", "log_gain", "log_inv_gain",
)  # fmt: skip
# integer and float64 arrays
_CODING_PREFIXES = ("z_tables.", "scale_net.", "context_net.", "lattice.")
_TRAIN_PREFIX = "train."  # float weights the codec does not use, kept to continue training
_TRAIN_ONLY = ("h_s_scales.", "z_density.", "context_scales.")
_HALF_MIN_SIZE = 4096  # float tensors with at least this many entries are stored as float16


@dataclass(frozen=True)
class ImageCodecModel:
    """A loaded model: the network (eval mode) whose ``latent_codec`` holds everything
    coding needs (hyper-latent tables, integer scale branch, latent coder), its name,
    hash and card, and whether the file carried the training-only weights."""

    name: str
    net: HyperpriorImageModel
    hash: bytes
    card: dict[str, Any]
    has_training_weights: bool = False
    """Whether ``net`` holds the trained float scale branch and hyper-latent density
    (needed by encoder-side latent refinement, never by coding)."""

    @property
    def levels(self) -> int:
        return self.net.config.levels

    @property
    def latent_lattice(self) -> str | None:
        """The lattice of the latent vectors, ``None`` for scalar latents."""
        return self.net.config.latent_lattice

    @property
    def latent_codec(self) -> HyperpriorLatentCodec:
        return self.net.latent_codec

    @property
    def scale_net(self) -> IntegerScaleNet:
        """The integer scale branch."""
        branch = self.latent_codec.scale_branch
        assert isinstance(branch, IntegerScaleNet)
        return branch

    @property
    def z_tables(self) -> FrequencyTables:
        """The hyper-latent's integer tables."""
        return self.latent_codec.entropy_bottleneck.tables

    @property
    def scale_table(self) -> np.ndarray:
        return self.latent_codec.scale_table

    @property
    def latent_coder(self) -> LocationScaleCoder | LatticeLatentCoder:
        """The latent coder: scalar :class:`LocationScaleCoder` or :class:`LatticeLatentCoder`."""
        return self.latent_codec.conditional.coder


def bundled_image_models() -> list[str]:
    """Names of the models shipped inside the package."""
    root = files("rdlab") / "models"
    try:
        names = [p.name for p in root.iterdir()]
    except FileNotFoundError:
        return []
    return sorted(n[: -len(".safetensors")] for n in names if n.endswith(".safetensors"))


def _model_path(name: str) -> Path:
    candidate = Path(name)
    if candidate.suffix == ".safetensors" or os.sep in name:
        if not candidate.is_file():
            raise InputError("model", f"{name} does not exist")
        return candidate
    path = Path(str(files("rdlab") / "models" / f"{name}.safetensors"))
    if not path.is_file():
        known = ", ".join(bundled_image_models()) or "none"
        raise InputError(
            "model", f"unknown model {name!r} (bundled: {known}; or give a .safetensors path)"
        )
    return path


#: candidate seeds of the lattice coder's cell samples, and calibration crops that choose
_SAMPLE_SEEDS = (0, 1, 2, 3)
_SAMPLE_CROPS = 4


@torch.no_grad()
def _choose_cell_samples(
    net: HyperpriorImageModel, lattice: Any, calibration: torch.Tensor
) -> tuple[np.ndarray, int]:
    """The Voronoi-cell sample set (and its seed) that codes the first calibration crops
    shortest at the lowest and highest rate levels. Which quasi-random set is used
    changes the Monte-Carlo cell masses, hence the rate, by several per cent (the code
    is valid with any); choosing on calibration data from the training set is a
    deterministic function of the checkpoint and that data. ``net`` needs its integer
    scale branch."""
    codec = net.latent_codec
    scale_table = codec.scale_table
    crops = calibration[:_SAMPLE_CROPS]
    cases = []
    for t in (0.0, float(net.config.levels - 1)):
        tt = torch.full((crops.shape[0],), t)
        y = net.analyze(crops, tt)
        z = torch.round(codec.h_a(y))
        indexes = codec.scale_indexes(z)
        means = codec.h_s_means(z).numpy().astype(np.float64)
        # the crops side by side: one (M, h, B·w) latent per level
        cases.append(
            tuple(
                np.concatenate(list(a), axis=2)
                for a in (y.numpy().astype(np.float64), indexes, means)
            )
        )
    best: tuple[int, int, np.ndarray] | None = None
    for seed in _SAMPLE_SEEDS:
        samples = voronoi_cell_samples(lattice, seed=seed)
        coder = LatticeLatentCoder(lattice, lattice.generator.numpy(), samples, scale_table)
        size = sum(len(coder.encode_latents(y, idx, mu)) for y, idx, mu in cases)
        if best is None or size < best[0]:
            best = (size, seed, samples)
    assert best is not None
    return best[2], best[1]


def export_image_model(
    net: HyperpriorImageModel,
    path: str | os.PathLike[str],
    calibration: torch.Tensor,
    card: dict[str, Any] | None = None,
    *,
    overwrite: bool = False,
) -> bytes:
    """Write ``net`` as a model file; returns its hash (SHA-256 of the bytes).

    Args:
        net: a trained model.
        calibration: images ``(B, 3, H, W)`` in [0, 1] (H, W multiples of 64) from the
            training distribution; their quantized hyper-latents at every rate level set
            the fixed-point ranges of the integer scale branch (and, for lattice
            latents, the first four choose the coder's cell samples).
        card: JSON-ready model card (training command, data, steps, time, ...).
    """
    from safetensors.numpy import save

    net = net.float().cpu().eval()
    codec = net.latent_codec
    with torch.no_grad():
        zs = []
        for t in range(net.config.levels):
            tt = torch.full((calibration.shape[0],), float(t))
            zs.append(torch.round(codec.h_a(net.analyze(calibration, tt))))
        z_cal = torch.cat(zs)
    if net.config.context is not None:
        # the hyper-latent tables, the integer scale branch and the integer context branch
        with torch.no_grad():
            y_cal = torch.cat(
                [
                    net.analyze(calibration, torch.full((calibration.shape[0],), float(t)))
                    for t in range(net.config.levels)
                ]
            )
        codec.update(z_cal, calibration_y=y_cal)
    else:
        codec.update(z_cal)  # the hyper-latent tables and the integer scale branch
    if net.config.latent_lattice is not None:
        samples, seed = _choose_cell_samples(net, codec.conditional.lattice, calibration)
        codec.conditional.update(samples)
        card = {**(card or {}), "cell_samples_seed": seed}
    metadata = {
        "format": FORMAT,
        "config": json.dumps(net.config.to_dict()),
        "card": json.dumps(card or {}),
    }
    data = _canonical_header(save(_file_arrays(net), metadata=metadata))
    write_atomic(path, data, overwrite=overwrite)
    _load_cached.cache_clear()
    return model_hash(data)


def _file_arrays(net: HyperpriorImageModel) -> dict[str, np.ndarray]:
    """The arrays a model file holds, by file name: the float weights (large ones as
    float16), the training-only ones under ``train.``, and the coding arrays as they are."""
    arrays: dict[str, np.ndarray] = {}
    for key, value in net.state_dict().items():
        name = _file_name(key)
        array = value.detach().cpu().numpy()
        small = np.float16 if array.size >= _HALF_MIN_SIZE else np.float32
        if name.startswith(_TRAIN_ONLY):
            arrays[_TRAIN_PREFIX + name] = array.astype(small)
        elif name.startswith(_FLOAT_PREFIXES):
            arrays[name] = array.astype(small)
        elif name.startswith(_CODING_PREFIXES):
            arrays[name] = np.ascontiguousarray(array)
    return arrays


def _read_model_file(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and string metadata of a safetensors file's bytes (raises ``ValueError``
    on anything unreadable)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        arrays = load(data)
        length = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8 : 8 + length]).get("__metadata__") or {}
    except (SafetensorError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(metadata, dict):
        raise ValueError("metadata is not an object")
    return arrays, metadata


def _with_base(arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> dict[str, np.ndarray]:
    """The arrays of a model file, with those of its base model under them when it is a
    **derived** file (metadata ``base`` and ``base_hash``: the weights of another model
    file, checked by hash, plus this file's own arrays). Raises ``ValueError``."""
    base = metadata.get("base")
    if base is None:
        return arrays
    path = _model_path(str(base))
    data = path.read_bytes()
    if model_hash(data).hex() != metadata.get("base_hash"):
        raise ValueError(f"its base model {base!r} has other weights than it was made from")
    base_arrays, base_metadata = _read_model_file(data)
    if base_metadata.get("base") is not None:
        raise ValueError("a derived model's base must not be derived itself")
    return {**base_arrays, **arrays}


def derive_lattice_model(
    base: str,
    lattice: str,
    path: str | os.PathLike[str],
    calibration: torch.Tensor,
    *,
    overwrite: bool = False,
) -> bytes:
    """Write a **derived** model file: the weights of model ``base`` (bundled name or
    path; referenced by name and hash, not copied) with **lattice latents** on
    ``lattice`` — the same transforms, another latent coder. The file holds the lattice
    generator and the cell samples (chosen on ``calibration`` crops, as
    :func:`export_image_model` does), the config and a card. Returns its hash."""
    from safetensors.numpy import save

    source = load_image_model(base)
    if source.card.get("derived_from") is not None:
        raise InputError("base", f"{base} is itself derived; give its base model")
    config = replace(source.net.config, latent_lattice=None)
    lat = latent_lattice(lattice, config.latent_channels)
    config = replace(config, latent_lattice=lat.name)
    samples, seed = _choose_cell_samples(source.net, lat, calibration)
    arrays = {
        _LATTICE_KEYS[0]: lat.generator.numpy().astype(np.float64),
        _LATTICE_KEYS[1]: samples,
    }
    card = {
        "derived_from": source.name,
        "base_hash": source.hash.hex(),
        "latent_lattice": lat.name,
        "cell_samples_seed": seed,
        "training": "none: the base model's weights with lattice latents swapped in",
    }
    metadata = {
        "format": FORMAT,
        "config": json.dumps(config.to_dict()),
        "card": json.dumps(card),
        "base": source.name if _is_bundled(base) else str(Path(base).resolve()),
        "base_hash": source.hash.hex(),
    }
    data = _canonical_header(save(arrays, metadata=metadata))
    write_atomic(path, data, overwrite=overwrite)
    _load_cached.cache_clear()
    return model_hash(data)


def _is_bundled(name: str) -> bool:
    return (
        name in bundled_image_models() and os.sep not in name and not name.endswith(".safetensors")
    )


def load_training_state(
    path: str | os.PathLike[str],
) -> tuple[ImageModelConfig, dict[str, torch.Tensor]]:
    """The model config and full float state dict stored in a model file (to continue
    training from it: ``rdlab train image --init MODEL``). Refused for files written
    without the training-only weights."""
    file = Path(path)
    if not file.is_file():
        raise InputError("init", f"{file} does not exist")
    try:
        arrays, metadata = _read_model_file(file.read_bytes())
        arrays = _with_base(arrays, metadata)
        config = ImageModelConfig.from_dict(json.loads(metadata["config"]))
    except (OSError, ValueError, KeyError, InputError) as exc:
        raise InputError("init", f"{file} is not a readable model file ({exc})") from None
    if not _has_training_weights(arrays):
        raise InputError(
            "init", f"{file} holds no training weights (exported before they were kept)"
        )
    return config, _state(arrays, coding=False)


def _has_training_weights(arrays: dict[str, np.ndarray]) -> bool:
    return any(k.startswith(tuple(_TRAIN_PREFIX + p for p in _TRAIN_ONLY)) for k in arrays)


def _state(arrays: dict[str, np.ndarray], coding: bool = True) -> dict[str, torch.Tensor]:
    """The model's state dict (its own names) from a model file's arrays: the float
    weights as float32 (the training-only ones too, when stored) and, with ``coding``,
    the coding arrays as they are."""
    state = {}
    for key, value in arrays.items():
        name = key[len(_TRAIN_PREFIX) :] if key.startswith(_TRAIN_PREFIX) else key
        if key.startswith(_TRAIN_PREFIX) or key.startswith(_FLOAT_PREFIXES):
            tensor = torch.from_numpy(value.astype(np.float32))
        elif coding and key.startswith(_CODING_PREFIXES):
            tensor = torch.from_numpy(np.array(value, copy=True))
        else:
            continue
        state[rename_state_key(name, FILE_NAMES)] = tensor
    return state


def _canonical_header(data: bytes) -> bytes:
    """The same safetensors file with its JSON header in a fixed order.

    safetensors writes ``__metadata__`` in a hash-map order that changes from run to run;
    the model hash is over the file's bytes, so one checkpoint must always export to the
    same bytes. The tensors' offsets are unchanged (only the header is rewritten).
    """
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    meta = header.pop("__metadata__", None)
    ordered: dict[str, Any] = {"__metadata__": dict(sorted(meta.items()))} if meta else {}
    ordered.update(sorted(header.items()))
    text = json.dumps(ordered, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data[8 + length :]


def load_image_model(name: str = "default") -> ImageCodecModel:
    """A bundled model by name (``"default"``) or a model file by path (cached while the
    file's size and modification time stay the same)."""
    path = _model_path(name)
    stat = path.stat()
    return _load_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4)
def _load_cached(file: str, size: int, mtime_ns: int) -> ImageCodecModel:
    # normal tensors even when first loaded inside torch.inference_mode(): the cached
    # network is also differentiated through (encoder-side latent refinement)
    with torch.inference_mode(False):
        return _load(Path(file))


def _load(path: Path) -> ImageCodecModel:
    try:
        data = path.read_bytes()
        arrays, metadata = _read_model_file(data)
        arrays = _with_base(arrays, metadata)
    except (OSError, ValueError, InputError) as exc:
        raise ModelError(f"{path} is not a readable model file ({exc})") from None
    if metadata.get("format") != FORMAT:
        raise ModelError(f"{path} is not a {FORMAT} model file")
    try:
        config = ImageModelConfig.from_dict(json.loads(metadata["config"]))
        card = json.loads(metadata.get("card", "{}"))
        net = HyperpriorImageModel(config)
        # the training-only float weights (the float scale branch and the factorized
        # density) are loaded too when the file has them: encoder-side refinement
        # differentiates the rate through them; coding itself never uses them
        state = _state(arrays)
        missing = [
            _file_name(key)
            for key in net.state_dict()
            if _file_name(key).startswith(_FLOAT_PREFIXES) and key not in state
        ]
        if missing:
            raise ModelError(f"{path}: missing weights {missing[:3]}")
        net.load_state_dict(state, strict=False)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path}: inconsistent model file ({exc})") from None
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None
    codec = net.latent_codec
    if not codec.entropy_bottleneck.coding_arrays():
        raise ModelError(f"{path}: no hyper-latent tables (z_tables)")
    if not isinstance(codec.scale_branch, IntegerScaleNet):
        raise ModelError(f"{path}: no integer scale branch (scale_net)")
    if config.context is not None and getattr(codec, "context_branch", None) is None:
        raise ModelError(f"{path}: no integer context branch (context_net)")
    if config.latent_lattice is not None and not codec.conditional.coding_arrays():
        raise ModelError(f"{path}: bad lattice latent coder (no {', '.join(_LATTICE_KEYS)})")
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    stem = path.name[: -len(".safetensors")] if path.name.endswith(".safetensors") else path.name
    return ImageCodecModel(
        name=stem,
        net=net,
        hash=model_hash(data),
        card=card,
        has_training_weights=_has_training_weights(arrays),
    )


def _file_name(key: str) -> str:
    return rename_state_key(key, FILE_NAMES, reverse=True)
