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
from ..baselines import opus_header_bytes, opus_roundtrip
from .common import DEFAULTS, Log, input_files, inr_curve, mean_curve, pick_model, quiet, spread

__all__ = ["audio_bench", "run_section"]


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
) -> dict[str, Any]:
    """INR against Opus at the same target kbit/s on the first ``seconds`` of each file."""
    kind = get_modality("audio")
    models = {k: pick_model("audio", k, model_dir) for k in kbps}
    records = []
    for i, path in enumerate(paths):
        full = read_audio(path)
        n = min(full.samples.size, max(1, round(seconds * full.sample_rate)))
        audio = Audio(full.samples[:n], full.sample_rate)
        name = os.path.basename(path)
        header = opus_header_bytes(audio.sample_rate)
        fit = {"steps": steps, "fine_tune_steps": fine_tune_steps, "seed": seed}
        inr = inr_curve(
            audio, "audio", kbps, models, fit, f"audio {i + 1}/{len(paths)} {name}", log
        )
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
        records.append(
            {"name": name, "seconds": audio.duration, "sample_rate": audio.sample_rate,
             "results": {"inr": inr, "opus": opus}}
        )  # fmt: skip
    return {
        "settings": {"seconds": seconds, "kbps": list(kbps)},
        "models": {f"{k:g}": models[k].name for k in kbps},
        "signals": records,
        "mean_curves": {c: mean_curve([r["results"][c] for r in records]) for c in ("inr", "opus")},
    }


def run_section(data: str, options: Mapping[str, Any], **common: Any) -> dict[str, Any]:
    """:func:`audio_bench` on ``options["audio"]`` files of ``data/audio/eval``."""
    folder = os.path.join(data, "audio", "eval")
    paths = spread(input_files(folder, "audio", "audio files"), int(options["audio"]))
    return audio_bench(paths, seconds=float(options["seconds"]), kbps=options["kbps"], **common)
