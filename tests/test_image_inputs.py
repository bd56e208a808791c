"""Image inputs that used to lose data silently: 16-bit samples, animations, huge images,
and the messages that refuse them (issue 22, items 1-3 and 12)."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import png
import pytest
from PIL import Image

import rdlab._memory as memory
from rdlab.codecs import get_codec
from rdlab.container import decode_rdl
from rdlab.data import check_image_header, probe_image, read_image, write_png
from rdlab.data.images import png_bytes, write_image
from rdlab.errors import FormatError, InputError


def _wide_rgb(h: int = 24, w: int = 31, seed: int = 0) -> np.ndarray:
    """A smooth 16-bit RGB image whose low bytes matter (thousands of distinct values)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 20000 + 700 * x[..., None] + 450 * y[..., None] + np.array([0, 3000, 9000])
    return np.clip(base + rng.integers(-300, 300, (h, w, 3)), 0, 65535).astype(np.uint16)


def _png16(path, image: np.ndarray, alpha: np.ndarray | None = None) -> None:
    """Write a 16-bit PNG with pypng (any colour type, unlike Pillow)."""
    h, w = image.shape[:2]
    planes = image.reshape(h, w, -1)
    if alpha is not None:
        planes = np.concatenate([planes, alpha.reshape(h, w, 1)], axis=2)
    grey = planes.shape[2] in (1, 2)
    writer = png.Writer(w, h, greyscale=grey, alpha=alpha is not None, bitdepth=16)
    with open(path, "wb") as handle:
        writer.write(handle, planes.reshape(h, -1))


# ------------------------------------------------------------------ item 1: 16 bits
def test_16_bit_rgb_png_is_refused_by_default_not_cut(tmp_path):
    image = _wide_rgb()
    path = tmp_path / "rgb16.png"
    _png16(path, image)
    with pytest.raises(InputError, match=r"^input: .*rgb16\.png has 16-bit samples"):
        read_image(path)


def test_16_bit_rgb_png_round_trips_exactly_through_the_lossless_codec(tmp_path):
    image = _wide_rgb()
    assert np.unique(image).size > 256
    source = tmp_path / "rgb16.png"
    _png16(source, image)
    info = probe_image(source)
    assert (info.width, info.height, info.channels, info.bit_depth) == (31, 24, 3, 16)
    read = read_image(source, bit_depth="keep")
    assert read.dtype == np.uint16 and np.array_equal(read, image)
    codec = get_codec("lossless")
    decoded = codec.decode(codec.encode(read))
    assert decoded.dtype == np.uint16 and np.array_equal(decoded, image)
    target = tmp_path / "back.png"
    write_png(target, decoded)
    assert probe_image(target).bit_depth == 16
    assert np.array_equal(read_image(target, bit_depth="keep"), image)


def test_16_bit_grey_png_and_tiff_round_trip(tmp_path):
    grey = _wide_rgb()[..., 1]
    for name in ("g16.png", "g16.tif"):
        path = tmp_path / name
        if name.endswith(".png"):
            _png16(path, grey)
        else:
            Image.fromarray(grey).save(path)
        read = read_image(path, bit_depth="keep")
        assert read.dtype == np.uint16 and np.array_equal(read, grey)
        codec = get_codec("lossless")
        assert np.array_equal(codec.decode(codec.encode(read)), grey)
    write_png(tmp_path / "w.png", grey)
    assert np.array_equal(read_image(tmp_path / "w.png", bit_depth="keep"), grey)


@pytest.mark.parametrize("image_format", ["PNG", "TIFF", "PPM"])
def test_16_bit_grey_writes_and_reads_back_in_each_lossless_format(tmp_path, image_format):
    grey = _wide_rgb()[..., 2]
    suffix = {"PNG": "png", "TIFF": "tif", "PPM": "pgm"}[image_format]  # grey: .pgm
    path = tmp_path / f"g.{suffix}"
    write_image(path, grey, image_format=image_format)
    assert probe_image(path).bit_depth == 16
    assert np.array_equal(read_image(path, bit_depth="keep"), grey)


def test_formats_that_cannot_hold_16_bits_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"^output: BMP holds no 16-bit"):
        write_image(tmp_path / "a.bmp", _wide_rgb()[..., 0], image_format="BMP")
    with pytest.raises(InputError, match=r"^output: 16-bit colour is written as PNG only"):
        write_image(tmp_path / "a.tif", _wide_rgb(), image_format="TIFF")
    assert not list(tmp_path.iterdir())


def test_reduce_keeps_the_high_byte_and_8_bit_files_are_unchanged(tmp_path):
    image = _wide_rgb()
    path = tmp_path / "rgb16.png"
    _png16(path, image)
    reduced = read_image(path, bit_depth="reduce")
    assert reduced.dtype == np.uint8 and np.array_equal(reduced, image >> 8)
    eight = (image >> 8).astype(np.uint8)
    write_png(tmp_path / "rgb8.png", eight)
    for mode in ("8", "keep", "reduce"):
        got = read_image(tmp_path / "rgb8.png", bit_depth=mode)
        assert got.dtype == np.uint8 and np.array_equal(got, eight)
    with pytest.raises(InputError, match="bit_depth"):
        read_image(path, bit_depth="16")


def test_16_bit_alpha_is_dropped_only_when_fully_opaque(tmp_path):
    image = _wide_rgb()
    alpha = np.full(image.shape[:2], 65535, np.uint16)
    _png16(tmp_path / "opaque.png", image, alpha)
    assert np.array_equal(read_image(tmp_path / "opaque.png", bit_depth="keep"), image)
    alpha[3, 4] = 65534  # nearly opaque: still alpha that would be lost
    _png16(tmp_path / "translucent.png", image, alpha)
    for mode in ("keep", "reduce"):
        with pytest.raises(InputError, match="transparent"):
            read_image(tmp_path / "translucent.png", bit_depth=mode)


def test_png_bytes_refuses_what_png_cannot_hold():
    with pytest.raises(InputError, match="image"):
        png_bytes(np.zeros((4, 4), np.int32))
    with pytest.raises(InputError, match="image"):
        png_bytes(np.zeros((4, 4, 2), np.uint16))


# ---------------------------------------------------------------- item 2: animations
@pytest.mark.parametrize("suffix", ["gif", "png", "webp"])
def test_animated_files_are_refused_naming_the_frame_count(tmp_path, suffix):
    frames = [Image.new("RGB", (16, 12), (c, 255 - c, 40)) for c in (0, 90, 180)]
    path = tmp_path / f"anim.{suffix}"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=40)
    with pytest.raises(InputError, match=r"holds 3 frames.*--codec inr reads animated files"):
        read_image(path)
    assert probe_image(path).frames == 3


# --------------------------------------------------------------- item 3: huge images
def _header_only_png(path, width: int, height: int) -> None:
    """A PNG whose header claims ``width x height`` 8-bit RGB pixels (the data is short)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (3 * width + 1))
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
    path.write_bytes(data + chunk(b"IEND", b""))


def test_a_huge_image_is_probed_and_refused_before_decoding(tmp_path):
    path = tmp_path / "huge.png"
    _header_only_png(path, 20000, 20000)
    info = probe_image(path)  # Pillow's bomb check would raise here
    assert (info.width, info.height, info.bit_depth, info.frames) == (20000, 20000, 8, 1)
    with pytest.raises(InputError, match=r"400\.0 Mpixel, more than the 1\.0 Mpixel"):
        check_image_header(info, max_pixels=10**6)
    with pytest.raises(InputError, match=r"^input: .*400\.0 Mpixel, more than the 1\.0 Mpixel"):
        read_image(path, max_pixels=10**6)


def test_pillows_bomb_limit_never_decides(tmp_path, monkeypatch):
    image = np.arange(64 * 48 * 3, dtype=np.uint32).reshape(64, 48, 3).astype(np.uint8)
    write_png(tmp_path / "a.png", image)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    assert np.array_equal(read_image(tmp_path / "a.png"), image)
    assert Image.MAX_IMAGE_PIXELS == 100  # restored after reading


def test_an_image_larger_than_memory_is_refused(tmp_path, monkeypatch):
    write_png(tmp_path / "a.png", np.zeros((64, 64, 3), np.uint8))
    monkeypatch.setattr(memory, "memory_limits", lambda: {"cgroup": 4096})
    with pytest.raises(InputError, match=r"^compare: reading .*needs about .* \(cgroup\)"):
        read_image(tmp_path / "a.png", field="compare")


def _fake_files(monkeypatch, files: dict[str, str]) -> None:
    monkeypatch.setattr(memory, "_read_text", files.get)


def test_cgroup_v2_and_v1_limits_are_read(monkeypatch):
    gib = 2**30
    _fake_files(
        monkeypatch,
        {
            "/proc/self/cgroup": "0::/user/job\n",
            "/sys/fs/cgroup/user/job/memory.max": f"{4 * gib}\n",
            "/sys/fs/cgroup/user/job/memory.current": f"{gib}\n",
            "/sys/fs/cgroup/user/job/memory.stat": f"anon 1\ninactive_file {gib // 2}\n",
            "/sys/fs/cgroup/user/memory.max": "max\n",
            "/proc/meminfo": "MemTotal: 100 kB\nMemAvailable:   16777216 kB\n",
        },
    )
    assert memory.memory_limits()["cgroup"] == 4 * gib - gib // 2
    assert memory.available_memory_bytes() == 4 * gib - gib // 2
    _fake_files(
        monkeypatch,
        {
            "/proc/self/cgroup": "4:memory:/process/x\n3:cpu:/\n",
            "/sys/fs/cgroup/memory/process/x/memory.limit_in_bytes": "9223372036854771712",
            "/sys/fs/cgroup/memory/process/memory.limit_in_bytes": f"{2 * gib}",
            "/sys/fs/cgroup/memory/process/memory.usage_in_bytes": f"{gib}",
        },
    )
    assert memory.memory_limits()["cgroup"] == gib
    assert "available" not in memory.memory_limits()


def test_memory_of_this_process_is_known_on_linux():
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    available = memory.available_memory_bytes()
    assert available is not None and available > 2**20
    memory.require_memory(1, "a byte")
    with pytest.raises(InputError, match="needs about"):
        memory.require_memory(available * 4, "this")


_RSS_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from rdlab.codecs import get_codec
    h, w, c, depth = (int(v) for v in sys.argv[1:])
    codec = get_codec("lossless")
    dtype = np.uint16 if depth == 16 else np.uint8
    rng = np.random.default_rng(0)
    ramp = (np.arange(w) * (2 ** (depth - 8)) // 4).astype(dtype)
    image = np.empty((h, w, c), dtype)
    image[:] = ramp[None, :, None]
    image += rng.integers(0, 4, (h, w, c), dtype=dtype)
    def status(key):  # this process's memory; VmHWM is its peak (ru_maxrss is not:
        with open("/proc/self/status") as f:  # it counts the parent's before exec)
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key))
    before = status("VmRSS:")
    codec.encode(image)
    print(status("VmHWM:") - before + image.nbytes)
    """
)


@pytest.mark.parametrize(("channels", "depth"), [(3, 8), (1, 16), (3, 16)])
def test_lossless_peak_memory_estimate_covers_a_measured_encode(channels, depth):
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")
    h, w = 768, 1024
    run = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(h), str(w), str(channels), str(depth)],
        capture_output=True,
        text=True,
        check=True,
        env={"OMP_NUM_THREADS": "1", "PATH": ""},
    )
    measured = int(run.stdout.split()[-1])
    estimate = get_codec("lossless").peak_memory_bytes(h, w, channels, depth)
    assert measured <= estimate <= 4 * measured + 256 * 2**20


def test_hyperprior_peak_memory_grows_with_the_image():
    codec = get_codec("hyperprior")
    sizes = [codec.peak_memory_bytes(s, s) for s in (64, 512, 2048, 8192)]
    assert sizes == sorted(sizes) and sizes[0] > 100 * 2**20
    assert sizes[-1] - sizes[-2] > 40 * 8192**2  # linear in the pixels beyond the bands
    assert get_codec("hyperprior", refine=5).peak_memory_bytes(512, 512) > sizes[1]


# -------------------------------------------------------------- item 12: messages
def test_a_refused_mode_names_the_file_once_and_the_field(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (10, 20, 30, 40)).save(path)
    with pytest.raises(InputError) as caught:
        read_image(path)
    assert str(caught.value).count("cmyk.jpg") == 1
    with pytest.raises(InputError) as caught:
        read_image(path, field="compare")
    message = str(caught.value)
    assert message.startswith("compare: ") and message.count("cmyk.jpg") == 1
    assert "mode CMYK" in message
    with pytest.raises(InputError, match=r"^compare: .*missing\.png does not exist"):
        read_image(tmp_path / "missing.png", field="compare")


# ------------------------------------------------------- item 12: lossless store raw
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(40, 56, 3), (33, 20)])
def test_lossless_never_expands_noise_beyond_raw(dtype, shape):
    rng = np.random.default_rng(3)
    noise = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    codec = get_codec("lossless")
    data = codec.encode(noise)
    assert len(data) <= noise.nbytes + 200  # raw samples plus the header
    decoded = codec.decode(data)
    assert decoded.dtype == noise.dtype and np.array_equal(decoded, noise)
    file = decode_rdl(data)
    assert (file.codec_version, file.metadata["storage"]) == ("2", "raw")


def test_raw_lossless_files_check_their_length():
    noise = np.random.default_rng(4).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    data = get_codec("lossless").encode(noise)
    file = decode_rdl(data)
    from rdlab.container import Chunk, RdlFile, encode_rdl

    short = RdlFile(
        file.codec, file.codec_version, b"", file.metadata, (Chunk("RAWS", data[-100:]),)
    )
    with pytest.raises(FormatError, match="RAWS"):
        get_codec("lossless").decode(encode_rdl(short))


def test_lossless_16_bit_files_refuse_corruption():
    codec = get_codec("lossless")
    data = bytearray(codec.encode(_wide_rgb(40, 40)))
    for position in range(0, len(data), max(1, len(data) // 61)):
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        with pytest.raises(FormatError):
            codec.decode(bytes(damaged))


def test_12_bit_samples_in_16_cost_no_more_than_12_bits():
    image = (_wide_rgb(48, 48) >> 4) << 4  # 12-bit data stored in the high bits
    codec = get_codec("lossless")
    data = codec.encode(image)
    assert decode_rdl(data).metadata["shift"] == 4
    twelve = codec.encode(image >> 4)  # the same samples as 12-bit values
    assert decode_rdl(twelve).metadata["shift"] == 0
    # the same coded bytes; the metadata differs only in digits (shift 4 vs 0, peak)
    assert len(data) <= len(twelve) + 2
    assert np.array_equal(codec.decode(data), image)


def test_png_written_by_pillow_reads_the_same(tmp_path):
    image = (np.arange(20 * 30 * 3) % 251).astype(np.uint8).reshape(20, 30, 3)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    (tmp_path / "p.png").write_bytes(buffer.getvalue())
    assert np.array_equal(read_image(tmp_path / "p.png"), image)


def test_video_frames_of_16_bits_are_refused_not_cut(tmp_path):
    """A folder of 16-bit RGB PNG frames (Pillow opens them as 8-bit RGB) is refused by
    the video reader rather than cut to 8 bits; 8-bit frames still read."""
    from rdlab.data.images import write_image
    from rdlab.data.video import read_video

    rng = np.random.default_rng(3)
    wide, narrow = tmp_path / "wide", tmp_path / "narrow"
    wide.mkdir()
    narrow.mkdir()
    for i in range(2):
        frame = rng.integers(0, 65536, (8, 10, 3), dtype=np.uint16)
        write_image(wide / f"f{i}.png", frame)
        write_image(narrow / f"f{i}.png", (frame >> 8).astype(np.uint8))
    with pytest.raises(InputError, match="16-bit frames"):
        read_video(wide)
    assert read_video(narrow).frames.shape == (2, 8, 10, 3)


def test_a_context_model_counts_its_context_nets_in_the_memory_estimates(monkeypatch):
    """The checkerboard context nets run on the whole latent: encode and decode
    estimates grow by their per-pixel bytes (measured at 4000x3000, see the constants)."""
    from pathlib import Path

    from rdlab.codecs import hyperprior
    from rdlab.errors import SizeLimitError

    tiny = str(Path(__file__).parent / "data" / "context_tiny.safetensors")
    codec = get_codec("hyperprior", model=tiny, quality=1)
    assert codec.model.net.config.context == "checkerboard"
    plain = codec.peak_memory_bytes(2048, 2048)
    # the same codec with the context switched off in its config: only the context differs
    config = codec.model.net.config
    object.__setattr__(config, "context", None)
    try:
        without = codec.peak_memory_bytes(2048, 2048)
    finally:
        object.__setattr__(config, "context", "checkerboard")
    assert plain - without == hyperprior.CONTEXT_ENCODE_BYTES_PER_PIXEL * 2048 * 2048
    data = codec.encode(np.zeros((64, 64, 3), np.uint8))
    need = (hyperprior.DECODE_BYTES_PER_PIXEL + hyperprior.CONTEXT_DECODE_BYTES_PER_PIXEL) * 64**2
    monkeypatch.setattr(hyperprior, "available_memory_bytes", lambda: need - 1)
    with pytest.raises(SizeLimitError, match="needs about"):
        codec.decode(data)
    monkeypatch.setattr(hyperprior, "available_memory_bytes", lambda: need)
    assert codec.decode(data).shape == (64, 64, 3)
