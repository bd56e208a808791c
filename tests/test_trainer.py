"""The generic trainer (:mod:`rdlab.train.trainer`) on a model built from rdlab's parts:
a factorized-prior model learns on crops of the bundled sample with MSE and with a
user-supplied distortion, resumes from its checkpoint exactly, and refuses bad losses.
"""

from __future__ import annotations

import json

import pytest
import torch

from rdlab.data.images import read_image, sample_path
from rdlab.errors import InputError
from rdlab.nn.architectures import build_architecture
from rdlab.train.image import CropSampler
from rdlab.train.trainer import RateDistortionLoss, Trainer, TrainerConfig

ARCHITECTURE = {"channels": 16, "latent_channels": 16, "layers": 2}


class RecordingLoss(RateDistortionLoss):
    """Keeps the loss of every step."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.losses: list[float] = []

    def __call__(self, x, output):
        metrics = super().__call__(x, output)
        self.losses.append(float(metrics["loss"].detach()))
        return metrics


def _l1(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """A user's distortion: mean absolute error per sample, in 8-bit levels."""
    return 255.0 * (x - x_hat).abs().flatten(1).mean(dim=1)


def _trainer(out, steps: int, loss, seed: int = 0, **config) -> Trainer:
    torch.manual_seed(seed)
    model = build_architecture("factorized", **ARCHITECTURE)
    sampler = CropSampler([read_image(sample_path())], 64, torch.device("cpu"), seed)
    settings = {"lr": 1e-3, "decay_fraction": 0.0, "checkpoint_every": 1000, "log_every": 5}
    settings.update(config)
    return Trainer(
        model, sampler, loss, TrainerConfig(out=str(out), steps=steps, batch=4, **settings)
    )


@pytest.mark.parametrize("distortion", ["mse", _l1], ids=["mse", "user-callable"])
def test_the_loss_goes_down(tmp_path, distortion):
    loss = RecordingLoss(lmbda=0.01, distortion=distortion)
    summary = _trainer(tmp_path, 30, loss).fit(progress=False)
    assert summary["step"] == 30 and summary["finished"]
    assert len(loss.losses) == 30
    first, last = sum(loss.losses[:5]) / 5, sum(loss.losses[-5:]) / 5
    assert last < 0.95 * first, (first, last)
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [5, 10, 15, 20, 25, 30]
    assert {"loss", "bpp", "psnr", "lr"} <= set(rows[-1])
    assert (tmp_path / "checkpoint.pt").is_file()


def test_resume_continues_at_the_step_with_identical_state(tmp_path):
    whole = _trainer(tmp_path / "whole", 12, "mse")
    whole.fit(progress=False)
    first = _trainer(tmp_path / "split", 6, "mse")
    first.fit(progress=False)
    # another seed: the model's initial weights and the sampler differ until resumed
    second = _trainer(tmp_path / "split", 12, "mse", seed=1)
    summary = second.fit(resume=True, progress=False)
    assert summary["step"] == 12
    rows = [
        json.loads(line) for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()
    ]
    assert [row["step"] for row in rows] == [5, 10]
    expected = whole.model.state_dict()
    resumed = second.model.state_dict()
    assert expected.keys() == resumed.keys()
    for key, value in expected.items():
        assert torch.equal(value, resumed[key]), key
    saved = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=False)
    assert saved["step"] == 12


@pytest.mark.parametrize("loss", ["l1", "MSE", None])
def test_a_bad_loss_is_refused_in_one_line(tmp_path, loss):
    with pytest.raises(InputError) as error:
        _trainer(tmp_path, 5, loss)
    assert "distortion" in str(error.value)
    assert len(str(error.value).splitlines()) == 1
    with pytest.raises(InputError):
        RateDistortionLoss(distortion=loss)


def test_resume_refusals_stay_one_line(tmp_path):
    _trainer(tmp_path, 2, "mse").fit(progress=False)

    def refuse(state):
        raise InputError("resume", f"step {state['step']} is from another run")

    trainer = _trainer(tmp_path, 4, "mse")
    trainer.check_resume = refuse
    with pytest.raises(InputError, match="resume: step 2 is from another run"):
        trainer.fit(resume=True, progress=False)
    (tmp_path / "checkpoint.pt").write_bytes(b"junk")
    with pytest.raises(InputError, match="cannot be resumed"):
        _trainer(tmp_path, 4, "mse").fit(resume=True, progress=False)
