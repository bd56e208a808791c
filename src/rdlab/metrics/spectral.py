"""Spectral distances of audio: what SNR hides (a lost high band, noise in silences).

Both distances compare short-time power spectra of the reference and the test signal,
frame by frame, in **dB**, and average over frames:

- :func:`log_spectral_distance_db` (LSD): per frame, the root mean square over the FFT
  bins of ``10 log10 P_ref - 10 log10 P_test``; then the mean over frames.
- :func:`log_mel_distance_db`: the same on ``bands`` mel-band energies (triangular
  filters on the HTK mel scale from 0 Hz to Nyquist, :func:`mel_filterbank`), which
  weighs frequencies as hearing roughly does.

Frames: a Hann window of ``frame`` samples (default: 32 ms rounded up to a power of
two, 512 at 16 kHz) every ``frame // 4`` samples; the signal is zero-padded to whole
frames. Powers below a floor of -80 dB relative to the reference's largest value (per
metric) are raised to it on both sides, so digital silence does not give infinite
distances and errors far below the reference's level count little. Inputs: float
samples of shape ``(n,)`` or ``(n, channels)`` (channels are framed separately and
their frames pooled); identical inputs give 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._arrays import to_numpy
from ..errors import InputError

__all__ = ["log_mel_distance_db", "log_spectral_distance_db", "mel_filterbank", "power_frames"]

FLOOR_DB = -80.0
"""Power floor, relative to the reference's largest power, in dB."""


def _signal(value: Any, name: str) -> np.ndarray:
    array = to_numpy(value, name)
    if array.dtype.kind not in "iuf" or array.dtype == np.bool_:
        raise InputError(name, f"must hold real numbers, got dtype {array.dtype}")
    if array.ndim not in (1, 2) or array.size == 0:
        raise InputError(
            name, f"must be a non-empty (n,) or (n, channels) array, got {array.shape}"
        )
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise InputError(name, "holds NaN or infinite values")
    return array.reshape(array.shape[0], -1)


def default_frame(sample_rate: float) -> int:
    """32 ms of samples rounded up to a power of two (512 at 16 kHz, 2048 at 48 kHz)."""
    return 1 << max(3, math.ceil(math.log2(0.032 * sample_rate)))


def power_frames(signal: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """Short-time power spectra ``|rfft(hann * frame)|²`` of a ``(n, channels)`` signal:
    shape ``(frames * channels, frame // 2 + 1)`` (squared input units)."""
    n = signal.shape[0]
    count = 1 + max(0, math.ceil((n - frame) / hop))
    padded = np.zeros(((count - 1) * hop + frame, signal.shape[1]))
    padded[:n] = signal
    windows = np.lib.stride_tricks.sliding_window_view(padded, frame, axis=0)[::hop]
    spectra = np.fft.rfft(windows * np.hanning(frame), axis=-1)  # (frames, channels, bins)
    return (np.abs(spectra) ** 2).reshape(-1, frame // 2 + 1)


def mel_filterbank(bands: int, frame: int, sample_rate: float) -> np.ndarray:
    """Triangular mel filters, shape ``(bands, frame // 2 + 1)``: band k rises from mel
    edge k to k + 1 and falls to k + 2, with ``bands + 2`` edges equally spaced on the HTK
    mel scale ``2595 log10(1 + f / 700)`` from 0 Hz to ``sample_rate / 2``."""
    mel_top = 2595.0 * math.log10(1.0 + sample_rate / 2.0 / 700.0)
    edges = 700.0 * (10.0 ** (np.linspace(0.0, mel_top, bands + 2) / 2595.0) - 1.0)
    freqs = np.fft.rfftfreq(frame, 1.0 / sample_rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return np.clip(np.minimum(rising, falling), 0.0, None)


def _check(reference: Any, test: Any, sample_rate: float, frame: int | None) -> tuple:
    ref, tst = _signal(reference, "reference"), _signal(test, "test")
    if ref.shape != tst.shape:
        raise InputError("test", f"has shape {tst.shape}, reference has {ref.shape}")
    if not (isinstance(sample_rate, (int, float)) and math.isfinite(sample_rate)) or (
        sample_rate <= 0
    ):
        raise InputError("sample_rate", f"must be a positive number of Hz, got {sample_rate!r}")
    frame = default_frame(sample_rate) if frame is None else frame
    if isinstance(frame, bool) or not isinstance(frame, int) or frame < 8:
        raise InputError("frame", f"must be an integer >= 8 samples, got {frame!r}")
    return ref, tst, frame


def _distance_db(ref_power: np.ndarray, test_power: np.ndarray) -> float:
    """Mean over frames of the RMS over the last axis of the dB difference (floored)."""
    floor = float(ref_power.max()) * 10.0 ** (FLOOR_DB / 10.0)
    if floor == 0.0:  # a silent reference: compare with the test's own level
        floor = max(float(test_power.max()) * 10.0 ** (FLOOR_DB / 10.0), 1e-300)
    diff = 10.0 * (np.log10(np.maximum(ref_power, floor)) - np.log10(np.maximum(test_power, floor)))
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=-1))))


def log_spectral_distance_db(
    reference: Any, test: Any, sample_rate: float, frame: int | None = None
) -> float:
    """Log-spectral distance in dB (see the module docstring).

    Args:
        reference, test: samples, shape ``(n,)`` or ``(n, channels)``, the same shape.
        sample_rate: samples per second (Hz), for the default frame.
        frame: FFT frame in samples (default :func:`default_frame`); hop ``frame // 4``.

    Returns:
        The mean over frames of the per-frame RMS dB difference over FFT bins (>= 0).

    Raises:
        InputError: shapes differ, empty or non-finite samples, a bad rate or frame.
    """
    ref, tst, frame = _check(reference, test, sample_rate, frame)
    hop = max(1, frame // 4)
    return _distance_db(power_frames(ref, frame, hop), power_frames(tst, frame, hop))


def log_mel_distance_db(
    reference: Any, test: Any, sample_rate: float, bands: int = 40, frame: int | None = None
) -> float:
    """Log-mel distance in dB: :func:`log_spectral_distance_db` on ``bands`` mel-band
    energies (:func:`mel_filterbank`) instead of FFT bins.

    Raises:
        InputError: as :func:`log_spectral_distance_db`, or ``bands`` not in
            [1, frame // 4].
    """
    ref, tst, frame = _check(reference, test, sample_rate, frame)
    if isinstance(bands, bool) or not isinstance(bands, int) or not 1 <= bands <= frame // 4:
        raise InputError("bands", f"must be an integer in [1, {frame // 4}], got {bands!r}")
    hop = max(1, frame // 4)
    bank = mel_filterbank(bands, frame, sample_rate)
    return _distance_db(
        power_frames(ref, frame, hop) @ bank.T, power_frames(tst, frame, hop) @ bank.T
    )
