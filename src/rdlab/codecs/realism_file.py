"""Files of realism heads (:mod:`rdlab.nn.realism`), each bound to one image model.

A head file is a safetensors file with metadata ``format`` = :data:`HEAD_FORMAT`,
``config`` (the head's shape, JSON), ``model_hash`` (of its own tensors, float32),
``image_model_hash`` (the image model whose reconstructions it was trained on: a head is
refused for any other model) and ``card`` (how it was trained). Bundled heads live in
``rdlab/models/realism/<image model name>.safetensors``.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from .._files import write_atomic
from ..container import model_hash
from ..errors import InputError, ModelError
from ..nn.model_files import check_shapes_on_meta, load_state, read_model_file
from ..nn.realism import RealismHead, RealismHeadConfig

__all__ = ["HEAD_FORMAT", "bundled_realism_heads", "load_realism_head", "save_realism_head"]

HEAD_FORMAT = "rdlab-realism-head-1"


def _bundled_root() -> Path:
    return Path(str(files("rdlab") / "models" / "realism"))


def bundled_realism_heads() -> list[str]:
    """Names of the image models that have a bundled realism head."""
    root = _bundled_root()
    if not root.is_dir():
        return []
    return sorted(p.stem for p in root.iterdir() if p.suffix == ".safetensors")


def save_realism_head(
    head: RealismHead, image_model: Any, path: str | os.PathLike[str], card: str = "",
    *, overwrite: bool = True,
) -> bytes:  # fmt: skip
    """Write ``head`` (float32) for ``image_model`` (an ``ImageCodecModel``) atomically.

    Returns:
        The hash of the head's tensors.

    Raises:
        InputError: on ``"output"``: ``path`` exists and ``overwrite`` is false.
    """
    from safetensors.numpy import save

    arrays = {k: v.detach().float().cpu().numpy() for k, v in head.state_dict().items()}
    digest = model_hash(arrays)
    metadata = {
        "format": HEAD_FORMAT,
        "config": json.dumps(head.config.to_dict(), sort_keys=True),
        "model_hash": digest.hex(),
        "image_model_hash": image_model.hash.hex(),
        "card": card,
    }
    write_atomic(path, save(arrays, metadata=metadata), overwrite=overwrite)
    return digest


def _head_path(name: str, image_model: Any) -> Path:
    """The file of head ``name``: a path, or ``"default"`` for the image model's bundled head."""
    if name != "default":
        return Path(name)
    path = _bundled_root() / f"{image_model.name}.safetensors"
    if not path.is_file():
        known = ", ".join(bundled_realism_heads()) or "none"
        raise InputError(
            "realism",
            f"model {image_model.name!r} has no bundled realism head (bundled for: {known}); "
            "give a head file (rdlab train realism)",
        )
    return path


def load_realism_head(name: str, image_model: Any) -> RealismHead:
    """The realism head ``name`` (``"default"``: the bundled one) for ``image_model``.

    Raises:
        InputError: no such file, or no bundled head for this model.
        ModelError: not a head file, damaged, or trained for another image model.
    """
    path = _head_path(name, image_model)
    stat = path.stat() if path.is_file() else None
    if stat is None:
        raise InputError("realism", f"{path} is not a file")
    head, bound_to = _load_cached(str(path), stat.st_size, stat.st_mtime_ns)
    if bound_to != image_model.hash.hex():
        raise ModelError(
            f"{path}: this realism head was trained for another image model than "
            f"{image_model.name!r} (hash {bound_to[:12]} vs {image_model.hash.hex()[:12]})"
        )
    return head


@lru_cache(maxsize=4)
def _load_cached(source: str, size: int, mtime_ns: int) -> tuple[RealismHead, str]:
    metadata, config, arrays = read_model_file(source, HEAD_FORMAT, "realism head")
    try:
        head_config = RealismHeadConfig.from_dict(config)
    except InputError:
        raise ModelError(f"{source}: its realism head config is incomplete") from None
    check_shapes_on_meta(source, lambda: RealismHead(head_config), arrays, "the realism head")
    head = RealismHead(head_config)
    load_state(head, arrays, source, "the realism head")
    return head.eval(), str(metadata.get("image_model_hash", ""))
