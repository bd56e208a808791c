"""Learning INR priors from a folder of signals (``rdlab train inr``).

Training patches are drawn at random (fixed seed) from the folder's files, normalized
exactly as the codec normalizes whole signals (:func:`rdlab.inr.modalities.prepare`), and
the prior is learned by coordinate ascent (:func:`rdlab.inr.prior.learn_prior`). The
model card records the data, the settings, the time and the training rate per item
(bits per pixel / kbit/s / bits per atom implied by the average KL), which the codec uses
to pick a model for a requested rate.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..data.audio import resample
from ..errors import InputError
from ..inr import modalities
from ..inr.model_file import INRModel, save_inr_model
from ..inr.patches import patch_coordinates
from ..inr.prior import learn_prior
from ..nn.bayes_inr import INRConfig

__all__ = ["DEFAULT_ARCHITECTURES", "sample_training_patches", "train_inr_prior"]

#: per modality: patch shape and network (chosen for 2-core CPUs). w0 = 5 rather than
#: SIREN's 30: with Fourier features the first layer already carries the frequencies, and
#: on protein patches w0 = 5 reached 26.6 dB at 1,469 bits per patch after 4 rounds where
#: w0 = 30 had 25.3 dB at 1,878 bits (and w0 = 1 24.9 dB at 1,835 bits after 2). Proteins:
#: patches of 16 residues with one hidden layer (339 weights) reached 20.4 dB at 12.3
#: bits/atom after 4 rounds at beta 0.003, 32 residues with two layers 18.8 dB at 12.1.
DEFAULT_ARCHITECTURES: dict[str, tuple[tuple[int, ...], dict[str, Any]]] = {
    "image": ((32, 32), {"in_dim": 2, "out_dim": 3, "hidden": 24, "layers": 3,
                         "frequencies": 8, "max_frequency": 16.0, "w0": 5.0}),
    "audio": ((512,), {"in_dim": 1, "out_dim": 1, "hidden": 32, "layers": 3,
                       "frequencies": 10, "max_frequency": 256.0, "w0": 5.0}),
    "protein": ((16,), {"in_dim": 1, "out_dim": 3, "hidden": 16, "layers": 1,
                        "frequencies": 8, "max_frequency": 8.0, "w0": 5.0}),
    "video": ((4, 16, 16), {"in_dim": 3, "out_dim": 3, "hidden": 24, "layers": 3,
                            "frequencies": 5, "max_frequency": 8.0, "w0": 5.0}),
}  # fmt: skip

_SUFFIXES = {
    "image": (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"),
    "audio": (".wav", ".flac"),
    "protein": (".pdb", ".pdb.gz", ".cif", ".cif.gz", ".ent", ".ent.gz"),
    "video": (".mp4", ".mkv", ".avi", ".mov", ".webm", ".npy", ".gif", ".png"),
}


def _files(folder: str, modality: str) -> list[str]:
    root = Path(folder)
    if root.is_file():
        return [str(root)]
    if not root.is_dir():
        raise InputError("data", f"{folder} is not a folder or file")
    if modality == "video" and any(p.suffix.lower() == ".png" for p in root.iterdir()):
        return [str(root)]  # one clip as a folder of frames
    names = sorted(str(p) for p in root.iterdir() if p.name.lower().endswith(_SUFFIXES[modality]))
    if not names:
        raise InputError("data", f"{folder} holds no {modality} files")
    return names


def sample_training_patches(
    modality: str,
    folder: str,
    patch: tuple[int, ...],
    count: int,
    seed: int = 0,
    max_frames: int = 32,
    sample_rate: int | None = None,
) -> tuple[np.ndarray, float]:
    """``count`` random patches ``(count, prod(patch), C)`` of normalized values and the
    average items per patch sample (for turning bits per patch into the rate unit);
    ``sample_rate``: resample every audio file to this rate (Hz) first."""
    rng = np.random.default_rng(seed)
    files = _files(folder, modality)
    signals = []
    for name in files:
        if modality == "video":
            from ..data.video import read_video

            signal = read_video(name, max_frames=max_frames)
        else:
            signal = modalities.read_signal(name, modality)
            if sample_rate is not None:
                signal = resample(signal, sample_rate)
        prepared = modalities.prepare(modality, signal)
        if all(s >= p for s, p in zip(prepared.values.shape[:-1], patch, strict=True)):
            signals.append(prepared)
    if not signals:
        raise InputError("data", f"no {modality} signal in {folder} is as large as a patch")
    out, per_sample = [], []
    for _ in range(count):
        prepared = signals[int(rng.integers(len(signals)))]
        v = prepared.values
        starts = [int(rng.integers(0, s - p + 1)) for s, p in zip(v.shape[:-1], patch, strict=True)]
        window = v[tuple(slice(a, a + p) for a, p in zip(starts, patch, strict=True))]
        out.append(window.reshape(math.prod(patch), v.shape[-1]))
        per_sample.append(prepared.items / math.prod(v.shape[:-1]))
    return np.stack(out).astype(np.float32), float(np.mean(per_sample))


def train_inr_prior(
    modality: str,
    folder: str,
    out: str,
    *,
    beta: float,
    name: str | None = None,
    patches: int = 48,
    rounds: int = 6,
    steps_first: int = 400,
    steps: int = 200,
    lr: float = 2e-3,
    seed: int = 0,
    architecture: tuple[tuple[int, ...], dict[str, Any]] | None = None,
    fit: dict[str, Any] | None = None,
    linear_reparam: bool = False,
    reparam_lr: float = 1e-3,
    sample_rate: int | None = None,
    lr_final_ratio: float = 1.0,
    overwrite: bool = False,
    log: Callable[[str], None] | None = None,
) -> INRModel:
    """Learn a prior for ``modality`` from ``folder`` and save it to ``out``;
    ``linear_reparam``: with RECOMBINER's learned linear reparameterization of each
    layer's weights (:mod:`rdlab.inr.prior`), learned at step ``reparam_lr``;
    ``sample_rate`` (audio only): resample the training files to this rate (Hz). Audio
    cards record the training sample rate (``card["sample_rate"]``) when it is one rate;
    the codec still picks a model by its training rate in kbit/s. ``lr_final_ratio``:
    within each round the fitting steps decay (cosine) to this fraction of ``lr``."""
    if modality not in DEFAULT_ARCHITECTURES:
        raise InputError("modality", f"must be one of {tuple(DEFAULT_ARCHITECTURES)}")
    if sample_rate is not None:
        if modality != "audio":
            raise InputError("sample_rate", f"applies to audio only, not {modality}")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
            raise InputError("sample_rate", f"must be a positive integer, got {sample_rate!r}")
    for key, least in (("steps", 1), ("fine_tune_steps", 0)):
        value = (fit or {}).get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < least
        ):
            raise InputError(f"fit_{key}", f"must be an integer >= {least}, got {value!r}")
    patch, arch = architecture or DEFAULT_ARCHITECTURES[modality]
    config = INRConfig(**arch)
    start = time.perf_counter()
    train, items_per_sample = sample_training_patches(
        modality, folder, patch, patches, seed, sample_rate=sample_rate
    )
    learned = learn_prior(
        config,
        patch_coordinates(patch),
        train,
        beta=beta,
        rounds=rounds,
        steps_first=steps_first,
        steps=steps,
        lr=lr,
        seed=seed,
        linear_reparam=linear_reparam,
        reparam_lr=reparam_lr,
        lr_final_ratio=lr_final_ratio,
        log=log,
    )
    seconds = time.perf_counter() - start
    bits_per_patch = float(learned.kl_profile.sum())
    per_item = bits_per_patch / (math.prod(patch) * items_per_sample)
    rates: dict[str, Any] = {}
    if modality == "audio":
        per_item /= 1000.0  # items are seconds: kbit/s
        trained_at = round(1.0 / items_per_sample)
        if abs(trained_at * items_per_sample - 1.0) < 1e-9:  # one rate for all patches
            rates["sample_rate"] = trained_at
    model = INRModel(
        name=name or Path(out).stem,
        modality=modality,
        config=config,
        patch=patch,
        beta=beta,
        prior_mean=learned.mean,
        prior_std=learned.std,
        kl_profile=learned.kl_profile,
        fit=dict(fit or {}),
        card={
            "rate_per_item": per_item,
            **rates,
            "data": os.path.basename(os.path.normpath(folder)),
            "training_patches": patches,
            "rounds": rounds,
            "steps_first": steps_first,
            "steps": steps,
            "lr": lr,
            "seed": seed,
            "linear_reparam": linear_reparam,
            **({"reparam_lr": reparam_lr} if linear_reparam else {}),
            **({"lr_final_ratio": lr_final_ratio} if lr_final_ratio != 1.0 else {}),
            "seconds": round(seconds, 1),
            "history": learned.history,
        },
        reparam=learned.reparam,
    )
    save_inr_model(out, model, overwrite=overwrite)
    return model
