"""Rate–distortion–perception: the Gaussian source coded at the limit by REC, and
learned realism on the 2-D synthetic sources.

Sections (each a function returning a dict; ``run`` combines them into one JSON object):

- ``rec``: N(0, 1) coded by REC at (D, P) for P = 0 and P = 0.05 (W2²) at D = 0.25,
  0.5, 1 (1,000 blocks of 2 samples each), beside R(D, P) and a deterministic quantizer
  at the same distortion (:mod:`rdlab.eval.rdp_gaussian`).
- ``learned``: the stochastic-decoder transform coder trained with a sliced-W2 term at
  perception weights 0, 1, 4, 16 on the Gaussian, Laplace and banana sources
  (:mod:`rdlab.eval.realism_bench`).
- ``images``: the image codec's realism mode on the evaluation photos
  (``../shared/data/images/eval``; the bundled sample when absent), qualities 1, 3, 5:
  each file decoded plainly and with the bundled realism head
  (:mod:`rdlab.eval.realism_images`: PSNR, MS-SSIM, patch SW2², detail ratio).

Targets: REC's outputs pass the KS test (0.001) and its mean bits per block stay within
log2(I + 1) + 4 of I = 2 R(D, P); the learned coder's W2² falls with the weight on every
source, and no Gaussian point beats R(D, P); the realism decode has lower patch SW2² and
more detail than the plain decode at every quality, for at most 1 dB of PSNR.

    python benchmarks/perception.py --json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
from pathlib import Path
from typing import Any

from rdlab.eval.rdp_gaussian import deterministic_baseline, rec_point, step_for_distortion
from rdlab.eval.realism_bench import run_realism_bench


def rec(blocks: int = 1000) -> dict[str, Any]:
    points = []
    for p in (0.0, 0.05):
        for d in (0.25, 0.5, 1.0):
            point = rec_point(d, p, blocks=blocks)
            info = 2 * point["theory_rate"]
            point["bound_bits_per_block"] = info + math.log2(info + 1) + 4
            point["deterministic"] = deterministic_baseline(step_for_distortion(d))
            points.append(point)
    return {"points": points}


def learned(steps: int = 2000) -> dict[str, Any]:
    return {s: run_realism_bench(source=s, steps=steps) for s in ("gaussian", "laplace", "banana")}


_SHARED_EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "eval"


def images(limit: int | None = None) -> dict[str, Any]:
    from importlib.resources import files

    from rdlab.data.images import read_image
    from rdlab.eval.realism_images import run_realism_images

    paths = sorted(_SHARED_EVAL.glob("*.png"))[:limit] or [
        Path(str(files("rdlab") / "samples" / "chelsea_256x192.png"))
    ]
    photos = [(p.name, read_image(p)) for p in paths]
    photos = [(name, image) for name, image in photos if image.ndim == 3]
    report = run_realism_images(photos, qualities=(1.0, 3.0, 5.0))
    del report["images"]
    report["photos"] = [name for name, _ in photos]
    return report


def run(*, blocks: int = 1000, steps: int = 2000, limit: int | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "rec": rec(blocks),
        "learned": learned(steps),
        "images": images(limit),
    }
    pts = result["rec"]["points"]
    curves = [rep["points"] for rep in result["learned"].values()]
    gauss = result["learned"]["gaussian"]["points"]
    result["targets_met"] = {
        "rec_outputs_pass_ks": all(p["output_ks_pvalue"] > 1e-3 for p in pts),
        "rec_bits_within_bound": all(p["bits_per_block"] <= p["bound_bits_per_block"] for p in pts),
        "learned_w2_falls_with_weight": all(
            c[-1]["perception"] < c[0]["perception"] for c in curves
        ),
        "learned_gaussian_not_below_theory": all(
            p["theory_rate"] is None or p["rate"] >= p["theory_rate"] for p in gauss
        ),
        "image_realism_more_realistic_within_1_db": all(
            q["realism"]["patch_sw2"] < q["plain"]["patch_sw2"]
            and q["realism"]["detail_ratio"] > q["plain"]["detail_ratio"]
            and q["plain"]["psnr"] - q["realism"]["psnr"] <= 1.0
            for q in result["images"]["qualities"]
        ),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON (the default)")
    parser.add_argument("--quick", action="store_true", help="small run (smoke test)")
    args = parser.parse_args()
    result = run(blocks=200, steps=300, limit=1) if args.quick else run()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
