"""Private compression: DP mechanisms sent exactly by PPR, against their peers.

Sections (each a function returning a dict; ``run`` combines them into one JSON object):

- ``dme``: distributed mean estimation with the Gaussian mechanism at central ε in
  {0.5, 1, 2, 4, 8} (δ = 1e-5, add/remove-one-client, one round), d = 16, on clients
  uniform on the sphere and on real clients (image tiles: mean 4x4 luma patch of each
  tile of the evaluation photos in ``../shared/data/images/eval`` when present, else of
  the bundled sample). Peers in the same run: the uncompressed mechanism (32-bit floats),
  CSGM at equal bits and stochastic quantization (:mod:`rdlab.eval.privacy_bench`).
- ``bits``: per mechanism (gaussian, laplace, privunit) at local ε in {0.5, 1, 2, 4, 8},
  and the DME section's Gaussian at central ε in the same set (``gaussian-central``),
  the mean message length per client against ``sum_b I_b + log2(I_b + 1) + 4`` with
  ``I_b`` the mean KL (bits) of block b over the clients.
- ``speed``: client vectors per second (d = 16, local ε = 2) encoded and decoded, one
  process, per mechanism.

Targets: at every central ε, REC's MSE within 5 % of the uncompressed mechanism's at
<= 1/8 of its bits and no worse than CSGM's at equal bits; bits within the bound at
every ε; encode >= 1,000 vectors/s and decode >= 10x encode for the Gaussian at ε = 2.

    python benchmarks/privacy.py --json
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rdlab.eval.privacy_bench import client_vectors, run_bench
from rdlab.privacy import (
    GaussianMechanism,
    calibrate_gaussian,
    decode_round,
    encode_round,
    get_mechanism,
)
from rdlab.rec.distributions import kl_bits

EPSILONS = (0.5, 1.0, 2.0, 4.0, 8.0)
TARGETS = {"encode_per_s": 1000.0, "decode_over_encode": 10.0}
_SHARED_EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "eval"


def _image_paths() -> list[str]:
    paths = sorted(glob.glob(str(_SHARED_EVAL / "*.png")))
    if paths:
        return paths
    from rdlab.data.images import sample_path

    return [sample_path()]


def dme(clients: int = 100, trials: int = 40, seed: int = 0) -> dict[str, Any]:
    """The Gaussian DME benchmark on synthetic and real clients."""
    out: dict[str, Any] = {}
    for source, paths in (("sphere", None), ("images", _image_paths())):
        report = run_bench(
            mechanism="gaussian",
            epsilons=EPSILONS,
            dim=16,
            clients=clients,
            trials=trials,
            source=source,
            paths=paths,
            seed=seed,
        )
        if paths:
            report["paths"] = [os.path.basename(p) for p in paths]
        out[source] = report
    return out


def _mechanism(name: str, eps: float) -> Any:
    if name == "gaussian":
        return get_mechanism(name, dim=16, epsilon=eps, delta=1e-5)
    return get_mechanism(name, dim=16, epsilon=eps)


def _central_gaussian(eps: float, clients: int = 100) -> Any:
    """The DME section's Gaussian: noise for central (ε, 1e-5) after averaging ``clients``."""
    z = calibrate_gaussian(eps, 1e-5)
    return GaussianMechanism(16, clip_norm=1.0, sigma=z / np.sqrt(clients), delta=1e-5)


def bits(clients: int = 300, seed: int = 0) -> dict[str, Any]:
    """Mean message bits against the I + log2(I + 1) + 4 bound, per mechanism and ε.

    ``gaussian``, ``laplace`` and ``privunit`` at local ε (a few bits of information per
    client); ``gaussian-central`` is the DME section's mechanism at central ε over 100
    clients (each output carries 5 to 60 bits, split into several blocks)."""
    rows = []
    for name in ("gaussian", "laplace", "privunit", "gaussian-central"):
        x = client_vectors("sphere", clients, 16, seed=seed)
        if name == "laplace":
            x = x / np.abs(x).sum(axis=1, keepdims=True)
        for eps in EPSILONS:
            mech = _central_gaussian(eps) if name == "gaussian-central" else _mechanism(name, eps)
            gen = np.random.default_rng([seed, 3])
            r = encode_round(mech, x, seed=seed, generator=gen)
            prep_gen = np.random.default_rng([seed, 5])
            kls = np.array(
                [
                    [
                        kl_bits(law, ref)
                        for law, ref in zip(
                            mech.laws(mech.prepare(row, prep_gen)), mech.references(), strict=True
                        )
                    ]
                    for row in x
                ]
            ).mean(axis=0)
            bound = float(np.sum(kls + np.log2(kls + 1.0) + 4.0))
            rows.append(
                {
                    "mechanism": name,
                    "epsilon": eps,
                    "blocks": len(kls),
                    "kl_bits": float(kls.sum()),
                    "mean_bits": float(r.bits.mean()),
                    "payload_bits": 8.0 * len(r.payload) / clients,
                    "bound_bits": bound,
                    "within_bound": bool(r.bits.mean() <= bound),
                }
            )
    return {"clients": clients, "rows": rows, "all_within": all(r["within_bound"] for r in rows)}


def speed(clients: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Vectors per second encoded and decoded at d = 16, local ε = 2 (one process)."""
    x = client_vectors("sphere", clients, 16, seed=seed)
    rows = {}
    for name in ("gaussian", "laplace", "privunit", "privunitg"):
        mech = _mechanism(name, 2.0)
        gen = np.random.default_rng([seed, 9])
        r = encode_round(mech, x, seed=seed, generator=gen)
        start = time.perf_counter()
        y = decode_round(mech, r.payload, clients, seed=seed)
        dec = time.perf_counter() - start
        rows[name] = {
            "encode_per_s": clients / r.encode_seconds,
            "decode_per_s": clients / dec,
            "decode_over_encode": r.encode_seconds / dec,
            "roundtrip_exact": bool(np.array_equal(y, r.outputs)),
        }
    return rows


def run(
    *, clients: int = 100, trials: int = 40, bits_clients: int = 300, speed_clients: int = 2000
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "dme": dme(clients, trials),
        "bits": bits(bits_clients),
        "speed": speed(speed_clients),
        "targets": TARGETS,
    }
    levels = [lv for rep in result["dme"].values() for lv in rep["levels"]]
    g = result["speed"]["gaussian"]
    result["targets_met"] = {
        "mse_within_5_percent": all(lv["checks"]["mse_within_5_percent"] for lv in levels),
        "bits_at_most_one_eighth": all(lv["checks"]["bits_at_most_one_eighth"] for lv in levels),
        "no_worse_than_csgm": all(lv["checks"]["rec_no_worse_than_csgm"] for lv in levels),
        "bits_within_bound": result["bits"]["all_within"],
        "encode_per_s": g["encode_per_s"] >= TARGETS["encode_per_s"],
        "decode_over_encode": g["decode_over_encode"] >= TARGETS["decode_over_encode"],
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON (the default)")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="small run (smoke test)")
    args = parser.parse_args()
    if args.quick:
        result = run(clients=20, trials=3, bits_clients=40, speed_clients=100)
    else:
        result = run(clients=args.clients, trials=args.trials)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
