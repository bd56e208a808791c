"""A coded mel-band spectral envelope of audio, and the decoder's post-filter that imposes
it on a decoded waveform.

A low-rate waveform coder (rdlab's INR codec at a few kbit/s) leaves an error that is
about white: it drowns the quiet bands and the pauses in noise, or drops a band
altogether, so the short-time spectrum a listener hears is far from the original's even
at a fair SNR. The envelope fixes that at a small, known cost in bits:

- **Measure** (:func:`measure_envelope`, encoder): the level in dB of ``bands`` mel
  bands (the triangles of :func:`rdlab.metrics.spectral.mel_filterbank`, computed with
  :mod:`rdlab.detmath`; bins 0 and ``frame / 2`` joined to the first and last band) of
  the STFT of :mod:`rdlab.dsp.transforms` (frames of 32 ms,
  :func:`rdlab.metrics.spectral.default_frame`, hop a quarter frame), averaged in dB over
  ``hops`` consecutive frames, rounded to steps of ``step_db`` and clamped ``range_db``
  below the loudest.
- **Code** (:func:`encode_envelope` / :func:`decode_envelope`): the second difference
  ``s[t, b] = (L[t, b] - L[t-1, b]) - (L[t, b-1] - L[t-1, b-1])`` of the levels, range-coded
  frame by frame with a discretized Laplace whose scale depends on ``|s[t-1, b]|`` (one
  scale per context, chosen by the encoder from :func:`rdlab.coding.log_scale_table` and
  sent); about 2 bits per level on speech.
- **Apply** (:func:`apply_envelope`, decoder): seed every bin with noise ``noise_db``
  below its band's target (random phases from :mod:`rdlab.rng`), then ``iterations``
  times: measure the signal's coarse levels as the encoder did, and scale each STFT bin by
  the interpolated band gains ``target - measured`` (dB, band gains spread over the bins
  by the filterbank's weights). A band the waveform got right is left about as it was; a
  band drowned in noise is turned down; a band the coder dropped is filled with noise
  of the right level. Every step is :mod:`rdlab.dsp.transforms` arithmetic or
  :mod:`rdlab.detmath`, so the output is the same bits on every machine.

Levels are in dB of the band energy (sum over the band's bins of ``|STFT|^2`` weighted by
the filter) of the signal in the caller's units; the caller normalizes (the INR audio
modality measures the peak-normalized samples it codes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .. import detmath
from .. import rng as shared_rng
from .._varint import decode_varint, encode_varint, unzigzag, zigzag
from ..coding import SymbolDecoder, SymbolEncoder, location_scale_tables, log_scale_table
from ..errors import CorruptStreamError, FormatError, InputError
from ..metrics.spectral import default_frame
from .transforms import fixed_dot, fixed_sum, istft, stft, stft_frames

__all__ = [
    "Envelope",
    "EnvelopeConfig",
    "apply_envelope",
    "decode_envelope",
    "encode_envelope",
    "envelope_frames",
    "measure_envelope",
]

#: the :mod:`rdlab.rng` stream of the post-filter's noise phases
NOISE_STREAM = 0x454E564C  # "ENVL"
#: contexts of the level coder: ``min(|s[t-1, b]|, CONTEXTS - 1)``
CONTEXTS = 4
#: the scales the encoder chooses from, one per context (:func:`log_scale_table`)
_SCALES = log_scale_table(0.11, 64.0, 48)
#: band gains are clipped to +-this many dB per iteration
_MAX_GAIN_DB = 60.0
_DB = 4.342944819032518  # dB per natural-log unit of power: 10 / ln 10
_LN10 = 2.302585092994046


@dataclass(frozen=True)
class EnvelopeConfig:
    """How an envelope is measured, coded and applied.

    Attributes:
        bands: mel bands from 0 Hz to the Nyquist frequency (2 .. 64).
        hops: STFT hops (a quarter of a 32 ms frame each) per envelope frame (1 .. 16).
        step_db: quantization step of the levels, in dB; a multiple of 0.25 in
            [0.25, 16].
        range_db: levels more than this below the loudest are raised to it (integer dB,
            10 .. 150).
        iterations: post-filter passes (1 .. 16).
        noise_db: the seeded noise lies this far below each band's target (dB, 0 .. 100).
    """

    bands: int = 24
    hops: int = 3
    step_db: float = 4.0
    range_db: int = 70
    iterations: int = 6
    noise_db: int = 30

    def __post_init__(self) -> None:
        checks = (
            ("bands", self.bands, 2, 64),
            ("hops", self.hops, 1, 16),
            ("iterations", self.iterations, 1, 16),
            ("noise_db", self.noise_db, 0, 100),
            ("range_db", self.range_db, 10, 150),
        )
        for name, value, least, most in checks:
            if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
                raise InputError(name, f"must be an integer in [{least}, {most}], got {value!r}")
        quarters = self.step_db * 4
        if not (
            isinstance(self.step_db, (int, float))
            and 1 <= quarters <= 64
            and quarters == int(quarters)
        ):
            raise InputError(
                "step_db", f"must be a multiple of 0.25 in [0.25, 16], got {self.step_db!r}"
            )

    @property
    def range_steps(self) -> int:
        """Levels per envelope value above the floor: ``ceil(range_db / step_db)``."""
        return math.ceil(self.range_db / self.step_db)


@dataclass(frozen=True)
class Envelope:
    """Quantized band levels.

    Attributes:
        config: how they were measured.
        levels: int64 ``(frames, bands)``, the level of each band in steps of
            ``config.step_db`` dB (at least ``floor``).
        floor: the lowest level, ``max(levels) - config.range_steps``.
    """

    config: EnvelopeConfig
    levels: np.ndarray
    floor: int


def envelope_frames(samples: int, sample_rate: int, config: EnvelopeConfig) -> int:
    """Envelope frames of a signal of ``samples`` samples at ``sample_rate`` Hz."""
    return -(-stft_frames(samples, default_frame(sample_rate)) // config.hops)


@lru_cache(maxsize=16)
def _filters(bands: int, frame: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The filterbank ``(bands, bins)``: triangles on the HTK mel scale from 0 Hz to the
    Nyquist frequency (as :func:`rdlab.metrics.spectral.mel_filterbank`, in
    :mod:`rdlab.detmath` arithmetic), bins 0 and ``frame / 2`` given to the outer bands;
    its per-bin weights normalized to sum 1 over the bands; and each band's weight sum
    ``(bands,)``. The same bits on every machine."""
    top = 2595.0 / _LN10 * detmath.log(np.float64(1.0 + sample_rate / 2.0 / 700.0))
    mels = np.arange(bands + 2, dtype=np.float64) * (top / (bands + 1))
    edges = 700.0 * (detmath.exp(mels * (_LN10 / 2595.0)) - 1.0)
    freqs = np.arange(frame // 2 + 1, dtype=np.float64) * (sample_rate / frame)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    bank = np.clip(np.minimum(rising, falling), 0.0, None)
    bank[0, 0] = 1.0
    bank[-1, -1] = 1.0
    total = fixed_sum(bank, axis=0)
    if (total <= 0).any():
        raise InputError(
            "bands", f"{bands} mel bands leave FFT bins of a {frame}-sample frame empty"
        )
    return bank, bank / total, fixed_sum(bank, axis=1)


def _band_levels_db(
    re: np.ndarray, im: np.ndarray, bank: np.ndarray, floor_db: float
) -> np.ndarray:
    """Band levels in dB, ``(frames, bands)``, at least ``floor_db``."""
    energy = fixed_dot(re * re + im * im, bank.T)
    floor = detmath.exp(np.float64(floor_db / _DB))
    return _DB * detmath.log(np.maximum(energy, floor))


def _coarse(levels: np.ndarray, hops: int) -> np.ndarray:
    """Means over groups of ``hops`` frames (the last group padded with its last frame)."""
    frames = -(-levels.shape[0] // hops)
    padded = np.concatenate([levels, np.repeat(levels[-1:], frames * hops - levels.shape[0], 0)])
    grouped = padded.reshape(frames, hops, -1)
    total = grouped[:, 0].copy()
    for k in range(1, hops):
        total += grouped[:, k]
    return total / hops


def _fine(coarse: np.ndarray, hops: int, frames: int) -> np.ndarray:
    """Linear interpolation of envelope frames (centred on their hops) to ``frames``."""
    position = (np.arange(frames, dtype=np.float64) - (hops - 1) / 2.0) / hops
    first = np.clip(np.floor(position), 0, coarse.shape[0] - 1).astype(np.int64)
    second = np.minimum(first + 1, coarse.shape[0] - 1)
    frac = np.clip(position - first, 0.0, 1.0)[:, None]
    return coarse[first] + frac * (coarse[second] - coarse[first])


def measure_envelope(x: np.ndarray, sample_rate: int, config: EnvelopeConfig) -> Envelope:
    """The quantized envelope of ``x`` (see the module docstring).

    Args:
        x: samples, shape ``(n,)``, n >= 1.
        sample_rate: Hz (sets the 32 ms frame).
        config: bands, hops, step and range.

    Returns:
        The :class:`Envelope`, ``envelope_frames(n, sample_rate, config)`` frames.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0 or not np.isfinite(x).all():
        raise InputError("x", "must be a non-empty 1-D array of finite samples")
    frame = default_frame(sample_rate)
    bank, _, _ = _filters(config.bands, frame, int(sample_rate))
    re, im = stft(x, frame)
    levels = _coarse(_band_levels_db(re, im, bank, -400.0), config.hops)
    steps = np.round(levels / config.step_db).astype(np.int64)
    floor = int(steps.max()) - config.range_steps
    return Envelope(config, np.maximum(steps, floor), floor)


def apply_envelope(
    y: np.ndarray, envelope: Envelope, sample_rate: int, seed: int = 0
) -> np.ndarray:
    """``y`` with its short-time band levels moved to ``envelope``'s (module docstring).

    Args:
        y: decoded samples, shape ``(n,)`` with ``envelope_frames(n, ...)`` matching the
            envelope.
        envelope: the decoded envelope.
        sample_rate: Hz.
        seed: the :mod:`rdlab.rng` seed of the noise phases.

    Returns:
        float64 ``(n,)``; the same bits on every machine.

    Raises:
        InputError: the envelope has another number of frames than ``y`` needs.
    """
    y = np.asarray(y, dtype=np.float64)
    cfg = envelope.config
    if envelope.levels.shape != (envelope_frames(y.size, sample_rate, cfg), cfg.bands):
        raise InputError(
            "envelope",
            f"has shape {envelope.levels.shape} for {y.size} samples at {sample_rate} Hz",
        )
    frame = default_frame(sample_rate)
    bank, spread, weight = _filters(cfg.bands, frame, int(sample_rate))
    coarse_target = envelope.levels.astype(np.float64) * cfg.step_db
    floor_db = envelope.floor * cfg.step_db
    re, im = stft(y, frame)
    target = _fine(coarse_target, cfg.hops, re.shape[0])
    # seed every bin with noise noise_db below its band's mean power per bin
    per_bin = detmath.exp((target - cfg.noise_db) / _DB) / weight
    amplitude = np.sqrt(fixed_dot(per_bin, spread))
    phase = shared_rng.uniforms(seed, NOISE_STREAM, 0, re.shape) * (2.0 * math.pi)
    re = re + amplitude * detmath.cos(phase)
    im = im + amplitude * detmath.sin(phase)
    for k in range(cfg.iterations):
        if k:
            re, im = stft(y, frame)
        measured = _coarse(_band_levels_db(re, im, bank, floor_db), cfg.hops)
        gain_db = np.clip(coarse_target - measured, -_MAX_GAIN_DB, _MAX_GAIN_DB)
        factor = detmath.exp(fixed_dot(_fine(gain_db, cfg.hops, re.shape[0]), spread) / (2.0 * _DB))
        y = istft(re * factor, im * factor, y.size)
    return y


# ---------------------------------------------------------------------------- coding
def _second_differences(levels: np.ndarray) -> np.ndarray:
    previous = np.vstack([np.zeros((1, levels.shape[1]), np.int64), levels[:-1]])
    change = levels - previous
    return np.diff(change, axis=1, prepend=0)


def _contexts(previous_s: np.ndarray) -> np.ndarray:
    return np.minimum(np.abs(previous_s), CONTEXTS - 1)


def _best_scale(values: np.ndarray) -> int:
    """The index into :data:`_SCALES` whose table codes ``values`` in the fewest bits
    (:meth:`~rdlab.coding.FrequencyTables.information_content_bits`; an escape counts its
    symbol, and the tables reach far enough that escapes are rare)."""
    tables = location_scale_tables("laplace", _SCALES)
    bits = [
        tables.information_content_bits(values, np.full(values.size, i))
        for i in range(_SCALES.size)
    ]
    return int(np.argmin(bits))


def encode_envelope(envelope: Envelope) -> bytes:
    """The envelope as bytes: its config and floor as varints, one scale index per
    context, then the range-coded second differences (module docstring)."""
    cfg = envelope.config
    levels = np.asarray(envelope.levels, dtype=np.int64) - envelope.floor
    if levels.ndim != 2 or levels.shape[1] != cfg.bands or levels.shape[0] < 1:
        raise InputError("envelope", f"levels must have shape (frames, {cfg.bands})")
    if levels.min() < 0 or levels.max() > cfg.range_steps:
        raise InputError("envelope", "levels lie outside [floor, floor + range_steps]")
    s = _second_differences(levels)
    ctx = _contexts(np.vstack([np.zeros((1, cfg.bands), np.int64), s[:-1]]))
    choice = [_best_scale(s[ctx == c]) for c in range(CONTEXTS)]
    head = b"".join(
        encode_varint(v)
        for v in (
            cfg.bands, cfg.hops, int(cfg.step_db * 4), cfg.range_db, cfg.iterations,
            cfg.noise_db, levels.shape[0], zigzag(envelope.floor), *choice,
        )
    )  # fmt: skip
    tables = location_scale_tables("laplace", _SCALES)
    encoder = SymbolEncoder()
    scale_of = np.asarray(choice, dtype=np.int64)
    for t in range(levels.shape[0]):
        encoder.encode_values(s[t], scale_of[ctx[t]], tables)
    return head + encoder.to_bytes()


def decode_envelope(data: bytes, samples: int, sample_rate: int) -> Envelope:
    """Inverse of :func:`encode_envelope`, for a signal of ``samples`` samples at
    ``sample_rate`` Hz.

    Raises:
        FormatError: bad or inconsistent fields (another frame count than the signal
            needs), levels outside the range, or a stream that does not end where its
            symbols do.
    """
    data = bytes(data)
    pos, fields = 0, []
    for name in ("bands", "hops", "step", "range", "iterations", "noise", "frames", "floor"):
        value, pos = decode_varint(data, pos, f"envelope {name}")
        fields.append(value)
    bands, hops, quarters, range_db, iterations, noise_db, count, floor = fields
    try:
        cfg = EnvelopeConfig(bands, hops, quarters / 4, range_db, iterations, noise_db)
    except InputError as exc:
        raise FormatError(f"envelope: {exc}") from None
    frames = envelope_frames(samples, sample_rate, cfg)
    if count != frames:
        raise FormatError(f"envelope has {count} frames, the signal needs {frames}")
    choice = []
    for c in range(CONTEXTS):
        value, pos = decode_varint(data, pos, f"envelope scale {c}")
        if value >= _SCALES.size:
            raise FormatError(f"envelope scale index {value} is not below {_SCALES.size}")
        choice.append(value)
    tables = location_scale_tables("laplace", _SCALES)
    decoder = SymbolDecoder(data[pos:])
    scale_of = np.asarray(choice, dtype=np.int64)
    levels = np.empty((count, bands), dtype=np.int64)
    previous_levels = np.zeros(bands, dtype=np.int64)
    previous_s = np.zeros(bands, dtype=np.int64)
    for t in range(count):
        s = decoder.decode_values(scale_of[_contexts(previous_s)], tables)
        row = previous_levels + np.cumsum(s)
        if row.min() < 0 or row.max() > cfg.range_steps:
            raise CorruptStreamError("envelope levels leave their range")
        levels[t], previous_levels, previous_s = row, row, s
    decoder.finish("envelope stream")
    return Envelope(cfg, levels + unzigzag(floor), unzigzag(floor))
