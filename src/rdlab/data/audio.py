"""Mono audio files in and out (libsndfile through ``soundfile``).

Scale convention, shared by every audio function in rdlab: samples are float32 in
[-1, 1); integer PCM of ``b`` bits maps to ``k * 2**-(b - 1)`` (16-bit: ``k / 32768``,
so -32768 → -1.0 and 32767 → 0.999969...). Writing inverts this for 16-bit PCM:
``clip(rint(x * 32768), -32768, 32767)``, so a file read and written back is unchanged
bit for bit.

Multi-channel files are **refused** (one line naming the channel count) rather than
downmixed: a downmix is a lossy change that the caller should make on purpose.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile

from .._files import write_atomic
from ..errors import InputError

__all__ = [
    "AUDIO_FORMATS",
    "PCM16_SCALE",
    "Audio",
    "audio_bytes",
    "read_audio",
    "resample",
    "write_audio",
]

#: Multiply int16 PCM by this to get rdlab's float scale (``2**-15``).
PCM16_SCALE = 2.0**-15

#: Output formats by suffix: soundfile format name.
AUDIO_FORMATS = {".wav": "WAV", ".flac": "FLAC"}


@dataclass(frozen=True, eq=False)
class Audio:
    """A mono signal.

    Attributes:
        samples: float32, shape ``(n,)``, nominally in [-1, 1) (see the module docstring;
            values outside are clipped when written as PCM).
        sample_rate: samples per second (Hz), a positive integer.
    """

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples)
        if samples.dtype.kind not in "fiu" or samples.dtype == np.bool_:
            raise InputError("samples", f"must be real numbers, got dtype {samples.dtype}")
        if samples.ndim != 1:
            raise InputError("samples", f"must have shape (n,) (mono), got {samples.shape}")
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if not np.isfinite(samples).all():
            raise InputError("samples", "hold NaN or infinite values")
        rate = self.sample_rate
        if isinstance(rate, bool) or not isinstance(rate, (int, np.integer)) or rate <= 0:
            raise InputError("sample_rate", f"must be a positive integer, got {rate!r}")
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "sample_rate", int(rate))

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.samples.size / self.sample_rate


def read_audio(path: str | os.PathLike[str]) -> Audio:
    """Read a mono audio file (WAV, FLAC, Ogg Vorbis/Opus, anything libsndfile reads).

    16-bit PCM is read as integers and scaled by exactly ``2**-15``; other encodings use
    libsndfile's normalisation (``2**-(b-1)`` for ``b``-bit PCM, floats as stored).
    Multi-channel and empty files are refused with :class:`~rdlab.errors.InputError`.
    """
    name = os.fspath(path)
    if os.path.isdir(name):
        raise InputError("input", f"{name} is a directory")
    if not os.path.exists(name):
        raise InputError("input", f"{name} does not exist")
    try:
        with soundfile.SoundFile(name) as stream:
            if stream.channels != 1:
                raise InputError(
                    "input",
                    f"{name} has {stream.channels} channels; only mono is supported "
                    "(downmix it first)",
                )
            rate = int(stream.samplerate)
            if stream.subtype == "PCM_16":
                samples = stream.read(dtype="int16").astype(np.float32) * np.float32(PCM16_SCALE)
            else:
                samples = stream.read(dtype="float32")
    except soundfile.LibsndfileError as exc:
        raise InputError(
            "input", f"{name} is not an audio file libsndfile can read: {exc}"
        ) from None
    except (RuntimeError, OSError) as exc:
        raise InputError("input", f"{name} cannot be decoded: {exc}") from None
    samples = np.asarray(samples).reshape(-1)
    if samples.size == 0:
        raise InputError("input", f"{name} holds no samples")
    if not np.isfinite(samples).all():
        raise InputError("input", f"{name} holds NaN or infinite samples")
    return Audio(samples, rate)


def resample(audio: Audio, sample_rate: int) -> Audio:
    """``audio`` at ``sample_rate`` Hz: polyphase resampling by the reduced ratio
    (:func:`scipy.signal.resample_poly`, Kaiser-windowed anti-aliasing low-pass at the
    lower Nyquist frequency); the same object when the rate is already ``sample_rate``."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise InputError("sample_rate", f"must be a positive integer, got {sample_rate!r}")
    if sample_rate <= 0:
        raise InputError("sample_rate", f"must be a positive integer, got {sample_rate!r}")
    if sample_rate == audio.sample_rate:
        return audio
    from math import gcd

    from scipy.signal import resample_poly

    common = gcd(int(sample_rate), audio.sample_rate)
    up, down = int(sample_rate) // common, audio.sample_rate // common
    samples = resample_poly(audio.samples.astype(np.float64), up, down)
    if samples.size == 0:
        raise InputError("audio", f"is too short to resample to {sample_rate} Hz")
    return Audio(samples.astype(np.float32), int(sample_rate))


def pcm16(samples: Any) -> np.ndarray:
    """Float samples on rdlab's scale as int16 PCM: ``clip(rint(x * 32768))``."""
    x = np.asarray(samples, dtype=np.float64)
    return np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)


def audio_bytes(audio: Audio, format: str = "WAV") -> bytes:
    """``audio`` as a 16-bit PCM file in memory (``format``: ``"WAV"`` or ``"FLAC"``)."""
    if format not in AUDIO_FORMATS.values():
        raise InputError("format", f"must be one of {sorted(AUDIO_FORMATS.values())}")
    buffer = io.BytesIO()
    try:
        soundfile.write(
            buffer, pcm16(audio.samples), audio.sample_rate, subtype="PCM_16", format=format
        )
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
        raise InputError("audio", f"cannot be written as {format}: {exc}") from None
    return buffer.getvalue()


def write_audio(
    path: str | os.PathLike[str],
    audio: Audio,
    *,
    overwrite: bool = False,
    protect: tuple[str, ...] = (),
) -> int:
    """Write ``audio`` as 16-bit PCM, format by suffix (``.wav`` or ``.flac``).

    Samples are rounded and clipped (see :func:`pcm16`). The file is written atomically,
    never over an existing file unless ``overwrite`` and never over ``protect``; returns
    the size in bytes.
    """
    if not isinstance(audio, Audio):
        raise InputError("audio", f"must be an Audio, got {type(audio).__name__}")
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in AUDIO_FORMATS:
        raise InputError(
            "output", f"{os.fspath(path)}: suffix must be one of {', '.join(AUDIO_FORMATS)}"
        )
    data = audio_bytes(audio, AUDIO_FORMATS[suffix])
    return write_atomic(path, data, overwrite=overwrite, protect=protect)
