"""The INR audio benchmark: the first ``seconds`` of each file; INR and Opus
(:func:`rdlab.eval.baselines.opus_roundtrip`) at the same target kbit/s. SNR and PSNR
(peak-to-peak 2); kbit/s of the whole file, and of the payload (INR: the weight indices;
Opus: the file less its empty-file size, :func:`~rdlab.eval.baselines.opus_header_bytes`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ...data.audio import Audio, read_audio
from ...errors import InputError
from ...inr.modalities import get_modality
from ...parallel import LOCAL, Engine
from ..baselines import opus_header_bytes, opus_roundtrip
from .common import (
    DEFAULTS,
    Log,
    ProgressFn,
    bd_summary,
    check_positive,
    check_settings,
    input_files,
    inr_curve,
    mean_curve,
    model_source,
    quiet,
    run_signals,
    spread,
    worker_models,
)

__all__ = ["audio_bench", "run_files", "run_section"]


def _audio_signal(job: Mapping[str, Any], log: Log) -> dict[str, Any]:
    """One file's record (in a worker): INR and Opus at each target kbit/s."""
    kind = get_modality("audio")
    kbps = job["kbps"]
    full = read_audio(job["path"])
    n = min(full.samples.size, max(1, round(job["seconds"] * full.sample_rate)))
    audio = Audio(full.samples[:n], full.sample_rate)
    models = worker_models(job["models"])
    header = opus_header_bytes(audio.sample_rate)
    inr = inr_curve(audio, "audio", kbps, models, job["fit"], job["label"], log)
    opus: list[dict[str, Any]] = []
    for rate in kbps:
        start = time.perf_counter()
        try:
            decoded, size = opus_roundtrip(audio, rate)
        except InputError as exc:
            opus.append({"target": float(rate), "error": str(exc)})
            continue
        opus.append(
            {
                "target": float(rate),
                "bytes": size,
                "kbps": kind.rate(8 * size, audio.duration),
                "payload_kbps": kind.rate(8 * (size - header), audio.duration),
                "header_bytes": header,
                **kind.distortion(audio, decoded),
                "roundtrip_seconds": time.perf_counter() - start,
            }
        )
    return {
        "name": os.path.basename(job["path"]), "seconds": audio.duration,
        "sample_rate": audio.sample_rate, "results": {"inr": inr, "opus": opus},
    }  # fmt: skip


def audio_bench(
    paths: Sequence[str],
    *,
    seconds: float = DEFAULTS["seconds"],
    kbps: Sequence[float] = DEFAULTS["kbps"],
    model_dir: str | None = None,
    steps: int | None = None,
    fine_tune_steps: int | None = None,
    seed: int = 0,
    log: Log = quiet,
    progress: ProgressFn | None = None,
    engine: Engine = LOCAL,
) -> dict[str, Any]:
    """INR against Opus at the same target kbit/s on the first ``seconds`` of each file.

    One job per file (the INR curve and the Opus points), run by
    :func:`~.common.run_signals` on ``engine`` (local processes or Ray actors); the
    result does not depend on the engine or the worker count, except the timings, at
    the same threads per worker (the INR fit's sums depend on the thread count:
    :mod:`rdlab.eval.inr_bench`). A file that cannot be read or coded is listed under
    ``failures`` (path, one-line error) and left out of the curves and BD-rates. BD-rate
    (pchip, per file then the mean) of INR against Opus on SNR (dB), with the rate of
    the whole file (``file``) and of the payload alone (``payload``).
    """
    check_positive("seconds", seconds)
    sources = {float(k): model_source("audio", k, model_dir) for k in kbps}
    models = worker_models(sources)
    fit = {"steps": steps, "fine_tune_steps": fine_tune_steps, "seed": seed}
    check_settings("audio", models, fit)
    jobs = [
        {"path": path, "label": f"audio {i + 1}/{len(paths)} {os.path.basename(path)}",
         "seconds": float(seconds), "kbps": [float(k) for k in kbps], "models": sources,
         "fit": fit}
        for i, path in enumerate(paths)
    ]  # fmt: skip
    records, failures = run_signals(
        _audio_signal, jobs, models=sources.values(), description="benchmarking audio",
        log=log, progress=progress, engine=engine,
    )  # fmt: skip
    return {
        "settings": {"seconds": seconds, "kbps": list(kbps)},
        "models": {f"{k:g}": models[float(k)].name for k in kbps},
        "signals": records,
        "failures": failures,
        "mean_curves": {c: mean_curve([r["results"][c] for r in records]) for c in ("inr", "opus")},
        "bd_vs_peers": {
            "opus": {
                "file": bd_summary(records, "opus", "kbps", "snr_db", None),
                "payload": bd_summary(records, "opus", "payload_kbps", "snr_db", None),
            }
        },
    }


def run_files(paths: Sequence[str], options: Mapping[str, Any], **common: Any) -> dict[str, Any]:
    """:func:`audio_bench` on ``paths`` with the settings of ``options``
    (:data:`~.common.DEFAULTS` keys ``seconds``, ``kbps``)."""
    return audio_bench(paths, seconds=float(options["seconds"]), kbps=options["kbps"], **common)


def run_section(data: str, options: Mapping[str, Any], **common: Any) -> dict[str, Any]:
    """:func:`audio_bench` on ``options["audio"]`` files of ``data/audio/eval``."""
    folder = os.path.join(data, "audio", "eval")
    paths = spread(input_files(folder, "audio", "audio files"), int(options["audio"]))
    return run_files(paths, options, **common)
