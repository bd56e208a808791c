"""``rdlab compress`` and ``rdlab decompress``: files to ``.rdl`` and back.

Several inputs may be given at once; each output is then named after its input, and a
progress bar runs on a terminal.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from .._files import read_bytes, write_atomic
from ..codecs import available_codecs, get_codec
from ..codecs.registry import decode_bytes
from ..container import decode_rdl
from ..data.images import read_image, write_png
from ..errors import InputError
from ._output import emit, human_bytes, progress


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
        parser = sub.add_parser("compress", help="compress images into .rdl files")
        parser.add_argument(
            "inputs",
            nargs="+",
            metavar="input",
            help="image file(s): PNG, JPEG, ...; 8-bit greyscale or RGB",
        )
        parser.add_argument(
            "-o", "--output", help="output path for a single input (default: INPUT.rdl)"
        )
        parser.add_argument(
            "--codec",
            default="lossless",
            help=f"codec name (available: {', '.join(available_codecs())})",
        )
        parser.add_argument("-f", "--force", action="store_true", help="replace existing outputs")
        parser.add_argument("--json", action="store_true", help="print a JSON report")
        parser.set_defaults(run=CompressCommand.run)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        codec = get_codec(args.codec)
        outputs = _outputs(args, lambda path: f"{path}.rdl")
        reports, lines = [], []
        for source, output in progress(
            zip(args.inputs, outputs, strict=True), "compressing", total=len(outputs)
        ):
            image = read_image(source)
            start = time.perf_counter()
            data = codec.encode(image)
            seconds = time.perf_counter() - start
            size = write_atomic(output, data, overwrite=args.force, protect=args.inputs)
            pixels = image.shape[0] * image.shape[1]
            reports.append(
                {
                    "input": source,
                    "output": output,
                    "codec": codec.name,
                    "codec_version": codec.version,
                    "height": image.shape[0],
                    "width": image.shape[1],
                    "bytes": size,
                    "bits_per_pixel": 8 * size / pixels,
                    "input_bytes": os.path.getsize(source),
                    "encode_seconds": seconds,
                }
            )
            lines.append(
                f"{source} -> {output}: {human_bytes(size)}, {8 * size / pixels:.3f} bpp "
                f"({codec.name} v{codec.version}, {seconds:.2f} s)"
            )
        _finish(reports, args.json, lines)
        return 0


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
        parser.add_argument("-f", "--force", action="store_true", help="replace existing outputs")
        parser.add_argument("--json", action="store_true", help="print a JSON report")
        parser.set_defaults(run=DecompressCommand.run)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        outputs = _outputs(args, _default_image_name)
        reports, lines = [], []
        for source, output in progress(
            zip(args.inputs, outputs, strict=True), "decompressing", total=len(outputs)
        ):
            data = read_bytes(source)
            header = decode_rdl(data, codecs=available_codecs())
            start = time.perf_counter()
            image = decode_bytes(data)
            seconds = time.perf_counter() - start
            size = write_png(output, image, overwrite=args.force, protect=tuple(args.inputs))
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
                }
            )
            lines.append(
                f"{source} -> {output}: {image.shape[1]}x{image.shape[0]} "
                f"({header.codec} v{header.codec_version}, {seconds:.2f} s)"
            )
        _finish(reports, args.json, lines)
        return 0


def _default_image_name(path: str) -> str:
    stem = path[:-4] if path.lower().endswith(".rdl") else path
    return stem if stem.lower().endswith(".png") else f"{stem}.png"
