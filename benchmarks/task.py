"""Task-aware against MSE-trained compression on scikit-learn's 8×8 digits.

:func:`rdlab.eval.task_bench.run_task_bench`: a classifier trained on the clean training
split, codecs trained for MSE or for the classifier's distillation loss at six λ, real
bitstreams of the 597 test images. Target: at equal bits the task codec's accuracy is
higher than the MSE codec's at every common rate.

    python benchmarks/task.py --json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from typing import Any

from rdlab.eval.task_bench import run_task_bench


def digits(steps: int = 1500) -> dict[str, Any]:
    return run_task_bench(steps=steps)


def run(*, steps: int = 1500) -> dict[str, Any]:
    result: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "digits": digits(steps),
    }
    eq = result["digits"]["at_equal_bits"]
    result["targets_met"] = {
        "task_beats_mse_at_equal_bits": bool(eq)
        and all(e["task_codec"] > e["mse_codec"] for e in eq),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON (the default)")
    parser.add_argument("--quick", action="store_true", help="small run (smoke test)")
    args = parser.parse_args()
    result = run(steps=300) if args.quick else run()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
