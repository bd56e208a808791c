"""A training pack: photos from several folders in one flat folder of JPEG files, under a
byte budget, so that a GPU machine that receives little data (64 MiB, the repository
included) can train on all of them.

:func:`build_pack` reads every 8-bit image of the source folders (sorted; sub-folders
and dot-files ignored), reduces each so that its short side is at most ``short_side``
pixels (area averaging, never enlarging) and stores it as a JPEG of ``quality`` with
4:4:4 chroma. It tries the short sides of ``SHORT_SIDES`` (never below the training crop,
``min_side``) from the largest down and keeps the first whose pack fits ``max_bytes``:
keeping JPEG's quality high matters more than size, since the model is meant to reach
38 dB and must not learn JPEG's artifacts, and the trainer down-scales each crop again
at random. Images whose short side is under ``min_side`` are left out (the trainer
would skip them). Files are named ``<source folder>__<stem>.jpg``; ``pack.json``
lists the sources, the chosen size and quality, and each file with its source and
SHA-256. ``rdlab train image PACK`` reads the folder as it reads any other.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._files import write_atomic
from ..errors import InputError

__all__ = ["SHORT_SIDES", "PackReport", "build_pack", "pack_images"]

SHORT_SIDES = (1024, 768, 640, 512, 448, 384, 352, 320, 288, 256)
"""Short sides (pixels) tried, largest first."""
MANIFEST = "pack.json"


@dataclass(frozen=True)
class PackReport:
    """What :func:`build_pack` wrote: ``files``, ``bytes`` (JPEG bytes in all), the
    ``short_side`` (pixels) and ``quality`` it chose, the ``sources``, and the images
    ``skipped`` for a short side under ``min_side`` (training could not crop them)."""

    files: int
    bytes: int
    short_side: int
    quality: int
    sources: list[str]
    skipped: list[str]


def _sources(folders: Sequence[str], min_side: int) -> tuple[list[Path], list[str]]:
    """The images of ``folders`` (sorted) whose short side is at least ``min_side``, and
    the paths of those that are not."""
    from PIL import Image

    from ..data.images import IMAGE_SUFFIXES

    paths, small = [], []
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            raise InputError("sources", f"{folder} is not a folder")
        found = [
            p
            for p in sorted(root.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
        ]
        if not found:
            raise InputError("sources", f"{folder} holds no image")
        for path in found:
            with Image.open(path) as image:
                (paths if min(image.size) >= min_side else small).append(path)
    names = [f"{p.parent.name}__{p.stem}.jpg" for p in paths]
    if len(set(names)) != len(names):
        raise InputError("sources", "two sources give the same pack name (folder__stem)")
    return paths, [str(p) for p in small]


def _jpeg(image: Any, short_side: int, quality: int) -> bytes:
    """``image`` (PIL, RGB) reduced to ``short_side`` by area averaging, as JPEG bytes."""
    from PIL import Image

    scale = short_side / min(image.size)
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BOX)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, subsampling=0, optimize=True)
    return out.getvalue()


def pack_images(
    paths: Sequence[Path], short_side: int, quality: int, max_bytes: int | None = None
) -> list[bytes] | None:
    """The JPEG bytes of every image at ``short_side`` and ``quality``; None as soon as
    their total passes ``max_bytes``."""
    from PIL import Image

    out, total = [], 0
    for path in paths:
        with Image.open(path) as image:
            data = _jpeg(image.convert("RGB"), short_side, quality)
        total += len(data)
        if max_bytes is not None and total > max_bytes:
            return None
        out.append(data)
    return out


def build_pack(
    sources: Sequence[str],
    out: str | os.PathLike[str],
    *,
    max_bytes: int,
    quality: int = 90,
    min_side: int = 256,
    force: bool = False,
) -> PackReport:
    """Pack the images of ``sources`` into the folder ``out`` (see the module docstring).

    Args:
        sources: folders of training images (never evaluation images).
        out: the pack folder (created; it must be empty or missing, or ``force``).
        max_bytes: the budget for the JPEG files together, in bytes.
        quality: JPEG quality, 50..100.
        min_side: the training crop (pixels): smaller images are left out, and no image
            is reduced below it.
        force: replace the files of an existing pack folder.

    Returns:
        The :class:`PackReport`.

    Raises:
        InputError: a source that is not a folder or holds no image, colliding names,
            ``out`` not empty (without ``force``), a bad quality or budget, or no short
            side of :data:`SHORT_SIDES` that fits the budget.
    """
    if isinstance(quality, bool) or not isinstance(quality, int) or not 50 <= quality <= 100:
        raise InputError("quality", f"must be an integer in 50..100, got {quality!r}")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise InputError("max_bytes", f"must be a positive integer, got {max_bytes!r}")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise InputError("out", f"{folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise InputError("out", f"{folder} is not empty (use --force to replace the pack)")
    paths, skipped = _sources(sources, min_side)
    for side in (s for s in SHORT_SIDES if s >= min_side):
        packed = pack_images(paths, side, quality, max_bytes)
        if packed is not None:
            break
    else:
        raise InputError(
            "max_bytes",
            f"{len(paths)} images do not fit {max_bytes} bytes even at a short side of "
            f"{max(min_side, SHORT_SIDES[-1])} px",
        )
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    files = []
    for path, data in zip(paths, packed, strict=True):
        name = f"{path.parent.name}__{path.stem}.jpg"
        write_atomic(folder / name, data, overwrite=True)
        files.append({"file": name, "source": str(path), "bytes": len(data),
                      "sha256": hashlib.sha256(data).hexdigest()})  # fmt: skip
    report = PackReport(len(files), sum(f["bytes"] for f in files), side, quality,
                        [str(s) for s in sources], skipped)  # fmt: skip
    manifest = {**report.__dict__, "list": files}
    write_atomic(folder / MANIFEST, json.dumps(manifest, indent=1).encode(), overwrite=True)
    return report
