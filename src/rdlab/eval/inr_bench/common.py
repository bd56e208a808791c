"""The skeleton every modality's INR benchmark shares: inputs, models, one coded INR point
and a curve of them, mean curves, BD-rate and the settings (:data:`DEFAULTS`,
:data:`CONVENTIONS`). The modality's own parts (rate keyword and unit, distortion, items)
come from its :class:`rdlab.inr.modalities.Modality`.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import math
import numbers
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ...codecs.inr import INRCodec, choose_model
from ...codecs.registry import get_codec_at, is_available
from ...errors import InputError, ModelError, RdlabError
from ...inr.modalities import get_modality
from ...inr.model_file import INRModel, bundled_inr_models, load_inr_model
from ...parallel import LOCAL, Engine, WorkerDiedError, map_unordered
from ..bd import _merge_sorted, _pchip_integral

__all__ = [
    "CONVENTIONS",
    "DEFAULTS",
    "QUALITY_KEYS",
    "Log",
    "Measure",
    "ProgressFn",
    "bd_rate_limited",
    "bd_summary",
    "center_crop",
    "check_positive",
    "check_settings",
    "finite",
    "input_files",
    "inr_curve",
    "inr_point",
    "interpolate_log_rate",
    "json_safe",
    "mean_curve",
    "model_source",
    "peer",
    "pick_model",
    "quiet",
    "rate_from_bits",
    "run_signals",
    "spread",
    "summary_markdown",
    "usable",
    "worker_models",
]

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
    "bd": "per-signal BD-rate (pchip) of INR against the peer, then the mean; images: "
    "PSNR, 'capped': range capped where either curve passes max_bpp, 'full': whole "
    "overlap; audio: SNR (dB) against Opus, 'file': whole-file kbit/s, 'payload': "
    "payload kbit/s; video: PSNR against per-frame coding, 'full'",
    "failures": "signals whose job raised an rdlab error or whose worker process died "
    "(path, one-line error): left out of the curves, BD-rates and targets",
    "seconds": "wall clock of one call, torch threads as set (torch_threads per worker; "
    "workers running at once share the machine)",
    "deterministic": "a second decode by a fresh codec object equals the first",
    "fit_seconds, code_seconds": "the encode time split by the codec's progress reports "
    "(approximate: the time since the previous report goes to the reporting stage; "
    "code_seconds includes building the candidate pool); "
    "fit_steps: fitting plus fine-tuning steps",
    "selection": "how the encoder picked each block's candidate: 'sample' (REC's noisy "
    "choice) or 'greedy' (largest log q/p; rdlab.rec.blockwise)",
}

Log = Callable[[str], None]
#: wraps the iterator of finished signals to show progress:
#: ``progress(iterable, description, total)``, e.g. :func:`rdlab.cli._output.progress`
ProgressFn = Callable[[Iterable[Any], str, int], Iterable[Any]]
#: adds fields to a coded INR point from the signal and its decoding
Measure = Callable[[dict[str, Any], Any, Any], None]


def quiet(message: str) -> None:
    """A :data:`Log` that drops every message."""


@functools.cache
def usable(name: str) -> bool:
    """Whether classical codec ``name`` works here (probed alone: not every codec)."""
    return is_available(name)


def peer(name: str, quality: float | None = None) -> Any:
    """Classical codec ``name`` at ``quality`` (the benchmark's peers)."""
    return get_codec_at(name, quality)


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


def input_files(folder: str, modality: str, what: str) -> list[str]:
    """The files of ``folder`` that ``modality`` reads (its suffixes), sorted; hidden
    files left out.

    Raises:
        InputError: ``folder`` is not a directory or holds no such file.
    """
    if not os.path.isdir(folder):
        raise InputError("data", f"{folder} is not a directory (no {what})")
    suffixes = get_modality(modality).suffixes
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
def _dir_model_paths(model_dir: str, modality: str) -> list[str]:
    paths = sorted(glob.glob(os.path.join(model_dir, f"inr-{modality}-*.safetensors")))
    if not paths:
        raise ModelError(f"no inr-{modality}-*.safetensors in {model_dir}")
    return [os.path.abspath(p) for p in paths]


def model_source(modality: str, rate: float, model_dir: str | None = None) -> str:
    """What :func:`~rdlab.inr.model_file.load_inr_model` takes to load the model
    :func:`pick_model` picks: an absolute file path (``model_dir``) or a bundled model's
    name. The benchmark's jobs carry this string, not the model (a model with a learned
    reparameterization is megabytes: ``inr-audio-1`` is 11 MB), and load it in the worker.

    Raises:
        ModelError: no model of ``modality`` in ``model_dir`` (or bundled).
    """
    if model_dir is None:
        chosen = choose_model(modality, rate)
        # choose_model returns one of the cached objects load_inr_model(name) gives
        names = bundled_inr_models(modality)
        return next((n for n in names if load_inr_model(n) is chosen), chosen.name)
    target = math.log(max(rate, 1e-9))
    return min(
        _dir_model_paths(model_dir, modality),
        key=lambda p: abs(
            math.log(float(load_inr_model(p).card.get("rate_per_item", 1.0))) - target
        ),
    )


def pick_model(modality: str, rate: float, model_dir: str | None = None) -> INRModel:
    """The model for ``modality`` whose training rate (card ``rate_per_item``) is closest
    to ``rate`` in log scale: from ``model_dir`` (files ``inr-<modality>-*.safetensors``)
    or, without it, the bundled ones (:func:`rdlab.codecs.inr.choose_model`)."""
    return load_inr_model(model_source(modality, rate, model_dir))


def load_models(sources: Sequence[str]) -> None:
    """A worker's set-up: load each model of ``sources`` (:func:`model_source` strings)
    once into :func:`~rdlab.inr.model_file.load_inr_model`'s cache."""
    for source in sources:
        load_inr_model(source)


def worker_models(sources: Mapping[float, str]) -> dict[float, INRModel]:
    """The models of a job, ``{rate: model}``, from their :func:`model_source` strings
    (cached: loaded once per worker process)."""
    return {rate: load_inr_model(source) for rate, source in sources.items()}


def check_settings(modality: str, models: Mapping[float, INRModel], fit: Mapping[str, Any]) -> None:
    """Refuse, before any signal is coded, what the INR codec would refuse for every
    signal: a target rate (the keys of ``models``) that is not a finite number > 0, and
    bad ``fit`` options (``steps`` >= 1, ``fine_tune_steps`` >= 0, ``seed`` in
    0..2^32-1; :class:`~rdlab.codecs.inr.INRCodec`).

    Raises:
        InputError: on the option's name.
    """
    key = get_modality(modality).rate_keyword
    if not models:
        raise InputError(key, "give at least one target rate")
    for rate, model in models.items():
        INRCodec(model, modality=modality, **fit, **{key: rate})


def check_positive(name: str, values: Any, *, integer: bool = False) -> None:
    """Refuse a setting that is not a finite number > 0 (or an integer >= 1), or a list
    holding one.

    Raises:
        InputError: on argument ``name``.
    """
    for value in values if isinstance(values, (list, tuple)) else (values,):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            bad = True
        elif integer:
            bad = not isinstance(value, numbers.Integral) or value < 1
        else:
            bad = not (math.isfinite(value) and value > 0)
        if bad:
            rule = "an integer >= 1" if integer else "a finite number > 0"
            raise InputError(name, f"must be {rule}, got {value!r}")


# ------------------------------------------------------------------------------ points
def rate_from_bits(modality: str, bits: float, items: float) -> float:
    """Bits in the modality's rate unit: per pixel or atom, or kbit/s (items: seconds)."""
    return get_modality(modality).rate(bits, items)


def _arrays(signal: Any) -> list[np.ndarray]:
    """A signal's fields as arrays (a dataclass's fields, else the array itself)."""
    if dataclasses.is_dataclass(signal):
        return [np.asarray(getattr(signal, f.name)) for f in dataclasses.fields(signal)]
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
    measure: Measure | None = None,
) -> dict[str, Any]:
    """Code ``signal`` once with the INR codec at target ``rate`` (the modality's unit)
    and measure it (see :mod:`rdlab.eval.inr_bench`); ``measure`` adds fields to a point
    that did not fail (the image benchmark: the classical points' quality keys)."""
    kind = get_modality(modality)
    key = kind.rate_keyword
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
    items = kind.items(signal)
    point.update(
        {
            "bytes": len(data),
            key: kind.rate(8 * len(data), items),
            f"payload_{key}": kind.rate(report["payload_bits"], items),
            "payload_bits": int(report["payload_bits"]),
            "blocks": int(report["blocks"]),
            "items": float(items),
            **kind.distortion(signal, decoded),
            "encode_seconds": encode_seconds,
            "decode_seconds": decode_seconds,
            "fit_steps": int(stages["fit_steps"]),
            "selection": report["selection"],
            "fit_seconds": stages["fit"],
            "code_seconds": stages["code"] + stages.get("candidates", 0.0),
            "deterministic": _same(decoded, again),
        }
    )
    if measure is not None:
        measure(point, signal, decoded)
    return point


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


def inr_curve(
    signal: Any,
    modality: str,
    rates: Sequence[float],
    models: Mapping[float, INRModel],
    fit: Mapping[str, Any],
    label: str,
    log: Log,
    *,
    measure: Measure | None = None,
) -> list[dict[str, Any]]:
    """:func:`inr_point` of ``signal`` at each target rate, logged as each arrives.

    ``fit`` holds the fitting options (``steps``, ``fine_tune_steps``, ``seed``);
    ``measure`` adds fields to each point that did not fail.
    """
    kind = get_modality(modality)
    points = []
    for rate in rates:
        point = inr_point(signal, modality, rate, model=models[rate], measure=measure, **fit)
        points.append(point)
        brief = _brief(point, kind.rate_keyword)
        log(f"{label}: inr {rate:g} {kind.rate_unit}: {brief}")
    return points


# ------------------------------------------------------------------------------ signals
#: one signal's work, in a worker: ``work(job, log) -> record`` (a module-level function)
SignalWork = Callable[[Mapping[str, Any], Log], dict[str, Any]]


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def signal_job(work: SignalWork, job: Mapping[str, Any]) -> tuple[str, Any, list[str]]:
    """Run ``work(job, log)`` for one signal (in a worker): ``("ok", record, messages)``
    or, when it raises an :class:`~rdlab.errors.RdlabError` (a file that cannot be read,
    a model that does not fit it), ``("error", "Type: message", messages)``. ``messages``
    are what ``work`` logged; ``job["live"]``, when set, also gets each as it comes (the
    caller's log, for a job run in the caller's process)."""
    messages: list[str] = []
    live = job.get("live")

    def log(message: str) -> None:
        messages.append(message)
        if live is not None:
            live(message)

    try:
        return "ok", work(job, log), messages
    except RdlabError as exc:
        return "error", _one_line(exc), messages


def run_signals(
    work: SignalWork,
    jobs: Sequence[dict[str, Any]],
    *,
    models: Iterable[str] = (),
    description: str = "benchmarking",
    log: Log = quiet,
    progress: ProgressFn | None = None,
    engine: Engine = LOCAL,
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """``work`` on every job (one signal each) through :func:`rdlab.parallel.map_unordered`;
    the records of the signals that worked and the failures, each in job order whatever
    the engine and worker count.

    Args:
        work: a module-level function ``work(job, log) -> record``.
        jobs: small picklable dicts (paths, settings, model sources: no arrays, no
            models), each with ``path`` and ``label`` (for the log).
        models: :func:`model_source` strings each worker loads once before its first job.
        description: the progress bar's text.
        log: gets every message of the jobs: as they come when the jobs run in this
            process (one local worker), else each job's together when it finishes.
        progress: ``progress(iterable, description, total)`` around the finished jobs.
        engine: where the jobs run (:class:`rdlab.parallel.Engine`).

    Returns:
        ``(records, failures)``; a failure is ``{"path", "error"}`` (one line): the job
        raised an :class:`~rdlab.errors.RdlabError` or its worker died.

    Raises:
        InputError: Ray asked for and not installed.
    """
    # one local worker runs the jobs in this process (nothing is pickled): the log can
    # go along and show each INR point as it is coded
    here = engine.workers == 1 and engine.kind == "local"
    items = [{**job, "live": log if here else None} for job in jobs]
    done = map_unordered(
        functools.partial(signal_job, work),
        items,
        init=load_models,
        init_args=(tuple(dict.fromkeys(models)),),
        engine=engine,
    )
    outcomes: dict[int, tuple[str, Any]] = {}
    for index, result in (progress or _through)(done, description, len(items)):
        if isinstance(result, WorkerDiedError):
            result = ("error", _one_line(result), [])
        status, value, messages = result
        if not here:
            for message in messages:
                log(message)
        if status == "error":
            log(f"{jobs[index]['label']}: failed: {value}")
        outcomes[index] = (status, value)
    ordered = [(i, *outcomes[i]) for i in sorted(outcomes)]
    records = [value for _, status, value in ordered if status == "ok"]
    failures = [
        {"path": str(jobs[i]["path"]), "error": value}
        for i, status, value in ordered
        if status == "error"
    ]
    return records, failures


def _through(items: Iterable[Any], description: str, total: int) -> Iterable[Any]:
    """No progress display."""
    return items


def finite(value: float | None) -> float | None:
    """``value`` as a float, None where it is None or not finite."""
    return float(value) if value is not None and math.isfinite(value) else None


def json_safe(value: Any) -> Any:
    """Infinite and NaN floats as None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
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
                finite_values = [float(v) for v in values if math.isfinite(v)]
                entry[key] = float(np.mean(finite_values)) if finite_values else None
        if "model" in points[0]:
            entry["model"] = points[0]["model"]
        out.append(entry)
    return out


def interpolate_log_rate(
    points: Sequence[Mapping[str, Any]], rate_key: str, value_key: str, at: float
) -> float | None:
    """``value_key`` at rate ``at``, linear in log rate between the nearest points below
    and above it (points with ``error`` left out); None where no point lies on one side."""
    usable_points = sorted(
        (float(p[rate_key]), float(p[value_key]))
        for p in points
        if "error" not in p and p.get(rate_key) is not None and p.get(value_key) is not None
    )
    below = [(r, v) for r, v in usable_points if r <= at]
    above = [(r, v) for r, v in usable_points if r >= at]
    if not below or not above or at <= 0:
        return None
    (r0, v0), (r1, v1) = below[-1], above[0]
    if r1 == r0:
        return v0
    t = (math.log(at) - math.log(r0)) / (math.log(r1) - math.log(r0))
    return v0 + t * (v1 - v0)


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


def bd_summary(
    records: Sequence[Mapping[str, Any]],
    anchor: str,
    rate_key: str,
    quality_key: str,
    max_rate: float | None,
) -> dict[str, Any]:
    """:func:`bd_rate_limited` of INR against ``anchor`` for each record's curves, and
    their mean over the signals where it could be computed."""
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


# ------------------------------------------------------------------------------ report
#: the quality each modality's tables show (higher is better, except RMSD)
QUALITY_KEYS = {"image": "psnr", "audio": "snr_db", "protein": "rmsd_angstrom", "video": "psnr_db"}


def _cell(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a" if value is None else str(value)
    return f"{value:.{digits}g}" if math.isfinite(value) else "n/a"


def summary_markdown(section: Mapping[str, Any], modality: str, title: str) -> str:
    """A markdown report of one modality's section: the mean curves (target, rate, the
    payload's rate, quality, how many signals), the BD-rates of INR against its peers
    (where the section has them) and the failures."""
    if "error" in section:
        return f"# {title}\n\nerror: {section['error']}\n"
    rate = get_modality(modality).rate_keyword
    quality = QUALITY_KEYS[modality]
    signals, failures = section.get("signals", []), section.get("failures", [])
    lines = [
        f"# {title}",
        "",
        f"{len(signals)} signals coded, {len(failures)} failed. Means over the signals at "
        f"each target (a point that failed is left out: see `signals`). Rate "
        f"`{rate}`: the whole file; `payload_{rate}`: the coded data alone.",
        "",
        f"| codec | target | {rate} | payload_{rate} | {quality} | signals |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for codec, points in section.get("mean_curves", {}).items():
        for point in points:
            cells = [point.get(k) for k in ("target", rate, f"payload_{rate}", quality)]
            if "error" in point:
                cells[1] = f"error: {point['error']}".replace("|", "/")
            lines.append(
                f"| {codec} | {' | '.join(_cell(c) for c in cells)} | {point.get('signals')} |"
            )
    bd = section.get("bd_vs_peers") or {}
    if bd:
        lines += [
            "",
            f"## BD-rate of INR against its peers ({quality}, pchip, per signal then the "
            "mean; negative: INR needs fewer bits)",
            "",
            "| peer | range | BD-rate (%) | signals | why none |",
            "| --- | --- | ---: | ---: | --- |",
        ]
        for peer_name, parts in bd.items():
            for part, entry in parts.items():
                value = entry.get("bd_rate")
                shown = "n/a" if value is None else f"{value:+.2f}"
                why = (entry.get("reason") or "").replace("|", "/")
                lines.append(f"| {peer_name} | {part} | {shown} | {entry['signals']} | {why} |")
    if failures:
        lines += ["", "## Failures", ""]
        lines += [f"- `{f['path']}`: {f['error']}" for f in failures]
    return "\n".join(lines) + "\n"
