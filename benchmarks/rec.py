"""Relative entropy coding speed and code lengths.

Sections (each a function returning a dict; ``run`` combines them into one JSON object):

- ``blockwise``: blocks per second of blockwise ordered random coding
  (:mod:`rdlab.rec.blockwise`) with ``2**16`` candidates per block (16-bit blocks) of 16
  and 32 dimensions: pool generation (seconds, once per seed), encode and decode with the
  pool cached, decode without it (random access of the chosen rows), and encode with the
  pool generation amortized over the timed blocks. The peer is fresh per-block candidates
  (:func:`rdlab.rec.random_coding.encode_ordered` on one block with ``2**16`` candidates),
  timed in the same run on a few blocks; the speed-up of the pool design over it is
  reported.
- ``bb_gprs``: branch-and-bound GPRS (:func:`rdlab.rec.gprs_bb.encode_many`, vectorized
  over independent problems) on 1-D Gaussian pairs of KL 4, 8, 16 bits: steps (tree
  nodes) per second, mean depth against the bound 2.26 I + 9.66, mean code length against
  I + log2(I + 1), and the speed-up in steps over global GPRS (2^D_inf candidates).
- ``code_lengths``: ideal code lengths (bits, mean over seeds) of ORC and MRC single
  samples (1-D Gaussian pairs of a few KLs, ``N = 2**ceil(KL + 2)``) under the fixed
  ``log2 N`` code and the zeta code ``IndexCode.zeta(KL)``.

Targets (2 cores): blockwise encode >= 100 blocks/s and decode >= 10,000 blocks/s for 16
and 32 dimensions per block.

    python benchmarks/rec.py --json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from typing import Any

import numpy as np
import torch

from rdlab.eval.rec_bench import gaussian_pair
from rdlab.rec import blockwise as bw
from rdlab.rec import gprs_bb
from rdlab.rec import random_coding as rc
from rdlab.rec.distributions import Gaussian, dinf_bits, kl_bits
from rdlab.rec.messages import IndexCode

TARGETS = {"encode_blocks_per_s": 100.0, "decode_blocks_per_s": 10_000.0}


def _best(fn: Any, repeats: int) -> float:
    """Best-of-``repeats`` seconds of ``fn()``."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _problem(dim: int, seed: int) -> tuple[np.ndarray, ...]:
    """Prior N(m, s^2), posterior N(mu, sigma^2): about 0.4 bits of KL per entry."""
    gen = np.random.default_rng(seed)
    m = gen.normal(size=dim) * 0.1
    s = np.exp(gen.normal(size=dim) * 0.2)
    mu = m + s * gen.normal(size=dim) * 0.5
    sigma = s * 0.8
    return mu, sigma, m, s


def _blockwise_one(
    d: int, blocks: int, peer_blocks: int, repeats: int, log2_candidates: int, seed: int
) -> dict[str, Any]:
    """One block size ``d``: rates (blocks/s) of the pool design and of the fresh peer."""
    mu, sigma, m, s = _problem(d * blocks, seed)
    part = bw.partition_fixed(d * blocks, d)
    k = log2_candidates
    pool_s = math.inf
    for _ in range(repeats):
        bw.clear_pool_cache()
        pool_s = min(pool_s, _best(lambda: bw.pool(seed, k, d), 1))
    bw.encode_blocks(mu, sigma, m, s, seed, part, log2_candidates=k, blocks=[0])  # warm-up
    encode_s = _best(
        lambda: bw.encode_blocks(mu, sigma, m, s, seed, part, log2_candidates=k), repeats
    )
    msg = bw.encode_blocks(mu, sigma, m, s, seed, part, log2_candidates=k)
    decode_s = _best(
        lambda: bw.decode_blocks(msg.data, m, s, seed, part, log2_candidates=k), repeats
    )
    # without the pool: few blocks, so the decoder reads rows by random access
    few = np.arange(min(blocks, (1 << k) // 16))
    sub = bw.encode_blocks(mu, sigma, m, s, seed, part, log2_candidates=k, blocks=few)
    bw.clear_pool_cache()
    rows_s = _best(
        lambda: bw.decode_blocks(sub.data, m, s, seed, part, log2_candidates=k, blocks=few),
        repeats,
    )
    # peer: fresh candidates per block
    proposal = Gaussian(m[:d], s[:d])
    target = Gaussian(mu[:d], sigma[:d])
    peer_s = _best(
        lambda: [
            rc.encode_ordered(target, proposal, seed, block=b, log2_candidates=k)
            for b in range(peer_blocks)
        ],
        1,
    )
    encode_rate = blocks / encode_s
    peer_rate = peer_blocks / peer_s
    return {
        "blocks": blocks,
        "log2_candidates": k,
        "kl_bits_per_block": float(bw.gaussian_kl_bits(mu, sigma, m, s).sum() / blocks),
        "pool_seconds": pool_s,
        "encode_blocks_per_s": encode_rate,
        "encode_blocks_per_s_amortized": blocks / (encode_s + pool_s),
        "decode_blocks_per_s": blocks / decode_s,
        "decode_blocks_per_s_without_pool": few.size / rows_s,
        "fresh_candidates_blocks_per_s": peer_rate,
        "pool_speedup_over_fresh": encode_rate / peer_rate,
        "bits_per_block": msg.bits / blocks,
    }


def blockwise(
    dims: tuple[int, ...] = (16, 32),
    blocks: int = 1024,
    peer_blocks: int = 3,
    repeats: int = 3,
    log2_candidates: int = 16,
    seed: int = 0,
) -> dict[str, Any]:
    return {
        f"dims_{d}": _blockwise_one(d, blocks, peer_blocks, repeats, log2_candidates, seed)
        for d in dims
    }


def code_lengths(kls: tuple[float, ...] = (2.0, 4.0, 8.0), seeds: int = 200) -> dict[str, Any]:
    out: dict[str, Any] = {}
    proposal = Gaussian(0.0, 1.0)
    for kl_target in kls:
        # N(mu, 0.5^2) against N(0, 1): KL = (0.25 + mu^2 - 1 - ln 0.25) / (2 ln 2) bits
        base = (0.25 - 1.0 - math.log(0.25)) / (2 * math.log(2))
        mu = math.sqrt(max(0.0, (kl_target - base) * 2 * math.log(2)))
        target = Gaussian(mu, 0.5)
        kl = kl_bits(target, proposal)
        k = rc.default_log2_candidates(kl)
        row: dict[str, Any] = {"kl_bits": kl, "log2_candidates": k}
        for name, encode in (("orc", rc.encode_ordered), ("mrc", rc.encode_minimal)):
            msgs = [encode(target, proposal, s, log2_candidates=k) for s in range(seeds)]
            idx = np.array([m.index for m in msgs], dtype=np.uint64)
            row[f"{name}_fixed_bits"] = float(k)
            row[f"{name}_zeta_bits"] = float(IndexCode.zeta(kl).bits(idx).mean())
            row[f"{name}_mean_log2_index"] = float(np.log2(idx.astype(np.float64)).mean())
        out[f"kl_{kl_target:g}"] = row
    return out


def bb_gprs(kls: tuple[float, ...] = (4.0, 8.0, 16.0), problems: int = 4000) -> dict[str, Any]:
    """Branch-and-bound GPRS steps/s and depth/bits against the bounds (1-D pairs)."""
    out: dict[str, Any] = {}
    for kl in kls:
        target, proposal = gaussian_pair(kl, 1)
        start = time.perf_counter()
        res = gprs_bb.encode_many(target, proposal, 11, np.arange(problems))
        seconds = time.perf_counter() - start
        depth = float(res.depths.mean())
        dinf = dinf_bits(target, proposal)
        out[f"kl_{kl:g}"] = {
            "kl_bits": kl,
            "problems": problems,
            "steps_per_s": float(res.depths.sum() / seconds),
            "problems_per_s": problems / seconds,
            "mean_depth": depth,
            "depth_bound": 2.26 * kl + 9.66,
            "mean_bits": float(res.bits().mean()),
            "kl_log_bound_bits": kl + math.log2(kl + 1),
            "global_gprs_expected_steps": 2.0**dinf,
            "steps_saved_over_global": 2.0**dinf / depth,
        }
    return out


def run(
    blocks: int = 1024,
    peer_blocks: int = 3,
    repeats: int = 3,
    seeds: int = 200,
    problems: int = 4000,
) -> dict[str, Any]:
    bwise = blockwise(blocks=blocks, peer_blocks=peer_blocks, repeats=repeats)
    bb = bb_gprs(problems=problems)
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "blockwise": bwise,
        "bb_gprs": bb,
        "code_lengths": code_lengths(seeds=seeds),
        "targets": TARGETS,
        "targets_met": {
            **{
                f"{key}_{name}": r[key] >= target
                for name, r in bwise.items()
                for key, target in TARGETS.items()
            },
            **{
                f"bb_gprs_depth_within_bound_{k}": r["mean_depth"] <= r["depth_bound"]
                for k, r in bb.items()
            },
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--quick", action="store_true", help="small smoke test")
    parser.add_argument("--blocks", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        result = run(blocks=128, peer_blocks=1, repeats=1, seeds=20, problems=200)
    else:
        result = run(blocks=args.blocks, repeats=args.repeats)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name, r in result["blockwise"].items():
            print(
                f"{name}: encode {r['encode_blocks_per_s']:,.0f} blocks/s, decode "
                f"{r['decode_blocks_per_s']:,.0f} blocks/s, pool {r['pool_seconds']:.3f} s, "
                f"speed-up over fresh candidates {r['pool_speedup_over_fresh']:.0f}x"
            )
        for name, r in result["bb_gprs"].items():
            print(
                f"GPRS-BB {name}: {r['steps_per_s']:,.0f} steps/s, depth {r['mean_depth']:.2f} "
                f"(bound {r['depth_bound']:.2f}), {r['mean_bits']:.2f} bits "
                f"(I + log2(I+1) = {r['kl_log_bound_bits']:.2f})"
            )
        for name, r in result["code_lengths"].items():
            print(
                f"{name}: ORC fixed {r['orc_fixed_bits']:.0f} zeta {r['orc_zeta_bits']:.2f} bits; "
                f"MRC zeta {r['mrc_zeta_bits']:.2f} bits"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
