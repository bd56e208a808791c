"""Readers and writers of audio, protein C-alpha traces and video; their metrics."""

from __future__ import annotations

import gzip
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from rdlab.data.audio import PCM16_SCALE, Audio, read_audio, resample, write_audio
from rdlab.data.proteins import CaTrace, ca_pdb_text, read_ca_trace, write_ca_pdb
from rdlab.data.video import DEFAULT_FPS, Video, is_video_path, read_video, write_video
from rdlab.errors import InputError
from rdlab.metrics import audio_psnr_db, rmsd, snr_db, video_psnr_db

DATA = Path(__file__).parent / "data" / "inr"
SPEECH = DATA / "speech_ru_0181_0p5s.flac"
PDB = DATA / "cytc_d1kyow_.pdb.gz"
CIF = DATA / "cytc_d1kyow_.cif"
APNG = DATA / "carphone_8x32x32.png"


# ------------------------------------------------------------------------- audio
def test_read_shipped_speech_clip():
    audio = read_audio(SPEECH)
    assert audio.sample_rate == 16000
    assert audio.samples.dtype == np.float32 and audio.samples.shape == (8000,)
    assert audio.samples.min() >= -1.0 and audio.samples.max() < 1.0
    pcm = audio.samples.astype(np.float64) / PCM16_SCALE  # exactly integers: k / 32768
    assert np.array_equal(pcm, np.rint(pcm))
    raw, _ = soundfile.read(SPEECH, dtype="int16")
    assert np.array_equal(audio.samples, raw.astype(np.float32) / 32768)


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_audio_round_trip_is_exact(tmp_path, suffix):
    audio = read_audio(SPEECH)
    out = tmp_path / f"clip{suffix}"
    size = write_audio(out, audio)
    assert size == out.stat().st_size
    back = read_audio(out)
    assert back.sample_rate == audio.sample_rate
    assert np.array_equal(back.samples, audio.samples)


def test_audio_writer_rounds_and_clips(tmp_path):
    samples = np.array([-1.5, -1.0, -0.25, 0.0, 1e-6, 0.5, 0.99999, 1.0, 2.0], np.float32)
    out = tmp_path / "synthetic.wav"
    write_audio(out, Audio(samples, 8000))
    raw, rate = soundfile.read(out, dtype="int16")
    assert rate == 8000
    assert raw.tolist() == [-32768, -32768, -8192, 0, 0, 16384, 32767, 32767, 32767]


def test_audio_writer_refuses_overwrite_and_bad_suffix(tmp_path):
    audio = Audio(np.zeros(10, np.float32), 16000)
    out = tmp_path / "a.wav"
    write_audio(out, audio)
    with pytest.raises(InputError, match="exists"):
        write_audio(out, audio)
    write_audio(out, audio, overwrite=True)
    with pytest.raises(InputError, match="suffix"):
        write_audio(tmp_path / "a.mp3", audio)


def test_audio_reader_refusals(tmp_path):
    stereo = tmp_path / "stereo.wav"
    soundfile.write(stereo, np.zeros((100, 2), np.int16), 16000, subtype="PCM_16")
    with pytest.raises(InputError, match="2 channels"):
        read_audio(stereo)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.int16), 16000, subtype="PCM_16")
    with pytest.raises(InputError, match="no samples"):
        read_audio(empty)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    with pytest.raises(InputError, match="libsndfile"):
        read_audio(junk)
    with pytest.raises(InputError, match="does not exist"):
        read_audio(tmp_path / "missing.flac")
    with pytest.raises(InputError):
        Audio(np.zeros((2, 3), np.float32), 16000)
    with pytest.raises(InputError):
        Audio(np.zeros(3, np.float32), 0)
    with pytest.raises(InputError):
        Audio(np.array([0.0, np.nan]), 16000)


def test_resample_keeps_the_band_and_removes_what_lies_above_it():
    """16 kHz -> 8 kHz: a 440 Hz tone of amplitude 0.5 survives (max error < 2e-3 away
    from the ends; measured 7.7e-4), a 6 kHz tone (above the new 4 kHz Nyquist) is
    filtered out (< 1 % of its RMS left; measured 0.05 %), and 8 kHz -> 16 kHz -> 8 kHz
    gives the tone back (< 2e-3; measured 9.9e-4)."""
    t = np.arange(16000) / 16000.0
    low = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    high = 0.5 * np.sin(2 * np.pi * 6000.0 * t)
    down = resample(Audio(low + high, 16000), 8000)
    assert down.sample_rate == 8000 and down.samples.shape == (8000,)
    expect = 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(8000) / 8000.0)
    inner = slice(200, -200)
    assert np.max(np.abs(down.samples[inner] - expect[inner])) < 2e-3
    only_high = resample(Audio(high, 16000), 8000).samples[inner]
    assert np.sqrt(np.mean(only_high**2)) < 0.01 * np.sqrt(np.mean(high**2))
    up_down = resample(resample(Audio(expect, 8000), 16000), 8000)
    assert np.max(np.abs(up_down.samples[inner] - expect[inner])) < 2e-3
    same = Audio(expect, 8000)
    assert resample(same, 8000) is same
    for bad in (0, -8000, 8000.5, True):
        with pytest.raises(InputError, match="sample_rate"):
            resample(same, bad)


# ---------------------------------------------------------------------- proteins
def test_read_shipped_pdb():
    trace = read_ca_trace(PDB)
    assert len(trace) == 108 and trace.coords.shape == (108, 3)
    assert trace.coords.dtype == np.float64
    assert trace.chain_id == "W"
    assert trace.residue_names[:3] == ("THR", "GLU", "PHE")
    assert trace.residue_numbers[0] == 1 and trace.residue_numbers[-1] == 108
    assert trace.coords[0].tolist() == [1.431, -87.046, 21.386]
    # residue 77 is HETATM trimethyl-lysine; its C-alpha counts
    assert trace.residue_names[76] == "M3L"
    assert trace.coords[76].tolist() == [10.457, -68.660, 31.460]


def test_mmcif_and_pdb_readers_agree_exactly():
    pdb, cif = read_ca_trace(PDB), read_ca_trace(CIF)
    assert np.array_equal(pdb.coords, cif.coords)
    assert pdb.residue_names == cif.residue_names
    assert pdb.residue_numbers == cif.residue_numbers
    assert pdb.chain_id == cif.chain_id == "W"
    assert read_ca_trace(CIF, chain="W").coords.shape == (108, 3)


@pytest.mark.parametrize("name", ["ca.pdb", "ca.pdb.gz"])
def test_ca_pdb_round_trip(tmp_path, name):
    trace = read_ca_trace(PDB)
    out = tmp_path / name
    write_ca_pdb(out, trace)
    back = read_ca_trace(out)
    assert np.array_equal(back.coords, trace.coords)
    assert back.residue_names == trace.residue_names
    assert back.residue_numbers == trace.residue_numbers
    assert back.chain_id == trace.chain_id
    with pytest.raises(InputError, match="exists"):
        write_ca_pdb(out, trace)


def test_ca_pdb_text_layout():
    trace = CaTrace(np.array([[1.0, -2.5, 300.125], [0, 0, 0]]), ("GLY", "ALA"), (5, 6), "B")
    lines = ca_pdb_text(trace).splitlines()
    assert lines[0] == (
        "ATOM      1  CA  GLY B   5       1.000  -2.500 300.125  1.00  0.00           C  "
    )
    assert lines[0][30:38] == "   1.000" and lines[0][12:16] == " CA "
    assert lines[-2].startswith("TER       3      ALA B   6") and lines[-1] == "END"


def _atom(serial, name, resname, chain, number, xyz, record="ATOM  ", alt=" ", element="C"):
    x, y, z = xyz
    return (
        f"{record}{serial:5d} {name:<4s}{alt}{resname:>3s} {chain}{number:4d}    "
        f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          {element:>2s}"
    )


def test_pdb_reader_rules(tmp_path):
    lines = [
        "MODEL        1",
        _atom(1, " N", "GLY", "A", 1, (0, 0, 0), element="N"),
        _atom(2, " CA", "GLY", "A", 1, (1, 1, 1)),
        _atom(3, " CA", "SER", "A", 2, (2, 2, 2), alt="A"),
        _atom(4, " CA", "SER", "A", 2, (9, 9, 9), alt="B"),
        _atom(5, "CA", " CA", "A", 3, (5, 5, 5), record="HETATM", element="CA"),  # calcium
        _atom(6, " CA", "ALA", "B", 1, (3, 3, 3)),
        "ENDMDL",
        "MODEL        2",
        _atom(7, " CA", "GLY", "A", 1, (7, 7, 7)),
        "ENDMDL",
    ]
    path = tmp_path / "rules.pdb"
    path.write_text("\n".join(lines) + "\n")
    first = read_ca_trace(path)
    assert first.chain_id == "A" and first.residue_names == ("GLY", "SER")
    assert first.coords.tolist() == [[1, 1, 1], [2, 2, 2]]
    chain_b = read_ca_trace(path, chain="B")
    assert chain_b.coords.tolist() == [[3, 3, 3]] and chain_b.residue_names == ("ALA",)
    with pytest.raises(InputError, match="chain 'C'"):
        read_ca_trace(path, chain="C")


def test_protein_reader_refusals(tmp_path):
    no_ca = tmp_path / "no_ca.pdb"
    no_ca.write_text(_atom(1, " N", "GLY", "A", 1, (0, 0, 0), element="N") + "\nEND\n")
    with pytest.raises(InputError, match="no C-alpha"):
        read_ca_trace(no_ca)
    gz = tmp_path / "no_ca.pdb.gz"
    gz.write_bytes(gzip.compress(no_ca.read_bytes()))
    with pytest.raises(InputError, match="no C-alpha"):
        read_ca_trace(gz)
    with pytest.raises(InputError, match="does not exist"):
        read_ca_trace(tmp_path / "missing.pdb")
    with pytest.raises(InputError):
        CaTrace(np.zeros((2, 2)), ("A", "B"), (1, 2), "A")
    with pytest.raises(InputError):
        CaTrace(np.zeros((2, 3)), ("GLY",), (1, 2), "A")


# ------------------------------------------------------------------------- video
def test_read_shipped_apng():
    video = read_video(APNG)
    assert video.frames.shape == (8, 32, 32, 3) and video.frames.dtype == np.uint8
    assert video.fps == pytest.approx(30000 / 1001)
    assert is_video_path(APNG)
    assert read_video(APNG, max_frames=3).frames.shape == (3, 32, 32, 3)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("target", ["clip.png", "clip.npy", "frames/", "frames_dir"])
def test_video_round_trips_are_lossless(tmp_path, channels, target):
    rng = np.random.default_rng(channels)
    frames = rng.integers(0, 256, (5, 6, 7, channels), dtype=np.uint8)
    frames[2] = frames[1]  # a repeated frame must survive (APNG writers like to merge them)
    video = Video(frames, 12.5)
    out = os.path.join(tmp_path, target)
    assert write_video(out, video) > 0
    back = read_video(out)
    assert np.array_equal(back.frames, frames)
    assert back.fps == (DEFAULT_FPS if target.endswith(".npy") else 12.5)
    assert is_video_path(out)
    with pytest.raises(InputError, match="exists"):
        write_video(out, video)
    write_video(out, Video(frames[:2], 10), overwrite=True)
    assert read_video(out).frames.shape[0] == 2


def test_shipped_apng_survives_every_writer(tmp_path):
    video = read_video(APNG)
    for target in ("a.png", "a.npy", "a/"):
        out = os.path.join(tmp_path, target)
        write_video(out, video)
        assert np.array_equal(read_video(out).frames, video.frames)


def test_container_video_with_pyav(tmp_path):
    av = pytest.importorskip("av")
    path = tmp_path / "tiny.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv420p"
        for k in range(4):
            image = np.full((16, 32, 3), 40 * k, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    video = read_video(path)
    assert video.frames.shape == (4, 16, 32, 3)
    assert video.fps == pytest.approx(10)
    assert np.abs(video.frames[3].astype(int) - 120).max() <= 8
    assert read_video(path, max_frames=2).frames.shape[0] == 2
    assert is_video_path(path)


def test_container_without_pyav_says_how_to_install(tmp_path, monkeypatch):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\0" * 16)
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(InputError, match=r"pip install rdlab\[video\]"):
        read_video(path)


def test_video_refusals(tmp_path):
    with pytest.raises(InputError):
        Video(np.zeros((2, 4, 4, 2), np.uint8), 25)
    with pytest.raises(InputError):
        Video(np.zeros((2, 4, 4, 3), np.float32), 25)
    with pytest.raises(InputError):
        Video(np.zeros((2, 4, 4, 3), np.uint8), 0)
    floats = tmp_path / "f.npy"
    np.save(floats, np.zeros((2, 4, 4), np.float32))
    with pytest.raises(InputError, match="uint8"):
        read_video(floats)
    with pytest.raises(InputError, match="does not exist"):
        read_video(tmp_path / "missing.mp4")
    with pytest.raises(InputError, match=r"without \.png"):
        read_video(tmp_path)
    with pytest.raises(InputError, match=r"\.png \(APNG\)"):
        write_video(tmp_path / "x.mp4", Video(np.zeros((1, 2, 2, 1), np.uint8), 25))
    assert not is_video_path(tmp_path / "missing.gif")
    image = tmp_path / "still.npy"
    np.save(image, np.zeros((4, 4, 3), np.uint8))
    assert not is_video_path(image)


# ----------------------------------------------------------------------- metrics
def test_signal_metrics_values():
    ref = np.array([1.0, -1.0, 1.0, -1.0])
    test = ref + np.array([0.1, -0.1, 0.1, -0.1])
    assert snr_db(ref, test) == pytest.approx(20.0)
    assert audio_psnr_db(ref, test) == pytest.approx(10 * math.log10(4 / 0.01))
    assert snr_db(ref, ref) == math.inf
    with pytest.raises(InputError):
        snr_db(ref, ref[:3])
    frames = np.zeros((2, 4, 4, 3), np.uint8)
    noisy = frames.copy()
    noisy[0, 0, 0, 0] = 255  # MSE = 255² / 96
    assert video_psnr_db(frames, noisy) == pytest.approx(10 * math.log10(96))


def test_rmsd_with_and_without_superposition():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 10, (50, 3))
    angle = 0.7
    rotation = np.array(
        [[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]]
    )
    b = a @ rotation.T + np.array([5.0, -3.0, 2.0])
    assert rmsd(a, b) > 1.0
    assert rmsd(a, b, superpose=True) == pytest.approx(0.0, abs=1e-9)
    shift = np.zeros_like(a)
    shift[:, 0] = 2.0
    assert rmsd(a, a + shift) == pytest.approx(2.0)
    with pytest.raises(InputError):
        rmsd(a[:, :2], b[:, :2])
