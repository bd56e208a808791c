"""Distortion metrics for audio, protein C-alpha traces and video.

Scales (every function says its own):

- **audio**: float samples on rdlab's scale, [-1, 1) (16-bit PCM times ``2**-15``, see
  :mod:`rdlab.data.audio`). :func:`audio_psnr_db` uses peak-to-peak 2, i.e.
  ``10 log10(4 / MSE)``. This equals the audio PSNR of COMBINER and RECOMBINER, which map
  the waveform to [0, 1] by ``(x + 1) / 2`` and use peak 1 without rounding
  (RECOMBINER ``utils.metric(..., 'audio')``): MSE on [0, 1] is MSE on [-1, 1] over 4.
- **proteins**: coordinates in Å, shape ``(n, 3)``. :func:`rmsd` is the root of the mean
  squared *distance* per atom, ``sqrt(mean_i |a_i - b_i|^2)`` (RECOMBINER's
  ``batch_RMSD`` is the same: it takes the mean over the 3n coordinates times 3), with
  no superposition unless asked.
- **video**: uint8 frames ``(T, H, W[, C])`` on 0..255; :func:`video_psnr_db` uses peak
  255 and the mean squared error over *all* frames (not the mean of per-frame PSNRs).

Bad input (shape mismatch, NaN, empty) is an :class:`~rdlab.errors.InputError` naming
the argument. Identical inputs give ``inf`` for the dB metrics.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._arrays import to_numpy
from ..errors import InputError

__all__ = ["audio_psnr_db", "kabsch", "mse", "rmsd", "snr_db", "video_psnr_db"]


def _real(value: Any, name: str) -> np.ndarray:
    array = to_numpy(value, name)
    if array.dtype.kind not in "iuf" or array.dtype == np.bool_:
        raise InputError(name, f"must hold real numbers, got dtype {array.dtype}")
    if array.size == 0:
        raise InputError(name, f"is empty (shape {array.shape})")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise InputError(name, "holds NaN or infinite values")
    return array


def _pair(reference: Any, test: Any) -> tuple[np.ndarray, np.ndarray]:
    ref = _real(reference, "reference")
    tst = _real(test, "test")
    if ref.shape != tst.shape:
        raise InputError("test", f"has shape {tst.shape}, reference has {ref.shape}")
    return ref, tst


def _db(numerator: float, denominator: float) -> float:
    if denominator == 0.0:
        return math.inf
    return 10.0 * math.log10(numerator / denominator)


def mse(reference: Any, test: Any) -> float:
    """Mean squared error over all elements (in the inputs' units squared)."""
    ref, tst = _pair(reference, test)
    return float(np.mean((ref - tst) ** 2))


def snr_db(reference: Any, test: Any) -> float:
    """Signal-to-noise ratio ``10 log10(Σ ref² / Σ (ref - test)²)`` in dB (any scale).

    A silent reference against a different test signal gives ``-inf``.
    """
    ref, tst = _pair(reference, test)
    noise = float(np.sum((ref - tst) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return _db(signal, noise)


def audio_psnr_db(reference: Any, test: Any) -> float:
    """PSNR of signals on [-1, 1] with peak-to-peak 2: ``10 log10(4 / MSE)`` in dB.

    The same number as COMBINER/RECOMBINER's audio PSNR (signals mapped to [0, 1],
    peak 1); see the module docstring. Test samples are not clipped or rounded.
    """
    return _db(4.0, mse(reference, test))


def _coordinates(value: Any, name: str) -> np.ndarray:
    array = _real(value, name)
    if array.ndim != 2 or array.shape[1] != 3:
        raise InputError(name, f"must have shape (n, 3), got {array.shape}")
    return array


def kabsch(mobile: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    """Rotation ``R`` (3x3, proper) and translation ``t`` (Å) minimising the RMSD of
    ``mobile @ R.T + t`` to ``target`` (both ``(n, 3)``, Å; Kabsch 1976)."""
    a = _coordinates(mobile, "mobile")
    b = _coordinates(target, "target")
    if a.shape != b.shape:
        raise InputError("target", f"has shape {b.shape}, mobile has {a.shape}")
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    h = (a - ca).T @ (b - cb)
    u, _, vt = np.linalg.svd(h)
    d = 1.0 if np.linalg.det(vt.T @ u.T) >= 0 else -1.0
    rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rotation, cb - ca @ rotation.T


def rmsd(reference: Any, test: Any, superpose: bool = False) -> float:
    """Root-mean-square deviation ``sqrt(mean_i |ref_i - test_i|²)`` in Å.

    ``reference`` and ``test`` are ``(n, 3)`` coordinates in Å, atom ``i`` matched to atom
    ``i``. With ``superpose``, ``test`` is first rotated and translated onto
    ``reference`` by the optimal (Kabsch) superposition.
    """
    ref = _coordinates(reference, "reference")
    tst = _coordinates(test, "test")
    if ref.shape != tst.shape:
        raise InputError("test", f"has shape {tst.shape}, reference has {ref.shape}")
    if superpose:
        rotation, shift = kabsch(tst, ref)
        tst = tst @ rotation.T + shift
    return float(np.sqrt(np.mean(np.sum((ref - tst) ** 2, axis=1))))


def video_psnr_db(reference: Any, test: Any) -> float:
    """PSNR of 8-bit video in dB: peak 255, MSE averaged over all frames and pixels.

    Both are ``(T, H, W)`` or ``(T, H, W, C)`` arrays on 0..255 (integers, or floats that
    are scored as given, without rounding).
    """
    ref, tst = _pair(reference, test)
    if ref.ndim not in (3, 4):
        raise InputError("reference", f"must have shape (T, H, W[, C]), got {ref.shape}")
    if ref.min() < 0 or ref.max() > 255:
        raise InputError("reference", "holds values outside 0..255")
    return _db(255.0**2, float(np.mean((ref - tst) ** 2)))
