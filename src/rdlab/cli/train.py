"""``rdlab train image`` and ``rdlab train export``: train the hyperprior image model and
turn a checkpoint into a model file the codec loads (``--model PATH`` or bundled).

``rdlab train image DATA --out RUN [--device cuda] [--resume]`` trains on random crops
of the images in DATA and keeps ``RUN/checkpoint.pt``, ``RUN/log.jsonl`` and
``RUN/log.csv``; several GPUs: ``torchrun --nproc_per_node G -m rdlab.train.image DATA
--device cuda ...`` (the same options). ``rdlab train export RUN/checkpoint.pt
MODEL.safetensors --calibration DATA`` writes the model file (integer scale branch and
hyper-latent tables included) with a model card taken from the checkpoint.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import InputError
from ._output import emit


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("train", help="train learned codecs and export model files")
    what = parser.add_subparsers(dest="what", metavar="WHAT")
    image = what.add_parser("image", help="train the hyperprior image model on a folder of images")
    from ..train.image import add_arguments

    add_arguments(image)
    image.add_argument("--quiet", action="store_true", help="no progress bar")
    image.add_argument("--json", action="store_true", help="print the summary as JSON")
    image.set_defaults(run=_run_image)
    export = what.add_parser("export", help="write a model file from a training checkpoint")
    export.add_argument("checkpoint", help="checkpoint.pt written by 'rdlab train image'")
    export.add_argument("output", help="model file to write (.safetensors)")
    export.add_argument(
        "--calibration",
        required=True,
        metavar="DIR",
        help="folder of images like the training data (fixes the integer scale branch's ranges)",
    )
    export.add_argument("--crops", type=int, default=16, help="calibration crops (default 16)")
    export.add_argument("-f", "--force", action="store_true", help="replace an existing output")
    export.add_argument("--json", action="store_true", help="print a JSON report")
    export.set_defaults(run=_run_export)
    parser.set_defaults(run=lambda args: _missing(parser))


def _missing(parser: argparse.ArgumentParser) -> int:
    raise InputError(
        "what", "say what to train: 'rdlab train image ...' or 'rdlab train export ...'"
    )


def _run_image(args: argparse.Namespace) -> int:
    from ..train.image import config_from_args, train_image_model

    summary = train_image_model(config_from_args(args), resume=args.resume, progress=not args.quiet)
    lines = [
        f"step {summary['step']} of {summary['steps']} in {summary['seconds']:.0f} s"
        f" (running: {summary.get('bpp', float('nan')):.3f} bpp,"
        f" {summary.get('psnr', float('nan')):.2f} dB PSNR); checkpoint {summary['checkpoint']}"
    ]
    emit(summary, args.json, "\n".join(lines))
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from ..train.image import export_checkpoint

    report = export_checkpoint(
        args.checkpoint, args.output, args.calibration, crops=args.crops, overwrite=args.force
    )
    emit(
        report,
        args.json,
        f"{args.output}: {report['bytes']} bytes, model hash {report['hash'][:16]}",
    )
    return 0
