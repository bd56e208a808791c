"""One training loop for any model built from rdlab's parts.

A :class:`Trainer` trains an ``nn.Module`` whose forward pass gives a dict with the
reconstruction ``"x_hat"`` and the rate ``"bits"`` (in bits; any shape whose first axis
is the batch, summed per sample), the convention of
:class:`~rdlab.nn.architectures.FactorizedPriorModel`. Models with another signature
plug in through ``forward(model, x) -> dict`` (the image trainer's hyperprior adapter
draws a rate parameter per image and returns a per-sample ``"lmbda"`` too).

The loss (:class:`RateDistortionLoss`) is ``rate + λ·D`` per sample, averaged over the
batch: rate in bits per position (per pixel for images ``(B, C, H, W)``), ``D`` one of
``"mse"`` (``255²·MSE`` on [0, 1]), ``"ms-ssim"`` (``8000·(1 - MS-SSIM)``) or a
differentiable callable ``distortion(x, x_hat) -> (B,)`` (a task loss fits the same slot).

The loop: Adam (or your optimizer), a learning rate held and then decayed by 10× over
the last ``decay_fraction`` of the steps, gradient clipping, running means of the
loss's metrics, a progress bar, ``log.jsonl``/``log.csv`` every ``log_every`` steps,
``checkpoint.pt`` every ``checkpoint_every`` steps and at the end, ``max_minutes``, and
resume (model, optimizer, step, the data source's and PyTorch's random state, seconds).
Several processes under ``torchrun`` train data-parallel (DistributedDataParallel; rank
0 alone writes checkpoints and logs).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import pickle
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from .._files import write_atomic
from ..errors import InputError

__all__ = [
    "BatchSampler",
    "Distortion",
    "RateDistortionLoss",
    "Trainer",
    "TrainerConfig",
    "distributed_device",
    "distributed_run",
]

Distortion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``distortion(x, x_hat) -> (B,)``: a differentiable distortion (or task loss) per sample."""

Forward = Callable[[nn.Module, torch.Tensor], dict[str, torch.Tensor]]
"""``forward(model, x) -> {"x_hat", "bits", ["lmbda"]}``: one training pass."""

UNREADABLE = (
    KeyError,
    TypeError,
    IndexError,
    RuntimeError,
    OSError,
    ValueError,
    EOFError,
    pickle.UnpicklingError,
)
"""What reading a damaged or foreign checkpoint raises."""

_DISTORTIONS = ("mse", "ms-ssim")
_POSTFIX_FORMAT = {"bpp": ".3f", "psnr": ".2f"}
# under torchrun, ranks agree on stopping (time limit, divergence) every this many steps
_AGREE_EVERY = 10


@runtime_checkable
class BatchSampler(Protocol):
    """A data source that draws batches (e.g. :class:`~rdlab.train.image.CropSampler`).

    ``state()``/``set_state()`` (optional) save and restore its random state, so a
    resumed run draws the batches an uninterrupted one would.
    """

    def sample(self, batch: int) -> torch.Tensor:
        """A batch ``(batch, ...)``."""
        ...


@dataclass
class TrainerConfig:
    """How a :class:`Trainer` runs.

    Args:
        out: run folder (``checkpoint.pt``, ``log.jsonl``, ``log.csv``).
        steps: optimizer steps in all (a resumed run continues up to it).
        batch: samples per step (and per process under ``torchrun``).
        lr: learning rate before the decay.
        decay_fraction: the last fraction of the steps over which the rate falls 10×.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (under ``torchrun`` with CUDA,
            each process takes the GPU of its ``LOCAL_RANK``).
        checkpoint_every: steps between checkpoints.
        log_every: steps between log rows.
        max_minutes: stop (and checkpoint) after this many minutes of this sitting.
        clip_grad: the gradient norm is clipped to it (0: no clipping).
    """

    out: str = "rdlab-train"
    steps: int = 100_000
    batch: int = 16
    lr: float = 1e-4
    decay_fraction: float = 0.15
    device: str = "cpu"
    checkpoint_every: int = 1000
    log_every: int = 50
    max_minutes: float | None = None
    clip_grad: float = 1.0

    def check(self) -> None:
        """Raises :class:`~rdlab.errors.InputError` for a step, batch, checkpoint or log
        interval below 1 (what :class:`Trainer` refuses; callable before costly setup)."""
        for name in ("steps", "batch", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise InputError(name, f"must be >= 1, got {getattr(self, name)}")

    def learning_rate(self, step: int) -> float:
        """The learning rate of step ``step`` (0-based)."""
        start_decay = int(self.steps * (1 - self.decay_fraction))
        if step < start_decay:
            return self.lr
        frac = (step - start_decay) / max(1, self.steps - start_decay)
        return self.lr * 10.0 ** (-frac)


class RateDistortionLoss:
    """``rate + λ·D`` per sample, averaged over the batch.

    Args:
        lmbda: λ (a model output ``"lmbda"`` of shape ``(B,)`` takes its place).
        distortion: ``"mse"`` (``255²·MSE`` of images on [0, 1]), ``"ms-ssim"``
            (``8000·(1 - MS-SSIM)``, about as large as ``255²·MSE`` at mid rates; needs
            sides of at least 161 px) or a differentiable callable
            ``distortion(x, x_hat) -> (B,)``.

    Raises:
        InputError: an unknown distortion name, or λ not a finite number >= 0.

    Calling it with the batch ``x`` and the model's output gives ``{"loss": scalar,
    "bpp": mean bits per position, "psnr": mean PSNR in dB}`` (``"psnr"`` only where
    ``x_hat`` has ``x``'s shape; PSNR of signals on [0, 1]). Positions are all axes
    after the channel: pixels for ``(B, C, H, W)``.
    """

    def __init__(self, lmbda: float = 0.01, distortion: str | Distortion = "mse") -> None:
        if not callable(distortion) and distortion not in _DISTORTIONS:
            raise InputError(
                "distortion",
                f"unknown distortion {distortion!r}; use 'mse', 'ms-ssim' or a callable",
            )
        if not (isinstance(lmbda, (int, float)) and math.isfinite(lmbda) and lmbda >= 0):
            raise InputError("lmbda", f"must be a finite number >= 0, got {lmbda!r}")
        self.lmbda = float(lmbda)
        self.distortion = distortion

    def _terms(
        self, x: torch.Tensor, x_hat: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(distortion term per sample, MSE per sample on [0, 1] or None)``."""
        same = x_hat.shape == x.shape
        if self.distortion == "mse":
            mse = ((x - x_hat) ** 2).flatten(1).mean(dim=1)
            return mse * 255.0**2, mse
        mse = None
        if same:
            with torch.no_grad():
                mse = ((x - x_hat) ** 2).flatten(1).mean(dim=1)
        if self.distortion == "ms-ssim":
            from ..metrics.torch_msssim import ms_ssim

            # scaled so λ has about the same meaning at mid rates (MS-SSIM 0.97 ~ PSNR 32 dB)
            return 8000.0 * (1.0 - ms_ssim(x_hat.clamp(0, 1), x)), mse
        assert callable(self.distortion)
        return self.distortion(x, x_hat), mse

    def __call__(self, x: torch.Tensor, output: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The loss and metrics of one batch (see the class docstring).

        Raises:
            InputError: the output lacks ``"x_hat"`` or ``"bits"``.
        """
        missing = [key for key in ("x_hat", "bits") if key not in output]
        if missing:
            raise InputError("model", f"its forward output lacks {missing} (needs x_hat, bits)")
        bits = output["bits"]
        bpp = bits.reshape(bits.shape[0], -1).sum(dim=1) / x[0, 0].numel()
        dist_term, mse = self._terms(x, output["x_hat"])
        lmbda = output.get("lmbda", self.lmbda)
        metrics = {"loss": (lmbda * dist_term + bpp).mean(), "bpp": bpp.mean()}
        if mse is not None:
            with torch.no_grad():
                metrics["psnr"] = (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean()
        return metrics


def distributed_device(device: str) -> tuple[int, int, torch.device]:
    """``(rank, world size, device)`` of this process; starts the process group under torchrun.

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; under ``torchrun`` with CUDA the
            process's ``LOCAL_RANK`` picks the GPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = 0
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank = dist.get_rank()
    if device.startswith("cuda") and world > 1:
        chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(chosen)
    else:
        chosen = torch.device(device)
    if chosen.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return rank, world, chosen


@contextlib.contextmanager
def distributed_run(device: str) -> Iterator[tuple[int, int, torch.device]]:
    """:func:`distributed_device` for one ``with`` block; leaves the group it started.

    On leaving normally, every rank waits at a barrier, so none exits (closing its
    sockets) while another is still in a collective or writing the checkpoint; on an
    exception the group is torn down at once. A group that existed before the block is
    left as it was.

    Yields:
        ``(rank, world size, device)``.
    """
    import torch.distributed as dist

    started = dist.is_available() and not dist.is_initialized()
    placement = distributed_device(device)
    try:
        yield placement
    except BaseException:
        # no barrier: the other ranks may never reach it; torchrun stops them instead
        if started and dist.is_initialized():
            dist.destroy_process_group()
        raise
    if started and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _agree(flags: list[bool], device: torch.device) -> list[bool]:
    """Each flag true on any rank is true on all (one ``all_reduce``, MAX)."""
    import torch.distributed as dist

    votes = torch.tensor([float(f) for f in flags], device=device)
    dist.all_reduce(votes, op=dist.ReduceOp.MAX)
    return [bool(v) for v in votes.tolist()]


def _call_model(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    return model(x)


class Trainer:
    """Trains ``model`` on batches of ``data`` to minimize ``loss`` (see the module docstring).

    Args:
        model: the model; moved to ``config.device``. Seed PyTorch
            (``torch.manual_seed``) before building it for a reproducible run.
        data: a :class:`BatchSampler` (``sample(batch)``) or an iterable of batches
            (iterated again when it ends; its position is not restored on resume).
        loss: a :class:`RateDistortionLoss` (or a subclass: its call maps ``(x, forward
            output)`` to ``{"loss": scalar, ...}``, every entry logged as a running mean),
            or a distortion (``"mse"``, ``"ms-ssim"`` or a callable), taken as
            ``RateDistortionLoss(lmbda, loss)``.
        config: the run (:class:`TrainerConfig`).
        lmbda: λ of a loss given by its distortion.
        forward: ``forward(model, x) -> {"x_hat", "bits", ...}`` (default ``model(x)``).
        optimizer: default ``Adam(model.parameters(), lr=config.lr)``.
        metadata: saved in every checkpoint next to the trainer's own entries.
        check_resume: called with a checkpoint's contents before resuming from it;
            raises :class:`~rdlab.errors.InputError` where it does not fit this run.

    Raises:
        InputError: an unknown distortion name, or a config below 1 step, batch,
            checkpoint or log interval.
    """

    def __init__(
        self,
        model: nn.Module,
        data: BatchSampler | Iterable[torch.Tensor],
        loss: RateDistortionLoss | str | Distortion,
        config: TrainerConfig,
        *,
        lmbda: float = 0.01,
        forward: Forward | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        metadata: dict[str, Any] | None = None,
        check_resume: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        config.check()
        if not isinstance(loss, RateDistortionLoss):
            loss = RateDistortionLoss(lmbda, loss)
        self.rank, self.world, self.device = distributed_device(config.device)
        self.model = model.to(self.device)
        self.data = data
        self.loss = loss
        self.config = config
        self.forward = forward or _call_model
        self.optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=config.lr)
        self.metadata = dict(metadata or {})
        self.check_resume = check_resume
        self.step = 0
        self.seconds = 0.0
        self._batches: Iterator[torch.Tensor] | None = None

    @property
    def out(self) -> Path:
        """The run folder."""
        return Path(self.config.out)

    @property
    def checkpoint_path(self) -> Path:
        """``out/checkpoint.pt``."""
        return self.out / "checkpoint.pt"

    def _next_batch(self) -> torch.Tensor:
        if isinstance(self.data, BatchSampler):
            return self.data.sample(self.config.batch).to(self.device)
        if self._batches is None:
            self._batches = iter(self.data)
        try:
            batch = next(self._batches)
        except StopIteration:
            self._batches = iter(self.data)
            batch = next(self._batches)
        return batch.to(self.device)

    def save_checkpoint(self) -> None:
        """Write ``checkpoint.pt`` atomically (model, optimizer, step, random states, seconds)."""
        state: dict[str, Any] = {"model": self.model.state_dict(), **self.metadata}
        state["optimizer"] = self.optimizer.state_dict()
        state["step"] = self.step
        if hasattr(self.data, "state"):
            state["sampler"] = self.data.state()
        state["torch_rng"] = torch.get_rng_state()
        state["seconds"] = self.seconds
        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.out.mkdir(parents=True, exist_ok=True)
        write_atomic(self.checkpoint_path, buffer.getvalue(), overwrite=True)

    def load_checkpoint(self) -> None:
        """Continue from ``checkpoint.pt`` (the random states only in a single process).

        Raises:
            InputError: the checkpoint cannot be read, or ``check_resume`` refuses it.
        """
        path = self.checkpoint_path
        try:
            state = torch.load(path, map_location=self.device, weights_only=False)
            if self.check_resume is not None:
                self.check_resume(state)
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            step = int(state["step"])
        except InputError:
            raise
        except UNREADABLE as exc:
            raise InputError(
                "checkpoint", f"{path} cannot be resumed ({type(exc).__name__})"
            ) from None
        self.step = step
        self.seconds = float(state.get("seconds", 0.0))
        if self.world == 1:
            if "sampler" in state and hasattr(self.data, "set_state"):
                self.data.set_state(state["sampler"])
            torch.set_rng_state(state["torch_rng"].cpu())

    def _log(self, row: dict[str, Any]) -> None:
        with open(self.out / "log.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps(row) + "\n")
        new_csv = not (self.out / "log.csv").exists()
        with open(self.out / "log.csv", "a", newline="", encoding="utf-8") as log:
            writer = csv.DictWriter(log, fieldnames=list(row))
            if new_csv:
                writer.writeheader()
            writer.writerow(row)

    def fit(self, resume: bool = False, progress: bool = True) -> dict[str, Any]:
        """Train up to ``config.steps``; returns a summary.

        Args:
            resume: continue from ``checkpoint.pt`` where it exists.
            progress: show a progress bar (rank 0).

        Returns:
            ``{step, steps, seconds, finished, <running metrics>, checkpoint, world_size}``.

        Raises:
            InputError: see :meth:`load_checkpoint`.
            RuntimeError: the loss became NaN or infinite.
        """
        config = self.config
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
        if resume and self.checkpoint_path.exists():
            self.load_checkpoint()
        model = self.model
        train_model: nn.Module = model
        if self.world > 1:
            device = self.device
            train_model = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        running: dict[str, torch.Tensor] = {}
        started = time.perf_counter()
        seconds_before = self.seconds
        bar = None
        if progress and self.rank == 0:
            from tqdm import tqdm

            bar = tqdm(
                total=config.steps,
                initial=self.step,
                desc="training",
                unit="step",
                dynamic_ncols=True,
            )
        for step in range(self.step, config.steps):
            for group in self.optimizer.param_groups:
                group["lr"] = config.learning_rate(step)
            x = self._next_batch()
            metrics = self.loss(x, self.forward(train_model, x))
            loss = metrics["loss"]
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.clip_grad:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
            self.optimizer.step()
            self.step = step + 1
            with torch.no_grad():
                # running means stay on the device: reading them every step would stall the GPU
                for key, value in metrics.items():
                    value = value.detach()
                    running[key] = (
                        value.clone() if key not in running else 0.98 * running[key] + 0.02 * value
                    )
            if bar is not None:
                bar.update(1)
                if self.step % 10 == 0:
                    bar.set_postfix(
                        {
                            k: f"{float(v):{_POSTFIX_FORMAT.get(k, '.4g')}}"
                            for k, v in running.items()
                            if k != "loss"
                        }
                    )
            self.seconds = seconds_before + time.perf_counter() - started
            logging = self.step % config.log_every == 0
            if self.rank == 0 and logging:
                row = {
                    "step": self.step,
                    "seconds": round(self.seconds, 1),
                    "lr": config.learning_rate(step),
                }
                row.update({k: round(float(v), 5) for k, v in running.items()})
                self._log(row)
            out_of_time = (
                config.max_minutes is not None
                and (time.perf_counter() - started) > 60 * config.max_minutes
            )
            saving = self.step % config.checkpoint_every == 0
            checking = saving or logging or out_of_time
            if self.world > 1:
                # ranks decide together (every _AGREE_EVERY steps), or one would leave
                # the loop while the others wait for it in the next gradient all-reduce
                checking = saving or logging or self.step % _AGREE_EVERY == 0
                checking = checking or self.step == config.steps
            diverged = False
            if checking:
                # the running loss stays NaN once any step's loss was: checked before every save
                diverged = not math.isfinite(float(running["loss"]))
                if self.world > 1:
                    out_of_time, diverged = _agree([out_of_time, diverged], self.device)
            elif self.world > 1:
                out_of_time = False
            if diverged:
                raise RuntimeError(f"training diverged by step {self.step} (loss {loss.item()})")
            saving = saving or out_of_time
            if self.rank == 0 and saving:
                self.save_checkpoint()
            if out_of_time:
                break
        self.seconds = seconds_before + time.perf_counter() - started
        if self.rank == 0:
            self.save_checkpoint()
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()  # every rank returns once the checkpoint is on disk
        if bar is not None:
            bar.close()
        return {
            "step": self.step,
            "steps": config.steps,
            "seconds": round(self.seconds, 1),
            "finished": self.step >= config.steps,
            **{k: round(float(v), 4) for k, v in running.items()},
            "checkpoint": str(self.checkpoint_path),
            "world_size": self.world,
        }
