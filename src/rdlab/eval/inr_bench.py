"""Rate-distortion benchmark of the INR codec (``inr``) against its peers, per modality.

One function per modality returns a JSON-ready dict; :func:`run` combines them with the
:func:`targets` (``benchmarks/inr.py`` is the command line around it). Every INR point
codes the signal once at a target rate and records: the whole file's size and rate, the
payload's rate (``last_report["payload_bits"]``: the coded weight indices, no header,
no side chunks), the distortion (:func:`rdlab.inr.modalities.distortion`), the wall-clock
seconds of one encode and one decode, and ``deterministic``: a second decode (a fresh
codec object) gives the same signal, element for element. A target rate the codec
refuses (too low for the model and signal, e.g. the header alone is over budget) gives a
point with ``error`` instead of numbers; the means leave it out.

- **image** (:func:`image_bench`): photos centre-cropped to ``crop x crop``; INR at
  target bpp; JPEG, WebP, AVIF at their default sweeps and rdlab's hyperprior codec at
  qualities 1..6 on the same crops (:func:`rdlab.eval.image_bench._code_point`: PSNR RGB
  at peak 255, PSNR-Y, MS-SSIM). BD-rate of INR against each peer per image, then the
  mean over images (JVET convention), twice: on the overlapping PSNR range capped where
  either curve passes ``max_bpp`` (0.5), and on the whole overlap
  (:func:`bd_rate_limited`).
- **audio** (:func:`audio_bench`): the first ``seconds`` of each file; INR and Opus
  (:func:`rdlab.eval.baselines.opus_roundtrip`) at the same target kbit/s. SNR and PSNR
  (peak-to-peak 2); kbit/s of the whole file, and of the payload (INR: the weight
  indices; Opus: the file less its empty-file size, :func:`opus_header_bytes`).
- **protein** (:func:`protein_bench`): C-alpha traces; INR at target bits/atom against
  uniform quantization with predictive range coding
  (:func:`rdlab.eval.baselines.ca_uniform_rate_distortion`) at steps in Å. The INR file
  also carries the residue sequence and numbering (``side_info_bits_per_atom``, about
  4.4 for the sequence plus a few bytes), which the
  uniform-quantization stream does not: compare ``payload_bits_per_atom`` for the
  coordinates alone. RMSD in Å without superposition.
- **video** (:func:`video_bench`): the first frames of a clip, centre-cropped; INR at
  target bpp (bits per pixel of all frames); for context only, WebP and AVIF coding each
  frame on its own (sizes summed over frames; PSNR over all frames).

Inputs are spread evenly over the sorted folder (``spread``): with 2 of 18 audio files
the first and the last, so both sources of ``audio/eval`` are used.
"""

from __future__ import annotations

import functools
import glob
import math
import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..codecs.classical import CODECS, _probe, canonical_name, unavailable_reason
from ..codecs.inr import INRCodec, choose_model
from ..data.audio import Audio, read_audio
from ..data.images import read_image
from ..data.proteins import CaTrace, read_ca_trace
from ..data.video import Video, read_video
from ..errors import InputError, ModelError, RdlabError
from ..inr import modalities
from ..inr.model_file import INRModel, load_inr_model
from .baselines import ca_uniform_rate_distortion, opus_header_bytes, opus_roundtrip
from .bd import _merge_sorted, _pchip_integral
from .image_bench import _code_point

__all__ = [
    "DEFAULTS",
    "MODALITIES",
    "RATE_KEYS",
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

MODALITIES = ("image", "audio", "protein", "video")
#: the rate of each modality: the INR codec's keyword and the key of the points
RATE_KEYS = {"image": "bpp", "audio": "kbps", "protein": "bits_per_atom", "video": "bpp"}
DEFAULTS: dict[str, Any] = {
    "images": 3,
    "crop": 256,
    "image_bpp": (0.15, 0.3, 0.6),
    "image_peers": ("jpeg", "webp", "avif"),
    "hyperprior_qualities": (1, 2, 3, 4, 5, 6),
    "max_bpp": 0.5,
    "audio": 2,
    "seconds": 2.0,
    "kbps": (6.0, 12.0, 24.0),
    "proteins": 3,
    "bits_per_atom": (8.0, 12.0, 16.0),
    "ca_steps": (0.5, 1.0, 2.0),
    "frames": 8,
    "video_crop": 64,
    "video_bpp": (0.1, 0.2, 0.4),
    "video_peers": ("webp", "avif"),
    "video_file": "carphone_pristine.mp4",
}
TARGETS = {
    "image_bd_rate_vs_jpeg_percent": -25.0,
    "audio_opus_kbps": 6.0,
    "protein_rmsd_angstrom": 1.0,
    "protein_bits_per_atom": 12.0,
    "image_encode_seconds": 600.0,
    "image_decode_seconds": 1.0,
    "image_side": 256,
}
CONVENTIONS = {
    "bpp": "8 * (bytes of the whole file) / pixels (all frames for video)",
    "kbps": "8 * (bytes of the whole file) / seconds / 1000",
    "bits_per_atom": "8 * (bytes of the whole file) / C-alpha atoms",
    "payload_*": "INR: the coded weight indices only (last_report payload_bits); Opus: the "
    "file less the size of an empty Ogg/Opus file; classical images: the codec's payload",
    "psnr": "images: RGB PSNR at peak 255; video: peak 255, MSE over all frames; "
    "audio: peak-to-peak 2 (10 log10(4 / MSE))",
    "snr_db": "audio: 10 log10(sum x^2 / sum (x - y)^2)",
    "rmsd_angstrom": "proteins: RMSD of C-alpha positions, no superposition",
    "bd": "per-signal BD-rate (pchip) of INR against the peer, then the mean; "
    "'capped': PSNR range capped where either curve passes max_bpp; 'full': whole overlap",
    "seconds": "wall clock of one call, torch threads as set (see torch_threads)",
    "deterministic": "a second decode by a fresh codec object equals the first",
    "fit_seconds, code_seconds": "the encode time split by the codec's progress reports "
    "(approximate: the time since the previous report goes to the reporting stage; "
    "code_seconds includes building the candidate pool); "
    "fit_steps: fitting plus fine-tuning steps",
    "selection": "how the encoder picked each block's candidate: 'sample' (REC's noisy "
    "choice) or 'greedy' (largest log q/p; rdlab.rec.blockwise)",
}

Log = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


@functools.cache
def _usable(name: str) -> bool:
    """Whether classical codec ``name`` works here (probed alone: not every codec)."""
    return _probe(name)


def _peer(name: str, quality: float | None = None) -> Any:
    return CODECS[name](quality)


# ------------------------------------------------------------------------------ inputs
def spread(paths: Sequence[str], count: int) -> list[str]:
    """``count`` of ``paths`` evenly spread over the list (first and last included)."""
    if count < 1:
        raise InputError("count", f"must be >= 1, got {count}")
    if count >= len(paths):
        return list(paths)
    if count == 1:
        return [paths[0]]
    picks = np.linspace(0, len(paths) - 1, count).round().astype(int)
    return [paths[i] for i in dict.fromkeys(picks.tolist())]


def _files(folder: str, suffixes: tuple[str, ...], what: str) -> list[str]:
    if not os.path.isdir(folder):
        raise InputError("data", f"{folder} is not a directory (no {what})")
    names = sorted(
        os.path.join(folder, n)
        for n in os.listdir(folder)
        if n.lower().endswith(suffixes) and not n.startswith(".")
    )
    if not names:
        raise InputError("data", f"{folder} holds no {what}")
    return names


def center_crop(array: np.ndarray, height: int, width: int, axes: tuple[int, int] = (0, 1)):
    """The centred ``height x width`` window of ``array`` along ``axes`` (smaller sides
    are kept whole)."""
    index: list[Any] = [slice(None)] * array.ndim
    for axis, size in zip(axes, (height, width), strict=True):
        n = array.shape[axis]
        size = min(int(size), n)
        start = (n - size) // 2
        index[axis] = slice(start, start + size)
    return np.ascontiguousarray(array[tuple(index)])


# ------------------------------------------------------------------------------ models
def _dir_models(model_dir: str, modality: str) -> list[INRModel]:
    paths = sorted(glob.glob(os.path.join(model_dir, f"inr-{modality}-*.safetensors")))
    if not paths:
        raise ModelError(f"no inr-{modality}-*.safetensors in {model_dir}")
    return [load_inr_model(p) for p in paths]


def pick_model(modality: str, rate: float, model_dir: str | None = None) -> INRModel:
    """The model for ``modality`` whose training rate (card ``rate_per_item``) is closest
    to ``rate`` in log scale: from ``model_dir`` (files ``inr-<modality>-*.safetensors``)
    or, without it, the bundled ones (:func:`rdlab.codecs.inr.choose_model`)."""
    if model_dir is None:
        return choose_model(modality, rate)
    target = math.log(max(rate, 1e-9))
    return min(
        _dir_models(model_dir, modality),
        key=lambda m: abs(math.log(float(m.card.get("rate_per_item", 1.0))) - target),
    )


# ------------------------------------------------------------------------------ points
def rate_from_bits(modality: str, bits: float, items: float) -> float:
    """Bits in the modality's rate unit: per pixel or atom, or kbit/s (items: seconds)."""
    per = bits / items
    return per / 1000.0 if modality == "audio" else per


def _arrays(signal: Any) -> list[np.ndarray]:
    if isinstance(signal, Audio):
        return [signal.samples, np.array([signal.sample_rate])]
    if isinstance(signal, CaTrace):
        return [signal.coords, np.array(signal.residue_names), np.array(signal.residue_numbers)]
    if isinstance(signal, Video):
        return [signal.frames, np.array([signal.fps])]
    return [np.asarray(signal)]


def _same(a: Any, b: Any) -> bool:
    x, y = _arrays(a), _arrays(b)
    return len(x) == len(y) and all(
        u.shape == v.shape and u.dtype == v.dtype and np.array_equal(u, v)
        for u, v in zip(x, y, strict=True)
    )


def inr_point(
    signal: Any,
    modality: str,
    rate: float,
    *,
    model: INRModel,
    steps: int | None = None,
    fine_tune_steps: int | None = None,
    seed: int = 0,
    image_metrics: bool = False,
) -> dict[str, Any]:
    """Code ``signal`` once with the INR codec at target ``rate`` (the modality's unit)
    and measure it (see the module docstring); ``image_metrics`` adds PSNR-Y and MS-SSIM
    (the keys of the classical image points)."""
    key = RATE_KEYS[modality]
    stages = {"fit": 0.0, "code": 0.0, "fit_steps": 0}
    clock = [time.perf_counter()]

    def progress(stage: str, done: int, total: int) -> None:
        # the time since the last report went to this stage's work
        now = time.perf_counter()
        stages[stage] = stages.get(stage, 0.0) + now - clock[0]
        clock[0] = now
        if stage == "fit":
            stages["fit_steps"] = total

    codec = INRCodec(
        model,
        modality=modality,
        seed=seed,
        steps=steps,
        fine_tune_steps=fine_tune_steps,
        progress=progress,
        **{key: float(rate)},
    )
    point: dict[str, Any] = {"target": float(rate), "model": model.name}
    start = clock[0] = time.perf_counter()
    try:
        data = codec.encode(signal)
    except InputError as exc:  # a rate the codec refuses for this model and signal
        point["error"] = str(exc)
        return point
    encode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    decoded = INRCodec(model, modality=modality).decode(data)
    decode_seconds = time.perf_counter() - start
    again = INRCodec(model, modality=modality).decode(data)
    report = codec.last_report
    items = modalities.items(modality, signal)
    point.update(
        {
            "bytes": len(data),
            key: rate_from_bits(modality, 8 * len(data), items),
            f"payload_{key}": rate_from_bits(modality, report["payload_bits"], items),
            "payload_bits": int(report["payload_bits"]),
            "blocks": int(report["blocks"]),
            "items": float(items),
            **modalities.distortion(modality, signal, decoded),
            "encode_seconds": encode_seconds,
            "decode_seconds": decode_seconds,
            "fit_steps": int(stages["fit_steps"]),
            "selection": report["selection"],
            "fit_seconds": stages["fit"],
            "code_seconds": stages["code"] + stages.get("candidates", 0.0),
            "deterministic": _same(decoded, again),
        }
    )
    if image_metrics:
        from ..metrics import ms_ssim, ms_ssim_db, psnr_y

        point["psnr"] = point.pop("psnr_db")
        point["psnr_y"] = float(psnr_y(signal, decoded))
        small = min(signal.shape[:2]) < 161
        value = None if small else float(ms_ssim(signal, decoded))
        point["ms_ssim"] = value
        point["ms_ssim_db"] = None if value is None else _finite(ms_ssim_db(value))
    return point


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _json_safe(value: Any) -> Any:
    """Infinite and NaN floats as None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def mean_curve(per_signal: Sequence[Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Points averaged over signals at each index of the sweep: the numeric keys' means
    over the signals whose point has no ``error`` (``signals``: how many); booleans:
    all true."""
    if not per_signal:
        return []
    out = []
    for k in range(max(len(p) for p in per_signal)):
        points = [p[k] for p in per_signal if k < len(p) and "error" not in p[k]]
        first = next((p[k] for p in per_signal if k < len(p)), {})
        entry: dict[str, Any] = {"target": first.get("target", first.get("quality"))}
        entry["signals"] = len(points)
        if not points:
            entry["error"] = first.get("error", "no point")
            out.append(entry)
            continue
        keys = dict.fromkeys(key for p in points for key in p)
        for key in keys:
            values = [p.get(key) for p in points]
            if all(isinstance(v, bool) for v in values):
                entry[key] = all(values)
            elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                finite = [float(v) for v in values if math.isfinite(v)]
                entry[key] = float(np.mean(finite)) if finite else None
        if "model" in points[0]:
            entry["model"] = points[0]["model"]
        out.append(entry)
    return out


# ------------------------------------------------------------------------------ BD-rate
def _valid(rates: Iterable[Any], quality: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [
        (float(r), float(q))
        for r, q in zip(rates, quality, strict=True)
        if r is not None and q is not None and math.isfinite(r) and r > 0 and math.isfinite(q)
    ]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def _quality_at(log_rates: np.ndarray, quality: np.ndarray, log_rate: float) -> float:
    """A curve's quality at ``log_rate`` (linear in log-rate between its points);
    +inf when the curve stays below that rate, -inf when it starts above it."""
    x, y = _merge_sorted(log_rates, quality)
    if log_rate >= x[-1]:
        return math.inf
    if log_rate < x[0]:
        return -math.inf
    return float(np.interp(log_rate, x, y))


def bd_rate_limited(
    anchor_rates: Sequence[float],
    anchor_quality: Sequence[float],
    test_rates: Sequence[float],
    test_quality: Sequence[float],
    *,
    max_rate: float | None = None,
) -> dict[str, Any]:
    """BD-rate (%, pchip as :func:`rdlab.eval.bd.bd_rate`) of the test curve against the
    anchor over their overlapping quality range, capped (with ``max_rate``) at the lower
    of the two qualities where each curve reaches ``max_rate``.

    Returns ``bd_rate`` (None when it cannot be computed), ``quality_range`` (the
    integration range) and ``reason`` (why ``bd_rate`` is None, else None). Points with a
    missing, non-finite or non-positive value are dropped; each curve needs 2 distinct
    qualities."""
    ra, qa = _valid(anchor_rates, anchor_quality)
    rt, qt = _valid(test_rates, test_quality)
    out: dict[str, Any] = {"bd_rate": None, "quality_range": None, "max_rate": max_rate}
    for name, q in (("anchor", qa), ("test", qt)):
        if np.unique(q).size < 2:
            out["reason"] = f"the {name} curve has fewer than 2 points with distinct quality"
            return out
    xa, ya = _merge_sorted(qa, np.log(ra))
    xt, yt = _merge_sorted(qt, np.log(rt))
    low, high = max(xa[0], xt[0]), min(xa[-1], xt[-1])
    if not high > low:
        out["reason"] = (
            f"the quality ranges do not overlap (anchor {xa[0]:.3f}..{xa[-1]:.3f}, "
            f"test {xt[0]:.3f}..{xt[-1]:.3f})"
        )
        return out
    if max_rate is not None:
        cap = min(
            _quality_at(np.log(ra), qa, math.log(max_rate)),
            _quality_at(np.log(rt), qt, math.log(max_rate)),
        )
        if not cap > low:
            out["reason"] = (
                f"the curves do not overlap below rate {max_rate:g} (overlap {low:.3f}.."
                f"{high:.3f}; quality at rate {max_rate:g}: {cap:.3f})"
            )
            return out
        high = min(high, cap)
    delta = (_pchip_integral(xt, yt, low, high) - _pchip_integral(xa, ya, low, high)) / (high - low)
    out.update({"bd_rate": float(100.0 * np.expm1(delta)), "quality_range": [low, high]})
    out["reason"] = None
    return out


def _bd_summary(
    records: Sequence[Mapping[str, Any]],
    anchor: str,
    rate_key: str,
    quality_key: str,
    max_rate: float | None,
) -> dict[str, Any]:
    per_signal, values = [], []
    for record in records:
        results = record["results"]
        a = [p for p in results.get(anchor, []) if "error" not in p]
        t = [p for p in results.get("inr", []) if "error" not in p]
        bd = bd_rate_limited(
            [p[rate_key] for p in a],
            [p.get(quality_key) for p in a],
            [p[rate_key] for p in t],
            [p.get(quality_key) for p in t],
            max_rate=max_rate,
        )
        per_signal.append({"name": record["name"], **bd})
        if bd["bd_rate"] is not None:
            values.append(bd["bd_rate"])
    reasons = [f"{p['name']}: {p['reason']}" for p in per_signal if p["reason"]]
    return {
        "bd_rate": float(np.mean(values)) if values else None,
        "signals": len(values),
        "reason": None if values else ("; ".join(reasons) or "no signals"),
        "per_signal": per_signal,
    }


# ------------------------------------------------------------------------------ images
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
    log: Log = _quiet,
) -> dict[str, Any]:
    """INR against classical codecs and the hyperprior codec on centre crops of
    ``paths``; BD-rates of INR against each peer (see the module docstring)."""
    models = {b: pick_model("image", b, model_dir) for b in bpps}
    sweeps: dict[str, tuple[str, list[float]]] = {}  # output name -> (classical name, qs)
    unavailable = {}
    wanted = [(canonical_name(n), canonical_name(n)) for n in peers]
    if hyperprior_qualities:
        wanted.append(("hyperprior", "rdlab"))
    for out_name, name in wanted:
        if not _usable(name):
            unavailable[out_name] = unavailable_reason(name)
            continue
        given = hyperprior_qualities if out_name == "hyperprior" else None
        given = given or (peer_qualities or {}).get(name) or CODECS[name].qualities
        sweeps[out_name] = (name, [float(q) for q in given])
    records = []
    for i, path in enumerate(paths):
        image = read_image(path)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = center_crop(image, crop, crop)
        name = os.path.basename(path)
        with_ms = min(image.shape[:2]) >= 161
        fit = {"steps": steps, "fine_tune_steps": fine_tune_steps, "seed": seed}
        label = f"image {i + 1}/{len(paths)} {name}"
        inr = _inr_curve(image, "image", bpps, models, fit, label, log, image_metrics=True)
        results: dict[str, list[dict[str, Any]]] = {"inr": inr}
        for out_name, (codec_name, qualities) in sweeps.items():
            points = []
            for q in qualities:
                point = _code_point(_peer(codec_name, q), image, with_ms)
                points.append({"target": q, **point})
            results[out_name] = points
            log(f"image {i + 1}/{len(paths)} {name}: {out_name} sweep done")
        records.append(
            {"name": name, "height": int(image.shape[0]), "width": int(image.shape[1]),
             "results": results}
        )  # fmt: skip
    codecs = ["inr", *sweeps]
    curves = {c: mean_curve([r["results"][c] for r in records]) for c in codecs}
    bd = {
        peer: {
            "capped": _bd_summary(records, peer, "bpp", "psnr", max_bpp),
            "full": _bd_summary(records, peer, "bpp", "psnr", None),
        }
        for peer in sweeps
    }
    return {
        "settings": {"crop": crop, "bpp": list(bpps), "max_bpp": max_bpp,
                     "peers": {k: v[1] for k, v in sweeps.items()}},
        "models": {f"{b:g}": models[b].name for b in bpps},
        "unavailable": unavailable,
        "signals": records,
        "mean_curves": curves,
        "bd_vs_peers": bd,
    }  # fmt: skip


def _brief(point: Mapping[str, Any], key: str) -> str:
    if "error" in point:
        return f"error: {point['error']}"
    quality = next(
        (
            f"{k} {point[k]:.2f}"
            for k in ("psnr", "psnr_db", "snr_db", "rmsd_angstrom")
            if point.get(k) is not None
        ),
        "no quality",
    )
    return (
        f"{point[key]:.3f} {key}, {quality}, encode {point['encode_seconds']:.1f} s, "
        f"decode {point['decode_seconds']:.2f} s"
    )


_RATE_UNITS = {"bpp": "bpp", "kbps": "kbps", "bits_per_atom": "bits/atom"}
"""The unit printed in the log for each rate key of :data:`RATE_KEYS`."""


def _inr_curve(
    signal: Any,
    modality: str,
    rates: Sequence[float],
    models: Mapping[float, INRModel],
    fit: Mapping[str, Any],
    label: str,
    log: Log,
    *,
    image_metrics: bool = False,
    annotate: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """:func:`inr_point` of ``signal`` at each target rate, logged as each arrives.

    ``fit`` holds the fitting options (``steps``, ``fine_tune_steps``, ``seed``);
    ``annotate`` adds fields to each point that did not fail.
    """
    key = RATE_KEYS[modality]
    points = []
    for rate in rates:
        point = inr_point(
            signal, modality, rate, model=models[rate], image_metrics=image_metrics, **fit
        )
        if annotate is not None and "error" not in point:
            annotate(point)
        points.append(point)
        log(f"{label}: inr {rate:g} {_RATE_UNITS[key]}: {_brief(point, key)}")
    return points


# ------------------------------------------------------------------------------ audio
def audio_bench(
    paths: Sequence[str],
    *,
    seconds: float = DEFAULTS["seconds"],
    kbps: Sequence[float] = DEFAULTS["kbps"],
    model_dir: str | None = None,
    steps: int | None = None,
    fine_tune_steps: int | None = None,
    seed: int = 0,
    log: Log = _quiet,
) -> dict[str, Any]:
    """INR against Opus at the same target kbit/s on the first ``seconds`` of each file."""
    models = {k: pick_model("audio", k, model_dir) for k in kbps}
    records = []
    for i, path in enumerate(paths):
        full = read_audio(path)
        n = min(full.samples.size, max(1, round(seconds * full.sample_rate)))
        audio = Audio(full.samples[:n], full.sample_rate)
        name = os.path.basename(path)
        header = opus_header_bytes(audio.sample_rate)
        fit = {"steps": steps, "fine_tune_steps": fine_tune_steps, "seed": seed}
        inr = _inr_curve(
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
                    "kbps": rate_from_bits("audio", 8 * size, audio.duration),
                    "payload_kbps": rate_from_bits("audio", 8 * (size - header), audio.duration),
                    "header_bytes": header,
                    **modalities.distortion("audio", audio, decoded),
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


# ------------------------------------------------------------------------------ proteins
def protein_bench(
    paths: Sequence[str],
    *,
    bits_per_atom: Sequence[float] = DEFAULTS["bits_per_atom"],
    ca_steps: Sequence[float] = DEFAULTS["ca_steps"],
    model_dir: str | None = None,
    steps: int | None = None,
    fine_tune_steps: int | None = None,
    seed: int = 0,
    log: Log = _quiet,
) -> dict[str, Any]:
    """INR against uniform quantization of the C-alpha coordinates."""
    models = {b: pick_model("protein", b, model_dir) for b in bits_per_atom}
    records = []
    for i, path in enumerate(paths):
        trace = read_ca_trace(path)
        name = os.path.basename(path)
        atoms = len(trace)
        side = modalities.prepare("protein", trace).chunks["PROT"]  # sequence, numbering
        fit = {"steps": steps, "fine_tune_steps": fine_tune_steps, "seed": seed}

        def side_info(point: dict[str, Any], side: bytes = side, atoms: int = atoms) -> None:
            point["side_info_bits_per_atom"] = 8 * len(side) / atoms

        label = f"protein {i + 1}/{len(paths)} {name}"
        inr = _inr_curve(
            trace, "protein", bits_per_atom, models, fit, label, log, annotate=side_info
        )
        uniform = [
            {
                "target": row["step"],
                "bytes": int(row["bytes"]),
                "bits_per_atom": row["bits_per_atom"],
                "rmsd_angstrom": row["rmsd"],
                "max_error_angstrom": row["max_error"],
            }
            for row in ca_uniform_rate_distortion(trace.coords, list(ca_steps))
        ]
        records.append({"name": name, "atoms": atoms, "results": {"inr": inr, "uniform": uniform}})
    return {
        "settings": {"bits_per_atom": list(bits_per_atom), "ca_steps_angstrom": list(ca_steps)},
        "models": {f"{b:g}": models[b].name for b in bits_per_atom},
        "signals": records,
        "mean_curves": {
            c: mean_curve([r["results"][c] for r in records]) for c in ("inr", "uniform")
        },
    }


# ------------------------------------------------------------------------------ video
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
    items = modalities.items("video", video)
    return {
        "bytes": size,
        "bpp": 8 * size / items,
        **modalities.distortion("video", video, decoded),
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
    log: Log = _quiet,
) -> dict[str, Any]:
    """INR on the first ``frames`` frames of ``path``, centre-cropped to ``crop x crop``;
    per-frame WebP / AVIF for context."""
    models = {b: pick_model("video", b, model_dir) for b in bpps}
    clip = read_video(path, max_frames=frames)
    video = Video(center_crop(clip.frames, crop, crop, axes=(1, 2)), clip.fps)
    name = os.path.basename(os.path.normpath(path))
    fit = {"steps": steps, "fine_tune_steps": fine_tune_steps, "seed": seed}
    inr = _inr_curve(video, "video", bpps, models, fit, f"video {name}", log)
    results: dict[str, list[dict[str, Any]]] = {"inr": inr}
    unavailable = {}
    for peer in (canonical_name(n) for n in peers):
        if not _usable(peer):
            unavailable[peer] = unavailable_reason(peer)
            continue
        qualities = (peer_qualities or {}).get(peer) or CODECS[peer].qualities
        results[f"{peer}_per_frame"] = [
            {"target": float(q), **_frame_codec_point(_peer(peer, q), video)} for q in qualities
        ]
    t, h, w, c = video.frames.shape
    return {
        "settings": {"frames": t, "height": h, "width": w, "channels": c, "bpp": list(bpps)},
        "models": {f"{b:g}": models[b].name for b in bpps},
        "unavailable": unavailable,
        "signals": [{"name": name, "results": results}],
        "mean_curves": {k: mean_curve([v]) for k, v in results.items()},
    }


# ------------------------------------------------------------------------------ targets
def interpolate_log_rate(
    points: Sequence[Mapping[str, Any]], rate_key: str, value_key: str, at: float
) -> float | None:
    """``value_key`` at rate ``at``, linear in log rate between the nearest points below
    and above it (points with ``error`` left out); None where no point lies on one side."""
    usable = sorted(
        (float(p[rate_key]), float(p[value_key]))
        for p in points
        if "error" not in p and p.get(rate_key) is not None and p.get(value_key) is not None
    )
    below = [(r, v) for r, v in usable if r <= at]
    above = [(r, v) for r, v in usable if r >= at]
    if not below or not above or at <= 0:
        return None
    (r0, v0), (r1, v1) = below[-1], above[0]
    if r1 == r0:
        return v0
    t = (math.log(at) - math.log(r0)) / (math.log(r1) - math.log(r0))
    return v0 + t * (v1 - v0)


def _matched_opus(record: Mapping[str, Any], kbps: float) -> dict[str, float] | None:
    """One audio signal's Opus point at target ``kbps`` and INR's SNR at Opus's actual
    whole-file and payload rates (None where INR's points do not bracket both)."""
    opus = next(
        (p for p in record["results"]["opus"] if p["target"] == kbps and "error" not in p), None
    )
    if opus is None:
        return None
    inr = record["results"]["inr"]
    at_file = interpolate_log_rate(inr, "kbps", "snr_db", float(opus["kbps"]))
    at_payload = interpolate_log_rate(inr, "payload_kbps", "snr_db", float(opus["payload_kbps"]))
    if at_file is None or at_payload is None:
        return None
    return {
        "opus_snr_db": float(opus["snr_db"]),
        "opus_kbps": float(opus["kbps"]),
        "opus_payload_kbps": float(opus["payload_kbps"]),
        "inr_snr_db_at_opus_kbps": at_file,
        "inr_snr_db_at_opus_payload_kbps": at_payload,
    }


def _target(value: Any, met: bool | None, **extra: Any) -> dict[str, Any]:
    return {"value": value, "met": met, **extra}


def targets(result: Mapping[str, Any]) -> dict[str, Any]:
    """The benchmark's targets (booleans and the numbers behind them) from :func:`run`'s
    per-modality results; ``met`` is None where the modality was not run or the number
    could not be measured (``reason`` says why)."""
    out: dict[str, Any] = {}
    image = result.get("image")
    if isinstance(image, Mapping) and "bd_vs_peers" in image:
        jpeg = image["bd_vs_peers"].get("jpeg", {}).get("capped")
        value = None if jpeg is None else jpeg["bd_rate"]
        goal = TARGETS["image_bd_rate_vs_jpeg_percent"]
        out["image_bd_rate_vs_jpeg_below_max_bpp"] = _target(
            value,
            None if value is None else value <= goal,
            goal=f"<= {goal} % (PSNR, below {image['settings']['max_bpp']} bpp)",
            reason=None if value is not None else (jpeg or {}).get("reason", "JPEG not run"),
        )
        side = TARGETS["image_side"]
        sized = [
            p
            for r in image["signals"]
            for p in r["results"]["inr"]
            if "error" not in p and r["height"] == side and r["width"] == side
        ]
        for key, goal_key, label in (
            ("encode_seconds", "image_encode_seconds", "encode"),
            ("decode_seconds", "image_decode_seconds", "decode"),
        ):
            worst = max((p[key] for p in sized), default=None)
            goal = TARGETS[goal_key]
            out[f"image_{label}_{side}x{side}_seconds"] = _target(
                worst,
                None if worst is None else worst < goal,
                goal=f"< {goal:g} s (slowest INR point on a {side}x{side} image)",
                reason=None if worst is not None else f"no INR point on a {side}x{side} image",
            )
    audio = result.get("audio")
    if isinstance(audio, Mapping) and "signals" in audio:
        kbps = TARGETS["audio_opus_kbps"]
        pairs = []
        for record in audio["signals"]:
            inr = next((p for p in record["results"]["inr"] if p["target"] == kbps), None)
            opus = next((p for p in record["results"]["opus"] if p["target"] == kbps), None)
            if inr and opus and "error" not in inr and "error" not in opus:
                pairs.append((inr["snr_db"], opus["snr_db"]))
        value = (
            {"inr_snr_db": float(np.mean([a for a, _ in pairs])),
             "opus_snr_db": float(np.mean([b for _, b in pairs])), "signals": len(pairs)}
            if pairs else None
        )  # fmt: skip
        out["audio_snr_beats_opus_at_6_kbps"] = _target(
            value,
            None if value is None else value["inr_snr_db"] > value["opus_snr_db"],
            goal=f"mean SNR of INR > Opus at a target of {kbps:g} kbit/s",
            reason=None if pairs else f"no INR and Opus points at {kbps:g} kbit/s",
        )
        # INR's SNR at Opus's actual rates needs INR points on both sides of them
        matched = [_matched_opus(record, kbps) for record in audio["signals"]]
        matched = [m for m in matched if m is not None]
        value = (
            {key: float(np.mean([m[key] for m in matched])) for key in matched[0]}
            | {"signals": len(matched)}
            if matched else None
        )  # fmt: skip
        out["audio_snr_beats_opus_at_matched_kbps"] = _target(
            value,
            None
            if value is None
            else min(value["inr_snr_db_at_opus_kbps"], value["inr_snr_db_at_opus_payload_kbps"])
            > value["opus_snr_db"],
            goal=(
                f"mean SNR of INR > Opus asked for {kbps:g} kbit/s, with INR's SNR "
                "interpolated (linear in log rate) at Opus's actual rate: of the whole file "
                "and of the payload (both must beat it)"
            ),
            reason=None if matched else f"no Opus point at {kbps:g} kbit/s bracketed by INR",
        )
    protein = result.get("protein")
    if isinstance(protein, Mapping) and "signals" in protein:
        for key, label in (("bits_per_atom", "file"), ("payload_bits_per_atom", "payload")):
            best = []
            for record in protein["signals"]:
                rmsds = [
                    p["rmsd_angstrom"]
                    for p in record["results"]["inr"]
                    if "error" not in p and p[key] <= TARGETS["protein_bits_per_atom"]
                ]
                best.append(min(rmsds) if rmsds else None)
            ok = [b is not None and b <= TARGETS["protein_rmsd_angstrom"] for b in best]
            missing = [
                r["name"] for r, b in zip(protein["signals"], best, strict=True) if b is None
            ]
            out[f"protein_rmsd_1A_at_12_bits_per_atom_{label}"] = _target(
                {r["name"]: b for r, b in zip(protein["signals"], best, strict=True)},
                all(ok) if best else None,
                goal=f"every chain: RMSD <= 1 A at <= 12 {key.replace('_', ' ')} (best INR point)",
                reason=f"no INR point at <= 12 {key.replace('_', ' ')}: {', '.join(missing)}"
                if missing
                else None,
            )
    for modality in MODALITIES:
        section = result.get(modality)
        if isinstance(section, Mapping) and "signals" in section:
            flags = [
                p["deterministic"]
                for r in section["signals"]
                for p in r["results"]["inr"]
                if "error" not in p
            ]
            out[f"{modality}_deterministic"] = _target(
                all(flags) if flags else None,
                all(flags) if flags else None,
                goal="every INR point: a second decode equals the first",
                reason=None if flags else "no INR point was coded",
            )
    return out


# ------------------------------------------------------------------------------ run
def _data_paths(data: str, modality: str, count: int) -> list[str]:
    if modality == "image":
        folder = os.path.join(data, "images", "eval")
        return spread(_files(folder, (".png", ".jpg", ".jpeg"), "images"), count)
    if modality == "audio":
        folder = os.path.join(data, "audio", "eval")
        return spread(_files(folder, (".flac", ".wav"), "audio files"), count)
    folder = os.path.join(data, "proteins", "eval")
    return spread(_files(folder, (".pdb.gz", ".pdb", ".cif"), "protein files"), count)


def run(
    data: str,
    modalities_: Sequence[str] = MODALITIES,
    *,
    options: Mapping[str, Any] | None = None,
    model_dir: str | None = None,
    steps: int | None = None,
    fine_tune_steps: int | None = None,
    seed: int = 0,
    log: Log = _quiet,
) -> dict[str, Any]:
    """Every modality in ``modalities_`` on the data under ``data`` (``shared/data``
    layout); ``options`` overrides :data:`DEFAULTS`. A modality whose model or data is
    missing gets ``{"error": message}`` and the others still run."""
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
        if modality not in MODALITIES:
            raise InputError("modalities", f"unknown modality {modality!r} (have {MODALITIES})")
        begun = time.perf_counter()
        try:
            if modality == "image":
                section = image_bench(
                    _data_paths(data, "image", int(o["images"])), crop=int(o["crop"]),
                    bpps=o["image_bpp"], peers=o["image_peers"],
                    hyperprior_qualities=o["hyperprior_qualities"], max_bpp=o["max_bpp"],
                    **common,
                )  # fmt: skip
            elif modality == "audio":
                section = audio_bench(
                    _data_paths(data, "audio", int(o["audio"])), seconds=float(o["seconds"]),
                    kbps=o["kbps"], **common,
                )  # fmt: skip
            elif modality == "protein":
                section = protein_bench(
                    _data_paths(data, "protein", int(o["proteins"])),
                    bits_per_atom=o["bits_per_atom"], ca_steps=o["ca_steps"], **common,
                )  # fmt: skip
            else:
                path = o["video_file"]
                if not os.path.isabs(path):
                    path = os.path.join(data, "video", path)
                if not os.path.exists(path):
                    raise InputError("data", f"{path} does not exist (no video)")
                section = video_bench(
                    path, frames=int(o["frames"]), crop=int(o["video_crop"]),
                    bpps=o["video_bpp"], peers=o["video_peers"], **common,
                )  # fmt: skip
        except RdlabError as exc:
            section = {"error": str(exc)}
            log(f"{modality}: {exc}")
        section["seconds"] = time.perf_counter() - begun
        result[modality] = section
    result["targets"] = targets(result)
    result["conventions"] = CONVENTIONS
    result["seconds"] = time.perf_counter() - started
    return _json_safe(result)


# ------------------------------------------------------------------------------ plots
def _line_plot(
    curves: Mapping[str, Sequence[Mapping[str, Any]]],
    x_key: str,
    y_key: str,
    *,
    x_label: str,
    y_label: str,
    title: str,
    dpi: int = 120,
) -> bytes:

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .plots import _MARKERS

    figure = Figure(figsize=(7.5, 5.2), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    drawn = 0
    for k, (name, points) in enumerate(curves.items()):
        pairs = sorted(
            (p[x_key], p[y_key])
            for p in points
            if p.get(x_key) is not None and p.get(y_key) is not None
        )
        if not pairs:
            continue
        axes.plot(
            [x for x, _ in pairs],
            [y for _, y in pairs],
            marker=_MARKERS[k % len(_MARKERS)],
            markersize=5,
            linewidth=2.2 if name == "inr" else 1.4,
            linestyle="-" if name == "inr" else "--",
            label=name,
        )
        drawn += 1
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title)
    from .plots import finish_png

    return finish_png(figure, axes, drawn)


def rd_plots(result: Mapping[str, Any]) -> dict[str, bytes]:
    """One R-D plot (PNG bytes) per modality of a :func:`run` result that has curves:
    ``{"inr_image.png": ..., "inr_audio.png": ..., ...}``."""
    from .plots import rd_plot

    out = {}
    image = result.get("image")
    if isinstance(image, Mapping) and "mean_curves" in image:
        crops = image["signals"]
        side = f"{crops[0]['height']}x{crops[0]['width']} crops" if crops else "crops"
        out["inr_image.png"] = rd_plot(
            image["mean_curves"], "psnr", dataset=f"images/eval, {side}",
            images=len(crops), anchor="jpeg",
        )  # fmt: skip
    specs = {
        "audio": ("kbps", "snr_db", "rate: kbit/s (whole file)", "SNR (dB)"),
        "protein": ("bits_per_atom", "rmsd_angstrom", "rate: bits per atom (whole file)",
                    "RMSD (Å)"),
        "video": ("bpp", "psnr_db", "rate: bits per pixel (whole file, all frames)",
                  "PSNR (dB)"),
    }  # fmt: skip
    for modality, (x, y, x_label, y_label) in specs.items():
        section = result.get(modality)
        if not (isinstance(section, Mapping) and "mean_curves" in section):
            continue
        curves = dict(section["mean_curves"])
        if modality == "audio":  # without the ~870-byte Ogg header (large on short clips)
            curves["opus (payload only)"] = [
                {**p, "kbps": p.get("payload_kbps")} for p in curves["opus"]
            ]
        if modality == "protein":  # the coordinates alone, comparable with uniform
            curves["inr (payload only)"] = [
                {**p, "bits_per_atom": p.get("payload_bits_per_atom")} for p in curves["inr"]
            ]
        count = len(section["signals"])
        out[f"inr_{modality}.png"] = _line_plot(
            curves, x, y, x_label=x_label, y_label=y_label,
            title=f"INR vs peers: {modality} ({count} signal{'s' if count != 1 else ''})",
        )  # fmt: skip
    return out
