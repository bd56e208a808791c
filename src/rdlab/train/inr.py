"""Learning INR priors from a folder of signals (``rdlab train inr``).

Training patches are drawn at random (fixed seed) from the folder's files, normalized
exactly as the codec normalizes whole signals (the modality's
:meth:`~rdlab.inr.modalities.Modality.prepare`), and
the prior is learned by coordinate ascent (:func:`rdlab.inr.prior.learn_prior`). The
model card records the data, the settings, the time and the training rate per item
(bits per pixel / kbit/s / bits per atom implied by the average KL), which the codec uses
to pick a model for a requested rate.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..inr.modalities import Architecture, Modality, get_modality, modality_names
from ..inr.model_file import INRModel, save_inr_model
from ..inr.patches import patch_coordinates
from ..inr.prior import learn_prior
from ..nn.bayes_inr import INRConfig

__all__ = ["DEFAULT_ARCHITECTURES", "sample_training_patches", "train_inr_prior"]


class _Architectures(Mapping[str, Architecture]):
    """The registered modalities' default architectures (patch shape, network keywords;
    :attr:`rdlab.inr.modalities.Modality.architecture`), by name: those without one are
    left out."""

    def _known(self) -> list[str]:
        return [n for n in modality_names() if get_modality(n).architecture is not None]

    def __getitem__(self, name: str) -> Architecture:
        architecture = get_modality(name).architecture if name in modality_names() else None
        if architecture is None:
            raise KeyError(name)
        return architecture

    def __iter__(self) -> Iterator[str]:
        return iter(self._known())

    def __len__(self) -> int:
        return len(self._known())


#: per modality: patch shape and network (chosen for 2-core CPUs; each modality's
#: module says why)
DEFAULT_ARCHITECTURES: Mapping[str, Architecture] = _Architectures()


def _files(folder: str, modality: Modality) -> list[str]:
    root = Path(folder)
    if root.is_file():
        return [str(root)]
    if not root.is_dir():
        raise InputError("data", f"{folder} is not a folder or file")
    if modality.folder_is_signal(root):
        return [str(root)]  # one signal as a folder (video: its frames)
    names = sorted(str(p) for p in root.iterdir() if p.name.lower().endswith(modality.suffixes))
    if not names:
        raise InputError("data", f"{folder} holds no {modality.name} files")
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
    average items per patch sample (for turning bits per patch into the rate unit).

    ``max_frames`` and ``sample_rate`` go to the reader of a modality that takes them
    (:attr:`~rdlab.inr.modalities.Modality.read_options`: video the first, to read the
    first frames only; audio the second, to resample every file to this rate in Hz);
    ``sample_rate`` is refused where the reader does not take it."""
    kind = get_modality(modality)
    options = _read_options(kind, max_frames=max_frames, sample_rate=sample_rate)
    rng = np.random.default_rng(seed)
    files = _files(folder, kind)
    signals = []
    for name in files:
        prepared = kind.prepare(kind.read(name, **options))
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


def _read_options(modality: Modality, **given: Any) -> dict[str, Any]:
    """The reading options of ``given`` (None: not given) that ``modality``'s reader takes;
    ``sample_rate`` given to one that does not take it is refused (``InputError``)."""
    options = {key: value for key, value in given.items() if value is not None}
    if "sample_rate" in options and "sample_rate" not in modality.read_options:
        raise InputError("sample_rate", f"does not apply to {modality.name}")
    return {key: value for key, value in options.items() if key in modality.read_options}


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
    kind = get_modality(modality)
    _read_options(kind, sample_rate=sample_rate)  # refused before any work
    if sample_rate is not None and (
        isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1
    ):
        raise InputError("sample_rate", f"must be a positive integer, got {sample_rate!r}")
    for key, least in (("steps", 1), ("fine_tune_steps", 0)):
        value = (fit or {}).get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < least
        ):
            raise InputError(f"fit_{key}", f"must be an integer >= {least}, got {value!r}")
    architecture = architecture or kind.architecture
    if architecture is None:
        raise InputError("architecture", f"{modality} has no default architecture: give one")
    patch, arch = architecture
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
    per_item = kind.rate(bits_per_patch, math.prod(patch) * items_per_sample)
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
            **kind.card_facts(items_per_sample),
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
