"""Audio for the INR codec: :class:`~rdlab.data.audio.Audio` (mono, samples in [-1, 1)),
normalized to ``x / peak`` (peak = largest absolute sample, in the metadata), ``(n, 1)``;
rate in kbit/s of the whole file; SNR, PSNR (peak-to-peak 2) and the spectral distances
in dB.

Low rates (at most :attr:`AudioModality.envelope_max_kbps`, or ``side_information=True``):
the file carries the coded mel-band envelope of ``x / peak`` (chunk ``ENVL``,
:mod:`rdlab.dsp.envelope`, about 2 kbit/s on speech), which the decoder imposes on the
networks' waveform: the INR keeps the waveform (what SNR measures) and the envelope the
short-time spectrum (what a listener hears). Above 8 kHz the networks then code the
signal decimated by a power of two to 8 to 16 kHz (metadata ``down``); the decoder
brings it back to the full rate band-limited (:func:`rdlab.dsp.transforms.upsample`) and the
envelope fills the band above with noise of the right level. Version 2 files have
neither.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from ..._memory import refuse_decode_beyond_memory
from ...data.audio import Audio, read_audio, resample, write_audio
from ...dsp import (
    EnvelopeConfig,
    apply_envelope,
    decode_envelope,
    encode_envelope,
    measure_envelope,
    upsample,
)
from ...errors import FormatError
from ...metrics import audio_psnr_db, log_mel_distance_db, log_spectral_distance_db, snr_db
from ...metrics.spectral import default_frame
from .base import Architecture, Modality, Prepared, invalid_metadata, positive_number

__all__ = ["ENVELOPE_TAG", "MODALITY", "AudioModality"]

#: the chunk of the coded envelope
ENVELOPE_TAG = "ENVL"
#: the INR codec version of audio files with the envelope
ENVELOPE_VERSION = "4"
#: the highest sample rate of a file with the envelope (its 32 ms frames stay small)
MAX_ENVELOPE_RATE_HZ = 384_000
#: peak memory of the envelope's post-filter per output sample (measured: 280 bytes)
ENVELOPE_BYTES_PER_SAMPLE = 400


class AudioModality(Modality):
    """Mono audio; :meth:`read` takes ``sample_rate`` (Hz) to resample the file to."""

    name = "audio"
    suffixes = (".wav", ".flac", ".ogg", ".aiff", ".aif")
    output_suffix = ".flac"
    output_suffixes = (".flac", ".wav")
    writer = staticmethod(write_audio)
    rate_keyword = "kbps"
    rate_unit = "kbit/s"
    rate_scale = 1000.0  # items are seconds: kbit/s
    architecture: Architecture = ((512,), {"in_dim": 1, "out_dim": 1, "hidden": 32,
        "layers": 3, "frequencies": 10, "max_frequency": 256.0, "w0": 5.0})  # fmt: skip
    read_options = ("sample_rate",)
    codec_version = "2"
    optional_side = "spectral envelope"
    envelopes: tuple[tuple[float, EnvelopeConfig], ...] = (
        (7.0, EnvelopeConfig()),
        (math.inf, EnvelopeConfig(bands=28, hops=2)),
    )
    """The envelope of a file at a rate (kbit/s): the first whose bound is at least the
    rate. At 6 kbit/s 24 bands every 24 ms (about 2.1 kbit/s on speech); above 7, 28
    bands every 16 ms (about 3.5 kbit/s, log-mel about 0.8 dB closer)."""
    envelope_max_kbps = 12.0
    """Files coded at this rate or lower carry the envelope (unless told otherwise)."""
    inner_rate_hz = 8000
    """With the envelope, audio faster than twice this is decimated by the largest power
    of two that keeps at least this rate before the networks code it."""

    def accepts(self, signal: Any) -> bool:
        return isinstance(signal, Audio)

    def read(
        self, path: str | os.PathLike[str], *, sample_rate: int | None = None, **options: Any
    ) -> Audio:
        """The file's audio, resampled to ``sample_rate`` Hz when given."""
        audio = read_audio(path)
        return audio if sample_rate is None else resample(audio, sample_rate)

    def items(self, signal: Any) -> float:
        """Seconds."""
        return signal.samples.size / signal.sample_rate

    def prepare(  # type: ignore[override]
        self, signal: Any, *, rate: float | None = None, side_information: bool | None = None
    ) -> Prepared:
        """``x / peak`` (decimated with the envelope, see the module docstring), the
        metadata ``n``, ``rate``, ``peak`` (and ``down``), and the ``ENVL`` chunk when
        ``side_information`` is True, or None and ``rate`` is at most
        :attr:`envelope_max_kbps`."""
        x = np.asarray(signal.samples, dtype=np.float64)
        peak = float(np.abs(x).max())
        peak = peak if peak > 0 else 1.0
        normalized = x / peak
        meta: dict[str, Any] = {"n": int(x.size), "rate": int(signal.sample_rate), "peak": peak}
        chunks: dict[str, bytes] = {}
        if side_information is None:
            side_information = rate is not None and rate <= self.envelope_max_kbps
        if side_information:
            config = self.envelope_config(rate)
            envelope = measure_envelope(normalized, signal.sample_rate, config)
            chunks[ENVELOPE_TAG] = encode_envelope(envelope)
            down = self.decimation(signal.sample_rate)
            if down > 1:
                meta["down"] = down
                normalized = resample_poly(normalized, 1, down)
        values = normalized.astype(np.float32)[:, None]
        return Prepared(values, meta, chunks, items=x.size / signal.sample_rate)

    def envelope_config(self, rate: float | None) -> EnvelopeConfig:
        """The envelope for a file at ``rate`` kbit/s (None: the first of
        :attr:`envelopes`)."""
        if rate is None:
            return self.envelopes[0][1]
        return next(config for bound, config in self.envelopes if rate <= bound)

    def file_version(self, prepared: Prepared) -> str:
        """4 for a file with the envelope, else 2 (what older decoders read)."""
        return ENVELOPE_VERSION if ENVELOPE_TAG in prepared.chunks else self.codec_version

    def decimation(self, sample_rate: int) -> int:
        """The power of two the networks' rate is below ``sample_rate`` with the envelope:
        the largest that keeps :attr:`inner_rate_hz` (1 at or below twice that)."""
        down = 1
        while (
            sample_rate >= 2 * down * self.inner_rate_hz and default_frame(sample_rate) >= 32 * down
        ):
            down *= 2
        return down

    def spatial_shape(self, meta: dict[str, Any]) -> tuple[tuple[int, ...], int]:
        return (-(-int(meta["n"]) // _down(meta)),), 1

    def check_meta(self, meta: dict[str, Any]) -> None:
        rate = meta.get("rate")
        if not isinstance(rate, int) or isinstance(rate, bool) or rate < 1:
            raise invalid_metadata("rate")
        if not positive_number(meta.get("peak")):
            raise invalid_metadata("peak")
        try:
            down = _down(meta)
        except ValueError:
            raise invalid_metadata("down") from None
        if default_frame(rate) < 8 * down:
            raise invalid_metadata("down")

    def restore(
        self,
        values: np.ndarray,
        meta: dict[str, Any],
        chunks: dict[str, bytes],
        *,
        codec_version: str | None = None,
    ) -> Audio:
        """The networks' samples times the peak; with the envelope (version 4), first
        brought to the full rate and given the envelope (:mod:`rdlab.dsp`: the same
        samples on every machine)."""
        n, rate, down = int(meta["n"]), int(meta["rate"]), _down(meta)
        y = values[:, 0].astype(np.float64)
        side = ENVELOPE_TAG in chunks
        if (codec_version or self.codec_version) != ENVELOPE_VERSION and (side or down > 1):
            raise FormatError("only version 4 INR audio files carry an envelope or decimation")
        if down > 1 and not side:
            raise FormatError("the INR audio file is decimated but has no envelope")
        if side:
            if rate > MAX_ENVELOPE_RATE_HZ:
                raise FormatError(f"an INR audio file with an envelope at {rate} Hz (at most "
                                  f"{MAX_ENVELOPE_RATE_HZ})")  # fmt: skip
            envelope = decode_envelope(chunks[ENVELOPE_TAG], n, rate)
            refuse_decode_beyond_memory(
                ENVELOPE_BYTES_PER_SAMPLE * n, f"INR audio with an envelope, {n} samples"
            )
            y = apply_envelope(upsample(y, down, default_frame(rate), n), envelope, rate)
        x = np.clip(y * float(meta["peak"]), -1.0, 1.0 - 2.0**-15)
        return Audio(x.astype(np.float32), rate)

    def distortion(self, reference: Any, decoded: Any) -> dict[str, float]:
        """``snr_db``, ``psnr_db`` (peak-to-peak 2: ``10 log10(4 / MSE)``), and the
        spectral distances SNR does not see, in dB (:mod:`rdlab.metrics.spectral`):
        ``lsd_db`` (log-spectral distance) and ``log_mel_db`` (40 mel bands)."""
        rate = reference.sample_rate
        return {
            "snr_db": snr_db(reference.samples, decoded.samples),
            "psnr_db": audio_psnr_db(reference.samples, decoded.samples),
            "lsd_db": log_spectral_distance_db(reference.samples, decoded.samples, rate),
            "log_mel_db": log_mel_distance_db(reference.samples, decoded.samples, rate),
        }

    def card_facts(self, items_per_sample: float) -> dict[str, Any]:
        """``sample_rate``: the training rate (Hz) when every file had it."""
        trained_at = round(1.0 / items_per_sample)
        if abs(trained_at * items_per_sample - 1.0) < 1e-9:  # one rate for all patches
            return {"sample_rate": trained_at}
        return {}


def _down(meta: dict[str, Any]) -> int:
    """The metadata's decimation factor (1 when absent).

    Raises:
        ValueError: not a power of two >= 1 (the codec reports a FormatError).
    """
    down = meta.get("down", 1)
    if not isinstance(down, int) or isinstance(down, bool) or down < 1 or down & (down - 1):
        raise ValueError("down")
    return down


MODALITY = AudioModality()
