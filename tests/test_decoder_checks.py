"""Decoders check what they consume (issue 22, items 4 and 5).

Crafted files whose CRCs are valid: an entropy-coded chunk cut short or extended, a
count in the metadata that disagrees with the payload, a size the payload cannot hold
or larger than the decoder's limit. Each is a ``FormatError`` now, before any large
allocation where the size is at fault; before, several decoded with exit 0 to another
signal.
"""

from __future__ import annotations

import dataclasses
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import rdlab.codecs.ltc as ltc_module
import rdlab.coding.conditional as conditional
import rdlab.nn.entropy.bottleneck as bottleneck_module
from rdlab.codecs.hyperprior import HyperpriorImageCodec
from rdlab.codecs.inr import INRCodec
from rdlab.codecs.ltc import LTCCodec
from rdlab.coding import FrequencyTables, SymbolDecoder, SymbolEncoder, location_scale_tables
from rdlab.container import decode_rdl, encode_rdl
from rdlab.data.audio import Audio
from rdlab.data.images import read_image, sample_path
from rdlab.data.proteins import CaTrace, read_ca_trace
from rdlab.data.sources import GaussianSource
from rdlab.errors import (
    CountMismatchError,
    FormatError,
    LengthError,
    SizeLimitError,
    StreamEndError,
)
from rdlab.lattice import get_lattice
from rdlab.metrics import psnr
from rdlab.nn import LTCModel
from test_inr import PROTEIN, toy_model

DATA = Path(__file__).parent / "data"


# ------------------------------------------------------------------ helpers
def with_chunk(data: bytes, tag: str, payload: bytes) -> bytes:
    """``data`` with chunk ``tag`` replaced, re-serialised (valid CRCs, same layout)."""
    file = decode_rdl(data)
    chunks = tuple(
        dataclasses.replace(c, payload=payload) if c.tag == tag else c for c in file.chunks
    )
    compact = file.layout is not None and file.layout.format_major == 2
    return encode_rdl(dataclasses.replace(file, chunks=chunks), compact=compact)


def with_meta(data: bytes, **changes: Any) -> bytes:
    """``data`` with metadata fields changed, re-serialised (valid CRCs, same layout)."""
    file = decode_rdl(data)
    compact = file.layout is not None and file.layout.format_major == 2
    metadata = {**file.metadata, **changes}
    return encode_rdl(dataclasses.replace(file, metadata=metadata), compact=compact)


def half(payload: bytes, fraction: float = 0.5) -> bytes:
    """The first half (``fraction``) of a range-coded stream, in whole 32-bit words."""
    return payload[: int(len(payload) // 4 * fraction) * 4]


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    return read_image(sample_path())[64:128, 96:160]


@pytest.fixture(scope="module")
def hyper_file(crop: np.ndarray) -> bytes:
    return HyperpriorImageCodec(quality=4).encode(crop)


@pytest.fixture(scope="module")
def e8_file(crop: np.ndarray) -> bytes:
    return HyperpriorImageCodec(quality=4, model="default-e8").encode(crop)


# ------------------------------------------------------------------ item 4: streams
def test_hyperprior_latent_chunk_cut_in_half_is_refused(hyper_file: bytes) -> None:
    """The reported case: LATN cut in half (CRC rewritten) decoded, 19.4 dB off. Half
    the stream cannot even hold the least cost of its residuals (``LengthError``, before
    decoding); cut less, the end check refuses it (``StreamEndError``)."""
    latn = decode_rdl(hyper_file).chunk("LATN")
    with pytest.raises(LengthError, match=r"LATN.*impossible"):
        HyperpriorImageCodec().decode(with_chunk(hyper_file, "LATN", half(latn)))
    with pytest.raises(StreamEndError, match=r"LATN.*cut short"):
        HyperpriorImageCodec().decode(with_chunk(hyper_file, "LATN", half(latn, 0.9)))


def test_without_the_end_check_the_cut_chunk_decodes_to_another_image(
    hyper_file: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Negative control: with the stream end check switched off, the cut file decodes
    without an error to a different picture, which is what users got before."""
    original = HyperpriorImageCodec().decode(hyper_file)
    cut = with_chunk(hyper_file, "LATN", half(decode_rdl(hyper_file).chunk("LATN")))
    monkeypatch.setattr(SymbolDecoder, "finish", lambda self, what="": None, raising=False)
    monkeypatch.setattr(conditional, "check_stream_room", lambda *args: None, raising=False)
    damaged = HyperpriorImageCodec().decode(cut)
    assert damaged.shape == original.shape
    assert psnr(original, damaged) < 35.0


@pytest.mark.parametrize("tag", ["HYPR", "LATN"])
def test_hyperprior_chunks_must_end_with_their_symbols(hyper_file: bytes, tag: str) -> None:
    payload = decode_rdl(hyper_file).chunk(tag)
    for bad, why in (
        (payload[:-4], "cut short|not the encoding"),
        (payload + b"\0\0\0\0", "follow its last symbol"),
        (payload + payload[-4:], "follow its last symbol"),
    ):
        with pytest.raises(StreamEndError, match=why):
            HyperpriorImageCodec().decode(with_chunk(hyper_file, tag, bad))


def test_lattice_latents_must_end_with_their_symbols(e8_file: bytes) -> None:
    latn = decode_rdl(e8_file).chunk("LATN")
    codec = HyperpriorImageCodec(model="default-e8")
    with pytest.raises(StreamEndError, match="LATN"):
        codec.decode(with_chunk(e8_file, "LATN", half(latn)))
    with pytest.raises(StreamEndError, match="LATN"):
        codec.decode(with_chunk(e8_file, "LATN", latn + b"\x01\0\0\0"))


def test_every_stream_decoder_checks_its_end() -> None:
    """The coding layer: the one-call decoders and every streamed section refuse a
    stream cut short or extended by a word, and read back what the encoder wrote."""
    rng = np.random.default_rng(0)
    tables = location_scale_tables("gaussian", np.geomspace(0.11, 64.0, 16))
    for trial in range(20):
        n = int(rng.integers(1, 400))
        idx = rng.integers(0, 16, n)
        values = np.rint(rng.normal(0, 4.0, n) * (1 + 30 * (rng.random(n) < 0.02))).astype(int)
        encoder = SymbolEncoder()
        encoder.encode_values(values, idx, tables)
        encoder.encode_nonnegative(rng.integers(0, 2**40, 5))
        data = encoder.to_bytes()
        decoder = SymbolDecoder(data)
        assert np.array_equal(decoder.decode_values(idx, tables), values)
        decoder.decode_nonnegative(5)
        decoder.finish()
        for bad in (data[:-4], data + data[-4:], data + bytes(4)):
            decoder = SymbolDecoder(bad)
            try:
                decoder.decode_values(idx, tables)
                decoder.decode_nonnegative(5)
            except FormatError:
                continue  # invalid symbols found on the way: refused as well
            with pytest.raises(StreamEndError):
                decoder.finish(f"trial {trial}")


def test_stream_room_bound_holds_for_what_the_encoder_writes() -> None:
    """The lower bound the size checks use never refuses a real stream: skewed tables
    (a most likely symbol of probability 1 - 2**-20 and more), many symbols."""
    from rdlab.coding.stream import check_stream_room

    rng = np.random.default_rng(1)
    for trial in range(30):
        count = int(rng.integers(1, 6))
        top = 1.0 - np.exp2(-rng.uniform(1, 20, count))
        probs = [np.array([p, *(np.full(3, (1 - p) / 3))]) for p in top]
        tables = FrequencyTables.from_probabilities(probs)
        n = int(rng.integers(1, 50_000))
        idx = rng.integers(0, count, n)
        symbols = np.where(rng.random(n) < top[idx], 0, rng.integers(1, 4, n))
        data = SymbolEncoder()
        data.encode_values(symbols, idx, tables)
        stream = data.to_bytes()
        least = float(np.bincount(idx, minlength=count) @ tables.least_bits())
        assert least <= 8 * len(stream), trial
        check_stream_room(len(stream), least, "symbols")
    with pytest.raises(LengthError, match="impossible"):
        check_stream_room(10, 8 * 10 + 65.0, "symbols")


# ------------------------------------------------------------------ item 5: sizes
def test_a_small_file_claiming_65536_squared_pixels_is_refused_before_decoding(
    hyper_file: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reported case: 1.3 kB claiming 65536x65536 drove memory to 2.6 GB."""
    big = with_meta(hyper_file, height=65536, width=65536, z_shape=[128, 1024, 1024])
    assert len(big) < 1500
    codec = HyperpriorImageCodec()
    assert codec.model is not None  # loaded outside the measurement

    def no_decoding(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("decoding started before the size check")

    monkeypatch.setattr(bottleneck_module, "SymbolDecoder", no_decoding)  # decodes HYPR
    tracemalloc.start()
    try:
        with pytest.raises(LengthError, match="65536x65536"):
            codec.decode(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_hyperprior_max_pixels_is_a_configurable_limit(hyper_file: bytes) -> None:
    with pytest.raises(SizeLimitError, match="max_pixels"):
        HyperpriorImageCodec(max_pixels=64 * 64 - 1).decode(hyper_file)
    reference = HyperpriorImageCodec().decode(hyper_file)
    assert np.array_equal(HyperpriorImageCodec(max_pixels=64 * 64).decode(hyper_file), reference)
    assert np.array_equal(HyperpriorImageCodec(max_pixels=None).decode(hyper_file), reference)


def test_the_committed_vector_passes_the_checks() -> None:
    data = (DATA / "hyperprior_chelsea_q2.5.rdl").read_bytes()
    file = decode_rdl(data)
    model = HyperpriorImageCodec().model
    hz, wz = file.metadata["z_shape"][1:]
    least = hz * wz * float(model.z_tables.least_bits().sum())
    # the bound is sound and not vacuous: about a fifth of the real hyper-latent size
    assert 0.1 * 8 * len(file.chunk("HYPR")) < least <= 8 * len(file.chunk("HYPR"))
    assert HyperpriorImageCodec().decode(data).shape == (192, 256, 3)


# ------------------------------------------------------------------ LTC
@pytest.fixture(scope="module")
def ltc() -> tuple[LTCModel, bytes]:
    a2 = get_lattice("a2").unit_volume()
    model = LTCModel(2, a2, init_gain=2.0, mc_samples=32)
    data = LTCCodec(model, dither_seed=7).encode(GaussianSource(1.0, 2).sample(200, seed=3))
    return model, data


def test_ltc_counts_and_stream_end_are_checked(
    ltc: tuple[LTCModel, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, data = ltc
    codec = LTCCodec(model)
    payload = decode_rdl(data).chunk("LATP")
    with pytest.raises(StreamEndError):
        codec.decode(with_chunk(data, "LATP", half(payload)))
    with pytest.raises(StreamEndError):
        codec.decode(with_chunk(data, "LATP", payload + bytes(4)))
    for items in (199, 201):  # the item count disagrees with the payload
        with pytest.raises(FormatError):
            codec.decode(with_meta(data, items=items))
    with pytest.raises(FormatError):
        codec.decode(with_meta(data, items=True))

    def no_decoding(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("decoding started before the size check")

    monkeypatch.setattr(ltc_module, "decode_lattice_points", no_decoding)
    with pytest.raises(SizeLimitError, match="max_vectors"):
        codec.decode(with_meta(data, items=2_000_000))
    with pytest.raises(SizeLimitError, match="max_vectors"):
        LTCCodec(model, max_vectors=199).decode(data)


# ------------------------------------------------------------------ INR
@pytest.fixture(scope="module")
def protein() -> tuple[Any, CaTrace, bytes]:
    """The committed cytochrome c chain, 108 residues: without the sentinel its sequence
    took 60 bytes, and so did 109 residues (the reported case)."""
    trace = read_ca_trace(PROTEIN)
    model = toy_model("protein")
    return model, trace, INRCodec(model, bits_per_atom=40.0).encode(trace)


def test_protein_atom_count_raised_or_lowered_is_refused(
    protein: tuple[Any, CaTrace, bytes],
) -> None:
    """The reported case: the atom count raised by one decoded with an invented atom."""
    model, trace, data = protein
    n = len(trace.residue_names)
    assert decode_rdl(data).codec_version == "3"  # the sequence carries its length
    decoded = INRCodec(model).decode(data)
    assert decoded.residue_names == trace.residue_names
    for other in (n - 2, n - 1, n + 1, n + 2, 2 * n):
        with pytest.raises(CountMismatchError):
            INRCodec(model).decode(with_meta(data, n=other))
    side = decode_rdl(data).chunk("PROT")
    for bad in (side[:-1], side + b"\0"):
        with pytest.raises(CountMismatchError):
            INRCodec(model).decode(with_chunk(data, "PROT", bad))


def test_without_the_sentinel_a_raised_count_invents_a_residue(
    protein: tuple[Any, CaTrace, bytes],
) -> None:
    """Negative control: the sequence as versions 1 and 2 write it has the same length for
    108 and 109 residues, and reads back with an invented alanine."""
    from rdlab.inr.modalities import protein as modality

    _, trace, _ = protein
    n = len(trace.residue_names)
    old = modality._protein_side_chunk(trace, np.zeros(3), sentinel=False)
    *_, names, _ = modality._read_protein_side(old, n + 1, sentinel=False)
    assert names[:n] == trace.residue_names and names[n] == "ALA"
    new = modality._protein_side_chunk(trace, np.zeros(3))
    assert len(new) - len(old) <= 1  # the sentinel costs at most a byte
    with pytest.raises(CountMismatchError):
        modality._read_protein_side(new, n + 1, sentinel=True)


@pytest.fixture(scope="module")
def inr_image() -> tuple[Any, bytes]:
    from test_inr import _image

    model = toy_model("image")
    return model, INRCodec(model, bpp=6.0).encode(_image())


def test_inr_sizes_are_checked_before_decoding(inr_image: tuple[Any, bytes]) -> None:
    model, data = inr_image
    codec = INRCodec(model)
    for shape in ([0, 28], [20, -1]):
        with pytest.raises(FormatError, match="empty"):
            codec.decode(with_meta(data, shape=shape))
    # a size the payload's blocks cannot hold (each block holds at most 256 weights)
    with pytest.raises(CountMismatchError, match="blocks"):
        INRCodec(model, max_samples=None).decode(with_meta(data, shape=[65536, 65536]))
    with pytest.raises(SizeLimitError, match="max_samples"):
        codec.decode(with_meta(data, shape=[65536, 65536]))
    with pytest.raises(SizeLimitError, match="max_samples"):
        INRCodec(model, max_samples=20 * 28 - 1).decode(data)
    # block counts out of the range the encoder uses, or not what the payload holds
    for blocks in (0, 10**12, True):
        with pytest.raises(FormatError):
            codec.decode(with_meta(data, blocks=blocks))
    for seed in (-1, 2**32, 1.5):
        with pytest.raises(FormatError, match="incomplete"):
            codec.decode(with_meta(data, seed=seed))


def test_inr_payload_padding_bits_must_be_zero(inr_image: tuple[Any, bytes]) -> None:
    """A payload a byte shorter holds one block less of the toy's 10-bit fields and 2
    padding bits, which the encoder writes as zeros. (With zeros it is a valid file of
    one block less: version 2 carries the block count in the payload's length alone.)"""
    model, data = inr_image
    payload = decode_rdl(data).chunk("INRW")[:-1]
    assert 8 * len(payload) % 10 == 2
    clean = payload[:-1] + bytes([payload[-1] & 0xFC])
    assert INRCodec(model).decode(with_chunk(data, "INRW", clean)).shape == (20, 28, 3)
    dirty = payload[:-1] + bytes([payload[-1] | 1])
    with pytest.raises(FormatError, match="padding"):
        INRCodec(model).decode(with_chunk(data, "INRW", dirty))


def test_inr_audio_and_video_metadata_values_are_checked() -> None:
    model = toy_model("audio")
    rng = np.random.default_rng(0)
    audio = Audio((0.3 * np.sin(np.arange(256) / 5.0) + 0.01 * rng.normal(size=256)), 8000)
    data = INRCodec(model, kbps=200.0).encode(audio)
    assert INRCodec(model).decode(data).sample_rate == 8000
    for change in ({"rate": 0}, {"rate": 8000.5}, {"peak": "x"}, {"peak": -1.0}, {"peak": 0}):
        with pytest.raises(FormatError, match="invalid"):
            INRCodec(model).decode(with_meta(data, **change))
