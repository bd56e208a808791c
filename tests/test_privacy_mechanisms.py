"""Tests of rdlab.privacy.mechanisms and rdlab.privacy.coding (PPR messages of LDP outputs).

What is checked, with the tolerance stated at each assertion:

1. Exactness: what the server decodes (``decode_round``) has the mechanism's exact law
   (one-sample KS against closed-form marginals, significance 1e-3 with Bonferroni over
   the statistics of a test), agrees with the uncompressed ``mechanism.sample`` (two-sample
   KS, same level) and is unbiased (mean within 4 standard errors per coordinate). Each
   KS test has a negative control that the same test rejects.
2. Message length: mean ideal bits per client <= sum over blocks of
   ``I_b + log2(I_b + 1) + 4`` (I_b = mean KL of block b in bits); payload within 1 bit
   plus 64 / clients of the ideal mean.
3. Round trip: bit-exact decoding, distinct candidates per seed and round, corrupt
   payloads and impossible client counts refused.
4. Guarantees: message guarantee per coder, Gaussian calibration, PrivUnit's split.
5. Bad input: InputError naming the argument; clipping of inputs outside the domain.

The regression tests at the end pin four defects found while writing this file (PrivUnitG's
variance, a too strict payload-size guard, ε = 0 for the Gaussian, parameter names).

Units: ε in nats, KL and message lengths in bits (per client), variances in squared data
units summed over the 16 coordinates.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import quad

from rdlab.coding import SymbolEncoder
from rdlab.errors import CorruptStreamError, FormatError, InputError
from rdlab.privacy import (
    MECHANISMS,
    ApproxDP,
    GaussianMechanism,
    LaplaceMechanism,
    Mechanism,
    PrivUnit,
    PrivUnitG,
    PureDP,
    RandomizedResponse,
    decode,
    decode_round,
    encode,
    encode_round,
    gaussian_delta,
    gaussian_epsilon,
    gaussian_noise_multiplier,
    get_mechanism,
    message_guarantee,
)
from rdlab.privacy.coding import _codes
from rdlab.rec.distributions import kl_bits

D = 16
SEED = 20240607  # shared seed of every round below
KS_LEVEL = 1e-3  # family-wise significance of each KS / chi-square test (Bonferroni inside)
N_EXACT = 2000  # clients of the exactness rounds


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


# A fixed input with distinct coordinate sizes (and zeros): on the unit L2 sphere for
# gaussian / privunit / privunitg, scaled to L1 norm 1 for laplace.
X_L2 = _unit(np.array([3, -2, 1.5, 1, -1, 0.5, 0, 0, 0.25, -0.25, 0, 0.75, 0, 0, 0, -0.5]))
X_L1 = X_L2 / np.abs(X_L2).sum()


def _setup(name: str) -> tuple[Mechanism, np.ndarray]:
    """The mechanism and fixed input of the exactness round ``name``."""
    if name == "gaussian":  # ε = 8: σ = 1.2, so x is visible; blocks of 5, 5, 5, 1
        return GaussianMechanism(D, epsilon=8.0, delta=1e-5, block_size=5), X_L2
    if name == "laplace":  # ε = 8: scale 0.25, one block of 16
        return LaplaceMechanism(D, epsilon=8.0), X_L1
    if name == "privunit":
        return PrivUnit(D, epsilon=4.0), X_L2
    if name == "privunitg":
        return PrivUnitG(D, epsilon=4.0), X_L2
    if name == "randomized-response":
        return RandomizedResponse(5, epsilon=2.0), np.array([2.0])
    raise AssertionError(name)


_EXACT_SEEDS = {
    "gaussian": 1,
    "laplace": 2,
    "privunit": 3,
    "privunitg": 4,
    "randomized-response": 5,
}


@functools.cache
def _exact_round(name: str) -> tuple[Mechanism, np.ndarray, np.ndarray, np.ndarray]:
    """(mechanism, x, decoded outputs (N_EXACT, out dim), direct outputs (N_EXACT, out dim))
    for N_EXACT clients that all hold x; one seeded private generator for the round."""
    mech, x = _setup(name)
    g = np.random.default_rng(_EXACT_SEEDS[name])  # the clients' private randomness
    r = encode_round(mech, np.tile(x, (N_EXACT, 1)), seed=SEED, generator=g)
    decoded = decode_round(mech, r.payload, N_EXACT, seed=SEED)
    assert np.array_equal(decoded, r.outputs)
    direct = np.stack([mech.sample(mech.prepare(x, g), g) for _ in range(N_EXACT)])
    return mech, x, decoded, direct


# --------------------------------------------------------------------------- 1. exactness


def _marginal_cdfs(mech: Mechanism, x: np.ndarray) -> list:
    """Exact per-coordinate CDFs of the Gaussian / Laplace mechanism at x."""
    if isinstance(mech, GaussianMechanism):
        return [stats.norm(loc=xi, scale=mech.sigma).cdf for xi in x]
    assert isinstance(mech, LaplaceMechanism)
    return [stats.laplace(loc=xi, scale=mech.scale).cdf for xi in x]


def _joint_statistic(mech: Mechanism, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, object]:
    """A statistic of the whole vector with a known law: ||y - x||² / σ² ~ χ²_d for the
    Gaussian, sum |y_i - x_i| / scale ~ Gamma(d, 1) for the Laplace mechanism."""
    if isinstance(mech, GaussianMechanism):
        return ((y - x) ** 2).sum(axis=1) / mech.sigma**2, stats.chi2(D).cdf
    return np.abs(y - x).sum(axis=1) / mech.scale, stats.gamma(D).cdf


def _ks_pvalues(mech: Mechanism, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """p-values of the 16 coordinate KS tests and the joint-statistic KS test (17)."""
    cdfs = _marginal_cdfs(mech, x)
    pv = [stats.kstest(y[:, i], cdfs[i]).pvalue for i in range(D)]
    s, cdf = _joint_statistic(mech, x, y)
    pv.append(stats.kstest(s, cdf).pvalue)
    return np.array(pv)


@pytest.mark.parametrize("name", ["gaussian", "laplace"])
def test_decoded_coordinates_have_the_exact_marginals(name: str) -> None:
    mech, x, decoded, direct = _exact_round(name)
    # significance 1e-3, Bonferroni over 16 coordinates + 1 joint statistic
    pv = _ks_pvalues(mech, x, decoded)
    assert pv.min() > KS_LEVEL / pv.size, pv
    # the uncompressed mechanism passes the same test (checks the test and .sample)
    pv_direct = _ks_pvalues(mech, x, direct)
    assert pv_direct.min() > KS_LEVEL / pv_direct.size, pv_direct
    # clients holding the same x draw from disjoint candidates: no two outputs coincide
    assert np.unique(decoded, axis=0).shape[0] == N_EXACT


@pytest.mark.parametrize("name", ["gaussian", "laplace"])
def test_marginal_ks_rejects_wrong_laws(name: str) -> None:
    """Negative controls of the KS test above, on the same decoded samples."""
    mech, x, decoded, _ = _exact_round(name)
    level = KS_LEVEL / (D + 1)
    if isinstance(mech, GaussianMechanism):
        # quantized to a grid of step σ: every coordinate's KS test rejects
        q = np.round(decoded / mech.sigma) * mech.sigma
        pv = _ks_pvalues(mech, x, q)
        assert (pv[:D] < level).all(), pv
    # the law that ignores the input (centred at 0) is rejected on x's largest coordinate
    i = int(np.argmax(np.abs(x)))
    wrong = _marginal_cdfs(mech, np.zeros(D))[i]
    assert stats.kstest(decoded[:, i], wrong).pvalue < level


def _projection_cdf(mech: PrivUnit | PrivUnitG, t: np.ndarray) -> np.ndarray:
    """CDF of t = <V, u> for the REC sample V (before the 1/m scaling): with probability p
    the base law of t conditioned on t >= γ, otherwise conditioned on t < γ. Base law of t:
    (1 + t) / 2 ~ Beta((d-1)/2, (d-1)/2) on the sphere, N(0, 1/d) for PrivUnitG."""
    if isinstance(mech, PrivUnit):
        a = (D - 1) / 2
        f0 = lambda v: stats.beta(a, a).cdf((1.0 + np.asarray(v)) / 2.0)  # noqa: E731
    else:
        f0 = stats.norm(scale=1.0 / math.sqrt(D)).cdf
    gam, p = mech.threshold, mech.p
    below = float(f0(gam))  # base mass off the cap, 1 - q
    ft = f0(t)
    return np.where(t < gam, (1.0 - p) * ft / below, (1.0 - p) + p * (ft - below) / (1.0 - below))


def _orthogonal_direction() -> np.ndarray:
    """A fixed unit vector orthogonal to X_L2."""
    w = np.zeros(D)
    w[1] = 1.0
    w -= (w @ X_L2) * X_L2
    return _unit(w)


def _direction_pvalues(mech: PrivUnit | PrivUnitG, v: np.ndarray) -> np.ndarray:
    """KS p-values of (1) t = <V, x> against its exact mixture law and (2) the part of V
    orthogonal to x along a fixed w ⊥ x: for the sphere, <(V - t x)/|V - t x|, w> has
    (1 + s) / 2 ~ Beta((d-2)/2, (d-2)/2); for PrivUnitG <V, w> ~ N(0, 1/d)."""
    t = v @ X_L2
    w = _orthogonal_direction()
    p1 = stats.kstest(t, lambda s: _projection_cdf(mech, s)).pvalue
    if isinstance(mech, PrivUnit):
        perp = v - t[:, None] * X_L2
        s = (perp / np.linalg.norm(perp, axis=1, keepdims=True)) @ w
        b = (D - 2) / 2
        p2 = stats.kstest((1.0 + s) / 2.0, stats.beta(b, b).cdf).pvalue
    else:
        p2 = stats.kstest(v @ w, stats.norm(scale=1.0 / math.sqrt(D)).cdf).pvalue
    return np.array([p1, p2])


@pytest.mark.parametrize("name", ["privunit", "privunitg"])
def test_decoded_direction_has_the_exact_law(name: str) -> None:
    mech, _, decoded, direct = _exact_round(name)
    assert isinstance(mech, (PrivUnit, PrivUnitG))
    v = decoded * mech.m  # the un-scaled REC sample
    # significance 1e-3, Bonferroni over the 2 statistics
    pv = _direction_pvalues(mech, v)
    assert pv.min() > KS_LEVEL / 2, pv
    pv_direct = _direction_pvalues(mech, direct * mech.m)
    assert pv_direct.min() > KS_LEVEL / 2, pv_direct
    if isinstance(mech, PrivUnit):
        # every output has norm exactly 1/m (relative 1e-12: one rounding of the norm)
        assert np.allclose(np.linalg.norm(decoded, axis=1), 1.0 / mech.m, rtol=1e-12, atol=0)
    # the cap holds a fraction p of the outputs: 4 binomial standard errors
    inside = (v @ X_L2 >= mech.threshold).mean()
    assert abs(inside - mech.p) < 4 * math.sqrt(mech.p * (1 - mech.p) / N_EXACT)
    assert np.unique(decoded, axis=0).shape[0] == N_EXACT  # disjoint candidates per client


@pytest.mark.parametrize("name", ["privunit", "privunitg"])
def test_untilted_base_law_is_rejected(name: str) -> None:
    """Negative control: samples of the base law itself (no tilt towards x) fail the
    projection KS test at the same level."""
    mech, _ = _setup(name)
    z = np.random.default_rng(5).standard_normal((N_EXACT, D))
    v = _unit_rows(z) if name == "privunit" else z / math.sqrt(D)
    assert stats.kstest(v @ X_L2, lambda s: _projection_cdf(mech, s)).pvalue < KS_LEVEL / 2


def _unit_rows(z: np.ndarray) -> np.ndarray:
    return z / np.linalg.norm(z, axis=1, keepdims=True)


@pytest.mark.parametrize("name", ["gaussian", "laplace", "privunit", "privunitg"])
def test_decoded_outputs_match_the_direct_mechanism(name: str) -> None:
    """Two-sample KS (significance 1e-3, Bonferroni over the statistics) of REC outputs
    against uncompressed ``mechanism.sample`` outputs must not reject."""
    mech, x, decoded, direct = _exact_round(name)
    if isinstance(mech, (PrivUnit, PrivUnitG)):
        w = _orthogonal_direction()
        pairs = [(decoded @ X_L2, direct @ X_L2), (decoded @ w, direct @ w)]
    else:
        pairs = [(decoded[:, i], direct[:, i]) for i in range(D)]
        pairs.append((_joint_statistic(mech, x, decoded)[0], _joint_statistic(mech, x, direct)[0]))
    pv = np.array([stats.ks_2samp(a, b).pvalue for a, b in pairs])
    assert pv.min() > KS_LEVEL / pv.size, pv


def test_decoded_randomized_response_has_the_exact_law() -> None:
    mech, x, decoded, direct = _exact_round("randomized-response")
    probs = mech.laws(x)[0].probs
    for sym in (decoded, direct):
        counts = np.bincount(sym[:, 0].astype(int), minlength=mech.k)
        # chi-square goodness of fit, significance 1e-3 / 2 (decoded and direct)
        assert stats.chisquare(counts, probs * N_EXACT).pvalue > KS_LEVEL / 2, counts
    # negative control: the uniform law (input ignored) is rejected
    counts = np.bincount(decoded[:, 0].astype(int), minlength=mech.k)
    assert stats.chisquare(counts, np.full(mech.k, N_EXACT / mech.k)).pvalue < KS_LEVEL / 2


@pytest.mark.parametrize(
    "name", ["gaussian", "laplace", "privunit", "privunitg", "randomized-response"]
)
def test_server_estimate_is_unbiased(name: str) -> None:
    mech, x, decoded, _ = _exact_round(name)
    est = mech.estimate(decoded)
    target = (
        (np.arange(mech.k) == int(x[0])).astype(float)
        if isinstance(mech, RandomizedResponse)
        else x
    )
    se = est.std(axis=0, ddof=1) / math.sqrt(N_EXACT)
    # 4 standard errors per coordinate: P(|Z| > 4) = 6.3e-5, times <= 16 coordinates ~ 1e-3
    z = np.abs(est.mean(axis=0) - target) / se
    assert z.max() < 4.0, z


# --------------------------------------------------------------------------- 2. bits

# Measured on this machine (300 clients, seeds below; ideal bits = RoundMessage.bits.mean(),
# bound = sum_b I_b + log2(I_b + 1) + 4, payload = len(payload) * 8 / 300):
#   mechanism  eps   KL I   ideal   bound   payload
#   gaussian   0.5   0.005  2.167   4.013   2.240
#   gaussian   1     0.019  2.179   4.046   2.240
#   gaussian   2     0.065  2.106   4.155   2.133
#   gaussian   4     0.212  2.505   4.489   2.560
#   gaussian   8     0.640  3.259   5.353   3.307
#   laplace    0.5   0.004  2.162   4.010   2.240
#   laplace    1     0.017  2.188   4.041   2.240
#   laplace    2     0.066  2.579   4.157   2.667
#   laplace    4     0.253  2.869   4.578   2.880
#   laplace    8     0.940  3.711   5.896   3.733
#   privunit   0.5   0.045  2.196   4.108   2.240
#   privunit   1     0.178  2.502   4.414   2.560
#   privunit   2     0.683  3.361   5.434   3.413
#   privunit   4     2.390  5.440   8.152   5.547
#   privunit   8     6.962  11.028  13.955  11.093
# (every message is one block at d = 16 with the default block sizes)
N_BITS = 300


@functools.cache
def _bits_inputs() -> np.ndarray:
    """300 inputs uniform on the unit sphere of R^16 (fixed seed)."""
    return _unit_rows(np.random.default_rng(11).standard_normal((N_BITS, D)))


@pytest.mark.parametrize("epsilon", [0.5, 1.0, 2.0, 4.0, 8.0])
@pytest.mark.parametrize("name", ["gaussian", "laplace", "privunit"])
def test_message_length_is_within_the_kl_bound(name: str, epsilon: float) -> None:
    extra = {"delta": 1e-5} if name == "gaussian" else {}
    mech = get_mechanism(name, dim=D, epsilon=epsilon, **extra)
    x = _bits_inputs()
    if name == "laplace":
        x = x / np.abs(x).sum(axis=1, keepdims=True)
    g = np.random.default_rng(int(epsilon * 100) + len(name))
    r = encode_round(mech, x, seed=SEED, generator=g)
    refs = mech.references()
    laws = [mech.laws(mech.prepare(xi, g)) for xi in x]
    kl = np.array([[kl_bits(q, p) for q, p in zip(law, refs, strict=True)] for law in laws])
    i_b = kl.mean(axis=0)  # mean KL of each block over the clients, bits
    bound = float(np.sum(i_b + np.log2(i_b + 1.0) + 4.0))
    ideal = float(r.bits.mean())
    assert ideal <= bound, (name, epsilon, ideal, bound)
    # the range coder's stream costs at most 1 bit per client plus a 64-bit flush
    actual = len(r.payload) * 8 / N_BITS
    assert abs(actual - ideal) <= 1.0 + 64.0 / N_BITS, (actual, ideal)


# --------------------------------------------------------------------------- 3. round trip

_ROUND_TRIP = {
    "gaussian": lambda: GaussianMechanism(D, epsilon=2.0, block_size=6),  # blocks 6, 6, 4
    "laplace": lambda: LaplaceMechanism(D, epsilon=2.0),
    "privunit": lambda: PrivUnit(D, epsilon=2.0),
    "privunitg": lambda: PrivUnitG(D, epsilon=2.0),
    "randomized-response": lambda: RandomizedResponse(5, epsilon=1.0),
}


def _round_inputs(mech: Mechanism, n: int, seed: int) -> np.ndarray:
    g = np.random.default_rng(seed)
    if isinstance(mech, RandomizedResponse):
        return g.integers(0, mech.k, size=(n, 1)).astype(float)
    return _unit_rows(g.standard_normal((n, mech.dim))) * g.uniform(0.2, 1.5, size=(n, 1))


def test_round_trip_covers_the_registry() -> None:
    assert set(_ROUND_TRIP) == set(MECHANISMS)


@pytest.mark.parametrize("name", sorted(_ROUND_TRIP))
def test_round_trip_is_bit_exact(name: str) -> None:
    mech = _ROUND_TRIP[name]()
    n = 40
    x = _round_inputs(mech, n, 1)
    r = encode_round(mech, x, seed=SEED, round=3, generator=np.random.default_rng(2))
    out = decode_round(mech, r.payload, n, seed=SEED, round=3)
    assert out.dtype == np.float64 and np.array_equal(out, r.outputs)
    # one client alone, any client and round
    msg = encode(mech, x[7], seed=SEED, client=123_456, round=9, generator=np.random.default_rng(4))
    assert np.array_equal(decode(mech, msg.indices, seed=SEED, client=123_456, round=9), msg.output)
    # other shared randomness gives other outputs (every row, for continuous outputs)
    other_seed = decode_round(mech, r.payload, n, seed=SEED + 1, round=3)
    other_round = decode_round(mech, r.payload, n, seed=SEED, round=4)
    for other in (other_seed, other_round):
        if isinstance(mech, RandomizedResponse):
            assert not np.array_equal(other, out)
        else:
            assert not (other == out).all(axis=1).any()


def test_clients_rounds_and_blocks_use_disjoint_candidates() -> None:
    """Candidate 1 of every (round, client, block) is a different point: Philox block
    ((round * 2^32) + client) * blocks + block never repeats (4 blocks of 5, 5, 5, 1)."""
    mech = GaussianMechanism(D, epsilon=8.0, block_size=5)
    firsts = [
        decode(mech, np.ones(4, dtype=np.uint64), seed=SEED, client=c, round=r)[[0, 5, 10, 15]]
        for r in (0, 1)
        for c in (0, 1, 2, 2**32 - 1)
    ]
    values = np.concatenate(firsts)
    assert np.unique(values).size == values.size == 32


def test_pfr_coder_round_trip_is_bit_exact() -> None:
    mech = _ROUND_TRIP["laplace"]()
    x = _round_inputs(mech, 20, 3)
    r = encode_round(mech, x, seed=SEED, coder="pfr", generator=np.random.default_rng(5))
    assert np.array_equal(decode_round(mech, r.payload, 20, seed=SEED, coder="pfr"), r.outputs)
    # PPR and PFR read different streams: the PFR payload read as PPR gives other values
    assert not np.array_equal(decode_round(mech, r.payload, 20, seed=SEED), r.outputs)


@functools.cache
def _gaussian_round() -> tuple[Mechanism, bytes, int]:
    mech = _ROUND_TRIP["gaussian"]()
    x = _round_inputs(mech, 30, 6)
    r = encode_round(mech, x, seed=SEED, generator=np.random.default_rng(7))
    return mech, r.payload, 30


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p[:-1],
        lambda p: p[:-4],
        lambda p: p[:4],
        lambda p: b"",
        lambda p: p + b"\x00",
        lambda p: p + b"\x00\x00\x00\x00",
        lambda p: p + b"\x12\x34\x56\x78",
    ],
    ids=["cut1", "cut4", "head4", "empty", "plus1", "plus4zero", "plus4"],
)
def test_truncated_or_extended_payload_is_refused(edit) -> None:
    mech, payload, n = _gaussian_round()
    with pytest.raises(FormatError):
        decode_round(mech, edit(payload), n, seed=SEED)


def test_wrong_or_impossible_client_count_is_refused() -> None:
    mech, payload, n = _gaussian_round()
    for wrong in (n - 1, n + 1, 2 * n):
        with pytest.raises(FormatError):
            decode_round(mech, payload, wrong, seed=SEED)
    start = time.perf_counter()
    with pytest.raises(CorruptStreamError):
        decode_round(mech, payload, 2**31, seed=SEED)
    assert time.perf_counter() - start < 0.5  # refused before any decoding work
    for bad in (0, -1, 2**32):
        with pytest.raises(InputError) as err:
            decode_round(mech, payload, bad, seed=SEED)
        assert err.value.argument == "clients"


def test_decode_round_accepts_a_valid_payload_of_cheap_indices() -> None:
    mech = RandomizedResponse(5, epsilon=0.5)
    (code,) = _codes(mech)
    n = 1000
    enc = SymbolEncoder()
    code.encode_into(enc, np.ones(n, dtype=np.uint64))  # 1000 clients that all sent K = 1
    out = decode_round(mech, enc.to_bytes(), n, seed=SEED)
    assert out.shape == (n, 1)


# --------------------------------------------------------------------------- 4. guarantees


def test_message_guarantee_per_coder() -> None:
    pu = PrivUnit(D, epsilon=1.0)
    g = message_guarantee(pu, "ppr", alpha=2)
    assert g.local == PureDP(4.0) and g.output == PureDP(1.0)  # 2 α ε = 4
    assert message_guarantee(LaplaceMechanism(D, epsilon=0.5), "ppr", alpha=3).local == PureDP(3.0)
    gm = GaussianMechanism(D, epsilon=1.0, delta=1e-5)
    gg = message_guarantee(gm, "ppr")
    # the Gaussian's message: a proved (ε', δ) bound, never tighter than its output's ε
    assert isinstance(gg.local, ApproxDP) and gg.output == gm.local_guarantee()
    assert gg.local.delta == 1e-5 and gg.local.epsilon > gm.local_guarantee().epsilon
    assert isinstance(gg.basis, str) and len(gg.basis.split()) > 5
    assert message_guarantee(pu, "pfr").local is None
    for refused in ("orc", "mrc"):
        with pytest.raises(InputError) as err:
            message_guarantee(pu, refused)
        assert err.value.argument == "coder"
    for mech in (pu, gm):
        d = message_guarantee(mech, "direct")
        assert d.local == mech.local_guarantee() == d.output
    assert message_guarantee(pu).to_json()["local"] == {"type": "pure", "epsilon": 4.0}


def test_gaussian_calibration() -> None:
    gm = GaussianMechanism(D, epsilon=1.0, delta=1e-5)
    s = gm.sigma / (2.0 * gm.clip_norm)
    assert s == pytest.approx(gaussian_noise_multiplier(1.0, 1e-5), rel=1e-12)
    # recomputed from σ alone: ε within 1e-6 of the target and δ(1) <= 1e-5 (+ 1e-9 rel.)
    assert abs(gaussian_epsilon(s, 1e-5) - 1.0) < 1e-6
    assert gm.local_guarantee().epsilon == pytest.approx(1.0, abs=1e-6)
    assert gaussian_delta(1.0, s) <= 1e-5 * (1 + 1e-9)
    # the sigma form states ε at δ for that σ: back to (1, 1e-5), with clip_norm 2 doubling σ
    assert GaussianMechanism(D, sigma=gm.sigma, delta=1e-5).local_guarantee().epsilon == (
        pytest.approx(1.0, abs=1e-6)
    )
    assert GaussianMechanism(D, clip_norm=2.0, epsilon=1.0).sigma == pytest.approx(2 * gm.sigma)


@pytest.mark.parametrize("cls", [PrivUnit, PrivUnitG])
@pytest.mark.parametrize("epsilon", [0.5, 2.0, 8.0])
def test_halfspace_split_is_exactly_epsilon_ldp(cls, epsilon: float) -> None:
    """The cap's base mass q, recomputed from the public threshold with SciPy, gives the
    likelihood-ratio bound p (1 - q) / ((1 - p) q) = e^ε (relative 1e-8)."""
    mech = cls(D, epsilon=epsilon)
    if cls is PrivUnit:
        a = (D - 1) / 2
        q = stats.beta(a, a).sf((1.0 + mech.threshold) / 2.0)
    else:
        q = stats.norm(scale=1 / math.sqrt(D)).sf(mech.threshold)
    ratio = mech.p * (1 - q) / ((1 - mech.p) * q)
    assert ratio == pytest.approx(math.exp(epsilon), rel=1e-8)
    assert 0.0 < mech.eps0 < epsilon


def _sphere_mean_projection(mech: PrivUnit) -> float:
    """m = E<V, u> by quadrature of the tilted Beta law of t (independent of src)."""
    a = (D - 1) / 2
    dens = lambda t: stats.beta(a, a).pdf((1 + t) / 2) / 2  # noqa: E731
    q = quad(dens, mech.threshold, 1)[0]
    top = quad(lambda t: t * dens(t), mech.threshold, 1)[0]
    bottom = quad(lambda t: t * dens(t), -1, mech.threshold)[0]
    return mech.p / q * top + (1 - mech.p) / (1 - q) * bottom


def test_privunit_split_variance() -> None:
    eps = 2.0
    best = PrivUnit(D, epsilon=eps)
    assert best.m == pytest.approx(_sphere_mean_projection(best), rel=1e-7)
    assert best.variance() == pytest.approx(1 / best.m**2 - 1, rel=1e-12)
    g = np.random.default_rng(8)
    y = np.stack([best.sample(X_L2, g) for _ in range(4000)])
    err = ((y - X_L2) ** 2).sum(axis=1)
    # empirical E||Y - x||² within 5 standard errors of 1/m² - 1
    assert abs(err.mean() - best.variance()) < 5 * err.std(ddof=1) / math.sqrt(err.size)
    bad = PrivUnit(D, epsilon=eps, eps0=0.05 * eps)
    assert best.variance() <= bad.variance()
    # the REC outputs of the ε = 4 exactness round: same check, 5 standard errors
    mech, x, decoded, _ = _exact_round("privunit")
    err = ((decoded - x) ** 2).sum(axis=1)
    assert abs(err.mean() - mech.variance()) < 5 * err.std(ddof=1) / math.sqrt(err.size)


def test_privunitg_variance_matches_its_samples() -> None:
    mech, x, decoded, _ = _exact_round("privunitg")
    err = ((decoded - x) ** 2).sum(axis=1)
    assert abs(err.mean() - mech.variance()) < 5 * err.std(ddof=1) / math.sqrt(err.size)


def test_randomized_response_keep_ratio() -> None:
    rr = RandomizedResponse(5, epsilon=1.5)
    assert rr.keep / rr.other == pytest.approx(math.exp(1.5), rel=1e-12)
    assert rr.keep + 4 * rr.other == pytest.approx(1.0, rel=1e-12)


# --------------------------------------------------------------------------- 5. bad input

_PU = PrivUnit(D, epsilon=1.0)
_X0 = np.eye(D)[0]
_BAD = [
    ("epsilon", lambda: LaplaceMechanism(D, epsilon=0.0)),
    ("epsilon", lambda: LaplaceMechanism(D, epsilon=-1.0)),
    ("epsilon", lambda: LaplaceMechanism(D, epsilon=float("nan"))),
    ("epsilon", lambda: PrivUnit(D, epsilon=0.0)),
    ("epsilon", lambda: PrivUnitG(D, epsilon=float("nan"))),
    ("epsilon", lambda: RandomizedResponse(5, epsilon=-0.5)),
    ("epsilon", lambda: GaussianMechanism(D, epsilon=-1.0)),
    ("epsilon", lambda: GaussianMechanism(D, epsilon=float("nan"))),
    ("epsilon", lambda: GaussianMechanism(D, epsilon=float("inf"))),
    ("delta", lambda: GaussianMechanism(D, epsilon=1.0, delta=0.0)),
    ("delta", lambda: GaussianMechanism(D, epsilon=1.0, delta=1.0)),
    ("delta", lambda: GaussianMechanism(D, epsilon=1.0, delta=-1e-5)),
    ("delta", lambda: GaussianMechanism(D, epsilon=1.0, delta=float("nan"))),
    ("delta", lambda: GaussianMechanism(D, sigma=1.0, delta=1.5)),
    ("sigma", lambda: GaussianMechanism(D)),
    ("sigma", lambda: GaussianMechanism(D, sigma=1.0, epsilon=1.0)),
    ("dim", lambda: GaussianMechanism(0, epsilon=1.0)),
    ("dim", lambda: LaplaceMechanism(0, epsilon=1.0)),
    ("dim", lambda: LaplaceMechanism(2.5, epsilon=1.0)),
    ("dim", lambda: PrivUnit(1, epsilon=1.0)),
    ("dim", lambda: PrivUnitG(1, epsilon=1.0)),
    ("eps0", lambda: PrivUnit(D, epsilon=1.0, eps0=1.0)),
    ("block_size", lambda: GaussianMechanism(D, epsilon=1.0, block_size=D + 1)),
    ("block_size", lambda: LaplaceMechanism(D, epsilon=1.0, block_size=D + 1)),
    ("mechanism", lambda: get_mechanism("gausian", dim=D, epsilon=1.0)),
    ("x", lambda: encode(_PU, np.ones(D - 1), seed=0)),
    ("x", lambda: encode(_PU, np.ones((1, D)), seed=0)),
    ("x", lambda: encode(_PU, np.r_[np.nan, np.ones(D - 1)], seed=0)),
    ("x", lambda: encode(LaplaceMechanism(D, epsilon=1.0), np.r_[np.inf, np.ones(D - 1)], seed=0)),
    ("x", lambda: encode(RandomizedResponse(5, epsilon=1.0), 5, seed=0)),
    ("x", lambda: encode(RandomizedResponse(5, epsilon=1.0), 2.5, seed=0)),
    ("inputs", lambda: encode_round(_PU, np.ones((3, D - 1)), seed=0)),
    ("alpha", lambda: encode(_PU, _X0, seed=0, alpha=1.0)),
    ("alpha", lambda: encode(_PU, _X0, seed=0, alpha=0.5)),
    ("alpha", lambda: message_guarantee(_PU, "ppr", alpha=1.0)),
    ("client", lambda: encode(_PU, _X0, seed=0, client=-1)),
    ("client", lambda: decode(_PU, [1], seed=0, client=-1)),
    ("round", lambda: encode(_PU, _X0, seed=0, round=2**16)),
    ("round", lambda: decode(_PU, [1], seed=0, round=2**16)),
    ("indices", lambda: decode(_PU, [0], seed=0)),
    ("indices", lambda: decode(_PU, [1, 2], seed=0)),
    ("coder", lambda: encode(_PU, _X0, seed=0, coder="orc")),
    ("coder", lambda: encode(_PU, _X0, seed=0, coder="direct")),
    ("coder", lambda: message_guarantee(_PU, "zip")),
]


@pytest.mark.parametrize("argument, call", _BAD, ids=[f"{a}-{i}" for i, (a, _) in enumerate(_BAD)])
def test_bad_input_names_the_argument(argument: str, call) -> None:
    with pytest.raises(InputError) as err:
        call()
    assert err.value.argument == argument
    assert str(err.value).startswith(argument + ":")
    assert "\n" not in str(err.value)  # one line


def test_gaussian_refuses_zero_epsilon() -> None:
    with pytest.raises(InputError) as err:
        GaussianMechanism(D, epsilon=0.0)
    assert err.value.argument == "epsilon"


@pytest.mark.parametrize(
    "argument, call",
    [
        ("k", lambda: RandomizedResponse(1, epsilon=1.0)),
        ("block_size", lambda: LaplaceMechanism(D, epsilon=1.0, block_size=0)),
        ("block_size", lambda: GaussianMechanism(D, epsilon=1.0, block_size=0)),
    ],
)
def test_integer_parameters_name_themselves(argument: str, call) -> None:
    with pytest.raises(InputError) as err:
        call()
    assert err.value.argument == argument


@pytest.mark.parametrize("name", ["gaussian", "laplace", "privunit", "privunitg"])
def test_inputs_outside_the_domain_are_clipped(name: str) -> None:
    """A vector of (L2, or L1 for laplace) norm 3 gives the same output law as its
    projection onto the domain: the laws' locations agree to 1e-15."""
    mech, x = _setup(name)
    g = np.random.default_rng(9)
    far = mech.laws(mech.prepare(3.0 * x, g))
    near = mech.laws(mech.prepare(x, g))
    for a, b in zip(far, near, strict=True):
        loc_a = getattr(a, "mean", getattr(a, "loc", getattr(a, "direction", None)))
        loc_b = getattr(b, "mean", getattr(b, "loc", getattr(b, "direction", None)))
        assert loc_a is not None
        np.testing.assert_allclose(loc_a, loc_b, rtol=0, atol=1e-15)
    # inside the domain the Gaussian and Laplace inputs are kept as they are
    if name in ("gaussian", "laplace"):
        np.testing.assert_array_equal(mech.prepare(0.5 * x, g), 0.5 * x)


def test_privunit_rounds_short_inputs_without_bias() -> None:
    """An input of norm 0.3 goes to ±x/|x| with probabilities 0.65 / 0.35: the mean of
    4000 roundings is within 4 standard errors of 0.3 x along x."""
    g = np.random.default_rng(10)
    proj = np.array([_PU.prepare(0.3 * X_L2, g) @ X_L2 for _ in range(4000)])
    assert set(np.round(proj, 12)) == {-1.0, 1.0}
    assert abs(proj.mean() - 0.3) < 4 * math.sqrt((1 - 0.09) / proj.size)


# --------------------------------------------------------------------------- block plan


@pytest.mark.parametrize("sigma", [0.03, 0.1, 0.4, 2.0, 10.0])
def test_gaussian_blocks_bound_the_worst_case_work(sigma: float) -> None:
    """Every block's reference keeps the worst-case D_inf over the ball within the
    budget (12 bits by default), and blocks shrink as the noise does."""
    from rdlab.privacy.mechanisms.gaussian import worst_dinf
    from rdlab.rec.distributions import Gaussian as GaussianLaw
    from rdlab.rec.distributions import dinf_bits

    mech = GaussianMechanism(16, sigma=sigma, delta=1e-5)
    for ref in mech.references():
        b = ref.dim
        s2 = float(ref.std[0]) ** 2 - sigma**2
        assert worst_dinf(b, s2, sigma, 1.0) / math.log(2) <= 12.0 + 1e-6
        # the formula is the D_inf of the worst input (the whole norm on one coordinate)
        worst = np.zeros(b)
        worst[0] = 1.0
        assert dinf_bits(GaussianLaw(worst, sigma), ref) == pytest.approx(
            worst_dinf(b, s2, sigma, 1.0) / math.log(2), rel=1e-9
        )
    tight = GaussianMechanism(16, sigma=sigma, delta=1e-5, max_dinf_bits=3.0)
    assert tight.block_size <= mech.block_size


def test_gaussian_fixed_reference_is_used_for_every_block() -> None:
    mech = GaussianMechanism(8, sigma=0.5, delta=1e-5, reference_std=0.9)
    assert all(np.allclose(r.std, 0.9) for r in mech.references())
    with pytest.raises(InputError, match="reference_std"):
        GaussianMechanism(8, sigma=0.5, delta=1e-5, reference_std=0.5)


def test_mechanisms_compose_over_rounds_through_the_accountant() -> None:
    """Ten rounds of each mechanism, accounted with dp-accounting's PLD: exact for the
    Gaussian (one Gaussian of multiplier s/√10), at most 10ε for pure ones, more than one
    round's ε (negative control: composition is not free)."""
    from rdlab.privacy import Accountant, central_gaussian_epsilon

    gauss = GaussianMechanism(16, sigma=2.0, delta=1e-5)
    eps10 = gauss.account(Accountant(), 10).epsilon(1e-5)
    assert eps10 == pytest.approx(central_gaussian_epsilon(2.0 / 2.0, 1e-5, rounds=10), rel=0.01)
    assert eps10 > gauss.local_guarantee().epsilon
    for mech in (LaplaceMechanism(16, epsilon=0.5), PrivUnit(16, epsilon=0.5)):
        eps = mech.account(Accountant(), 10).epsilon(1e-5)
        assert 0.5 < eps <= 10 * 0.5 + 1e-3
    rr = RandomizedResponse(4, epsilon=0.5)
    eps_rr = rr.account(Accountant(neighboring_relation="replace_special"), 10).epsilon(1e-5)
    assert 0.0 < eps_rr <= 10 * 0.5 + 1e-3


def test_gaussian_message_bound_behaves_like_a_privacy_bound() -> None:
    """The proved (ε', δ) of the Gaussian's PPR message: at least the output's own ε at
    that δ (the output is a function of the message), and smaller with more noise,
    smaller with a smaller α, larger at a smaller δ."""
    from rdlab.privacy.mechanisms.gaussian import ppr_gaussian_message_bound as bound

    for sigma in (0.5, 2.0, 8.0):
        mech = GaussianMechanism(D, sigma=sigma, delta=1e-5)
        msg = mech.ppr_message_guarantee(2.0)
        assert msg.epsilon >= mech.local_guarantee().epsilon
    assert bound(4.0, 1.0, [16], 2.0, 1e-5).epsilon < bound(2.0, 1.0, [16], 2.0, 1e-5).epsilon
    assert bound(2.0, 1.0, [16], 1.5, 1e-5).epsilon < bound(2.0, 1.0, [16], 4.0, 1e-5).epsilon
    assert bound(2.0, 1.0, [16], 2.0, 1e-9).epsilon > bound(2.0, 1.0, [16], 2.0, 1e-5).epsilon
    # more blocks cost more (the ball bound adds up over blocks)
    assert bound(2.0, 1.0, [8, 8], 2.0, 1e-5).epsilon > bound(2.0, 1.0, [16], 2.0, 1e-5).epsilon
