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
        np.zeros((4, 4), np.uint16),
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
