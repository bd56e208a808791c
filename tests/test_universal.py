"""Universal codes for positive integers: Elias gamma/delta (range-coded and bit-packed), zeta."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdlab.coding import (
    EliasDelta,
    EliasGamma,
    Zeta,
    pack_elias_delta,
    pack_elias_gamma,
    unpack_elias_delta,
    unpack_elias_gamma,
)
from rdlab.errors import FormatError, InputError

MODELS = [EliasGamma(), EliasDelta(), Zeta(1.01), Zeta(1.5), Zeta(3.0)]
positives = st.lists(st.integers(1, 2**64 - 1), max_size=200).map(
    lambda v: np.array(v, dtype=np.uint64)
)
small_positives = st.lists(st.integers(1, 5000), max_size=200).map(
    lambda v: np.array(v, dtype=np.uint64)
)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m.name}{getattr(m, 's', '')}")
@settings(max_examples=40, deadline=None)
@given(values=st.one_of(positives, small_positives))
def test_range_coded_models_round_trip(model, values):
    data = model.encode(values)
    assert np.array_equal(model.decode(data, values.size), values)


@settings(max_examples=60, deadline=None)
@given(values=st.one_of(positives, small_positives))
def test_bit_packed_codes_round_trip(values):
    assert np.array_equal(unpack_elias_gamma(pack_elias_gamma(values), values.size), values)
    assert np.array_equal(unpack_elias_delta(pack_elias_delta(values), values.size), values)


def _bits(data: bytes, count: int) -> str:
    return "".join(f"{b:08b}" for b in data)[:count]


def test_textbook_codewords():
    assert _bits(pack_elias_gamma([1]), 1) == "1"
    assert _bits(pack_elias_gamma([2]), 3) == "010"
    assert _bits(pack_elias_gamma([5]), 5) == "00101"
    assert _bits(pack_elias_gamma([1, 2, 5]), 9) == "1" + "010" + "00101"
    assert _bits(pack_elias_delta([1]), 1) == "1"
    assert _bits(pack_elias_delta([2]), 4) == "0100"
    assert _bits(pack_elias_delta([10]), 8) == "00100010"
    assert _bits(pack_elias_delta([17]), 9) == "001010001"  # L=4: 00 101 0001


@pytest.mark.parametrize(
    "values",
    [
        np.arange(1, 3000, dtype=np.uint64),
        np.array([1, 2**20, 2**40 + 5, 2**63, 2**64 - 1], np.uint64),
    ],
)
def test_ideal_lengths_match_the_prefix_codes(values):
    levels = np.array([int(v).bit_length() - 1 for v in values.tolist()])
    gamma_len = 2 * levels + 1
    delta_len = levels + 2 * np.array([int(x + 1).bit_length() - 1 for x in levels]) + 1
    assert EliasGamma().codeword_bits(values).sum() == gamma_len.sum()
    assert EliasDelta().codeword_bits(values).sum() == delta_len.sum()
    # the range-coded models are the normalized codeword distributions
    classes = np.arange(64)
    z_delta = np.sum(2.0 ** -(2 * np.floor(np.log2(classes + 1)) + 1))  # mass of n < 2**64
    assert EliasGamma().ideal_bits(values) == pytest.approx(gamma_len.sum(), abs=1e-6)
    assert EliasDelta().ideal_bits(values) == pytest.approx(
        delta_len.sum() + values.size * np.log2(z_delta), abs=1e-6
    )
    assert len(pack_elias_gamma(values)) == (gamma_len.sum() + 7) // 8
    assert len(pack_elias_delta(values)) == (delta_len.sum() + 7) // 8


@pytest.mark.parametrize(
    "model",
    [EliasGamma(), EliasDelta(), Zeta(1.2), Zeta(2.5)],
    ids=lambda m: f"{m.name}{getattr(m, 's', '')}",
)
def test_range_coded_length_is_close_to_ideal(model):
    rng = np.random.default_rng(5)
    values = rng.zipf(1.7, 50_000).astype(np.uint64)
    coded = len(model.encode(values)) * 8
    ideal = model.ideal_bits(values)
    assert ideal * 0.995 - 64 <= coded <= ideal * 1.005 + 64


def test_zeta_matches_zipf_source_entropy():
    # statistical: samples from a Zipf(2) law, zeta(2) costs ~ the entropy of that law
    rng = np.random.default_rng(9)
    values = rng.zipf(2.0, 100_000).astype(np.uint64)
    model = Zeta(2.0)
    bits_per_value = len(model.encode(values)) * 8 / values.size
    n = np.arange(1, 10**6, dtype=np.float64)
    p = n**-2.0 / (np.pi**2 / 6)
    entropy = float(-(p * np.log2(p)).sum())  # truncated tail adds < 1e-4 bit
    assert abs(bits_per_value - entropy) < 0.03  # ~5 standard errors at this sample size


def test_zeta_for_kl_gives_the_rec_exponent():
    assert Zeta.for_kl(0.0).s == 2.0
    assert Zeta.for_kl(9.0).s == pytest.approx(1.1)


@pytest.mark.parametrize("bad", [[0], [-3], [1.5], ["a"]])
def test_non_positive_values_are_refused(bad):
    with pytest.raises(InputError):
        EliasGamma().encode(np.array(bad))
    with pytest.raises(InputError):
        pack_elias_delta(np.array(bad))


@pytest.mark.parametrize("s", [1.0, 0.5, float("nan"), float("inf"), 100.0])
def test_bad_zeta_exponent_is_refused(s):
    with pytest.raises(InputError, match="s"):
        Zeta(s)


@settings(max_examples=150, deadline=None)
@given(blob=st.binary(max_size=40), count=st.integers(0, 30))
def test_garbage_fails_cleanly(blob, count):
    for decode in (unpack_elias_gamma, unpack_elias_delta, Zeta(1.3).decode, EliasGamma().decode):
        try:
            out = decode(blob, count)
        except FormatError:
            continue
        assert out.shape == (count,)


def _pinned_values() -> np.ndarray:
    k = np.arange(1, 5001, dtype=np.uint64)
    v = (k * k * np.uint64(2654435761)) % np.uint64(2**40) + np.uint64(1)  # integer-only input
    return np.concatenate([v, np.array([1, 2, 3, 2**63, 2**64 - 1], dtype=np.uint64)])


@pytest.mark.parametrize(
    ("model", "digest"),
    [
        (EliasGamma(), "0bccd724a51278a1bb42092e3bda58a47aa2f56f931a87127c8a4ce37bc0791c"),
        (EliasDelta(), "6507bac66db0087f681396fcbfe46bb0d6c7e559db1bc67234517a458d7335ed"),
        (Zeta(1.01), "8ef635a16a6017aae70b8e9726671fbbe399e8a5506e5076e2fad1ba3bff7488"),
        (Zeta(1.5), "f39768bd5f0ed3935245ea1bf4a412e74f4ee51beb9920f51fd21e21d88fdb16"),
        (Zeta(3.0), "e93b429ca2c82cfc32824418c720ffbdde425188744bd081604b012c4556e60e"),
    ],
    ids=lambda m: getattr(m, "name", "") + str(getattr(m, "s", "")),
)
def test_streams_are_pinned(model, digest):
    # pins the tables (detmath's zeta sums, quantization) and the stream layout
    import hashlib

    assert hashlib.sha256(model.encode(_pinned_values())).hexdigest() == digest


def test_bit_packed_codes_are_pinned():
    import hashlib

    v = _pinned_values()
    assert hashlib.sha256(pack_elias_gamma(v)).hexdigest() == (
        "65d971b48c98a72659f2a98228c559b79af3f1c6810a6ebd43d29565d9f84968"
    )
    assert hashlib.sha256(pack_elias_delta(v)).hexdigest() == (
        "98dd330fabec6538d992cbc1f492eae7120e23341e5d615fef8cdbbdbc314051"
    )
