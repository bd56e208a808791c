"""rdlab.metrics.spectral: log-spectral and log-mel distances (dB)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rdlab.errors import InputError
from rdlab.metrics.signal import snr_db
from rdlab.metrics.spectral import (
    log_mel_distance_db,
    log_spectral_distance_db,
    mel_filterbank,
)

RATE = 16000


def _noise(n: int = 8000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n) * 0.1


def _plain_lsd(ref: np.ndarray, test: np.ndarray, frame: int = 512) -> float:
    """The definition written out frame by frame (an independent computation)."""
    hop, window = frame // 4, np.hanning(frame)
    count = 1 + max(0, math.ceil((len(ref) - frame) / hop))
    pad = (count - 1) * hop + frame - len(ref)
    ref, test = np.pad(ref, (0, pad)), np.pad(test, (0, pad))
    spectra = []
    for signal in (ref, test):
        spectra.append([np.abs(np.fft.rfft(window * signal[k * hop : k * hop + frame])) ** 2
                        for k in range(count)])  # fmt: skip
    a, b = np.array(spectra[0]), np.array(spectra[1])
    floor = a.max() * 1e-8
    per_frame = [
        math.sqrt(np.mean((10 * np.log10(np.maximum(x, floor) / np.maximum(y, floor))) ** 2))
        for x, y in zip(a, b, strict=True)
    ]
    return float(np.mean(per_frame))


def test_identical_signals_are_at_zero_and_a_gain_is_its_decibels():
    x = _noise()
    assert log_spectral_distance_db(x, x, RATE) == 0.0
    assert log_mel_distance_db(x, x, RATE) == 0.0
    for gain in (0.5, 1.3):
        expected = abs(20 * math.log10(gain))
        assert log_spectral_distance_db(x, gain * x, RATE) == pytest.approx(expected, rel=1e-9)
        assert log_mel_distance_db(x, gain * x, RATE) == pytest.approx(expected, rel=1e-9)


def test_matches_the_definition_frame_by_frame():
    x = _noise(5000, seed=1)
    y = x + _noise(5000, seed=2) * 0.3
    assert log_spectral_distance_db(x, y, RATE) == pytest.approx(_plain_lsd(x, y), rel=1e-10)


def test_a_lost_high_band_is_seen_where_snr_is_blind():
    """A 300 Hz tone plus a weak band above 2 kHz. Dropping the band keeps the SNR near a
    1 dB gain error's, but the spectral distances rank the band loss far worse."""
    t = np.arange(16000) / RATE
    tone = np.sin(2 * np.pi * 300 * t)
    spectrum = np.fft.rfft(np.random.default_rng(3).standard_normal(t.size))
    spectrum[np.fft.rfftfreq(t.size, 1 / RATE) < 2000] = 0
    band = np.fft.irfft(spectrum, t.size)
    band *= 0.08 / band.std()
    x = tone + band
    lost_band = tone
    gain_error = x * 10 ** (-1 / 20)
    assert abs(snr_db(x, lost_band) - snr_db(x, gain_error)) < 3  # SNR: about the same
    gain_lsd = log_spectral_distance_db(x, gain_error, RATE)
    assert 0.5 < gain_lsd <= 1.0 + 1e-9  # 1 dB, less where both sides are under the floor
    assert log_spectral_distance_db(x, lost_band, RATE) > 20
    assert log_mel_distance_db(x, lost_band, RATE) > 10 * log_mel_distance_db(x, gain_error, RATE)


def test_mel_filters_are_a_partition_of_unity_between_the_first_and_last_centre():
    bank = mel_filterbank(40, 512, RATE)
    assert bank.shape == (40, 257) and bank.min() >= 0
    freqs = np.fft.rfftfreq(512, 1 / RATE)
    centres = freqs[bank.argmax(axis=1)]
    assert np.all(np.diff(centres) >= 0)  # ordered from low to high
    inside = (freqs >= centres[1]) & (freqs <= centres[-2])
    assert np.allclose(bank.sum(axis=0)[inside], 1.0)


def test_stereo_and_refusals():
    x = np.stack([_noise(), _noise(seed=5)], axis=1)
    assert log_spectral_distance_db(x, x * 2, RATE) == pytest.approx(20 * math.log10(2))
    with pytest.raises(InputError, match="test"):
        log_spectral_distance_db(x, x[:, :1], RATE)
    with pytest.raises(InputError, match="sample_rate"):
        log_spectral_distance_db(x, x, 0)
    with pytest.raises(InputError, match="frame"):
        log_spectral_distance_db(x, x, RATE, frame=4)
    with pytest.raises(InputError, match="bands"):
        log_mel_distance_db(x, x, RATE, bands=0)
    with pytest.raises(InputError, match="reference"):
        log_spectral_distance_db(np.array([np.nan]), np.array([0.0]), RATE)
