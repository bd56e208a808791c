"""Relative entropy coding measured against its bounds: code length and steps per sampler.

For each sampler, dimension and target KL, :func:`run_rec_bench` codes ``runs`` seeded
samples of a Gaussian pair (:func:`gaussian_pair`), decodes each message and checks it
returns the encoder's sample bit for bit, and reports the mean code length (ideal bits
of the message, and the bytes of a message coded alone), the mean number of steps
(candidates simulated, or tree depth for branch-and-bound GPRS), both with standard
errors, beside the bounds of :mod:`rdlab.theory.rec`:

- code length: ``I + log2(I + 1)`` (all samplers), ``I + log2(I + 2) + 3`` (GPRS);
- steps: ``2**D_inf`` (PFR / A*, global GPRS), ``2.26 I + 9.66`` (branch-and-bound
  GPRS), ``N = 2**log2_candidates`` (ordered and minimal random coding, fixed).

Exact global samplers need about ``2**D_inf`` candidates per run, so a point whose
expected work ``runs x steps`` exceeds ``max_candidates`` gets fewer runs (at least
``min_runs``), and a point whose single run would exceed it is skipped and listed with
the reason (``skipped``), never silently dropped. Units: KL, D_inf and code lengths in
bits; steps are counts.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from ..rec.distributions import Gaussian, dinf_bits, kl_bits
from ..theory.rec import bb_gprs_steps_bound, global_steps, gprs_bound, kl_log_bound

__all__ = ["RecBenchConfig", "gaussian_pair", "render_rec_plot", "run_rec_bench"]

#: samplers that handle d-dimensional diagonal Gaussians; the others are 1-D only
MULTI_DIM = ("pfr", "orc", "mrc")
EXACT_GLOBAL = ("pfr", "gprs")


def gaussian_pair(
    kl: float, dim: int = 1, mean_fraction: float = 0.25
) -> tuple[Gaussian, Gaussian]:
    """A target Q and the proposal P = N(0, I_dim) with D_KL(Q || P) = ``kl`` bits.

    Every dimension carries kl / dim bits: a share ``mean_fraction`` of it from a mean
    shift (delta^2 / 2 nats) and the rest from a narrower standard deviation rho < 1
    (-ln rho + (rho^2 - 1) / 2 nats, solved by bisection). Returns (target, proposal).
    """
    if not (kl > 0 and math.isfinite(kl)) or dim < 1 or not 0 <= mean_fraction < 1:
        raise InputError(
            "kl", f"need kl > 0 bits, dim >= 1, 0 <= mean_fraction < 1; got {kl}, {dim}"
        )
    per_dim = kl * math.log(2.0) / dim  # nats
    delta = math.sqrt(2.0 * mean_fraction * per_dim)
    rest = (1.0 - mean_fraction) * per_dim
    lo, hi = 1e-300, 1.0
    for _ in range(200):
        rho = 0.5 * (lo + hi) if lo > 1e-30 else math.sqrt(lo * hi)
        value = -math.log(rho) + 0.5 * (rho * rho - 1.0)
        lo, hi = (rho, hi) if value > rest else (lo, rho)
    rho = 0.5 * (lo + hi)
    target = Gaussian(np.full(dim, delta), np.full(dim, rho))
    return target, Gaussian(np.zeros(dim), np.ones(dim))


@dataclass
class RecBenchConfig:
    """What :func:`run_rec_bench` measures (KL in bits)."""

    kls: Sequence[float] = tuple(range(1, 21))
    dims: Sequence[int] = (1, 8)
    samplers: Sequence[str] = ("pfr", "gprs", "gprs-bb", "orc", "mrc")
    runs: int = 64
    min_runs: int = 4
    max_candidates: int = 1 << 25
    seed: int = 0
    mean_fraction: float = 0.25
    extra_candidate_bits: int = 2


def _sampler(name: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    from ..rec import SAMPLERS

    if name not in SAMPLERS:
        raise InputError("samplers", f"unknown sampler {name!r}; choose from {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def _expected_steps(name: str, kl: float, dinf: float, log2_n: int) -> float:
    if name in EXACT_GLOBAL:
        return float(global_steps(dinf))
    if name == "gprs-bb":
        return float(bb_gprs_steps_bound(kl))
    return float(2**log2_n)


def _options(name: str, log2_n: int) -> dict[str, Any]:
    return {"log2_candidates": log2_n} if name in ("orc", "mrc") else {}


def _point(name: str, dim: int, kl: float, config: RecBenchConfig, runs: int) -> dict[str, Any]:
    encode, decode = _sampler(name)
    target, proposal = gaussian_pair(kl, dim, config.mean_fraction)
    log2_n = math.ceil(kl) + config.extra_candidate_bits
    bits, payload, steps = [], [], []
    start = time.perf_counter()
    for run in range(runs):
        seed = config.seed * 1_000_003 + run
        message = encode(target, proposal, seed, block=int(kl * 16) + dim, **_options(name, log2_n))
        decoded = decode(message, proposal, seed, block=int(kl * 16) + dim)
        if not np.array_equal(decoded, message.sample):
            raise AssertionError(f"{name}: decoded sample differs from the encoder's (seed {seed})")
        bits.append(message.bits)
        payload.append(8 * len(message.data))
        steps.append(message.steps)
    seconds = time.perf_counter() - start
    b, s = np.asarray(bits, float), np.asarray(steps, float)
    return {
        "sampler": name,
        "dim": dim,
        "kl_bits": float(kl_bits(target, proposal)),
        "dinf_bits": float(dinf_bits(target, proposal)),
        "runs": runs,
        "mean_bits": float(b.mean()),
        "sem_bits": _sem(b),
        "mean_payload_bits": float(np.mean(payload)),
        "mean_steps": float(s.mean()),
        "sem_steps": _sem(s),
        "log2_candidates": log2_n if name in ("orc", "mrc") else None,
        "seconds": seconds,
        "steps_per_second": float(s.sum() / seconds) if seconds > 0 else None,
    }


def _sem(values: np.ndarray) -> float:
    """Standard error of the mean (nan for a single value)."""
    return float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else math.nan


def _bounds(kl: float, dinf: float) -> dict[str, float]:
    return {
        "kl_log_bits": float(kl_log_bound(kl)),
        "gprs_bits": float(gprs_bound(kl)),
        "global_steps": float(global_steps(dinf)),
        "bb_gprs_steps": float(bb_gprs_steps_bound(kl)),
    }


def run_rec_bench(
    config: RecBenchConfig, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Measure every (sampler, dim, KL) point of ``config``; a JSON-ready report."""
    points: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    bounds: list[dict[str, Any]] = []
    for dim in config.dims:
        for kl in config.kls:
            target, proposal = gaussian_pair(kl, dim, config.mean_fraction)
            dinf = dinf_bits(target, proposal)
            bounds.append(
                {"dim": dim, "kl_bits": float(kl), "dinf_bits": dinf, **_bounds(kl, dinf)}
            )
            for name in config.samplers:
                if dim > 1 and name not in MULTI_DIM:
                    continue
                log2_n = math.ceil(kl) + config.extra_candidate_bits
                expected = _expected_steps(name, kl, dinf, log2_n) * dim
                runs = int(min(config.runs, config.max_candidates // max(expected, 1.0)))
                if runs < config.min_runs:
                    skipped.append(
                        {
                            "sampler": name,
                            "dim": dim,
                            "kl_bits": float(kl),
                            "reason": f"expected {expected:.3g} candidate-dimensions per run; "
                            f"{config.min_runs} runs exceed max_candidates={config.max_candidates}",
                        }
                    )
                else:
                    points.append(_point(name, dim, float(kl), config, runs))
                if progress is not None:
                    progress(1)
    settings = asdict(config)
    settings = {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}
    return {"config": settings, "points": points, "bounds": bounds, "skipped": skipped}


def render_rec_plot(report: dict[str, Any], dpi: int = 110) -> bytes:
    """Two panels per dimension: mean code length against KL with the bounds, and mean
    steps (log scale) against KL with the step bounds. PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dims = sorted({p["dim"] for p in report["points"]} | {b["dim"] for b in report["bounds"]})
    figure = Figure(figsize=(11, 4.2 * len(dims)), dpi=dpi)
    FigureCanvasAgg(figure)
    markers = {"pfr": "o", "gprs": "s", "gprs-bb": "^", "orc": "D", "mrc": "v"}
    for row, dim in enumerate(dims):
        bounds = sorted(
            (b for b in report["bounds"] if b["dim"] == dim), key=lambda b: b["kl_bits"]
        )
        kl = [b["kl_bits"] for b in bounds]
        rate_ax = figure.add_subplot(len(dims), 2, 2 * row + 1)
        steps_ax = figure.add_subplot(len(dims), 2, 2 * row + 2)
        rate_ax.plot(kl, kl, ":", color="grey", label="I (KL)")
        rate_ax.plot(kl, [b["kl_log_bits"] for b in bounds], "k-", label="I + log2(I+1)")
        rate_ax.plot(
            kl, [b["gprs_bits"] for b in bounds], "k--", label="GPRS bound I + log2(I+2) + 3"
        )
        steps_ax.plot(kl, [b["global_steps"] for b in bounds], "k-", label="2^D∞ (A*, global GPRS)")
        if dim == 1:
            steps_ax.plot(
                kl, [b["bb_gprs_steps"] for b in bounds], "k--", label="2.26 I + 9.66 (B&B GPRS)"
            )
        for name in report["config"]["samplers"]:
            pts = sorted(
                (p for p in report["points"] if p["dim"] == dim and p["sampler"] == name),
                key=lambda p: p["kl_bits"],
            )
            if not pts:
                continue
            x = [p["kl_bits"] for p in pts]
            marker = markers.get(name, "o")
            rate_ax.errorbar(
                x, [p["mean_bits"] for p in pts], yerr=[p["sem_bits"] for p in pts],
                marker=marker, markersize=4, linewidth=1.2, capsize=2, label=name,
            )  # fmt: skip
            steps_ax.errorbar(
                x, [p["mean_steps"] for p in pts], yerr=[p["sem_steps"] for p in pts],
                marker=marker, markersize=4, linewidth=1.2, capsize=2, label=name,
            )  # fmt: skip
        rate_ax.set_xlabel("D_KL(Q||P) (bits)")
        rate_ax.set_ylabel("mean code length (bits)")
        rate_ax.set_title(f"code length, {dim}-D Gaussian pairs")
        steps_ax.set_yscale("log")
        steps_ax.set_xlabel("D_KL(Q||P) (bits)")
        steps_ax.set_ylabel("mean steps (candidates or tree depth)")
        steps_ax.set_title(f"runtime, {dim}-D Gaussian pairs")
        for ax in (rate_ax, steps_ax):
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
