"""``rdlab inspect FILE``: the header and chunk table of an ``.rdl`` file."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ..container import describe, read_rdl
from ._output import emit, human_bytes


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("inspect", help="show the header and chunk table of an .rdl file")
    parser.add_argument("file", help="an .rdl file")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    file = read_rdl(args.file)  # validates everything; any codec is shown
    report = describe(file, os.path.getsize(args.file))
    report["path"] = os.fspath(args.file)
    rows = "\n".join(
        f"  {c['tag']:<6}{c['offset']:>10}{c['length']:>12}  {c['crc32'] or '(file CRC)'}"
        for c in report["chunks"]
    )
    text = (
        f"{report['path']}: rdlab file, format {report['format_version']}, "
        f"{human_bytes(report['total_size'])}\n"
        f"codec: {report['codec']} {report['codec_version']}\n"
        f"model hash: {report['model_hash'] or 'none'}\n"
        f"metadata: {json.dumps(report['metadata'], sort_keys=True)}\n"
        f"header: {report['header_size']} bytes; payload: {report['payload_bytes']} bytes "
        f"in {len(report['chunks'])} chunk(s)\n"
        f"  {'tag':<6}{'offset':>10}{'length':>12}  crc32\n{rows}"
    )
    emit(report, args.json, text)
    return 0
