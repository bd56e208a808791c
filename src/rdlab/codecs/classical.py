"""Classical image codecs (JPEG, WebP, JPEG 2000, AVIF, HEIC, JPEG XL) behind the codec protocol.

These codecs are *reference points* for benchmarks: ``encode`` returns the real file a
user would store (JPEG/WebP/JP2/AVIF/HEIC/JXL bytes, no ``.rdl`` wrapper) and ``decode``
reads such bytes back. Each is an entry of the one codec registry
(:mod:`rdlab.codecs.registry`), which holds their capabilities (format, suffix, quality
range and default sweep, what they need to run); make them with
:func:`rdlab.codecs.get_codec` (``get_codec("jpeg", quality=50)``) or
:func:`get_classical_codec`. They write no ``.rdl`` file, so they are not among the
codecs :func:`rdlab.codecs.known_codecs` lists for decoding ``.rdl`` files.

Input: ``(H, W, 3)`` or ``(H, W)`` uint8. ``decode`` returns ``(H, W, 3)`` uint8 for RGB
files and ``(H, W)`` for greyscale files; greyscale input is coded as greyscale where the
format has a greyscale mode (JPEG, JPEG 2000, AVIF 4:0:0, HEIC, JPEG XL) and replicated
to RGB for WebP (which has none), so a greyscale WebP decodes to ``(H, W, 3)``.

Codecs, quality scales and the exact options used (RGB input):

=========  ===============================  ===================================================
name       ``quality`` scale                options / chroma
=========  ===============================  ===================================================
jpeg       1..95 (libjpeg scale, Pillow     ``Image.save(format="JPEG", quality=q,
           advises against > 95)            subsampling=0, optimize=True)``: **4:4:4**, baseline
                                            sequential, optimized Huffman tables
webp       0..100 (libwebp ``-q``)          ``format="WEBP", quality=q, method=6``; lossy WebP
                                            (VP8) is **4:2:0 only** (no option exists)
jpeg2000   target rate in **bits per        ``format="JPEG2000", quality_mode="rates",
           pixel** (> 0), e.g. 0.1..2       quality_layers=[8*C/q], irreversible=True, mct=1``
                                            (C = channels; OpenJPEG's rate is a compression
                                            ratio against the raw 8-bit samples, so the
                                            codestream targets ``q`` bpp); CDF 9/7 wavelet +
                                            ICT, JP2 file format; **4:4:4** (no subsampling)
avif       0..100 (libavif quality; Pillow  ``format="AVIF", quality=q, subsampling="4:4:4",
           maps it to the quantizer)        speed=6, range="full"``: **4:4:4** (checked in
                                            the ``av1C`` box by :func:`chroma_subsampling`)
heic       0..100 (pillow-heif/libheif,     ``pillow_heif.from_pillow(im).save(buf,
           x265)                            format="HEIF", quality=q, chroma=444)``: **4:4:4**
                                            (checked in the ``hvcC`` box)
jxl        0..100 (libjxl quality, mapped   pillow-jxl-plugin ``format="JXL", quality=q,
           to Butteraugli distance by       effort=7, lossless=False``; VarDCT in XYB has no
           libjxl)                          chroma subsampling (**4:4:4**). Fallback:
                                            ``imagecodecs.jpegxl_encode(level=q, effort=7)``
=========  ===============================  ===================================================

Each codec's registry entry has a default sweep (``codec_spec(name).quality.sweep``, also
the class attribute ``qualities``), chosen to span roughly 0.1 to 2 bits per pixel on
photographs, lowest rate first.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import struct
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from .._arrays import to_numpy
from ..errors import FormatError, InputError, ModelError
from .registry import QualityRange, bench_codecs, codec_spec, get_codec_at, is_available
from .registry import unavailable_reason as _requires


class CodecUnavailableError(ModelError):
    """A classical codec exists but the library (or Pillow plugin) it needs is missing."""


# ----------------------------------------------------------------------------- helpers
def _check_image(x: Any) -> np.ndarray:
    image = to_numpy(x, "image")
    if image.dtype != np.uint8:
        raise InputError("image", f"must be uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise InputError("image", f"must have shape (H, W) or (H, W, 3), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError("image", f"is empty (shape {image.shape})")
    return np.ascontiguousarray(image)


def _to_array(image: Image.Image) -> np.ndarray:
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB" if image.mode not in ("1", "I;16", "I", "F") else "L")
    return np.asarray(image, dtype=np.uint8).copy()


def _pil_decode(data: bytes, what: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return _to_array(image)
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, ...
        raise FormatError(f"cannot decode the {what} data: {exc}") from None


def _pil_encode(image: np.ndarray, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **options)
    return buffer.getvalue()


# ------------------------------------------------------------------------------ codecs
class _ClassicalCodec:
    """A classical codec at one ``quality`` (its registry entry's scale and range; None:
    the middle of its default sweep). ``description``, ``qualities`` (the default sweep)
    and ``extension`` come from the entry."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    description: ClassVar[str]
    qualities: ClassVar[tuple[float, ...]]
    extension: ClassVar[str]
    pil_format: ClassVar[str | None] = None  # Pillow's format name, for the shared encode

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = codec_spec(cls.name)
        cls.description, cls.extension = spec.description, spec.suffix
        cls.qualities = cls._scale().sweep

    @classmethod
    def _scale(cls) -> QualityRange:
        scale = codec_spec(cls.name).quality
        if scale is None:
            raise ModelError(f"the registry entry of {cls.name} has no quality range")
        return scale

    def __init__(self, quality: float | None = None) -> None:
        scale = self._scale()
        self.quality = scale.check(scale.default if quality is None else quality, self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(quality={self.quality})"

    def options(self, image: np.ndarray) -> dict[str, Any]:
        """The encoder options used for ``image`` (documented per class)."""
        raise NotImplementedError

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        """The array handed to the encoder (a codec without greyscale overrides this)."""
        return image

    def encode(self, x: Any) -> bytes:
        """The real file a user would store (``pil_format`` through Pillow)."""
        if self.pil_format is None:
            raise NotImplementedError
        image = self._prepare(_check_image(x))
        return _pil_encode(image, self.pil_format, **self.options(image))

    def decode(self, data: bytes) -> np.ndarray:
        return _pil_decode(bytes(data), self.name)


class JpegCodec(_ClassicalCodec):
    """JPEG via Pillow/libjpeg: ``quality`` 1..95, 4:4:4, optimized Huffman tables."""

    name = "jpeg"
    pil_format = "JPEG"

    def options(self, image: np.ndarray) -> dict[str, Any]:
        return {"quality": self.quality, "subsampling": 0, "optimize": True}


class WebpCodec(_ClassicalCodec):
    """Lossy WebP via Pillow/libwebp: ``quality`` 0..100, ``method=6``; always 4:2:0."""

    name = "webp"
    pil_format = "WEBP"

    def options(self, image: np.ndarray) -> dict[str, Any]:
        return {"quality": self.quality, "method": 6, "lossless": False}

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        if image.ndim == 2:  # WebP has no greyscale mode
            return np.repeat(image[..., None], 3, axis=2)
        return image


class Jpeg2000Codec(_ClassicalCodec):
    """JPEG 2000 (JP2 file) via Pillow/OpenJPEG: ``quality`` is the target rate in bpp.

    One quality layer at compression ratio ``8 * channels / quality`` (OpenJPEG's
    ``rates`` mode), irreversible 9/7 wavelet, multiple-component transform (ICT) on RGB.
    """

    name = "jpeg2000"
    pil_format = "JPEG2000"

    def options(self, image: np.ndarray) -> dict[str, Any]:
        channels = 1 if image.ndim == 2 else 3
        return {
            "quality_mode": "rates",
            "quality_layers": [8.0 * channels / self.quality],
            "irreversible": True,
            "mct": 1 if channels == 3 else 0,
        }


class AvifCodec(_ClassicalCodec):
    """AVIF via Pillow's own AVIF plugin (libavif): ``quality`` 0..100, 4:4:4, speed 6."""

    name = "avif"
    pil_format = "AVIF"

    def options(self, image: np.ndarray) -> dict[str, Any]:
        return {
            "quality": self.quality,
            "subsampling": "4:0:0" if image.ndim == 2 else "4:4:4",
            "speed": 6,
            "range": "full",
        }


class HeicCodec(_ClassicalCodec):
    """HEIC via pillow-heif (libheif + x265): ``quality`` 0..100, ``chroma=444``."""

    name = "heic"

    def options(self, image: np.ndarray) -> dict[str, Any]:
        options: dict[str, Any] = {"format": "HEIF", "quality": self.quality}
        if image.ndim == 3:
            options["chroma"] = 444
        return options

    def encode(self, x: Any) -> bytes:
        image = _check_image(x)
        import pillow_heif

        buffer = io.BytesIO()
        pillow_heif.from_pillow(Image.fromarray(image)).save(buffer, **self.options(image))
        return buffer.getvalue()

    def decode(self, data: bytes) -> np.ndarray:
        try:
            import pillow_heif

            heif = pillow_heif.open_heif(io.BytesIO(bytes(data)), convert_hdr_to_8bit=True)
            return _to_array(heif.to_pillow())
        except Exception as exc:
            raise FormatError(f"cannot decode the heic data: {exc}") from None


class JxlCodec(_ClassicalCodec):
    """JPEG XL via pillow-jxl-plugin (or imagecodecs): ``quality`` 0..100, effort 7."""

    name = "jxl"

    def options(self, image: np.ndarray) -> dict[str, Any]:
        return {"quality": self.quality, "effort": 7, "lossless": False}

    def encode(self, x: Any) -> bytes:
        image = _check_image(x)
        backend = _jxl_backend()
        if backend == "pillow_jxl":
            import pillow_jxl  # noqa: F401  (registers the JXL format with Pillow)

            return _pil_encode(image, "JXL", **self.options(image))
        if backend == "imagecodecs":
            import imagecodecs

            return bytes(imagecodecs.jpegxl_encode(image, level=self.quality, effort=7))
        raise CodecUnavailableError(_requires("jxl"))

    def decode(self, data: bytes) -> np.ndarray:
        backend = _jxl_backend()
        if backend == "pillow_jxl":
            import pillow_jxl  # noqa: F401

            return _pil_decode(bytes(data), self.name)
        if backend == "imagecodecs":
            import imagecodecs

            try:
                out = np.asarray(imagecodecs.jpegxl_decode(bytes(data)))
            except Exception as exc:
                raise FormatError(f"cannot decode the jxl data: {exc}") from None
            return np.ascontiguousarray(out[..., 0] if out.ndim == 3 and out.shape[2] == 1 else out)
        raise CodecUnavailableError(_requires("jxl"))


def _jxl_backend() -> str | None:
    if importlib.util.find_spec("pillow_jxl") is not None:
        return "pillow_jxl"
    if importlib.util.find_spec("imagecodecs") is not None:
        return "imagecodecs"
    return None


# ------------------------------------------------------------- the benchmark's codecs
def canonical_name(name: str) -> str:
    """The registry name of image benchmark codec ``name`` or an alias (any case): one
    of :func:`rdlab.codecs.registry.bench_codecs` (the classical codecs and rdlab's
    presets ``rdlab``, ``rdlab-e8``, ``rdlab-refine``).

    Raises:
        InputError: on argument ``"codecs"``: not an image benchmark codec.
    """
    known = bench_codecs()
    try:
        spec = codec_spec(name)
    except InputError:
        spec = None
    if spec is None or spec.name not in known:
        aliases = [f"{a} (= {n})" for n in known for a in codec_spec(n).aliases]
        raise InputError(
            "codecs", f"unknown image codec {name!r} (known: {', '.join([*known, *aliases])})"
        )
    return spec.name


def _probe(name: str) -> bool:
    """Whether codec ``name`` can encode and decode a tiny image here."""
    tiny = (np.arange(16 * 16 * 3, dtype=np.int64).reshape(16, 16, 3) * 7 % 256).astype(np.uint8)
    try:
        codec = get_codec_at(name)
        out = codec.decode(codec.encode(tiny))
        return out.shape == tiny.shape
    except Exception:
        return False


@functools.cache
def works(name: str) -> bool:
    """Whether classical codec ``name`` encodes and decodes a 16x16 image here (probed
    once per process; the registry's availability check of the classical codecs)."""
    return _probe(name)


def codec_works(name: str) -> bool:
    """Whether codec ``name`` (or an alias) encodes and decodes a 16x16 image here, probed
    now by doing it. Milliseconds for the classical codecs; the ``rdlab*`` presets load
    PyTorch and a model."""
    return _probe(canonical_name(name))


def available_classical_codecs() -> dict[str, bool]:
    """Each classical codec's name and whether it works here (:func:`works`)."""
    return {name: works(name) for name in bench_codecs() if codec_spec(name).writes != "rdl"}


def unavailable_reason(name: str) -> str:
    """What benchmark codec ``name`` needs to work (a hint for the user)."""
    return _requires(canonical_name(name))


def get_classical_codec(name: str, quality: float | None = None) -> Any:
    """An image benchmark codec by name (``jpeg, webp, jpeg2000`` (``jp2``), ``avif, heic,
    jxl`` (``jpegxl``), ``rdlab``, ...; case-insensitive) at ``quality`` (its own scale;
    ``None``: the middle of its default sweep).

    Raises:
        InputError: on ``"codecs"``: an unknown name; on ``"quality"``: out of range.
        CodecUnavailableError: (a :class:`~rdlab.errors.ModelError`) the codec's library
            or model is missing here.
    """
    key = canonical_name(name)
    if not is_available(key):
        raise CodecUnavailableError(f"codec {key} is unavailable: {_requires(key)}")
    return get_codec_at(key, quality)


# --------------------------------------------------------------------- file inspection
def _boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """ISO-BMFF / JP2 boxes in ``data[start:end]``: ``(type, payload_start, payload_end)``."""
    end = len(data) if end is None else end
    out, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > end:
                break
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            break
        out.append((kind, pos + header, pos + size))
        pos += size
    return out


def payload_bytes(name: str, data: bytes) -> int:
    """Bytes of the compressed image data proper, without the file format's wrapper.

    JP2: the ``jp2c`` box (the J2K codestream); AVIF/HEIC: the ``mdat`` box payload
    (the AV1/HEVC bitstream; ``meta`` with its item properties is the container); WebP:
    the ``VP8 `` chunk payload. JPEG and JPEG XL (written as a bare codestream) have no
    separate container: the whole file is the codestream, so the figure is the file size;
    so is it for any other codec of the registry (an ``.rdl`` file counts whole).
    """
    key = codec_spec(name).name
    data = bytes(data)
    if key == "jpeg2000":
        sizes = [b - a for kind, a, b in _boxes(data) if kind == b"jp2c"]
        return sum(sizes) if sizes else len(data)
    if key in ("avif", "heic"):
        sizes = [b - a for kind, a, b in _boxes(data) if kind == b"mdat"]
        return sum(sizes) if sizes else len(data)
    if key == "webp" and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        pos = 12
        while pos + 8 <= len(data):
            kind, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
            if kind in (b"VP8 ", b"VP8L"):
                return size
            pos += 8 + size + (size & 1)
        return len(data)
    return len(data)


def chroma_subsampling(name: str, data: bytes) -> str | None:
    """The chroma sampling written in a file (``"4:4:4"``, ``"4:2:2"``, ``"4:2:0"``,
    ``"4:0:0"``), read from the headers; ``None`` where it cannot be told.

    JPEG: Pillow's ``JpegImagePlugin.get_sampling``; WebP lossy: always 4:2:0; AVIF: the
    ``av1C`` box's subsampling flags; HEIC: the ``hvcC`` box's ``chroma_format_idc``;
    JPEG 2000: component sub-sampling factors in the SIZ marker; JPEG XL: 4:4:4 (XYB
    VarDCT does not subsample chroma); other codecs of the registry: ``None``.
    """
    key = codec_spec(name).name
    data = bytes(data)
    if key == "jpeg":
        from PIL import JpegImagePlugin

        with Image.open(io.BytesIO(data)) as image:
            if image.mode == "L":
                return "4:0:0"
            code = JpegImagePlugin.get_sampling(image)
        return {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(code)
    if key == "webp":
        return "4:2:0" if payload_is_vp8(data) else "4:4:4"
    if key == "avif":
        at = data.find(b"av1C")
        if at < 0 or at + 7 > len(data):
            return None
        flags = data[at + 6]
        if flags & 0x10:
            return "4:0:0"
        sx, sy = (flags >> 3) & 1, (flags >> 2) & 1
        return {(0, 0): "4:4:4", (1, 0): "4:2:2", (1, 1): "4:2:0"}.get((sx, sy))
    if key == "heic":
        at = data.find(b"hvcC")
        if at < 0 or at + 4 + 17 > len(data):
            return None
        idc = data[at + 4 + 16] & 0x03
        return {0: "4:0:0", 1: "4:2:0", 2: "4:2:2", 3: "4:4:4"}[idc]
    if key == "jpeg2000":
        at = data.find(b"\xff\x51")  # SIZ marker
        if at < 0 or at + 40 > len(data):
            return None
        count = struct.unpack(">H", data[at + 38 : at + 40])[0]
        comps = [data[at + 40 + 3 * i : at + 43 + 3 * i] for i in range(count)]
        if count == 1:
            return "4:0:0"
        factors = {(c[1], c[2]) for c in comps}
        return "4:4:4" if factors == {(1, 1)} else "subsampled"
    if key == "jxl":
        return "4:0:0" if _jxl_is_grey(data) else "4:4:4"
    return None


def payload_is_vp8(data: bytes) -> bool:
    """Whether WebP bytes hold a lossy VP8 bitstream (4:2:0) rather than VP8L."""
    return b"VP8 " in data[12:64]


def _jxl_is_grey(data: bytes) -> bool:
    try:
        return _pil_decode(data, "jxl").ndim == 2 if _jxl_backend() == "pillow_jxl" else False
    except FormatError:
        return False


def library_versions() -> dict[str, str | None]:
    """Versions of Pillow and the libraries and plugins behind the classical codecs."""
    from importlib.metadata import PackageNotFoundError, version

    import PIL
    from PIL import features

    def dist(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    def feature(name: str) -> str | None:
        try:
            return features.version(name)
        except Exception:
            return None

    out: dict[str, str | None] = {
        "Pillow": PIL.__version__,
        "libjpeg": feature("jpg"),
        "libjpeg-turbo": feature("libjpeg_turbo"),
        "libwebp": feature("webp"),
        "openjpeg": feature("jpg_2000"),
        "libavif": feature("avif"),
        "pillow-heif": dist("pillow-heif"),
        "pillow-jxl-plugin": dist("pillow-jxl-plugin"),
        "imagecodecs": dist("imagecodecs"),
    }
    try:
        import pillow_heif

        info = pillow_heif.libheif_info()
        out["libheif"] = info.get("libheif")
        out["heic_encoder"] = info.get("HEIF") or None
    except Exception:
        out["libheif"] = None
    return out
