"""Training the hyperprior image model from the command line: logs, resume, export, errors;
and the differentiable MS-SSIM used by ``--distortion ms-ssim``.

Tiny models (N=8, M=12, three rate levels) on 64 px crops of small synthetic images,
batch 2, a handful of steps: each test takes seconds on a CPU.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rdlab.cli import main
from rdlab.codecs.hyperprior import HyperpriorImageCodec
from rdlab.codecs.image_model_file import load_image_model
from rdlab.data.images import read_image, sample_path
from rdlab.errors import InputError, ModelError
from rdlab.metrics.torch_msssim import MS_SSIM_MIN_SIDE, ms_ssim

TINY = ("--channels", "8", "--latent-channels", "12", "--lambdas", "0.002,0.008,0.032")
LOG_COLUMNS = ["step", "seconds", "lr", "loss", "bpp", "psnr"]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, expected_code=2):
    assert code == expected_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rdlab: error:"), err


def _synthetic_image(seed: int, size: int = 256) -> np.ndarray:
    """A structured RGB image: gradients, a few flat shapes with edges, texture noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    image = np.stack([xx, yy, 0.5 * (xx + yy)], axis=-1) * rng.uniform(0.4, 1.0, 3)
    for _ in range(6):
        cy, cx = rng.uniform(0, 1, 2)
        radius = rng.uniform(0.05, 0.25)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
        image[disk] = rng.uniform(0, 1, 3)
    top, left, side = rng.integers(0, size // 2, 3)
    image[top : top + side, left : left + side] = rng.uniform(0, 1, 3)
    image += rng.normal(0, 0.03, image.shape)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """Three 256x256 PNGs (256 px so the folder also serves as export calibration)."""
    folder = tmp_path_factory.mktemp("images")
    for i in range(3):
        Image.fromarray(_synthetic_image(i)).save(folder / f"img{i}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def train(capsys, data_dir, out, *extra):
    code, stdout, err = run_cli(
        capsys,
        "train", "image", data_dir, "--out", out, "--crop", "64", "--batch", "2",
        *TINY, "--quiet", "--json", *extra,
    )  # fmt: skip
    assert code == 0, err
    return json.loads(stdout)


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- train image: outputs, logs and resume -------------------------------------------------


def test_train_writes_checkpoint_and_logs_and_resumes(capsys, data_dir, tmp_path):
    run = tmp_path / "run"
    summary = train(capsys, data_dir, run, "--steps", "2", "--log-every", "1")
    assert summary["step"] == 2 and summary["steps"] == 2 and summary["finished"] is True
    assert all(math.isfinite(summary[k]) for k in ("loss", "bpp", "psnr"))
    assert Path(summary["checkpoint"]) == run / "checkpoint.pt"
    for name in ("checkpoint.pt", "log.jsonl", "log.csv"):
        assert (run / name).is_file(), name
    rows = _read_jsonl(run / "log.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    assert all(list(r) == LOG_COLUMNS for r in rows)
    with open(run / "log.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert list(table[0]) == LOG_COLUMNS
    assert [int(r["step"]) for r in table] == [1, 2]
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert state["step"] == 2 and state["model_config"]["channels"] == 8

    # continue to step 4: the step count and both logs go on where they stopped
    summary = train(capsys, data_dir, run, "--steps", "4", "--log-every", "1", "--resume")
    assert summary["step"] == 4 and summary["finished"] is True
    assert [r["step"] for r in _read_jsonl(run / "log.jsonl")] == [1, 2, 3, 4]
    with open(run / "log.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [int(r["step"]) for r in table] == [1, 2, 3, 4]  # one header, rows appended

    # resuming a finished run does no more steps and leaves the logs alone
    before = (run / "log.jsonl").read_text()
    summary = train(capsys, data_dir, run, "--steps", "4", "--log-every", "1", "--resume")
    assert summary["step"] == 4
    assert (run / "log.jsonl").read_text() == before
    assert torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)["step"] == 4

    # without --resume an existing run is trained from scratch (step 0) again
    summary = train(capsys, data_dir, run, "--steps", "1", "--log-every", "1")
    assert summary["step"] == 1


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)["model"]


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    differing = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not differing, differing


def test_resume_gives_the_same_weights_as_training_straight(capsys, data_dir, tmp_path):
    straight, split, stopped = tmp_path / "straight", tmp_path / "split", tmp_path / "stopped"
    train(capsys, data_dir, straight, "--steps", "4")
    # 2 steps, then resume to 4. (--steps also sets the learning-rate schedule, which
    # decays over the last 15 % of the steps; for 2 and 4 steps no step that ran is
    # decayed, so the schedules agree on the steps both runs make.)
    train(capsys, data_dir, split, "--steps", "2")
    train(capsys, data_dir, split, "--steps", "4", "--resume")
    _assert_same_weights(straight, split)
    # an interrupted run (--max-minutes 0 stops after the first step) resumed to the end
    summary = train(capsys, data_dir, stopped, "--steps", "4", "--max-minutes", "0")
    assert summary["step"] == 1 and summary["finished"] is False
    summary = train(capsys, data_dir, stopped, "--steps", "4", "--resume")
    assert summary["step"] == 4
    _assert_same_weights(straight, stopped)


def test_ms_ssim_distortion_trains(capsys, data_dir, tmp_path):
    code, stdout, err = run_cli(
        capsys,
        "train", "image", data_dir, "--out", tmp_path / "run", "--crop", "192", "--batch", "2",
        *TINY, "--steps", "1", "--log-every", "1", "--distortion", "ms-ssim", "--quiet", "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["step"] == 1
    assert math.isfinite(summary["loss"]) and summary["loss"] > 0


# -- export and the codec ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported_model(data_dir, tmp_path_factory) -> Path:
    """A model file exported from a 2-step run (CLI, in-process)."""
    folder = tmp_path_factory.mktemp("export")
    run, model = folder / "run", folder / "tiny.safetensors"
    argv = ["train", "image", str(data_dir), "--out", str(run), "--crop", "64", "--batch", "2"]
    assert main([*argv, *TINY, "--steps", "2", "--quiet"]) == 0
    argv = ["train", "export", str(run / "checkpoint.pt"), str(model)]
    assert main([*argv, "--calibration", str(data_dir), "--crops", "2"]) == 0
    return model


def test_export_writes_a_model_file(capsys, data_dir, exported_model, tmp_path):
    capsys.readouterr()
    assert exported_model.is_file() and exported_model.stat().st_size > 0
    model = load_image_model(str(exported_model))
    assert model.levels == 3 and model.net.config.channels == 8
    assert model.card["steps"] == 2
    assert model.card["train_config"]["latent_channels"] == 12
    # an existing output is kept unless forced; --json reports bytes and hash
    run = exported_model.parent / "run"
    argv = ["train", "export", run / "checkpoint.pt", exported_model, "--calibration", data_dir]
    code, _, err = run_cli(capsys, *argv, "--crops", "2")
    assert_one_line_error(code, err)
    copy = tmp_path / "copy.safetensors"
    code, out, err = run_cli(
        capsys, "train", "export", run / "checkpoint.pt", copy,
        "--calibration", data_dir, "--crops", "2", "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["bytes"] == copy.stat().st_size
    # the same checkpoint exports to the same content (and bytes: see below)
    first, second = _tensors_and_metadata(exported_model), _tensors_and_metadata(copy)
    assert first[1] == second[1]
    assert first[0].keys() == second[0].keys()
    assert all(np.array_equal(first[0][k], second[0][k]) for k in first[0])


def _tensors_and_metadata(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from safetensors import safe_open
    from safetensors.numpy import load

    with safe_open(str(path), framework="numpy") as handle:
        metadata = handle.metadata()
    return load(path.read_bytes()), metadata


def test_export_is_byte_for_byte_deterministic(data_dir, exported_model, tmp_path):
    run = exported_model.parent / "run"
    digests = set()
    for i in range(3):
        out = tmp_path / f"m{i}.safetensors"
        argv = ["train", "export", str(run / "checkpoint.pt"), str(out)]
        assert main([*argv, "--calibration", str(data_dir), "--crops", "2"]) == 0
        digests.add(out.read_bytes())
    assert len(digests) == 1


@pytest.mark.parametrize("quality", [1.0, 2.5, 3.0])
def test_exported_model_round_trips_an_image(exported_model, quality):
    image = read_image(sample_path())  # 256x192 RGB
    codec = HyperpriorImageCodec(model=str(exported_model), quality=quality)
    data = codec.encode(image)
    decoded = codec.decode(data)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    bpp = 8 * len(data) / (image.shape[0] * image.shape[1])
    assert math.isfinite(bpp) and 0 < bpp < 24
    assert np.array_equal(codec.decode(data), decoded)
    fresh = HyperpriorImageCodec(model=str(exported_model))
    assert np.array_equal(fresh.decode(data), decoded)
    grey = image[:, :, 1]
    decoded_grey = codec.decode(codec.encode(grey))
    assert decoded_grey.shape == grey.shape and decoded_grey.dtype == np.uint8


def test_truncated_model_file_is_refused(capsys, exported_model, tmp_path):
    broken = tmp_path / "broken.safetensors"
    data = exported_model.read_bytes()
    for size in (len(data) // 2, 7):
        broken.write_bytes(data[:size])
        with pytest.raises(ModelError):
            load_image_model(str(broken))
        code, _, err = run_cli(
            capsys, "compress", sample_path(), "-o", tmp_path / "x.rdl", "--model", broken
        )
        assert_one_line_error(code, err)
        assert "broken.safetensors" in err
        assert not (tmp_path / "x.rdl").exists()


# -- bad inputs ------------------------------------------------------------------------------


def test_bad_training_inputs_are_one_line_errors(capsys, data_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ([empty], "data"),  # (after TINY, so that --lambdas here wins)
        ([tmp_path / "missing"], "data"),
        ([data_dir, "--lambdas", "0.1,0.01"], "lambdas"),
        ([data_dir, "--lambdas", "0.1,x"], "lambdas"),
        ([data_dir, "--crop", "100"], "crop"),
        ([data_dir, "--crop", "512"], "data"),  # no image has a side of 512
        ([data_dir, "--crop", "64", "--distortion", "ms-ssim"], "161"),  # too small for MS-SSIM
    ]
    for args, word in cases:
        code, _, err = run_cli(
            capsys, "train", "image", *TINY, *args, "--out", tmp_path / "run", "--steps", "1",
            "--quiet",
        )  # fmt: skip
        assert_one_line_error(code, err)
        assert word in err, (args, err)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    code, _, err = run_cli(
        capsys, "train", "export", tmp_path / "nope.pt", tmp_path / "m.safetensors",
        "--calibration", data_dir,
    )  # fmt: skip
    assert_one_line_error(code, err)
    # a truncated checkpoint (torch reports a bad zip archive) is refused cleanly
    run = tmp_path / "tiny"
    train(capsys, data_dir, run, "--steps", "1")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes((run / "checkpoint.pt").read_bytes()[:1000])
    code, _, err = run_cli(
        capsys, "train", "export", truncated, tmp_path / "m.safetensors",
        "--calibration", data_dir,
    )  # fmt: skip
    assert_one_line_error(code, err)
    assert not (tmp_path / "m.safetensors").exists()


def test_export_refuses_a_file_that_is_not_a_checkpoint(capsys, data_dir, tmp_path):
    not_a_checkpoint = tmp_path / "bad.pt"
    not_a_checkpoint.write_bytes(b"not a checkpoint")
    code, _, err = run_cli(
        capsys, "train", "export", not_a_checkpoint, tmp_path / "m.safetensors",
        "--calibration", data_dir,
    )  # fmt: skip
    assert_one_line_error(code, err)


@pytest.mark.parametrize("problem", ["corrupt", "other-shape"])
def test_resume_refuses_a_bad_checkpoint(capsys, data_dir, tmp_path, problem):
    run = tmp_path / "run"
    if problem == "corrupt":
        run.mkdir()
        (run / "checkpoint.pt").write_bytes(b"garbage")
        extra = TINY
    else:
        train(capsys, data_dir, run, "--steps", "1")
        extra = ("--channels", "16", "--latent-channels", "12", "--lambdas", "0.002,0.008,0.032")
    code, _, err = run_cli(
        capsys, "train", "image", data_dir, "--out", run, "--crop", "64", "--batch", "2",
        *extra, "--steps", "2", "--quiet", "--resume",
    )  # fmt: skip
    assert_one_line_error(code, err)


# -- differentiable MS-SSIM ----------------------------------------------------------------------


def _smooth_pair(shape, seed):
    g = torch.Generator().manual_seed(seed)
    b, c, h, w = shape
    coarse = torch.rand(b, c, h // 8 + 1, w // 8 + 1, generator=g)
    clean = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear")
    noisy = (clean + 0.08 * torch.randn(shape, generator=g)).clamp(0, 1)
    return clean, noisy


@pytest.mark.parametrize("shape", [(2, 3, 161, 170), (1, 3, 192, 256), (2, 1, 200, 165)])
def test_ms_ssim_matches_pytorch_msssim(shape):
    reference = pytest.importorskip("pytorch_msssim")
    clean, noisy = _smooth_pair(shape, seed=sum(shape))
    ours = ms_ssim(noisy, clean)
    theirs = reference.ms_ssim(noisy, clean, data_range=1.0, size_average=False)
    assert ours.shape == (shape[0],)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-4)
    # data_range scales the constants: the same images on 0..255 give the same values
    torch.testing.assert_close(ms_ssim(255 * noisy, 255 * clean, 255.0), ours, rtol=0, atol=1e-4)


def test_ms_ssim_of_identical_images_is_one_and_gradients_flow():
    clean, noisy = _smooth_pair((2, 3, 192, 192), seed=1)
    assert torch.equal(ms_ssim(clean, clean), torch.ones(2))
    x = noisy.clone().requires_grad_(True)
    value = ms_ssim(x, clean)
    assert torch.all((value > 0) & (value < 1))
    (1 - value).sum().backward()
    assert x.grad is not None and torch.all(torch.isfinite(x.grad))
    assert float(x.grad.abs().sum()) > 0
    # a small step against the gradient raises MS-SSIM
    with torch.no_grad():
        better = ms_ssim((x - 1e-3 * x.grad / x.grad.abs().max()).clamp(0, 1), clean)
    assert torch.all(better > value.detach())


def test_ms_ssim_refuses_small_or_mismatched_images():
    assert MS_SSIM_MIN_SIDE == 161
    small = torch.rand(1, 3, 160, 200)
    with pytest.raises(InputError, match="161"):
        ms_ssim(small, small)
    with pytest.raises(InputError):
        ms_ssim(torch.rand(1, 3, 192, 192), torch.rand(1, 3, 192, 200))
    with pytest.raises(InputError):
        ms_ssim(torch.rand(3, 192, 192), torch.rand(3, 192, 192))


def test_training_continues_from_a_model_file(capsys, data_dir, exported_model, tmp_path):
    from rdlab.codecs.image_model_file import load_training_state
    from rdlab.nn.image_model import HyperpriorImageModel

    config, state = load_training_state(exported_model)
    model = HyperpriorImageModel(config)
    model.load_state_dict(state)  # strict: every trained tensor is in the file
    # a zero-step run started from the file holds the file's weights
    out = tmp_path / "cont"
    assert train(capsys, data_dir, out, "--steps", "1", "--init", str(exported_model))["step"] == 1
    trained = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
    moved = [k for k in state if not torch.allclose(trained[k], state[k], atol=1e-2, rtol=1e-2)]
    assert len(moved) < len(state) // 4, moved  # one small step from the file's weights
    # the bundled model keeps its training weights too
    assert (
        load_training_state(
            str(Path(__file__).parents[1] / "src/rdlab/models/default.safetensors")
        )[0].channels
        == 128
    )
    code, _, err = run_cli(
        capsys,
        "train",
        "image",
        str(data_dir),
        "--out",
        str(tmp_path / "x"),
        "--crop",
        "64",
        "--steps",
        "1",
        "--channels",
        "16",
        "--init",
        str(exported_model),
        "--quiet",
    )
    assert_one_line_error(code, err)


def _free_loopback_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_torchrun_data_parallel_on_cpu(data_dir, tmp_path):
    """Two processes (gloo on the loopback) train one model: rank 0 writes the checkpoint.

    The time limit (60 ms) runs out on each rank at its own step; the ranks stop together
    at the first step where they compare (every log interval), or one would wait forever
    for the other's gradients.
    """
    import os
    import subprocess
    import sys

    if not torch.distributed.is_available():
        pytest.skip("this PyTorch build has no torch.distributed")
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_loopback_port()),
        "-m", "rdlab.train.image", str(data_dir), "--out", str(out),
        "--steps", "1000", "--max-minutes", "0.001", "--batch", "2", "--crop", "64", *TINY,
        "--log-every", "5",
    ]  # fmt: skip
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    # the workers' own errors come first; torchrun's traceback about them follows
    assert result.returncode == 0, result.stderr[:3000]
    summaries = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1 and summaries[0]["world_size"] == 2
    step = summaries[0]["step"]
    assert step % 5 == 0 and 5 <= step < 1000 and not summaries[0]["finished"]
    assert [row["step"] for row in _read_jsonl(out / "log.jsonl")] == list(range(5, step + 1, 5))
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == step


def test_divergence_stops_training_before_a_checkpoint_is_written(data_dir, tmp_path, monkeypatch):
    from rdlab.nn.image_model import HyperpriorImageModel
    from rdlab.train.image import ImageTrainConfig, train_image_model

    forward = HyperpriorImageModel.forward
    calls = []

    def nan_from_the_third_step(self, x, t):
        calls.append(1)
        result = forward(self, x, t)
        if len(calls) >= 3:
            result["bits_y"] = result["bits_y"] * float("nan")
        return result

    monkeypatch.setattr(HyperpriorImageModel, "forward", nan_from_the_third_step)
    config = ImageTrainConfig(
        data=str(data_dir), out=str(tmp_path / "run"), steps=8, batch=2, crop=64,
        channels=8, latent_channels=12, lambdas=(0.002, 0.008, 0.032),
        log_every=10, checkpoint_every=4,
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="diverged by step 4"):
        train_image_model(config, progress=False)
    # the NaN of step 3 was caught at the first save (step 4), before any checkpoint
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    assert len(calls) == 4


def test_start_step_goes_on_with_the_schedule_from_a_model_file(
    capsys, data_dir, exported_model, tmp_path
):
    """A piece on a fresh machine: --init the last model file, --start-step where the run
    stopped; it runs only the remaining steps, at the schedule's learning rates there."""
    out = tmp_path / "piece"
    summary = train(capsys, data_dir, out, "--steps", "20", "--lr", "1e-3", "--init",
                    str(exported_model), "--start-step", "18", "--log-every", "1")  # fmt: skip
    assert summary["step"] == 20
    log = _read_jsonl(out / "log.jsonl")
    assert [row["step"] for row in log] == [19, 20]  # not 1 .. 20
    decayed = [row["lr"] for row in log]
    assert all(lr < 1e-3 for lr in decayed)  # inside the final decay of 20 steps
    for extra in (("--start-step", "3"), ("--init", str(exported_model), "--start-step", "20")):
        argv = ["train", "image", str(data_dir), "--out", str(tmp_path / "bad"), "--steps", "20"]
        code, _, err = run_cli(capsys, *argv, *extra, "--quiet")
        assert_one_line_error(code, err)
        assert "start_step" in err
