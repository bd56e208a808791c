"""rdlab.dsp: the bit-reproducible FFT and STFT, the coded spectral envelope and its
post-filter, and the INR audio files that carry it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rdlab.data.audio import Audio, read_audio
from rdlab.dsp import (
    EnvelopeConfig,
    apply_envelope,
    decode_envelope,
    encode_envelope,
    fft,
    fixed_dot,
    irfft,
    istft,
    measure_envelope,
    rfft,
    stft,
    upsample,
)
from rdlab.dsp import transforms as fft_module
from rdlab.dsp.envelope import Envelope, envelope_frames
from rdlab.errors import FormatError, InputError
from rdlab.inr.modalities import get_modality
from rdlab.metrics import log_mel_distance_db, snr_db

SPEECH = Path(__file__).parent / "data" / "inr" / "speech_ru_0181_0p5s.flac"
AUDIO = get_modality("audio")


# ------------------------------------------------------------------------------ FFT
@pytest.mark.parametrize("n", [2, 4, 8, 64, 512])
def test_fft_matches_numpy(n: int) -> None:
    gen = np.random.default_rng(n)
    x = gen.standard_normal((3, n)) + 1j * gen.standard_normal((3, n))
    re, im = fft(x.real, x.imag)
    want = np.fft.fft(x, axis=-1)
    assert np.abs(re - want.real).max() < 1e-13 * n and np.abs(im - want.imag).max() < 1e-13 * n
    r, i = rfft(x.real)
    assert r.shape == (3, n // 2 + 1)
    assert np.abs(irfft(r, i) - x.real).max() < 1e-14 * n


def test_fft_refuses_other_lengths() -> None:
    with pytest.raises(InputError, match="power of two"):
        fft(np.zeros(12), np.zeros(12))
    with pytest.raises(InputError, match="im"):
        fft(np.zeros(8), np.zeros(4))


@pytest.mark.parametrize("n", [1, 7, 100, 1001])
def test_istft_inverts_stft(n: int) -> None:
    x = np.random.default_rng(n).standard_normal(n)
    re, im = stft(x, 64)
    assert np.abs(istft(re, im, n) - x).max() < 1e-13
    with pytest.raises(InputError, match="frames"):
        istft(re[:-1], im[:-1], n)


def test_transforms_do_not_depend_on_tiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same bits whether the frames go through the FFT in one tile or many, and
    ``fixed_dot`` the same bits for any split of its rows."""
    x = np.random.default_rng(1).standard_normal(3000)
    whole = stft(x, 256)
    monkeypatch.setattr(fft_module, "_TILE_VALUES", 300)
    tiled = stft(x, 256)
    assert all(np.array_equal(a, b) for a, b in zip(whole, tiled, strict=True))
    a = np.random.default_rng(2).standard_normal((50, 33))
    b = np.random.default_rng(3).standard_normal((33, 7))
    full = fixed_dot(a, b)
    assert np.array_equal(full, np.vstack([fixed_dot(a[:20], b), fixed_dot(a[20:], b)]))
    assert np.abs(full - a @ b).max() < 1e-12


def test_upsample_is_band_limited() -> None:
    t8, t16 = np.arange(8000) / 8000, np.arange(16000) / 16000
    for hz in (440.0, 3500.0):
        y = upsample(np.sin(2 * math.pi * hz * t8 + 0.3), 2, 512, 16000)
        assert np.abs(y - np.sin(2 * math.pi * hz * t16 + 0.3))[1000:-1000].max() < 1e-3
    assert np.array_equal(upsample(t8, 1, 256, 100), t8[:100])
    with pytest.raises(InputError, match="n"):
        upsample(t8, 2, 512, 16001)
    with pytest.raises(InputError, match="factor"):
        upsample(t8, 3, 512, 100)


# ---------------------------------------------------------------------- the envelope
def _speech() -> Audio:
    return read_audio(SPEECH)


def _degraded(x: np.ndarray, rate: int) -> np.ndarray:
    """What a low-rate waveform coder gives: the band above 2 kHz gone, white noise 12 dB
    below the signal's power everywhere (pauses included)."""
    re, im = stft(x, 512)
    keep = np.fft.rfftfreq(512, 1 / rate) < 2000
    low = istft(re * keep, im * keep, x.size)
    noise = np.random.default_rng(7).standard_normal(x.size) * np.sqrt(np.mean(x**2)) / 4
    return low + noise


def test_envelope_round_trips_and_costs_about_two_bits_per_level() -> None:
    audio = _speech()
    x = audio.samples.astype(np.float64)
    env = measure_envelope(x / np.abs(x).max(), audio.sample_rate, EnvelopeConfig())
    assert env.levels.shape == (envelope_frames(x.size, audio.sample_rate, env.config), 24)
    assert env.levels.min() >= env.floor and env.floor == env.levels.max() - env.config.range_steps
    data = encode_envelope(env)
    back = decode_envelope(data, x.size, audio.sample_rate)
    assert back.config == env.config and back.floor == env.floor
    assert np.array_equal(back.levels, env.levels)
    assert 8 * len(data) / env.levels.size < 3.0  # bits per coded level


def test_envelope_coding_of_random_walks() -> None:
    gen = np.random.default_rng(4)
    cfg = EnvelopeConfig(bands=5, hops=2, step_db=1.5, range_db=40)
    frames = envelope_frames(3000, 8000, cfg)
    steps = gen.integers(-3, 4, size=(frames, cfg.bands)).cumsum(axis=0)
    levels = np.clip(steps, 0, cfg.range_steps) - 7
    env = Envelope(cfg, levels, -7)
    back = decode_envelope(encode_envelope(env), 3000, 8000)
    assert np.array_equal(back.levels, levels) and back.floor == -7


def test_envelope_decoder_refuses_bad_streams() -> None:
    audio = _speech()
    x = audio.samples.astype(np.float64)
    data = encode_envelope(measure_envelope(x, audio.sample_rate, EnvelopeConfig()))
    with pytest.raises(FormatError, match="frames"):
        decode_envelope(data, x.size + 4000, audio.sample_rate)
    for cut in (1, 3, len(data) // 2, len(data) - 1):
        with pytest.raises(FormatError):
            decode_envelope(data[:cut], x.size, audio.sample_rate)
    with pytest.raises(FormatError):
        decode_envelope(data + b"\0\0\0\0", x.size, audio.sample_rate)
    gen = np.random.default_rng(5)
    for _ in range(100):  # flipped bytes: refused, or an envelope of the right shape
        bad = bytearray(data)
        bad[gen.integers(len(bad))] ^= 1 << int(gen.integers(8))
        try:
            env = decode_envelope(bytes(bad), x.size, audio.sample_rate)
        except FormatError:
            continue
        assert env.levels.shape[1] == env.config.bands


@pytest.mark.parametrize(
    "field,value",
    [("bands", 1), ("hops", 0), ("step_db", 0.3), ("range_db", 5), ("iterations", 0),
     ("noise_db", -1), ("bands", 2.0)],
)  # fmt: skip
def test_envelope_config_refusals(field: str, value: object) -> None:
    with pytest.raises(InputError, match=field):
        EnvelopeConfig(**{field: value})


def test_envelope_restores_the_spectrum_a_waveform_coder_loses() -> None:
    """On speech with its high band gone and noise in the pauses, the post-filter with
    the speech's own envelope takes the 40-band log-mel distance from over 10 dB to under
    5; with another clip's envelope (the speech reversed in time: the same long-term
    spectrum, other frames) it does not get below 8. Deterministic; the noise seed
    changes the bits, not the result."""
    audio = _speech()
    rate = audio.sample_rate
    x = audio.samples.astype(np.float64)
    y = _degraded(x, rate)
    cfg = EnvelopeConfig()
    env = measure_envelope(x, rate, cfg)
    env = decode_envelope(encode_envelope(env), x.size, rate)
    before = log_mel_distance_db(x, y, rate)
    z = apply_envelope(y, env, rate)
    after = log_mel_distance_db(x, z, rate)
    assert before > 10.0 and after < 5.0
    assert snr_db(x, z) > snr_db(x, y) - 3.0  # the waveform is kept, not replaced
    wrong = apply_envelope(y, measure_envelope(x[::-1].copy(), rate, cfg), rate)
    assert log_mel_distance_db(x, wrong, rate) > 8.0
    assert np.array_equal(z, apply_envelope(y, env, rate))
    other = apply_envelope(y, env, rate, seed=1)
    assert not np.array_equal(z, other)
    assert abs(log_mel_distance_db(x, other, rate) - after) < 0.5
    with pytest.raises(InputError, match="envelope"):
        apply_envelope(y[:-2000], env, rate)


# --------------------------------------------------------------- INR audio side info
def test_audio_modality_adds_the_envelope_at_low_rates() -> None:
    audio = _speech()  # 16 kHz: the networks code it at 8 kHz with the envelope
    low = AUDIO.prepare(audio, rate=6.0)
    assert set(low.chunks) == {"ENVL"} and low.meta["down"] == 2
    assert low.values.shape == (audio.samples.size // 2, 1)
    assert AUDIO.spatial_shape(low.meta) == ((audio.samples.size // 2,), 1)
    assert AUDIO.file_version(low) == "4"
    high = AUDIO.prepare(audio, rate=24.0)
    assert high.chunks == {} and "down" not in high.meta and AUDIO.file_version(high) == "2"
    assert high.values.shape == (audio.samples.size, 1)
    assert AUDIO.prepare(audio, rate=24.0, side_information=True).chunks
    assert not AUDIO.prepare(audio, rate=6.0, side_information=False).chunks
    assert not AUDIO.prepare(audio).chunks  # training: the plain waveform
    assert AUDIO.decimation(8000) == 1 and AUDIO.decimation(48000) == 4
    assert AUDIO.envelope_config(6.0).bands == 24 and AUDIO.envelope_config(9.0).bands == 28
    assert AUDIO.envelope_config(None) == AUDIO.envelope_config(6.0)
    with pytest.raises(InputError, match="side_information"):
        get_modality("image").check_side_information(True)
    get_modality("image").check_side_information(False)


def test_audio_restore_applies_the_envelope_and_refuses_what_a_version_forbids() -> None:
    audio = _speech()
    x = audio.samples.astype(np.float64)
    prepared = AUDIO.prepare(audio, rate=6.0)
    # the decimated signal itself (what perfect networks would give), brought back
    restored = AUDIO.restore(prepared.values.astype(np.float64), prepared.meta,
                             prepared.chunks, codec_version="4")  # fmt: skip
    assert restored.samples.shape == audio.samples.shape
    assert log_mel_distance_db(x, restored.samples, audio.sample_rate) < 4.0
    assert snr_db(x, restored.samples) > 8.0  # the band below 4 kHz is the original's
    with pytest.raises(FormatError, match="version 4"):
        AUDIO.restore(prepared.values, prepared.meta, prepared.chunks, codec_version="2")
    with pytest.raises(FormatError, match="no envelope"):
        AUDIO.restore(prepared.values, prepared.meta, {}, codec_version="4")
    for down in (3, 0, True, 128):
        with pytest.raises(FormatError, match="down"):
            AUDIO.check_meta({**prepared.meta, "down": down})
    with pytest.raises(FormatError, match="Hz"):  # refused before a 2^26-sample frame
        AUDIO.restore(prepared.values, {**prepared.meta, "rate": 2**31}, prepared.chunks,
                      codec_version="4")  # fmt: skip


def test_post_filter_bits_are_pinned() -> None:
    """The post-filter's output on a fixed input (shared randomness only), as a digest:
    a decoder anywhere must give these bits (any change to the arithmetic shows here)."""
    import hashlib

    from rdlab import rng

    n, rate = 3000, 8000
    t = np.arange(n) / rate
    x = np.sin(2 * np.pi * 440.0 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t))
    x = x + 0.05 * (rng.uniforms(1, 2, 3, n) - 0.5)
    env = measure_envelope(x, rate, EnvelopeConfig(bands=12, hops=2))
    y = upsample(x[::2].copy(), 2, 256, n)
    z = apply_envelope(y, env, rate)
    digest = hashlib.sha256(np.ascontiguousarray(z, dtype="<f8").tobytes()).hexdigest()
    assert digest == PINNED_POST_FILTER, digest


PINNED_POST_FILTER = "32b8d9f59b5f5271729c0472e9f6dc98d6a271b828e1b7c5c7c6ca198a5d6488"


def test_inr_codec_files_with_the_envelope() -> None:
    """At the same file size, the INR file with the envelope (version 4) is far closer
    to the speech on the mel scale than the networks alone (version 2); it decodes to the
    same samples twice and by another codec object, and its budget covers the chunk."""
    from rdlab.codecs.inr import INRCodec
    from rdlab.container import decode_rdl
    from test_inr import toy_model

    model = toy_model("audio")
    audio = _speech()
    x = audio.samples.astype(np.float64)
    results = {}
    for side in (True, False):
        codec = INRCodec(model, kbps=40.0, side_information=side)
        data = codec.encode(audio)
        file = decode_rdl(data, codecs={"inr": ("4",) if side else ("2",)})
        assert ("ENVL" in [c.tag for c in file.chunks]) is side
        assert 8 * len(data) <= 40.0 * 1000 * audio.duration
        decoded = codec.decode(data)
        assert np.array_equal(decoded.samples, INRCodec(model).decode(data).samples)
        results[side] = log_mel_distance_db(x, decoded.samples, audio.sample_rate)
    assert results[True] < 6.0 < results[False]
    with pytest.raises(InputError, match="side_information"):  # images have none
        INRCodec(toy_model("image"), bpp=6.0, side_information=True).encode(
            np.zeros((8, 8, 3), np.uint8)
        )
    with pytest.raises(InputError, match="side_information"):
        INRCodec(model, side_information="yes")
