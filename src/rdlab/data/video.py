"""8-bit video in and out: containers via PyAV, animated images via Pillow, NumPy, PNG folders.

A :class:`Video` holds uint8 frames ``(T, H, W, C)`` with ``C = 1`` (grey) or ``3``
(RGB), and a frame rate. Readers:

- ``.mp4 .mkv .avi .mov .webm .m4v``: decoded with PyAV (``pip install rdlab[video]``)
  to ``rgb24``, or to ``gray`` when the stream's pixel format is grey;
- multi-frame ``.gif .png/.apng .tif/.tiff``: Pillow (frames composited as displayed);
- ``.npy``: uint8 ``(T, H, W)`` or ``(T, H, W, C)``;
- a directory: its ``*.png`` frames sorted by name (all of one size and mode).

Writers are lossless: ``.png`` (APNG), ``.npy``, or a directory of numbered PNG frames
(a path ending in ``/`` or without a suffix). Formats that cannot carry a frame rate
(``.npy``; PNG folders without rdlab's ``fps`` text chunk) read as :data:`DEFAULT_FPS`.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageSequence, PngImagePlugin

from .._files import write_atomic
from ..errors import InputError
from .images import bits_per_sample, eight_bit_l_or_rgb, open_image

__all__ = [
    "CONTAINER_SUFFIXES",
    "DEFAULT_FPS",
    "Video",
    "is_video_path",
    "read_video",
    "write_video",
]

#: Suffixes decoded with PyAV.
CONTAINER_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v")
_ANIMATED_SUFFIXES = (".gif", ".png", ".apng", ".tif", ".tiff", ".webp", ".avif")
#: Frame rate given to videos whose file holds none (``.npy``, plain PNG folders).
DEFAULT_FPS = 25.0
_FPS_KEY = "rdlab-fps"
_GREY_FORMATS = (
    "gray",
    "gray8",
    "gray9be",
    "gray9le",
    "gray10le",
    "gray10be",
    "gray12le",
    "gray12be",
    "gray14le",
    "gray14be",
    "gray16le",
    "gray16be",
    "grayf32le",
    "ya8",
)


@dataclass(frozen=True, eq=False)
class Video:
    """A clip of 8-bit frames.

    Attributes:
        frames: uint8, shape ``(T, H, W, C)``, ``C`` in {1, 3} (grey or RGB), T >= 1.
        fps: frames per second, a positive finite float.
    """

    frames: np.ndarray
    fps: float

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames)
        if frames.dtype != np.uint8:
            raise InputError("frames", f"must be uint8, got dtype {frames.dtype}")
        if frames.ndim != 4 or frames.shape[3] not in (1, 3) or 0 in frames.shape:
            raise InputError("frames", f"must have shape (T, H, W, 1 or 3), got {frames.shape}")
        fps = float(self.fps)
        if not math.isfinite(fps) or fps <= 0:
            raise InputError("fps", f"must be a positive number, got {self.fps!r}")
        object.__setattr__(self, "frames", np.ascontiguousarray(frames))
        object.__setattr__(self, "fps", fps)

    def __len__(self) -> int:
        return int(self.frames.shape[0])


def _suffix(name: str) -> str:
    return os.path.splitext(name.rstrip("/\\"))[1].lower()


def _import_av() -> Any:
    try:
        import av
    except ImportError:
        raise InputError(
            "input", "reading video containers needs PyAV: pip install rdlab[video]"
        ) from None
    return av


def _read_container(name: str, max_frames: int | None) -> Video:
    av = _import_av()
    frames: list[np.ndarray] = []
    try:
        with av.open(name) as container:
            if not container.streams.video:
                raise InputError("input", f"{name} has no video stream")
            stream = container.streams.video[0]
            pix_fmt = stream.codec_context.pix_fmt or ""
            grey = pix_fmt in _GREY_FORMATS
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            for frame in container.decode(stream):
                if max_frames is not None and len(frames) >= max_frames:
                    break
                array = frame.to_ndarray(format="gray" if grey else "rgb24")
                frames.append(array[..., None] if grey else array)
    except InputError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise InputError("input", f"{name} cannot be decoded: {exc}") from None
    if not frames:
        raise InputError("input", f"{name} holds no video frames")
    fps = float(rate) if rate else DEFAULT_FPS
    return Video(np.stack(frames), fps)


def _frame_array(image: Image.Image, name: str, bits: int) -> np.ndarray:
    """One Pillow frame as ``(H, W, 1|3)`` uint8 (the image reader's mode rules; frames
    of more than 8 bits per sample, ``bits`` from the file's header, are refused rather
    than cut to 8)."""
    if bits > 8:
        raise InputError(
            "input", f"{name} has {bits}-bit frames; the INR video codec takes 8-bit frames"
        )
    array = np.asarray(eight_bit_l_or_rgb(image, name), dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array.copy()


def _fps_from_info(info: dict[str, Any]) -> float | None:
    text = info.get(_FPS_KEY)
    if text is not None:
        try:
            fps = float(text)
        except ValueError:
            fps = math.nan
        if math.isfinite(fps) and fps > 0:
            return fps
    return None


def _read_animated(name: str, max_frames: int | None) -> Video:
    frames: list[np.ndarray] = []
    with open_image(name) as image:
        bits = bits_per_sample(image, name)
        fps = _fps_from_info(image.info)
        duration = image.info.get("duration")
        for frame in ImageSequence.Iterator(image):
            if max_frames is not None and len(frames) >= max_frames:
                break
            frames.append(_frame_array(frame, name, bits))
    if fps is None:
        fps = 1000.0 / float(duration) if duration else DEFAULT_FPS
    return _stack(frames, name, fps)


def _stack(frames: list[np.ndarray], name: str, fps: float) -> Video:
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise InputError("input", f"{name}: frames differ in size or mode ({sorted(shapes)})")
    return Video(np.stack(frames), fps)


def _read_npy(name: str, max_frames: int | None) -> Video:
    try:
        array = np.load(name, allow_pickle=False)
    except FileNotFoundError:
        raise InputError("input", f"{name} does not exist") from None
    except (OSError, ValueError) as exc:
        raise InputError("input", f"{name} is not a readable .npy array: {exc}") from None
    if array.dtype != np.uint8:
        raise InputError("input", f"{name} holds {array.dtype}; video arrays must be uint8")
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[3] not in (1, 3) or 0 in array.shape:
        raise InputError("input", f"{name} has shape {array.shape}; need (T, H, W[, 1 or 3])")
    if max_frames is not None:
        array = array[:max_frames]
    return Video(array, DEFAULT_FPS)


def _frame_files(name: str) -> list[str]:
    return sorted(
        entry
        for entry in os.listdir(name)
        if entry.lower().endswith(".png") and os.path.isfile(os.path.join(name, entry))
    )


def _read_folder(name: str, max_frames: int | None) -> Video:
    files = _frame_files(name)
    if not files:
        raise InputError("input", f"{name} is a directory without .png frames")
    if max_frames is not None:
        files = files[:max_frames]
    frames = []
    fps = None
    for entry in files:
        path = os.path.join(name, entry)
        with open_image(path) as image:
            image.load()
            if fps is None:
                fps = _fps_from_info(image.info)
            frames.append(_frame_array(image, path, bits_per_sample(image, path)))
    return _stack(frames, name, fps or DEFAULT_FPS)


def read_video(path: str | os.PathLike[str], max_frames: int | None = None) -> Video:
    """Read a video (see the module docstring for formats); at most ``max_frames`` frames.

    Bad or missing files, unsupported pixel formats, transparency and frames of
    differing sizes are refused with :class:`~rdlab.errors.InputError`.
    """
    name = os.fspath(path)
    if max_frames is not None and (
        isinstance(max_frames, bool)
        or not isinstance(max_frames, (int, np.integer))
        or max_frames < 1
    ):
        raise InputError("max_frames", f"must be a positive integer or None, got {max_frames!r}")
    if os.path.isdir(name):
        return _read_folder(name, max_frames)
    if not os.path.exists(name):
        raise InputError("input", f"{name} does not exist")
    suffix = _suffix(name)
    if suffix in CONTAINER_SUFFIXES:
        return _read_container(name, max_frames)
    if suffix == ".npy":
        return _read_npy(name, max_frames)
    return _read_animated(name, max_frames)


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` looks like a video rdlab can read.

    True for container suffixes (``.mp4`` ...), for directories holding at least two
    ``.png`` files, for ``.npy`` arrays of uint8 with 4 dimensions (or 3 whose last is
    not 1 or 3, so an ``(H, W, 3)`` image is not a video), and for GIF/PNG/TIFF files
    with more than one frame. Never raises for a missing or unreadable path (False).
    """
    name = os.fspath(path)
    suffix = _suffix(name)
    if os.path.isdir(name):
        try:
            return len(_frame_files(name)) >= 2
        except OSError:
            return False
    if suffix in CONTAINER_SUFFIXES:
        return True
    if not os.path.isfile(name):
        return False
    if suffix == ".npy":
        try:
            array = np.load(name, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return False
        return array.dtype == np.uint8 and (
            array.ndim == 4 or (array.ndim == 3 and array.shape[2] not in (1, 3))
        )
    if suffix in _ANIMATED_SUFFIXES:
        try:
            with open_image(name) as image:
                return int(getattr(image, "n_frames", 1)) > 1
        except InputError:
            return False
    return False


def _pil_frames(video: Video) -> list[Image.Image]:
    grey = video.frames.shape[3] == 1
    return [Image.fromarray(f[..., 0] if grey else f, "L" if grey else "RGB") for f in video.frames]


def _fps_info(video: Video) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text(_FPS_KEY, repr(video.fps))
    return info


def apng_bytes(video: Video) -> bytes:
    """``video`` as an animated PNG: every frame kept (even repeated ones), lossless.

    The frame delay is ``1000 / fps`` ms (what players use); the exact ``fps`` is also
    kept in a text chunk, which :func:`read_video` prefers.
    """
    frames = _pil_frames(video)
    buffer = io.BytesIO()
    if len(frames) == 1:
        frames[0].save(buffer, format="PNG", pnginfo=_fps_info(video))
        return buffer.getvalue()
    # Pillow merges a frame identical to the previous one into it unless their blend
    # ops differ; alternating SOURCE and OVER (the same for opaque frames) keeps all.
    blend = [
        PngImagePlugin.Blend.OP_SOURCE if k % 2 == 0 else PngImagePlugin.Blend.OP_OVER
        for k in range(len(frames))
    ]
    frames[0].save(
        buffer,
        format="PNG",
        save_all=True,
        append_images=frames[1:],
        duration=1000.0 / video.fps,
        loop=0,
        blend=blend,
        disposal=PngImagePlugin.Disposal.OP_NONE,
        pnginfo=_fps_info(video),
    )
    return buffer.getvalue()


def npy_bytes(video: Video) -> bytes:
    """``video.frames`` as a ``.npy`` file (uint8 ``(T, H, W, C)``; fps is not kept)."""
    buffer = io.BytesIO()
    np.save(buffer, video.frames, allow_pickle=False)
    return buffer.getvalue()


def _write_folder(target: str, video: Video, overwrite: bool) -> int:
    target = target.rstrip("/\\") or target
    parent = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(parent):
        raise InputError("output", f"directory {parent} does not exist")
    if os.path.lexists(target):
        if not overwrite:
            raise InputError("output", f"{target} exists (use --force, or overwrite=True)")
        if not os.path.isdir(target):
            raise InputError("output", f"{target} exists and is not a directory")
        others = [e for e in os.listdir(target) if not e.lower().endswith(".png")]
        if others:
            raise InputError(
                "output", f"{target} holds files other than PNG frames; refusing to replace it"
            )
    digits = max(4, len(str(len(video))))
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.", dir=parent)
    total = 0
    try:
        info = _fps_info(video)
        for k, frame in enumerate(_pil_frames(video), start=1):
            buffer = io.BytesIO()
            frame.save(buffer, format="PNG", pnginfo=info)
            path = os.path.join(staging, f"frame_{k:0{digits}d}.png")
            total += write_atomic(path, buffer.getvalue())
        if os.path.lexists(target):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.old.", dir=parent)
            os.replace(target, os.path.join(old, "frames"))
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return total


def write_video(
    path: str | os.PathLike[str],
    video: Video,
    *,
    overwrite: bool = False,
    protect: tuple[str, ...] = (),
) -> int:
    """Write ``video`` losslessly; return the bytes written.

    ``.png`` → animated PNG (all frames, fps kept), ``.npy`` → the frame array, a path
    ending in ``/`` or without a suffix → a directory of ``frame_0001.png``, ... (built
    in a temporary directory and renamed into place). Files are written atomically and
    never over an existing path unless ``overwrite``; an existing directory is only
    replaced when it holds nothing but PNG files.
    """
    if not isinstance(video, Video):
        raise InputError("video", f"must be a Video, got {type(video).__name__}")
    name = os.fspath(path)
    suffix = _suffix(name)
    if name.endswith(("/", os.sep)) or suffix == "":
        return _write_folder(name, video, overwrite)
    if suffix in (".png", ".apng"):
        data = apng_bytes(video)
    elif suffix == ".npy":
        data = npy_bytes(video)
    else:
        raise InputError(
            "output", f"{name}: write video as .png (APNG), .npy or a directory of PNG frames"
        )
    return write_atomic(path, data, overwrite=overwrite, protect=protect)
