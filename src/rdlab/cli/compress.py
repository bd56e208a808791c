"""``rdlab compress`` and ``rdlab decompress``: files to ``.rdl`` and back.

Several inputs may be given at once; each output is then named after its input, and a
progress bar runs on a terminal.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .._files import read_bytes, write_atomic
from ..codecs import available_codecs, get_codec
from ..codecs.registry import decode_bytes
from ..container import decode_rdl
from ..data.images import read_image, sample_path, write_png
from ..errors import InputError
from ..eval.metrics import psnr
from ._output import emit, human_bytes, progress, progress_bar
from .inr_io import (
    add_inr_arguments,
    compress_inr,
    decompress_inr,
    inr_options_given,
)


def _outputs(args: argparse.Namespace, default: Any) -> list[str]:
    if args.output and len(args.inputs) > 1:
        raise InputError(
            "output",
            "-o/--output names one file; with several inputs, leave it "
            "out and each output is named after its input",
        )
    return [args.output] if args.output else [default(path) for path in args.inputs]


def _finish(reports: list[dict[str, Any]], as_json: bool, lines: list[str]) -> None:
    emit(reports[0] if len(reports) == 1 else {"files": reports}, as_json, "\n".join(lines))


class CompressCommand:
    @staticmethod
    def add_parser(sub: Any) -> None:
        parser = sub.add_parser(
            "compress", help="compress images (and, with --codec inr, audio, proteins, video)"
        )
        parser.add_argument(
            "inputs",
            nargs="*",
            metavar="input",
            help="image file(s): PNG, JPEG, ...; 8-bit greyscale or RGB (opaque alpha is "
            "dropped); with --codec inr also WAV/FLAC audio, PDB/mmCIF proteins and video",
        )
        parser.add_argument(
            "-o", "--output", help="output path for a single input (default: INPUT.rdl)"
        )
        parser.add_argument(
            "--sample",
            action="store_true",
            help="compress the bundled sample photo (chelsea, 256x192) instead of inputs",
        )
        parser.add_argument(
            "--codec",
            default="hyperprior",
            help=f"codec name (default: hyperprior; available: {', '.join(available_codecs())})",
        )
        rate = parser.add_mutually_exclusive_group()
        rate.add_argument(
            "-q",
            "--quality",
            type=float,
            help="learned codec rate, 1 (smallest) .. 6 (best), fractional allowed; default 4",
        )
        rate.add_argument(
            "--target-bpp", type=float, help="learned codec: aim at this many bits per pixel"
        )
        rate.add_argument("--lmbda", type=float, help="learned codec: rate-distortion trade-off λ")
        parser.add_argument(
            "--model", help="learned codec: bundled model name or .safetensors path"
        )
        parser.add_argument(
            "--tile", type=int, help="learned codec: tile side in px for large images (memory)"
        )
        parser.add_argument(
            "--refine",
            type=int,
            metavar="STEPS",
            help="learned codec: optimize this image's latents for STEPS steps before coding "
            "(smaller files at the same quality; ~1 s per step for 640x426 on 2 cores; "
            "100 is a good choice); files decode as usual",
        )
        parser.add_argument("--threads", type=int, help="CPU threads (default: PyTorch's choice)")
        parser.add_argument("-f", "--force", action="store_true", help="replace existing outputs")
        parser.add_argument("--json", action="store_true", help="print a JSON report")
        add_inr_arguments(parser)
        parser.set_defaults(run=CompressCommand.run)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        if args.sample:
            if args.inputs:
                raise InputError("input", "give either --sample or input files, not both")
            args.inputs = [sample_path()]
            if not args.output:
                args.output = "chelsea.rdl"
        if not args.inputs:
            raise InputError("input", "no input image (give a file, or --sample)")
        _set_threads(args.threads)
        if args.codec.lower() == "inr":
            return _compress_inr_files(args)
        given = inr_options_given(args)
        if given:
            raise InputError("codec", f"{', '.join(given)} apply to --codec inr")
        codec = get_codec(args.codec, **_codec_options(args))
        outputs = _outputs(args, lambda path: f"{path}.rdl")
        reports, lines = [], []
        for source, output in progress(
            zip(args.inputs, outputs, strict=True), "compressing", total=len(outputs)
        ):
            image = read_image(source)
            start = time.perf_counter()
            with _refinement_progress(codec, source):
                data = codec.encode(image)
            seconds = time.perf_counter() - start
            size = write_atomic(output, data, overwrite=args.force, protect=args.inputs)
            pixels = image.shape[0] * image.shape[1]
            decoded = codec.decode(data)  # the file decodes: and the quality it gives
            quality = psnr(image, decoded)
            version = decode_rdl(data).codec_version  # per file (a model may pick it)
            reports.append(
                {
                    "input": source,
                    "output": output,
                    "codec": codec.name,
                    "codec_version": version,
                    "height": image.shape[0],
                    "width": image.shape[1],
                    "channels": 1 if image.ndim == 2 else 3,
                    "bytes": size,
                    "bits_per_pixel": 8 * size / pixels,
                    "psnr_db": quality if math.isfinite(quality) else None,
                    "lossless": bool(np.array_equal(decoded, image)),
                    "input_bytes": os.path.getsize(source),
                    "encode_seconds": seconds,
                }
            )
            shown = "lossless" if not math.isfinite(quality) else f"PSNR {quality:.2f} dB"
            lines.append(
                f"{source} -> {output}: {human_bytes(size)}, {8 * size / pixels:.3f} bpp, "
                f"{shown} ({codec.name} v{version}, {seconds:.2f} s)"
            )
        _finish(reports, args.json, lines)
        return 0


def _compress_inr_files(args: argparse.Namespace) -> int:
    given = [
        "--" + k.replace("_", "-")
        for k in ("quality", "target_bpp", "lmbda", "tile", "refine")
        if getattr(args, k) is not None
    ]
    if given:
        raise InputError("codec", f"{', '.join(given)} apply to the hyperprior codec, not inr")
    outputs = _outputs(args, lambda path: f"{path.rstrip('/')}.rdl")
    reports, lines = [], []
    for source, output in zip(args.inputs, outputs, strict=True):
        report, line = compress_inr(args, source, output)
        reports.append(report)
        lines.append(line)
    _finish(reports, args.json, lines)
    return 0


@contextmanager
def _refinement_progress(codec: Any, source: str) -> Iterator[None]:
    """A progress bar (on a terminal) for the learned codec's latent refinement; a new
    bar for each refinement (``--target-bpp`` may refine up to 4 times)."""
    if not getattr(codec, "refine", 0):
        yield
        return
    bar: Any = None
    last = 0

    def report(stage: str, done: int, total: int) -> None:
        nonlocal bar, last
        if done <= last or bar is None:
            if bar is not None:
                bar.close()
            bar = progress_bar(total, f"{os.path.basename(source)}: {stage}")
        last = done
        if bar is not None:
            bar.update(done - bar.n)

    codec.progress = report
    try:
        yield
    finally:
        if bar is not None:
            bar.close()
        codec.progress = None


def _set_threads(threads: int | None) -> None:
    if threads is None:
        return
    if threads < 1:
        raise InputError("threads", f"must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def _codec_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword options of the codec from the command line (learned codecs only)."""
    learned = {
        "quality": args.quality,
        "target_bpp": args.target_bpp,
        "lmbda": args.lmbda,
        "model": args.model,
        "tile": args.tile,
        "refine": args.refine,
    }
    given = {k: v for k, v in learned.items() if v is not None}
    if given and args.codec.lower() != "hyperprior":
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        raise InputError("codec", f"{names} apply to the hyperprior codec, not {args.codec!r}")
    return given


class DecompressCommand:
    @staticmethod
    def add_parser(sub: Any) -> None:
        parser = sub.add_parser("decompress", help="decode .rdl files back to images (PNG)")
        parser.add_argument("inputs", nargs="+", metavar="input", help=".rdl file(s)")
        parser.add_argument(
            "-o",
            "--output",
            help="output PNG path for a single input (default: INPUT without .rdl, or INPUT.png)",
        )
        parser.add_argument("--compare", metavar="IMAGE", help="print the PSNR against this image")
        parser.add_argument(
            "--model", help="learned codec: model file (.safetensors) if not a bundled model"
        )
        parser.add_argument("--threads", type=int, help="CPU threads (default: PyTorch's choice)")
        parser.add_argument("-f", "--force", action="store_true", help="replace existing outputs")
        parser.add_argument("--json", action="store_true", help="print a JSON report")
        parser.set_defaults(run=DecompressCommand.run)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        outputs = _outputs(args, _default_image_name)
        _set_threads(args.threads)
        reference = read_image(args.compare) if args.compare else None
        reports, lines = [], []
        for source, output in progress(
            zip(args.inputs, outputs, strict=True), "decompressing", total=len(outputs)
        ):
            data = read_bytes(source)
            header = decode_rdl(data, codecs=available_codecs())
            if header.codec == "inr":
                if reference is not None:
                    raise InputError("compare", "applies to images of the hyperprior codec")
                report, line = decompress_inr(args, source, data, args.output)
                reports.append(report)
                lines.append(line)
                continue
            start = time.perf_counter()
            if args.model and header.codec == "hyperprior":
                image = get_codec("hyperprior", model=args.model).decode(data)
            else:
                image = decode_bytes(data)
            seconds = time.perf_counter() - start
            size = write_png(output, image, overwrite=args.force, protect=tuple(args.inputs))
            extra = ""
            if reference is not None:
                if reference.shape != image.shape:
                    raise InputError(
                        "compare",
                        f"{args.compare} is {reference.shape}, the decoded image {image.shape}",
                    )
                value = psnr(reference, image)
                extra = ", lossless" if not math.isfinite(value) else f", PSNR {value:.2f} dB"
            reports.append(
                {
                    "input": source,
                    "output": output,
                    "codec": header.codec,
                    "codec_version": header.codec_version,
                    "height": int(image.shape[0]),
                    "width": int(image.shape[1]),
                    "bytes": size,
                    "decode_seconds": seconds,
                    "bits_per_pixel": 8 * len(data) / (image.shape[0] * image.shape[1]),
                }
            )
            if reference is not None:
                value = psnr(reference, image)
                reports[-1]["psnr_db"] = value if math.isfinite(value) else None
            lines.append(
                f"{source} -> {output}: {image.shape[1]}x{image.shape[0]}, "
                f"{8 * len(data) / (image.shape[0] * image.shape[1]):.3f} bpp{extra} "
                f"({header.codec} v{header.codec_version}, {seconds:.2f} s)"
            )
        _finish(reports, args.json, lines)
        return 0


def _default_image_name(path: str) -> str:
    stem = path[:-4] if path.lower().endswith(".rdl") else path
    return stem if stem.lower().endswith(".png") else f"{stem}.png"
