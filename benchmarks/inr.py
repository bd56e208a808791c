"""The INR codec against its peers: rate-distortion points and timings per modality.

A slow benchmark (INR encoding fits networks on the CPU), not run in CI. The measurement
code is :mod:`rdlab.eval.inr_bench` (see its docstring for every convention); this is the
command line around it. Sections, each on ``shared/data`` (``--data``):

- ``image``: ``--images`` photos of ``images/eval`` centre-cropped to ``--crop``; INR at
  ``--image-bpp``; JPEG, WebP, AVIF sweeps and the hyperprior codec (qualities 1..6);
  BD-rate of INR against each (PSNR RGB, below 0.5 bpp where the curves allow);
- ``audio``: ``--audio`` files of ``audio/eval`` cut to ``--seconds``; INR and Opus at
  ``--kbps``; SNR, PSNR, kbit/s of the whole file and of the payload;
- ``protein``: ``--proteins`` chains of ``proteins/eval``; INR at ``--bits-per-atom``
  against uniform quantization (steps ``--ca-steps`` Å); RMSD;
- ``video``: the first ``--frames`` frames of ``video/carphone_pristine.mp4`` cropped to
  ``--video-crop``; INR at ``--video-bpp``; WebP / AVIF per frame for context.

Every INR point: encode and decode seconds, file bytes, and whether a second decode
equals the first. ``--workers N`` codes the signals (one job each: its INR fits and its
peers' points) on N local processes, ``--ray [ADDRESS]`` on Ray actors (a local Ray
instance, or the cluster at ADDRESS); the results are the same, except the timings
(those of a shared machine), at the same ``--threads`` per worker (the default is the
cores // N, and the INR fit's floating-point sums depend on the thread count). A signal
that cannot be read or coded is listed in its section's ``failures``. ``targets``:
BD-rate vs JPEG <= -25 % below 0.5 bpp; INR beats Opus in SNR at 6 kbit/s (Opus's lowest
usable rate), at the same requested rate and at matched actual rates (INR interpolated
at Opus's whole-file and payload kbit/s); RMSD <= 1 Å at <= 12 bits/atom; a 256x256
image encodes in < 600 s and decodes in < 1 s. Progress goes to stderr; ``--json``
prints one JSON document.

    python benchmarks/inr.py --json > inr.json
    python benchmarks/inr.py --json --steps 50 --images 1 --audio 1 --proteins 1 --out plots/
    python benchmarks/inr.py --json --modalities audio,protein --workers 2 > inr.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from rdlab.cli._engine import add_engine_arguments, engine_settings
from rdlab.errors import RdlabError
from rdlab.eval import inr_bench

REPO = Path(__file__).resolve().parents[1]


def default_data() -> str:
    """``$RDLAB_DATA``, else ``shared/data`` in the checkout or beside it."""
    if os.environ.get("RDLAB_DATA"):
        return os.environ["RDLAB_DATA"]
    for candidate in (REPO / "shared" / "data", REPO.parent / "shared" / "data"):
        if candidate.is_dir():
            return str(candidate)
    return str(REPO.parent / "shared" / "data")


def eval_paths(
    files: list[str] | None, data: str, modality: str, noun: str, count: int
) -> list[str]:
    """``files`` when given, else ``count`` of ``data/<modality's folder>/eval`` spread
    evenly (``images`` for images, ``audio`` for audio)."""
    if files:
        return list(files)
    folder = {"image": "images"}.get(modality, modality)
    return inr_bench.common.spread(
        inr_bench.common.input_files(f"{data}/{folder}/eval", modality, noun), count
    )


def print_summary(summary: dict[str, Any], with_records: bool) -> None:
    """Print a benchmark's JSON: all of it, or all but its ``records`` (per-signal points)."""
    shown = summary if with_records else {k: v for k, v in summary.items() if k != "records"}
    print(json.dumps(shown, indent=1))


def _floats(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"need positive numbers, got {text!r}")
    return values


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip().lower() for v in text.split(",") if v.strip())


def parser() -> argparse.ArgumentParser:
    d = inr_bench.DEFAULTS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--out", metavar="DIR", help="also write result.json and R-D plots here")
    p.add_argument("--data", default=default_data(), help="shared/data folder")
    p.add_argument("--modalities", type=_names, default=inr_bench.MODALITIES)
    p.add_argument("--model-dir", help="folder of inr-<modality>-*.safetensors (else bundled)")
    p.add_argument("--steps", type=int, help="fitting steps (default: each model's)")
    p.add_argument("--fine-tune-steps", type=int, help="fine-tuning steps per group")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads", type=int, help="PyTorch threads per worker (default: cores // workers)"
    )
    add_engine_arguments(
        p, "code the signals on N local worker processes (default 1: this process)"
    )
    p.add_argument("--images", type=int, default=d["images"])
    p.add_argument("--crop", type=int, default=d["crop"], help="image side (centre crop)")
    p.add_argument("--image-bpp", type=_floats, default=d["image_bpp"])
    p.add_argument("--max-bpp", type=float, default=d["max_bpp"], help="BD-rate cap")
    p.add_argument("--image-peers", type=_names, default=d["image_peers"])
    p.add_argument("--hyperprior-qualities", type=_floats, default=d["hyperprior_qualities"])
    p.add_argument("--audio", type=int, default=d["audio"])
    p.add_argument("--seconds", type=float, default=d["seconds"])
    p.add_argument("--kbps", type=_floats, default=d["kbps"])
    p.add_argument("--proteins", type=int, default=d["proteins"])
    p.add_argument("--bits-per-atom", type=_floats, default=d["bits_per_atom"])
    p.add_argument("--ca-steps", type=_floats, default=d["ca_steps"], help="Å")
    p.add_argument("--frames", type=int, default=d["frames"])
    p.add_argument("--video-crop", type=int, default=d["video_crop"])
    p.add_argument("--video-bpp", type=_floats, default=d["video_bpp"])
    p.add_argument("--video-peers", type=_names, default=d["video_peers"])
    p.add_argument("--video", default=d["video_file"], help="clip (relative: under video/)")
    return p


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _summary(result: dict[str, Any]) -> str:
    lines = []
    for name, t in result["targets"].items():
        met = {True: "met", False: "NOT met", None: "n/a"}[t["met"]]
        lines.append(
            f"{name}: {met}: {json.dumps(t['value'])}"
            + (f" ({t['goal']})" if t.get("goal") else "")
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    unknown = [m for m in args.modalities if m not in inr_bench.MODALITIES]
    if unknown:
        _log(f"error: unknown modality {unknown[0]!r} (have {', '.join(inr_bench.MODALITIES)})")
        return 2
    if args.model_dir and not os.path.isdir(args.model_dir):
        _log(f"error: --model-dir {args.model_dir} is not a directory")
        return 2
    options = {
        "images": args.images,
        "crop": args.crop,
        "image_bpp": args.image_bpp,
        "image_peers": args.image_peers,
        "hyperprior_qualities": args.hyperprior_qualities,
        "max_bpp": args.max_bpp,
        "audio": args.audio,
        "seconds": args.seconds,
        "kbps": args.kbps,
        "proteins": args.proteins,
        "bits_per_atom": args.bits_per_atom,
        "ca_steps": args.ca_steps,
        "frames": args.frames,
        "video_crop": args.video_crop,
        "video_bpp": args.video_bpp,
        "video_peers": args.video_peers,
        "video_file": args.video,
    }
    try:
        engine = engine_settings(args)
        result = inr_bench.run(
            args.data,
            args.modalities,
            options=options,
            model_dir=args.model_dir,
            steps=args.steps,
            fine_tune_steps=args.fine_tune_steps,
            seed=args.seed,
            log=_log,
            engine=engine,
        )
    except RdlabError as exc:
        _log(f"error: {exc}")
        return 2
    text = json.dumps(result, indent=2)
    if args.out:
        from rdlab._files import write_atomic

        os.makedirs(args.out, exist_ok=True)
        write_atomic(os.path.join(args.out, "result.json"), text.encode(), overwrite=True)
        for name, png in inr_bench.rd_plots(result).items():
            write_atomic(os.path.join(args.out, name), png, overwrite=True)
            _log(f"wrote {os.path.join(args.out, name)}")
    if args.json:
        print(text)
    else:
        print(_summary(result))
    failed = [m for m in args.modalities if "error" in result.get(m, {})]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
