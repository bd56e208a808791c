"""``rdlab privacy bench``: private distributed mean estimation, REC against its peers.

n clients on the unit ball of R^d privatize their vectors (Gaussian, Laplace, PrivUnit
or PrivUnitG) and send them either exactly by relative entropy coding (PPR) or as
32-bit floats; for the Gaussian mechanism CSGM and stochastic quantization run beside
them at comparable bits, for PrivUnit its own seed compression. Prints, per ε, bits per
client, MSE of the mean, ε (central, the clients' local outputs, and the PPR message)
and the coder's speed; ``--plot`` draws MSE against bits per client for each ε. See
:mod:`rdlab.eval.privacy_bench`.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from ..errors import InputError
from ._output import add_report_options, emit, run_reported
from ._parser import number_list

MECHANISM_NAMES = ("gaussian", "laplace", "privunit", "privunitg")
SOURCE_NAMES = ("sphere", "images", "speech")


_EPS = number_list("epsilon must be finite and > 0", lambda v: math.isfinite(v) and v > 0)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("privacy", help="private compression: DP mechanisms sent by REC")
    actions = parser.add_subparsers(dest="privacy_action", metavar="ACTION", required=True)
    p = actions.add_parser(
        "bench", help="distributed mean estimation: MSE against bits per client, per epsilon"
    )
    p.add_argument(
        "--eps",
        type=_EPS,
        default=[0.5, 1.0, 2.0, 4.0, 8.0],
        help="epsilons (nats): central for gaussian, local for the others (default 0.5,1,2,4,8)",
    )
    p.add_argument("--delta", type=float, default=1e-5, help="delta in (0, 1) (default 1e-5)")
    p.add_argument("--dim", type=int, default=16, help="vector dimension d (default 16)")
    p.add_argument("--clients", type=int, default=100, help="clients n (default 100)")
    p.add_argument("--trials", type=int, default=20, help="trials per epsilon (default 20)")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds that together spend each epsilon (composed with dp-accounting; default 1)",
    )
    p.add_argument("--mechanism", choices=MECHANISM_NAMES, default="gaussian")
    p.add_argument("--alpha", type=float, default=2.0, help="PPR's alpha >= 1.5 (default 2)")
    p.add_argument(
        "--reference-std",
        type=float,
        default=None,
        help="gaussian only: the shared reference's std (default: planned per block)",
    )
    p.add_argument("--data", choices=SOURCE_NAMES, default="sphere", help="client vectors")
    p.add_argument("inputs", nargs="*", help="image or audio files for --data images|speech")
    p.add_argument("--seed", type=int, default=0)
    add_report_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..eval.privacy_bench import plot_report, run_bench

    if not (math.isfinite(args.delta) and 0.0 < args.delta < 1.0):
        raise InputError("--delta", f"must be in (0, 1), got {args.delta:g}")
    if args.dim < 1:
        raise InputError("--dim", f"must be >= 1, got {args.dim}")
    if args.clients < 2 or args.trials < 2:
        raise InputError("--clients", "need at least 2 clients and 2 trials")
    if args.rounds < 1:
        raise InputError("--rounds", f"must be >= 1, got {args.rounds}")
    if not (math.isfinite(args.alpha) and 1.5 <= args.alpha <= 1e6):
        raise InputError("--alpha", f"must be in [1.5, 1e6], got {args.alpha:g}")
    if args.inputs and args.data == "sphere":
        raise InputError("inputs", "input files need --data images or --data speech")
    report = run_reported(
        args,
        len(args.eps) * args.trials,
        "privacy bench",
        lambda progress: run_bench(
            mechanism=args.mechanism,
            epsilons=args.eps,
            dim=args.dim,
            clients=args.clients,
            trials=args.trials,
            delta=float(args.delta),
            alpha=args.alpha,
            source=args.data,
            paths=args.inputs or None,
            seed=args.seed,
            reference_std=args.reference_std,
            rounds=args.rounds,
            progress=progress,
        ),
        plot_report,
        protect=args.inputs,
    )
    emit(report, args.json, _text(report))
    return 0


def _fmt_eps(g: dict[str, Any] | None) -> str:
    if g is None:
        return "-"
    return f"{g['epsilon']:.3g}" + (f",{g['delta']:.0e}" if g.get("delta") else "")


def _text(report: dict[str, Any]) -> str:
    central = "central" if report["mechanism"] == "gaussian" else "local"
    lines = [
        f"{report['mechanism']} DME: d={report['dim']}, n={report['clients']}, "
        f"{report['trials']} trials, data={report['source']}, alpha={report['alpha']:g} "
        f"(eps = {central} epsilon over {report['rounds']} round(s))",
        f"{'eps':>5} {'local':>12} {'message':>14} {'REC bits':>8} {'float bits':>10} "
        f"{'MSE REC':>10} {'MSE float':>10} {'ratio':>6} {'CSGM same bits':>14} "
        f"{'enc/s':>7} {'dec/s':>8}",
    ]
    for lv in report["levels"]:
        rec, unc, chk = lv["rec"], lv["uncompressed"], lv["checks"]
        csgm = chk.get("csgm_mse_at_equal_bits")
        lines.append(
            f"{lv['epsilon']:>5.3g} {_fmt_eps(lv['local']):>12} "
            f"{_fmt_eps(rec['message']['local']):>14} {rec['payload_bits']:>8.2f} "
            f"{unc['bits']:>10.0f} {rec['mse_clients']:>10.4g} {unc['mse_clients']:>10.4g} "
            f"{chk['mse_ratio_rec_vs_uncompressed']:>6.3f} "
            f"{(f'{csgm:.4g}' if csgm is not None else '-'):>14} "
            f"{rec['encode_per_s']:>7.0f} {rec['decode_per_s']:>8.0f}"
        )
        if "seed" in lv:
            seed = lv["seed"]
            lines.append(
                f"{'':>5} seed-compressed (Feldman-Talwar): {seed['bits']:.0f} bits, MSE "
                f"{seed['mse_clients']:.4g}, message {_fmt_eps(seed['message']['local'])}-LDP, "
                f"{seed['encode_per_s']:.0f}/s"
            )
    if "plot" in report:
        lines.append(f"plot written to {report['plot']['path']}")
    return "\n".join(lines)
