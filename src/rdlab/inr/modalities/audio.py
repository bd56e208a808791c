"""Audio for the INR codec: :class:`~rdlab.data.audio.Audio` (mono, samples in [-1, 1)),
normalized to ``x / peak`` (peak = largest absolute sample, in the metadata), ``(n, 1)``;
rate in kbit/s of the whole file; SNR and PSNR (peak-to-peak 2) in dB.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ...data.audio import Audio, read_audio, resample, write_audio
from ...metrics import audio_psnr_db, log_mel_distance_db, log_spectral_distance_db, snr_db
from .base import Architecture, Modality, Prepared, invalid_metadata, positive_number

__all__ = ["MODALITY", "AudioModality"]


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

    def prepare(self, signal: Any) -> Prepared:
        x = np.asarray(signal.samples, dtype=np.float64)
        peak = float(np.abs(x).max())
        peak = peak if peak > 0 else 1.0
        values = (x / peak).astype(np.float32)[:, None]
        meta = {"n": int(x.size), "rate": int(signal.sample_rate), "peak": peak}
        return Prepared(values, meta, items=x.size / signal.sample_rate)

    def spatial_shape(self, meta: dict[str, Any]) -> tuple[tuple[int, ...], int]:
        return (int(meta["n"]),), 1

    def check_meta(self, meta: dict[str, Any]) -> None:
        rate = meta.get("rate")
        if not isinstance(rate, int) or isinstance(rate, bool) or rate < 1:
            raise invalid_metadata("rate")
        if not positive_number(meta.get("peak")):
            raise invalid_metadata("peak")

    def restore(
        self,
        values: np.ndarray,
        meta: dict[str, Any],
        chunks: dict[str, bytes],
        *,
        codec_version: str | None = None,
    ) -> Audio:
        x = np.clip(values[:, 0] * float(meta["peak"]), -1.0, 1.0 - 2.0**-15)
        return Audio(x.astype(np.float32), int(meta["rate"]))

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


MODALITY = AudioModality()
