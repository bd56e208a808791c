"""Classical baselines for the non-image modalities, on real bitstreams.

- **Audio: Opus** (:func:`opus_roundtrip`) through libsndfile (``soundfile``), Ogg
  container. The target bitrate is set with libsndfile's compression level, which its
  Ogg/Opus writer maps linearly onto ``OPUS_SET_BITRATE``:
  ``bitrate = int((1 - level) * 250000 + 6000)`` bit/s per channel, so the usable range
  is **6 to 256 kbps** (6 kbps is the floor: level 1.0). libsndfile 1.2.2 refuses
  ``bitrate_mode`` for Opus, so libopus runs in its default VBR mode: the target is an
  average and speech often lands a little above it. Sizes are of the whole Ogg file,
  headers included (an Ogg/Opus file without audio is :func:`opus_header_bytes`, about
  870 bytes, mostly libsndfile's 512-byte comment padding).
  Alignment: libsndfile applies the pre-skip and trims the end from the granule
  position, so the decoded signal has the input's length and no delay; cross-correlation
  on festvox-ru speech (16 kHz) and codec2 speech (8 kHz) at 6 to 24 kbps peaks at lag 0
  (``tests/test_baselines.py`` checks it). At 24 and 48 kHz, in libopus's SILK modes
  (low rates, e.g. 16 kbps) the output leads by 1 to 2 samples (< 0.05 ms, the SILK
  resampler's delay compensation); at 64 kbps (CELT) the lag is 0 again. It is left as
  is. Rates other than 8/12/16/24/48 kHz are resampled (polyphase, zero-phase) to the
  next Opus rate for coding and back afterwards.
- **Proteins: uniform quantization** of C-alpha coordinates with step Δ Å, coded
  predictively (:func:`encode_ca_uniform`): the integer differences between consecutive
  quantized positions are range coded with a block-adaptive (Laplace-estimator)
  categorical model shared by the three axes, so no table is transmitted; the
  decoder rebuilds the same integer tables from what it has decoded.
"""

from __future__ import annotations

import io
import math
import struct
from math import gcd
from typing import Any

import numpy as np
import soundfile
from scipy.signal import resample_poly

from .._varint import decode_varint, encode_varint, unzigzag, zigzag
from ..coding import FrequencyTables, SymbolDecoder, SymbolEncoder
from ..data.audio import Audio
from ..errors import CorruptStreamError, InputError, TruncatedError
from ..metrics import rmsd

__all__ = [
    "OPUS_MAX_KBPS",
    "OPUS_MIN_KBPS",
    "OPUS_SAMPLE_RATES",
    "ca_uniform_rate_distortion",
    "decode_ca_uniform",
    "encode_ca_uniform",
    "estimate_lag",
    "opus_bytes",
    "opus_header_bytes",
    "opus_roundtrip",
]

#: Sample rates Opus codes natively (Hz).
OPUS_SAMPLE_RATES = (8000, 12000, 16000, 24000, 48000)
#: Bitrate range libsndfile's Ogg/Opus writer can be asked for (kbps, mono).
OPUS_MIN_KBPS = 6.0
OPUS_MAX_KBPS = 256.0


# ----------------------------------------------------------------------------- Opus
def _opus_rate(rate: int) -> int:
    """The Opus rate a signal at ``rate`` Hz is coded at: itself or the next one up."""
    for candidate in OPUS_SAMPLE_RATES:
        if candidate >= rate:
            return candidate
    return OPUS_SAMPLE_RATES[-1]


def _compression_level(kbps: float) -> float:
    """libsndfile's compression level for a target of ``kbps`` (see module docstring)."""
    bps = round(kbps * 1000.0)
    # +0.5 bit/s so that libsndfile's truncating int() lands exactly on ``bps``
    return min(1.0, max(0.0, 1.0 - (bps - 6000 + 0.5) / 250000.0))


def _check_kbps(kbps: Any) -> float:
    try:
        value = float(kbps)
    except (TypeError, ValueError):
        raise InputError("kbps", f"must be a number, got {kbps!r}") from None
    if not OPUS_MIN_KBPS <= value <= OPUS_MAX_KBPS:
        raise InputError(
            "kbps", f"must lie in [{OPUS_MIN_KBPS:g}, {OPUS_MAX_KBPS:g}] for Opus, got {value:g}"
        )
    return value


def _encode_opus(samples: np.ndarray, rate: int, kbps: float) -> bytes:
    buffer = io.BytesIO()
    with soundfile.SoundFile(
        buffer,
        "w",
        samplerate=rate,
        channels=1,
        format="OGG",
        subtype="OPUS",
        compression_level=_compression_level(kbps),
    ) as stream:
        if samples.size:
            stream.write(np.ascontiguousarray(samples, dtype=np.float32))
    return buffer.getvalue()


def opus_bytes(audio: Audio, kbps: float) -> bytes:
    """The Ogg/Opus file of ``audio`` at a target of ``kbps`` (VBR), in memory.

    Audio at a rate Opus does not code is resampled to the next Opus rate first.
    """
    if not isinstance(audio, Audio):
        raise InputError("audio", f"must be an Audio, got {type(audio).__name__}")
    kbps = _check_kbps(kbps)
    rate = _opus_rate(audio.sample_rate)
    samples = audio.samples
    if rate != audio.sample_rate:
        g = gcd(rate, audio.sample_rate)
        samples = resample_poly(samples, rate // g, audio.sample_rate // g).astype(np.float32)
    return _encode_opus(samples, rate, kbps)


def opus_header_bytes(sample_rate: int = 16000) -> int:
    """Size in bytes of an Ogg/Opus file with no audio, as libsndfile writes it."""
    return len(_encode_opus(np.zeros(0, np.float32), _opus_rate(sample_rate), OPUS_MIN_KBPS))


def opus_roundtrip(audio: Audio, kbps: float) -> tuple[Audio, int]:
    """Encode ``audio`` with Opus at a target of ``kbps`` and decode it back.

    Returns the decoded :class:`~rdlab.data.audio.Audio` (same sample rate and length as
    the input, sample-aligned with it; float32 on the [-1, 1) scale) and the exact size
    in bytes of the Ogg/Opus file. ``kbps`` must lie in [6, 256] (mono); see the module
    docstring for how the bitrate is set and how alignment was checked.
    """
    data = opus_bytes(audio, kbps)
    with soundfile.SoundFile(io.BytesIO(data)) as stream:
        decoded = stream.read(dtype="float32")
        coded_rate = int(stream.samplerate)
    decoded = np.asarray(decoded, dtype=np.float32).reshape(-1)
    if coded_rate != audio.sample_rate:
        g = gcd(coded_rate, audio.sample_rate)
        decoded = resample_poly(decoded, audio.sample_rate // g, coded_rate // g)
    n = audio.samples.size
    out = np.zeros(n, dtype=np.float32)
    out[: min(n, decoded.size)] = decoded[:n]
    return Audio(out, audio.sample_rate), len(data)


def estimate_lag(reference: Any, test: Any, max_lag: int = 2000) -> int:
    """The shift (samples) that best aligns ``test`` to ``reference``, by cross-correlation.

    A positive value means ``test`` is late: ``test[k + lag]`` matches ``reference[k]``.
    """
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    tst = np.asarray(test, dtype=np.float64).reshape(-1)
    n = min(ref.size, tst.size)
    if n == 0:
        raise InputError("reference", "is empty")
    size = 1 << math.ceil(math.log2(2 * n))
    spectrum = np.fft.rfft(tst[:n], size) * np.conj(np.fft.rfft(ref[:n], size))
    corr = np.fft.irfft(spectrum, size)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    return int(lags[np.argmax(corr[lags])])


# ------------------------------------------------------------------ protein C-alpha
_MAGIC = b"CQ"
_VERSION = 1
_BLOCK = 24  # symbols (8 residues x 3 axes) per adaptation step
_PRIOR = 1.0  # Laplace pseudo-count per in-range value
_REACH = 4.2  # Å: consecutive CA atoms are 2.9 (cis) to 3.85 Å apart; beyond: escape
_MAX_HALF_WIDTH = 4096


def _half_width(step: float) -> int:
    return max(1, min(_MAX_HALF_WIDTH, math.ceil(_REACH / step)))


def _block_tables(counts: np.ndarray, half_width: int) -> FrequencyTables:
    probabilities = counts / counts.sum()
    return FrequencyTables.from_probabilities(probabilities, offsets=-half_width, escape=True)


def _check_step(step: Any) -> float:
    try:
        value = float(step)
    except (TypeError, ValueError):
        raise InputError("step", f"must be a number of Å, got {step!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise InputError("step", f"must be a positive number of Å, got {step!r}")
    return value


def quantize_ca(coords: Any, step: float) -> np.ndarray:
    """Integer grid indices ``rint(coords / step)`` (int64, ``(n, 3)``) of Å coordinates."""
    step = _check_step(step)
    x = np.asarray(coords)
    if x.dtype.kind not in "fiu" or x.ndim != 2 or x.shape[1:] != (3,) or x.shape[0] == 0:
        raise InputError("coords", f"must be real numbers of shape (n, 3), n >= 1, got {x.shape}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise InputError("coords", "hold NaN or infinite values")
    q = np.rint(x / step)
    if np.abs(q).max() >= 2.0**53:
        raise InputError("step", f"{step:g} Å is too fine for these coordinates")
    return q.astype(np.int64)


def encode_ca_uniform(coords: Any, step: float) -> bytes:
    """Code C-alpha coordinates ``(n, 3)`` (Å) on a uniform grid of spacing ``step`` Å.

    Each coordinate is rounded to the nearest multiple of ``step`` (error at most
    ``step / 2`` per axis, ``step·√3/2`` per atom). The bytes are self-describing:
    ``b"CQ"``, a version byte, ``step`` (float64), the atom count and the first grid point
    (zigzag varints), then a range-coded stream of the differences between consecutive
    grid points (x, y, z interleaved) under a block-adaptive model shared by the axes:
    each block of 24 differences is coded with the counts of all earlier differences
    plus 1 per value in ``[-ceil(4.2/step), ceil(4.2/step)]``; larger jumps (chain
    breaks) are escaped.
    """
    step = _check_step(step)
    q = quantize_ca(coords, step)
    header = bytearray(_MAGIC)
    header.append(_VERSION)
    header += struct.pack("<d", step)
    header += encode_varint(q.shape[0])
    for value in q[0]:
        header += encode_varint(zigzag(int(value)))
    diffs = np.diff(q, axis=0).reshape(-1)
    half = _half_width(step)
    counts = np.full(2 * half + 1, _PRIOR)
    encoder = SymbolEncoder()
    for start in range(0, diffs.size, _BLOCK):
        block = diffs[start : start + _BLOCK]
        encoder.encode_values(block, np.zeros(block.size, np.int64), _block_tables(counts, half))
        inside = block[np.abs(block) <= half]
        counts += np.bincount(inside + half, minlength=counts.size)
    return bytes(header) + encoder.to_bytes()


def decode_ca_uniform(data: bytes) -> np.ndarray:
    """Inverse of :func:`encode_ca_uniform`: float64 ``(n, 3)`` coordinates in Å (grid
    points ``k * step``). Invalid bytes raise a :class:`~rdlab.errors.FormatError`."""
    data = bytes(data)
    if data[:2] != _MAGIC:
        raise CorruptStreamError("not a C-alpha uniform-quantization stream (bad magic)")
    if len(data) < 11:
        raise TruncatedError("C-alpha stream ends inside its header")
    if data[2] != _VERSION:
        raise CorruptStreamError(f"C-alpha stream version {data[2]} is not {_VERSION}")
    (step,) = struct.unpack("<d", data[3:11])
    if not math.isfinite(step) or step <= 0:
        raise CorruptStreamError(f"C-alpha stream holds an invalid step {step!r}")
    count, pos = decode_varint(data, 11, "C-alpha atom count")
    if count < 1 or count > 100_000_000:
        raise CorruptStreamError(f"C-alpha stream announces {count} atoms")
    first = []
    for _ in range(3):
        value, pos = decode_varint(data, pos, "C-alpha header field")
        first.append(unzigzag(value))
    half = _half_width(step)
    counts = np.full(2 * half + 1, _PRIOR)
    total = 3 * (count - 1)
    diffs = np.empty(total, dtype=np.int64)
    decoder = SymbolDecoder(data[pos:])
    for start in range(0, total, _BLOCK):
        size = min(_BLOCK, total - start)
        block = decoder.decode_values(np.zeros(size, np.int64), _block_tables(counts, half))
        diffs[start : start + size] = block
        inside = block[np.abs(block) <= half]
        counts += np.bincount(inside + half, minlength=counts.size)
    decoder.finish("C-alpha difference stream")
    q = np.empty((count, 3), dtype=np.int64)
    q[0] = first
    q[1:] = diffs.reshape(count - 1, 3)
    return np.cumsum(q, axis=0).astype(np.float64) * step


def ca_uniform_rate_distortion(coords: Any, steps: Any) -> list[dict[str, float]]:
    """Rate and distortion of :func:`encode_ca_uniform` at each step (Å).

    Each entry: ``step`` (Å), ``bytes`` (real stream size, header included),
    ``bits_per_atom`` (8 · bytes / n), ``rmsd`` (Å, no superposition) and ``max_error``
    (largest per-atom distance, Å), measured on the decoded coordinates.
    """
    x = np.asarray(coords, dtype=np.float64)
    rows = []
    for step in np.atleast_1d(np.asarray(steps, dtype=np.float64)):
        data = encode_ca_uniform(x, float(step))
        decoded = decode_ca_uniform(data)
        rows.append(
            {
                "step": float(step),
                "bytes": float(len(data)),
                "bits_per_atom": 8.0 * len(data) / x.shape[0],
                "rmsd": rmsd(x, decoded),
                "max_error": float(np.sqrt(((x - decoded) ** 2).sum(axis=1)).max()),
            }
        )
    return rows
