"""Reading model files (safetensors) safely: the format, the recorded hash, and the
shapes a file's config asks for, all checked before any weight is allocated.

Shared by :func:`rdlab.nn.architectures.load_model` and
:func:`rdlab.nn.ltc.load_ltc_model`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..container import model_hash
from ..errors import InputError, ModelError

__all__ = ["check_shapes_on_meta", "load_state", "read_model_file"]


def read_model_file(
    path: str | os.PathLike[str], model_format: str, kind: str
) -> tuple[dict[str, str], dict[str, Any], dict[str, np.ndarray]]:
    """The metadata, the JSON ``config`` and the tensors of a model file whose
    ``format`` is ``model_format`` and whose tensors have the hash it records.

    Args:
        path: the ``.safetensors`` file.
        model_format: the ``format`` its metadata must name.
        kind: names the kind of model file in messages (e.g. ``"LTC"``).

    Returns:
        ``(metadata, config, arrays)``.

    Raises:
        InputError: on ``"model"``: ``path`` is not a file.
        ModelError: not such a model file (one line), or tensors that do not have the
            hash it records (damaged).
    """
    from safetensors import SafetensorError, safe_open

    source = os.fspath(path)
    if not os.path.isfile(source):
        raise InputError("model", f"{source} is not a file")
    try:
        with safe_open(source, framework="numpy") as file:
            metadata = file.metadata() or {}
            arrays = {key: file.get_tensor(key) for key in file.keys()}  # noqa: SIM118
        if metadata.get("format") != model_format:
            raise ValueError(f"format is {metadata.get('format')!r}, not {model_format!r}")
        config = json.loads(metadata["config"])
        if not isinstance(config, dict):
            raise ValueError("config is not a JSON object")
    except (SafetensorError, OSError, KeyError, TypeError, ValueError) as exc:
        text = " ".join(str(exc).split())
        raise ModelError(f"{source} is not an rdlab {kind} model file ({text})") from None
    if model_hash(arrays).hex() != metadata.get("model_hash"):
        raise ModelError(f"{source}: its tensors do not have the hash it records (damaged)")
    return metadata, config, arrays


def check_shapes_on_meta(
    source: str, build: Callable[[], nn.Module], arrays: dict[str, np.ndarray], what: str
) -> None:
    """Refuse, before any weight is allocated, a config whose parameters and buffers do
    not have the shapes of the file's tensors: ``build()`` runs on PyTorch's ``meta``
    device (shapes only), so a file claiming a huge model costs no memory.

    Raises:
        ModelError: ``build`` refuses the config, or a tensor is missing from the file
            or of another shape (``what`` names the model in the message).
    """
    try:
        with torch.device("meta"):
            skeleton = build()
    except ModelError:
        raise
    except Exception as exc:  # the factory refuses the config
        text = " ".join(str(exc).split())
        raise ModelError(f"{source}: its config does not build {what} ({text})") from None
    for key, tensor in [*skeleton.named_parameters(), *skeleton.named_buffers()]:
        if key not in arrays or tuple(arrays[key].shape) != tuple(tensor.shape):
            have = tuple(arrays[key].shape) if key in arrays else "missing"
            raise ModelError(
                f"{source}: tensor {key} is {have} in the file, {tuple(tensor.shape)} in "
                f"{what} with its config"
            )


def load_state(model: nn.Module, arrays: dict[str, np.ndarray], source: str, what: str) -> None:
    """Load a model file's arrays into ``model`` (copies: writable tensors).

    Raises:
        ModelError: the tensors do not fit ``model`` (``what`` names it in the message).
    """
    try:
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
    except RuntimeError as exc:
        text = " ".join(str(exc).split())
        raise ModelError(f"{source}: tensors do not fit {what} ({text})") from None
