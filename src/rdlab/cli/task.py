"""``rdlab task bench``: task-aware against MSE-trained compression on handwritten digits.

Trains a classifier on scikit-learn's bundled 8×8 digits, then two small learned codecs
per λ (one for MSE, one for the classifier's task loss) with rdlab's trainer, codes the
test images into real bitstreams, decodes them and reports accuracy against bits per
image; ``--plot`` draws both curves. See :mod:`rdlab.eval.task_bench`. Needs
``pip install -e '.[task]'`` (scikit-learn).
"""

from __future__ import annotations

import argparse
import io
from typing import Any

from ..errors import InputError
from ._output import add_report_options, emit_benchmark, run_reported


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("task", help="task-aware compression: accuracy against bits")
    actions = parser.add_subparsers(dest="task_action", metavar="ACTION", required=True)
    p = actions.add_parser("bench", help="digits: task-aware vs MSE-trained codecs")
    p.add_argument("--steps", type=int, default=1500, help="training steps per codec")
    p.add_argument("--task-weight", type=float, default=300.0, help="λ_task (default 300)")
    p.add_argument("--seed", type=int, default=0)
    add_report_options(p)
    p.set_defaults(run=run)


def render_png(report: dict[str, Any]) -> bytes:
    """Accuracy against bits per image for both codecs, the clean accuracy as a line."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.2), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    for name, style in (("mse", "s--"), ("task", "o-")):
        pts = sorted(report["curves"][name], key=lambda q: q["bits_per_image"])
        ax.plot(
            [q["bits_per_image"] for q in pts],
            [q["accuracy"] for q in pts],
            style,
            label=f"{name}-trained codec",
        )
    ax.axhline(report["clean_accuracy"], color="grey", lw=1, label="uncompressed")
    ax.set_xscale("log")
    ax.set_xlabel("bits per image (real bitstream)")
    ax.set_ylabel("classifier accuracy on decoded test images")
    ax.set_title("task-aware vs MSE-trained compression (8x8 digits)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def run(args: argparse.Namespace) -> int:
    from ..eval.task_bench import run_task_bench

    if args.steps < 1:
        raise InputError("--steps", f"must be >= 1, got {args.steps}")
    if not args.task_weight > 0:
        raise InputError("--task-weight", f"must be > 0, got {args.task_weight:g}")
    report = run_reported(
        args,
        12,
        "task bench",
        lambda progress: run_task_bench(
            steps=args.steps, task_weight=args.task_weight, seed=args.seed, progress=progress
        ),
        render_png,
    )
    lines = [
        f"digits: clean accuracy {report['clean_accuracy']:.3f} ({report['test_images']} "
        "test images)",
        f"{'codec':>6} {'lambda':>8} {'bits/img':>9} {'accuracy':>9} {'MSE':>8}",
    ]
    for name, points in report["curves"].items():
        for q in points:
            lines.append(
                f"{name:>6} {q['lmbda']:>8g} {q['bits_per_image']:>9.2f} "
                f"{q['accuracy']:>9.3f} {q['mse']:>8.4f}"
            )
    for name, rate in report["rate_for_99_percent"].items():
        shown = "not reached" if rate is None else f"{rate:.1f} bits/image"
        lines.append(f"99 % of clean accuracy, {name} codec: {shown}")
    return emit_benchmark(args, report, lines)
