"""``rdlab bench images DIR --out OUT``: rate-distortion benchmark of rdlab's learned codec
against the classical codecs.

Writes into OUT (created if missing; never DIR itself or a folder inside it):
``per_image.json``, ``summary.json``, ``bd_rate.md``, ``rd_psnr.png``, ``rd_msssim.png``,
each atomically; existing outputs are replaced only with ``--force``. Unavailable codecs
are reported, not fatal. ``--json`` prints the summary; text mode prints the BD table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from typing import Any

from .._files import write_atomic
from ..codecs.registry import bench_codecs, codec_spec
from ..errors import InputError
from ._engine import add_engine_arguments, engine_settings
from ._output import emit, progress
from .threads_help import add_threads_argument

OUTPUTS = ("per_image.json", "summary.json", "bd_rate.md", "rd_psnr.png", "rd_msssim.png")
#: The registry's default benchmark codecs: rdlab's learned codec (bundled default
#: model) first, then the classical codecs.
DEFAULT_CODECS = ",".join(bench_codecs(default_only=True))


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "bench", help="benchmarks (rate-distortion of rdlab against classical codecs)"
    )
    parser.set_defaults(run=_no_target)
    targets = parser.add_subparsers(dest="bench_target", metavar="TARGET")
    images = targets.add_parser(
        "images",
        help="R-D sweep of rdlab, JPEG, WebP, JPEG 2000, AVIF, HEIC and JPEG XL over a "
        "folder of images",
        description="Code every image in DIR with every codec at every quality; write "
        "per-image and mean results, BD-rates against the anchor and R-D plots into OUT.",
    )
    images.add_argument("directory", metavar="DIR", help="folder of images (only read)")
    others = [name for name in bench_codecs() if name not in DEFAULT_CODECS.split(",")]
    aliases = [alias for name in bench_codecs() for alias in codec_spec(name).aliases]
    images.add_argument(
        "--codecs",
        default=DEFAULT_CODECS,
        help=f"comma-separated codec names (default: {DEFAULT_CODECS}; also "
        f"{', '.join(others)}; aliases {', '.join(aliases)})",
    )
    images.add_argument("--out", required=True, metavar="OUT", help="output folder")
    images.add_argument("--anchor", default="jpeg", help="BD-rate anchor codec (default: jpeg)")
    images.add_argument(
        "--qualities",
        action="append",
        default=[],
        metavar="CODEC=Q1,Q2,...",
        help="quality sweep of one codec on its own scale (repeatable), e.g. "
        "--qualities jpeg=10,50,90 --qualities jpeg2000=0.25,1.0 (jpeg2000: target bpp)",
    )
    images.add_argument("--limit", type=int, help="use only the first N readable images")
    images.add_argument("-f", "--force", action="store_true", help="replace existing outputs")
    images.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_threads_argument(images)
    add_engine_arguments(
        images,
        "run the sweeps (one codec on one image each) on N worker processes (default 1), "
        "each with --threads or cores // N threads; results are the same, timings are "
        "those of a shared machine",
    )
    images.set_defaults(run=run)


def _no_target(args: argparse.Namespace) -> int:
    raise InputError("bench", "choose what to benchmark: 'rdlab bench images DIR --out OUT'")


def _parse_qualities(specs: list[str]) -> dict[str, list[float]] | None:
    if not specs:
        return None
    out: dict[str, list[float]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        if not sep or not name.strip():
            raise InputError("qualities", f"expected CODEC=Q1,Q2,..., got {spec!r}")
        try:
            out[name.strip()] = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise InputError("qualities", f"{spec!r}: values must be numbers") from None
    return out


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _dumps(value: Any) -> bytes:
    return (json.dumps(_json_safe(value), indent=2, allow_nan=False) + "\n").encode("utf-8")


def run(args: argparse.Namespace) -> int:
    from .._threads import apply_threads, check_threads
    from ..eval.image_bench import bd_markdown, evaluate_images, per_image_of, summary_of
    from ..eval.plots import bench_plots

    directory, out = args.directory, args.out
    if not os.path.isdir(directory):
        raise InputError("directory", f"{directory} is not a directory")
    if _inside(out, directory):
        raise InputError(
            "out", f"{out} is (inside) the input folder {directory}; choose another folder"
        )
    if os.path.exists(out) and not os.path.isdir(out):
        raise InputError("out", f"{out} exists and is not a folder")
    targets = {name: os.path.join(out, name) for name in OUTPUTS}
    if not args.force:
        existing = [p for p in targets.values() if os.path.lexists(p)]
        if existing:
            raise InputError(
                "output", f"{', '.join(existing)} exist(s) (use --force to replace them)"
            )
    codecs = [c for c in args.codecs.split(",") if c.strip()]
    if not codecs:
        raise InputError("codecs", "no codec named")
    if args.limit is not None and args.limit < 1:
        raise InputError("limit", f"must be a positive integer, got {args.limit}")
    qualities = _parse_qualities(args.qualities)
    engine = engine_settings(args)
    if engine["workers"] == 1 and engine["engine"] == "local":
        apply_threads(args.threads)  # rdlab's codecs run PyTorch here
    else:
        check_threads(args.threads)  # each worker sets its own

    result = evaluate_images(
        directory,
        codecs,
        qualities=qualities,
        anchor=args.anchor,
        progress=progress,
        limit=args.limit,
        threads=args.threads,
        **engine,
    )
    summary = summary_of(result)
    payloads = {
        "per_image.json": _dumps(per_image_of(result)),
        "summary.json": _dumps(summary),
        "bd_rate.md": bd_markdown(result).encode("utf-8"),
        **bench_plots(result),
    }
    os.makedirs(out, exist_ok=True)
    for name, data in payloads.items():
        write_atomic(targets[name], data, overwrite=args.force)

    lines = [bd_markdown(result).rstrip("\n"), ""]
    lines.append(
        f"{result['dataset']['images']} images, {len(result['skipped'])} skipped, "
        f"{result['seconds']:.1f} s; wrote {', '.join(OUTPUTS)} to {out}"
    )
    emit(_json_safe(summary), args.json, "\n".join(lines))
    return 0
