"""``rdlab perception bench``: learned realism on a 2-D source; ``rdlab perception
images``: the image codec's realism mode, measured (:mod:`rdlab.eval.realism_images`).

Trains a small nonlinear transform coder with a stochastic decoder (shared randomness
from rdlab.rng) for ``bits + λ (MSE + w_P · sliced-W2²)`` at each perception weight w_P,
codes 2,000 held-out vectors to a real bitstream, decodes them and reports rate (bits
per dimension), distortion (MSE per dimension) and perception (empirical W2² per
dimension against fresh source samples), with R(D, P) beside the Gaussian source's
points; ``--plot`` draws distortion and perception against w_P. See
:mod:`rdlab.eval.realism_bench`.
"""

from __future__ import annotations

import argparse
import io
import math
from typing import Any

from ..errors import InputError
from ._output import add_report_options, emit_benchmark, run_reported
from ._parser import number_list

_WEIGHTS = number_list(
    "perception weights must be finite and >= 0", lambda v: math.isfinite(v) and v >= 0
)
_QUALITIES = number_list("qualities must be finite numbers", math.isfinite)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("perception", help="learned realism: distortion vs perception")
    actions = parser.add_subparsers(dest="perception_action", metavar="ACTION", required=True)
    p = actions.add_parser("bench", help="stochastic-decoder NTC on a 2-D source")
    p.add_argument("--source", choices=("gaussian", "laplace", "banana"), default="gaussian")
    p.add_argument("--weights", type=_WEIGHTS, default=[0.0, 1.0, 4.0, 16.0], help="w_P list")
    p.add_argument("--lmbda", type=float, default=8.0, help="λ: MSE against bits per vector")
    p.add_argument("--steps", type=int, default=2000, help="training steps per model")
    p.add_argument("--seed", type=int, default=0)
    add_report_options(p)
    p.set_defaults(run=run)
    q = actions.add_parser(
        "images",
        help="image realism mode: the same files decoded plainly and with the realism head",
    )
    q.add_argument("images", nargs="*", help="photos to code (default: the bundled sample image)")
    q.add_argument(
        "--quality", type=_QUALITIES, default=[1.0, 3.0, 5.0], help="qualities (default 1,3,5)"
    )
    q.add_argument("--realism", default="default", metavar="HEAD", help="head (default: bundled)")
    q.add_argument("--model", default="default", help="image model (default: bundled default)")
    q.add_argument("--seed", type=int, default=0, help="the realism head's shared noise")
    add_report_options(q)
    q.set_defaults(run=run_images)


def render_png(report: dict[str, Any]) -> bytes:
    """Distortion against perception, one point per weight (labelled)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.2, 4.2), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    pts = report["points"]
    ax.plot([q["perception"] for q in pts], [q["distortion"] for q in pts], "o-")
    for q in pts:
        ax.annotate(
            f"w_P={q['perception_weight']:g}, {q['rate']:.2f} b/dim",
            (q["perception"], q["distortion"]),
            fontsize=7,
        )
    ax.axvline(report["perception_floor"], color="grey", lw=1, label="W2² estimate floor")
    ax.set_xlabel("perception: W2² per dimension to the source")
    ax.set_ylabel("distortion: MSE per dimension")
    ax.set_title(f"distortion-perception trade-off, {report['source']} source")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def run(args: argparse.Namespace) -> int:
    from ..eval.realism_bench import run_realism_bench

    if args.steps < 1:
        raise InputError("--steps", f"must be >= 1, got {args.steps}")
    if not (math.isfinite(args.lmbda) and args.lmbda > 0):
        raise InputError("--lmbda", f"must be > 0, got {args.lmbda:g}")
    report = run_reported(
        args,
        len(args.weights),
        "perception bench",
        lambda progress: run_realism_bench(
            source=args.source,
            lmbda=args.lmbda,
            perception_weights=args.weights,
            steps=args.steps,
            seed=args.seed,
            progress=progress,
        ),
        render_png,
    )
    lines = [
        f"{report['source']} source, λ = {report['lmbda']:g}; W2² floor "
        f"{report['perception_floor']:.4f} (per dimension)",
        f"{'w_P':>6} {'bits/dim':>9} {'MSE/dim':>9} {'W2²/dim':>9} {'R(D,P)':>8}",
    ]
    for q in report["points"]:
        theory = q.get("theory_rate")
        lines.append(
            f"{q['perception_weight']:>6g} {q['rate']:>9.3f} {q['distortion']:>9.4f} "
            f"{q['perception']:>9.4f} {(f'{theory:.3f}' if theory is not None else '-'):>8}"
        )
    return emit_benchmark(args, report, lines)


def render_images_png(report: dict[str, Any]) -> bytes:
    """PSNR and patch SW2² against bits per pixel, plain and realism decodes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 3.8), dpi=110)
    rows = report["qualities"]
    bpp = [r["bpp"] for r in rows]
    for k, (key, label) in enumerate(
        (("psnr", "PSNR (dB)"), ("patch_sw2", "patch sliced W2² (lower: more realistic)"))
    ):
        ax = fig.add_subplot(1, 2, k + 1)
        for mode, style in (("plain", "o-"), ("realism", "s--")):
            ax.plot(bpp, [r[mode][key] for r in rows], style, label=mode)
        if key == "patch_sw2":
            ax.set_yscale("log")
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"realism mode of model {report['model']!r} ({len(report['images'])} decodes)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def run_images(args: argparse.Namespace) -> int:
    from importlib.resources import files
    from pathlib import Path

    from ..data.images import read_image
    from ..eval.realism_images import run_realism_images

    paths = args.images or [str(files("rdlab") / "samples" / "chelsea_256x192.png")]
    images = []
    for path in paths:
        image = read_image(path)
        if image.ndim != 3:
            raise InputError("images", f"{path} is not an RGB image")
        images.append((Path(path).name, image))
    report = run_reported(
        args,
        len(images) * len(args.quality),
        "realism decodes",
        lambda progress: run_realism_images(
            images, args.quality, args.realism, args.seed, args.model, progress
        ),
        render_images_png,
        protect=paths,
    )
    lines = [
        f"{len(images)} image(s), model {report['model']!r}, realism head {report['realism']!r}, "
        f"seed {report['seed']} (patch SW2²: 0 for the original itself)",
        f"{'quality':>7} {'bpp':>6} {'PSNR plain':>10} {'realism':>8} "
        f"{'SW2² plain':>10} {'realism':>9} {'detail plain':>12} {'realism':>8}",
    ]
    for r in report["qualities"]:
        p, q = r["plain"], r["realism"]
        lines.append(
            f"{r['quality']:>7g} {r['bpp']:>6.3f} {p['psnr']:>10.2f} {q['psnr']:>8.2f} "
            f"{p['patch_sw2']:>10.2e} {q['patch_sw2']:>9.2e} {p['detail_ratio']:>12.2f} "
            f"{q['detail_ratio']:>8.2f}"
        )
    return emit_benchmark(args, report, lines)
