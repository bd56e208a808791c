"""Lattice nearest-point speed: vectors per second of ``Lattice.nearest``.

For Z^8, A2, D4, E8, BW16 and the Leech lattice, in float32 and float64: the best of
``--repeats`` runs on a batch of ``--batch`` Gaussian vectors (``--leech-batch`` for the
Leech lattice), scaled to a few lattice cells per coordinate. The naive all-coset Leech
decoder (one D24 decode for each of its 8,192 cosets,
``LeechLattice.nearest_naive``) is timed in the same run on ``--naive-batch`` vectors,
float64, and the speed-up of the fast decoder over it is reported.

Targets (vectors/s, float32, 2 cores): E8 1e6, BW16 1e5, Leech 2e4. Prints JSON with
``--json``.

    python benchmarks/lattice.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

import torch

from rdlab.lattice import get_lattice

TARGETS = {"E8": 1e6, "BW16": 1e5, "Leech": 2e4}
LATTICES = {"Z^8": "z^8", "A2": "a2", "D4": "d4", "E8": "e8", "BW16": "bw16", "Leech": "leech"}
SPREAD = {"BW16": 2.0, "Leech": 4.0}


def _rate(fn: Any, x: torch.Tensor, repeats: int) -> float:
    """Best-of-``repeats`` vectors per second of ``fn`` on the rows of ``x`` (N, n)."""
    fn(x[:8])  # warm-up (caches, lazy initialisation)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - start)
    return x.shape[0] / best


def run(
    batch: int = 65_536,
    leech_batch: int = 16_384,
    naive_batch: int = 256,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    rates: dict[str, dict[str, float]] = {}
    for label, name in LATTICES.items():
        lattice = get_lattice(name)
        size = leech_batch if label == "Leech" else batch
        x = torch.randn(size, lattice.dim, generator=gen, dtype=torch.float64)
        x = x * 3 * SPREAD.get(label, 1.0)
        rates[label] = {
            str(dtype).removeprefix("torch."): _rate(lattice.nearest, x.to(dtype), repeats)
            for dtype in (torch.float32, torch.float64)
        }
    leech = get_lattice("leech")
    x = torch.randn(naive_batch, 24, generator=gen, dtype=torch.float64) * 12
    naive = _rate(leech.nearest_naive, x, 1)
    fast = rates["Leech"]["float64"]
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "batch": batch,
        "leech_batch": leech_batch,
        "repeats": repeats,
        "vectors_per_s": rates,
        "leech_naive_vectors_per_s": naive,
        "leech_speedup": fast / naive,
        "targets": TARGETS,
        "targets_met": {k: rates[k]["float32"] >= v for k, v in TARGETS.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--batch", type=int, default=65_536)
    parser.add_argument("--leech-batch", type=int, default=16_384)
    parser.add_argument("--naive-batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args.batch, args.leech_batch, args.naive_batch, args.repeats)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for label, r in result["vectors_per_s"].items():
            print(f"{label:6s} float32 {r['float32']:12,.0f}  float64 {r['float64']:12,.0f} vec/s")
        print(
            f"Leech naive {result['leech_naive_vectors_per_s']:,.0f} vec/s, "
            f"speed-up {result['leech_speedup']:.0f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
