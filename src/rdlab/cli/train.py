"""``rdlab train image``, ``rdlab train export``, ``rdlab train lattice`` and ``rdlab
train realism``: train the hyperprior image model, turn a checkpoint into a model file the
codec loads (``--model PATH`` or bundled), derive a lattice-latent model from a scalar
one, and train a realism head for a model (``rdlab decompress --realism``).

``rdlab train image DATA --out RUN [--device cuda] [--resume]`` trains on random crops
of the images in DATA and keeps ``RUN/checkpoint.pt``, ``RUN/log.jsonl`` and
``RUN/log.csv``; several GPUs: ``torchrun --nproc_per_node G -m rdlab.train.image DATA
--device cuda ...`` (the same options). ``rdlab train export RUN/checkpoint.pt
MODEL.safetensors --calibration DATA`` writes the model file (integer scale branch and
hyper-latent tables included) with a model card taken from the checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import InputError
from ._output import emit
from ._parser import defer_arguments
from .threads_help import add_threads_argument


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("train", help="train learned codecs and export model files")
    what = parser.add_subparsers(dest="what", metavar="WHAT")
    image = what.add_parser("image", help="train the hyperprior image model on a folder of images")
    defer_arguments(image, _image_arguments)  # rdlab.train.image imports PyTorch
    image.set_defaults(run=_run_image)
    from ..inr.modalities import modality_names  # the registry; no modality is loaded

    names = modality_names()
    inr = what.add_parser("inr", help=f"learn an INR prior ({', '.join(names)})")
    inr.add_argument("modality", choices=names)
    inr.add_argument("data", help="folder of training signals (or one video)")
    inr.add_argument("--out", required=True, help="model file to write (.safetensors)")
    inr.add_argument(
        "--beta", type=float, required=True, help="trade-off: MSE (normalized) per bit per item"
    )
    inr.add_argument("--patches", type=int, default=48, help="training patches (default 48)")
    inr.add_argument("--rounds", type=int, default=6, help="coordinate-ascent rounds (default 6)")
    inr.add_argument("--steps", type=int, default=200, help="steps per round (default 200)")
    inr.add_argument("--steps-first", type=int, default=400, help="steps of round 0 (default 400)")
    inr.add_argument("--seed", type=int, default=0)
    inr.add_argument("--w0", type=float, help="sine frequency factor (default: the modality's)")
    inr.add_argument(
        "--linear-reparam",
        action="store_true",
        help="learn a linear reparameterization of each layer's weights (RECOMBINER)",
    )
    inr.add_argument(
        "--reparam-lr",
        type=float,
        default=1e-3,
        help="Adam step of the reparameterization (default 1e-3)",
    )
    inr.add_argument(
        "--fit-steps",
        type=int,
        help="encoder's fitting steps, recorded in the model (default: the codec's, 3000 for "
        "images and 1500 for the others)",
    )
    inr.add_argument(
        "--fit-fine-tune-steps",
        type=int,
        help="encoder's fine-tuning steps per group, recorded in the model (default 60)",
    )
    inr.add_argument(
        "--grid",
        type=int,
        default=0,
        help="learned positional encoding: latent grid points per axis (default 0: none)",
    )
    inr.add_argument(
        "--grid-channels",
        type=int,
        help="values per point of the positional grid (default 4; needs --grid)",
    )
    inr.add_argument(
        "--lr-final-ratio",
        type=float,
        default=1.0,
        help="within each round the fitting step decays (cosine) to this fraction "
        "(default 1: constant)",
    )
    inr.add_argument(
        "--sample-rate",
        type=int,
        help="audio: resample the training files to this rate in Hz (default: as read)",
    )
    inr.add_argument("-f", "--force", action="store_true", help="replace an existing output")
    inr.add_argument("--json", action="store_true", help="print a JSON report")
    add_threads_argument(inr)
    inr.set_defaults(run=_run_inr)
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
    add_threads_argument(export)
    export.set_defaults(run=_run_export)
    derive = what.add_parser(
        "lattice",
        help="derive a model with lattice latents from a scalar model (same weights)",
    )
    derive.add_argument("base", help="bundled model name or model file (scalar latents)")
    derive.add_argument("output", help="derived model file to write (.safetensors)")
    derive.add_argument("--lattice", required=True, help="E8, D4, BW16, Leech, ...")
    derive.add_argument(
        "--calibration",
        required=True,
        metavar="DIR",
        help="folder of images like the training data (chooses the coder's cell samples)",
    )
    derive.add_argument("-f", "--force", action="store_true", help="replace an existing output")
    derive.add_argument("--json", action="store_true", help="print a JSON report")
    add_threads_argument(derive)
    derive.set_defaults(run=_run_lattice)
    pack = what.add_parser(
        "pack",
        help="pack training photos as JPEG under a byte budget (for a GPU machine that "
        "receives little data)",
        description="Reduce every image of the SOURCE folders to the largest short side "
        "that lets all of them fit --max-mib as JPEG (4:4:4), into one flat folder that "
        "'rdlab train image' reads; OUT/pack.json lists each file and its source.",
    )
    pack.add_argument("sources", nargs="+", metavar="SOURCE", help="folders of training photos")
    pack.add_argument("--out", required=True, help="the pack folder (empty, or --force)")
    pack.add_argument(
        "--max-mib",
        type=float,
        default=27.0,
        help="budget for the JPEG files in MiB (default 27: with this repository's 30 MiB "
        "it stays under the 64 MiB a GPU call receives)",
    )
    pack.add_argument("--quality", type=int, default=90, help="JPEG quality (default 90)")
    pack.add_argument("-f", "--force", action="store_true", help="replace an existing pack")
    pack.add_argument("--json", action="store_true", help="print a JSON report")
    pack.set_defaults(run=_run_pack)
    realism = what.add_parser(
        "realism",
        help="train a realism head (decoder-side texture sampler) for an image model",
    )
    _realism_arguments(realism)
    realism.set_defaults(run=_run_realism)
    parser.set_defaults(run=lambda args: _missing(parser))


def _realism_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="folder of training photos (never evaluation photos)")
    parser.add_argument(
        "--out", required=True, help="run folder; the head is OUT/realism.safetensors"
    )
    parser.add_argument("--model", default="default", help="image model (bundled name or file)")
    parser.add_argument("--steps", type=int, default=3000, help="optimizer steps (default 3000)")
    parser.add_argument("--batch", type=int, default=8, help="crops per step (default 8)")
    parser.add_argument("--crop", type=int, default=128, help="crop side, multiple of 64 (128)")
    parser.add_argument(
        "--crops", type=int, default=1024, help="crops coded through the model once (1024)"
    )
    parser.add_argument(
        "--perception-weight",
        type=float,
        default=100.0,
        help="w_P: weight of the patch sliced-W2² term against MSE (default 100)",
    )
    parser.add_argument("--lr", type=float, default=5e-4, help="learning rate (default 5e-4)")
    parser.add_argument("--channels", type=int, default=32, help="head width (default 32)")
    parser.add_argument("--layers", type=int, default=6, help="3x3 convolutions (default 6)")
    parser.add_argument("--noise-channels", type=int, default=2, help="noise planes (default 2)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--max-minutes", type=float, help="stop (and checkpoint) after this long")
    parser.add_argument("--log-every", type=int, default=100)
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_threads_argument(parser)


def _run_realism(args: argparse.Namespace) -> int:
    from ..train.realism import RealismTrainConfig, train_realism_head

    _threads(args)
    config = RealismTrainConfig(
        data=args.data,
        out=args.out,
        model=args.model,
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        crop=args.crop,
        crops=args.crops,
        perception_weight=args.perception_weight,
        channels=args.channels,
        layers=args.layers,
        noise_channels=args.noise_channels,
        device=args.device,
        max_minutes=args.max_minutes,
        log_every=args.log_every,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
    )
    show = not getattr(args, "quiet", False)
    summary = train_realism_head(config, resume=args.resume, progress=show)
    line = (
        f"step {summary['step']} of {summary['steps']} in {summary['seconds']:.0f} s "
        f"(running PSNR {summary.get('psnr', float('nan')):.2f} dB against "
        f"{summary.get('plain_psnr', float('nan')):.2f} plain, patch SW2² "
        f"{summary.get('sw2', float('nan')):.3g} in 255² units); head {summary['head']}"
    )
    emit(summary, args.json, line)
    return 0


def _image_arguments(image: argparse.ArgumentParser) -> None:
    from ..train.image import add_arguments

    add_arguments(image)
    image.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_threads_argument(image)


def _stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")


def _threads(args: argparse.Namespace) -> None:
    from .._threads import apply_threads

    apply_threads(args.threads)


def _missing(parser: argparse.ArgumentParser) -> int:
    raise InputError(
        "what", "say what to train: 'rdlab train image|inr|export|lattice|pack|realism ...'"
    )


def _run_image(args: argparse.Namespace) -> int:
    from ..train.image import config_from_args, train_image_model

    _threads(args)
    show = not getattr(args, "quiet", False)
    summary = train_image_model(config_from_args(args), resume=args.resume, progress=show)
    lines = [
        f"step {summary['step']} of {summary['steps']} in {summary['seconds']:.0f} s"
        f" (running: {summary.get('bpp', float('nan')):.3f} bpp,"
        f" {summary.get('psnr', float('nan')):.2f} dB PSNR); checkpoint {summary['checkpoint']}"
    ]
    emit(summary, args.json, "\n".join(lines))
    return 0


def _run_inr(args: argparse.Namespace) -> int:
    from ..train.inr import DEFAULT_ARCHITECTURES, train_inr_prior

    _threads(args)
    patch, arch = DEFAULT_ARCHITECTURES[args.modality]
    if args.w0 is not None:
        arch = {**arch, "w0": args.w0}
    if args.grid:
        channels = 4 if args.grid_channels is None else args.grid_channels
        arch = {**arch, "grid": args.grid, "grid_channels": channels}
    elif args.grid_channels is not None:
        raise InputError("grid_channels", "needs --grid (the positional grid's points per axis)")
    given = {"steps": args.fit_steps, "fine_tune_steps": args.fit_fine_tune_steps}
    fit = {key: value for key, value in given.items() if value is not None}
    model = train_inr_prior(
        args.modality,
        args.data,
        args.out,
        beta=args.beta,
        patches=args.patches,
        rounds=args.rounds,
        steps_first=args.steps_first,
        steps=args.steps,
        seed=args.seed,
        architecture=(patch, arch),
        fit=fit,
        linear_reparam=args.linear_reparam,
        reparam_lr=args.reparam_lr,
        sample_rate=args.sample_rate,
        lr_final_ratio=args.lr_final_ratio,
        overwrite=args.force,
        log=None if args.json or getattr(args, "quiet", False) else _stderr_line,
    )
    report = {
        "output": args.out,
        "modality": model.modality,
        "params_per_patch": model.num_params,
        "rate_per_item": model.card["rate_per_item"],
        "seconds": model.card["seconds"],
        "hash": model.hash.hex(),
        "linear_reparam": model.reparam is not None,
    }
    emit(
        report,
        args.json,
        f"{args.out}: {model.num_params} weights per patch, "
        f"{model.card['rate_per_item']:.4g} per item at beta {model.beta} "
        f"({model.card['seconds']:.0f} s)",
    )
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from ..train.image import export_checkpoint

    _threads(args)
    report = export_checkpoint(
        args.checkpoint, args.output, args.calibration, crops=args.crops, overwrite=args.force
    )
    emit(
        report,
        args.json,
        f"{args.output}: {report['bytes']} bytes, model hash {report['hash'][:16]}",
    )
    return 0


def _run_pack(args: argparse.Namespace) -> int:
    import math

    from ..train.pack import build_pack

    if not (math.isfinite(args.max_mib) and args.max_mib > 0):
        raise InputError("--max-mib", f"must be a positive number, got {args.max_mib}")
    report = build_pack(
        args.sources, args.out, max_bytes=int(args.max_mib * 2**20), quality=args.quality,
        force=args.force,
    )  # fmt: skip
    emit(
        report.__dict__,
        args.json,
        f"{args.out}: {report.files} photos, {report.bytes / 2**20:.1f} MiB of JPEG "
        f"(short side {report.short_side} px, quality {report.quality}; {len(report.skipped)} "
        "left out, under the training crop)",
    )
    return 0


def _run_lattice(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..codecs.image_model_file import derive_lattice_model, load_image_model
    from ..train.image import calibration_crops

    _threads(args)
    crops = calibration_crops(args.calibration, 4)
    digest = derive_lattice_model(args.base, args.lattice, args.output, crops, overwrite=args.force)
    model = load_image_model(str(args.output))
    report = {
        "output": str(args.output),
        "bytes": Path(args.output).stat().st_size,
        "hash": digest.hex(),
        "card": model.card,
    }
    emit(
        report,
        args.json,
        f"{args.output}: {report['bytes']} bytes ({model.latent_lattice} latents on "
        f"{model.card['derived_from']}), model hash {report['hash'][:16]}",
    )
    return 0
