"""Rate-distortion benchmark of image codecs on a folder of images.

The codecs are those of the codec registry that code images and have a default quality
sweep (:func:`rdlab.codecs.registry.bench_codecs`): the classical codecs and rdlab's
presets ``rdlab``, ``rdlab-e8``, ``rdlab-refine``, or any codec registered so.
:func:`evaluate_images` codes every image of a folder with every codec at every quality
of its sweep and measures, per image and operating point:

- ``bytes``: the size of the whole file the codec writes (what a user would store), and
  ``bpp = 8 * bytes / (H * W)`` (bits per *pixel*, the whole file);
- ``payload_bytes`` / ``payload_bpp``: the compressed image data without the file
  format's wrapper (:func:`rdlab.codecs.classical.payload_bytes`: JP2 ``jp2c`` box,
  AVIF/HEIC ``mdat``, WebP ``VP8`` chunk; JPEG and bare JPEG XL codestreams have no
  wrapper, so there it equals ``bytes``). R-D curves and BD-rates use the whole file;
- ``psnr`` (RGB, 8-bit), ``psnr_y`` (BT.601 Y′), ``ms_ssim`` and ``ms_ssim_db``
  (``-10 log10(1 - MS-SSIM)``) from :mod:`rdlab.metrics`. MS-SSIM needs both sides
  >= 161 pixels (5 scales, 11-tap window): smaller images get ``null`` for both;
- ``encode_seconds`` / ``decode_seconds``: wall-clock time of one call each (libavif
  and libjxl use several threads by default; nothing is repeated or warmed up).

Inputs (files of the folder, sorted by name; sub-folders and dot-files are ignored):
8-bit RGB is used as is; greyscale (and 1-bit) is **expanded to RGB by replicating the
channel**, so every codec codes three equal channels and every metric is the RGB one;
RGBA/LA with full opacity drops alpha (as :func:`rdlab.data.read_image` does);
**translucent RGBA/LA/PA is composited on white** (alpha-blended, rounded to 8 bits) and
noted in the image's ``conversion`` field. Files that cannot be read as 8-bit images
(broken files, 16-bit, CMYK, non-images) are listed in ``skipped`` with the reason. The
folder is only read: nothing in it is modified or created.

Summaries:

- ``mean_curves``: per codec and quality index, the mean over images of bpp, quality
  (PSNR, PSNR-Y, MS-SSIM, MS-SSIM dB: the mean of per-image dB values) and timings;
- ``bd``: Bjøntegaard deltas of each codec against the anchor (the anchor against itself
  gives 0), for quality = PSNR and MS-SSIM dB, each with ``pchip`` (JVET CTC) and
  ``cubic`` (VCEG-M33). Following the JVET convention, BD-rate is **computed per image
  and then averaged** (arithmetic mean of the per-image percentages); per-image values
  are kept, and an image whose curves do not overlap is left out of the mean (counted in
  ``images`` and explained in ``failures``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
from PIL import Image

from ..codecs.classical import canonical_name, chroma_subsampling, library_versions, payload_bytes
from ..codecs.registry import QualityRange, codec_spec, get_codec_at, is_available
from ..codecs.registry import unavailable_reason as _requires
from ..data.images import read_image
from ..errors import InputError, RdlabError
from ..metrics import bits_per_pixel, ms_ssim, ms_ssim_db, psnr, psnr_y
from ..parallel import LOCAL, Engine, WorkerDiedError, map_unordered
from .bd import bd_psnr, bd_rate

T = TypeVar("T")

DEFAULT_CODECS = ("jpeg", "webp", "jpeg2000", "avif", "heic", "jxl")
"""What :func:`evaluate_images` sweeps by default: the classical codecs (``rdlab bench
images`` adds rdlab's own, :func:`rdlab.codecs.registry.bench_codecs`)."""
METRICS = ("psnr", "ms_ssim_db")
BD_METHODS = ("pchip", "cubic")
MS_SSIM_MIN_SIDE = 161
ProgressFn = Callable[[Iterable[Any], str, int], Iterable[Any]]

CONVENTIONS = {
    "bpp": "8 * (bytes of the whole file) / (H * W); bits per pixel, not per sample",
    "payload_bpp": "the same with the compressed data only (JP2 jp2c box, AVIF/HEIC mdat, "
    "WebP VP8 chunk); JPEG and bare JPEG XL codestreams have no wrapper, so it equals bpp",
    "psnr": "RGB PSNR on 0..255 (dB)",
    "psnr_y": "PSNR of BT.601 Y' (dB)",
    "ms_ssim_db": "-10 log10(1 - MS-SSIM); null for images with a side < 161 px",
    "mean_curves": "arithmetic means over images at each quality index",
    "bd": "per-image Bjøntegaard delta against the anchor, then the arithmetic mean over "
    "images (JVET convention); rate = whole-file bpp; negative BD-rate = fewer bits",
    "greyscale": "replicated to RGB before coding",
    "translucent_alpha": "composited on white",
    "timing": "wall-clock seconds of one encode and one decode call (library threads "
    "as the codec's default)",
}


def _no_progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    yield from items


# ------------------------------------------------------------------------------- input
def load_rgb(path: str | os.PathLike[str]) -> tuple[np.ndarray, str]:
    """An image file as ``(H, W, 3)`` uint8 plus a note on the conversion applied
    (``"none"``, ``"grey replicated to RGB"``, ``"translucent alpha composited on
    white"``); :class:`~rdlab.errors.InputError` when it cannot be read as 8-bit."""
    try:
        image = read_image(path)
        note = "none"
    except InputError as exc:
        if "transparent" not in str(exc):
            raise
        image, note = _composite_on_white(os.fspath(path)), "translucent alpha composited on white"
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
        note = "grey replicated to RGB" if note == "none" else note
    return np.ascontiguousarray(image), note


def _composite_on_white(path: str) -> np.ndarray:
    with Image.open(path) as image:
        image.load()
        rgba = image.convert("RGBA")
    array = np.asarray(rgba, dtype=np.float64)
    alpha = array[..., 3:4] / 255.0
    out = array[..., :3] * alpha + 255.0 * (1.0 - alpha)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def list_files(directory: str | os.PathLike[str]) -> list[str]:
    """Regular files of ``directory`` (not dot-files, not sub-folders), sorted by name."""
    folder = os.fspath(directory)
    if not os.path.isdir(folder):
        raise InputError("directory", f"{folder} is not a directory")
    names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
    return [os.path.join(folder, n) for n in names if os.path.isfile(os.path.join(folder, n))]


# ------------------------------------------------------------------------------ codecs
def resolve_qualities(
    codecs: Sequence[str], qualities: Mapping[str, Sequence[float]] | Sequence[float] | None
) -> dict[str, list[float]]:
    """The quality sweep of each codec: its registry entry's default sweep unless given;
    a mapping names codecs (aliases allowed), a plain sequence applies to every codec.

    Raises:
        InputError: an empty sweep, or a value outside the codec's range.
    """
    out = {name: list(_scale(name).sweep) for name in codecs}
    if qualities is None:
        return out
    if isinstance(qualities, Mapping):
        for key, values in qualities.items():
            name = canonical_name(key)
            if name in out:
                out[name] = [float(v) for v in values]
    else:
        out = {name: [float(v) for v in qualities] for name in codecs}
    for name, values in out.items():
        if not values:
            raise InputError("qualities", f"{name}: no quality values")
        for v in values:
            _scale(name).check(v, name)
    return out


def _scale(name: str) -> QualityRange:
    """The quality range of benchmark codec ``name`` (it has one: see ``bench_codecs``)."""
    scale = codec_spec(canonical_name(name)).quality
    if scale is None:  # pragma: no cover - canonical_name admits only codecs with one
        raise InputError("codecs", f"{name} has no quality parameter")
    return scale


def _json_number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _code_point(
    codec: Any,
    image: np.ndarray,
    with_ms_ssim: bool,
    quality: float | None = None,
    *,
    decode_twice: bool = False,
) -> dict[str, Any]:
    """One operating point: ``codec`` (made at ``quality``; None: its ``quality``
    attribute) on ``image``, timed and measured (see the module doc); ``decode_twice``
    adds ``decodes_twice_the_same`` (a second decode gives the same pixels)."""
    height, width = image.shape[:2]
    start = time.perf_counter()
    data = codec.encode(image)
    encode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    decoded = codec.decode(data)
    decode_seconds = time.perf_counter() - start
    twice = {}
    if decode_twice:
        twice["decodes_twice_the_same"] = bool(np.array_equal(codec.decode(data), decoded))
    if decoded.ndim == 2:
        decoded = np.repeat(decoded[..., None], 3, axis=2)
    size, payload = len(data), payload_bytes(codec.name, data)
    quality_ms = ms_ssim(image, decoded) if with_ms_ssim else None
    return {
        "quality": codec.quality if quality is None else quality,
        "bytes": size,
        "bpp": bits_per_pixel(size, height, width),
        "payload_bytes": payload,
        "payload_bpp": bits_per_pixel(payload, height, width),
        "psnr": _json_number(psnr(image, decoded)),
        "psnr_y": _json_number(psnr_y(image, decoded)),
        "ms_ssim": quality_ms,
        "ms_ssim_db": None if quality_ms is None else _json_number(ms_ssim_db(quality_ms)),
        "encode_seconds": encode_seconds,
        "decode_seconds": decode_seconds,
        **twice,
    }


def _sweep_job(job: tuple[str, str, tuple[float, ...]]) -> tuple[str, Any]:
    """One unit of benchmark work (in a worker): codec ``name`` at each quality on the
    image at ``path``; ``("ok", points)`` or ``("error", "Type: message")`` (one codec
    failing on one image must not end the run)."""
    path, name, qualities = job
    try:
        image, _ = load_rgb(path)
        with_ms = min(image.shape[:2]) >= MS_SSIM_MIN_SIDE
        return "ok", [
            _code_point(get_codec_at(name, quality), image, with_ms, quality)
            for quality in qualities
        ]
    except Exception as exc:
        return "error", f"{type(exc).__name__}: {exc}"


# ---------------------------------------------------------------------------- the run
def evaluate_images(
    directory: str | os.PathLike[str],
    codecs: Sequence[str] = DEFAULT_CODECS,
    qualities: Mapping[str, Sequence[float]] | Sequence[float] | None = None,
    anchor: str = "jpeg",
    progress: ProgressFn | None = None,
    limit: int | None = None,
    *,
    engine: Engine = LOCAL,
) -> dict[str, Any]:
    """Benchmark ``codecs`` on every image in ``directory``; a JSON-ready dict.

    ``codecs``: benchmark codec names or aliases (:func:`rdlab.codecs.registry.bench_codecs`;
    the anchor is added if missing);
    ``qualities``: per-codec sweeps (see :func:`resolve_qualities`); ``anchor``: the
    codec BD-rates are measured against; ``progress``: a wrapper
    ``progress(iterable, description, total)`` such as :func:`rdlab.cli._output.progress`;
    ``limit``: use only the first ``limit`` readable images. Unavailable codecs are listed
    under ``unavailable`` (with the reason) and left out; unreadable files under
    ``skipped``; an image on which a codec raises is listed under ``failures`` and left
    out of every curve (so all codecs are compared on the same images).

    The unit of work is one codec's sweep on one image, run by :mod:`rdlab.parallel`:
    ``engine`` (:class:`rdlab.parallel.Engine`: local processes, 1 being this process,
    or Ray actors, each with its PyTorch threads). Results do not depend on the engine
    or the worker count, except the timings (workers share the machine).
    Keys: ``dataset, anchor, codecs, unavailable, skipped, failures, images,
    mean_curves, bd, conventions, versions, seconds``.
    """
    started = time.perf_counter()
    wrap = progress or _no_progress
    names = list(dict.fromkeys(canonical_name(c) for c in codecs))
    anchor_name = canonical_name(anchor)
    if anchor_name not in names:
        names.insert(0, anchor_name)
    if limit is not None and int(limit) < 1:
        raise InputError("limit", f"must be a positive integer, got {limit}")
    sweeps = resolve_qualities(names, qualities)
    usable = [n for n in names if is_available(n)]
    unavailable = {n: _requires(n) for n in names if n not in usable}

    files = list_files(directory)
    loaded: list[tuple[str, np.ndarray, str]] = []
    skipped: list[dict[str, str]] = []
    for path in files:
        if limit is not None and len(loaded) >= int(limit):
            break
        try:
            image, note = load_rgb(path)
        except RdlabError as exc:
            skipped.append({"path": path, "reason": str(exc)})
            continue
        loaded.append((path, image, note))

    records: list[dict[str, Any]] = []
    pairs = [(i, name) for i in range(len(loaded)) for name in usable]
    jobs = [(loaded[i][0], name, tuple(sweeps[name])) for i, name in pairs]
    results: dict[tuple[int, str], list[dict[str, Any]]] = {}
    errors: dict[int, dict[str, str]] = {}  # a codec that fails on an image drops the image
    done = map_unordered(_sweep_job, jobs, engine=engine)
    for job, result in wrap(done, "benchmarking", len(jobs)):
        index, name = pairs[job]
        died = isinstance(result, WorkerDiedError)
        status, value = ("error", f"WorkerDiedError: {result}") if died else result
        if status == "ok":
            results[(index, name)] = value
        else:
            errors[job] = {"path": loaded[index][0], "codec": name, "error": value}
    failures = [errors[job] for job in sorted(errors)]  # in plan order, whatever the engine
    failed = {pairs[job][0] for job in errors}
    for index, (path, image, note) in enumerate(loaded):
        if index in failed:
            continue
        small = min(image.shape[:2]) < MS_SSIM_MIN_SIDE
        records.append(
            {
                "file": os.path.basename(path),
                "path": path,
                "height": int(image.shape[0]),
                "width": int(image.shape[1]),
                "conversion": note,
                "ms_ssim": "skipped: a side is < 161 px" if small else "computed",
                "results": {name: results[(index, name)] for name in usable},
            }
        )

    codec_info = {
        name: _codec_info(name, sweeps[name], name in usable, loaded[0][1] if loaded else None)
        for name in names
    }

    directory_name = os.path.basename(os.path.normpath(os.fspath(directory)))
    return {
        "dataset": {
            "directory": os.fspath(directory),
            "name": directory_name,
            "images": len(records),
            "files": len(files),
        },
        "anchor": anchor_name,
        "codecs": codec_info,
        "unavailable": unavailable,
        "skipped": skipped,
        "failures": failures,
        "images": records,
        "mean_curves": mean_curves(records, usable),
        "bd": bd_table(records, usable, anchor_name),
        "conventions": CONVENTIONS,
        "versions": library_versions(),
        "seconds": time.perf_counter() - started,
    }


def _codec_info(
    name: str, sweep: list[float], usable: bool, image: np.ndarray | None
) -> dict[str, Any]:
    """What the results say about codec ``name``: its registry entry, the encoder
    options at the first quality, and the chroma sampling read back from a real file of
    ``image`` (classical codecs that work here; else None)."""
    spec = codec_spec(name)
    scale = _scale(name)
    codec = get_codec_at(name, sweep[0])
    options = getattr(codec, "options", None)
    return {
        "available": usable,
        "description": spec.description,
        "version": codec.version,
        "writes": spec.writes,
        "qualities": sweep,
        "quality_scale": f"{scale.keyword}: {scale.meaning}",
        "options_rgb": _jsonable(
            options(np.zeros((8, 8, 3), np.uint8))
            if callable(options)
            else {**spec.options, scale.keyword: sweep[0]}
        ),
        "chroma": (
            chroma_subsampling(name, get_codec_at(name, sweep[-1]).encode(image))
            if usable and image is not None and spec.writes != "rdl"
            else None
        ),
    }


def _jsonable(options: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}


def _mean(values: Iterable[float | None]) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(kept)) if kept else None


def mean_curves(records: Sequence[dict[str, Any]], codecs: Sequence[str]) -> dict[str, Any]:
    """Per codec, one point per quality index: means over the images (see module doc)."""
    keys = ("bpp", "payload_bpp", "psnr", "psnr_y", "ms_ssim", "ms_ssim_db")
    out: dict[str, Any] = {}
    for name in codecs:
        rows = [r["results"][name] for r in records if name in r["results"]]
        if not rows:
            out[name] = []
            continue
        curve = []
        for k in range(len(rows[0])):
            points = [row[k] for row in rows]
            entry: dict[str, Any] = {"quality": points[0]["quality"], "images": len(points)}
            for key in keys:
                entry[key] = _mean(p[key] for p in points)
            entry["encode_seconds"] = _mean(p["encode_seconds"] for p in points)
            entry["decode_seconds"] = _mean(p["decode_seconds"] for p in points)
            curve.append(entry)
        out[name] = curve
    return out


def _curve(points: Sequence[dict[str, Any]], metric: str) -> tuple[list[float], list[float]]:
    kept = [(p["bpp"], p[metric]) for p in points if p.get(metric) is not None and p["bpp"] > 0]
    kept = [(r, q) for r, q in kept if math.isfinite(q)]
    return [r for r, _ in kept], [q for _, q in kept]


def bd_table(
    records: Sequence[dict[str, Any]], codecs: Sequence[str], anchor: str
) -> dict[str, Any]:
    """BD-rate (%) and BD-quality (dB) of every codec against ``anchor``: per image, then
    the mean over images where it could be computed. Empty when the anchor was not run."""
    out: dict[str, Any] = {}
    if anchor not in codecs:
        return out
    for name in codecs:
        by_metric: dict[str, Any] = {}
        for metric in METRICS:
            by_method: dict[str, Any] = {}
            for method in BD_METHODS:
                rates, qualities, failures = [], [], []
                per_image = []
                for record in records:
                    ra, qa = _curve(record["results"][anchor], metric)
                    rt, qt = _curve(record["results"][name], metric)
                    if not qa or not qt:
                        per_image.append({"file": record["file"], "bd_rate": None})
                        continue  # metric not computed (small image for MS-SSIM)
                    try:
                        rate = bd_rate(ra, qa, rt, qt, method=method)
                        delta = bd_psnr(ra, qa, rt, qt, method=method)
                    except RdlabError as exc:
                        failures.append({"file": record["file"], "reason": str(exc)})
                        per_image.append({"file": record["file"], "bd_rate": None})
                        continue
                    rates.append(rate)
                    qualities.append(delta)
                    per_image.append({"file": record["file"], "bd_rate": rate, "bd_quality": delta})
                by_method[method] = {
                    "bd_rate": _mean(rates),
                    "bd_quality": _mean(qualities),
                    "images": len(rates),
                    "failures": failures,
                    "per_image": per_image,
                }
            by_metric[metric] = by_method
        out[name] = by_metric
    return out


# --------------------------------------------------------------------------- reporting
def summary_of(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` without the per-image records (what ``summary.json`` holds)."""
    return {k: v for k, v in result.items() if k != "images"}


def per_image_of(result: dict[str, Any]) -> dict[str, Any]:
    """The per-image part of ``result`` (what ``per_image.json`` holds)."""
    keys = ("dataset", "anchor", "conventions", "skipped", "images")
    return {k: result[k] for k in keys}


def _fmt(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:+.2f}{unit}"


def bd_markdown(result: dict[str, Any]) -> str:
    """A markdown table: codec x BD-rate (PSNR, MS-SSIM dB; pchip, cubic) vs the anchor."""
    anchor = result["anchor"]
    data = result["dataset"]
    lines = [
        f"# BD-rate against {anchor} on {data['name']} ({data['images']} images)",
        "",
        "Rate: whole-file bits per pixel. BD-rate computed per image, then averaged over "
        "images (JVET convention); negative = fewer bits than the anchor at equal quality. "
        "BD-PSNR: mean PSNR gain at equal rate.",
        "",
        "| codec | BD-rate PSNR (pchip) | BD-rate PSNR (cubic) | BD-rate MS-SSIM dB (pchip) "
        "| BD-rate MS-SSIM dB (cubic) | BD-PSNR (pchip) | images |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, by_metric in result["bd"].items():
        p, m = by_metric["psnr"], by_metric["ms_ssim_db"]
        lines.append(
            f"| {name} | {_fmt(p['pchip']['bd_rate'], ' %')} | {_fmt(p['cubic']['bd_rate'], ' %')}"
            f" | {_fmt(m['pchip']['bd_rate'], ' %')} | {_fmt(m['cubic']['bd_rate'], ' %')}"
            f" | {_fmt(p['pchip']['bd_quality'], ' dB')} | {p['pchip']['images']} |"
        )
    if not result["bd"]:
        lines.append(f"| (anchor {anchor} unavailable: no BD-rates) | | | | | | |")
    if result["unavailable"]:
        lines += ["", "Unavailable codecs: "]
        lines += [f"- {name}: {why}" for name, why in result["unavailable"].items()]
    if result["skipped"]:
        lines += ["", "Skipped files:"]
        lines += [f"- {s['path']}: {s['reason']}" for s in result["skipped"]]
    return "\n".join(lines) + "\n"
