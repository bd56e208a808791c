"""8-bit image files in and out (Pillow), without silent loss."""

from __future__ import annotations

import io
import os
from importlib.resources import files

import numpy as np
from PIL import Image, UnidentifiedImageError

from .._files import write_atomic
from ..errors import InputError

SAMPLES = {"chelsea": "chelsea_256x192.png"}


def sample_path(name: str = "chelsea") -> str:
    """Path of a bundled sample image (see ``rdlab/samples/README.md`` for licences)."""
    if name not in SAMPLES:
        raise InputError("sample", f"unknown sample {name!r} (have: {', '.join(SAMPLES)})")
    return str(files("rdlab") / "samples" / SAMPLES[name])


def eight_bit_l_or_rgb(image: Image.Image, name: str) -> Image.Image:
    """``image`` in mode L or RGB: palettes expanded, an all-opaque alpha channel dropped,
    1-bit widened; translucent alpha and other modes (16-bit, CMYK, ...) refused with one
    line naming ``name``, rather than converted with loss."""
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA"):
        if np.asarray(image.getchannel("A")).min() < 255:
            raise InputError("input", f"{name} has transparent pixels; alpha is not supported")
        image = image.convert("RGB" if mode == "RGBA" else "L")
        mode = image.mode
    if mode == "1":
        image = image.convert("L")
        mode = "L"
    if mode not in ("L", "RGB"):
        raise InputError("input", f"{name} has mode {mode}; only 8-bit L and RGB are supported")
    return image


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an 8-bit greyscale or RGB image as ``(H, W)`` or ``(H, W, 3)`` uint8.

    Palette images are expanded to RGB; an alpha channel is dropped only when fully
    opaque. Other modes (16-bit, CMYK, translucent alpha) are refused rather than
    converted with loss.
    """
    name = os.fspath(path)
    try:
        with Image.open(name) as image:
            image.load()
            return np.asarray(eight_bit_l_or_rgb(image, name), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise InputError("input", f"{name} does not exist") from None
    except IsADirectoryError:
        raise InputError("input", f"{name} is a directory") from None
    except UnidentifiedImageError:
        raise InputError("input", f"{name} is not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError("input", f"{name} cannot be decoded: {exc}") from None


def png_bytes(image: np.ndarray) -> bytes:
    """Lossless PNG encoding of an ``(H, W)`` or ``(H, W, 3)`` uint8 array."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(
    path: str | os.PathLike[str],
    image: np.ndarray,
    *,
    overwrite: bool = False,
    protect: tuple[str, ...] = (),
) -> int:
    """Write ``image`` as PNG atomically (never over ``protect``); return the size in bytes."""
    return write_atomic(path, png_bytes(image), overwrite=overwrite, protect=protect)
