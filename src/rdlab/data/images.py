"""Image files in and out (Pillow; pypng for 16-bit colour PNG), without silent loss.

:func:`probe_image` reads a file's header only (size, mode, bits per sample, frames);
:func:`read_image` decodes the pixels, refusing what it cannot return exactly: more
than 8 bits per sample unless asked to keep (uint16) or reduce them, several frames
(animations are video), translucent alpha, CMYK and other modes, and images larger
than ``max_pixels`` or than the memory this process may use. Pillow's own
decompression-bomb limit is replaced by those checks.
"""

from __future__ import annotations

import io
import os
import re
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files

import numpy as np
from PIL import Image, UnidentifiedImageError

from .._files import write_atomic
from .._memory import require_memory
from ..errors import InputError

__all__ = [
    "BIT_DEPTHS",
    "ImageInfo",
    "check_image_header",
    "image_bytes",
    "png_bytes",
    "probe_image",
    "read_image",
    "sample_path",
    "write_image",
    "write_png",
]

SAMPLES = {"chelsea": "chelsea_256x192.png"}

BIT_DEPTHS = ("8", "keep", "reduce")
"""What :func:`read_image` does with files of more than 8 bits per sample: ``"8"``
refuses them, ``"keep"`` returns 16-bit samples as uint16, ``"reduce"`` keeps the high
byte of each 16-bit sample (uint8, as libpng's ``strip_16``)."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_WIDE_RAWMODE = re.compile(r"^I;16|;16[BLN]")  # 16-bit sample layouts (not BMP's BGR;16)
# Formats whose further frames are not part of one picture (an MPO's are previews or
# a stereo pair's other view, a camera JPEG's first frame is the photo).
_SINGLE_PICTURE_FORMATS = ("MPO",)
_PIL_LIMIT = threading.Lock()


def sample_path(name: str = "chelsea") -> str:
    """Path of a bundled sample image (see ``rdlab/samples/README.md`` for licences)."""
    if name not in SAMPLES:
        raise InputError("sample", f"unknown sample {name!r} (have: {', '.join(SAMPLES)})")
    return str(files("rdlab") / "samples" / SAMPLES[name])


@dataclass(frozen=True)
class ImageInfo:
    """What an image file's header says, read without decoding its pixels.

    Attributes:
        path: the file.
        format: Pillow's format name (``"PNG"``, ``"JPEG"``, ...).
        width: pixels.
        height: pixels.
        mode: Pillow's mode (``"RGB"``, ``"L"``, ``"I;16"``, ``"CMYK"``, ...).
        channels: colour channels :func:`read_image` returns: 1 (grey) or 3 (RGB,
            palettes included); alpha is not counted; 4 for CMYK.
        bit_depth: bits per sample in the file (1, 2, 4, 8, 16, 32, ...).
        frames: frames (pages) in the file.
    """

    path: str
    format: str
    width: int
    height: int
    mode: str
    channels: int
    bit_depth: int
    frames: int

    @property
    def pixels(self) -> int:
        """``width * height``."""
        return self.width * self.height


@contextmanager
def open_image(name: str, field: str = "input") -> Iterator[Image.Image]:
    """``Image.open(name)`` with Pillow's decompression-bomb limit lifted (rdlab checks the
    size itself) and every failure to read turned into one :class:`InputError` line
    naming ``field`` (a context manager)."""
    with _PIL_LIMIT:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            with Image.open(name) as image:
                yield image
        except InputError:
            raise
        except FileNotFoundError:
            raise InputError(field, f"{name} does not exist") from None
        except IsADirectoryError:
            raise InputError(field, f"{name} is a directory") from None
        except UnidentifiedImageError:
            raise InputError(field, f"{name} is not an image file Pillow can read") from None
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
            raise InputError(field, f"{name} cannot be decoded: {exc}") from None
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _png_bit_depth(name: str) -> int | None:
    """The IHDR bit depth of a PNG file (None if the head is not a PNG's)."""
    with open(name, "rb") as handle:
        head = handle.read(26)
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    return head[24]


def bits_per_sample(image: Image.Image, name: str) -> int:
    """Bits per sample of the opened file: PNG's IHDR, TIFF's BitsPerSample, else what
    the mode and the decoder's raw layout tell."""
    if image.format == "PNG":
        depth = _png_bit_depth(name)
        if depth is not None:
            return depth
    if image.format == "TIFF":
        bits = getattr(image, "tag_v2", {}).get(258)
        if bits:
            return int(max(bits) if isinstance(bits, tuple) else bits)
    if image.mode.startswith("I;16"):
        return 16
    for tile in getattr(image, "tile", None) or ():
        args = tile[3] if len(tile) > 3 else None
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and _WIDE_RAWMODE.search(rawmode):
            return 16
    if image.mode in ("I", "F"):
        return 32
    return 1 if image.mode == "1" else 8


def _channels(mode: str) -> int:
    if mode in ("P", "PA"):
        return 3
    try:
        bands = Image.getmodebands(mode)
    except (KeyError, ValueError):
        bands = 1
    return max(1, bands - (1 if mode.endswith("A") else 0))


def _info(image: Image.Image, name: str) -> ImageInfo:
    frames = 1
    if image.format not in _SINGLE_PICTURE_FORMATS:
        frames = int(getattr(image, "n_frames", 1) or 1)
    return ImageInfo(
        path=name,
        format=str(image.format),
        width=int(image.size[0]),
        height=int(image.size[1]),
        mode=image.mode,
        channels=_channels(image.mode),
        bit_depth=bits_per_sample(image, name),
        frames=frames,
    )


def probe_image(path: str | os.PathLike[str], *, field: str = "input") -> ImageInfo:
    """An image file's header (size, mode, bits per sample, frames), pixels not decoded.

    Cheap for any size: use it to refuse an image before :func:`read_image` spends
    memory on it.

    Args:
        path: the image file.
        field: the argument named in errors (``"input"``, ``"compare"``, ...).

    Returns:
        The file's :class:`ImageInfo`.

    Raises:
        InputError: the file does not exist or is not an image Pillow can read.
    """
    name = os.fspath(path)
    with open_image(name, field) as image:
        return _info(image, name)


def eight_bit_l_or_rgb(image: Image.Image, name: str, field: str = "input") -> Image.Image:
    """``image`` in mode L or RGB: palettes expanded, an all-opaque alpha channel dropped,
    1-bit widened; translucent alpha and other modes (16-bit, CMYK, ...) refused with one
    line naming ``name`` (as argument ``field``), rather than converted with loss."""
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA"):
        if np.asarray(image.getchannel("A")).min() < 255:
            raise InputError(field, f"{name} has transparent pixels; alpha is not supported")
        image = image.convert("RGB" if mode == "RGBA" else "L")
        mode = image.mode
    if mode == "1":
        image = image.convert("L")
        mode = "L"
    if mode not in ("L", "RGB"):
        raise InputError(
            field, f"{name} has mode {mode}; only greyscale and RGB images are supported"
        )
    return image


def _refuse_frames(info: ImageInfo, field: str) -> None:
    if info.frames > 1:
        raise InputError(
            field,
            f"{info.path} holds {info.frames} frames (an animation or a multi-page file) and "
            "the image codecs code one picture; --codec inr reads animated files as video",
        )


def _read_bytes_per_pixel(info: ImageInfo, wide: bool) -> int:
    """Peak bytes per pixel while reading: Pillow's image (4 bytes a pixel for colour
    modes, 2 for 16-bit grey) plus the array read (16-bit samples are read whole, also
    to be reduced) and one conversion copy."""
    samples = info.channels * (2 if wide else 1)
    pillow = 1 if info.channels == 1 and not wide else 4
    return pillow + 2 * samples


def _check_size(info: ImageInfo, max_pixels: int | None, wide: bool, field: str) -> None:
    if max_pixels is not None and info.pixels > max_pixels:
        raise InputError(
            field,
            f"{info.path} has {info.width}x{info.height} = {info.pixels / 1e6:.1f} Mpixel, "
            f"more than the {max_pixels / 1e6:.1f} Mpixel limit",
        )
    require_memory(
        info.pixels * _read_bytes_per_pixel(info, wide),
        f"reading {info.path} ({info.width}x{info.height})",
        argument=field,
    )


def _opaque(alpha: np.ndarray, top: int, name: str, field: str) -> None:
    if alpha.size and int(alpha.min()) < top:
        raise InputError(field, f"{name} has transparent pixels; alpha is not supported")


def _read_png16(name: str, field: str) -> np.ndarray:
    """A 16-bit PNG's samples, exactly (pypng): ``(H, W)`` or ``(H, W, 3)`` uint16; an
    all-opaque alpha channel is dropped, a translucent one refused. sBIT and tRNS are
    not applied: the stored samples are returned as they are."""
    import png  # pypng: Pillow reads 16-bit colour PNG as 8-bit only

    try:
        width, height, rows, meta = png.Reader(filename=name).read()
        planes = int(meta["planes"])
        out = np.empty((height, width * planes), dtype=np.uint16)
        for i, row in enumerate(rows):
            out[i] = row
    except (png.Error, OSError, ValueError, EOFError) as exc:
        raise InputError(field, f"{name} cannot be decoded: {exc}") from None
    image = out.reshape(height, width, planes)
    if meta["alpha"]:
        _opaque(image[..., -1], 0xFFFF, name, field)
        image = image[..., :-1]
    return image[..., 0] if image.shape[2] == 1 else image


def _exact_wide(image: Image.Image, info: ImageInfo) -> bool:
    """Whether this 16-bit file's samples can be read exactly (Pillow's 16-bit grey
    modes, 32-bit mode I holding 16-bit samples as PGM gives, pypng for colour PNG)."""
    if info.format == "PNG" and info.bit_depth == 16:
        return True
    return image.mode.startswith("I;16") or (image.mode == "I" and info.bit_depth == 16)


def _wide_array(image: Image.Image, info: ImageInfo, field: str) -> np.ndarray:
    """A 16-bit file's samples as uint16 (``bit_depth="keep"``)."""
    if not _exact_wide(image, info):
        raise InputError(
            field,
            f"{info.path} ({info.format}, mode {info.mode}) has {info.bit_depth}-bit samples "
            "that cannot be read exactly; 16-bit images are read from greyscale files and "
            "colour PNG",
        )
    if info.format == "PNG":
        return _read_png16(info.path, field)
    image.load()
    array = np.asarray(image)
    if array.size and (int(array.min()) < 0 or int(array.max()) > 0xFFFF):
        raise InputError(field, f"{info.path} holds samples outside 0..65535")
    return array.astype(np.uint16)


def _reduced_array(image: Image.Image, info: ImageInfo, field: str) -> np.ndarray:
    """A 16-bit file as uint8, the high byte of each sample (``bit_depth="reduce"``)."""
    if _exact_wide(image, info):
        return (_wide_array(image, info, field) >> 8).astype(np.uint8)
    image.load()  # Pillow's 8-bit modes of 16-bit files hold the high bytes already
    return np.asarray(eight_bit_l_or_rgb(image, info.path, field), dtype=np.uint8).copy()


def read_image(
    path: str | os.PathLike[str],
    *,
    bit_depth: str = "8",
    max_pixels: int | None = None,
    field: str = "input",
) -> np.ndarray:
    """Read a greyscale or RGB image as ``(H, W)`` or ``(H, W, 3)`` uint8 (or uint16).

    Palette images are expanded to RGB; an alpha channel is dropped only when fully
    opaque. What would lose data is refused, with one line naming the file: other modes
    (CMYK, translucent alpha), files of several frames (animations: ``--codec inr``
    reads them as video), more than 8 bits per sample unless ``bit_depth`` says what to
    do with them, and images beyond ``max_pixels`` or the memory this process may use
    (checked from the header, before any pixel is decoded).

    Args:
        path: the image file.
        bit_depth: ``"8"`` (default): 8-bit files only; ``"keep"``: 16-bit files are
            returned as uint16, exactly (8-bit files as uint8); ``"reduce"``: 16-bit
            files are reduced to uint8, the high byte of each sample.
        max_pixels: refuse images of more pixels than this (None: no limit but memory).
        field: the argument named in errors (``"input"``, ``"compare"``, ...).

    Returns:
        The pixels, uint8 or (``bit_depth="keep"`` and a 16-bit file) uint16.

    Raises:
        InputError: the file is missing, unreadable or refused as above.
    """
    name = os.fspath(path)
    with open_image(name, field) as image:
        info = _info(image, name)
        check_image_header(info, bit_depth=bit_depth, max_pixels=max_pixels, field=field)
        if info.bit_depth > 8:
            if bit_depth == "keep":
                return _wide_array(image, info, field)
            return _reduced_array(image, info, field)
        image.load()
        return np.asarray(eight_bit_l_or_rgb(image, name, field), dtype=np.uint8).copy()


def check_image_header(
    info: ImageInfo,
    *,
    bit_depth: str = "8",
    max_pixels: int | None = None,
    field: str = "input",
) -> None:
    """The refusals :func:`read_image` makes from the header alone, in its order: several
    frames, more than 8 bits per sample (unless ``bit_depth`` allows 16), more than
    ``max_pixels``, more memory than this process may use for reading. Call it on
    :func:`probe_image`'s result to refuse a file before other checks (e.g. a codec's
    memory) and before decoding; the arguments are :func:`read_image`'s.

    Raises:
        InputError: naming ``field``, on the first refusal.
    """
    if bit_depth not in BIT_DEPTHS:
        raise InputError("bit_depth", f"must be one of {', '.join(BIT_DEPTHS)}, got {bit_depth!r}")
    _refuse_frames(info, field)
    wide = info.bit_depth > 8
    if wide and bit_depth == "8":
        raise InputError(
            field,
            f"{info.path} has {info.bit_depth}-bit samples and only 8-bit images are accepted "
            "here (rdlab compress --codec lossless keeps 16 bits; the hyperprior codec "
            "reduces them to 8 with --to-8bit)",
        )
    if wide and info.bit_depth != 16:
        raise InputError(
            field,
            f"{info.path} has {info.bit_depth}-bit samples; only 8 and 16 bits are supported",
        )
    _check_size(info, max_pixels, wide, field)


#: Image suffixes ``rdlab decompress`` writes, by Pillow format: lossless formats only,
#: so a decoded image is never compressed a second time with loss.
IMAGE_SUFFIXES = {
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".ppm": "PPM",
    ".pgm": "PPM",
    ".pnm": "PPM",
}
#: Suffixes of lossy formats, refused for decoded images (named in the message).
LOSSY_SUFFIXES = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WebP",
    ".avif": "AVIF",
    ".heic": "HEIC",
    ".jxl": "JPEG XL",
    ".jp2": "JPEG 2000",
    ".gif": "GIF (256 colours)",
}


def image_format_for(path: str | os.PathLike[str]) -> str:
    """The Pillow format a decoded image's output path names by its suffix
    (:data:`IMAGE_SUFFIXES`: lossless formats only).

    Raises:
        InputError: on ``output``: a lossy format's suffix (the decoded image would be
            compressed again, with loss) or an unknown one.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix in IMAGE_SUFFIXES:
        return IMAGE_SUFFIXES[suffix]
    allowed = ", ".join(sorted(set(IMAGE_SUFFIXES)))
    if suffix in LOSSY_SUFFIXES:
        raise InputError(
            "output",
            f"{path}: writing {LOSSY_SUFFIXES[suffix]} would compress the decoded image "
            f"again, with loss; name a lossless image ({allowed})",
        )
    raise InputError(
        "output", f"{path}: unknown image suffix {suffix or '(none)'!r}; use one of {allowed}"
    )


def _check_writable(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype not in (np.uint8, np.uint16):
        raise InputError("image", f"must be uint8 or uint16, got {array.dtype}")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)) or 0 in array.shape:
        raise InputError("image", f"must have shape (H, W) or (H, W, 3), got {array.shape}")
    return array


def image_bytes(image: np.ndarray, image_format: str = "PNG") -> bytes:
    """Lossless encoding of an ``(H, W)`` or ``(H, W, 3)`` uint8 or uint16 array in a
    Pillow format (``"PNG"``, ``"TIFF"``, ``"BMP"``, ``"PPM"``); uint16 gives 16-bit
    samples (PNG; TIFF and PPM for greyscale).

    Raises:
        InputError: on argument ``"image"`` for other arrays, ``"output"`` for a format
            that cannot hold the samples exactly.
    """
    array = _check_writable(image)
    buffer = io.BytesIO()
    wide = array.dtype == np.uint16
    if wide and image_format not in ("PNG", "TIFF", "PPM"):
        raise InputError("output", f"{image_format} holds no 16-bit samples; write PNG")
    if wide and array.ndim == 3:
        if image_format != "PNG":
            raise InputError("output", f"16-bit colour is written as PNG only, not {image_format}")
        import png  # pypng: Pillow writes no 16-bit colour PNG

        height, width = array.shape[:2]
        writer = png.Writer(width, height, greyscale=False, bitdepth=16, compression=6)
        writer.write(buffer, array.reshape(height, width * 3))
    else:
        Image.fromarray(np.ascontiguousarray(array)).save(buffer, format=image_format)
    return buffer.getvalue()


def png_bytes(image: np.ndarray) -> bytes:
    """Lossless PNG encoding of an ``(H, W)`` or ``(H, W, 3)`` uint8 or uint16 array
    (uint16 gives a 16-bit PNG)."""
    return image_bytes(image, "PNG")


def write_image(
    path: str | os.PathLike[str],
    image: np.ndarray,
    *,
    image_format: str | None = None,
    overwrite: bool = False,
    protect: tuple[str, ...] = (),
) -> int:
    """Write ``image`` (see :func:`image_bytes`) in ``image_format`` (default: the one
    ``path``'s suffix names, :func:`image_format_for`) atomically, never over
    ``protect``; return the size in bytes.

    Raises:
        InputError: on ``output``: a suffix of no lossless format, a format that cannot
            hold the image, or ``.pgm`` for colour / ``.ppm`` for greyscale; nothing is
            written then.
    """
    name = os.fspath(path)
    if image_format is None:
        image_format = image_format_for(name)
    suffix = os.path.splitext(name)[1].lower()
    grey = np.ndim(image) == 2
    if (suffix == ".pgm" and not grey) or (suffix == ".ppm" and grey):
        kind, right = ("greyscale", ".pgm") if grey else ("colour", ".ppm")
        raise InputError("output", f"{name}: the image is {kind}; name it {right} or .pnm")
    data = image_bytes(image, image_format)
    return write_atomic(path, data, overwrite=overwrite, protect=protect)


def write_png(
    path: str | os.PathLike[str],
    image: np.ndarray,
    *,
    overwrite: bool = False,
    protect: tuple[str, ...] = (),
) -> int:
    """Write ``image`` (uint8 or uint16, see :func:`png_bytes`) as PNG atomically (never
    over ``protect``); return the size in bytes."""
    return write_image(path, image, overwrite=overwrite, protect=protect)
