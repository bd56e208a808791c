"""Ordered and minimal random coding (rdlab.rec.random_coding)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rdlab import detmath
from rdlab.errors import InputError
from rdlab.rec import random_coding as rc
from rdlab.rec.distributions import Gaussian, kl_bits
from rdlab.rec.messages import IndexCode

# Q = N(1.5, 0.25^2) against P = N(0, 1): D_KL = 2.947 bits (2.04 nats)
TARGET = Gaussian(1.5, 0.25)
PROPOSAL = Gaussian(0.0, 1.0)
SEEDS = 2000
EDGES = np.linspace(0.5, 2.5, 21)  # 20 bins plus the two tails


def _tv_to_target(xs: np.ndarray) -> float:
    """Total variation between the histogram of ``xs`` and Q's bin probabilities."""
    counts = np.histogram(xs, bins=np.r_[-np.inf, EDGES, np.inf])[0] / xs.size
    cdf = detmath.normal_cdf((EDGES - 1.5) / 0.25)
    return 0.5 * float(np.abs(counts - np.diff(np.r_[0.0, cdf, 1.0])).sum())


def _samples(encode, log2_candidates: int) -> np.ndarray:
    return np.array(
        [
            encode(TARGET, PROPOSAL, seed, log2_candidates=log2_candidates).sample[0]
            for seed in range(SEEDS)
        ]
    )


@pytest.mark.parametrize("encode", [rc.encode_ordered, rc.encode_minimal])
def test_samples_follow_the_target_with_enough_candidates_and_not_with_too_few(encode):
    """Chatterjee & Diaconis (2018, Thm 1.1): with N = exp(L + t) candidates (L = KL in
    nats) the importance sampler's error on any event is at most
    exp(-t/4) + 2 sqrt(Q(log r > L + t/2)); Theis & Yosri (2022) give the same form for
    ORC. The bound is loose (about 0.5 here at N = 2^7 = 2^(KL + 4)) but says the error
    falls exponentially in log2 N - KL; measured, N = 2^7 is within the Monte-Carlo floor
    (TV of a 2000-sample histogram with 22 bins against its own law: ~0.03), while
    N = 2 = 2^(KL - 2) (negative control) is far off."""
    assert kl_bits(TARGET, PROPOSAL) == pytest.approx(2.947, abs=1e-3)
    k_good = math.ceil(kl_bits(TARGET, PROPOSAL)) + 4
    good = _samples(encode, k_good)
    z = (good - 1.5) / 0.25
    assert _tv_to_target(good) < 0.08
    assert abs(z.mean()) < 0.1  # standard error 0.022
    assert abs(z.var() - 1.0) < 0.15  # standard error 0.03, plus the sampler's bias
    bad = _samples(encode, 1)
    assert _tv_to_target(bad) > 0.4
    assert abs((bad - 1.5).mean() / 0.25) > 1.0


@pytest.mark.parametrize(
    ("encode", "decode"),
    [(rc.encode_ordered, rc.decode_ordered), (rc.encode_minimal, rc.decode_minimal)],
)
def test_decoder_returns_the_message_sample_bit_for_bit(encode, decode):
    target = Gaussian([0.3, -0.2, 1.0], [0.5, 0.8, 0.4])
    proposal = Gaussian([0.0, 0.0, 0.5], [1.0, 1.2, 0.9])
    seen = set()
    for seed in range(40):
        for block, code in ((0, None), (3, IndexCode.zeta(4.0)), (7, IndexCode.delta())):
            msg = encode(target, proposal, seed, block=block, code=code)
            x = decode(msg, proposal, seed, block=block)
            assert x.dtype == np.float64 and x.shape == (3,)
            assert np.array_equal(x, msg.sample)
            assert 1 <= msg.index <= msg.steps
            assert msg.bits == pytest.approx(float(msg.code.bits([msg.index])[0]))
            seen.add(x.tobytes())
    assert len(seen) > 100  # different seeds and blocks give different samples


def test_default_candidate_count_and_codes():
    kl = kl_bits(TARGET, PROPOSAL)
    msg = rc.encode_ordered(TARGET, PROPOSAL, 1)
    assert msg.steps == 2 ** math.ceil(kl + 2) == 32
    assert msg.code == IndexCode.fixed(5) and msg.bits == 5.0
    assert rc.default_log2_candidates(0.0) == 2
    # a fixed code without log2_candidates sets the candidate count
    msg = rc.encode_minimal(TARGET, PROPOSAL, 1, code=IndexCode.fixed(9))
    assert msg.steps == 512 and msg.sampler == "mrc"


def test_zeta_code_is_shorter_than_fixed_for_ordered_indices():
    """ORC's index concentrates near 2^KL: the zeta code beats log2 N = KL + 4 bits on
    average; MRC's index is near uniform, so the fixed code is the right one there."""
    kl = kl_bits(TARGET, PROPOSAL)
    zeta = IndexCode.zeta(kl)
    orc = [rc.encode_ordered(TARGET, PROPOSAL, s, code=zeta, log2_candidates=7) for s in range(300)]
    mrc = [rc.encode_minimal(TARGET, PROPOSAL, s, code=zeta, log2_candidates=7) for s in range(300)]
    assert np.mean([m.bits for m in orc]) < 6.0
    assert np.mean([m.bits for m in mrc]) > 7.0


def test_chunked_scan_matches_one_pass(monkeypatch):
    """ORC carries the arrival time across chunks: the chosen index does not depend on
    the chunk size."""
    target = Gaussian([0.4, 0.1], [0.3, 0.6])
    proposal = Gaussian([0.0, 0.0], [1.0, 1.0])
    whole = [rc.encode_ordered(target, proposal, s, log2_candidates=10).index for s in range(20)]
    mrc = [rc.encode_minimal(target, proposal, s, log2_candidates=10).index for s in range(20)]
    monkeypatch.setattr(rc, "_CHUNK_WORDS", 90)  # 30 rows of width 3
    assert [
        rc.encode_ordered(target, proposal, s, log2_candidates=10).index for s in range(20)
    ] == (whole)
    assert [
        rc.encode_minimal(target, proposal, s, log2_candidates=10).index for s in range(20)
    ] == (mrc)


def test_unbounded_ratio_is_coded_approximately():
    """A target wider than the proposal (dQ/dP unbounded) is not refused."""
    wide = Gaussian(0.0, 2.0)
    for encode, decode in (
        (rc.encode_ordered, rc.decode_ordered),
        (rc.encode_minimal, rc.decode_minimal),
    ):
        msg = encode(wide, PROPOSAL, 5)
        assert np.isfinite(msg.sample).all()
        assert np.array_equal(decode(msg, PROPOSAL, 5), msg.sample)


def test_pinned_indices():
    """Catches accidental changes of the stream layout or the scores."""
    target = Gaussian([1.5, -1.0], [0.2, 0.3])  # KL 5.05 bits
    proposal = Gaussian([0.0, 0.0], [1.0, 1.0])
    orc = [rc.encode_ordered(target, proposal, 2024, block=b, log2_candidates=12) for b in range(4)]
    mrc = [rc.encode_minimal(target, proposal, 2024, block=b, log2_candidates=12) for b in range(4)]
    assert [m.index for m in orc] == [24, 6, 2, 53]
    assert [m.index for m in mrc] == [1470, 3054, 2251, 3254]
    assert orc[0].sample.tolist() == [1.395489394093021, -1.443181908211]


def test_bad_inputs_are_refused():
    with pytest.raises(InputError, match="log2_candidates"):
        rc.encode_ordered(TARGET, PROPOSAL, 0, log2_candidates=31)
    with pytest.raises(InputError, match="log2_candidates"):
        rc.encode_minimal(TARGET, PROPOSAL, 0, log2_candidates=-1)
    with pytest.raises(InputError, match="target"):
        rc.encode_ordered(Gaussian([0.0, 0.0], 1.0), PROPOSAL, 0)
    with pytest.raises(InputError, match="code"):
        rc.encode_ordered(TARGET, PROPOSAL, 0, code=IndexCode.fixed(3), log2_candidates=5)
    with pytest.raises(InputError, match="seed"):
        rc.encode_ordered(TARGET, PROPOSAL, -1)
    msg = rc.encode_ordered(TARGET, PROPOSAL, 0)
    with pytest.raises(InputError, match="message"):
        rc.decode_minimal(msg, PROPOSAL, 0)
