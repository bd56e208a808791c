"""REC building blocks: divergences, index codes, stream ids, bounds, the bench's pairs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from rdlab.coding import SymbolDecoder, SymbolEncoder
from rdlab.errors import InputError
from rdlab.eval.rec_bench import gaussian_pair
from rdlab.rec import Gaussian, IndexCode, Triangular, Uniform, dinf_bits, kl_bits, log_ratio
from rdlab.rec.messages import decode_indices, encode_indices
from rdlab.rec.streams import candidate_rows, stream_id
from rdlab.theory import bb_gprs_steps_bound, global_steps, gprs_bound, kl_log_bound, pfr_bound


def _numeric_kl_bits(q, p, lo, hi):
    def integrand(x):
        lq = q.log_prob(np.array([[x]]))[0]
        return math.exp(lq) * log_ratio(q, p, np.array([[x]]))[0] if lq > -700 else 0.0

    return integrate.quad(integrand, lo, hi, limit=200, points=[lo, hi])[0] / math.log(2)


@pytest.mark.parametrize(
    "mu,sigma,m,s", [(0.3, 0.2, 0.0, 1.0), (-2.0, 0.9, 1.0, 1.5), (0, 1, 0, 1)]
)
def test_gaussian_kl_and_dinf_against_numerics(mu, sigma, m, s):
    q, p = Gaussian(mu, sigma), Gaussian(m, s)
    assert kl_bits(q, p) == pytest.approx(
        _numeric_kl_bits(q, p, mu - 12 * sigma, mu + 12 * sigma), abs=1e-8
    )
    grid = np.linspace(mu - 10, mu + 10, 400_001)[:, None]
    assert dinf_bits(q, p) == pytest.approx(log_ratio(q, p, grid).max() / math.log(2), abs=1e-6)


def test_divergences_add_over_dimensions_and_unbounded_ratios_are_inf():
    q = Gaussian([0.3, -1.0], [0.2, 0.5])
    p = Gaussian([0.0, 0.0], [1.0, 2.0])
    parts = [
        kl_bits(Gaussian(q.mean[i], q.std[i]), Gaussian(p.mean[i], p.std[i])) for i in range(2)
    ]
    assert kl_bits(q, p) == pytest.approx(sum(parts), rel=1e-12)
    assert dinf_bits(Gaussian(0, 2.0), Gaussian(0, 1.0)) == math.inf  # wider target
    assert dinf_bits(Gaussian(1, 1.0), Gaussian(0, 1.0)) == math.inf  # shifted, same width
    assert dinf_bits(Gaussian(0, 1.0), Gaussian(0, 1.0)) == 0.0
    with pytest.raises(InputError):
        kl_bits(Gaussian([0, 0], [1, 1]), Gaussian(0, 1))


def test_triangular_uniform_divergences_and_sampling():
    t, u = Triangular(0.2, 0.3, 0.6), Uniform(0.0, 1.0)
    assert kl_bits(t, u) == pytest.approx(_numeric_kl_bits(t, u, 0.2, 0.6), abs=1e-7)
    assert dinf_bits(t, u) == pytest.approx(math.log2(2 / 0.4 * 1.0))
    assert kl_bits(Uniform(0.25, 0.5), u) == pytest.approx(2.0)
    assert kl_bits(Triangular(-0.1, 0.0, 0.5), u) == math.inf
    draws = t.from_uniforms(np.random.default_rng(0).random(20_000))
    # KS at significance 0.001 against scipy's triangular law
    assert stats.kstest(draws, stats.triang(c=0.25, loc=0.2, scale=0.4).cdf).pvalue > 1e-3
    assert stats.kstest(draws, stats.triang(c=0.5, loc=0.2, scale=0.4).cdf).pvalue < 1e-3
    with pytest.raises(InputError):
        Triangular(0.0, 2.0, 1.0)
    with pytest.raises(InputError):
        Gaussian(0.0, 0.0)


@pytest.mark.parametrize(
    "code", [IndexCode.zeta(7.5), IndexCode.fixed(16), IndexCode.delta(), IndexCode.fixed(0)]
)
def test_index_codes_round_trip_and_report_their_lengths(code):
    values = np.array([1, 2, 3, 17, 1000, 65536]) if code.kind != "fixed" else None
    if code.kind == "fixed":
        values = np.array([1] if code.parameter == 0 else [1, 2, 65535, 65536])
    data, bits = encode_indices(code, values)
    assert decode_indices(code, data, values.size).tolist() == values.tolist()
    assert bits == pytest.approx(float(code.bits(values).sum()))
    # many messages in one stream cost their ideal bits plus the coder's flush (<= 64 bits)
    many = np.tile(values, 200)
    encoder = SymbolEncoder()
    code.encode_into(encoder, many)
    stream = encoder.to_bytes()
    assert len(stream) * 8 <= code.bits(many).sum() + 64 + 1e-3 * code.bits(many).sum()
    assert code.decode_from(SymbolDecoder(stream), many.size).tolist() == many.tolist()


def test_index_code_rules():
    assert IndexCode.zeta(10).parameter == round((1 + 1 / 11) * 2**20) / 2**20
    # a Zipf code tuned to KL spends about KL + log2(KL + 1) bits on an index near 2^KL
    assert IndexCode.zeta(12).bits([2**12])[0] == pytest.approx(12 + math.log2(13), abs=3.0)
    assert IndexCode.fixed(16).bits([5])[0] == 16
    with pytest.raises(InputError):
        IndexCode.fixed(16).bits([65537])
    with pytest.raises(InputError):
        IndexCode("huffman")
    with pytest.raises(InputError):
        IndexCode.zeta(-1.0)


def test_stream_ids_and_candidate_layout_are_pinned():
    # part of the format: changing either changes every REC message
    assert stream_id("rec/pfr") == int.from_bytes(
        __import__("hashlib").sha256(b"rec/pfr").digest()[:8], "little"
    )
    u0, x = candidate_rows(Gaussian([0.0, 0.0], [1.0, 2.0]), 1, "rec/pfr", 0, 0, 3)
    assert u0.shape == (3,) and x.shape == (3, 2)
    again_u0, again_x = candidate_rows(Gaussian([0.0, 0.0], [1.0, 2.0]), 1, "rec/pfr", 0, 2, 1)
    assert again_u0[0] == u0[2] and np.array_equal(again_x[0], x[2])
    assert x.tolist() == [
        [-1.352951318233353, -0.47992276557711266],
        [-0.7615012456728608, -0.5748596653828202],
        [0.4949416502539943, 1.7216340421817538],
    ]


def test_bounds():
    assert kl_log_bound(3.0) == pytest.approx(5.0)
    assert pfr_bound(3.0) == pytest.approx(9.0)
    assert gprs_bound(2.0) == pytest.approx(7.0)
    assert global_steps(10.0) == 1024.0
    assert bb_gprs_steps_bound(10.0) == pytest.approx(32.26)
    with pytest.raises(ValueError):
        kl_log_bound(-1.0)


@pytest.mark.parametrize("kl,dim", [(1.0, 1), (5.0, 1), (20.0, 1), (1.0, 8), (20.0, 8)])
def test_bench_pairs_hit_their_kl(kl, dim):
    target, proposal = gaussian_pair(kl, dim)
    assert kl_bits(target, proposal) == pytest.approx(kl, rel=1e-9)
    assert dinf_bits(target, proposal) > kl
    assert (target.std < 1).all()
