"""The R-D plots of an INR benchmark result: one PNG per modality that has curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..plots import _MARKERS, finish_png, rd_plot

__all__ = ["rd_plots"]


@dataclass(frozen=True)
class _LinePlot:
    """A modality's line plot: rate key ``x`` and quality key ``y`` of the points, axis
    labels, and the curve (if any) drawn again at its payload rate (``payload_<x>``)."""

    x: str
    y: str
    x_label: str
    y_label: str
    payload_of: tuple[str, ...] = ()


#: the line plots of the sections other than images (which get the R-D plot with BD)
_LINE_PLOTS = {
    # Opus without the ~870-byte Ogg header (large on short clips)
    "audio": _LinePlot("kbps", "snr_db", "rate: kbit/s (whole file)", "SNR (dB)", ("opus",)),
    # whole files (both with the sequence) and the coded coordinates alone
    "protein": _LinePlot("bits_per_atom", "rmsd_angstrom", "rate: bits per atom (whole file)",
                         "RMSD (Å)", ("inr", "uniform")),
    "video": _LinePlot("bpp", "psnr_db", "rate: bits per pixel (whole file, all frames)",
                       "PSNR (dB)"),
}  # fmt: skip


def _line_plot(
    curves: Mapping[str, Sequence[Mapping[str, Any]]],
    x_key: str,
    y_key: str,
    *,
    x_label: str,
    y_label: str,
    title: str,
    dpi: int = 120,
) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 5.2), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    drawn = 0
    for k, (name, points) in enumerate(curves.items()):
        pairs = sorted(
            (p[x_key], p[y_key])
            for p in points
            if p.get(x_key) is not None and p.get(y_key) is not None
        )
        if not pairs:
            continue
        axes.plot(
            [x for x, _ in pairs],
            [y for _, y in pairs],
            marker=_MARKERS[k % len(_MARKERS)],
            markersize=5,
            linewidth=2.2 if name == "inr" else 1.4,
            linestyle="-" if name == "inr" else "--",
            label=name,
        )
        drawn += 1
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title)
    return finish_png(figure, axes, drawn)


def rd_plots(result: Mapping[str, Any]) -> dict[str, bytes]:
    """One R-D plot (PNG bytes) per modality of a :func:`rdlab.eval.inr_bench.run`
    result that has curves: ``{"inr_image.png": ..., "inr_audio.png": ..., ...}``."""
    out = {}
    image = result.get("image")
    if isinstance(image, Mapping) and "mean_curves" in image:
        crops = image["signals"]
        side = f"{crops[0]['height']}x{crops[0]['width']} crops" if crops else "crops"
        out["inr_image.png"] = rd_plot(
            image["mean_curves"], "psnr", dataset=f"images/eval, {side}",
            images=len(crops), anchor="jpeg",
        )  # fmt: skip
    for modality, spec in _LINE_PLOTS.items():
        section = result.get(modality)
        if not (isinstance(section, Mapping) and "mean_curves" in section):
            continue
        curves = dict(section["mean_curves"])
        x = spec.x
        for name in spec.payload_of:
            curves[f"{name} (payload only)"] = [
                {**p, x: p.get(f"payload_{x}")} for p in curves.get(name, [])
            ]
        count = len(section["signals"])
        out[f"inr_{modality}.png"] = _line_plot(
            curves, spec.x, spec.y, x_label=spec.x_label, y_label=spec.y_label,
            title=f"INR vs peers: {modality} ({count} signal{'s' if count != 1 else ''})",
        )  # fmt: skip
    return out
