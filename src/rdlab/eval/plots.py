"""Rate-distortion plots (PNG bytes) with matplotlib's Agg backend.

Figures are drawn on an Agg canvas directly (no pyplot, no global backend change). The
functions return the PNG as bytes so that callers write it atomically
(:func:`rdlab._files.write_atomic`); no file is written and no window is opened.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

METRIC_LABELS = {
    "psnr": "PSNR, RGB (dB)",
    "psnr_y": "PSNR, BT.601 Y′ (dB)",
    "ms_ssim_db": "MS-SSIM (dB) = −10·log10(1 − MS-SSIM)",
}
METRIC_TITLES = {"psnr": "PSNR", "psnr_y": "PSNR-Y", "ms_ssim_db": "MS-SSIM"}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def rd_plot(
    curves: Mapping[str, Sequence[Mapping[str, Any]]],
    metric: str = "psnr",
    *,
    dataset: str = "",
    images: int | None = None,
    anchor: str | None = None,
    rate_key: str = "bpp",
    dpi: int = 120,
) -> bytes:
    """A rate-quality plot of ``curves`` (codec -> points with ``rate_key`` and
    ``metric``, e.g. :func:`rdlab.eval.image_bench.mean_curves`) as PNG bytes.

    One line with markers per codec (the anchor drawn dashed), bits per pixel on x,
    ``metric`` (``"psnr"``, ``"psnr_y"`` or ``"ms_ssim_db"``) on y; the title names the
    data set and the number of images.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if metric not in METRIC_LABELS:
        from ..errors import InputError

        raise InputError("metric", f"must be one of {', '.join(METRIC_LABELS)}, got {metric!r}")
    figure = Figure(figsize=(7.5, 5.2), dpi=dpi)
    FigureCanvasAgg(figure)  # Agg, whatever backend pyplot may be using
    axes = figure.add_subplot(1, 1, 1)
    drawn = 0
    for k, (name, points) in enumerate(curves.items()):
        pairs = [
            (p[rate_key], p[metric])
            for p in points
            if p.get(rate_key) is not None and p.get(metric) is not None
        ]
        if not pairs:
            continue
        pairs.sort()
        label = f"{name} (anchor)" if name == anchor else name
        axes.plot(
            [x for x, _ in pairs],
            [y for _, y in pairs],
            marker=_MARKERS[k % len(_MARKERS)],
            markersize=5,
            linewidth=1.6,
            linestyle="--" if name == anchor else "-",
            label=label,
        )
        drawn += 1
    rate_label = "bits per pixel (whole file)" if rate_key == "bpp" else f"{rate_key} (bits/pixel)"
    axes.set_xlabel(f"rate: {rate_label}")
    axes.set_ylabel(METRIC_LABELS[metric])
    count = "" if images is None else f" — {images} image{'s' if images != 1 else ''}"
    name = f"{dataset}{count}" if dataset else count.lstrip(" —")
    axes.set_title(f"Mean rate–{METRIC_TITLES[metric]} curves: {name}".rstrip(": "))
    return finish_png(figure, axes, drawn, legend="lower right")


def finish_png(figure: Any, axes: Any, drawn: int, *, legend: str = "best") -> bytes:
    """Grid, legend (or "no data" when nothing was drawn), tight layout: the PNG bytes."""
    axes.grid(True, which="both", alpha=0.3)
    if drawn:
        axes.legend(loc=legend, frameon=True)
    else:
        axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def bench_plots(result: Mapping[str, Any]) -> dict[str, bytes]:
    """Both plots of an :func:`rdlab.eval.image_bench.evaluate_images` result:
    ``{"rd_psnr.png": ..., "rd_msssim.png": ...}``."""
    common = {
        "dataset": result["dataset"]["name"],
        "images": result["dataset"]["images"],
        "anchor": result.get("anchor"),
    }
    curves = result["mean_curves"]
    return {
        "rd_psnr.png": rd_plot(curves, "psnr", **common),
        "rd_msssim.png": rd_plot(curves, "ms_ssim_db", **common),
    }
