"""Training the hyperprior image model (on :class:`~rdlab.train.trainer.Trainer`): random
crops, loss λ·D + R, checkpoints, resume.

The loss per image is ``λ(t)·255²·MSE + bits per pixel`` (or ``λ(t)·c·(1 - MS-SSIM) +
bpp`` with ``distortion="ms-ssim"``), at a rate parameter ``t`` drawn uniformly from
``[0, K-1]`` per image, so one model learns every rate. Optimizer: Adam; the learning
rate is held, then decays by 10× over the last ``decay_fraction`` of the steps.

Runs on CPU or CUDA (``device``); several GPUs through ``torchrun`` (data-parallel,
one process per GPU; rank 0 alone writes checkpoints and logs). Training that outlasts
one sitting continues from its checkpoint (``resume=True``): model, optimizer, step and
random state are restored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional

from ..errors import InputError
from ..nn.image_model import DEFAULT_LAMBDAS, HyperpriorImageModel, ImageModelConfig
from .trainer import (
    UNREADABLE,
    Forward,
    RateDistortionLoss,
    Trainer,
    TrainerConfig,
    distributed_run,
)

__all__ = ["CropSampler", "ImageTrainConfig", "load_image_folder", "train_image_model"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm")


@dataclass
class ImageTrainConfig:
    """Everything that defines a training run (saved in checkpoints and the model card)."""

    data: str = ""
    out: str = "rdlab-train"
    steps: int = 100_000
    batch: int = 16
    crop: int = 256
    lr: float = 1e-4
    decay_fraction: float = 0.15
    channels: int = 128
    latent_channels: int = 192
    lambdas: tuple[float, ...] = field(default=DEFAULT_LAMBDAS)
    distortion: str = "mse"
    task: str | None = None
    task_weight: float = 1.0
    device: str = "cpu"
    seed: int = 0
    checkpoint_every: int = 1000
    log_every: int = 50
    max_minutes: float | None = None
    init: str | None = None
    start_step: int = 0
    clip_grad: float = 1.0
    scale_augment: float = 0.5
    lattice: str | None = None
    context: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lambdas": list(self.lambdas)}


def load_image_folder(folder: str | os.PathLike[str], min_side: int) -> list[np.ndarray]:
    """All 8-bit images in ``folder`` as ``(H, W, 3)`` uint8 (greyscale repeated).

    Images whose short side is under ``min_side`` are skipped; an empty result is an error.
    """
    from PIL import Image

    root = Path(folder)
    if not root.is_dir():
        raise InputError("data", f"{root} is not a folder")
    images = []
    for path in sorted(root.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        with Image.open(path) as image:
            array = np.array(image.convert("RGB"), dtype=np.uint8)
        if min(array.shape[:2]) >= min_side:
            images.append(array)
    if not images:
        raise InputError("data", f"{root} holds no image with a side of at least {min_side} px")
    return images


class CropSampler:
    """Random square crops (with random down-scaling and flips) from images in memory.

    Images live on ``device`` as uint8; a crop is drawn from an image picked with
    probability proportional to its pixel count, optionally down-scaled by a factor in
    ``[1 - scale_augment, 1]`` (area-averaging, which keeps the statistics of a photo),
    and flipped left-right with probability 1/2. Returns float ``(B, 3, crop, crop)`` in [0, 1].
    """

    def __init__(
        self,
        images: list[np.ndarray],
        crop: int,
        device: torch.device,
        seed: int,
        scale_augment: float = 0.5,
    ) -> None:
        self.images = [
            torch.from_numpy(im).permute(2, 0, 1).contiguous().to(device) for im in images
        ]
        areas = np.array([im.shape[0] * im.shape[1] for im in images], dtype=np.float64)
        self.weights = areas / areas.sum()
        self.crop = crop
        self.device = device
        self.scale_augment = scale_augment
        self.rng = np.random.default_rng(seed)

    def state(self) -> dict[str, Any]:
        return self.rng.bit_generator.state

    def set_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state

    def sample(self, batch: int) -> torch.Tensor:
        crops = []
        for i in self.rng.choice(len(self.images), size=batch, p=self.weights):
            image = self.images[int(i)]
            h, w = image.shape[1:]
            scale = 1.0 - self.rng.uniform(0.0, self.scale_augment)
            size = min(round(self.crop / scale), h, w)
            top = int(self.rng.integers(0, h - size + 1))
            left = int(self.rng.integers(0, w - size + 1))
            patch = image[:, top : top + size, left : left + size].float()[None] / 255.0
            if size != self.crop:
                patch = functional.interpolate(patch, size=(self.crop, self.crop), mode="area")
            if self.rng.random() < 0.5:
                patch = patch.flip(-1)
            crops.append(patch)
        return torch.cat(crops).clamp_(0.0, 1.0)


def hyperprior_forward(levels: int) -> Forward:
    """The trainer's pass of a :class:`HyperpriorImageModel` with ``levels`` rate levels.

    Draws a rate parameter ``t`` uniformly from ``[0, levels - 1]`` per image; returns
    ``{"x_hat", "bits": bits_y + bits_z (B,), "lmbda": λ(t) (B,)}``.
    """

    def forward(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        t = torch.rand(x.shape[0], device=x.device) * (levels - 1)
        result = model(x, t)
        return {
            "x_hat": result["x_hat"],
            "bits": result["bits_y"] + result["bits_z"],
            "lmbda": result["lmbda"],
        }

    return forward


def _resume_check(model_config: ImageModelConfig, checkpoint: Path) -> Callable[[Any], None]:
    """Refuses a checkpoint of another model shape or λ (naming the options that differ)."""

    def check(state: dict[str, Any]) -> None:
        wanted = model_config.to_dict()
        saved = ImageModelConfig.from_dict(state["model_config"]).to_dict()
        differing = [key for key in {*wanted, *saved} if saved.get(key) != wanted.get(key)]
        if differing:
            options = ", ".join(
                "--lattice" if key == "latent_lattice" else "--" + key.replace("_", "-")
                for key in sorted(differing)
            )
            raise InputError(
                "resume",
                f"{checkpoint} was trained with other {options}; match them or use another --out",
            )

    return check


def _load_init(model: HyperpriorImageModel, path: str) -> None:
    """Start ``model`` from the weights of the model file ``path`` (``--init``)."""
    from ..codecs.image_model_file import load_training_state

    init_config, state = load_training_state(path)
    # a scalar model may start a lattice one (same transforms, another latent coder) or a
    # context model (same transforms and hyperprior; the context branches start fresh)
    like = replace(
        init_config, latent_lattice=model.config.latent_lattice, context=model.config.context
    )
    if like != model.config:
        raise InputError("init", f"{path} has another shape or λ: {init_config}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    own = ["latent_codec.conditional.quantizer."]  # a lattice model's own buffers
    if init_config.context != model.config.context:
        own += ["latent_codec.context_scales.", "latent_codec.context_means."]
    stray = [k for k in [*missing, *unexpected] if not k.startswith(tuple(own))]
    if stray:
        raise InputError("init", f"{path} does not fit the model ({stray[:3]})")


def train_image_model(
    config: ImageTrainConfig, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Train (or continue training) a hyperprior image model with the :class:`Trainer`.

    Writes ``config.out``/``checkpoint.pt`` (every ``checkpoint_every`` steps and at the
    end), ``log.jsonl`` and ``log.csv`` (every ``log_every`` steps: step, seconds, loss,
    bpp, PSNR, learning rate).

    Args:
        config: the run.
        resume: continue from ``config.out``/``checkpoint.pt`` where it exists.
        progress: show a progress bar.

    Returns:
        The summary of :meth:`Trainer.fit`.

    Raises:
        InputError: no usable images, an ``init`` model or checkpoint that does not fit.
    """
    with distributed_run(config.device) as (rank, _, device):
        torch.manual_seed(config.seed + rank)
        model_config = ImageModelConfig(
            config.channels,
            config.latent_channels,
            tuple(config.lambdas),
            config.lattice,
            config.context,
        )
        model = HyperpriorImageModel(model_config).to(device)
        images = load_image_folder(config.data, min_side=config.crop)
        sampler = CropSampler(
            images, config.crop, device, config.seed * 1009 + rank, config.scale_augment
        )
        trainer_config = TrainerConfig(
            **{f.name: getattr(config, f.name) for f in fields(TrainerConfig)}
        )
        checkpoint = Path(config.out) / "checkpoint.pt"
        trainer = Trainer(
            model,
            sampler,
            RateDistortionLoss(distortion=_distortion(config)),
            trainer_config,
            forward=hyperprior_forward(model_config.levels),
            metadata={"model_config": model_config.to_dict(), "train_config": config.to_dict()},
            check_resume=_resume_check(model_config, checkpoint),
        )
        if config.init and not (resume and checkpoint.exists()):
            _load_init(model, config.init)
            # a run continued on another machine from its model file: the schedule goes
            # on from that step (the optimizer's moments start afresh)
            trainer.step = config.start_step
        return trainer.fit(resume=resume, progress=progress)


def calibration_crops(
    folder: str | os.PathLike[str], crops: int = 16, size: int = 256, seed: int = 0
) -> torch.Tensor:
    """``crops`` random ``size``² crops ``(crops, 3, size, size)`` in [0, 1] from a folder."""
    images = load_image_folder(folder, min_side=size)
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.integers(0, len(images), size=crops):
        image = images[int(i)]
        h, w = image.shape[:2]
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        out.append(torch.from_numpy(image[top : top + size, left : left + size].copy()))
    return torch.stack(out).permute(0, 3, 1, 2).float() / 255.0


def export_checkpoint(
    checkpoint: str | os.PathLike[str],
    output: str | os.PathLike[str],
    calibration: str | os.PathLike[str],
    crops: int = 16,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the model file of a training checkpoint; returns ``{output, bytes, hash, card}``.

    The model card records the training configuration, steps and seconds from the
    checkpoint and the calibration folder.
    """
    from ..codecs.image_model_file import export_image_model

    path = Path(checkpoint)
    if not path.is_file():
        raise InputError("checkpoint", f"{path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        model = HyperpriorImageModel(ImageModelConfig.from_dict(state["model_config"]))
        model.load_state_dict(state["model"])
    except UNREADABLE as exc:
        raise InputError(
            "checkpoint", f"{path} is not an image-model checkpoint ({type(exc).__name__})"
        ) from None
    train_config = state.get("train_config", {})
    card = {
        "architecture": "mean-scale hyperprior, GDN, gain units "
        f"(N={model.config.channels}, M={model.config.latent_channels}, "
        f"{model.config.levels} levels)",
        "steps": int(state.get("step", 0)),
        "seconds": round(float(state.get("seconds", 0.0)), 1),
        "train_config": train_config,
        "calibration": f"{crops} random 256x256 crops of {calibration} (seed 0), all levels",
    }
    digest = export_image_model(
        model, output, calibration_crops(calibration, crops), card, overwrite=overwrite
    )
    return {
        "output": str(output),
        "bytes": Path(output).stat().st_size,
        "hash": digest.hex(),
        "card": card,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m rdlab.train.image``: the same options as ``rdlab train image``."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    summary = train_image_model(config_from_args(args), resume=args.resume)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(summary))
    return 0


def add_arguments(parser: Any) -> None:
    defaults = ImageTrainConfig()
    parser.add_argument("data", help="folder of training images")
    parser.add_argument("--out", default=defaults.out, help="run folder (checkpoint, logs)")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch", type=int, default=defaults.batch)
    parser.add_argument("--crop", type=int, default=defaults.crop)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--channels", type=int, default=defaults.channels, help="N")
    parser.add_argument("--latent-channels", type=int, default=defaults.latent_channels, help="M")
    parser.add_argument(
        "--lambdas",
        default=",".join(str(v) for v in defaults.lambdas),
        help="comma-separated λ of the rate levels (MSE on [0,1] × 255²)",
    )
    parser.add_argument("--distortion", choices=("mse", "ms-ssim"), default="mse")
    parser.add_argument(
        "--task",
        metavar="MODULE:FUNCTION",
        default=None,
        help="task-aware training: add task_weight * FUNCTION(x, x_hat) (a differentiable "
        "per-image loss of a downstream model) to the distortion",
    )
    parser.add_argument("--task-weight", type=float, default=1.0, help="λ_task (default 1)")
    parser.add_argument(
        "--lattice",
        default=None,
        help="lattice latents (e.g. E8, D4, BW16, Leech; default: scalar rounding); "
        "start from a scalar model with --init to fine-tune the same transforms",
    )
    parser.add_argument(
        "--context",
        choices=("checkerboard",),
        default=None,
        help="code half of the latent with a checkerboard spatial context (exact integer "
        "table selection); start from a hyperprior model with --init to train the context",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    parser.add_argument("--log-every", type=int, default=defaults.log_every)
    parser.add_argument(
        "--max-minutes", type=float, default=None, help="stop (and checkpoint) after this long"
    )
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    parser.add_argument(
        "--init",
        metavar="MODEL",
        help="start from the weights of a model file (e.g. the bundled one)",
    )
    parser.add_argument(
        "--start-step",
        type=int,
        default=0,
        metavar="K",
        help="with --init: go on with the learning-rate schedule of --steps from step K "
        "(a run continued on a fresh machine from the model file an earlier piece wrote)",
    )


def _distortion(config: ImageTrainConfig) -> Any:
    """The loss's distortion: the named one, or with ``config.task`` a
    :class:`~rdlab.train.task.TaskDistortion` (task weight, MSE weight 1)."""
    if config.task is None:
        return config.distortion
    from .task import TaskDistortion, load_task

    if config.distortion != "mse":
        raise InputError("task", "--task combines with --distortion mse only")
    return TaskDistortion(load_task(config.task), config.task_weight, 1.0)


def config_from_args(args: Any) -> ImageTrainConfig:
    try:
        lambdas = tuple(float(v) for v in str(args.lambdas).split(","))
    except ValueError:
        raise InputError(
            "lambdas", f"expected comma-separated numbers, got {args.lambdas!r}"
        ) from None
    if any(not (v > 0) for v in lambdas) or list(lambdas) != sorted(lambdas):
        raise InputError("lambdas", "must be positive and increasing")
    start = getattr(args, "start_step", 0)
    if start and not getattr(args, "init", None):
        raise InputError("start_step", "needs --init (the weights the schedule goes on from)")
    if not 0 <= start < args.steps:
        raise InputError("start_step", f"must be in [0, --steps), got {start}")
    if args.distortion == "ms-ssim" and args.crop < 192:
        raise InputError(
            "crop", "--distortion ms-ssim needs --crop >= 192 (MS-SSIM needs sides >= 161)"
        )
    task = getattr(args, "task", None)
    if task is not None:
        from .task import load_task

        load_task(task)  # refuse a bad spec before any work
    if args.steps < 1 or args.batch < 1 or args.crop < 64 or args.crop % 64:
        raise InputError("steps/batch/crop", "need steps >= 1, batch >= 1, crop a multiple of 64")
    lattice = getattr(args, "lattice", None)
    if lattice is not None:
        from ..nn.image_model import latent_lattice

        lattice = latent_lattice(lattice, args.latent_channels).name
    context = getattr(args, "context", None)
    if context is not None and lattice is not None:
        raise InputError("--context", "needs scalar latents (not with --lattice)")
    return ImageTrainConfig(
        lattice=lattice,
        context=context,
        data=args.data,
        out=args.out,
        steps=args.steps,
        batch=args.batch,
        crop=args.crop,
        lr=args.lr,
        channels=args.channels,
        latent_channels=args.latent_channels,
        lambdas=lambdas,
        distortion=args.distortion,
        task=getattr(args, "task", None),
        task_weight=getattr(args, "task_weight", 1.0),
        device=args.device,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        log_every=args.log_every,
        max_minutes=args.max_minutes,
        init=getattr(args, "init", None),
        start_step=getattr(args, "start_step", 0),
    )


if __name__ == "__main__":
    raise SystemExit(main())
