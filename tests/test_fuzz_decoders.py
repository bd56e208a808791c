"""Fuzzing every decoder with valid CRCs (issue 22).

Each codec's sample file, made here, is parsed with the container API, mutated (chunks
cut, extended, bit-flipped, overwritten, dropped or swapped; metadata integers moved by
±1, doubled, zeroed, made negative or huge) and re-serialised with
:func:`rdlab.container.encode_rdl` in its own layout, so the CRCs pass and the decoder
sees the mutation. The decoder must then either raise a ``FormatError`` or decode; any
other exception (or a hang) fails.

Where the format ties a mutated part to the rest of the file, a decode must give
exactly the original output (*strict* mutations): a range-coded chunk cut, extended,
dropped or swapped (the decoders code the symbols they read again and compare the
words, :meth:`rdlab.coding.SymbolDecoder.finish`), counts that the payload's symbol count
depends on (hyperprior ``z_shape``, every lossless, LTC and overfit metadata integer), the
protein side information's length and a protein's atom count (INR version 3 sequences
carry a sentinel that pins their length). Elsewhere a decode may give another valid
signal (*lenient*): a bit flipped or a word overwritten inside a range-coded stream
changes its symbols, and only the stream's last words, as far as the coder's final range
pins them (0 to 32 bits), can tell (the CRCs are the check for that); INR weight
payloads are ``k``-bit candidate indices with no redundancy (any bits, and any whole
number of blocks, make a valid file of version 2); some metadata values are tied to
nothing (an image height within the same 64-pixel row of latents, a rate parameter, an
audio peak). Telling those apart would need a format change.

The negative control shows that the strict mutations do hit: with the end checks
switched off, some of them decode to another signal without an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch

import rdlab.coding.conditional as conditional
from rdlab.codecs.hyperprior import HyperpriorImageCodec
from rdlab.codecs.inr import INRCodec
from rdlab.codecs.lossless import LosslessImageCodec
from rdlab.codecs.ltc import LTCCodec
from rdlab.codecs.overfit import OverfitImageCodec
from rdlab.coding import SymbolDecoder
from rdlab.container import Chunk, RdlFile, decode_rdl, encode_rdl
from rdlab.data.audio import Audio, read_audio
from rdlab.data.images import read_image, sample_path
from rdlab.data.proteins import read_ca_trace
from rdlab.data.sources import GaussianSource
from rdlab.data.video import Video, read_video
from rdlab.errors import FormatError, InputError
from rdlab.lattice import get_lattice
from rdlab.nn import LTCModel
from test_inr import PROTEIN, SPEECH, VIDEO, _image, toy_model


@dataclasses.dataclass
class Sample:
    """A codec's sample file: its bytes, a decoder, and which metadata integers the
    payload ties (``strict_meta``: a set of top-level keys, or ``"all"``)."""

    name: str
    data: bytes
    decode: Callable[[bytes], Any]
    strict_meta: set[str] | str
    original: Any = None


# ------------------------------------------------------------------ samples
def _twelve_bit_image() -> np.ndarray:
    """A 24x20 RGB ramp with noise, 12-bit samples in the high bits of 16."""
    rng = np.random.default_rng(5)
    ramp = np.add.outer(np.arange(24), np.arange(20)) * 60
    return ((ramp[..., None] + rng.integers(0, 200, (24, 20, 3))) << 4).astype(np.uint16)


def _samples() -> dict[str, Sample]:
    crop = read_image(sample_path())[64:128, 96:160]
    torch.manual_seed(0)
    a2 = get_lattice("a2").unit_volume()
    ltc_model = LTCModel(2, a2, init_gain=2.0, mc_samples=32)
    ltc_data = LTCCodec(ltc_model, dither_seed=7).encode(GaussianSource(1.0, 2).sample(200, seed=3))
    speech = read_audio(SPEECH)
    audio = Audio(speech.samples[:1024], speech.sample_rate)
    video = read_video(VIDEO)
    video = Video(video.frames[:4, :16, :16], video.fps)
    models = {m: toy_model(m) for m in ("image", "audio", "protein", "video")}
    inr_rates = {"image": {"bpp": 6.0}, "audio": {"kbps": 60.0},
                 "protein": {"bits_per_atom": 40.0}, "video": {"bpp": 2.0}}  # fmt: skip
    signals = {"image": _image(), "audio": audio, "protein": read_ca_trace(PROTEIN),
               "video": video}  # fmt: skip
    out = {
        "hyperprior": Sample(
            "hyperprior",
            HyperpriorImageCodec(quality=4).encode(crop),
            HyperpriorImageCodec().decode,
            {"z_shape"},
        ),
        "hyperprior-e8": Sample(
            "hyperprior-e8",
            HyperpriorImageCodec(quality=4, model="default-e8").encode(crop),
            HyperpriorImageCodec(model="default-e8").decode,
            {"z_shape"},
        ),
        "lossless": Sample(
            "lossless", LosslessImageCodec().encode(crop), LosslessImageCodec().decode, "all"
        ),
        "lossless-noise": Sample(  # noise: stored, not coded, where the codec does that
            "lossless-noise",
            LosslessImageCodec().encode(
                np.random.default_rng(5).integers(0, 256, (24, 20, 3), dtype=np.uint8)
            ),
            LosslessImageCodec().decode,
            "all",
        ),
        "lossless-16": Sample(  # 12-bit samples stored in 16: shift, peak, low bits
            "lossless-16",
            LosslessImageCodec().encode(_twelve_bit_image()),
            LosslessImageCodec().decode,
            "all",
        ),
        "ltc": Sample("ltc", ltc_data, LTCCodec(ltc_model).decode, "all"),
        # the size fixes every grid's shape, so the stream's symbol count: all strict
        "overfit": Sample(
            "overfit",
            OverfitImageCodec(bpp=1.0, steps=40).encode(crop[:48]),
            OverfitImageCodec().decode,
            "all",
        ),
    }
    for modality, model in models.items():
        data = INRCodec(model, **inr_rates[modality]).encode(signals[modality])
        strict = {"n"} if modality == "protein" else set()  # the sequence pins the count
        out[f"inr-{modality}"] = Sample(f"inr-{modality}", data, INRCodec(model).decode, strict)
    # low-rate audio: the envelope chunk and the decimation (version 4)
    data = INRCodec(models["audio"], kbps=60.0, side_information=True).encode(audio)
    out["inr-audio-envelope"] = Sample(
        "inr-audio-envelope", data, INRCodec(models["audio"]).decode, set()
    )
    for sample in out.values():
        sample.original = sample.decode(sample.data)
    return out


@pytest.fixture(scope="module")
def samples() -> dict[str, Sample]:
    return _samples()


# ------------------------------------------------------------------ mutations
@dataclasses.dataclass
class Mutation:
    what: str
    strict: bool
    file: RdlFile


def _replace_chunk(file: RdlFile, index: int, payload: bytes) -> RdlFile:
    chunks = list(file.chunks)
    chunks[index] = Chunk(chunks[index].tag, payload)
    return dataclasses.replace(file, chunks=tuple(chunks))


def _int_leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], int]]:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield path, value
    elif isinstance(value, dict):
        for key in sorted(value):
            yield from _int_leaves(value[key], (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _int_leaves(item, (*path, i))


def _set_path(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    if isinstance(value, dict):
        return {**value, path[0]: _set_path(value[path[0]], path[1:], new)}
    copy = list(value)
    copy[path[0]] = _set_path(copy[path[0]], path[1:], new)
    return copy


def _payload_mutation(file: RdlFile, rng: np.random.Generator) -> tuple[str, bool, RdlFile] | None:
    index = int(rng.integers(len(file.chunks)))
    tag, payload = file.chunks[index].tag, file.chunks[index].payload
    kind = str(rng.choice(["cut", "half", "extend", "flip", "word", "drop", "swap"]))
    size = len(payload)
    if kind == "cut" and size:
        keep = int(rng.integers(size))
        new = payload[: keep - keep % 4 if rng.random() < 0.7 else keep]  # whole words mostly
        # INR weights: cutting whole blocks leaves a valid file with fewer blocks
        return f"{tag} cut to {len(new)}", tag != "INRW", _replace_chunk(file, index, new)
    if kind == "half":
        return f"{tag} halved", tag != "INRW", _replace_chunk(file, index, payload[: size // 2])
    if kind == "extend":
        length = int(rng.choice([4, 8, int(rng.integers(1, 9))]))
        extra = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
        return (
            f"{tag} + {len(extra)} bytes",
            tag != "INRW",
            _replace_chunk(file, index, payload + extra),
        )
    if kind == "flip" and size:
        bit = int(rng.integers(8 * size))
        new = bytearray(payload)
        new[bit // 8] ^= 1 << (bit % 8)
        return f"{tag} bit {bit} flipped", False, _replace_chunk(file, index, bytes(new))
    if kind == "word" and size >= 4:
        at = 4 * int(rng.integers(size // 4))
        word = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
        new = payload[:at] + word + payload[at + 4 :]
        if new == payload:
            return None
        return f"{tag} word {at // 4} replaced", False, _replace_chunk(file, index, new)
    if kind == "drop":
        chunks = file.chunks[:index] + file.chunks[index + 1 :]
        return f"{tag} dropped", True, dataclasses.replace(file, chunks=chunks)
    if kind == "swap" and len(file.chunks) > 1:
        other = (index + 1) % len(file.chunks)
        if file.chunks[other].payload == payload:
            return None
        swapped = _replace_chunk(file, index, file.chunks[other].payload)
        swapped = _replace_chunk(swapped, other, payload)
        return f"{tag} and {file.chunks[other].tag} swapped", True, swapped
    return None


def _metadata_mutation(
    sample: Sample, file: RdlFile, rng: np.random.Generator
) -> tuple[str, bool, RdlFile] | None:
    leaves = list(_int_leaves(file.metadata))
    if not leaves:
        return None
    path, value = leaves[int(rng.integers(len(leaves)))]
    new = [value + 1, value - 1, 2 * value, 0, -1, 2**31, 65536][int(rng.integers(7))]
    if new == value:
        return None
    strict = sample.strict_meta == "all" or path[0] in sample.strict_meta
    metadata = _set_path(file.metadata, path, new)
    return (
        f"metadata {'.'.join(map(str, path))} {value} -> {new}",
        strict,
        dataclasses.replace(file, metadata=metadata),
    )


def mutations(sample: Sample, count: int, seed: int) -> Iterator[tuple[str, bool, bytes]]:
    """``count`` mutated files of ``sample`` (description, strict, bytes), CRCs valid."""
    rng = np.random.default_rng(seed)
    file = decode_rdl(sample.data)
    compact = file.layout is not None and file.layout.format_major == 2
    made = 0
    while made < count:
        if rng.random() < 0.6:
            found = _payload_mutation(file, rng)
        else:
            found = _metadata_mutation(sample, file, rng)
        if found is None:
            continue
        what, strict, mutated = found
        try:
            data = encode_rdl(mutated, compact=compact)
        except InputError:
            continue  # the container cannot hold it (e.g. a duplicate chunk)
        if data == sample.data:
            continue
        made += 1
        yield what, strict, data


# ------------------------------------------------------------------ oracle
def same(a: Any, b: Any) -> bool:
    """Exact equality of decoded signals (arrays, Audio, CaTrace, Video)."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(
            same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and np.array_equal(a, b)
        )
    return bool(a == b)


def check(sample: Sample, count: int, seed: int) -> dict[str, int]:
    """Run ``count`` mutations; fail on any other exception, or on a strict mutation
    that decodes to something else. Returns how the mutations ended."""
    outcome = {"refused": 0, "same": 0, "other (lenient)": 0}
    for what, strict, data in mutations(sample, count, seed):
        try:
            decoded = sample.decode(data)
        except FormatError:
            outcome["refused"] += 1
            continue
        except Exception as exc:  # the point: nothing else may escape
            pytest.fail(f"{sample.name}, {what}: {type(exc).__name__}: {exc}")
        if same(decoded, sample.original):
            outcome["same"] += 1
            continue
        assert not strict, f"{sample.name}, {what}: decoded to another signal without an error"
        assert type(decoded) is type(sample.original), f"{sample.name}, {what}"
        outcome["other (lenient)"] += 1
    return outcome


# A few per codec keep this well under a minute; the E8 decoder takes about a second.
_FAST = {"hyperprior": 40, "hyperprior-e8": 8, "lossless": 40, "lossless-noise": 25,
         "lossless-16": 40, "ltc": 30, "overfit": 30,
         "inr-image": 25, "inr-audio": 20, "inr-audio-envelope": 20, "inr-protein": 25,
         "inr-video": 15}  # fmt: skip


@pytest.mark.parametrize("name", sorted(_FAST))
def test_mutated_files_with_valid_crcs_are_refused_or_decode_exactly(
    samples: dict[str, Sample], name: str
) -> None:
    outcome = check(samples[name], _FAST[name], seed=22)
    assert outcome["refused"] > 0, outcome


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_FAST))
def test_mutated_files_many(samples: dict[str, Sample], name: str) -> None:
    for seed in range(5):
        check(samples[name], 5 * _FAST[name], seed=100 + seed)


def test_negative_control_without_the_checks_strict_mutations_decode_wrongly(
    samples: dict[str, Sample], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the stream end check and the size bound switched off, some strict
    mutations of the hyperprior file decode, without an error, to another image: the
    fuzz test above can see what the checks catch."""
    monkeypatch.setattr(SymbolDecoder, "finish", lambda self, what="": None)
    monkeypatch.setattr(conditional, "check_stream_room", lambda *args: None)
    sample = samples["hyperprior"]
    wrong = 0
    for _what, strict, data in mutations(sample, 40, seed=22):
        try:
            decoded = sample.decode(data)
        except FormatError:
            continue
        wrong += strict and not same(decoded, sample.original)
    assert wrong >= 3
