"""Task-aware against MSE-trained compression, and the Gaussian source at the
rate–distortion–perception limit.

Sections (each a function returning a dict; ``run`` combines them into one JSON object):

- ``digits``: :func:`rdlab.eval.task_bench.run_task_bench` (scikit-learn's 8×8 digits,
  a classifier trained on the clean training split, codecs trained for MSE or for the
  classifier's distillation loss at six λ, real bitstreams of the 597 test images).
- ``realism``: the N(0, 1) source coded by REC at (D, P) for P = 0 and P = 0.05 (W2²)
  at D = 0.25, 0.5, 1 (1,000 blocks of 2 samples each), beside R(D, P) and a
  deterministic quantizer at the same distortion.

Targets: at equal bits the task codec's accuracy is higher than the MSE codec's at every
common rate; REC's outputs pass the KS test (0.001) and its mean bits per block stay
within log2(I + 1) + 4 of I = 2 R(D, P).

    python benchmarks/task.py --json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
from typing import Any

from rdlab.eval.rdp_gaussian import deterministic_baseline, rec_point, step_for_distortion
from rdlab.eval.task_bench import run_task_bench


def digits(steps: int = 1500) -> dict[str, Any]:
    return run_task_bench(steps=steps)


def realism(blocks: int = 1000) -> dict[str, Any]:
    points = []
    for p in (0.0, 0.05):
        for d in (0.25, 0.5, 1.0):
            point = rec_point(d, p, blocks=blocks)
            info = 2 * point["theory_rate"]
            point["bound_bits_per_block"] = info + math.log2(info + 1) + 4
            point["deterministic"] = deterministic_baseline(step_for_distortion(d))
            points.append(point)
    return {"points": points}


def run(*, steps: int = 1500, blocks: int = 1000) -> dict[str, Any]:
    result: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "digits": digits(steps),
        "realism": realism(blocks),
    }
    eq = result["digits"]["at_equal_bits"]
    pts = result["realism"]["points"]
    result["targets_met"] = {
        "task_beats_mse_at_equal_bits": bool(eq)
        and all(e["task_codec"] > e["mse_codec"] for e in eq),
        "rec_outputs_pass_ks": all(p["output_ks_pvalue"] > 1e-3 for p in pts),
        "rec_bits_within_bound": all(p["bits_per_block"] <= p["bound_bits_per_block"] for p in pts),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON (the default)")
    parser.add_argument("--quick", action="store_true", help="small run (smoke test)")
    args = parser.parse_args()
    result = run(steps=300, blocks=200) if args.quick else run()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
