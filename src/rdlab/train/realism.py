"""Train a realism head (:mod:`rdlab.nn.realism`) for a frozen image model.

The image model's analysis, quantizer and synthesis stay as they are (the bitstream does
not change). Training crops are coded once through the model (rounding around the
hyperprior means, as the codec does) at random rate parameters ``t ~ U[0, K − 1]``, and
the head learns, from those pairs ``(x, x_hat)`` and fresh noise, to minimize per crop

    255² · MSE(x_real, x)  +  w_P · 255² · SW2²(patches of x_real, patches of x)

where SW2² is the sliced Wasserstein-2 distance (64 random directions a step) between
the sets of 8×8 RGB patches (stride 4) of the sample and of its original: a critic-free
realism term that rewards texture whose local statistics match the original's, which the
plain (conditional-mean) reconstruction lacks. ``w_P = 0`` trains towards the plain
decoder's MSE; larger ``w_P`` buys realism with distortion.

The run is a :class:`~rdlab.train.trainer.Trainer` run (checkpoints, logs, ``--resume``,
``--max-minutes``); :func:`train_realism_head` then writes the head's file
(:mod:`rdlab.codecs.realism_file`), bound to the image model by its hash.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..codecs.image_model_file import load_image_model
from ..codecs.realism_file import save_realism_head
from ..errors import InputError
from ..metrics.torch_realism import image_patches, random_directions, sliced_w2
from ..nn.realism import RealismHead, RealismHeadConfig
from .image import load_image_folder
from .trainer import RateDistortionLoss, Trainer, TrainerConfig

__all__ = ["RealismLoss", "RealismTrainConfig", "code_crops", "train_realism_head"]


@dataclass
class RealismTrainConfig:
    """A realism-head run (see the module docstring).

    Args:
        data: folder of training photos.
        out: run folder (checkpoint, logs) — the head's file is ``out/realism.safetensors``.
        model: the image model (bundled name or file) the head serves.
        steps, batch, lr, max_minutes, log_every, checkpoint_every, device: as in
            :class:`~rdlab.train.trainer.TrainerConfig`.
        crop: training crop side in pixels (a multiple of 64).
        crops: crops coded through the model once, before training (the pool batches
            are drawn from).
        perception_weight: w_P, the weight of the patch SW2² term.
        channels, layers, noise_channels: the head's shape.
        seed: crops, noise and initialization.
    """

    data: str
    out: str = "rdlab-realism"
    model: str = "default"
    steps: int = 3000
    batch: int = 8
    lr: float = 5e-4
    crop: int = 128
    crops: int = 1024
    perception_weight: float = 100.0
    channels: int = 32
    layers: int = 6
    noise_channels: int = 2
    device: str = "cpu"
    max_minutes: float | None = None
    log_every: int = 100
    checkpoint_every: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        if self.crop < 64 or self.crop % 64:
            raise InputError("crop", f"must be a positive multiple of 64, got {self.crop}")
        if self.crops < 1:
            raise InputError("crops", f"must be >= 1, got {self.crops}")
        w = self.perception_weight
        if not (math.isfinite(w) and w >= 0):
            raise InputError("perception_weight", f"must be a finite number >= 0, got {w}")


def code_crops(
    net: Any, images: list[np.ndarray], count: int, crop: int, seed: int
) -> torch.Tensor:
    """``count`` random crops and their reconstructions by the frozen model.

    Each crop gets a rate parameter ``t ~ U[0, K − 1]``; its latent is rounded around
    the hyperprior means (the codec's quantizer) and synthesized.

    Returns:
        (count, 7, crop, crop) float32: the crop (3), its reconstruction clamped to
        [0, 1] (3), and a plane holding ``t``.
    """
    generator = np.random.default_rng(seed)
    levels = net.config.levels
    out = torch.empty(count, 7, crop, crop)
    with torch.inference_mode():
        for i in range(count):
            image = images[int(generator.integers(len(images)))]
            top = int(generator.integers(image.shape[0] - crop + 1))
            left = int(generator.integers(image.shape[1] - crop + 1))
            pixels = image[top : top + crop, left : left + crop]
            x = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None].float()
            x = x / 255.0
            t = torch.tensor([float(generator.uniform(0.0, levels - 1))])
            y = net.analyze(x, t)
            y_hat = net.latent_codec(y, training_proxy="ste")["y_hat"]
            out[i, :3] = x[0]
            out[i, 3:6] = net.synthesize(y_hat, t)[0].clamp(0.0, 1.0)
            out[i, 6] = t
    return out


class _CodedCrops:
    """Batches of coded crops, flipped at random (a resumable :class:`BatchSampler`)."""

    def __init__(self, pool: torch.Tensor, seed: int) -> None:
        self.pool = pool
        self.rng = np.random.default_rng(seed)

    def sample(self, batch: int) -> torch.Tensor:
        index = self.rng.integers(self.pool.shape[0], size=batch)
        flips = self.rng.random(batch) < 0.5
        out = self.pool[torch.from_numpy(index)].clone()
        out[torch.from_numpy(flips)] = out[torch.from_numpy(flips)].flip(-1)
        return out

    def state(self) -> dict[str, Any]:
        return self.rng.bit_generator.state

    def set_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state


def _head_forward(noise_channels: int) -> Any:
    def forward(head: torch.nn.Module, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        x_hat = batch[:, 3:6]
        noise = torch.randn(batch.shape[0], noise_channels, *batch.shape[2:], device=batch.device)
        x_real = head(x_hat, noise, batch[:, 6, 0, 0])
        return {"x_hat": x_real, "bits": torch.zeros(batch.shape[0], device=batch.device)}

    return forward


class RealismLoss(RateDistortionLoss):
    """``255²·(MSE + w_P · patch SW2²)`` of a realism sample against its original.

    Args:
        perception_weight: w_P.
        projections: random directions of the sliced distance per step.
    """

    def __init__(self, perception_weight: float, projections: int = 64) -> None:
        super().__init__(1.0, "mse")
        self.perception_weight = float(perception_weight)
        self.projections = projections

    def __call__(
        self, batch: torch.Tensor, output: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        x = batch[:, :3]
        x_real = output["x_hat"]
        mse = ((x_real - x) ** 2).mean()
        target = image_patches(x)
        theta = random_directions(target.shape[-1], self.projections)
        sw = sliced_w2(image_patches(x_real), target, directions=theta)
        loss = 255.0**2 * (mse + self.perception_weight * sw)
        with torch.no_grad():
            plain = ((batch[:, 3:6] - x) ** 2).mean()
            psnr = 10 * torch.log10(1.0 / mse.clamp_min(1e-10))
            plain_psnr = 10 * torch.log10(1.0 / plain.clamp_min(1e-10))
            plain_sw = sliced_w2(image_patches(batch[:, 3:6]), target, directions=theta)
        # the sliced distance is logged in 255² units (pixel values 0..255), like the loss
        return {
            "loss": loss,
            "psnr": psnr,
            "plain_psnr": plain_psnr,
            "sw2": 255.0**2 * sw.detach(),
            "plain_sw2": 255.0**2 * plain_sw,
        }


def train_realism_head(
    config: RealismTrainConfig, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Train (or continue) a realism head and write its file.

    Returns:
        The trainer's summary plus ``head`` (the path of the head's file).

    Raises:
        InputError: no usable images, an unknown model, or a checkpoint of another run.
    """
    trainer_config = TrainerConfig(
        **{
            f.name: getattr(config, f.name)
            for f in fields(TrainerConfig)
            if hasattr(config, f.name)
        }
    )
    trainer_config.check()
    model = load_image_model(config.model)
    net = model.net.eval()
    for parameter in net.parameters():
        parameter.requires_grad_(False)
    images = load_image_folder(config.data, min_side=config.crop)
    torch.manual_seed(config.seed)
    head_config = RealismHeadConfig(
        config.channels, config.layers, config.noise_channels, model.levels
    )
    head = RealismHead(head_config)
    pool = code_crops(net, images, config.crops, config.crop, config.seed)
    trainer = Trainer(
        head,
        _CodedCrops(pool, config.seed + 1),
        RealismLoss(config.perception_weight),
        trainer_config,
        forward=_head_forward(config.noise_channels),
        metadata={
            "head_config": head_config.to_dict(),
            "realism_config": asdict(config),
            "model_hash": model.hash.hex(),
        },
        check_resume=_resume_check(model.hash.hex(), head_config),
    )
    summary = trainer.fit(resume=resume, progress=progress)
    path = Path(config.out) / "realism.safetensors"
    save_realism_head(head, model, path, card=_card(config, summary))
    return {**summary, "head": str(path)}


def _resume_check(model_hash: str, head_config: RealismHeadConfig) -> Any:
    def check(state: dict[str, Any]) -> None:
        if state.get("model_hash") != model_hash:
            raise InputError("checkpoint", "was trained for another image model")
        if state.get("head_config") != head_config.to_dict():
            raise InputError("checkpoint", "holds a head of another shape")

    return check


def _card(config: RealismTrainConfig, summary: dict[str, Any]) -> str:
    return (
        f"realism head for model {config.model!r}: {summary['step']} steps, batch "
        f"{config.batch}, {config.crop}px crops ({config.crops} coded crops of {config.data}), "
        f"w_P = {config.perception_weight:g}, lr {config.lr:g}; {summary['seconds']:.0f} s"
    )
