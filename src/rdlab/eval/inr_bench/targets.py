"""The project's targets for the INR codec, read off a benchmark result
(:func:`rdlab.eval.inr_bench.run`): BD-rate against JPEG below 0.5 bpp, encode and
decode seconds of a 256x256 image, INR against Opus at 6 kbit/s (at the same requested
rate and at matched actual rates), RMSD at 12 bits/atom, and deterministic decoding of
every modality's points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .common import interpolate_log_rate

__all__ = ["TARGETS", "targets"]

TARGETS = {
    "image_bd_rate_vs_jpeg_percent": -25.0,
    "audio_opus_kbps": 6.0,
    "protein_rmsd_angstrom": 1.0,
    "protein_bits_per_atom": 12.0,
    "image_encode_seconds": 600.0,
    "image_decode_seconds": 1.0,
    "image_side": 256,
}


def _matched_opus(record: Mapping[str, Any], kbps: float) -> dict[str, float] | None:
    """One audio signal's Opus point at target ``kbps`` and INR's SNR at Opus's actual
    whole-file and payload rates (None where INR's points do not bracket both)."""
    opus = next(
        (p for p in record["results"]["opus"] if p["target"] == kbps and "error" not in p), None
    )
    if opus is None:
        return None
    inr = record["results"]["inr"]
    at_file = interpolate_log_rate(inr, "kbps", "snr_db", float(opus["kbps"]))
    at_payload = interpolate_log_rate(inr, "payload_kbps", "snr_db", float(opus["payload_kbps"]))
    if at_file is None or at_payload is None:
        return None
    return {
        "opus_snr_db": float(opus["snr_db"]),
        "opus_kbps": float(opus["kbps"]),
        "opus_payload_kbps": float(opus["payload_kbps"]),
        "inr_snr_db_at_opus_kbps": at_file,
        "inr_snr_db_at_opus_payload_kbps": at_payload,
    }


def _paired_means(
    signals: Sequence[Mapping[str, Any]], kbps: float, key: str
) -> dict[str, float] | None:
    """Mean ``key`` of INR and of Opus over the signals where both have a point at target
    ``kbps`` (``inr_<key>``, ``opus_<key>``, ``signals``); None where none has."""
    pairs = []
    for record in signals:
        inr = next((p for p in record["results"]["inr"] if p["target"] == kbps), None)
        opus = next((p for p in record["results"]["opus"] if p["target"] == kbps), None)
        if inr and opus and inr.get(key) is not None and opus.get(key) is not None:
            pairs.append((inr[key], opus[key]))
    if not pairs:
        return None
    inr, opus = zip(*pairs, strict=True)
    return {f"inr_{key}": float(np.mean(inr)), f"opus_{key}": float(np.mean(opus)),
            "signals": len(pairs)}  # fmt: skip


def _grid_at_inr_rates(signals: Sequence[Mapping[str, Any]], key: str) -> dict | None:
    """Mean RMSD of every INR protein point and of the grid baseline at the same ``key``
    rate (interpolated between the grid's points; INR points outside them left out)."""
    pairs = []
    for record in signals:
        grid = record["results"].get("uniform", [])
        for point in record["results"]["inr"]:
            if "error" in point or point.get(key) is None:
                continue
            at = interpolate_log_rate(grid, key, "rmsd_angstrom", float(point[key]))
            if at is not None:
                pairs.append((float(point["rmsd_angstrom"]), at))
    if not pairs:
        return None
    inr, grid_rmsd = zip(*pairs, strict=True)
    return {"inr_rmsd_angstrom": float(np.mean(inr)),
            "grid_rmsd_angstrom": float(np.mean(grid_rmsd)), "points": len(pairs)}  # fmt: skip


def _target(value: Any, met: bool | None, **extra: Any) -> dict[str, Any]:
    return {"value": value, "met": met, **extra}


def targets(result: Mapping[str, Any]) -> dict[str, Any]:
    """The benchmark's targets (booleans and the numbers behind them) from :func:`run`'s
    per-modality results; ``met`` is None where the modality was not run or the number
    could not be measured (``reason`` says why)."""
    out: dict[str, Any] = {}
    image = result.get("image")
    if isinstance(image, Mapping) and "bd_vs_peers" in image:
        jpeg = image["bd_vs_peers"].get("jpeg", {}).get("capped")
        value = None if jpeg is None else jpeg["bd_rate"]
        goal = TARGETS["image_bd_rate_vs_jpeg_percent"]
        out["image_bd_rate_vs_jpeg_below_max_bpp"] = _target(
            value,
            None if value is None else value <= goal,
            goal=f"<= {goal} % (PSNR, below {image['settings']['max_bpp']} bpp)",
            reason=None if value is not None else (jpeg or {}).get("reason", "JPEG not run"),
        )
        side = TARGETS["image_side"]
        sized = [
            p
            for r in image["signals"]
            for p in r["results"]["inr"]
            if "error" not in p and r["height"] == side and r["width"] == side
        ]
        for key, goal_key, label in (
            ("encode_seconds", "image_encode_seconds", "encode"),
            ("decode_seconds", "image_decode_seconds", "decode"),
        ):
            worst = max((p[key] for p in sized), default=None)
            goal = TARGETS[goal_key]
            out[f"image_{label}_{side}x{side}_seconds"] = _target(
                worst,
                None if worst is None else worst < goal,
                goal=f"< {goal:g} s (slowest INR point on a {side}x{side} image)",
                reason=None if worst is not None else f"no INR point on a {side}x{side} image",
            )
    audio = result.get("audio")
    if isinstance(audio, Mapping) and "signals" in audio:
        kbps = TARGETS["audio_opus_kbps"]
        value = _paired_means(audio["signals"], kbps, "snr_db")
        out["audio_snr_beats_opus_at_6_kbps"] = _target(
            value,
            None if value is None else value["inr_snr_db"] > value["opus_snr_db"],
            goal=f"mean SNR of INR > Opus at a target of {kbps:g} kbit/s",
            reason=None if value else f"no INR and Opus points at {kbps:g} kbit/s",
        )
        for key, name in (("log_mel_db", "log-mel distance"), ("lsd_db", "log-spectral distance")):
            value = _paired_means(audio["signals"], kbps, key)
            out[f"audio_{key}_no_worse_than_opus_at_6_kbps"] = _target(
                value,
                None if value is None else value[f"inr_{key}"] <= value[f"opus_{key}"],
                goal=f"mean {name} (dB, lower is better) of INR <= Opus at a target of "
                f"{kbps:g} kbit/s",
                reason=None if value else f"no INR and Opus points with {key} at {kbps:g} kbit/s",
            )
        # INR's SNR at Opus's actual rates needs INR points on both sides of them
        matched = [_matched_opus(record, kbps) for record in audio["signals"]]
        matched = [m for m in matched if m is not None]
        value = (
            {key: float(np.mean([m[key] for m in matched])) for key in matched[0]}
            | {"signals": len(matched)}
            if matched else None
        )  # fmt: skip
        out["audio_snr_beats_opus_at_matched_kbps"] = _target(
            value,
            None
            if value is None
            else min(value["inr_snr_db_at_opus_kbps"], value["inr_snr_db_at_opus_payload_kbps"])
            > value["opus_snr_db"],
            goal=(
                f"mean SNR of INR > Opus asked for {kbps:g} kbit/s, with INR's SNR "
                "interpolated (linear in log rate) at Opus's actual rate: of the whole file "
                "and of the payload (both must beat it)"
            ),
            reason=None if matched else f"no Opus point at {kbps:g} kbit/s bracketed by INR",
        )
    protein = result.get("protein")
    if isinstance(protein, Mapping) and "signals" in protein:
        for key, label in (("bits_per_atom", "file"), ("payload_bits_per_atom", "payload")):
            best = []
            for record in protein["signals"]:
                rmsds = [
                    p["rmsd_angstrom"]
                    for p in record["results"]["inr"]
                    if "error" not in p and p[key] <= TARGETS["protein_bits_per_atom"]
                ]
                best.append(min(rmsds) if rmsds else None)
            ok = [b is not None and b <= TARGETS["protein_rmsd_angstrom"] for b in best]
            missing = [
                r["name"] for r, b in zip(protein["signals"], best, strict=True) if b is None
            ]
            out[f"protein_rmsd_1A_at_12_bits_per_atom_{label}"] = _target(
                {r["name"]: b for r, b in zip(protein["signals"], best, strict=True)},
                all(ok) if best else None,
                goal=f"every chain: RMSD <= 1 A at <= 12 {key.replace('_', ' ')} (best INR point)",
                reason=f"no INR point at <= 12 {key.replace('_', ' ')}: {', '.join(missing)}"
                if missing
                else None,
            )
        for key, label in (("bits_per_atom", "file"), ("payload_bits_per_atom", "coded")):
            value = _grid_at_inr_rates(protein["signals"], key)
            out[f"protein_rmsd_below_grid_at_equal_{label}_bits"] = _target(
                value,
                None if value is None else value["inr_rmsd_angstrom"] < value["grid_rmsd_angstrom"],
                goal=f"mean RMSD of INR < the grid baseline's at INR's own {label} bits per "
                "atom (the grid's RMSD interpolated linearly in log rate)",
                reason=None if value else "no INR point inside the grid baseline's rate range",
            )
    for modality, section in result.items():
        if isinstance(section, Mapping) and "signals" in section:
            flags = [
                p["deterministic"]
                for r in section["signals"]
                for p in r["results"]["inr"]
                if "error" not in p
            ]
            out[f"{modality}_deterministic"] = _target(
                all(flags) if flags else None,
                all(flags) if flags else None,
                goal="every INR point: a second decode equals the first",
                reason=None if flags else "no INR point was coded",
            )
    return out
