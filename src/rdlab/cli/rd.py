"""``rdlab rd``: rate-distortion curves of a synthetic source next to practical quantizers.

For the chosen source: R(D) (closed form or Blahut–Arimoto), the Shannon lower bound,
entropy-constrained scalar quantization (ECSQ, per component) and, for 2 to 4
dimensions, entropy-constrained vector quantization (ECVQ). Rates in bits per dimension,
distortion as MSE per dimension (SNR = 10·log10(variance / MSE) dB).

``--remote NOISE_VAR`` (gaussian only) adds the remote source: the task variable S is the
unit-variance source, the encoder sees X = S + N(0, NOISE_VAR); its exact R(D) and ECSQ
curves measured on held-out samples, task-aware and reconstruction-aware
(:mod:`rdlab.eval.remote_task`), in bits per sample and MSE on S. It is refused with
``--perception`` (those curves are for reconstructing X itself).
"""

from __future__ import annotations

import argparse
import io
import math
from typing import Any

import numpy as np

from .._files import write_atomic
from ..errors import InputError
from ._output import emit
from ._parser import defer_arguments, number_list

TRAIN_SAMPLES = 20_000


_PERCEPTIONS = number_list(
    "perception levels must be finite and >= 0", lambda v: math.isfinite(v) and v >= 0
)
_COMMON_RATES = number_list("common randomness rates must be >= 0 (inf allowed)", lambda v: v >= 0)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("rd", help="rate-distortion curves of a synthetic source vs ECSQ/ECVQ")
    defer_arguments(parser, _arguments)  # the source names: rdlab.data.sources (SciPy)
    parser.set_defaults(run=run)


def _arguments(parser: argparse.ArgumentParser) -> None:
    from ..data.sources import SOURCES

    parser.add_argument("source", choices=SOURCES, help="the synthetic source")
    parser.add_argument("--dim", type=int, default=None, help="dimension (default 1; ar1: 2)")
    parser.add_argument("--rho", type=float, default=0.9, help="AR(1) correlation (ar1)")
    parser.add_argument("--points", type=int, default=12, help="points per curve (2-50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the training samples")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--plot", metavar="OUT.png", default=None, help="write a PNG plot")
    parser.add_argument("--force", action="store_true", help="overwrite an existing plot")
    parser.add_argument(
        "--perception",
        type=_PERCEPTIONS,
        default=None,
        help="gaussian only: add R(D, P) curves for these perception levels P (e.g. 0,0.05)",
    )
    parser.add_argument(
        "--measure",
        choices=("w2", "kl"),
        default="w2",
        help="perception measure: squared Wasserstein-2 (exact R(D, P)) or KL(P_X||P_Y) "
        "in nats (an achievable upper bound)",
    )
    parser.add_argument(
        "--rec",
        action="store_true",
        help="with --perception: code 1,000 blocks of 2 samples at a few (D, P) with REC "
        "(exact output law) and a deterministic quantizer, and report the measured points",
    )
    parser.add_argument(
        "--common-rate",
        type=_COMMON_RATES,
        default=None,
        metavar="RC[,RC..]",
        help="with --perception: also R(D, P) when encoder and decoder share only RC bits "
        "per sample of common randomness (e.g. 0,0.5,inf); exact at P = 0, an achievable "
        "upper bound (jointly Gaussian) at P > 0",
    )
    parser.add_argument(
        "--remote",
        type=float,
        default=None,
        metavar="NOISE_VAR",
        help="gaussian only: the remote source (task S ~ N(0, 1), the encoder sees "
        "X = S + N(0, NOISE_VAR)): its R(D) and measured ECSQ curves, task-aware "
        "(quantize E[S|X]) and reconstruction-aware (quantize X, decode a·X̂), MSE on S",
    )


def _curve(d: np.ndarray, r: np.ndarray, variance: float) -> list[dict[str, float]]:
    order = np.argsort(d)
    return [
        {
            "distortion": float(d[i]),
            "snr_db": float(10 * np.log10(variance / d[i])),
            "rate": float(r[i]),
        }
        for i in order
    ]


def collect(name: str, dim: int | None, rho: float, points: int, seed: int) -> dict[str, Any]:
    """Every curve ``rdlab rd`` reports, JSON-ready."""
    from ..data.sources import make_source
    from ..theory import ecsq, ecvq

    if not isinstance(points, int) or not 2 <= points <= 50:
        raise InputError("--points", f"must be an integer in [2, 50], got {points!r}")
    if dim is not None and not 1 <= dim <= 64:
        raise InputError("--dim", f"must be in [1, 64], got {dim}")
    source = make_source(name, dim, rho)
    var = source.variance
    distortions = var * np.geomspace(2.0**-8, 0.95, points)  # about 0.04 to 4 bits
    rd = source.rate_distortion(distortions)
    report: dict[str, Any] = {
        "source": source.name,
        "dim": source.dim,
        "variance_per_dim": var,
        "units": {"rate": "bits per dimension", "distortion": "MSE per dimension"},
        "curves": {
            "rd": {"kind": rd.kind, "points": _curve(rd.distortion, rd.rate, var)},
        },
    }
    try:
        slb = source.shannon_lower_bound(distortions)
        report["curves"]["slb"] = {
            "kind": slb.kind,
            "points": _curve(slb.distortion, slb.rate, var),
        }
    except NotImplementedError:  # pragma: no cover - every CLI source has h(X)
        pass
    x = source.sample(TRAIN_SAMPLES, seed=seed)
    # ECSQ applied to every component separately; λ (MSE per bit) aimed at 0.3..4.5 bits
    lams = 2 * np.log(2) * var * np.geomspace(2.0**-9, 2.0**-0.6, min(points, 10)) / 12 * 6
    sq = [ecsq(x.reshape(-1, 1), float(lam), iterations=60) for lam in lams]
    sq_d = np.array([p.distortion for p in sq])
    report["curves"]["ecsq"] = {
        "kind": f"ECSQ per component, trained and measured on {x.size} samples",
        "points": _curve(sq_d, np.array([p.rate for p in sq]), var),
    }
    if 2 <= source.dim <= 4:
        # at most 256 codewords per vector: keep the total rate below ~7 bits
        top = 7.0 / source.dim
        lam_vq = 2 * np.log(2) * var * np.geomspace(2.0 ** (-2 * top), 2.0**-0.6, 6)
        vq = [ecvq(x, float(lam), codewords=256, iterations=40, seed=seed) for lam in lam_vq]
        report["curves"]["ecvq"] = {
            "kind": f"ECVQ ({source.dim}-D, <= 256 codewords), on {x.shape[0]} vectors",
            "points": _curve(
                np.array([p.distortion for p in vq]), np.array([p.rate for p in vq]), var
            ),
        }
    return report


def add_perception(
    report: dict[str, Any],
    levels: list[float],
    measure: str,
    rec: bool,
    seed: int,
    common_rates: list[float] | None = None,
) -> None:
    """R(D, P) curves of the Gaussian source for each P (and, with ``rec``, measured
    points: REC at the limit and a deterministic quantizer), added to ``report``; with
    ``common_rates`` (bits per sample, ``inf`` allowed) also the curves with that much
    common randomness, keyed ``rdp:P:crRC``."""
    from ..eval.rdp_gaussian import deterministic_baseline, rec_point, step_for_distortion
    from ..theory.rdp import gaussian_rdp, gaussian_rdp_common_randomness

    if not report["source"].startswith("gaussian"):
        raise InputError("--perception", "R(D, P) is computed for the gaussian source only")
    var = report["variance_per_dim"]
    d = np.array([p["distortion"] for p in report["curves"]["rd"]["points"]])
    d = np.unique(np.concatenate([d, var * np.linspace(1.0, 2.0, 6)]))
    exact = "exact" if measure == "w2" else "upper bound, jointly Gaussian"
    for level in levels:
        r = gaussian_rdp(d, level, var, measure)
        keep = np.isfinite(r)
        report["curves"][f"rdp:{level:g}"] = {
            "kind": f"R(D, P={level:g}), {measure} ({exact})",
            "points": _curve(d[keep], r[keep], var),
        }
        for rc in common_rates or []:
            r = gaussian_rdp_common_randomness(d, level, rc, var, measure)
            keep = np.isfinite(r)
            if level == 0.0 or (np.isinf(rc) and measure == "w2"):
                wording = "exact"
            else:
                wording = "achievable upper bound, jointly Gaussian"
            report["curves"][f"rdp:{level:g}:cr{rc:g}"] = {
                "kind": f"R(D, P={level:g}) with {rc:g} bits/sample of common randomness, "
                f"{measure} ({wording})",
                "points": _curve(d[keep], r[keep], var),
            }
    if not rec:
        return
    points = []
    for level in levels:
        for target in (0.25 * var, 0.5 * var, var):
            try:
                point = rec_point(target, level, measure=measure, variance=var, seed=seed)
            except InputError:
                continue
            point["deterministic"] = deterministic_baseline(
                step_for_distortion(target, variance=var, seed=seed), variance=var, seed=seed
            )
            points.append(point)
    report["rec_points"] = points


REMOTE_NAMES = {
    "rd": "remote R(D)",
    "task_aware": "task-aware ECSQ",
    "reconstruction_aware": "reconstruction-aware ECSQ",
    "reconstruction_as_is": "reconstruction as is (a = 1)",
}


def add_remote(report: dict[str, Any], noise_variance: float, points: int, seed: int) -> None:
    """The Gaussian remote source next to ``report`` (whose source must be gaussian):
    the task variable is the unit-variance source S, the encoder sees
    X = S + N(0, ``noise_variance``). Adds ``report["remote"]``
    (:func:`rdlab.eval.remote_task.remote_task_report`: the remote R(D) and the
    task-aware / reconstruction-aware ECSQ curves measured on held-out samples; rates in
    bits per sample, MSE on S per sample), with ``min(points, 12)`` target rates from
    0.5 to 4 bits and ``4 * points`` (41 to 200) points on the bound.

    Raises:
        InputError: a non-Gaussian source, or ``noise_variance`` not finite and > 0.
    """
    from ..eval.remote_task import remote_task_report

    _check_remote(report["source"], noise_variance)
    report["remote"] = remote_task_report(
        noise_variance,
        signal_variance=report["variance_per_dim"],
        rates=np.linspace(0.5, 4.0, min(points, 12)),
        bound_points=min(max(4 * points, 41), 200),
        seed=seed,
    )


def _check_remote(source: str, noise_variance: float) -> None:
    if not source.startswith("gaussian"):
        raise InputError("--remote", "the remote source is computed for the gaussian source only")
    if not (np.isfinite(noise_variance) and noise_variance > 0):
        raise InputError("--remote", f"NOISE_VAR must be finite and > 0, got {noise_variance:g}")


def _remote_panel(ax: Any, remote: dict[str, Any]) -> None:
    styles = {
        "rd": ("-", "black"),
        "task_aware": ("o-", "tab:blue"),
        "reconstruction_aware": ("x--", "tab:orange"),
        "reconstruction_as_is": ("v:", "tab:grey"),
    }
    for key, curve in remote["curves"].items():
        d = [10 * np.log10(p["distortion"]) for p in curve["points"]]
        r = [p["rate"] for p in curve["points"]]
        style, color = styles.get(key, ("-.", None))
        ax.plot(d, r, style, color=color, label=REMOTE_NAMES.get(key, key), markersize=4)
    ax.axvline(10 * np.log10(remote["mmse"]), color="red", lw=0.8, ls=":", label="mmse floor")
    ax.set_xlabel("MSE on S (dB, 10·log10 MSE)")
    ax.set_ylabel("rate R (bits per sample; measured: range-coded)")
    ax.set_title(f"remote Gaussian: X = S + N(0, {remote['noise_variance']:g})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def render_png(report: dict[str, Any]) -> bytes:
    """The curves as a PNG: rate (bits/dim) against MSE/dim on a log axis."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    remote = report.get("remote")
    fig = Figure(figsize=(12.5, 4.5) if remote else (7, 4.5), dpi=110)
    ax = fig.add_subplot(1, 2 if remote else 1, 1)
    styles = {"rd": ("-", "R(D)"), "slb": ("--", "Shannon lower bound"), "ecsq": ("o-", "ECSQ")}
    styles["ecvq"] = ("s-", "ECVQ")
    styles["ltc_mc"] = ("D-", "LTC (Monte-Carlo rate)")
    styles["ltc_real"] = ("x--", "LTC (real bitstream)")
    for key, curve in report["curves"].items():
        d = [p["distortion"] for p in curve["points"]]
        r = [p["rate"] for p in curve["points"]]
        default = key.replace("rdp:", "R(D, P=").replace(":cr", ", R_c=") + ")"
        style, label = styles.get(key, ("-.", default))
        ax.plot(
            d,
            r,
            style,
            label=label if curve["kind"] == label else f"{label}: {curve['kind']}",
            markersize=4,
        )
    for point in report.get("rec_points", []):
        ax.plot(point["distortion"], point["rate"], "^", color="black", markersize=6)
        det = point["deterministic"]
        ax.plot(det["distortion"], det["rate"], "v", color="grey", markersize=6)
    if report.get("rec_points"):
        ax.plot([], [], "^", color="black", label="REC at the limit (P as set)")
        ax.plot([], [], "v", color="grey", label="deterministic quantizer (P > 0)")
    ax.set_xscale("log")
    ax.set_xlabel("distortion D (MSE per dimension, log scale)")
    ax.set_ylabel("rate R (bits per dimension)")
    ax.set_title(report.get("title") or f"rate-distortion of {report['source']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    if remote:
        _remote_panel(fig.add_subplot(1, 2, 2), remote)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _table(curve: dict[str, Any]) -> str:
    lines = [f"  {'MSE/dim':>10} {'SNR dB':>8} {'bits/dim':>9}"]
    lines += [
        f"  {p['distortion']:>10.4g} {p['snr_db']:>8.2f} {p['rate']:>9.4f}" for p in curve["points"]
    ]
    return "\n".join(lines)


def _remote_text(remote: dict[str, Any]) -> str:
    a = remote["gain_refit"]
    lines = [
        f"remote source: S ~ N(0, {remote['signal_variance']:g}), encoder sees X = S + "
        f"N(0, {remote['noise_variance']:g}); MSE on S (floor mmse {remote['mmse']:.4g}), "
        f"bits/sample; gap: dB of MSE above the remote R(D) at equal rate; MMSE gain "
        f"{remote['gain']:.4g}, refit a in [{min(a):.4g}, {max(a):.4g}]"
    ]
    for key, curve in remote["curves"].items():
        lines.append(f"{REMOTE_NAMES.get(key, key)} [{curve['kind']}]:")
        head = f"  {'MSE on S':>10} {'SNR dB':>8} {'bits/smp':>9}"
        if key == "rd":
            lines.append(head)
            lines += [
                f"  {p['distortion']:>10.4g} {p['snr_db']:>8.2f} {p['rate']:>9.4f}"
                for p in curve["points"]
            ]
            continue
        lines.append(f"{head} {'entropy':>8} {'gap dB':>7}")
        lines += [
            f"  {p['distortion']:>10.4g} {p['snr_db']:>8.2f} {p['rate']:>9.4f} "
            f"{p['entropy']:>8.4f} {p['gap_db']:>7.3f}"
            for p in curve["points"]
        ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    remote = getattr(args, "remote", None)
    if remote is not None:
        if getattr(args, "perception", None):
            raise InputError(
                "--remote", "cannot be combined with --perception (R(D, P) is for X itself)"
            )
        _check_remote(args.source, remote)
    report = collect(
        args.source,
        getattr(args, "dim", None),
        getattr(args, "rho", 0.9),
        getattr(args, "points", 12),
        getattr(args, "seed", 0),
    )
    levels = getattr(args, "perception", None)
    if getattr(args, "rec", False) and not levels:
        raise InputError("--rec", "needs --perception")
    common_rates = getattr(args, "common_rate", None)
    if common_rates and not levels:
        raise InputError("--common-rate", "needs --perception")
    if levels:
        add_perception(
            report,
            levels,
            getattr(args, "measure", "w2"),
            getattr(args, "rec", False),
            getattr(args, "seed", 0),
            common_rates,
        )
    if remote is not None:
        add_remote(report, remote, getattr(args, "points", 12), getattr(args, "seed", 0))
    plot = getattr(args, "plot", None)
    if plot:
        size = write_atomic(plot, render_png(report), overwrite=getattr(args, "force", False))
        report["plot"] = {"path": str(plot), "bytes": size}
    names = {"rd": "R(D)", "slb": "Shannon lower bound", "ecsq": "ECSQ", "ecvq": "ECVQ"}
    parts = [f"{report['source']} (rates in bits/dim, distortion MSE/dim)"]
    for key, curve in report["curves"].items():
        parts.append(f"{names.get(key, key)} [{curve['kind']}]:\n{_table(curve)}")
    for pt in report.get("rec_points", []):
        det = pt["deterministic"]
        parts.append(
            f"REC D={pt['distortion_target']:g} P={pt['perception_target']:g}: "
            f"{pt['rate']:.3f} bits/sample (R(D,P) {pt['theory_rate']:.3f}), MSE "
            f"{pt['distortion']:.4f}, W2² to source {pt['w2_to_source']:.4f}, output KS p "
            f"{pt['output_ks_pvalue']:.2f}; deterministic: {det['rate']:.3f} bits, MSE "
            f"{det['distortion']:.4f}, W2² {det['w2_to_source']:.4f}"
        )
    if "remote" in report:
        parts.append(_remote_text(report["remote"]))
    if plot:
        parts.append(f"plot written to {plot}")
    emit(report, getattr(args, "json", False), "\n".join(parts))
    return 0
