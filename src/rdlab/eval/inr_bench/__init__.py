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
the first and the last, so both sources of ``audio/eval`` are used. :func:`run_files`
runs one modality on a list of files (``rdlab bench audio|proteins|video``).

**Distribution.** The unit of work is one signal: its INR curve (the fits) and its
peers' points, one job of :func:`rdlab.parallel.map_unordered` (on an
:class:`~rdlab.parallel.Engine`: local processes or Ray actors;
:func:`~.common.run_signals`). A job carries the file's path,
the settings and the models' file paths or bundled names, never arrays or models (an INR
model with a learned reparameterization is megabytes): each worker loads the models
once. Records are merged in input order, so the result is the same for any engine and
worker count except the timings, **given the same PyTorch threads per worker**: the INR
fit's floating-point sums depend on the thread count (the bundled ``inr-audio-1`` codes
1 s of speech to different bytes with 1 and 2 threads), and the default is the usable
cores // workers, so fix the engine's ``threads`` to compare runs bit for bit. A signal whose job
raises an rdlab error (a file that cannot be read, a model that does not fit it) or
whose worker dies is listed in the section's ``failures`` and left out of the curves and
BD-rates; the others complete.

A benchmark for a new modality is one module with ``run_section(data, options,
**common)`` and ``run_files(paths, options, **common)`` and one line in
:data:`SECTIONS` and :data:`FILE_SECTIONS`.
"""

from __future__ import annotations

import functools
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...errors import InputError, RdlabError
from ...inr.modalities import get_modality
from ...parallel import LOCAL, Engine
from . import audio, image, protein, video
from .audio import audio_bench
from .common import (
    CONVENTIONS,
    DEFAULTS,
    Log,
    ProgressFn,
    bd_rate_limited,
    center_crop,
    inr_point,
    interpolate_log_rate,
    json_safe,
    mean_curve,
    pick_model,
    quiet,
    rate_from_bits,
    run_signals,
    spread,
    summary_markdown,
)
from .image import image_bench
from .plots import rd_plots
from .protein import protein_bench
from .targets import TARGETS, targets
from .video import video_bench

__all__ = [
    "CONVENTIONS",
    "DEFAULTS",
    "FILE_SECTIONS",
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
    "run_files",
    "run_signals",
    "spread",
    "summary_markdown",
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
#: the same on a list of files: name -> ``run_files(paths, options, **common)``
FILE_SECTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "image": image.run_files,
    "audio": audio.run_files,
    "protein": protein.run_files,
    "video": video.run_files,
}
MODALITIES = tuple(SECTIONS)
#: the rate of each modality: the INR codec's keyword and the key of the points
RATE_KEYS = {name: get_modality(name).rate_keyword for name in MODALITIES}


def _header(engine: Engine, **settings: Any) -> dict[str, Any]:
    """The facts every result starts with: platform, cores, threads, engine, settings."""
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": engine.threads_per_worker(),
        "workers": engine.workers,
        "engine": engine.kind,
        **settings,
    }


def _section(modality: str, run_it: Callable[[], dict[str, Any]], log: Log) -> dict[str, Any]:
    """``run_it()`` timed; an :class:`~rdlab.errors.RdlabError` (a model or the data
    missing) becomes ``{"error": message}``."""
    begun = time.perf_counter()
    try:
        section = run_it()
    except RdlabError as exc:
        section = {"error": str(exc)}
        log(f"{modality}: {exc}")
    section["seconds"] = time.perf_counter() - begun
    return section


def _finish(result: dict[str, Any], started: float) -> dict[str, Any]:
    result["targets"] = targets(result)
    result["conventions"] = CONVENTIONS
    result["seconds"] = time.perf_counter() - started
    return json_safe(result)


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
    engine: Engine = LOCAL,
) -> dict[str, Any]:
    """Every modality in ``modalities_`` on the data under ``data`` (``shared/data``
    layout); ``options`` overrides :data:`DEFAULTS`. A modality whose model or data is
    missing gets ``{"error": message}`` and the others still run.

    Each modality's signals are coded one job per signal on ``engine``
    (:class:`rdlab.parallel.Engine`; see :func:`~.common.run_signals`). The result is
    the same for any engine and worker count, except the timings, at the same threads
    per worker (see the module docstring); a signal that fails is listed in its
    section's ``failures``.

    Raises:
        InputError: a modality without a benchmark.
    """
    o = {**DEFAULTS, **(options or {})}
    unknown = [m for m in modalities_ if m not in SECTIONS]
    if unknown:
        raise InputError("modalities", f"unknown modality {unknown[0]!r} (have {MODALITIES})")
    common = {"model_dir": model_dir, "steps": steps, "fine_tune_steps": fine_tune_steps,
              "seed": seed, "log": log, "engine": engine}  # fmt: skip
    started = time.perf_counter()
    result = _header(engine, data=data, model_dir=model_dir, steps=steps,
                     fine_tune_steps=fine_tune_steps)  # fmt: skip
    for modality in modalities_:
        result[modality] = _section(
            modality, functools.partial(SECTIONS[modality], data, o, **common), log
        )
    return _finish(result, started)


def run_files(
    modality: str,
    paths: Sequence[str],
    *,
    options: Mapping[str, Any] | None = None,
    model_dir: str | None = None,
    steps: int | None = None,
    fine_tune_steps: int | None = None,
    seed: int = 0,
    log: Log = quiet,
    progress: ProgressFn | None = None,
    engine: Engine = LOCAL,
) -> dict[str, Any]:
    """``modality``'s benchmark on the files ``paths`` (``rdlab bench audio|proteins|
    video``): a result shaped as :func:`run`'s with that one section (``files``: the
    paths; ``progress`` wraps the finished signals, see :func:`~.common.run_signals`).
    ``options`` overrides :data:`DEFAULTS`; the other arguments are :func:`run`'s.

    Raises:
        InputError: a modality without a benchmark.
        ModelError: no model for the modality (bundled or in ``model_dir``).
    """
    if modality not in FILE_SECTIONS:
        raise InputError("modality", f"unknown modality {modality!r} (have {MODALITIES})")
    o = {**DEFAULTS, **(options or {})}
    started = time.perf_counter()
    result = _header(engine, files=[str(p) for p in paths], model_dir=model_dir, steps=steps,
                     fine_tune_steps=fine_tune_steps)  # fmt: skip
    begun = time.perf_counter()
    result[modality] = FILE_SECTIONS[modality](
        list(paths), o, model_dir=model_dir, steps=steps, fine_tune_steps=fine_tune_steps,
        seed=seed, log=log, progress=progress, engine=engine,
    )  # fmt: skip
    result[modality]["seconds"] = time.perf_counter() - begun
    return _finish(result, started)
