"""``rdlab demo``: a round trip of the bundled sample image through an rdlab codec.

Compresses the bundled photo with the ``lossless`` codec into an ``.rdl`` file, reads the
file back with full validation, checks the pixels are identical, and reports the rate
against the information content and against PNG.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

from .._files import write_atomic
from ._output import emit


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("demo", help="round-trip the bundled sample image through rdlab")
    parser.add_argument(
        "-o", "--output", help="keep the .rdl file here (default: a temporary file)"
    )
    parser.add_argument("-f", "--force", action="store_true", help="replace an existing output")
    parser.add_argument("--json", action="store_true", help="print a JSON report")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..codecs import get_codec, load
    from ..container import describe, read_rdl
    from ..data.images import read_image, sample_path

    source = sample_path("chelsea")
    image = read_image(source)
    codec = get_codec("lossless")
    start = time.perf_counter()
    data = codec.encode(image)
    encode_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="rdlab-demo-") as scratch:
        path = args.output or os.path.join(scratch, "chelsea.rdl")
        write_atomic(path, data, overwrite=args.force, protect=(source,))
        start = time.perf_counter()
        decoded = load(path)
        decode_seconds = time.perf_counter() - start
        layout = describe(read_rdl(path), os.path.getsize(path))
    exact = bool(np.array_equal(decoded, image))
    pixels = image.shape[0] * image.shape[1]
    ideal = codec.information_content_bits(image)
    report = {
        "sample": os.path.basename(source),
        "shape": list(image.shape),
        "codec": codec.name,
        "codec_version": codec.version,
        "output": args.output,
        "exact_round_trip": exact,
        "file_bytes": len(data),
        "bits_per_pixel": 8 * len(data) / pixels,
        "payload_bits_per_pixel": 8 * layout["payload_bytes"] / pixels,
        "information_content_bits_per_pixel": ideal / pixels,
        "png_bits_per_pixel": 8 * os.path.getsize(source) / pixels,
        "encode_seconds": encode_seconds,
        "decode_seconds": decode_seconds,
        "chunks": layout["chunks"],
    }
    text = (
        f"sample {report['sample']} {image.shape[1]}x{image.shape[0]} RGB -> "
        f"{report['file_bytes']} bytes with {codec.name} v{codec.version}\n"
        f"  rate: {report['bits_per_pixel']:.3f} bpp (whole file; payload "
        f"{report['payload_bits_per_pixel']:.3f} bpp; information content "
        f"{report['information_content_bits_per_pixel']:.3f} bpp); PNG: "
        f"{report['png_bits_per_pixel']:.3f} bpp\n"
        f"  round trip exact: {'yes' if exact else 'NO'}; encode {encode_seconds * 1e3:.0f} ms, "
        f"decode {decode_seconds * 1e3:.0f} ms" + (f"\n  kept {args.output}" if args.output else "")
    )
    emit(report, args.json, text)
    return 0 if exact else 1
