"""Task-aware vs reconstruction-aware coding of the Gaussian remote source, measured.

The task variable is S ~ N(0, σ_s²); the encoder sees only X = S + N(0, σ_n²); the
decoder estimates S under MSE. The bound is the remote R(D),
:func:`rdlab.theory.rdp.gaussian_remote_rd`. Beside it, two operational curves, both
made of entropy-constrained scalar quantizers (:func:`rdlab.theory.ecsq`) designed on
training samples and **measured on held-out samples** (other seeds):

- **task-aware**: ECSQ of the MMSE estimate Ŝ = E[S | X] = g·X, g = σ_s²/(σ_s²+σ_n²).
  Its Lagrangian is the one for MSE on S: for a quantizer q of X,
  E[(S − c)² | X] = (Ŝ − c)² + mmse, and the best point of a cell is
  E[S | cell] = E[Ŝ | cell], so Lloyd iterations on Ŝ minimize MSE(S) + λ·R;
- **reconstruction-aware**: ECSQ of X for MSE on X, decoded as a·X̂ with the scalar
  a = Σ S·X̂ / Σ X̂² **refit by least squares on the training samples** (the MMSE gain g
  is reported beside it);
- a control, **reconstruction as is**: the same quantizer of X, decoded as X̂ (a = 1),
  i.e. a decoder that does not know the task.

Both ECSQs aim at the same target rates R with λ = 2·ln2·Var(input)·2^(−2R) (MSE per
bit, the slope of the Gaussian R(D)). Held-out samples are quantized with the trained
codebook and codelengths (argmin (x − c_i)² + λ·ℓ_i, the ECSQ's own rule) and their
indices are range-coded (:func:`rdlab.coding.encode_categorical`) with the training cell
probabilities: ``rate`` is that stream's length in **bits per sample** (decoded back and
checked), ``entropy`` the empirical entropy of the held-out indices (bits per sample).

Distortion is the MSE on S per sample of the held-out decoder outputs y(X), taken as
``mmse + mean((E[S|X] − y(X))²)``: S − E[S|X] is independent of X, so this has the
expectation of ``mean((S − y(X))²)`` without the sampling noise of S given X (about
mmse·sqrt(2/N), which at 20,000 samples exceeds the whole gap between ECSQ and the bound
above about 3 bits). The direct ``mean((S − y)²)`` is reported beside it as
``distortion_empirical``. Gaps are in dB of MSE at equal rate (positive: above the
bound).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..coding import decode_categorical, encode_categorical
from ..data.sources import GaussianSource
from ..errors import InputError
from ..theory import ecsq
from ..theory.rdp import gaussian_remote_rd

__all__ = ["remote_bound_distortion", "remote_task_report"]

_LN2 = math.log(2.0)


def _positive_finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(name, f"must be a finite number > 0, got {value!r}")
    if not (math.isfinite(float(value)) and float(value) > 0):
        raise InputError(name, f"must be a finite number > 0, got {value!r}")
    return float(value)


def remote_bound_distortion(rate: Any, signal_variance: float, noise_variance: float) -> Any:
    """The inverse of the remote R(D): the least MSE on S at ``rate`` bits per sample,
    ``mmse + σ_s⁴/(σ_s²+σ_n²)·2^(−2R)`` (same shape as ``rate``; rates must be >= 0)."""
    r = np.asarray(rate, dtype=np.float64)
    if not np.all(np.isfinite(r)) or (r < 0).any():
        raise InputError("rate", "must be finite and >= 0")
    vs, vn = signal_variance, noise_variance
    return vs * vn / (vs + vn) + vs * vs / (vs + vn) * np.exp2(-2.0 * r)


def _quantize(x: np.ndarray, codebook: np.ndarray, lengths: np.ndarray, lam: float) -> np.ndarray:
    """Held-out indices by the ECSQ rule argmin_i (x − c_i)² + λ·ℓ_i, in chunks."""
    out = np.empty(x.size, dtype=np.int64)
    for start in range(0, x.size, 50_000):
        xs = x[start : start + 50_000, None]
        out[start : start + 50_000] = np.argmin((xs - codebook) ** 2 + lam * lengths, axis=1)
    return out


def _coded_bits(index: np.ndarray, lengths: np.ndarray) -> tuple[float, float]:
    """(range-coded bits per sample with the training probabilities 2^−ℓ, empirical
    entropy of ``index`` in bits per sample). The stream is decoded and compared."""
    k = lengths.size
    counts = np.bincount(index, minlength=k)
    p = counts[counts > 0] / index.size
    entropy = float(-np.sum(p * np.log2(p)))
    if k == 1:
        return 0.0, entropy
    prob = np.exp2(-lengths)
    prob /= prob.sum()
    data = encode_categorical(index, prob)
    if not np.array_equal(decode_categorical(data, prob, index.size), index):
        raise RuntimeError("the index stream did not decode to the quantizer indices")
    return 8.0 * len(data) / index.size, entropy


def _measured(
    rate: float,
    entropy: float,
    decoded: np.ndarray,
    s: np.ndarray,
    s_hat: np.ndarray,
    levels: int,
    lam: float,
    signal_variance: float,
    noise_variance: float,
) -> dict[str, float]:
    """One measured point from the held-out decoder outputs ``decoded``, the task values
    ``s`` and the MMSE estimates ``s_hat`` = E[S | X] (all shape (N,))."""
    mmse = signal_variance * noise_variance / (signal_variance + noise_variance)
    # S − E[S|X] is independent of X, so E(S − y(X))² = mmse + E(E[S|X] − y(X))²
    mse = mmse + float(np.mean((s_hat - decoded) ** 2))
    bound_d = float(remote_bound_distortion(rate, signal_variance, noise_variance))
    bound_r = float(gaussian_remote_rd(mse, signal_variance, noise_variance)[0])
    return {
        "distortion": mse,
        "distortion_empirical": float(np.mean((s - decoded) ** 2)),
        "snr_db": 10 * math.log10(signal_variance / mse),
        "rate": rate,
        "entropy": entropy,
        "levels": levels,
        "lam": lam,
        "bound_distortion": bound_d,
        "gap_db": 10 * math.log10(mse / bound_d),
        "excess_gap_db": 10 * math.log10(max(mse - mmse, 1e-300) / (bound_d - mmse)),
        "bound_rate": bound_r,
    }


def remote_task_report(
    noise_variance: float,
    *,
    signal_variance: float = 1.0,
    rates: Any = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0),
    bound_points: int = 12,
    train: int = 20_000,
    test: int = 20_000,
    seed: int = 0,
) -> dict[str, Any]:
    """The remote R(D) and the measured task-aware / reconstruction-aware curves.

    Args:
        noise_variance: σ_n², the variance of the observation noise (> 0, finite).
        signal_variance: σ_s², the variance of the task variable S (> 0, finite).
        rates: target rates in bits per sample (each in (0, 8]) that set the ECSQ
            multipliers; the measured rates land near them.
        bound_points: points of the remote R(D) curve (2..200), evenly spaced in rate
            from 0 to 5 bits.
        train: training samples per quantizer (>= 1,000).
        test: held-out samples (>= 1,000), drawn with other seeds than the training ones.
        seed: seeds S with ``GaussianSource.sample(seed=[seed, 1 or 3])`` and the noise
            with ``numpy.random.default_rng([seed, 2 or 4])`` (training, held-out).

    Returns:
        A JSON-ready dict: ``signal_variance``, ``noise_variance``, ``mmse`` (the MSE of
        E[S | X] without compression), ``gain`` (g) and ``gain_refit`` (a), ``oracle_mse``
        (the held-out MSE of g·X, uncompressed), ``samples``, ``units`` and ``curves``:
        ``rd`` (exact), ``task_aware``, ``reconstruction_aware`` and
        ``reconstruction_as_is``, each ``{"kind", "points"}``, points by decreasing
        rate. Every point has
        ``distortion`` (MSE on S per sample), ``snr_db`` (10·log10(σ_s²/MSE)) and
        ``rate`` (bits per sample); measured points add ``distortion_empirical``
        (mean (S − y)² on the held-out samples), ``entropy``, ``levels``,
        ``lam``, ``bound_distortion`` (the remote bound's MSE at ``rate``), ``gap_db``
        (10·log10(MSE / bound_distortion)), ``excess_gap_db`` (the same on MSE − mmse)
        and ``bound_rate`` (R_remote(MSE)).

    Raises:
        InputError: a variance that is not finite and > 0, bad rates, sample counts
            or ``bound_points``.
    """
    vn = _positive_finite(noise_variance, "noise_variance")
    vs = _positive_finite(signal_variance, "signal_variance")
    targets = np.atleast_1d(np.asarray(rates, dtype=np.float64))
    if targets.ndim != 1 or not targets.size or not np.all((targets > 0) & (targets <= 8)):
        raise InputError("rates", "must be one or more target rates in (0, 8] bits")
    for name, value, low in (("train", train, 1000), ("test", test, 1000)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(name, f"must be an integer >= {low}, got {value!r}")
    if isinstance(bound_points, bool) or not isinstance(bound_points, int):
        raise InputError("bound_points", f"must be an integer in [2, 200], got {bound_points!r}")
    if not 2 <= bound_points <= 200:
        raise InputError("bound_points", f"must be an integer in [2, 200], got {bound_points}")
    source = GaussianSource(math.sqrt(vs), 1)
    sn = math.sqrt(vn)
    s_tr = source.sample(int(train), seed=[seed, 1])[:, 0]
    x_tr = s_tr + np.random.default_rng([seed, 2]).normal(0.0, sn, int(train))
    s_te = source.sample(int(test), seed=[seed, 3])[:, 0]
    x_te = s_te + np.random.default_rng([seed, 4]).normal(0.0, sn, int(test))
    g = vs / (vs + vn)
    mmse = vs * vn / (vs + vn)
    s_hat = g * x_te

    r_grid = np.linspace(0.0, 5.0, bound_points)
    d_grid = remote_bound_distortion(r_grid, vs, vn)
    bound = [
        {"distortion": float(d), "snr_db": 10 * math.log10(vs / d), "rate": float(r)}
        for d, r in zip(d_grid[::-1], r_grid[::-1], strict=True)
    ]
    check = gaussian_remote_rd(d_grid[1:], vs, vn)  # the theory module agrees
    if not np.allclose(check, r_grid[1:], rtol=1e-9, atol=1e-9):  # pragma: no cover
        raise RuntimeError("remote R(D) and its inverse disagree")

    task, recon, as_is, gains = [], [], [], []
    for r in targets:
        # task-aware: Ŝ = g·X, Var(Ŝ) = g²(σ_s² + σ_n²)
        lam_t = 2 * _LN2 * g * vs * 2.0 ** (-2 * r)
        q = ecsq(g * x_tr, lam_t, iterations=60)
        c, ell = q.codebook[:, 0], q.codelengths
        idx = _quantize(s_hat, c, ell, lam_t)
        bits, ent = _coded_bits(idx, ell)
        task.append(_measured(bits, ent, c[idx], s_te, s_hat, c.size, lam_t, vs, vn))
        # reconstruction-aware: ECSQ of X for MSE on X, decoded as a·X̂
        lam_x = 2 * _LN2 * (vs + vn) * 2.0 ** (-2 * r)
        q = ecsq(x_tr, lam_x, iterations=60)
        c, ell = q.codebook[:, 0], q.codelengths
        x_hat_tr = c[_quantize(x_tr, c, ell, lam_x)]
        a = float(np.dot(s_tr, x_hat_tr) / max(np.dot(x_hat_tr, x_hat_tr), 1e-300))
        gains.append(a)
        idx = _quantize(x_te, c, ell, lam_x)
        bits, ent = _coded_bits(idx, ell)
        y = a * c[idx]
        recon.append(_measured(bits, ent, y, s_te, s_hat, c.size, lam_x, vs, vn) | {"gain": a})
        y = c[idx]
        as_is.append(_measured(bits, ent, y, s_te, s_hat, c.size, lam_x, vs, vn) | {"gain": 1.0})

    def ordered(points: list[dict[str, float]]) -> list[dict[str, float]]:
        return sorted(points, key=lambda p: -p["rate"])

    held = f"trained on {int(train)}, measured on {int(test)} held-out samples"
    coded = "rate: range-coded bits of the held-out indices; MSE: mmse + mean (E[S|X] - y)²"
    return {
        "signal_variance": vs,
        "noise_variance": vn,
        "mmse": mmse,
        "gain": g,
        "gain_refit": gains,
        "oracle_mse": float(np.mean((s_te - g * x_te) ** 2)),
        "samples": {"train": int(train), "test": int(test), "seed": seed},
        "units": {
            "rate": "bits per sample (range-coded, held-out); entropy: bits per sample",
            "distortion": "MSE on S per sample",
            "gap_db": "dB of MSE above the remote R(D) at equal rate",
        },
        "curves": {
            "rd": {"kind": "remote R(D), exact (closed form)", "points": bound},
            "task_aware": {
                "kind": f"task-aware: ECSQ of E[S|X] for MSE on S, {held}; {coded}",
                "points": ordered(task),
            },
            "reconstruction_aware": {
                "kind": f"reconstruction-aware: ECSQ of X for MSE on X, decoded a·X̂ with a "
                f"refit by least squares on the training samples (MMSE gain {g:.4g}), "
                f"{held}; {coded}",
                "points": ordered(recon),
            },
            "reconstruction_as_is": {
                "kind": f"control: the same ECSQ of X decoded as X̂ (a = 1), {held}; {coded}",
                "points": ordered(as_is),
            },
        },
    }
