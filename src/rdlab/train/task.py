"""Task-aware compression: train a codec for what a downstream model needs.

The trainer's loss is ``rate + λ·D`` (:class:`~rdlab.train.trainer.RateDistortionLoss`);
a task enters through ``D``: :class:`TaskDistortion` is the per-sample
``λ_task · task_loss(x, x_hat) + λ_D · 255² · MSE(x, x_hat)``, so the total is
``rate + λ (λ_task · task loss + λ_D · distortion)``. Two kinds of task loss:

- :func:`distillation_loss` of a downstream model f: ``KL(softmax f(x) ‖ softmax
  f(x_hat))`` in nats per sample: the reconstruction must make f say what it says on the
  original. It needs no labels, so it fits any data the trainer reads.
- any differentiable ``task_loss(x, x_hat) -> (B,)``, e.g. loaded from
  ``"package.module:function"`` by :func:`load_task` (``rdlab train image --task``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import torch
from torch import nn

from ..errors import InputError

__all__ = ["TaskDistortion", "distillation_loss", "load_task"]

TaskLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def distillation_loss(model: nn.Module) -> TaskLoss:
    """``task_loss(x, x_hat) = KL(softmax f(x) ‖ softmax f(x_hat))`` per sample (nats) for
    a classifier ``f = model`` returning logits ``(B, classes)``; f's weights are not
    trained (its parameters are frozen here)."""
    for p in model.parameters():
        p.requires_grad_(False)

    def task_loss(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = torch.log_softmax(model(x), dim=-1)
        pred = torch.log_softmax(model(x_hat), dim=-1)
        return (target.exp() * (target - pred)).sum(dim=-1)

    return task_loss


class TaskDistortion:
    """``λ_task · task_loss(x, x_hat) + λ_D · 255² · MSE`` per sample (see module doc).

    Args:
        task_loss: ``(x, x_hat) -> (B,)``, differentiable in ``x_hat``.
        task_weight: λ_task >= 0. distortion_weight: λ_D >= 0 (MSE of signals on [0, 1],
            scaled by 255² like the trainer's ``"mse"``).

    Raises:
        InputError: a non-callable task or negative or non-finite weights.
    """

    def __init__(
        self, task_loss: TaskLoss, task_weight: float = 1.0, distortion_weight: float = 0.0
    ) -> None:
        if not callable(task_loss):
            raise InputError("task", f"must be callable, got {task_loss!r}")
        for name, w in (("task_weight", task_weight), ("distortion_weight", distortion_weight)):
            if not (isinstance(w, (int, float)) and w >= 0 and w == w and w != float("inf")):
                raise InputError(name, f"must be a finite number >= 0, got {w!r}")
        self.task_loss = task_loss
        self.task_weight = float(task_weight)
        self.distortion_weight = float(distortion_weight)

    def __call__(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        out = self.task_weight * self.task_loss(x, x_hat)
        if self.distortion_weight:
            mse = ((x - x_hat) ** 2).flatten(1).mean(dim=1)
            out = out + self.distortion_weight * 255.0**2 * mse
        return out


def load_task(spec: str) -> TaskLoss:
    """The callable named ``"package.module:function"`` (imported now).

    Raises:
        InputError: a malformed spec, a module that cannot be imported, or a missing or
            non-callable attribute.
    """
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise InputError("task", f"expected MODULE:FUNCTION, got {spec!r}")
    module_name, attr = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import failure is the user's spec
        raise InputError("task", f"cannot import {module_name!r}: {exc}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise InputError("task", f"{module_name!r} has no callable {attr!r}")
    return fn
