"""``rdlab rec bench``: relative entropy coding samplers against their bounds.

Codes seeded samples of Gaussian target/proposal pairs with D_KL from 1 to 20 bits
(1-D for every sampler; 8-D for the samplers that take vectors), decodes each message
(checking the encoder's sample comes back bit for bit) and prints, per sampler and KL,
the mean code length (bits) and mean steps beside the bounds I + log2(I + 1),
I + log2(I + 2) + 3, 2^D_inf and 2.26 I + 9.66. ``--plot`` draws both against KL.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._files import write_atomic
from ..errors import InputError
from ._output import emit_benchmark, progress_bar
from .threads_help import add_threads_argument

SAMPLER_NAMES = ("pfr", "gprs", "gprs-bb", "orc", "mrc")


def _kl_list(text: str) -> list[float]:
    """'1:20' (integers 1..20), '1:20:2' (step 2) or '1,2,4.5'."""
    try:
        if ":" in text:
            parts = [float(v) for v in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            lo, hi = parts[0], parts[1]
            step = parts[2] if len(parts) == 3 else 1.0
            if step <= 0 or hi < lo:
                raise ValueError
            values = [lo + k * step for k in range(int((hi - lo) / step + 1e-9) + 1)]
        else:
            values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a KL list: {text!r} (use 1:20, 1:20:2 or 1,2,4)"
        ) from None
    if not values or min(values) <= 0 or max(values) > 40:
        raise argparse.ArgumentTypeError("KL values must lie in (0, 40] bits")
    return values


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not values or min(values) < 1 or max(values) > 64:
        raise argparse.ArgumentTypeError("dimensions must lie in 1..64")
    return values


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("rec", help="relative entropy coding: samplers against their bounds")
    actions = parser.add_subparsers(dest="rec_action", metavar="ACTION", required=True)
    p = actions.add_parser("bench", help="code length and steps of each sampler against KL")
    p.add_argument("--kl", type=_kl_list, default=None, help="KL values in bits (default 1:20)")
    p.add_argument("--dims", type=_int_list, default=[1, 8], help="dimensions (default 1,8)")
    p.add_argument(
        "--samplers",
        default=",".join(SAMPLER_NAMES),
        help=f"comma-separated subset of {','.join(SAMPLER_NAMES)}",
    )
    p.add_argument("--runs", type=int, default=64, help="seeded samples per point (default 64)")
    p.add_argument(
        "--max-candidates",
        type=int,
        default=1 << 25,
        help="work budget per point (candidates x dims); exact global samplers get fewer "
        "runs at high D_inf and are skipped (and listed) beyond it",
    )
    p.add_argument("--quick", action="store_true", help="KL 1,2,4,8; 16 runs (smoke test)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--plot", metavar="OUT.png", default=None, help="write a PNG plot")
    p.add_argument("--force", action="store_true", help="overwrite an existing plot")
    add_threads_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .._threads import apply_threads
    from ..eval.rec_bench import RecBenchConfig, render_rec_plot, run_rec_bench

    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]
    unknown = sorted(set(samplers) - set(SAMPLER_NAMES))
    if unknown or not samplers:
        raise InputError("--samplers", f"unknown {unknown}; choose from {','.join(SAMPLER_NAMES)}")
    if args.runs < 2 or args.max_candidates < 1:
        raise InputError("--runs", "need at least 2 runs and a positive --max-candidates")
    apply_threads(args.threads)
    kls = args.kl or ([1.0, 2.0, 4.0, 8.0] if args.quick else [float(k) for k in range(1, 21)])
    config = RecBenchConfig(
        kls=tuple(kls),
        dims=tuple(args.dims),
        samplers=tuple(samplers),
        runs=16 if args.quick else args.runs,
        min_runs=min(4, 16 if args.quick else args.runs),
        max_candidates=args.max_candidates,
        seed=args.seed,
    )
    total = sum(
        1
        for d in config.dims
        for _ in config.kls
        for s in samplers
        if d == 1 or s in ("pfr", "orc", "mrc")
    )
    bar = progress_bar(total, "rec bench")
    try:
        report = run_rec_bench(config, bar.update)
    finally:
        bar.close()
    if args.plot:
        size = write_atomic(args.plot, render_rec_plot(report), overwrite=args.force)
        report["plot"] = {"path": str(args.plot), "bytes": size}
    lines = [
        f"{'sampler':>8} {'dim':>3} {'KL':>6} {'D_inf':>6} {'runs':>4} {'bits':>8} "
        f"{'I+log(I+1)':>10} {'steps':>10} {'bound':>10}"
    ]
    bound_of = {(b["dim"], b["kl_bits"]): b for b in report["bounds"]}
    for p in report["points"]:
        b = bound_of.get((p["dim"], round(p["kl_bits"], 9))) or _nearest(report["bounds"], p)
        step_bound = (
            b["bb_gprs_steps"]
            if p["sampler"] == "gprs-bb"
            else (2.0 ** p["log2_candidates"] if p["log2_candidates"] else b["global_steps"])
        )
        lines.append(
            f"{p['sampler']:>8} {p['dim']:>3} {p['kl_bits']:>6.2f} {p['dinf_bits']:>6.2f} "
            f"{p['runs']:>4} {p['mean_bits']:>8.2f} {b['kl_log_bits']:>10.2f} "
            f"{p['mean_steps']:>10.4g} {step_bound:>10.4g}"
        )
    for s in report["skipped"]:
        lines.append(
            f"{s['sampler']:>8} {s['dim']:>3} {s['kl_bits']:>6.2f}  skipped: {s['reason']}"
        )
    return emit_benchmark(args, report, lines)


def _nearest(bounds: list[dict[str, Any]], point: dict[str, Any]) -> dict[str, Any]:
    same = [b for b in bounds if b["dim"] == point["dim"]]
    return min(same, key=lambda b: abs(b["kl_bits"] - point["kl_bits"]))
