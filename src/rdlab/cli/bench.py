"""``rdlab bench images DIR --out OUT``: rate-distortion benchmark of rdlab's learned codec
against the classical codecs.

Writes into OUT (created if missing; never DIR itself or a folder inside it):
``per_image.json``, ``summary.json``, ``bd_rate.md``, ``rd_psnr.png``, ``rd_msssim.png``,
each atomically; existing outputs are replaced only with ``--force``. Unavailable codecs
are reported, not fatal. ``--json`` prints the summary; text mode prints the BD table.

``rdlab bench audio|proteins|video DIR --out OUT``: the INR codec against its peers
(:mod:`rdlab.eval.inr_bench`: Opus; uniform quantization of the C-alpha coordinates;
WebP / AVIF frame by frame) on the files of DIR that the modality reads (sorted;
``--limit N``: N of them spread evenly, first and last included). One job per file (its
INR fits and its peers' points) on ``--workers N`` local processes or ``--ray`` actors;
a file that cannot be read or coded is listed under ``failures``, the others complete.
Writes ``results.json``, ``inr_<modality>.png`` (the mean R-D curves) and ``summary.md``
(mean curves, BD-rates where the modality has them, failures) into OUT, each
atomically, with the same refusals as ``images``. ``--json`` prints the results; text
mode prints the summary.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
from dataclasses import dataclass
from typing import Any

from .._files import write_atomic
from ..codecs.registry import bench_codecs, codec_spec
from ..errors import InputError
from ._engine import add_engine_arguments, engine_settings
from ._output import emit, progress
from ._parser import defer_arguments, number_list
from .threads_help import add_threads_argument

OUTPUTS = ("per_image.json", "summary.json", "bd_rate.md", "rd_psnr.png", "rd_msssim.png")
#: The registry's default benchmark codecs: rdlab's learned codec (bundled default
#: model) first, then the classical codecs.
DEFAULT_CODECS = ",".join(bench_codecs(default_only=True))
#: the INR targets: command -> (modality, what DIR holds)
INR_TARGETS = {
    "audio": ("audio", "audio files (mono WAV, FLAC, Ogg, AIFF)"),
    "proteins": ("protein", "protein structures (PDB, mmCIF; gzipped or not)"),
    "video": ("video", "video clips (MP4 and other containers, animated PNG/GIF, .npy)"),
}
_INR_PEERS = {"audio": "Opus", "protein": "uniform quantization", "video": "WebP, AVIF"}


def inr_outputs(modality: str) -> tuple[str, ...]:
    """The files an INR target writes into OUT."""
    return ("results.json", f"inr_{modality}.png", "summary.md")


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
    for command, (modality, what) in INR_TARGETS.items():
        _add_inr_target(targets, command, modality, what)


def _add_inr_target(targets: Any, command: str, modality: str, what: str) -> None:
    """``rdlab bench COMMAND DIR --out OUT``: :func:`rdlab.eval.inr_bench.run_files`."""
    parser = targets.add_parser(
        command,
        help=f"R-D of the INR codec against {_INR_PEERS[modality]} over a folder of "
        f"{what.split(' (')[0]}",
        description=f"Code each of the {what} in DIR with the INR codec at each target "
        f"rate and with {_INR_PEERS[modality]}; write the results, the mean R-D curves "
        "and a summary (BD-rates where the modality has them) into OUT.",
    )
    parser.add_argument("directory", metavar="DIR", help=f"folder of {what}; only read")
    parser.add_argument("--out", required=True, metavar="OUT", help="output folder")
    parser.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="use N of the files, spread evenly over the sorted list (first and last included)",
    )
    parser.add_argument(
        "--steps", type=int, metavar="S", help="INR fitting steps (default: each model's)"
    )
    parser.add_argument(
        "--fine-tune-steps",
        type=int,
        metavar="S",
        help="INR fine-tuning steps after each group of coded blocks (default: the model's, "
        "cut in proportion with --steps)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the INR codec's seed (default 0)")
    parser.add_argument(
        "--model-dir",
        metavar="DIR",
        help=f"folder of inr-{modality}-*.safetensors (default: the bundled models); the "
        "closest in training rate to each target is used",
    )
    parser.add_argument("-f", "--force", action="store_true", help="replace existing outputs")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    add_threads_argument(parser)
    add_engine_arguments(
        parser,
        "code the files (one file's INR fits and peer points each) on N worker "
        "processes (default 1), each with --threads or cores // N threads; results are "
        "the same at the same --threads (the INR fit depends on the thread count), "
        "timings are those of a shared machine",
    )
    # the defaults come from rdlab.eval.inr_bench, which imports PyTorch
    defer_arguments(parser, functools.partial(_inr_arguments, modality))
    parser.set_defaults(run=run_inr, inr_modality=modality, inr_what=what.split(" (")[0])


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


@dataclass(frozen=True)
class _Option:
    """One modality option of an INR target: ``flag`` sets ``DEFAULTS[key]``; ``kind``
    is ``list`` (a comma list of positive numbers), ``float`` or ``int``."""

    flag: str
    key: str
    kind: type
    help: str


#: each INR modality's own options (rates and signal sizes), defaults from the benchmark
_INR_OPTIONS = {
    "audio": (
        _Option("--kbps", "kbps", list, "INR target rates in kbit/s (whole file)"),
        _Option("--seconds", "seconds", float, "code the first S seconds of each file"),
    ),
    "protein": (
        _Option("--bits-per-atom", "bits_per_atom", list,
                "INR target rates in bits per C-alpha atom (whole file)"),
        _Option("--ca-steps", "ca_steps", list, "uniform quantization steps in Å"),
    ),
    "video": (
        _Option("--bpp", "video_bpp", list,
                "INR target rates in bits per pixel of all frames (whole file)"),
        _Option("--frames", "frames", int, "code the first N frames of each clip"),
        _Option("--crop", "video_crop", int, "centre crop side in pixels"),
    ),
}  # fmt: skip


def _inr_arguments(modality: str, parser: argparse.ArgumentParser) -> None:
    """The modality's own options (:data:`_INR_OPTIONS`), defaults from the benchmark."""
    from ..eval.inr_bench import DEFAULTS

    for option in _INR_OPTIONS[modality]:
        default = DEFAULTS[option.key]
        if option.kind is list:
            shown = ",".join(f"{v:g}" for v in default)
            parser.add_argument(
                option.flag,
                dest=f"inr_{option.key}",
                type=number_list("values must be finite and > 0", _positive),
                default=list(default),
                metavar="V1,V2,...",
                help=f"{option.help} (default: {shown})",
            )
        else:
            parser.add_argument(
                option.flag,
                dest=f"inr_{option.key}",
                type=option.kind,
                default=default,
                help=f"{option.help} (default {default:g})",
            )


def _no_target(args: argparse.Namespace) -> int:
    raise InputError(
        "bench",
        "choose what to benchmark: 'rdlab bench images|audio|proteins|video DIR --out OUT'",
    )


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


def _output_paths(directory: str, out: str, names: tuple[str, ...], force: bool) -> dict[str, str]:
    """``name -> OUT/name`` after the refusals every bench target makes before any work:
    DIR not a folder, OUT inside DIR or a file, outputs that exist without ``--force``."""
    if not os.path.isdir(directory):
        raise InputError("directory", f"{directory} is not a directory")
    if _inside(out, directory):
        raise InputError(
            "out", f"{out} is (inside) the input folder {directory}; choose another folder"
        )
    if os.path.exists(out) and not os.path.isdir(out):
        raise InputError("out", f"{out} exists and is not a folder")
    targets = {name: os.path.join(out, name) for name in names}
    existing = [p for p in targets.values() if os.path.lexists(p)]
    if existing and not force:
        raise InputError("output", f"{', '.join(existing)} exist(s) (use --force to replace them)")
    return targets


def _dumps(value: Any) -> bytes:
    return (json.dumps(_json_safe(value), indent=2, allow_nan=False) + "\n").encode("utf-8")


def run(args: argparse.Namespace) -> int:
    from .._threads import apply_threads, check_threads
    from ..eval.image_bench import bd_markdown, evaluate_images, per_image_of, summary_of
    from ..eval.plots import bench_plots

    directory, out = args.directory, args.out
    targets = _output_paths(directory, out, OUTPUTS, args.force)
    codecs = [c for c in args.codecs.split(",") if c.strip()]
    if not codecs:
        raise InputError("codecs", "no codec named")
    if args.limit is not None and args.limit < 1:
        raise InputError("limit", f"must be a positive integer, got {args.limit}")
    qualities = _parse_qualities(args.qualities)
    engine = engine_settings(args)
    if engine.workers == 1 and engine.kind == "local":
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
        engine=engine,
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


def _inr_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :data:`rdlab.eval.inr_bench.DEFAULTS` keys the options set."""
    return {o.key: getattr(args, f"inr_{o.key}") for o in _INR_OPTIONS[args.inr_modality]}


def run_inr(args: argparse.Namespace) -> int:
    """``rdlab bench audio|proteins|video``: refuse bad input before any work, run the
    INR benchmark on DIR's files, write the outputs atomically."""
    from .._threads import check_threads

    modality, directory, out = args.inr_modality, args.directory, args.out
    targets = _output_paths(directory, out, inr_outputs(modality), args.force)
    if args.limit is not None and args.limit < 1:
        raise InputError("limit", f"must be a positive integer, got {args.limit}")
    if args.model_dir is not None and not os.path.isdir(args.model_dir):
        raise InputError("model-dir", f"{args.model_dir} is not a directory")
    check_threads(args.threads)
    engine = engine_settings(args)

    from ..eval import inr_bench
    from ..eval.inr_bench.common import input_files

    try:
        files = input_files(directory, modality, args.inr_what)
    except InputError as exc:
        raise InputError("directory", exc.problem) from None
    if args.limit is not None:
        files = inr_bench.spread(files, args.limit)
    result = inr_bench.run_files(
        modality,
        files,
        options=_inr_options(args),
        model_dir=args.model_dir,
        steps=args.steps,
        fine_tune_steps=args.fine_tune_steps,
        seed=args.seed,
        progress=progress,
        engine=engine,
    )
    section = result[modality]
    title = f"INR against {_INR_PEERS[modality]}: {modality}, {os.path.basename(directory)}"
    summary = inr_bench.summary_markdown(section, modality, title)
    plot = f"inr_{modality}.png"
    payloads = {
        "results.json": _dumps(result),
        plot: inr_bench.rd_plots(result)[plot],
        "summary.md": summary.encode("utf-8"),
    }
    os.makedirs(out, exist_ok=True)
    for name, data in payloads.items():
        write_atomic(targets[name], data, overwrite=args.force)

    lines = [summary.rstrip("\n"), ""]
    lines.append(
        f"{len(files)} files, {len(section['failures'])} failed, {result['seconds']:.1f} s; "
        f"wrote {', '.join(inr_outputs(modality))} to {out}"
    )
    emit(result, args.json, "\n".join(lines))
    return 0
