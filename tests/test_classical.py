"""Classical codecs (JPEG, WebP, JPEG 2000, AVIF, HEIC, JPEG XL) behind the codec protocol."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from rdlab.codecs import available_codecs, classical, registry
from rdlab.codecs.classical import (
    CodecUnavailableError,
    available_classical_codecs,
    chroma_subsampling,
    get_classical_codec,
    payload_bytes,
)
from rdlab.data import read_image, sample_path
from rdlab.errors import InputError, ModelError

AVAILABLE = [name for name, ok in available_classical_codecs().items() if ok]
# Three qualities per codec from low to high, on each codec's own scale.
SWEEPS = {
    "jpeg": (10, 40, 85),
    "webp": (10, 50, 90),
    "jpeg2000": (0.2, 0.6, 1.8),
    "avif": (20, 50, 80),
    "heic": (15, 35, 55),
    "jxl": (15, 50, 85),
}


@pytest.fixture(scope="module")
def photo():
    return read_image(sample_path())


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


def test_pillow_core_codecs_are_available():
    # Pillow 13 in the test environment has JPEG, WebP, OpenJPEG and libavif.
    for name in ("jpeg", "webp", "jpeg2000", "avif"):
        assert name in AVAILABLE, name


@pytest.mark.parametrize("name", AVAILABLE)
def test_round_trip_shape_and_dtype(name, photo):
    codec = get_classical_codec(name)
    data = codec.encode(photo)
    assert isinstance(data, bytes) and len(data) > 0
    out = codec.decode(data)
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert _psnr(photo, out) > 25


@pytest.mark.parametrize("name", AVAILABLE)
def test_size_and_psnr_are_monotone_in_quality(name, photo):
    sizes, psnrs = [], []
    for q in SWEEPS[name]:
        codec = get_classical_codec(name, q)
        data = codec.encode(photo)
        sizes.append(len(data))
        psnrs.append(_psnr(photo, codec.decode(data)))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes), sizes
    assert psnrs == sorted(psnrs), psnrs


@pytest.mark.parametrize("name", AVAILABLE)
def test_odd_sizes_and_greyscale(name):
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, size=(9, 12), dtype=np.uint8)
    image = np.kron(base, np.ones((5, 5), np.uint8))[:37, :53]  # blocky, odd sides
    rgb = np.stack([image, 255 - image, image // 2], axis=-1)
    codec = get_classical_codec(name)
    assert codec.decode(codec.encode(rgb)).shape == rgb.shape
    out = codec.decode(codec.encode(image))
    # WebP has no greyscale mode: it comes back as three equal channels.
    assert out.shape == ((37, 53, 3) if name == "webp" else (37, 53))


@pytest.mark.parametrize("name", AVAILABLE)
def test_chroma_sampling_is_444_where_the_format_allows(name, photo):
    data = get_classical_codec(name).encode(photo)
    assert chroma_subsampling(name, data) == ("4:2:0" if name == "webp" else "4:4:4")


def test_jpeg_is_444_per_pillow(photo):
    data = get_classical_codec("jpeg", 50).encode(photo)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        assert JpegImagePlugin.get_sampling(image) == 0


@pytest.mark.parametrize("name", AVAILABLE)
def test_bytes_are_the_real_file_format(name, photo):
    data = get_classical_codec(name).encode(photo)
    magic = {
        "jpeg": data[:3] == b"\xff\xd8\xff",
        "webp": data[:4] == b"RIFF" and data[8:12] == b"WEBP",
        "jpeg2000": data[4:8] == b"jP  ",
        "avif": data[4:12] == b"ftypavif",
        "heic": data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1"),
        "jxl": data[:2] == b"\xff\x0a" or data[4:8] == b"JXL ",
    }
    assert magic[name], data[:16]
    assert data[1:4] != b"RDL"
    assert 0 < payload_bytes(name, data) <= len(data)


def test_jpeg2000_quality_is_a_target_rate(photo):
    h, w = photo.shape[:2]
    for bpp in (0.25, 1.0):
        data = get_classical_codec("jp2", bpp).encode(photo)
        codestream_bpp = 8 * payload_bytes("jpeg2000", data) / (h * w)
        assert codestream_bpp == pytest.approx(bpp, rel=0.1)


def test_names_are_case_insensitive_with_aliases():
    assert get_classical_codec("JPEG", 50).name == "jpeg"
    assert get_classical_codec("Jp2", 0.5).name == "jpeg2000"
    if "jxl" in AVAILABLE:
        assert get_classical_codec("JpegXL", 50).name == "jxl"


def test_unknown_codec_and_bad_quality_are_input_errors():
    with pytest.raises(InputError) as info:
        get_classical_codec("bmp", 50)
    assert info.value.argument == "codecs"
    with pytest.raises(InputError):
        get_classical_codec("jpeg", 101)
    with pytest.raises(InputError):
        get_classical_codec("jpeg2000", -1)


def test_default_sweeps_are_increasing_and_in_range():
    for name in registry.bench_codecs():
        scale = registry.codec_spec(name).quality
        # 4 at least: a codec that fits each image for minutes (overfit) sweeps 4 rates
        assert 4 <= len(scale.sweep) <= 10
        assert list(scale.sweep) == sorted(scale.sweep)
        for q in scale.sweep:
            assert scale.check(q, name) == q
    assert classical.JpegCodec.qualities == registry.codec_spec("jpeg").quality.sweep


def test_missing_plugin_is_reported_unavailable(monkeypatch):
    classical.works.cache_clear()
    original = classical._jxl_backend
    monkeypatch.setattr(classical, "_jxl_backend", lambda: None)
    try:
        assert available_classical_codecs()["jxl"] is False
        with pytest.raises(CodecUnavailableError) as info:
            get_classical_codec("jxl", 50)
        assert isinstance(info.value, ModelError)
        assert "unavailable" in str(info.value)
    finally:
        monkeypatch.setattr(classical, "_jxl_backend", original)
        classical.works.cache_clear()


def test_classical_codecs_are_registered_but_decode_no_rdl_files():
    names = set(available_classical_codecs())
    assert names == {"jpeg", "webp", "jpeg2000", "avif", "heic", "jxl"}
    assert names <= set(registry.codec_specs())
    assert not set(available_codecs()) & names


def test_chroma_inspection_tells_420_from_444(photo):
    # The header parsers must see a difference, or the 4:4:4 checks above prove nothing.
    if "avif" in AVAILABLE:
        buffer = io.BytesIO()
        Image.fromarray(photo).save(buffer, format="AVIF", quality=50, subsampling="4:2:0")
        assert chroma_subsampling("avif", buffer.getvalue()) == "4:2:0"
    if "heic" in AVAILABLE:
        import pillow_heif

        buffer = io.BytesIO()
        pillow_heif.from_pillow(Image.fromarray(photo)).save(
            buffer, format="HEIF", quality=50, chroma=420
        )
        assert chroma_subsampling("heic", buffer.getvalue()) == "4:2:0"
        data = get_classical_codec("heic", 50).encode(photo)
        assert pillow_heif.open_heif(io.BytesIO(data)).info["chroma"] == 444
