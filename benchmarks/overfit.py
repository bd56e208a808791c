"""The overfitted latent-grid codec (``overfit``) on whole photos, against its peers.

Slow (each point fits networks on the CPU; not run in CI). For each photo of
``images/eval`` (``--images N`` spread over the 12, or ``--files``), at full size:

- ``overfit`` at each ``--bpp`` (the grids' target rate): file bpp, PSNR (RGB, 8 bits),
  encode and decode seconds, whether a second decode gives the same pixels, and the
  encoder's report; among it the **relative entropy coding estimate** of the same grids
  (``rec_kl_bpp``, ``rec_psnr``: :func:`rdlab.overfit.fit.rec_estimate`, what sending an
  exact sample of each grid value's box posterior would cost and give, at the end of the
  noisy phase, with the networks' and the header's bits added as the quantized file
  spends them). That point is an estimate, not a file;
- JPEG, WebP, AVIF (their default sweeps) and rdlab's hyperprior (qualities 1..6) on the
  same photo, in the same run (:func:`rdlab.eval.image_bench._code_point`).

BD-rate (pchip, PSNR) of ``overfit`` against each peer per photo, then the mean over the
photos, on the overlapping PSNR range capped where either curve passes ``--max-bpp``
(0.5), and of the REC estimate against the quantized files. One photo at a time, torch
on ``--threads`` (default 2): the encode times are those of that many cores.

    python benchmarks/overfit.py --images 3 --bpp 0.1,0.2,0.4 --json > overfit.json

Runs split over photos (one ``--files`` each, say) join with ``--merge A.json B.json``:
the summary of their records together, nothing coded again.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inr import default_data, eval_paths, print_summary
from rdlab.codecs.overfit import OverfitImageCodec
from rdlab.codecs.registry import codec_spec
from rdlab.data.images import read_image
from rdlab.eval.image_bench import _code_point
from rdlab.eval.inr_bench.common import bd_rate_limited, peer

PEERS = {"jpeg": None, "webp": None, "avif": None, "rdlab": (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)}


def overfit_point(image: np.ndarray, bpp: float, steps: int) -> dict[str, Any]:
    codec = OverfitImageCodec(bpp=bpp, steps=steps)
    point = {"target": bpp, **_code_point(codec, image, False, bpp, decode_twice=True)}
    report = dict(codec.last_report)
    pixels = image.shape[0] * image.shape[1]
    side_bits = report["file_bits"] - report["grid_bits"]  # networks, header, coder words
    point["rec_estimate"] = {
        "bpp": report["rec_kl_bpp"] + side_bits / pixels,
        "psnr": report["rec_psnr"],
    }
    point["report"] = report
    return point


def bd(records: list[dict[str, Any]], anchor: str, test: str, max_bpp: float) -> dict[str, Any]:
    per, values = [], []
    for record in records:
        a, t = record["results"][anchor], record["results"][test]
        out = bd_rate_limited(
            [p["bpp"] for p in a], [p["psnr"] for p in a],
            [p["bpp"] for p in t], [p["psnr"] for p in t], max_rate=max_bpp,
        )  # fmt: skip
        per.append({"name": record["name"], "bd_rate": out["bd_rate"], "reason": out.get("reason")})
        if out["bd_rate"] is not None:
            values.append(out["bd_rate"])
    return {"bd_rate": float(np.mean(values)) if values else None, "photos": len(values),
            "per_photo": per}  # fmt: skip


def summarize(
    records: list[dict[str, Any]], bpps: list[float], steps: int, threads: int, max_bpp: float
) -> dict[str, Any]:
    """The benchmark's JSON: settings, BD-rates against each peer, times, records."""
    return {
        "settings": {"bpp": bpps, "steps": steps, "threads": threads,
                     "max_bpp": max_bpp, "photos": [r["name"] for r in records]},
        "bd_overfit_vs": {p: bd(records, p, "overfit", max_bpp) for p in PEERS},
        "bd_rec_estimate_vs_overfit": bd(records, "overfit", "rec_estimate", max_bpp),
        "encode_seconds": [p["encode_seconds"] for r in records for p in r["results"]["overfit"]],
        "all_decode_twice_the_same": all(
            p["decodes_twice_the_same"] for r in records for p in r["results"]["overfit"]
        ),
        "records": records,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default_data())
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--files", nargs="*", help="photos to use instead of images/eval")
    parser.add_argument("--bpp", default="0.1,0.2,0.4")
    parser.add_argument("--steps", type=int, default=OverfitImageCodec().settings.steps)
    parser.add_argument("--max-bpp", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--merge", nargs="+", metavar="JSON", help="summarize earlier runs")
    args = parser.parse_args(argv)
    if args.merge:
        runs = [json.loads(Path(name).read_text()) for name in args.merge]
        settings = runs[0]["settings"]
        for key in ("steps", "threads"):  # the same effort and the same cores to time
            if any(run["settings"][key] != settings[key] for run in runs):
                parser.error(f"the runs to merge used different --{key}")
        records = [record for run in runs for record in run["records"]]
        print_summary(summarize(records, settings["bpp"], settings["steps"],
                                settings["threads"], args.max_bpp), args.json)  # fmt: skip
        return 0
    import torch

    torch.set_num_threads(args.threads)
    paths = eval_paths(args.files, args.data, "image", "photos", args.images)
    bpps = [float(b) for b in args.bpp.split(",")]
    records = []
    for path in paths:
        image = read_image(path)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        name = Path(path).name
        results: dict[str, list[dict[str, Any]]] = {"overfit": []}
        for bpp in bpps:
            point = overfit_point(image, bpp, args.steps)
            results["overfit"].append(point)
            print(f"{name} overfit {bpp}: {point['bpp']:.3f} bpp {point['psnr']:.2f} dB "
                  f"{point['encode_seconds']:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
        results["rec_estimate"] = [p["rec_estimate"] for p in results["overfit"]]
        for codec, qualities in PEERS.items():
            sweep = qualities or codec_spec(codec).quality.sweep
            results[codec] = [_code_point(peer(codec, q), image, False, q) for q in sweep]
        records.append({"name": name, "height": image.shape[0], "width": image.shape[1],
                        "results": results})  # fmt: skip
    summary = summarize(records, bpps, args.steps, args.threads, args.max_bpp)
    print_summary(summary, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
