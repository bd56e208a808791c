"""``rdlab compress --codec inr`` and the decoding of INR files: any modality.

The modality comes from the input file's type (``--modality`` overrides): images (PNG,
JPEG, ...), audio (WAV, FLAC), protein structures (PDB / mmCIF, optionally gzipped) and
video (MP4 and other containers with PyAV, animated PNG/GIF/TIFF, ``.npy``, a folder of
PNG frames). The budget is ``--bpp`` (images, video), ``--kbps`` (audio) or
``--bits-per-atom`` (proteins), for the whole file.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from .._files import check_input, write_atomic
from ._output import human_bytes, progress_bar

__all__ = ["add_inr_arguments", "compress_inr", "decompress_inr", "inr_output_name"]


def add_inr_arguments(parser: argparse.ArgumentParser) -> None:
    from ..inr.modalities import modality_names  # the registry only: no reader loads

    group = parser.add_argument_group("INR codec (--codec inr)")
    rate = group.add_mutually_exclusive_group()
    rate.add_argument("--bpp", type=float, help="bits per pixel of the file (images, video)")
    rate.add_argument("--kbps", type=float, help="kbit/s of the file (audio)")
    rate.add_argument("--bits-per-atom", type=float, help="bits per C-alpha atom (proteins)")
    group.add_argument(
        "--modality",
        choices=modality_names(),
        help="signal type (default: from the file name)",
    )
    group.add_argument(
        "--steps",
        type=int,
        help="posterior fitting steps (default: the model's); fewer steps also cut the "
        "fine-tuning after each coded group in proportion; --codec overfit: fitting steps "
        "(default 1400, about 4 minutes for 500x500 on 2 cores)",
    )
    group.add_argument(
        "--seed", type=int, default=0, help="shared-randomness seed (default 0; overfit: its fit's)"
    )


def inr_options_given(args: argparse.Namespace) -> list[str]:
    names = ("bpp", "kbps", "bits_per_atom", "modality", "steps")
    return ["--" + n.replace("_", "-") for n in names if getattr(args, n, None) is not None]


class _Progress:
    """One progress display per stage (candidates, fit, code): a bar on a terminal, plain
    lines otherwise."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bars: dict[str, Any] = {}
        self.done: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self.bars:
            self.bars[stage] = progress_bar(total, f"{self.label}: {stage}")
            self.done[stage] = 0
        self.bars[stage].update(done - self.done[stage])
        self.done[stage] = done

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def compress_inr(args: argparse.Namespace, source: str, output: str) -> tuple[dict, str]:
    """Compress one file; returns the JSON report and the text line.

    The rate is reported per item of the modality (``rate``, ``rate_unit``) for the
    whole file; for proteins also for the coded coordinates alone
    (``coded_bits_per_atom``: what ``--bits-per-atom`` budgets), the rest being the
    sequence, residue numbers and header.
    """
    from ..codecs.inr import INRCodec
    from ..container import decode_rdl
    from ..inr.modalities import get_modality, modality_for_path
    from ..inr.model_file import load_inr_model

    check_input(source, directory=True)  # a folder of frames is a video; a pipe blocks
    kind = get_modality(args.modality) if args.modality else modality_for_path(source)
    modality = kind.name
    signal = kind.read(source)
    model = load_inr_model(args.model) if args.model else None
    bar = _Progress(os.path.basename(source))
    codec = INRCodec(
        model,
        modality=modality,
        bpp=args.bpp,
        kbps=args.kbps,
        bits_per_atom=args.bits_per_atom,
        seed=args.seed,
        steps=args.steps,
        progress=bar,
    )
    start = time.perf_counter()
    try:
        data = codec.encode(signal)
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    size = write_atomic(output, data, overwrite=args.force, protect=args.inputs)
    start = time.perf_counter()
    decoded = codec.decode(data)
    decode_seconds = time.perf_counter() - start
    quality = kind.distortion(signal, decoded)
    report = dict(codec.last_report)
    items = report["items"]
    per_item = kind.rate(8 * size, items)
    report.update(
        {
            "input": source,
            "output": output,
            "codec": codec.name,
            "codec_version": decode_rdl(data).codec_version,  # per file (by modality)
            "rdl_bytes": size,
            "rate": per_item,
            "rate_unit": kind.rate_unit,
            **quality,
            "input_bytes": os.path.getsize(source) if os.path.isfile(source) else None,
            "encode_seconds": seconds,
            "decode_seconds": decode_seconds,
        }
    )
    rate = f"{per_item:.4g} {kind.rate_unit}"
    if kind.payload_budget:  # the budget counts the coded weights, the file more
        coded = kind.rate(report["payload_bits"], items)
        report[f"coded_{kind.rate_keyword}"] = coded
        report[f"file_{kind.rate_keyword}"] = per_item
        rate = (
            f"{per_item:.4g} {kind.rate_unit} for the file "
            f"({coded:.4g} for the coded {kind.payload_budget})"
        )
    shown = ", ".join(f"{k} {v:.3f}" for k, v in quality.items())
    line = (
        f"{source} -> {output}: {human_bytes(size)}, {rate}, "
        f"{shown} (inr, {modality}, model {report['model']}, {seconds:.1f} s)"
    )
    return report, line


def inr_output_name(path: str, modality: str) -> str:
    """The decoded file's name for the INR file ``path`` of ``modality``: without
    ``.rdl``, with the modality's output suffix unless it has it."""
    from ..inr.modalities import get_modality

    stem = path[:-4] if path.lower().endswith(".rdl") else path
    suffix = get_modality(modality).output_suffix
    return stem if stem.lower().endswith(suffix) else f"{stem}{suffix}"


def decompress_inr(
    args: argparse.Namespace, source: str, data: bytes, output: str | None
) -> tuple[dict, str]:
    """Decode one INR file to ``output`` (default: named by its modality's suffix);
    the output is checked before decoding. Returns the JSON report and the text line."""
    from ..codecs.inr import INRCodec
    from ..inr.modalities import get_modality
    from ..inr.model_file import load_inr_model

    model = load_inr_model(args.model) if args.model else None
    codec = INRCodec(model)
    modality = codec.file_modality(data)
    target = output or inr_output_name(source, modality)
    get_modality(modality).check_output(target, overwrite=args.force, protect=tuple(args.inputs))
    start = time.perf_counter()
    signal = codec.decode(data)
    seconds = time.perf_counter() - start
    size = get_modality(modality).write(
        target, signal, overwrite=args.force, protect=tuple(args.inputs)
    )
    report = {
        "input": source,
        "output": target,
        "codec": "inr",
        "modality": modality,
        "rdl_bytes": len(data),
        "output_bytes": size,
        "decode_seconds": seconds,
    }
    line = f"{source} -> {target}: {modality}, {human_bytes(size)} (inr, {seconds:.2f} s)"
    return report, line
