"""A bit-reproducible FFT and short-time Fourier transform (float64).

NumPy's FFT and BLAS products may round differently on other machines (SIMD paths,
fused multiply-adds, summation order). Here every butterfly and every product is a
separate element-wise float64 multiply or add, each rounded once, in a fixed order, and
the twiddle factors come from :func:`rdlab.detmath.cos` / :func:`~rdlab.detmath.sin`:
the outputs depend only on the inputs. Complex values travel as ``(re, im)`` pairs of
float64 arrays (NumPy's complex multiply may be fused).

STFT convention: frames of ``frame`` samples (a power of two) every ``hop = frame // 4``
samples, window ``w[n] = sin(pi n / frame)`` (the square root of the periodic Hann
window) for analysis and synthesis; the signal is preceded by ``frame - hop`` zeros and
zero-padded to whole frames, so that every sample lies in exactly four frames and
``sum w^2 = 2`` over them: :func:`istft` of an unmodified :func:`stft` gives the signal
back (to rounding).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .. import detmath
from ..errors import InputError

__all__ = [
    "fft",
    "fixed_dot",
    "fixed_sum",
    "irfft",
    "istft",
    "rfft",
    "stft",
    "stft_frames",
    "upsample",
]


def _power_of_two(n: int, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2 or n & (n - 1):
        raise InputError(name, f"must be a power of two >= 2, got {n!r}")
    return int(n)


@lru_cache(maxsize=16)
def _plan(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bit-reversal permutation and the twiddles ``exp(-2 pi i k / n)``, ``k < n / 2``."""
    bits = n.bit_length() - 1
    rev = np.array([int(format(i, f"0{bits}b")[::-1], 2) if bits else 0 for i in range(n)])
    angle = np.arange(n // 2, dtype=np.float64) * (-2.0 * math.pi / n)
    return rev, detmath.cos(angle), detmath.sin(angle)


def fft(re: np.ndarray, im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Discrete Fourier transform ``X[k] = sum_n x[n] exp(-2 pi i k n / N)`` over the
    last axis (length ``N``, a power of two), iterative radix-2 decimation in time.

    Args:
        re, im: real and imaginary parts, float64, the same shape ``(..., N)``.

    Returns:
        ``(re, im)`` of the transform, shape ``(..., N)``.
    """
    re = np.asarray(re, dtype=np.float64)
    im = np.asarray(im, dtype=np.float64)
    n = _power_of_two(re.shape[-1], "length")
    if im.shape != re.shape:
        raise InputError("im", f"has shape {im.shape}, re has {re.shape}")
    rev, cos_t, sin_t = _plan(n)
    lead = re.shape[:-1]
    re, im = re[..., rev], im[..., rev]
    size = 2
    while size <= n:
        half, stride = size // 2, n // size
        wr, wi = cos_t[::stride][:half], sin_t[::stride][:half]
        r = re.reshape(*lead, n // size, size)
        i = im.reshape(*lead, n // size, size)
        odd_r, odd_i = r[..., half:], i[..., half:]
        tr = odd_r * wr - odd_i * wi
        ti = odd_r * wi + odd_i * wr
        even_r, even_i = r[..., :half], i[..., :half]
        re = np.concatenate([even_r + tr, even_r - tr], axis=-1).reshape(*lead, n)
        im = np.concatenate([even_i + ti, even_i - ti], axis=-1).reshape(*lead, n)
        size *= 2
    return re, im


#: values per tile of :func:`rfft` / :func:`irfft` (float64: 512 KiB, so a tile stays in
#: cache through the transform's passes)
_TILE_VALUES = 1 << 16


def _tiled(function, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """``function`` on tiles of rows of 2-D views of ``arrays`` (results concatenated):
    the same values as one call, since every row is transformed on its own."""
    lead = arrays[0].shape[:-1]
    flat = [a.reshape(-1, a.shape[-1]) for a in arrays]
    rows = max(1, _TILE_VALUES // max(1, flat[0].shape[-1]))
    parts = [function(*(a[r : r + rows] for a in flat)) for r in range(0, flat[0].shape[0], rows)]
    if not parts:
        parts = [function(*flat)]
    return tuple(np.concatenate(p, axis=0).reshape(*lead, -1) for p in zip(*parts, strict=True))


def _rfft_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    re, im = fft(x, np.zeros_like(x))
    half = x.shape[-1] // 2 + 1
    return re[..., :half], im[..., :half]


def rfft(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first ``N / 2 + 1`` bins of :func:`fft` of real ``x`` (shape ``(..., N)``)."""
    x = np.asarray(x, dtype=np.float64)
    _power_of_two(x.shape[-1], "length")
    re, im = _tiled(_rfft_rows, x)
    return re, im


def irfft(re: np.ndarray, im: np.ndarray) -> np.ndarray:
    """The real signal of length ``N = 2 (bins - 1)`` whose :func:`rfft` is ``(re, im)``
    (the imaginary parts of bins 0 and ``N / 2`` are ignored, as in ``numpy.fft.irfft``)."""
    re = np.asarray(re, dtype=np.float64)
    im = np.asarray(im, dtype=np.float64)
    _power_of_two(2 * (re.shape[-1] - 1), "2 (bins - 1)")
    if im.shape != re.shape:
        raise InputError("im", f"has shape {im.shape}, re has {re.shape}")
    (out,) = _tiled(lambda r, i: (_irfft_rows(r, i),), re, im)
    return out


def _irfft_rows(re: np.ndarray, im: np.ndarray) -> np.ndarray:
    n = 2 * (re.shape[-1] - 1)
    inner = slice(1, -1)
    full_re = np.concatenate([re, re[..., inner][..., ::-1]], axis=-1)
    im = im.copy()
    im[..., 0] = 0.0
    im[..., -1] = 0.0
    full_im = np.concatenate([im, -im[..., inner][..., ::-1]], axis=-1)
    out, _ = fft(full_re, -full_im)  # the conjugate's transform, conjugated: real part
    return out / n


@lru_cache(maxsize=16)
def _window(frame: int) -> np.ndarray:
    return detmath.sin(np.arange(frame, dtype=np.float64) * (math.pi / frame))


def stft_frames(n: int, frame: int) -> int:
    """How many frames :func:`stft` gives for ``n`` samples."""
    hop = frame // 4
    return -(-(n + frame - hop) // hop)


def stft(x: np.ndarray, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """Short-time spectra of a 1-D signal (see the module docstring for the framing).

    Args:
        x: samples, shape ``(n,)``.
        frame: samples per frame, a power of two >= 8 (hop ``frame // 4``).

    Returns:
        ``(re, im)``, each ``(stft_frames(n, frame), frame // 2 + 1)`` float64.
    """
    frame = _power_of_two(frame, "frame")
    if frame < 8:
        raise InputError("frame", f"must be at least 8, got {frame}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise InputError("x", f"must be 1-D, got shape {x.shape}")
    hop = frame // 4
    count = stft_frames(x.size, frame)
    padded = np.zeros((count - 1) * hop + frame)
    padded[frame - hop : frame - hop + x.size] = x
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop]
    return rfft(frames * _window(frame))


def istft(re: np.ndarray, im: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` samples whose :func:`stft` is ``(re, im)`` (weighted overlap-add; for
    modified spectra, the least-squares signal)."""
    frames = irfft(re, im)
    frame = frames.shape[-1]
    hop = frame // 4
    if frames.shape[0] != stft_frames(n, frame):
        raise InputError(
            "re", f"has {frames.shape[0]} frames, {n} samples need {stft_frames(n, frame)}"
        )
    frames = frames * _window(frame)
    out = np.zeros((frames.shape[0] - 1) * hop + frame)
    for offset in range(4):  # frames offset, offset + 4, ... do not overlap: add in a fixed order
        chunk = frames[offset::4].ravel()
        start = offset * hop
        out[start : start + chunk.size] += chunk
    return out[frame - hop : frame - hop + n] * 0.5


def upsample(x: np.ndarray, factor: int, frame: int, n: int) -> np.ndarray:
    """``x`` at ``factor`` times its sample rate, band-limited: its :func:`stft` with
    ``frame // factor``-sample frames, zero above its Nyquist frequency, times ``factor``,
    through :func:`istft` with ``frame``-sample frames (the same 32 ms window at the higher
    rate), cut to ``n`` samples.

    Args:
        x: samples, shape ``(m,)``.
        factor: a power of two >= 1 (1: ``x`` cut or zero-padded to ``n``).
        frame: the output frame (a power of two, ``frame // factor >= 8``).
        n: output samples, at most ``factor * m``.

    Returns:
        float64 ``(n,)``, reproducible bits.
    """
    x = np.asarray(x, dtype=np.float64)
    factor = _power_of_two(factor, "factor") if factor != 1 else 1
    if not 0 < n <= factor * x.size:
        raise InputError("n", f"must lie in [1, {factor * x.size}], got {n}")
    if factor == 1:
        return x[:n].copy()
    re, im = stft(x, frame // factor)
    pad = np.zeros((re.shape[0], frame // 2 - re.shape[1] + 1))
    re = np.concatenate([re * factor, pad], axis=1)
    im = np.concatenate([im * factor, pad], axis=1)
    return istft(re, im, factor * x.size)[:n]


def fixed_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` over ``a``'s last and ``b``'s first axis, summed in increasing index
    order with one rounding per multiply and per add (no BLAS): reproducible bits.

    Args:
        a: ``(..., K)`` float64; b: ``(K, M)`` float64.

    Returns:
        ``(..., M)`` float64.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if b.ndim != 2 or a.shape[-1] != b.shape[0]:
        raise InputError("b", f"has shape {b.shape}, a has {a.shape}")
    out = np.zeros((*a.shape[:-1], b.shape[1]))
    for k in np.flatnonzero(np.any(b != 0.0, axis=1)):  # zero rows add exact zeros
        out += a[..., k : k + 1] * b[k]
    return out


def fixed_sum(a: np.ndarray, axis: int) -> np.ndarray:
    """The sum of ``a`` (float64) along ``axis`` in increasing index order, one rounding
    per add (NumPy's pairwise sums may group differently elsewhere): reproducible bits."""
    a = np.moveaxis(np.asarray(a, dtype=np.float64), axis, 0)
    if a.shape[0] == 0:
        return np.zeros(a.shape[1:])
    total = a[0].copy()
    for row in a[1:]:
        total += row
    return total
