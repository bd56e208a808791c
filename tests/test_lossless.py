"""The lossless demo codec: exact round trips, determinism, corrupt files refused."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rdlab.codecs import get_codec, load
from rdlab.codecs.lossless import planar_inverse, planar_residual, rct_forward, rct_inverse
from rdlab.container import decode_rdl
from rdlab.data import read_image, sample_path
from rdlab.errors import FormatError, InputError

images = st.one_of(
    hnp.arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40), st.just(3))),
    hnp.arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40))),
)


@settings(max_examples=60, deadline=None)
@given(image=images, block=st.sampled_from([4, 8, 16]))
def test_any_image_round_trips(image, block):
    codec = get_codec("lossless", block=block)
    assert np.array_equal(codec.decode(codec.encode(image)), image)


wide_images = st.one_of(
    hnp.arrays(np.uint16, st.tuples(st.integers(1, 40), st.integers(1, 40), st.just(3))),
    hnp.arrays(np.uint16, st.tuples(st.integers(1, 40), st.integers(1, 40))),
)


@settings(max_examples=60, deadline=None)
@given(
    image=wide_images,
    block=st.sampled_from([4, 8, 16]),
    narrow=st.integers(0, 15),
    shift=st.integers(0, 15),
)
def test_any_16_bit_image_round_trips_to_uint16(image, block, narrow, shift):
    image = (image >> narrow) << shift  # small ranges are coded, shifts dropped
    codec = get_codec("lossless", block=block)
    decoded = codec.decode(codec.encode(image))
    assert decoded.dtype == np.uint16 and np.array_equal(decoded, image)


def test_8_bit_images_that_compress_keep_version_1():
    data = get_codec("lossless").encode(read_image(sample_path()))
    file = decode_rdl(data)
    assert file.codec_version == "1" and "storage" not in file.metadata


def test_transforms_are_exact_inverses():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    assert np.array_equal(rct_inverse(rct_forward(rgb)), rgb)
    planes = rct_forward(rgb)
    assert np.array_equal(planar_inverse(planar_residual(planes)), planes)


def test_sample_bytes_are_pinned(tmp_path):
    codec = get_codec("lossless")
    image = read_image(sample_path())
    data = codec.encode(image)
    assert hashlib.sha256(data).hexdigest() == PINNED_SAMPLE_SHA256
    path = tmp_path / "s.rdl"
    path.write_bytes(data)
    assert np.array_equal(load(path), image)


def test_corrupt_payload_is_refused():
    codec = get_codec("lossless")
    data = bytearray(codec.encode(read_image(sample_path())[:32, :32]))
    for position in range(0, len(data), max(1, len(data) // 97)):
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        with pytest.raises(FormatError):
            codec.decode(bytes(damaged))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((4, 4), np.float32),
        np.zeros((4, 4, 4), np.uint8),
        np.zeros((0, 4), np.uint8),
        np.zeros((4, 4), np.uint32),
        np.zeros((4, 4), np.int16),
    ],
)
def test_bad_images_are_refused(bad):
    with pytest.raises(InputError, match="image"):
        get_codec("lossless").encode(bad)


PINNED_SAMPLE_SHA256 = "18fcabeaee5082521984787447f84c845628dafcc50b9ba2ba157e6537280a46"


def test_top_level_load_picks_the_codec_from_the_header(tmp_path):
    import rdlab

    image = read_image(sample_path())[:40, :50]
    path = tmp_path / "t.rdl"
    path.write_bytes(get_codec("lossless").encode(image))
    assert np.array_equal(rdlab.load(path), image)
    with pytest.raises(InputError):
        rdlab.load(tmp_path / "missing.rdl")
