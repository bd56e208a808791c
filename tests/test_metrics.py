"""Tests of rdlab.metrics against hand computations and pytorch_msssim."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_msssim import ms_ssim as reference_ms_ssim

from rdlab.data import read_image, sample_path
from rdlab.errors import InputError
from rdlab.metrics import (
    MS_SSIM_MIN_SIDE,
    bits_per_pixel,
    ms_ssim,
    ms_ssim_db,
    psnr,
    psnr_y,
)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    image = read_image(sample_path())
    assert image.shape == (192, 256, 3) and image.dtype == np.uint8
    return image


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
        return np.asarray(decoded.convert("RGB")).copy()


def noisy(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(image + rng.normal(0.0, sigma, image.shape)), 0, 255).astype(np.uint8)


def as_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, C) -> (1, C, H, W) float64."""
    array = image.astype(np.float64).reshape(image.shape[0], image.shape[1], -1)
    return torch.from_numpy(array).permute(2, 0, 1)[None]


def window64(channels: int) -> torch.Tensor:
    """The 11-tap σ = 1.5 Gaussian in float64, shaped as pytorch_msssim expects.

    pytorch_msssim builds its default window in float32 even for float64 images, which
    alone moves MS-SSIM by ~1e-6; handing it a float64 window compares the algorithms.
    """
    offsets = torch.arange(11, dtype=torch.float64) - 5
    window = torch.exp(-(offsets**2) / (2 * 1.5**2))
    return (window / window.sum())[None, None, None].repeat(channels, 1, 1, 1)


def reference(a: np.ndarray, b: np.ndarray, *, exact_window: bool) -> float:
    channels = 1 if a.ndim == 2 else a.shape[2]
    kwargs = {"win": window64(channels)} if exact_window else {}
    value = reference_ms_ssim(
        as_tensor(a),
        as_tensor(b),
        data_range=255,
        size_average=True,
        win_size=11,
        win_sigma=1.5,
        **kwargs,
    )
    return float(value)


# ---------------------------------------------------------------- PSNR


def test_psnr_hand_computation() -> None:
    a = np.zeros((2, 2, 3), dtype=np.uint8)
    b = a.copy()
    b[0, 0, 0] = 12  # one sample off by 12 of 12 samples: MSE = 144 / 12 = 12
    expected = 10 * math.log10(255**2 / 12)
    assert psnr(a, b) == pytest.approx(expected, rel=1e-12)
    assert psnr(a, b, peak=1.0) == pytest.approx(10 * math.log10(1 / 12), rel=1e-12)


def test_psnr_photo_matches_direct_formula(photo: np.ndarray) -> None:
    distorted = jpeg(photo, 50)
    mse = np.mean((photo.astype(np.float64) - distorted.astype(np.float64)) ** 2)
    assert psnr(photo, distorted) == pytest.approx(10 * np.log10(255**2 / mse), rel=1e-12)


def test_psnr_identical_is_inf(photo: np.ndarray) -> None:
    assert psnr(photo, photo.copy()) == math.inf
    assert psnr_y(photo, photo.copy()) == math.inf


def test_psnr_rounds_and_clips_floats() -> None:
    a = np.array([[0.0, 100.0], [200.0, 255.0]])
    b = np.array([[-7.0, 100.4], [199.6, 300.0]])  # -> 0, 100, 200, 255
    assert psnr(a, b) == math.inf
    c = np.array([[0.0, 101.0], [200.0, 255.0]])
    assert psnr(a, c) == pytest.approx(10 * math.log10(255**2 * 4), rel=1e-12)


def test_psnr_greyscale_and_integer_dtypes() -> None:
    a = np.full((4, 4), 10, dtype=np.int64)
    b = np.full((4, 4), 12, dtype=np.uint8).astype(np.int32)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 4), rel=1e-12)


def test_psnr_y_matches_direct_formula(photo: np.ndarray) -> None:
    distorted = noisy(photo, 6.0)
    ref = photo.astype(np.float64)
    dis = distorted.astype(np.float64)

    def luma(x: np.ndarray) -> np.ndarray:
        return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]

    mse = np.mean((luma(ref) - luma(dis)) ** 2)
    assert psnr_y(photo, distorted) == pytest.approx(10 * np.log10(255**2 / mse), rel=1e-12)
    # Adding 1 to R, G and B moves Y′ by exactly 0.299 + 0.587 + 0.114 = 1.
    lifted = np.clip(photo, 0, 254) + np.uint8(1)
    expected = 10 * math.log10(255**2 / np.mean(np.ones(photo.shape[:2]) ** 2))
    assert psnr_y(np.clip(photo, 0, 254), lifted) == pytest.approx(expected, rel=1e-12)


def test_psnr_y_requires_rgb() -> None:
    grey = np.zeros((8, 8), dtype=np.uint8)
    with pytest.raises(InputError) as info:
        psnr_y(grey, grey)
    assert info.value.argument == "reference"


# ---------------------------------------------------------------- MS-SSIM


CASES = ["jpeg5", "jpeg30", "jpeg75", "jpeg95", "noise3", "noise40"]


def distort(photo: np.ndarray, case: str) -> np.ndarray:
    if case.startswith("jpeg"):
        return jpeg(photo, int(case[4:]))
    return noisy(photo, float(case[5:]))


@pytest.fixture(scope="module")
def references(photo: np.ndarray) -> dict[str, dict[str, float]]:
    """pytorch_msssim's values for every case, in one batched call per window."""
    batch = torch.cat([as_tensor(distort(photo, case)) for case in CASES])
    anchor = as_tensor(photo).expand_as(batch)
    values = {}
    for label, kwargs in (("exact", {"win": window64(3)}), ("default", {})):
        result = reference_ms_ssim(
            anchor,
            batch,
            data_range=255,
            size_average=False,
            win_size=11,
            win_sigma=1.5,
            **kwargs,
        )
        values[label] = dict(zip(CASES, result.tolist(), strict=True))
    return values


@pytest.mark.parametrize("case", CASES)
def test_ms_ssim_matches_pytorch_msssim(
    photo: np.ndarray, references: dict[str, dict[str, float]], case: str
) -> None:
    ours = ms_ssim(photo, distort(photo, case))
    assert 0.3 < ours < 1.0
    # Same algorithm, same float64 window: agreement to rounding.
    assert ours == pytest.approx(references["exact"][case], abs=1e-12)
    # pytorch_msssim's default call rounds its window to float32: ~1e-6 apart, < 1e-4.
    assert abs(ours - references["default"][case]) < 1e-5


@pytest.mark.parametrize("shape", [(161, 161), (187, 173)])
def test_ms_ssim_odd_sides_follow_pytorch_msssim_padding(
    photo: np.ndarray, shape: tuple[int, int]
) -> None:
    crop = np.ascontiguousarray(photo[: shape[0], : shape[1]])
    distorted = noisy(crop, 10.0, seed=1)
    ours = ms_ssim(crop, distorted)
    assert ours == pytest.approx(reference(crop, distorted, exact_window=True), abs=1e-12)


def test_ms_ssim_greyscale_matches_reference(photo: np.ndarray) -> None:
    grey = photo[..., 1]
    distorted = jpeg(photo, 40)[..., 1]
    ours = ms_ssim(grey, distorted)
    assert ours == pytest.approx(reference(grey, distorted, exact_window=True), abs=1e-12)


def test_ms_ssim_is_channel_mean(photo: np.ndarray) -> None:
    distorted = jpeg(photo, 20)
    per_channel = [ms_ssim(photo[..., c], distorted[..., c]) for c in range(3)]
    assert ms_ssim(photo, distorted) == pytest.approx(np.mean(per_channel), abs=1e-15)


def test_ms_ssim_identical_and_symmetric(photo: np.ndarray) -> None:
    assert ms_ssim(photo, photo.copy()) == 1.0
    distorted = jpeg(photo, 25)
    assert ms_ssim(photo, distorted) == pytest.approx(ms_ssim(distorted, photo), abs=1e-14)


def test_ms_ssim_monotone_in_jpeg_quality(photo: np.ndarray) -> None:
    values = [ms_ssim(photo, jpeg(photo, q)) for q in (10, 40, 90)]
    assert values[0] < values[1] < values[2]


def test_ms_ssim_minimum_side(photo: np.ndarray) -> None:
    ok = np.ascontiguousarray(photo[:MS_SSIM_MIN_SIDE, :MS_SSIM_MIN_SIDE])
    assert MS_SSIM_MIN_SIDE == 161
    assert ms_ssim(ok, noisy(ok, 5.0)) < 1.0
    small = photo[:160, :200]
    with pytest.raises(InputError, match="161"):
        ms_ssim(small, small)
    # pytorch_msssim asserts the same bound (smaller side > 160).
    with pytest.raises(AssertionError):
        reference(small, small, exact_window=False)


def test_ms_ssim_db() -> None:
    assert ms_ssim_db(1.0) == math.inf
    assert ms_ssim_db(0.9) == pytest.approx(10.0, rel=1e-12)
    assert ms_ssim_db(0.99) == pytest.approx(20.0, rel=1e-12)
    assert ms_ssim_db(0.0) == 0.0
    for bad in (1.5, -0.1, float("nan"), "x"):
        with pytest.raises(InputError):
            ms_ssim_db(bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------- argument checks


@pytest.mark.parametrize("metric", [psnr, psnr_y, ms_ssim])
def test_shape_mismatch_names_distorted(metric, photo: np.ndarray) -> None:
    with pytest.raises(InputError) as info:
        metric(photo, photo[:, :-1])
    assert info.value.argument == "distorted"


@pytest.mark.parametrize("metric", [psnr, psnr_y, ms_ssim])
def test_dtype_mismatch_names_distorted(metric, photo: np.ndarray) -> None:
    with pytest.raises(InputError) as info:
        metric(photo, photo.astype(np.float32) / 255.0)
    assert info.value.argument == "distorted"


@pytest.mark.parametrize(
    ("bad", "argument"),
    [
        (np.zeros((4, 4, 4), dtype=np.uint8), "reference"),  # RGBA
        (np.zeros((4,), dtype=np.uint8), "reference"),
        (np.zeros((0, 4), dtype=np.uint8), "reference"),
        (np.full((4, 4), 256, dtype=np.int32), "reference"),
        (np.full((4, 4), -1, dtype=np.int32), "reference"),
        (np.full((4, 4), np.nan), "reference"),
        (np.zeros((4, 4), dtype=bool), "reference"),
        (np.zeros((4, 4), dtype=np.complex128), "reference"),
    ],
)
def test_bad_reference_refused(bad: np.ndarray, argument: str) -> None:
    with pytest.raises(InputError) as info:
        psnr(bad, bad.copy())
    assert info.value.argument == argument


def test_bad_distorted_named() -> None:
    good = np.zeros((4, 4), dtype=np.float64)
    with pytest.raises(InputError) as info:
        psnr(good, np.full((4, 4), np.inf))
    assert info.value.argument == "distorted"
    with pytest.raises(InputError) as info:
        psnr(good, good, peak=0.0)
    assert info.value.argument == "peak"


def test_torch_tensors_accepted(photo: np.ndarray) -> None:
    distorted = jpeg(photo, 60)
    assert psnr(torch.from_numpy(photo), torch.from_numpy(distorted)) == psnr(photo, distorted)


# ---------------------------------------------------------------- bits per pixel


def test_bits_per_pixel() -> None:
    assert bits_per_pixel(1000, 100, 80) == 1.0
    assert bits_per_pixel(0, 1, 1) == 0.0
    assert bits_per_pixel(np.int64(3), 2, 3) == 4.0
    for args, argument in [
        ((-1, 2, 2), "num_bytes"),
        ((1.5, 2, 2), "num_bytes"),
        ((True, 2, 2), "num_bytes"),
        ((1, 0, 2), "height"),
        ((1, 2, -3), "width"),
    ]:
        with pytest.raises(InputError) as info:
            bits_per_pixel(*args)  # type: ignore[arg-type]
        assert info.value.argument == argument


def test_psnr_integer_uses_each_depths_peak():
    from rdlab.metrics import psnr_integer

    a = np.zeros((4, 4), np.uint16)
    b = a.copy()
    b[0, 0] = 1 << 12  # one sample off by 4096: MSE 4096**2 / 16
    assert psnr_integer(a, b) == pytest.approx(10 * np.log10(65535**2 / (4096**2 / 16)))
    assert psnr_integer(a, a) == float("inf")
    eight = np.zeros((4, 4), np.uint8)
    assert psnr_integer(eight, eight + 1) == pytest.approx(psnr(eight, eight + 1))
    with pytest.raises(InputError, match="both must be uint8 or both uint16"):
        psnr_integer(eight, b)
