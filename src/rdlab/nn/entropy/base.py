"""What the entropy modules share: training proxies and their decoder-side state.

**Training proxies** (the ``training_proxy`` argument of every ``forward``):

* ``"noise"``: additive uniform noise ``y + u`` (``u`` uniform over the quantization
  cell) for both the rate and the output (Ballé et al. 2017);
* ``"ste"``: hard quantization with the identity gradient (straight-through) for both;
* ``"mixed"``: the rate of the noisy value, the straight-through quantized value as
  output (Minnen and Singh 2020): what rdlab's image models train with;
* ``None``: hard quantization, no gradient through it (evaluation).

**Decoder-side state** (integer tables, the integer scale branch, a lattice coder's
arrays) is what encoder and decoder must share exactly. :class:`CodingState` keeps it as
numpy arrays on the CPU, never cast by ``.half()``/``.to()``, and writes it into
``state_dict()`` as tensors under the module's prefix, so it saves and loads with the
rest of the module (and the model file). A state dict without it leaves the module
without it (to be built again with the module's ``update``).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from ...errors import InputError

__all__ = [
    "TRAINING_PROXIES",
    "CodingState",
    "TrainingProxy",
    "check_proxy",
    "scale_table_indexes",
    "ste_round",
]

TrainingProxy = Literal["noise", "ste", "mixed"] | None
TRAINING_PROXIES = ("noise", "ste", "mixed", None)
"""The values ``training_proxy`` takes (see the module docstring)."""


def check_proxy(proxy: Any) -> None:
    """Raise :class:`~rdlab.errors.InputError` unless ``proxy`` is one of
    :data:`TRAINING_PROXIES`."""
    if proxy not in TRAINING_PROXIES:
        raise InputError(
            "training_proxy", f"must be 'noise', 'ste', 'mixed' or None, got {proxy!r}"
        )


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` forward, identity gradient."""
    return x + (torch.round(x) - x).detach()


def uniform_noise(x: torch.Tensor) -> torch.Tensor:
    """``x + u``, ``u`` uniform on ``[-1/2, 1/2)`` per element (the global torch RNG)."""
    return x + torch.empty_like(x).uniform_(-0.5, 0.5)


def scale_table_indexes(scales: Any, scale_table: Any) -> np.ndarray:
    """Index (int64) of the smallest entry of the increasing ``scale_table`` that is at
    least each scale, clamped to the table (scales <= the first entry get 0): the rule
    every scale index of rdlab follows (float comparisons)."""
    table = np.asarray(scale_table, dtype=np.float64)
    idx = np.searchsorted(table, np.asarray(scales, dtype=np.float64), side="left")
    return np.minimum(idx, table.size - 1).astype(np.int64)


class CodingState:
    """Mixin for ``nn.Module`` classes that hold decoder-side arrays.

    Subclasses list their state names in :attr:`coding_names` (an entry ending in ``.``
    is a group: every key under it) and implement :meth:`coding_arrays` (the current
    state, ``{}`` when not built) and :meth:`set_coding_arrays` (``None``: drop it; it
    may raise :class:`~rdlab.errors.ModelError` for inconsistent arrays).
    """

    coding_names: tuple[str, ...] = ()

    def coding_arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def set_coding_arrays(self, arrays: dict[str, np.ndarray] | None) -> None:
        raise NotImplementedError

    def _owns(self, name: str) -> bool:
        return any(name.startswith(n) if n.endswith(".") else name == n for n in self.coding_names)

    def _save_to_state_dict(self, destination: Any, prefix: str, keep_vars: bool) -> None:
        super()._save_to_state_dict(destination, prefix, keep_vars)  # type: ignore[misc]
        for name, array in self.coding_arrays().items():
            destination[prefix + name] = torch.from_numpy(np.array(array, copy=True))

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: Any,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        found = {}
        for key in [k for k in state_dict if k.startswith(prefix)]:
            name = key[len(prefix) :]
            if self._owns(name):
                value = state_dict.pop(key)
                found[name] = value.detach().cpu().numpy() if torch.is_tensor(value) else value
        super()._load_from_state_dict(  # type: ignore[misc]
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        self.set_coding_arrays(found or None)
