"""``rdlab perception bench``: learned realism on a 2-D source.

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
from ._output import add_report_options, emit, run_reported


def _weights(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or any(not math.isfinite(v) or v < 0 for v in values):
        raise argparse.ArgumentTypeError("perception weights must be finite and >= 0")
    return values


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("perception", help="learned realism: distortion vs perception")
    actions = parser.add_subparsers(dest="perception_action", metavar="ACTION", required=True)
    p = actions.add_parser("bench", help="stochastic-decoder NTC on a 2-D source")
    p.add_argument("--source", choices=("gaussian", "laplace", "banana"), default="gaussian")
    p.add_argument("--weights", type=_weights, default=[0.0, 1.0, 4.0, 16.0], help="w_P list")
    p.add_argument("--lmbda", type=float, default=8.0, help="λ: MSE against bits per vector")
    p.add_argument("--steps", type=int, default=2000, help="training steps per model")
    p.add_argument("--seed", type=int, default=0)
    add_report_options(p)
    p.set_defaults(run=run)


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
    if args.plot:
        lines.append(f"plot written to {args.plot}")
    emit(report, args.json, "\n".join(lines))
    return 0
