"""The INR image benchmark: photos centre-cropped to ``crop x crop``; INR at target bpp;
JPEG, WebP, AVIF at their default sweeps and rdlab's hyperprior codec at qualities 1..6 on
the same crops (:func:`rdlab.eval.image_bench._code_point`: PSNR RGB at peak 255, PSNR-Y,
MS-SSIM). BD-rate of INR against each peer per image, then the mean over images (JVET
convention), twice: on the overlapping PSNR range capped where either curve passes
``max_bpp`` (0.5), and on the whole overlap (:func:`~.common.bd_rate_limited`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...codecs.classical import canonical_name
from ...codecs.registry import codec_spec, unavailable_reason
from ...data.images import read_image
from ...metrics import MS_SSIM_MIN_SIDE, ms_ssim, ms_ssim_db, psnr_y
from ...parallel import LOCAL, Engine
from ..image_bench import _code_point
from .common import (
    DEFAULTS,
    Log,
    ProgressFn,
    bd_summary,
    center_crop,
    check_positive,
    check_settings,
    finite,
    input_files,
    inr_curve,
    mean_curve,
    model_source,
    peer,
    quiet,
    run_signals,
    spread,
    usable,
    worker_models,
)

__all__ = ["classical_quality", "image_bench", "run_files", "run_section"]


def classical_quality(point: dict[str, Any], image: np.ndarray, decoded: np.ndarray) -> None:
    """An INR point's quality under the classical image points' keys (``psnr`` for
    ``psnr_db``, ``psnr_y``, ``ms_ssim``, ``ms_ssim_db``; MS-SSIM None below its
    smallest side), for the shared curves and plots."""
    point["psnr"] = point.pop("psnr_db")
    point["psnr_y"] = float(psnr_y(image, decoded))
    small = min(image.shape[:2]) < MS_SSIM_MIN_SIDE
    value = None if small else float(ms_ssim(image, decoded))
    point["ms_ssim"] = value
    point["ms_ssim_db"] = None if value is None else finite(ms_ssim_db(value))


def _image_signal(job: Mapping[str, Any], log: Log) -> dict[str, Any]:
    """One photo's record (in a worker): its centre crop coded by INR at each target bpp
    and by each peer at each quality of its sweep."""
    image = read_image(job["path"])
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    image = center_crop(image, job["crop"], job["crop"])
    with_ms = min(image.shape[:2]) >= MS_SSIM_MIN_SIDE
    models = worker_models(job["models"])
    label = job["label"]
    inr = inr_curve(
        image, "image", job["bpps"], models, job["fit"], label, log, measure=classical_quality
    )
    results: dict[str, list[dict[str, Any]]] = {"inr": inr}
    for out_name, (codec_name, qualities) in job["sweeps"].items():
        results[out_name] = [
            {"target": q, **_code_point(peer(codec_name, q), image, with_ms)} for q in qualities
        ]
        log(f"{label}: {out_name} sweep done")
    return {
        "name": os.path.basename(job["path"]), "height": int(image.shape[0]),
        "width": int(image.shape[1]), "results": results,
    }  # fmt: skip


def image_bench(
    paths: Sequence[str],
    *,
    crop: int = DEFAULTS["crop"],
    bpps: Sequence[float] = DEFAULTS["image_bpp"],
    peers: Sequence[str] = DEFAULTS["image_peers"],
    peer_qualities: Mapping[str, Sequence[float]] | None = None,
    hyperprior_qualities: Sequence[float] = DEFAULTS["hyperprior_qualities"],
    max_bpp: float | None = DEFAULTS["max_bpp"],
    model_dir: str | None = None,
    steps: int | None = None,
    fine_tune_steps: int | None = None,
    seed: int = 0,
    log: Log = quiet,
    progress: ProgressFn | None = None,
    engine: Engine = LOCAL,
) -> dict[str, Any]:
    """INR against classical codecs and the hyperprior codec on centre crops of
    ``paths``; BD-rates of INR against each peer (see the module docstring).

    One job per photo (the INR curve and every peer's sweep), run as
    :func:`~.audio.audio_bench` runs its files (``engine``, ``progress``; ``failures``:
    the photos that could not be read or coded, left out of the curves and BD-rates).
    """
    check_positive("crop", crop, integer=True)
    sources = {float(b): model_source("image", b, model_dir) for b in bpps}
    models = worker_models(sources)
    fit = {"steps": steps, "fine_tune_steps": fine_tune_steps, "seed": seed}
    check_settings("image", models, fit)
    sweeps: dict[str, tuple[str, list[float]]] = {}  # output name -> (classical name, qs)
    unavailable = {}
    wanted = [(canonical_name(n), canonical_name(n)) for n in peers]
    if hyperprior_qualities:
        wanted.append(("hyperprior", "rdlab"))
    for out_name, name in wanted:
        if not usable(name):
            unavailable[out_name] = unavailable_reason(name)
            continue
        given = hyperprior_qualities if out_name == "hyperprior" else None
        given = given or (peer_qualities or {}).get(name) or codec_spec(name).quality.sweep
        sweeps[out_name] = (name, [float(q) for q in given])
    jobs = [
        {"path": path, "label": f"image {i + 1}/{len(paths)} {os.path.basename(path)}",
         "crop": int(crop), "bpps": [float(b) for b in bpps], "sweeps": sweeps,
         "models": sources, "fit": fit}
        for i, path in enumerate(paths)
    ]  # fmt: skip
    records, failures = run_signals(
        _image_signal, jobs, models=sources.values(), description="benchmarking images",
        log=log, progress=progress, engine=engine,
    )  # fmt: skip
    codecs = ["inr", *sweeps]
    curves = {c: mean_curve([r["results"][c] for r in records]) for c in codecs}
    bd = {
        name: {
            "capped": bd_summary(records, name, "bpp", "psnr", max_bpp),
            "full": bd_summary(records, name, "bpp", "psnr", None),
        }
        for name in sweeps
    }
    return {
        "settings": {"crop": crop, "bpp": list(bpps), "max_bpp": max_bpp,
                     "peers": {k: v[1] for k, v in sweeps.items()}},
        "models": {f"{b:g}": models[float(b)].name for b in bpps},
        "unavailable": unavailable,
        "signals": records,
        "failures": failures,
        "mean_curves": curves,
        "bd_vs_peers": bd,
    }  # fmt: skip


def run_files(paths: Sequence[str], options: Mapping[str, Any], **common: Any) -> dict[str, Any]:
    """:func:`image_bench` on ``paths`` with the settings of ``options``
    (:data:`~.common.DEFAULTS` keys ``crop``, ``image_bpp``, ``image_peers``,
    ``hyperprior_qualities``, ``max_bpp``)."""
    return image_bench(
        paths, crop=int(options["crop"]), bpps=options["image_bpp"],
        peers=options["image_peers"], hyperprior_qualities=options["hyperprior_qualities"],
        max_bpp=options["max_bpp"], **common,
    )  # fmt: skip


def run_section(data: str, options: Mapping[str, Any], **common: Any) -> dict[str, Any]:
    """:func:`image_bench` on ``options["images"]`` photos of ``data/images/eval``."""
    folder = os.path.join(data, "images", "eval")
    paths = spread(input_files(folder, "image", "images"), int(options["images"]))
    return run_files(paths, options, **common)
