"""Video for the INR codec: :class:`~rdlab.data.video.Video` (uint8 ``(T, H, W, C)``, C 1
or 3), normalized as images (``v / 255 - 1/2``, ``(T, H, W, 3)``); rate in bits per pixel
of all frames; PSNR at peak 255 over all frames.

Greyscale video is coded as three equal channels and decoded as their rounded mean.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ...data.video import CONTAINER_SUFFIXES, Video, is_video_path, read_video, write_video
from ...errors import InputError
from ...metrics import video_psnr_db
from .base import Architecture, Modality, Prepared, invalid_metadata, positive_number
from .image import check_grey, pixels_from_values, values_from_pixels

__all__ = ["MODALITY", "VideoModality"]


class VideoModality(Modality):
    """Video files (containers with PyAV, animated PNG / GIF / TIFF, ``.npy``) and folders
    of PNG frames; :meth:`read` takes ``max_frames``."""

    name = "video"
    suffixes = (*CONTAINER_SUFFIXES, ".npy", ".gif", ".png", ".apng")
    output_suffix = ".png"
    output_suffixes = (".png", ".apng", ".npy")
    writer = staticmethod(write_video)
    rate_keyword = "bpp"
    rate_unit = "bpp"
    architecture: Architecture = ((4, 16, 16), {"in_dim": 3, "out_dim": 3, "hidden": 24,
        "layers": 3, "frequencies": 5, "max_frequency": 8.0, "w0": 5.0})  # fmt: skip
    read_options = ("max_frames",)

    def detect(self, path: str | os.PathLike[str]) -> bool:
        """Directories, video containers, ``.npy`` video arrays and animations of more
        than one frame (:func:`rdlab.data.video.is_video_path`)."""
        return os.path.isdir(path) or is_video_path(path)

    def folder_is_signal(self, path: str | os.PathLike[str]) -> bool:
        """A folder holding PNG files is one clip (its frames)."""
        return any(p.suffix.lower() == ".png" for p in Path(path).iterdir())

    def accepts(self, signal: Any) -> bool:
        return isinstance(signal, Video)

    def read(
        self, path: str | os.PathLike[str], *, max_frames: int | None = None, **options: Any
    ) -> Video:
        """The clip (its first ``max_frames`` frames when given)."""
        return read_video(path, max_frames=max_frames)

    def check_output(
        self,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        protect: tuple[str, ...] = (),
    ) -> None:
        """A file (``.png``/``.apng``, ``.npy``) as for every modality; a folder of PNG
        frames (a path ending in ``/`` or without a suffix) needs its parent folder, and
        :func:`rdlab.data.video.write_video` decides about an existing one."""
        name = os.fspath(path)
        if name.endswith(("/", os.sep)) or not os.path.splitext(name.rstrip("/"))[1]:
            parent = os.path.dirname(os.path.abspath(name.rstrip("/" + os.sep)))
            if not os.path.isdir(parent):
                raise InputError("output", f"directory {parent} does not exist")
            return
        super().check_output(name, overwrite=overwrite, protect=protect)

    def items(self, signal: Any) -> float:
        """Pixels of all frames."""
        return float(math.prod(signal.frames.shape[:3]))

    def prepare(self, signal: Any) -> Prepared:
        frames = np.asarray(signal.frames)
        grey = frames.shape[-1] == 1
        if grey:
            frames = np.repeat(frames, 3, axis=-1)
        meta: dict[str, Any] = {"shape": list(frames.shape[:3]), "fps": float(signal.fps)}
        if grey:
            meta["grey"] = True
        items = float(math.prod(frames.shape[:3]))
        return Prepared(values_from_pixels(frames), meta, items=items)

    def spatial_shape(self, meta: dict[str, Any]) -> tuple[tuple[int, ...], int]:
        t, h, w = (int(v) for v in meta["shape"])
        return (t, h, w), 3

    def check_meta(self, meta: dict[str, Any]) -> None:
        check_grey(meta)
        if not positive_number(meta.get("fps")):
            raise invalid_metadata("fps")

    def restore(
        self,
        values: np.ndarray,
        meta: dict[str, Any],
        chunks: dict[str, bytes],
        *,
        codec_version: str | None = None,
    ) -> Video:
        grey = bool(meta.get("grey"))
        pixels = pixels_from_values(values, grey)
        return Video(pixels[..., None] if grey else pixels, float(meta["fps"]))

    def distortion(self, reference: Any, decoded: Any) -> dict[str, float]:
        """``psnr_db``: PSNR at peak 255, MSE over all frames."""
        return {"psnr_db": video_psnr_db(reference.frames, decoded.frames)}


MODALITY = VideoModality()
