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
from .common import (
    DEFAULTS,
    Log,
    center_crop,
    inr_curve,
    mean_curve,
    peer,
    pick_model,
    quiet,
    usable,
)

__all__ = ["run_section", "video_bench"]


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


def video_bench(
    path: str,
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
) -> dict[str, Any]:
    """INR on the first ``frames`` frames of ``path``, centre-cropped to ``crop x crop``;
    per-frame WebP / AVIF for context."""
    models = {b: pick_model("video", b, model_dir) for b in bpps}
    clip = read_video(path, max_frames=frames)
    video = Video(center_crop(clip.frames, crop, crop, axes=(1, 2)), clip.fps)
    name = os.path.basename(os.path.normpath(path))
    fit = {"steps": steps, "fine_tune_steps": fine_tune_steps, "seed": seed}
    inr = inr_curve(video, "video", bpps, models, fit, f"video {name}", log)
    results: dict[str, list[dict[str, Any]]] = {"inr": inr}
    unavailable = {}
    for codec in (canonical_name(n) for n in peers):
        if not usable(codec):
            unavailable[codec] = unavailable_reason(codec)
            continue
        qualities = (peer_qualities or {}).get(codec) or codec_spec(codec).quality.sweep
        results[f"{codec}_per_frame"] = [
            {"target": float(q), **_frame_codec_point(peer(codec, q), video)} for q in qualities
        ]
    t, h, w, c = video.frames.shape
    return {
        "settings": {"frames": t, "height": h, "width": w, "channels": c, "bpp": list(bpps)},
        "models": {f"{b:g}": models[b].name for b in bpps},
        "unavailable": unavailable,
        "signals": [{"name": name, "results": results}],
        "mean_curves": {k: mean_curve([v]) for k, v in results.items()},
    }


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
    return video_bench(
        path, frames=int(options["frames"]), crop=int(options["video_crop"]),
        bpps=options["video_bpp"], peers=options["video_peers"], **common,
    )  # fmt: skip
