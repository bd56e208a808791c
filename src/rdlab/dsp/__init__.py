"""Signal processing that a decoder may run: every result is the same bits on any machine.

- :mod:`rdlab.dsp.transforms`: a radix-2 FFT, short-time Fourier transforms and fixed-order
  products written as element-wise float64 operations (no BLAS, no fused multiply-add,
  twiddles from :mod:`rdlab.detmath`), so a decoder can filter in the frequency domain
  and still give the same samples on every machine and thread count.
- :mod:`rdlab.dsp.envelope`: a coded mel-band spectral envelope of audio and the
  decoder's post-filter that imposes it on a decoded waveform (band gains and noise fill).
"""

from .envelope import (
    Envelope,
    EnvelopeConfig,
    apply_envelope,
    decode_envelope,
    encode_envelope,
    measure_envelope,
)
from .transforms import fft, fixed_dot, irfft, istft, rfft, stft, upsample

__all__ = [
    "Envelope",
    "EnvelopeConfig",
    "apply_envelope",
    "decode_envelope",
    "encode_envelope",
    "fft",
    "fixed_dot",
    "irfft",
    "istft",
    "measure_envelope",
    "rfft",
    "stft",
    "upsample",
]
