"""The INR video benchmark: the first frames of a clip, centre-cropped; INR at target bpp
(bits per pixel of all frames); for context only, WebP and AVIF coding each frame on its
own (sizes summed over frames; PSNR over all frames).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...codecs.classical import canonical_name
from ...codecs.registry import codec_spec, unavailable_reason
from ...data.video import Video, read_video
from ...errors import InputError
from ...inr.modalities import get_modality
from ...parallel import LOCAL, Engine
from .common import (
    DEFAULTS,
    Log,
    ProgressFn,
    bd_summary,
    center_crop,
    check_positive,
    check_settings,
    inr_curve,
    mean_curve,
    model_source,
    peer,
    quiet,
    run_signals,
    usable,
    worker_models,
)

__all__ = ["run_files", "run_section", "video_bench"]


def _frame_codec_point(codec: Any, video: Video) -> dict[str, Any]:
    size, enc, dec, frames = 0, 0.0, 0.0, []
    for frame in video.frames:
        image = frame[..., 0] if frame.shape[-1] == 1 else frame
        start = time.perf_counter()
        data = codec.encode(image)
        enc += time.perf_counter() - start
        start = time.perf_counter()
        out = codec.decode(data)
        dec += time.perf_counter() - start
        if out.ndim == 2:
            out = out[..., None]
        frames.append(out[..., : frame.shape[-1]])
        size += len(data)
    decoded = Video(np.stack(frames), video.fps)
    kind = get_modality("video")
    return {
        "bytes": size,
        "bpp": kind.rate(8 * size, kind.items(video)),
        **kind.distortion(video, decoded),
        "encode_seconds": enc,
        "decode_seconds": dec,
    }


def _video_signal(job: Mapping[str, Any], log: Log) -> dict[str, Any]:
    """One clip's record (in a worker): its first frames, centre-cropped, coded by INR at
    each target bpp and frame by frame by each peer at each quality of its sweep."""
    clip = read_video(job["path"], max_frames=job["frames"])
    video = Video(center_crop(clip.frames, job["crop"], job["crop"], axes=(1, 2)), clip.fps)
    models = worker_models(job["models"])
    inr = inr_curve(video, "video", job["bpps"], models, job["fit"], job["label"], log)
    results: dict[str, list[dict[str, Any]]] = {"inr": inr}
    for codec, qualities in job["sweeps"].items():
        results[f"{codec}_per_frame"] = [
            {"target": float(q), **_frame_codec_point(peer(codec, q), video)} for q in qualities
        ]
    t, h, w, c = video.frames.shape
    return {
        "name": os.path.basename(os.path.normpath(job["path"])),
        "frames": t, "height": h, "width": w, "channels": c, "results": results,
    }  # fmt: skip


def video_bench(
    paths: str | os.PathLike[str] | Sequence[str],
    *,
    frames: int = DEFAULTS["frames"],
    crop: int = DEFAULTS["video_crop"],
    bpps: Sequence[float] = DEFAULTS["video_bpp"],
    peers: Sequence[str] = DEFAULTS["video_peers"],
    peer_qualities: Mapping[str, Sequence[float]] | None = None,
    model_dir: str | None = None,
    steps: int | None = None,
    fine_tune_steps: int | None = None,
    seed: int = 0,
    log: Log = quiet,
    progress: ProgressFn | None = None,
    engine: Engine = LOCAL,
) -> dict[str, Any]:
    """INR on the first ``frames`` frames of each clip of ``paths`` (one path or several),
    centre-cropped to ``crop x crop``; per-frame WebP / AVIF for context.

    One job per clip, run as :func:`~.audio.audio_bench` runs its files (``engine``,
    ``progress``; ``failures``: the clips that
    could not be read or coded, left out of the curves). Each record gives the frames
    and size coded; BD-rate (pchip, per clip then the mean) of INR against each peer on
    PSNR (dB) and whole-file bpp.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [os.fspath(paths)]
    check_positive("frames", frames, integer=True)
    check_positive("crop", crop, integer=True)
    sources = {float(b): model_source("video", b, model_dir) for b in bpps}
    models = worker_models(sources)
    fit = {"steps": steps, "fine_tune_steps": fine_tune_steps, "seed": seed}
    check_settings("video", models, fit)
    sweeps: dict[str, list[float]] = {}
    unavailable = {}
    for codec in (canonical_name(n) for n in peers):
        if not usable(codec):
            unavailable[codec] = unavailable_reason(codec)
            continue
        qualities = (peer_qualities or {}).get(codec) or codec_spec(codec).quality.sweep
        sweeps[codec] = [float(q) for q in qualities]
    many = len(paths) > 1
    jobs = [
        {"path": path,
         "label": f"video {f'{i + 1}/{len(paths)} ' if many else ''}"
                  f"{os.path.basename(os.path.normpath(path))}",
         "frames": int(frames), "crop": int(crop), "bpps": [float(b) for b in bpps],
         "sweeps": sweeps, "models": sources, "fit": fit}
        for i, path in enumerate(paths)
    ]  # fmt: skip
    records, failures = run_signals(
        _video_signal, jobs, models=sources.values(), description="benchmarking video",
        log=log, progress=progress, engine=engine,
    )  # fmt: skip
    curves = ["inr", *(f"{codec}_per_frame" for codec in sweeps)]
    return {
        "settings": {"frames": int(frames), "crop": int(crop), "bpp": list(bpps),
                     "peers": list(sweeps)},
        "models": {f"{b:g}": models[float(b)].name for b in bpps},
        "unavailable": unavailable,
        "signals": records,
        "failures": failures,
        "mean_curves": {c: mean_curve([r["results"][c] for r in records]) for c in curves},
        "bd_vs_peers": {
            f"{codec}_per_frame": {
                "full": bd_summary(records, f"{codec}_per_frame", "bpp", "psnr_db", None)
            }
            for codec in sweeps
        },
    }  # fmt: skip


def run_files(paths: Sequence[str], options: Mapping[str, Any], **common: Any) -> dict[str, Any]:
    """:func:`video_bench` on ``paths`` with the settings of ``options``
    (:data:`~.common.DEFAULTS` keys ``frames``, ``video_crop``, ``video_bpp``,
    ``video_peers``)."""
    return video_bench(
        paths, frames=int(options["frames"]), crop=int(options["video_crop"]),
        bpps=options["video_bpp"], peers=options["video_peers"], **common,
    )  # fmt: skip


def run_section(data: str, options: Mapping[str, Any], **common: Any) -> dict[str, Any]:
    """:func:`video_bench` on ``options["video_file"]`` (relative: under ``data/video``).

    Raises:
        InputError: the clip does not exist.
    """
    path = options["video_file"]
    if not os.path.isabs(path):
        path = os.path.join(data, "video", path)
    if not os.path.exists(path):
        raise InputError("data", f"{path} does not exist (no video)")
    return run_files([path], options, **common)
