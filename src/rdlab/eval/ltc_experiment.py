"""Lattice transform coding experiments on synthetic sources: train, code, measure.

:class:`LTCExperiment` describes one run (source, lattice, layout, λ or target rates,
training budget); :func:`run_experiment` trains one model per λ, codes held-out items to
a real ``.rdl`` bitstream, decodes it, and reports per point the quasi-Monte-Carlo rate,
the real rate (whole file and payload), MSE and the gap to the source's R(D) in dB,
10·log10(D / D_ref(R)) at the measured rate (D_ref from the closed form, Blahut–Arimoto,
or for the Laplace source the Shannon lower bound). ``rdlab ltc run`` and
``benchmarks/ltc.py`` are thin layers over it. Rates in bits per source dimension,
distortion as MSE per dimension.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import sources as src
from ..data.sources import SOURCES, make_source
from ..errors import InputError
from ..lattice import get_lattice
from ..nn.ltc import LTCModel
from ..train.ltc import evaluate_ltc, train_ltc

__all__ = ["SOURCES", "LTCExperiment", "make_source", "run_experiment"]

TEST_DIMS = 96_000  # held-out source scalars coded per point


@dataclass
class LTCExperiment:
    """One ``rdlab ltc run``: at most one of ``lam``, ``rate``, ``sweep`` (default: aim
    at 1.75 bits/dim). ``dim``: source dimension (default: the lattice dimension for a
    one-shot i.i.d. source, 1 with ``block``, 2 for banana, 4 for ar1)."""

    source: str = "gaussian"
    lattice: str = "z"
    dim: int | None = None
    block: bool = False
    rho: float = 0.9
    lam: float | None = None
    rate: float | None = None
    sweep: int | None = None
    steps: int = 800
    batch: int = 512
    hidden: int = 64
    mc_samples: int = 64
    dither: bool = False
    seed: int = 0
    test_items: int | None = None


def _setup(args: LTCExperiment) -> tuple[src.Source, Any, bool]:
    lattice = get_lattice(args.lattice)
    block = bool(args.block)
    dim = args.dim
    if args.source == "banana":
        if block:
            raise InputError("--block", "the banana source is coded one-shot (2-D)")
        dim = 2
    elif dim is None:
        dim = 4 if args.source == "ar1" else (1 if block else lattice.dim)
    if not 1 <= dim <= 64:
        raise InputError("--dim", f"must be in [1, 64], got {dim}")
    if not block and args.lattice.strip().lower() == "z":
        lattice = get_lattice(f"z^{dim}")
    if not block and args.source in ("gaussian", "laplace") and lattice.dim != dim:
        raise InputError(
            "--lattice",
            f"one-shot coding of a {dim}-D source needs a {dim}-D lattice, "
            f"{lattice.name} is {lattice.dim}-D (or use --block)",
        )
    source = make_source(args.source, dim, args.rho)
    return source, lattice.unit_volume(), block


def _reference(source: src.Source, laplace_slb: bool) -> tuple[np.ndarray, np.ndarray]:
    """The reference curve (D ascending, R) in MSE/dim and bits/dim: the source's R(D)
    (closed form or Blahut–Arimoto) or, for the Laplace source, the Shannon lower bound."""
    grid = source.variance * np.geomspace(2.0**-24, 0.999, 400)
    curve = source.shannon_lower_bound(grid) if laplace_slb else source.rate_distortion(grid)
    return grid, np.asarray(curve.rate, dtype=np.float64)


def _targets(args: LTCExperiment, source: src.Source, g: float) -> list[tuple[float, float]]:
    """(λ, initial analysis gain) per point. λ is in bits per unit of MSE per dimension.

    A target rate R is reached by the high-rate relation for lattice quantization: the
    model's MSE is ≈ 2πe·G·D_ref(R), so λ = s(D_ref(R)) / (2πe·G), with s = −dR/dD the
    reference curve's slope, and the unit-volume lattice is used with analysis gain
    1/sqrt(2πe·D_ref(R)) (cell of second moment G/gain² = the target MSE). A given λ
    starts from the Gaussian high-rate gain sqrt(2·ln2·λ·G)."""
    if args.lam is not None:
        if not (args.lam > 0 and math.isfinite(args.lam)):
            raise InputError("--lam", "must be a positive number")
        return [(float(args.lam), math.sqrt(2 * math.log(2) * args.lam * g))]
    if args.sweep is not None:
        if not 1 <= args.sweep <= 20:
            raise InputError("--sweep", "must be in [1, 20]")
        rates = np.linspace(0.75, 2.75, args.sweep) if args.sweep > 1 else np.array([1.75])
    else:
        rate = 1.75 if args.rate is None else args.rate
        if not 0.05 <= rate <= 8:
            raise InputError("--rate", "must be in [0.05, 8] bits/dim")
        rates = np.array([rate])
    d, r = _reference(source, args.source == "laplace")
    logd, order = np.log(d), np.argsort(r)
    out = []
    for rate in rates:
        d0 = float(np.exp(np.interp(rate, r[order], logd[order])))
        # slope by a centred difference in log D (bits per unit MSE per dim)
        lo, hi = np.interp(np.log(d0 * 0.95), logd, r), np.interp(np.log(d0 * 1.05), logd, r)
        slope = float(lo - hi) / (0.1 * d0)
        out.append((slope / (2 * math.pi * math.e * g), 1.0 / math.sqrt(2 * math.pi * math.e * d0)))
    return out


def _distortion_at(source: src.Source, rate: float, laplace_slb: bool) -> float:
    """D of the reference curve at ``rate`` (bits/dim): R(D) or, for Laplace, the SLB."""
    d, r = _reference(source, laplace_slb)
    order = np.argsort(r)
    return float(np.exp(np.interp(rate, r[order], np.log(d[order]))))


def _sampler(source: src.Source, block: bool, n: int):
    d = source.dim

    def sample(count: int, seed: int) -> np.ndarray:
        if block:
            return source.sample(count * n, seed=seed).reshape(count, n, d)
        return source.sample(count, seed=seed)

    return sample


def run_experiment(args: LTCExperiment, bar: Any = None) -> dict[str, Any]:
    """Train and evaluate every point of ``args``; returns the JSON-ready report.
    ``bar``: optional progress bar (``update(1)`` per training step)."""
    if args.source not in SOURCES:
        raise InputError("--source", f"must be one of {', '.join(SOURCES)}")
    for name in ("steps", "batch", "hidden", "mc_samples"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')}", "must be >= 1")
    source, lattice, block = _setup(args)
    g = lattice.known_G or 1.0 / 12.0
    targets = _targets(args, source, g)
    sample = _sampler(source, block, lattice.dim)
    item_dims = source.dim * (lattice.dim if block else 1)
    count = max(64, TEST_DIMS // item_dims) if args.test_items is None else args.test_items
    if count < 1:
        raise InputError("--test-items", "must be >= 1")
    test = sample(count, 2**40 + args.seed)
    laplace = args.source == "laplace"
    points: list[dict[str, Any]] = []
    if True:
        for i, (lam, gain) in enumerate(targets):
            model = LTCModel(
                source.dim,
                lattice,
                block=block,
                hidden=args.hidden,
                mc_samples=args.mc_samples,
                init_gain=gain,
                seed=args.seed + i,
            )
            t0 = time.perf_counter()
            train_ltc(
                model,
                sample,
                lam,
                steps=args.steps,
                batch=args.batch,
                seed=args.seed + i,
                progress=(lambda _s: bar.update(1)) if bar else None,
            )
            train_s = time.perf_counter() - t0
            ev = evaluate_ltc(model, test, dither_seed=(args.seed + i) if args.dither else None)
            point = {"lam": lam, **ev.to_dict(), "train_seconds": train_s}
            for key in ("rate_mc", "rate_real", "rate_payload"):
                d_ref = _distortion_at(source, point[key], laplace)
                point[f"gap_db_{key[5:]}"] = 10 * math.log10(ev.mse / d_ref)
            point["snr_db"] = 10 * math.log10(source.variance / ev.mse)
            points.append(point)
    reference = (
        "Shannon lower bound" if laplace else source.rate_distortion([source.variance / 2]).kind
    )
    report: dict[str, Any] = {
        "source": source.name,
        "source_dim": source.dim,
        "lattice": lattice.name,
        "layout": f"block of {lattice.dim} copies" if block else "one-shot",
        "known_G": lattice.known_G,
        "high_rate_gap_db": 10 * math.log10(2 * math.pi * math.e * g),
        "dither": bool(args.dither),
        "test_items": int(test.shape[0]),
        "gap_reference": reference,
        "units": {
            "rate": "bits per source dimension",
            "distortion": "MSE per dimension",
            "gap": "dB, 10·log10(D / D_ref(R))",
        },
        "points": points,
    }
    return report
