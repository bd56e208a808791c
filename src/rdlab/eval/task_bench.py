"""Task-aware against MSE-trained compression on a real labelled task: handwritten digits.

Data: scikit-learn's bundled 8×8 handwritten digits (1,797 images, 10 classes; values
0..16 scaled to [0, 1]), split once by a seeded permutation into 1,200 training and 597
test images; nothing is downloaded. The downstream model is a small classifier (an MLP
64-128-10) trained on the clean training images. The codecs are the same small model
(MLP analysis to ``latents`` values, :class:`~rdlab.nn.entropy.EntropyBottleneck`, MLP
synthesis), trained by :class:`~rdlab.train.Trainer` for each λ either for MSE
(``distortion="mse"``) or for the task (:class:`~rdlab.train.task.TaskDistortion`: the
classifier's distillation loss plus a small MSE term). Evaluation codes the whole test set
into one real range-coded stream (bits per image = 8 × bytes / images), decodes it, and
classifies the reconstructions.

Reported: the classifier's accuracy on clean test images, both codecs' (bits, accuracy,
MSE) per λ, accuracy of each at common rates (linear interpolation in log bits), and the
least rate at which each keeps 99 % of the clean accuracy.
"""

from __future__ import annotations

import itertools
import math
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..nn.entropy import EntropyBottleneck
from ..train.task import TaskDistortion, distillation_loss
from ..train.trainer import RateDistortionLoss, Trainer, TrainerConfig

__all__ = ["DigitCodec", "load_digits_split", "run_task_bench"]

TRAIN_IMAGES = 1200


def load_digits_split(seed: int = 0) -> tuple[torch.Tensor, ...]:
    """(x_train, y_train, x_test, y_test): images ``(N, 1, 8, 8)`` float32 on [0, 1] and
    labels ``(N,)`` int64; the split is a permutation seeded by ``seed``.

    Raises:
        InputError: scikit-learn is not installed.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise InputError(
            "task", "the digits task needs scikit-learn: pip install -e '.[task]'"
        ) from None
    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.from_numpy(np.random.default_rng([seed, 37]).permutation(len(y)))
    x, y = x[order], y[order]
    return x[:TRAIN_IMAGES], y[:TRAIN_IMAGES], x[TRAIN_IMAGES:], y[TRAIN_IMAGES:]


class _Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _train_classifier(x: torch.Tensor, y: torch.Tensor, seed: int, steps: int = 600) -> nn.Module:
    torch.manual_seed(seed)
    model = _Classifier()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(y), (64,), generator=gen)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


class DigitCodec(nn.Module):
    """A small learned codec for 8×8 images: MLP analysis → ``latents`` values →
    :class:`EntropyBottleneck` → MLP synthesis (sigmoid). ``forward`` gives ``{"x_hat",
    "bits"}`` (bits per latent value), the trainer's convention."""

    def __init__(self, latents: int = 16) -> None:
        super().__init__()
        self.latents = latents
        self.g_a = nn.Sequential(nn.Flatten(), nn.Linear(64, 96), nn.GELU(), nn.Linear(96, latents))
        self.entropy_bottleneck = EntropyBottleneck(latents)
        self.g_s = nn.Sequential(nn.Linear(latents, 96), nn.GELU(), nn.Linear(96, 64), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        y = self.g_a(x)[:, :, None, None]
        y_hat, bits = self.entropy_bottleneck(y, training_proxy="mixed" if self.training else None)
        return {"x_hat": self.g_s(y_hat.flatten(1)).view(-1, 1, 8, 8), "bits": bits}

    def compress(self, x: torch.Tensor) -> bytes:
        """The images ``(N, 1, 8, 8)`` as one range-coded stream (after :meth:`update`)."""
        with torch.no_grad():
            return self.entropy_bottleneck.compress(self.g_a(x)[:, :, None, None])

    def decompress(self, data: bytes, count: int) -> torch.Tensor:
        """Inverse of :meth:`compress`: the reconstructions ``(count, 1, 8, 8)``."""
        with torch.no_grad():
            y_hat = self.entropy_bottleneck.decompress(data, (count, self.latents, 1, 1))
            return self.g_s(y_hat.flatten(1)).view(-1, 1, 8, 8)

    def update(self) -> None:
        self.entropy_bottleneck.update()


class _Rows:
    """Random rows of a tensor (a :class:`~rdlab.train.trainer.BatchSampler`)."""

    def __init__(self, x: torch.Tensor, seed: int) -> None:
        self.x = x
        self.gen = torch.Generator().manual_seed(seed)

    def sample(self, batch: int) -> torch.Tensor:
        return self.x[torch.randint(0, len(self.x), (batch,), generator=self.gen)]


def _train_codec(
    x: torch.Tensor, lmbda: float, distortion: Any, steps: int, seed: int, latents: int
) -> DigitCodec:
    torch.manual_seed(seed)
    codec = DigitCodec(latents)
    with tempfile.TemporaryDirectory() as out:
        config = TrainerConfig(
            out=out, steps=steps, batch=64, lr=3e-3, log_every=10**9, checkpoint_every=10**9
        )
        Trainer(codec, _Rows(x, seed), RateDistortionLoss(lmbda, distortion), config).fit(
            progress=False
        )
    codec.eval()
    codec.update()
    return codec


def _evaluate(codec: DigitCodec, classifier: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    data = codec.compress(x)
    x_hat = codec.decompress(data, len(x))
    with torch.no_grad():
        acc = float((classifier(x_hat).argmax(dim=1) == y).float().mean())
    return {
        "bits_per_image": 8.0 * len(data) / len(x),
        "accuracy": acc,
        "mse": float(((x - x_hat) ** 2).mean()),
    }


def _interp(points: list[dict], bits: float) -> float | None:
    pts = sorted(points, key=lambda p: p["bits_per_image"])
    b = np.log([p["bits_per_image"] for p in pts])
    if not b[0] <= math.log(bits) <= b[-1]:
        return None
    return float(np.interp(math.log(bits), b, [p["accuracy"] for p in pts]))


def _rate_for(points: list[dict], accuracy: float) -> float | None:
    """Least rate (bits/image, interpolated in log bits) at which accuracy >= target."""
    pts = sorted(points, key=lambda p: p["bits_per_image"])
    for lo, hi in itertools.pairwise(pts):
        if lo["accuracy"] >= accuracy:
            return lo["bits_per_image"]
        if hi["accuracy"] >= accuracy:
            f = (accuracy - lo["accuracy"]) / (hi["accuracy"] - lo["accuracy"])
            lb, hb = math.log(lo["bits_per_image"]), math.log(hi["bits_per_image"])
            return math.exp(lb + f * (hb - lb))
    return pts[0]["bits_per_image"] if pts and pts[0]["accuracy"] >= accuracy else None


def run_task_bench(
    *,
    lambdas: Sequence[float] = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.015),
    task_weight: float = 300.0,
    steps: int = 1500,
    latents: int = 16,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train both codecs at each λ and compare them (see the module docstring).

    ``task_weight`` is λ_task in units of ``255²·MSE``: the task codec minimizes
    ``rate + λ (task_weight · KL + 0.1 · 255² · MSE)``.

    Raises:
        InputError: scikit-learn missing, or bad λ / steps.
    """
    if not lambdas or any(not (lam > 0 and math.isfinite(lam)) for lam in lambdas):
        raise InputError("lambdas", "give positive, finite λ values")
    if steps < 1:
        raise InputError("steps", f"must be >= 1, got {steps}")
    x_tr, y_tr, x_te, y_te = load_digits_split(seed)
    classifier = _train_classifier(x_tr, y_tr, seed)
    with torch.no_grad():
        clean = float((classifier(x_te).argmax(dim=1) == y_te).float().mean())
    task = TaskDistortion(distillation_loss(classifier), task_weight, 0.1)
    curves: dict[str, list[dict[str, Any]]] = {"mse": [], "task": []}
    done = 0
    for lam in lambdas:
        for name, distortion in (("mse", "mse"), ("task", task)):
            codec = _train_codec(x_tr, lam, distortion, steps, seed, latents)
            curves[name].append({"lmbda": lam, **_evaluate(codec, classifier, x_te, y_te)})
            done += 1
            if progress is not None:
                progress(done)
    lo = max(min(p["bits_per_image"] for p in c) for c in curves.values())
    hi = min(max(p["bits_per_image"] for p in c) for c in curves.values())
    common = [float(b) for b in np.geomspace(lo, hi, 5)] if lo < hi else []
    at_equal = [
        {
            "bits_per_image": b,
            "mse_codec": _interp(curves["mse"], b),
            "task_codec": _interp(curves["task"], b),
        }
        for b in common
    ]
    return {
        "benchmark": "task-aware compression, sklearn digits",
        "train_images": len(y_tr),
        "test_images": len(y_te),
        "clean_accuracy": clean,
        "task_weight": task_weight,
        "steps": steps,
        "latents": latents,
        "curves": curves,
        "at_equal_bits": at_equal,
        "rate_for_99_percent": {
            name: _rate_for(points, 0.99 * clean) for name, points in curves.items()
        },
    }
