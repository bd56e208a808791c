"""Entropy coding: round trips, exactness of the integer tables, rates, bad input."""

from __future__ import annotations

import hashlib

import constriction
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rdlab.coding import (
    PRECISION,
    FrequencyTables,
    LocationScaleCoder,
    decode_categorical,
    decode_values,
    encode_categorical,
    encode_values,
    location_scale_tables,
    log_scale_table,
    quantize_probabilities,
)
from rdlab.coding.stream import SymbolDecoder, SymbolEncoder, bit_length, constriction_model
from rdlab.errors import CorruptStreamError, FormatError, InputError

INT64 = np.iinfo(np.int64)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def probability_vectors(min_size: int = 1, max_size: int = 300):
    """Probability vectors with huge and tiny entries (down to 1e-300 and exact zeros)."""
    weights = st.one_of(
        st.floats(0, 1),
        st.floats(1e-300, 1e-12),
        st.just(0.0),
        st.floats(1e3, 1e9),
    )
    return (
        st.lists(weights, min_size=min_size, max_size=max_size)
        .filter(lambda w: sum(w) > 0)
        .map(lambda w: np.asarray(w, dtype=np.float64) / np.sum(w))
    )


# --------------------------------------------------------------------- quantization
@FAST
@given(p=probability_vectors(), precision=st.integers(10, 24))
def test_quantized_tables_sum_exactly_and_keep_every_symbol(p, precision):
    if p.size > 1 << (precision - 1):
        with pytest.raises(InputError):
            quantize_probabilities(p, precision)
        return
    f = quantize_probabilities(p, precision)
    assert f.dtype == np.int64
    assert f.sum() == 1 << precision
    assert (f >= 1).all()
    # deterministic and row-wise identical when batched
    assert np.array_equal(f, quantize_probabilities(p.copy(), precision))
    assert np.array_equal(quantize_probabilities(np.stack([p, p]), precision)[1], f)


def test_quantization_costs_little_rate():
    rng = np.random.default_rng(1)
    for _ in range(20):
        p = rng.dirichlet(np.full(64, 0.5))
        p = np.maximum(p, 1e-5)
        p /= p.sum()
        f = quantize_probabilities(p)
        q = f / 2.0**PRECISION
        kl_bits = float(np.sum(p * np.log2(p / q)))
        assert kl_bits < 1e-6  # 24-bit tables: overhead far below a millionth of a bit


@pytest.mark.parametrize(
    ("probabilities", "argument"),
    [
        (np.array([0.5, 0.6]), "probabilities"),
        (np.array([0.5, np.nan]), "probabilities"),
        (np.array([1.5, -0.5]), "probabilities"),
        (np.array([[0.5, 0.5], [1.0, 1.0]]), "probabilities"),
        (np.zeros(0), "probabilities"),
        (np.ones((2, 2, 2)) / 4, "probabilities"),
    ],
)
def test_bad_probabilities_are_refused_by_name(probabilities, argument):
    with pytest.raises(InputError) as info:
        quantize_probabilities(probabilities)
    assert info.value.argument == argument


# ----------------------------------------------------- integer tables are coded exactly
def _decoded_symbol(model, quantile: int) -> int:
    """Symbol an ANS decoder reads when the low 24 bits of its state are ``quantile``."""
    coder = constriction.stream.stack.AnsCoder(np.array([quantile, 1], dtype=np.uint32), seal=False)
    return int(coder.decode(model, 1)[0])


@FAST
@given(p=probability_vectors(min_size=2, max_size=40))
def test_constriction_uses_exactly_our_integer_frequencies(p):
    f = quantize_probabilities(p)
    cdf = np.concatenate([[0], np.cumsum(f)])
    model = constriction_model(f)
    for s in range(f.size):
        assert _decoded_symbol(model, int(cdf[s])) == s
        assert _decoded_symbol(model, int(cdf[s + 1] - 1)) == s


# ----------------------------------------------------------------------- round trips
@st.composite
def tables_and_values(draw):
    n_tables = draw(st.integers(1, 6))
    escape = draw(st.booleans())
    probs = [draw(probability_vectors(1, 40)) for _ in range(n_tables)]
    offsets = draw(st.lists(st.integers(-1000, 1000), min_size=n_tables, max_size=n_tables))
    tables = FrequencyTables.from_probabilities(probs, offsets, escape=escape)
    size = draw(st.integers(0, 300))
    idx = draw(hnp.arrays(np.int64, size, elements=st.integers(0, n_tables - 1)))
    lo = tables.offsets[idx]
    span = np.array([p.size for p in probs])[idx]
    inside = lo + draw(hnp.arrays(np.int64, size, elements=st.integers(0, 10**6))) % span
    if escape:
        wild = draw(hnp.arrays(np.int64, size, elements=st.integers(INT64.min, INT64.max)))
        pick = draw(hnp.arrays(np.bool_, size))
        values = np.where(pick, wild, inside)
    else:
        values = inside
    return tables, values, idx


@FAST
@given(case=tables_and_values())
def test_values_round_trip_with_any_tables(case):
    tables, values, idx = case
    data = encode_values(values, idx, tables)
    assert np.array_equal(decode_values(data, idx, tables), values)
    assert data == encode_values(values, idx, tables)  # deterministic


@FAST
@given(case=tables_and_values())
def test_stream_length_is_the_information_content_of_the_integer_tables(case):
    tables, values, idx = case
    inside_only = np.ones(values.size, bool)
    if tables.escape:  # escapes add a payload after the symbols; measure without them
        lo = tables.offsets[idx]
        inside_only = (values >= lo) & (values < lo + tables.sizes[idx] - 1)
    values, idx = values[inside_only], idx[inside_only]
    bits = len(encode_values(values, idx, tables)) * 8
    ideal = tables.information_content_bits(values, idx)
    # the range coder flushes whole 32-bit words: at most 2 words over, never under by more
    assert ideal - 1e-6 * ideal - 1 <= bits <= ideal * (1 + 1e-6) + 64


def test_escape_round_trips_extreme_int64_values():
    tables = location_scale_tables("gaussian", [0.5, 3.0])
    values = np.array(
        [INT64.min, INT64.max, INT64.min + 1, INT64.max - 1, 0, -1, 1, 2**40, -(2**40)]
    )
    idx = np.arange(values.size) % 2
    assert np.array_equal(decode_values(encode_values(values, idx, tables), idx, tables), values)


def test_out_of_range_without_escape_is_refused():
    tables = FrequencyTables.from_probabilities([[0.5, 0.5]], offsets=[0], escape=False)
    with pytest.raises(InputError, match="values"):
        encode_values(np.array([0, 2]), np.array([0, 0]), tables)


def test_empty_arrays_round_trip():
    coder = LocationScaleCoder()
    empty = np.zeros((0, 4), dtype=np.int64)
    data = coder.encode(empty, empty)
    assert coder.decode(data, empty).shape == (0, 4)
    assert decode_categorical(encode_categorical([], [0.3, 0.7]), [0.3, 0.7], 0).size == 0


@pytest.mark.parametrize("family", ["gaussian", "laplace", "logistic"])
@pytest.mark.parametrize("scale", [1e-3, 0.11, 1.0, 37.0, 5000.0])
def test_location_scale_round_trip_at_extreme_scales(family, scale):
    coder = LocationScaleCoder(family, [scale])
    rng = np.random.default_rng(7)
    q = np.rint(rng.laplace(0, scale * 2 + 1, 2000)).astype(np.int64)
    q[:3] = [INT64.max, INT64.min, 10**12]
    idx = np.zeros_like(q)
    assert np.array_equal(coder.decode(coder.encode(q, idx), idx), q)


@FAST
@given(
    scales=hnp.arrays(np.float64, st.integers(1, 200), elements=st.floats(1e-4, 1e4)),
    seed=st.integers(0, 2**32 - 1),
)
def test_location_scale_round_trip_random_scales(scales, seed):
    coder = LocationScaleCoder()
    rng = np.random.default_rng(seed)
    y = rng.normal(size=scales.shape) * scales
    means = rng.normal(size=scales.shape) * 3
    idx = coder.scale_indexes(scales)
    q = coder.quantize(y + means, means)
    out = coder.decode(coder.encode(q, idx), idx)
    assert np.array_equal(out, q)
    assert np.allclose(coder.dequantize(out, means), q + means)


@FAST
@given(p=probability_vectors(1, 50), data=st.data())
def test_categorical_round_trip(p, data):
    n = data.draw(st.integers(0, 200))
    symbols = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, p.size - 1)))
    assert np.array_equal(decode_categorical(encode_categorical(symbols, p), p, n), symbols)
    rows = np.broadcast_to(p, (n, p.size))
    assert np.array_equal(decode_categorical(encode_categorical(symbols, rows), rows, n), symbols)


def test_categorical_rejects_out_of_range_and_bad_rows():
    with pytest.raises(InputError, match="symbols"):
        encode_categorical([0, 3], [0.5, 0.5])
    with pytest.raises(InputError, match="probabilities"):
        encode_categorical([0, 1], np.full((3, 2), 0.5))


def test_learned_cdf_tables_round_trip_and_match_the_masses():
    edges = np.array([0.01, 0.1, 0.5, 0.9, 0.98])  # P(X <= offset + j - 0.5)
    tables = FrequencyTables.from_cdfs([edges], offsets=[-2])
    freqs = tables.frequencies[0]
    expected = np.append(np.diff(edges), edges[0] + 1 - edges[-1])
    assert np.allclose(freqs / 2.0**PRECISION, expected, atol=1e-6)
    values = np.array([-2, -1, 0, 1, 5, -50, 2**50])
    idx = np.zeros_like(values)
    assert np.array_equal(decode_values(encode_values(values, idx, tables), idx, tables), values)
    with pytest.raises(InputError, match="cdfs"):
        FrequencyTables.from_cdfs([[0.5, 0.2]], offsets=[0])


# -------------------------------------------------------------------------- rates
def test_gaussian_rate_is_within_a_tenth_of_a_percent_of_the_information_content():
    rng = np.random.default_rng(3)
    coder = LocationScaleCoder()
    scales = np.exp(rng.normal(0.5, 1.0, 200_000)).clip(0.11, 256)
    idx = coder.scale_indexes(scales)
    q = coder.quantize(rng.normal(size=scales.size) * coder.scales[idx])
    data = coder.encode(q, idx)
    ideal = coder.ideal_bits(q, idx)
    assert len(data) * 8 <= ideal * 1.001 + 64
    assert len(data) * 8 >= ideal * 0.99  # cannot beat the information content by much


def test_empirical_rate_matches_the_entropy_of_the_discretized_gaussian():
    # statistical check: 100k samples of N(0, 2^2), mean code length vs entropy, 4 sigma
    rng = np.random.default_rng(11)
    coder = LocationScaleCoder("gaussian", [2.0])
    q = np.rint(rng.normal(0, 2.0, 100_000)).astype(np.int64)
    bits = len(coder.encode(q, np.zeros_like(q))) * 8 / q.size
    from rdlab.coding import location_scale_probabilities

    _, masses = location_scale_probabilities("gaussian", 2.0)
    p = masses[:-1]
    entropy = float(-(p * np.log2(p)).sum())
    sd = float(np.sqrt((p * np.log2(p) ** 2).sum() - entropy**2) / np.sqrt(q.size))
    assert abs(bits - entropy) < 4 * sd + 1e-3


# ------------------------------------------------------------------ determinism
def _fixed_case():
    k = np.arange(20_000, dtype=np.int64)
    values = (k * 7919 % 41) - 20  # integer-only input: identical everywhere
    idx = (k * 104729) % 64
    return values, idx


@pytest.mark.parametrize(
    ("family", "entries", "fingerprint"),
    [
        ("gaussian", 24500, "f0b1ed991c1a88b779a2dfa8ed00746852e8a9ceaeee5a03d475f575e46b13e1"),
        ("laplace", 77548, "cb0d826ebd3b66363361312bcd45d29a2e6699dd3083e57322d5532752f7f872"),
        ("logistic", 81968, "6b691946bcf306beb96ad121f13750eb1698865a42744138189fac52d9cea8ef"),
    ],
)
def test_default_tables_are_pinned(family, entries, fingerprint):
    # Any change of detmath, the table layout or the quantizer changes these digests; that
    # breaks existing files, so it must be a deliberate, versioned format change.
    tables = location_scale_tables(family, log_scale_table())
    assert tables.sizes.sum() == entries
    assert tables.fingerprint() == fingerprint


def test_stream_bytes_are_pinned_and_independent_of_torch_threads():
    torch = pytest.importorskip("torch")
    values, idx = _fixed_case()
    coder = LocationScaleCoder()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = coder.encode(torch.from_numpy(values), torch.from_numpy(idx))
        torch.set_num_threads(2)
        two = coder.encode(torch.from_numpy(values), torch.from_numpy(idx))
    finally:
        torch.set_num_threads(before)
    assert one == two == coder.encode(values, idx)
    assert hashlib.sha256(one).hexdigest() == PINNED_STREAM_SHA256


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda c: c.encode(np.zeros(3), np.zeros(3, np.int64)), "symbols"),
        (lambda c: c.encode(np.zeros(3, np.int64), np.zeros(4, np.int64)), "indexes"),
        (lambda c: c.encode(np.zeros(3, np.int64), np.full(3, 64)), "indexes"),
        (lambda c: c.encode(np.zeros(3, np.int64), np.full(3, -1)), "indexes"),
        (lambda c: c.scale_indexes(np.array([1.0, np.nan])), "scales"),
        (lambda c: c.scale_indexes(np.array([1.0, 0.0])), "scales"),
        (lambda c: c.quantize(np.array([np.inf])), "y"),
        (lambda c: c.quantize(np.zeros(3), np.zeros(2)), "means"),
    ],
)
def test_bad_coder_input_is_refused_by_name(call, argument):
    with pytest.raises(InputError) as info:
        call(LocationScaleCoder())
    assert info.value.argument == argument


@pytest.mark.parametrize(
    ("scales", "family"),
    [
        ([1.0, np.nan], "gaussian"),
        ([0.0], "gaussian"),
        ([-1.0], "laplace"),
        ([1.0], "cauchy"),
        ([2.0, 1.0], "gaussian"),
    ],
)
def test_bad_tables_are_refused(scales, family):
    with pytest.raises(InputError):
        LocationScaleCoder(family, scales)


@settings(max_examples=200, deadline=None)
@given(blob=st.binary(max_size=64))
def test_garbage_streams_fail_cleanly_or_decode(blob):
    coder = LocationScaleCoder()
    idx = np.arange(50) % 64
    try:
        out = coder.decode(blob, idx)
    except FormatError:
        return
    assert out.shape == idx.shape


def test_stream_length_must_be_whole_words():
    with pytest.raises(CorruptStreamError):
        SymbolDecoder(b"abc")


def test_sections_compose_in_one_stream():
    tables = location_scale_tables("laplace", [1.0, 10.0])
    enc = SymbolEncoder()
    enc.encode_values(np.array([3, -40, 7]), np.array([0, 1, 1]), tables)
    enc.encode_nonnegative(np.array([0, 1, 2**64 - 1], dtype=np.uint64))
    enc.encode_uniform_bits(np.array([5, 0], dtype=np.uint64), np.array([3, 64]))
    dec = SymbolDecoder(enc.to_bytes())
    assert dec.decode_values(np.array([0, 1, 1]), tables).tolist() == [3, -40, 7]
    assert dec.decode_nonnegative(3).tolist() == [0, 1, 2**64 - 1]
    assert dec.decode_uniform_bits(np.array([3, 64])).tolist() == [5, 0]


def test_bit_length_is_exact_at_powers_of_two():
    v = np.array([0, 1, 2, 3, 4, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1], dtype=np.uint64)
    assert bit_length(v).tolist() == [int(x).bit_length() for x in v.tolist()]


PINNED_STREAM_SHA256 = "767083da6716a9c329bcf0a0fe9801c3d8391cfd6ec5bfe61fb2f774238c2ebb"


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_bytes_do_not_depend_on_the_number_of_grouping_threads(monkeypatch, workers):
    from rdlab.coding import stream

    rng = np.random.default_rng(21)
    coder = LocationScaleCoder()
    scales = np.exp(rng.normal(0, 1.5, 30_001)).clip(0.11, 256)
    idx = coder.scale_indexes(scales)
    y = rng.normal(size=scales.size) * scales * 3  # some escapes too
    monkeypatch.setattr(stream, "_PARALLEL_MIN", 1 << 30)  # one part
    reference = coder.encode_latents(y, idx)
    monkeypatch.setattr(stream, "_PARALLEL_MIN", 16)
    monkeypatch.setattr(stream, "_WORKERS", workers)
    monkeypatch.setattr(stream, "_POOL", None)
    assert coder.encode_latents(y, idx) == reference
    assert coder.encode(coder.quantize(y), idx) == reference
    assert np.array_equal(coder.decode_latents(reference, idx), np.rint(y))
    monkeypatch.setattr(stream, "_PARALLEL_MIN", 1 << 30)
    assert np.array_equal(coder.decode(reference, idx), np.rint(y).astype(np.int64))


def test_encode_latents_names_bad_latents():
    coder = LocationScaleCoder()
    idx = np.zeros(3, np.int64)
    with pytest.raises(InputError, match=r"^y"):
        coder.encode_latents(np.array([0.0, np.nan, 1.0]), idx)
    with pytest.raises(InputError, match=r"^means"):
        coder.encode_latents(np.zeros(3), idx, np.array([0.0, np.inf, 1.0]))
    with pytest.raises(InputError, match=r"^indexes"):
        coder.encode_latents(np.zeros(3), np.zeros(4, np.int64))


@pytest.mark.parametrize("precision", [8, 12, 16])
def test_lower_precision_tables_code_exactly_their_frequencies(precision):
    rng = np.random.default_rng(precision)
    p = rng.dirichlet(np.ones(20))
    tables = FrequencyTables.from_probabilities([p], escape=True, precision=precision)
    values = rng.integers(-5, 25, 5000)
    idx = np.zeros_like(values)
    data = encode_values(values, idx, tables)
    assert np.array_equal(decode_values(data, idx, tables), values)
    inside = (values >= 0) & (values < 20)
    bits = len(encode_values(values[inside], idx[inside], tables)) * 8
    assert abs(bits - tables.information_content_bits(values[inside], idx[inside])) <= 64
    symbols = rng.integers(0, 20, 3000)
    data = encode_categorical(symbols, p, precision=precision)
    assert np.array_equal(decode_categorical(data, p, symbols.size, precision=precision), symbols)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_coding_works_in_a_forked_child_after_the_parent_used_the_pool(monkeypatch):
    import multiprocessing

    from rdlab.coding import stream

    monkeypatch.setattr(stream, "_PARALLEL_MIN", 16)
    coder = LocationScaleCoder()
    q = np.arange(-50, 50).repeat(10)
    idx = np.arange(q.size) % 64
    expected = coder.encode(q, idx)  # the parent's pool now has threads
    with multiprocessing.get_context("fork").Pool(1) as pool:
        result = pool.apply_async(coder.encode, (q, idx))
        assert result.get(timeout=60) == expected
