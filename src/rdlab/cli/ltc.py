"""``rdlab ltc run``: train and evaluate lattice transform coding on a synthetic source.

Trains an LTC model (analysis MLP -> lattice -> synthesis MLP, factorized mixture
density, loss R + λ·D) for one λ or a sweep, then codes held-out items to a real
``.rdl`` bitstream and decodes it. Reports per point: the quasi-Monte-Carlo rate, the
real rate (whole file, and payload only), MSE, and the gap to the source's R(D) in dB
(10·log10(D / D(R)) at the measured rate; against the Shannon lower bound for the
Laplace source). ``--plot`` draws the points with R(D), the Shannon lower bound, ECSQ
and ECVQ. Rates in bits per source dimension, distortion as MSE per dimension.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from .._files import write_atomic
from . import rd
from ._output import emit_benchmark, progress_bar
from ._parser import defer_arguments
from .threads_help import add_threads_argument


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("ltc", help="lattice transform coding on synthetic sources")
    actions = parser.add_subparsers(dest="ltc_action", metavar="ACTION", required=True)
    p = actions.add_parser("run", help="train and evaluate LTC (real bitstreams)")
    defer_arguments(p, _run_arguments)  # choices, defaults: rdlab.eval.ltc_experiment (PyTorch)
    p.set_defaults(run=run)


def _run_arguments(p: argparse.ArgumentParser) -> None:
    from ..eval.ltc_experiment import SOURCES, LTCExperiment

    p.add_argument("--source", choices=SOURCES, default="gaussian", help="synthetic source")
    p.add_argument(
        "--dim",
        type=int,
        default=None,
        help="source dimension (default: the lattice dim one-shot, 1 with --block; "
        "banana 2, ar1 4)",
    )
    p.add_argument(
        "--lattice",
        default="z",
        help="lattice: z, a2, d4, dn, dn*, e8, bw16, leech, products like e8^3 (case-insensitive)",
    )
    p.add_argument(
        "--block",
        action="store_true",
        help="block LTC: n i.i.d. copies of the source per lattice vector (n = lattice dim)",
    )
    p.add_argument("--rho", type=float, default=0.9, help="AR(1) correlation (ar1)")
    target = p.add_mutually_exclusive_group()
    target.add_argument(
        "--lam", type=float, default=None, help="λ of the loss R + λ·MSE (bits per unit MSE)"
    )
    target.add_argument(
        "--rate", type=float, default=None, help="aim λ at this rate in bits/dim (default 1.75)"
    )
    target.add_argument(
        "--sweep",
        type=int,
        default=None,
        metavar="K",
        help="K values of λ aimed at 0.75..2.75 bits/dim",
    )
    p.add_argument(
        "--steps", type=int, default=LTCExperiment.steps, help="training steps per point"
    )
    p.add_argument("--batch", type=int, default=512, help="training batch (items)")
    p.add_argument("--hidden", type=int, default=64, help="MLP width")
    p.add_argument(
        "--mc-samples", type=int, default=64, help="quasi-MC cell samples (rate and coder)"
    )
    p.add_argument("--dither", action="store_true", help="subtractive dither at test time")
    p.add_argument(
        "--test-items",
        type=int,
        default=None,
        help="held-out items coded per point (default: 96,000 source scalars' worth)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--plot", metavar="OUT.png", default=None, help="write a PNG plot")
    p.add_argument("--force", action="store_true", help="overwrite an existing plot")
    add_threads_argument(p)


def run(args: argparse.Namespace) -> int:
    from .._threads import apply_threads
    from ..eval.ltc_experiment import LTCExperiment, run_experiment

    apply_threads(args.threads)
    fields = {f.name for f in dataclasses.fields(LTCExperiment)}
    exp = LTCExperiment(**{k: v for k, v in vars(args).items() if k in fields})
    bar = progress_bar((args.sweep or 1) * args.steps if args.steps > 0 else 0, "ltc training")
    try:
        report = run_experiment(exp, bar)
    finally:
        bar.close()
    if args.plot:
        size = write_atomic(args.plot, render(report, args), overwrite=args.force)
        report["plot"] = {"path": str(args.plot), "bytes": size}
    points = report["points"]
    lines = [
        f"LTC {report['lattice']} ({report['layout']}) on {report['source']}; "
        f"gap vs {report['gap_reference']}",
        f"  {'lambda':>8} {'R mc':>7} {'R file':>7} {'R pay':>7} {'MSE':>9} "
        f"{'gap mc dB':>9} {'gap file':>8} {'train s':>7}",
    ]
    for p in points:
        lines.append(
            f"  {p['lam']:>8.3f} {p['rate_mc']:>7.4f} {p['rate_real']:>7.4f} "
            f"{p['rate_payload']:>7.4f} {p['mse']:>9.5f} {p['gap_db_mc']:>9.3f} "
            f"{p['gap_db_real']:>8.3f} {p['train_seconds']:>7.1f}"
        )
    return emit_benchmark(args, report, lines)


def render(report: dict[str, Any], args: argparse.Namespace) -> bytes:
    """LTC points on the axes of ``rdlab rd`` (R(D), SLB, ECSQ, ECVQ of the source; for
    i.i.d. sources ECVQ is trained on 2-D blocks)."""
    iid = args.source in ("gaussian", "laplace")
    dim = 2 if iid else (None if args.source == "banana" else report["source_dim"])
    base = rd.collect(args.source, dim, args.rho, 12, args.seed)
    for key, rate_key in (("ltc_mc", "rate_mc"), ("ltc_real", "rate_real")):
        base["curves"][key] = {
            "kind": key,
            "points": [{"distortion": p["mse"], "rate": p[rate_key]} for p in report["points"]],
        }
    base["curves"]["ltc_mc"]["kind"] = f"{report['lattice']}, {report['layout']}"
    base["curves"]["ltc_real"]["kind"] = f"{report['lattice']}, whole .rdl file"
    base["title"] = f"LTC {report['lattice']} on {report['source']}"
    return rd.render_png(base)
