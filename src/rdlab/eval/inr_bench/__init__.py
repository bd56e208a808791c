"""Rate-distortion benchmark of the INR codec (``inr``) against its peers, per modality.

One module per modality returns a JSON-ready section (:mod:`.image`, :mod:`.audio`,
:mod:`.protein`, :mod:`.video`) on the shared skeleton (:mod:`.common`); :func:`run`
combines them with the :func:`~.targets.targets` (:mod:`.targets`), and :mod:`.plots`
draws them (``benchmarks/inr.py`` is the command line around it). Every INR point codes
the signal once at a target rate and records: the whole file's size and rate, the
payload's rate (``last_report["payload_bits"]``: the coded weight indices, no header, no
side chunks), the distortion (the modality's
:meth:`~rdlab.inr.modalities.Modality.distortion`), the wall-clock seconds of one encode
and one decode, and ``deterministic``: a second decode (a fresh codec object) gives the
same signal, element for element. A target rate the codec refuses (too low for the model
and signal, e.g. the header alone is over budget) gives a point with ``error`` instead of
numbers; the means leave it out.

- **image** (:func:`image_bench`): photos centre-cropped, INR against JPEG, WebP, AVIF
  and the hyperprior codec; BD-rates.
- **audio** (:func:`audio_bench`): INR against Opus at the same target kbit/s.
- **protein** (:func:`protein_bench`): INR against uniform quantization of the C-alpha
  coordinates.
- **video** (:func:`video_bench`): INR on a clip's first frames; per-frame WebP / AVIF
  for context.

Inputs are spread evenly over the sorted folder (``spread``): with 2 of 18 audio files
the first and the last, so both sources of ``audio/eval`` are used. A benchmark for a
new modality is one module with a ``run_section(data, options, **common)`` and one line
in :data:`SECTIONS`.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...errors import InputError, RdlabError
from ...inr.modalities import get_modality
from . import audio, image, protein, video
from .audio import audio_bench
from .common import (
    CONVENTIONS,
    DEFAULTS,
    Log,
    bd_rate_limited,
    center_crop,
    inr_point,
    interpolate_log_rate,
    json_safe,
    mean_curve,
    pick_model,
    quiet,
    rate_from_bits,
    spread,
)
from .image import image_bench
from .plots import rd_plots
from .protein import protein_bench
from .targets import TARGETS, targets
from .video import video_bench

__all__ = [
    "CONVENTIONS",
    "DEFAULTS",
    "MODALITIES",
    "RATE_KEYS",
    "SECTIONS",
    "TARGETS",
    "audio_bench",
    "bd_rate_limited",
    "center_crop",
    "image_bench",
    "inr_point",
    "interpolate_log_rate",
    "mean_curve",
    "pick_model",
    "protein_bench",
    "rate_from_bits",
    "rd_plots",
    "run",
    "spread",
    "targets",
    "video_bench",
]

#: the benchmarked modalities: name -> the function that runs its section on
#: ``shared/data`` (``run_section(data, options, **common)``)
SECTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "image": image.run_section,
    "audio": audio.run_section,
    "protein": protein.run_section,
    "video": video.run_section,
}
MODALITIES = tuple(SECTIONS)
#: the rate of each modality: the INR codec's keyword and the key of the points
RATE_KEYS = {name: get_modality(name).rate_keyword for name in MODALITIES}


def run(
    data: str,
    modalities_: Sequence[str] = MODALITIES,
    *,
    options: Mapping[str, Any] | None = None,
    model_dir: str | None = None,
    steps: int | None = None,
    fine_tune_steps: int | None = None,
    seed: int = 0,
    log: Log = quiet,
) -> dict[str, Any]:
    """Every modality in ``modalities_`` on the data under ``data`` (``shared/data``
    layout); ``options`` overrides :data:`DEFAULTS`. A modality whose model or data is
    missing gets ``{"error": message}`` and the others still run.

    Raises:
        InputError: a modality without a benchmark.
    """
    import torch

    o = {**DEFAULTS, **(options or {})}
    common = {"model_dir": model_dir, "steps": steps, "fine_tune_steps": fine_tune_steps,
              "seed": seed, "log": log}  # fmt: skip
    started = time.perf_counter()
    result: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "data": data,
        "model_dir": model_dir,
        "steps": steps,
        "fine_tune_steps": fine_tune_steps,
    }
    for modality in modalities_:
        if modality not in SECTIONS:
            raise InputError("modalities", f"unknown modality {modality!r} (have {MODALITIES})")
        begun = time.perf_counter()
        try:
            section = SECTIONS[modality](data, o, **common)
        except RdlabError as exc:
            section = {"error": str(exc)}
            log(f"{modality}: {exc}")
        section["seconds"] = time.perf_counter() - begun
        result[modality] = section
    result["targets"] = targets(result)
    result["conventions"] = CONVENTIONS
    result["seconds"] = time.perf_counter() - started
    return json_safe(result)
