"""Distributed mean estimation under differential privacy: REC against its peers.

n clients hold vectors in the unit L2 ball of R^d; each privatizes its vector with a
mechanism and sends it; the server averages the unbiased estimates. Per privacy level,
all schemes run in the same process on the same data:

- ``rec``: the mechanism's output sent exactly by PPR (:mod:`rdlab.privacy.coding`);
- ``uncompressed``: the same mechanism, output sent as 32-bit floats;
- ``csgm`` (Gaussian only): coordinate-subsampled Gaussian at several bit budgets,
  the first one equal to REC's measured bits (:mod:`rdlab.privacy.baselines`);
- ``sq`` (Gaussian only): Gaussian mechanism + stochastic quantization, 1, 2, 4, 8 bits
  per coordinate;
- ``seed`` (PrivUnit, PrivUnitG): their own compression, a 32-bit public generator
  seed found by rejection sampling (Feldman & Talwar 2021), whose message is ε-LDP.

**Privacy levels.** For ``gaussian`` the ε values are **central** (what the averaged
estimates of ``rounds`` rounds guarantee together, composed by dp-accounting's PLD;
add/remove-one-client adjacency, δ as given): each
client adds noise of std ``σ = z C / √n`` where z is the noise multiplier that makes the
sum's Gaussian (std ``σ √n``, sensitivity C) (ε, δ)-DP; the clients' outputs are then
locally (ε_local, δ)-DP with the larger ε_local reported beside it. For the pure
mechanisms (``laplace``, ``privunit``, ``privunitg``) the ε values are **local**; the
average is post-processing, so the central guarantee is the same ε (no amplification is
claimed). The message's own local guarantee under PPR (2αε for pure mechanisms) is
reported by :func:`rdlab.privacy.message_guarantee`. With ``rounds > 1`` each round is
calibrated so that all of them together meet ε (pure mechanisms: ε / rounds per round,
the PLD composition reported beside it), and the MSE is that of one round.

**MSE** (squared L2 of the mean estimate's error, data units): ``mse`` is measured
directly over the trials; ``mse_clients`` is ``mean_i ||e_i||² / n`` from every
client's own error, the same expectation for independent unbiased clients (which
exactness gives) with far less noise; both come with standard errors and the report
checks they agree. Ratios between schemes use ``mse_clients``.

Data (``source``): ``sphere`` (uniform on the unit sphere), ``images`` (client = an
image tile; vector = the tile's mean √d×√d luma patch, centered and scaled into the
ball) or ``speech`` (client = a chunk of audio; vector = its mean log-magnitude spectrum
over frames of 2(d-1) samples, centered and scaled).
"""

from __future__ import annotations

import io
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..privacy import (
    Accountant,
    GaussianMechanism,
    Mechanism,
    calibrate_gaussian,
    decode_round,
    encode_round,
    get_mechanism,
    message_guarantee,
)
from ..privacy.baselines import (
    csgm_noise,
    csgm_round,
    quantized_gaussian_round,
    seed_compressed_round,
)
from ..privacy.mechanisms import MECHANISMS

__all__ = ["SOURCES", "client_vectors", "plot_report", "run_bench"]

SOURCES = ("sphere", "images", "speech")
_BENCH_MECHANISMS = ("gaussian", "laplace", "privunit", "privunitg")
_SQ_BITS = (1, 2, 4, 8)
_CSGM_MULTIPLES = (1, 2, 4, 8, 16)


# ---------------------------------------------------------------------------------------
# client data
# ---------------------------------------------------------------------------------------


def _into_ball(vectors: np.ndarray) -> np.ndarray:
    """Center the clients' vectors and scale them so that the longest has norm 1."""
    v = vectors - vectors.mean(axis=0)
    top = float(np.linalg.norm(v, axis=1).max())
    if top == 0.0:
        raise InputError("data", "every client holds the same vector: nothing to estimate")
    return v / top


def _image_clients(paths: Sequence[str], n: int, d: int) -> np.ndarray:
    from ..data.images import read_image

    k = math.isqrt(d)
    if k * k != d:
        raise InputError("dim", f"--data images needs a square dimension (4, 9, 16, ...), got {d}")
    lumas = []
    for p in paths:
        img = read_image(p).astype(np.float64) / 255.0
        lumas.append(img if img.ndim == 2 else img @ np.array([0.299, 0.587, 0.114]))
    pixels = sum(a.size for a in lumas)
    tile = max(k, int(math.sqrt(pixels / n)) // k * k)
    while tile > k and sum((a.shape[0] // tile) * (a.shape[1] // tile) for a in lumas) < n:
        tile -= k
    vectors = []
    for a in lumas:
        for r in range(0, a.shape[0] - tile + 1, tile):
            for c in range(0, a.shape[1] - tile + 1, tile):
                t = a[r : r + tile, c : c + tile]
                patches = t.reshape(tile // k, k, tile // k, k).transpose(0, 2, 1, 3)
                vectors.append(patches.reshape(-1, d).mean(axis=0))
    if len(vectors) < n:
        raise InputError("clients", f"the images give only {len(vectors)} clients of {k}x{k}")
    return np.array(vectors[:n])


def _speech_clients(paths: Sequence[str], n: int, d: int) -> np.ndarray:
    from ..data.audio import read_audio

    if d < 2:
        raise InputError("dim", "--data speech needs dim >= 2")
    frame = 2 * (d - 1)
    samples = np.concatenate([read_audio(p).samples.astype(np.float64).ravel() for p in paths])
    per_client = samples.size // n
    frames_each = per_client // frame
    if frames_each < 1:
        raise InputError("clients", f"{samples.size} samples cannot feed {n} clients of dim {d}")
    window = np.hanning(frame)
    usable = samples[: n * frames_each * frame].reshape(n, frames_each, frame)
    spectra = np.log(np.abs(np.fft.rfft(usable * window, axis=-1)) + 1e-6)
    return spectra.mean(axis=1)


def client_vectors(
    source: str, clients: int, dim: int, *, seed: int = 0, paths: Sequence[str] | None = None
) -> np.ndarray:
    """The clients' vectors, shape (clients, dim), all in the unit L2 ball.

    Raises:
        InputError: unknown source, too little data for the clients, a bad dimension.
    """
    if source not in SOURCES:
        raise InputError("data", f"unknown source {source!r}; choose from {', '.join(SOURCES)}")
    if source == "sphere":
        x = np.random.default_rng([seed, 7]).standard_normal((clients, dim))
        return x / np.linalg.norm(x, axis=1, keepdims=True)
    if not paths:
        raise InputError("paths", f"--data {source} needs input files")
    for p in paths:
        if not os.path.isfile(p):
            raise InputError("paths", f"{p}: no such file")
    raw = (
        _image_clients(paths, clients, dim)
        if source == "images"
        else _speech_clients(paths, clients, dim)
    )
    return _into_ball(raw)


# ---------------------------------------------------------------------------------------
# one privacy level
# ---------------------------------------------------------------------------------------


class _Stats:
    """Accumulates squared errors of the mean estimate and of each client."""

    def __init__(self) -> None:
        self.trial: list[float] = []
        self.client: list[float] = []

    def add(self, mean_est: np.ndarray, estimates: np.ndarray | None, x: np.ndarray) -> None:
        self.trial.append(float(np.sum((mean_est - x.mean(axis=0)) ** 2)))
        if estimates is not None:
            self.client.extend(np.sum((estimates - x) ** 2, axis=1).tolist())

    def report(self, n: int) -> dict[str, float]:
        t = np.array(self.trial)
        out = {"mse": float(t.mean()), "mse_se": float(t.std(ddof=1) / math.sqrt(t.size))}
        if self.client:
            c = np.array(self.client) / n
            out["mse_clients"] = float(c.mean())
            out["mse_clients_se"] = float(c.std(ddof=1) / math.sqrt(c.size))
        return out


def _mechanism_for(
    name: str,
    epsilon: float,
    delta: float,
    dim: int,
    clients: int,
    reference_std: float | None,
    rounds: int,
) -> tuple[Mechanism, dict[str, Any]]:
    """The mechanism one round uses so that ``rounds`` rounds together meet ``epsilon``
    centrally: the Gaussian's noise by dp-accounting's PLD over the composed rounds, a
    pure mechanism at ε / rounds per round (basic composition: the average of a round is
    post-processing of the clients' outputs, no amplification is claimed)."""
    if name == "gaussian":
        z = calibrate_gaussian(epsilon, delta, rounds=rounds)
        mech: Mechanism = GaussianMechanism(
            dim,
            clip_norm=1.0,
            sigma=z / math.sqrt(clients),
            delta=delta,
            reference_std=reference_std,
        )
        central = {"epsilon": epsilon, "delta": delta, "noise_multiplier": z, "rounds": rounds}
    else:
        mech = get_mechanism(name, dim=dim, epsilon=epsilon / rounds)
        central = {"epsilon": epsilon, "delta": 0.0, "rounds": rounds}
        check = Accountant()
        mech.account(check, rounds)
        central["pld_epsilon_at_1e-9"] = check.epsilon(1e-9)  # tighter than the sum
    return mech, central


def _rec(
    mech: Mechanism, x: np.ndarray, trials: int, alpha: float, seed: int, tick: Callable[[], None]
) -> dict[str, Any]:
    gen = np.random.default_rng([seed, 11])
    stats = _Stats()
    bits, payload_bits, enc_s, dec_s, steps = [], [], 0.0, 0.0, []
    for t in range(trials):
        r = encode_round(mech, x, seed=seed, round=t, alpha=alpha, generator=gen)
        start = time.perf_counter()
        y = decode_round(mech, r.payload, x.shape[0], seed=seed, round=t)
        dec_s += time.perf_counter() - start
        enc_s += r.encode_seconds
        if not np.array_equal(y, r.outputs):
            raise AssertionError("decoded outputs differ from the encoder's")  # never expected
        est = mech.estimate(y)
        stats.add(est.mean(axis=0), est, x)
        bits.append(float(r.bits.mean()))
        payload_bits.append(8.0 * len(r.payload) / x.shape[0])
        steps.append(float(r.steps.mean()))
        tick()
    n_msgs = trials * x.shape[0]
    return {
        **stats.report(x.shape[0]),
        "bits": float(np.mean(bits)),
        "payload_bits": float(np.mean(payload_bits)),
        "steps": float(np.mean(steps)),
        "encode_per_s": n_msgs / enc_s,
        "decode_per_s": n_msgs / dec_s,
        "message": message_guarantee(mech, "ppr", alpha).to_json(),
    }


def _uncompressed(mech: Mechanism, x: np.ndarray, trials: int, seed: int) -> dict[str, Any]:
    gen = np.random.default_rng([seed, 13])
    stats = _Stats()
    for _ in range(trials):
        y = np.stack([mech.sample(mech.prepare(row, gen), gen) for row in x])
        est = mech.estimate(y)
        stats.add(est.mean(axis=0), est, x)
    return {**stats.report(x.shape[0]), "bits": float(mech.direct_bits())}


def _csgm(
    x: np.ndarray,
    epsilon: float,
    delta: float,
    budgets: list[float],
    trials: int,
    seed: int,
    rounds: int,
) -> list[dict[str, Any]]:
    gen = np.random.default_rng([seed, 17])
    n, d = x.shape
    rows = []
    for budget in budgets:
        gamma = min(1.0, budget / (32.0 * d))
        sigma = csgm_noise(epsilon, delta, gamma, 1.0, rounds)
        stats = _Stats()
        bits = []
        for _ in range(trials):
            est, b = csgm_round(x, gamma, sigma, gen)
            stats.add(est, None, x)
            bits.append(b)
        rows.append(
            {
                "sampling_rate": gamma,
                "sigma": sigma,
                "bits": float(np.mean(bits)),
                **stats.report(n),
                # the variance has a closed form; use it for ratios (the measured mse
                # above checks it)
                "mse_clients": float(
                    ((1.0 - gamma) / gamma) * np.sum(x * x) / n**2 + d * sigma**2 / (n * gamma) ** 2
                ),
            }
        )
    return rows


def _seed(mech: Mechanism, x: np.ndarray, trials: int, seed: int) -> dict[str, Any]:
    gen = np.random.default_rng([seed, 23])
    stats = _Stats()
    start = time.perf_counter()
    for t in range(trials):
        _, y = seed_compressed_round(mech, x, seed=seed + t, generator=gen)
        est = mech.estimate(y)
        stats.add(est.mean(axis=0), est, x)
    elapsed = time.perf_counter() - start
    return {
        **stats.report(x.shape[0]),
        "bits": 32.0,
        "encode_per_s": trials * x.shape[0] / elapsed,
        "message": {"local": mech.local_guarantee().to_json()},
    }


def _sq(mech: GaussianMechanism, x: np.ndarray, trials: int, seed: int) -> list[dict[str, Any]]:
    gen = np.random.default_rng([seed, 19])
    rows = []
    for b in _SQ_BITS:
        stats = _Stats()
        for _ in range(trials):
            est, sent, _ = quantized_gaussian_round(x, mech.sigma, b, 1.0, gen)
            stats.add(est, sent, x)
        rows.append(
            {"bits_per_coordinate": b, "bits": float(b * x.shape[1]), **stats.report(x.shape[0])}
        )
    return rows


# ---------------------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------------------


def run_bench(
    *,
    mechanism: str = "gaussian",
    epsilons: Sequence[float] = (0.5, 1.0, 2.0, 4.0, 8.0),
    dim: int = 16,
    clients: int = 100,
    trials: int = 50,
    delta: float = 1e-5,
    alpha: float = 2.0,
    source: str = "sphere",
    paths: Sequence[str] | None = None,
    seed: int = 0,
    reference_std: float | None = None,
    rounds: int = 1,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark; returns a JSON-ready report (see the module docstring).

    ``progress(k)`` is called with the number of REC rounds finished (of
    ``len(epsilons) * trials``). ``reference_std`` (Gaussian only) replaces the
    D_inf-optimal reference. Every level's mechanism is built before any work, so a bad
    parameter at any level is refused up front.

    Raises:
        InputError: bad parameters (ε <= 0, δ outside (0, 1), dim < 1, clients < 2,
            trials < 2, unknown mechanism or source, a reference that leaves the density
            ratio unbounded).
    """
    if mechanism not in _BENCH_MECHANISMS:
        known = ", ".join(_BENCH_MECHANISMS)
        raise InputError("mechanism", f"the benchmark runs {known}; got {mechanism!r}")
    if isinstance(clients, bool) or not isinstance(clients, int) or clients < 2:
        raise InputError("clients", f"must be an integer >= 2, got {clients!r}")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 2:
        raise InputError("trials", f"must be an integer >= 2, got {trials!r}")
    if not epsilons:
        raise InputError("eps", "give at least one epsilon")
    for e in epsilons:
        if not (isinstance(e, (int, float)) and math.isfinite(e) and e > 0):
            raise InputError("eps", f"must be finite and > 0, got {e!r}")
    if not (isinstance(delta, float) and 0.0 < delta < 1.0):
        raise InputError("delta", f"must be in (0, 1), got {delta!r}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise InputError("rounds", f"must be an integer >= 1, got {rounds!r}")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise InputError("dim", f"must be an integer >= 1, got {dim!r}")
    if reference_std is not None and mechanism != "gaussian":
        raise InputError("reference_std", "applies to the gaussian mechanism only")
    built = [
        _mechanism_for(mechanism, float(e), delta, dim, clients, reference_std, rounds)
        for e in epsilons
    ]
    x = client_vectors(source, clients, dim, seed=seed, paths=paths)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done)

    levels = []
    for eps, (mech, central) in zip(epsilons, built, strict=True):
        rec = _rec(mech, x, trials, alpha, seed, tick)
        unc = _uncompressed(mech, x, trials, seed)
        level: dict[str, Any] = {
            "epsilon": float(eps),
            "central": central,
            "local": mech.local_guarantee().to_json(),
            "mechanism": mech.to_json(),
            "rec": rec,
            "uncompressed": unc,
        }
        if isinstance(mech, GaussianMechanism):
            budgets = [rec["payload_bits"] * m for m in _CSGM_MULTIPLES]
            level["csgm"] = _csgm(x, float(eps), delta, budgets, trials, seed, rounds)
            level["sq"] = _sq(mech, x, trials, seed)
        if mechanism in ("privunit", "privunitg"):
            level["seed"] = _seed(mech, x, trials, seed)
        level["checks"] = _checks(level)
        levels.append(level)
    return {
        "benchmark": "privacy-dme",
        "mechanism": mechanism,
        "mechanisms_known": sorted(MECHANISMS),
        "source": source,
        "dim": dim,
        "clients": clients,
        "trials": trials,
        "rounds": rounds,
        "delta": delta,
        "alpha": alpha,
        "seed": seed,
        "levels": levels,
    }


def _checks(level: dict[str, Any]) -> dict[str, Any]:
    """The issue's criteria at this level, with the numbers they compare."""
    rec, unc = level["rec"], level["uncompressed"]
    ratio = rec["mse_clients"] / unc["mse_clients"]
    # the direct and per-client MSE estimates of REC agree (4 standard errors)
    gap = abs(rec["mse"] - rec["mse_clients"])
    agree = gap <= 4.0 * math.hypot(rec["mse_se"], rec["mse_clients_se"])
    out: dict[str, Any] = {
        "mse_ratio_rec_vs_uncompressed": ratio,
        "mse_within_5_percent": abs(ratio - 1.0) <= 0.05,
        "bits_ratio_rec_vs_uncompressed": rec["payload_bits"] / unc["bits"],
        "bits_at_most_one_eighth": rec["payload_bits"] <= unc["bits"] / 8.0,
        "mse_estimates_agree": bool(agree),
    }
    if "seed" in level:
        out["mse_ratio_rec_vs_seed"] = rec["mse_clients"] / level["seed"]["mse_clients"]
        out["bits_ratio_rec_vs_seed"] = rec["payload_bits"] / level["seed"]["bits"]
    if "csgm" in level:
        same_bits = level["csgm"][0]
        out["csgm_mse_at_equal_bits"] = same_bits["mse_clients"]
        out["rec_no_worse_than_csgm"] = rec["mse_clients"] <= same_bits["mse_clients"]
    return out


def plot_report(report: dict[str, Any]) -> bytes:
    """MSE against bits per client, one colour per ε: REC (filled circle), uncompressed
    (square), CSGM and SQ curves (Gaussian); returns the PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, level in enumerate(report["levels"]):
        c = colours[i % len(colours)]
        eps = level["epsilon"]
        rec, unc = level["rec"], level["uncompressed"]
        ax.plot(rec["payload_bits"], rec["mse_clients"], "o", color=c, ms=8, label=f"ε={eps:g} REC")
        ax.plot(unc["bits"], unc["mse_clients"], "s", color=c, mfc="none", ms=8)
        if "seed" in level:
            ax.plot(level["seed"]["bits"], level["seed"]["mse_clients"], "x", color=c, ms=9)
        for peer, style in (("csgm", "--"), ("sq", ":")):
            rows = level.get(peer, [])
            ax.plot(
                [r["bits"] for r in rows], [r["mse_clients"] for r in rows], style, color=c, lw=1
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("bits per client")
    ax.set_ylabel("MSE of the mean (squared L2)")
    central = "central" if report["mechanism"] == "gaussian" else "local"
    ax.set_title(
        f"{report['mechanism']} DME: d={report['dim']}, n={report['clients']}, "
        f"{central} ε; □ uncompressed, -- CSGM, ·· SQ, × seed"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()
