"""INR model files: the learned prior, the KL profile and the architecture of one modality
at one rate level, as safetensors.

Contents: float32 tensors ``prior_mean``, ``prior_std`` and ``kl_profile`` (bits per weight
per patch, averaged over the training patches), optionally ``reparam_0`` ... one ``(d_l,
d_l)`` matrix per layer (the learned linear reparameterization,
:mod:`rdlab.nn.bayes_inr`), and metadata ``rdlab`` (JSON): modality,
network configuration, patch shape, the training trade-off ``beta``, the encoder's
fitting settings and a model card. The **hash** (:func:`rdlab.container.model_hash`)
covers the tensors and the canonical JSON, so a file coded with another prior or
architecture is refused instead of decoded into garbage.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .._files import write_atomic
from ..container import model_hash
from ..errors import InputError, ModelError
from ..nn.bayes_inr import INRConfig, reparameterize_deterministic, validate_reparam
from .modalities import modality_names

__all__ = [
    "INRModel",
    "bundled_inr_models",
    "inr_model_bytes",
    "load_inr_model",
    "save_inr_model",
]

_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
_PREFIX = "inr-"


@dataclass
class INRModel:
    """A learned prior for one modality and rate level.

    ``patch``: samples per patch axis; ``beta``: the trade-off the prior was learned at
    (MSE per value, normalized units, per bit per sample); ``fit``: encoder settings
    (``steps``, ``fine_tune_steps``, ``lr``, ``groups``, ``log2_candidates``,
    ``block_kl_target``); ``card``: free-form facts (training data, command, time);
    ``reparam``: None or one ``(d_l, d_l)`` matrix per layer: the prior is then over the
    latent ``h`` and the network's weights are ``w_l = A_l h_l``."""

    name: str
    modality: str
    config: INRConfig
    patch: tuple[int, ...]
    beta: float
    prior_mean: np.ndarray
    prior_std: np.ndarray
    kl_profile: np.ndarray
    fit: dict[str, Any] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    reparam: tuple[np.ndarray, ...] | None = None

    def __post_init__(self) -> None:
        known = modality_names()  # registered in rdlab.inr.modalities
        if self.modality not in known:
            raise InputError("modality", f"must be one of {known}, got {self.modality!r}")
        count = self.config.num_params()
        for name in ("prior_mean", "prior_std", "kl_profile"):
            arr = np.asarray(getattr(self, name), dtype=np.float32).astype(np.float64)
            if arr.shape != (count,) or not np.isfinite(arr).all():
                raise ModelError(f"INR model {self.name!r}: {name} must be {count} finite values")
            setattr(self, name, arr)
        if (self.prior_std <= 0).any():
            raise ModelError(f"INR model {self.name!r}: prior_std must be > 0")
        if len(self.patch) != self.config.in_dim or any(p < 1 for p in self.patch):
            raise ModelError(f"INR model {self.name!r}: patch {self.patch} does not fit the net")
        self.patch = tuple(int(p) for p in self.patch)
        if self.reparam is not None:
            try:  # float32 as stored, so a loaded model computes exactly what was saved
                mats = [np.asarray(m, dtype=np.float32) for m in self.reparam]
                self.reparam = tuple(validate_reparam(mats, self.config))
            except InputError as exc:
                raise ModelError(f"INR model {self.name!r}: {exc}") from None

    def network_weights(self, latent: np.ndarray) -> np.ndarray:
        """The networks' float64 weights ``(num_patches, num_params)`` of the coded vectors
        ``latent`` (bit-reproducible; the vectors themselves without a reparameterization)."""
        if self.reparam is None:
            return np.asarray(latent, dtype=np.float64)
        return reparameterize_deterministic(latent, self.reparam, self.config)

    def _meta(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "modality": self.modality,
            "config": self.config.to_dict(),
            "patch": list(self.patch),
            "beta": self.beta,
            "fit": self.fit,
            "card": self.card,
        }

    def _tensors(self) -> dict[str, np.ndarray]:
        out = {
            "prior_mean": self.prior_mean.astype(np.float32),
            "prior_std": self.prior_std.astype(np.float32),
            "kl_profile": self.kl_profile.astype(np.float32),
        }
        for index, mat in enumerate(self.reparam or ()):
            out[f"reparam_{index}"] = mat.astype(np.float32)
        return out

    @property
    def hash(self) -> bytes:
        meta = json.dumps(self._meta(), sort_keys=True, separators=(",", ":")).encode()
        tensors = self._tensors()
        tensors["__meta__"] = np.frombuffer(meta, dtype=np.uint8)
        return model_hash(tensors)

    @property
    def num_params(self) -> int:
        return self.config.num_params()


def inr_model_bytes(model: INRModel) -> bytes:
    """The safetensors bytes of ``model``."""
    from safetensors.numpy import save

    meta = json.dumps(model._meta(), sort_keys=True, separators=(",", ":"))
    return save(model._tensors(), metadata={"rdlab": meta})


def save_inr_model(
    path: str | os.PathLike[str], model: INRModel, *, overwrite: bool = False
) -> None:
    """Write ``model`` to ``path`` atomically."""
    write_atomic(path, inr_model_bytes(model), overwrite=overwrite)


def _parse(data: bytes, source: str) -> INRModel:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        tensors = load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
        meta = json.loads(header["__metadata__"]["rdlab"])
        return INRModel(
            name=meta["name"],
            modality=meta["modality"],
            config=INRConfig.from_dict(meta["config"]),
            patch=tuple(meta["patch"]),
            beta=float(meta["beta"]),
            prior_mean=tensors["prior_mean"],
            prior_std=tensors["prior_std"],
            kl_profile=tensors["kl_profile"],
            fit=dict(meta.get("fit", {})),
            card=dict(meta.get("card", {})),
            reparam=_reparam_tensors(tensors),
        )
    except (SafetensorError, KeyError, ValueError, TypeError, InputError) as exc:
        raise ModelError(f"{source} is not an rdlab INR model file ({exc})") from None


def _reparam_tensors(tensors: dict[str, np.ndarray]) -> tuple[np.ndarray, ...] | None:
    count = sum(1 for key in tensors if key.startswith("reparam_"))
    if count == 0:
        return None
    return tuple(tensors[f"reparam_{i}"] for i in range(count))  # KeyError: a gap


def bundled_inr_models(modality: str | None = None) -> list[str]:
    """Names of the INR models shipped with the package (``inr-<modality>-<level>``)."""
    names = sorted(p.stem for p in _MODELS_DIR.glob(f"{_PREFIX}*.safetensors"))
    if modality is not None:
        names = [n for n in names if n.startswith(f"{_PREFIX}{modality}-")]
    return names


@lru_cache(maxsize=32)
def _load_cached(path: str, size: int, mtime_ns: int) -> INRModel:
    return _parse(Path(path).read_bytes(), path)


def load_inr_model(name_or_path: str) -> INRModel:
    """A bundled model by name, or a model file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        path = _MODELS_DIR / f"{name_or_path}.safetensors"
        if not path.is_file():
            known = ", ".join(bundled_inr_models()) or "none"
            raise ModelError(f"no bundled INR model {name_or_path!r} (bundled: {known})")
    if not path.is_file():
        raise InputError("model", f"{os.fspath(path)} is not a file")
    stat = path.stat()
    return _load_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
