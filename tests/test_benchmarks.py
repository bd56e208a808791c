"""The benchmark scripts run on small inputs and report consistent numbers."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_entropy_coding_benchmark_reports_rates_against_the_information_content():
    bench = load_benchmark("entropy_coding")
    result = bench.run(symbols=40_000, repeats=1, seed=3)
    assert result["symbols"] >= 40_000
    rdlab = result["rdlab"]
    assert rdlab["encode_msym_per_s"] > 0 and rdlab["decode_msym_per_s"] > 0
    # rdlab's 24-bit tables: the stream is within 0.5 % (+ one word) of -sum log2 P
    assert (
        0
        <= rdlab["bytes"] * 8 - result["ideal_bytes"] * 8
        <= result["ideal_bytes"] * 8 * 0.005 + 32
    )
    if result.get("compressai") is None:
        pytest.skip("CompressAI (the peer) is not installed: pip install -e '.[bench]'")
    assert set(result["targets_met"]) == {"encode_ratio", "decode_ratio", "overhead_percent"}


def test_ltc_benchmark_row_reports_real_and_estimated_rates():
    from rdlab.eval.ltc_experiment import LTCExperiment

    bench = load_benchmark("ltc")
    row = bench._row(LTCExperiment(source="gaussian", lattice="a2", steps=5, test_items=200))
    assert row["lattice"] == "A2" and row["roundtrip_exact"] is True
    assert row["rate_file"] > row["rate_payload"] > 0
    assert row["real_minus_mc_bits"] == row["rate_payload"] - row["rate_mc"]
    assert set(bench.GAUSSIAN_TARGETS) == set(bench.LATTICE_DIMS)


def test_lattice_benchmark_runs_on_small_inputs():
    bench = load_benchmark("lattice")
    result = bench.run(batch=512, leech_batch=128, naive_batch=16, repeats=1)
    assert set(result["vectors_per_s"]) == {"Z^8", "A2", "D4", "E8", "BW16", "Leech"}
    for rates in result["vectors_per_s"].values():
        assert set(rates) == {"float32", "float64"} and all(r > 0 for r in rates.values())
    # the coset decoder beats the naive all-coset decoder even on tiny batches
    assert result["leech_naive_vectors_per_s"] > 0 and result["leech_speedup"] > 1
    assert set(result["targets_met"]) == set(result["targets"]) == {"E8", "BW16", "Leech"}
    assert result["torch_threads"] >= 1 and "platform" in result


def test_blahut_arimoto_benchmark_runs_on_small_inputs():
    bench = load_benchmark("blahut_arimoto")
    result = bench.run(points=4, gaussian_grid=512, banana_side=32, banana_max_iter=10)
    assert result["gaussian"]["max_deviation_bits"] < 0.01
    assert set(result["targets_met"]) == set(result["targets"]) | {"banana_converged"}
    banana = result["banana"]
    # converged means: no slope at the cap and every certified gap below 0.001 bit
    assert result["targets_met"]["banana_converged"] == (
        banana["slopes_at_iteration_cap"] == 0 and banana["max_certified_gap_bits"] < 1e-3
    )
    assert banana["seconds"] > 0


def test_rec_benchmark_runs_on_small_inputs():
    bench = load_benchmark("rec")
    result = bench.run(blocks=32, peer_blocks=1, repeats=1, seeds=10, problems=100)
    for name in ("dims_16", "dims_32"):
        row = result["blockwise"][name]
        assert row["encode_blocks_per_s"] > 0 and row["decode_blocks_per_s"] > 0
    for row in result["bb_gprs"].values():
        # steps grow linearly in KL: far below global GPRS's 2^D_inf candidates at 16 bits
        assert row["mean_depth"] <= row["depth_bound"]
        assert row["mean_bits"] < row["kl_bits"] + math.log2(row["kl_bits"] + 2) + 3 + 1
    assert result["bb_gprs"]["kl_16"]["steps_saved_over_global"] > 1000


def test_image_codec_benchmark_runs_on_small_inputs(capsys):
    bench = load_benchmark("image_codec")
    assert bench.main(["--quick", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rdlab = result["rdlab"]
    for key in ("encode_s", "decode_s"):
        assert math.isfinite(rdlab[key]) and rdlab[key] > 0
    assert 0 < rdlab["bpp"] < 24 and rdlab["psnr"] > 20
    assert rdlab["bytes"] * 8 == pytest.approx(rdlab["bpp"] * 256 * 192)
    lattice = result["lattice"]  # the bundled E8 lattice-latent model, timed once
    assert lattice["model"] == "default-e8"
    assert 0 < lattice["bpp"] < 24 and lattice["psnr"] > 20
    assert lattice["encode_ratio_to_scalar"] == pytest.approx(
        lattice["encode_s"] / rdlab["encode_s"]
    )
    refine = result["refine"]  # encoder-side latent refinement, 3 steps in --quick
    assert refine["steps"] == 3 and refine["seconds_per_step"] > 0
    assert refine["encode_ratio_to_plain"] == pytest.approx(refine["encode_s"] / rdlab["encode_s"])
    assert refine["bytes_change"] == pytest.approx(refine["bytes"] / rdlab["bytes"] - 1)
    memory = result["memory"]
    assert memory["encode_peak_mib"] > 0 and memory["decode_peak_mib"] > 0
    assert memory["encode_s"] > 0 and memory["decode_s"] > 0
    assert "memory_peak_mib" in result["meets_targets"]
    peer = result["compressai"]
    if "unavailable" in peer:
        assert "ratios" not in result
        return  # the peer is optional: pip install -e '.[bench]'
    for key in ("encode_s", "decode_s"):
        assert math.isfinite(peer[key]) and peer[key] > 0
    assert result["ratios"]["encode"] == pytest.approx(rdlab["encode_s"] / peer["encode_s"])
    assert result["ratios"]["decode"] == pytest.approx(rdlab["decode_s"] / peer["decode_s"])
    assert set(result["meets_targets"]) == set(result["targets"])


def test_overfit_benchmark_merges_runs_into_one_summary(capsys, tmp_path):
    """``--merge`` joins per-photo runs (the committed ones): the mean BD-rate is that of
    the photos, and runs with other settings are refused."""
    bench = load_benchmark("overfit")
    runs = sorted((BENCHMARKS / "results").glob("overfit-*/*.json"))
    assert len(runs) >= 2
    singles = [json.loads(path.read_text())["bd_overfit_vs"]["webp"]["bd_rate"] for path in runs]
    assert bench.main(["--merge", *map(str, runs)]) == 0
    merged = json.loads(capsys.readouterr().out)
    assert merged["bd_overfit_vs"]["webp"]["photos"] == len(runs)
    assert math.isclose(merged["bd_overfit_vs"]["webp"]["bd_rate"], sum(singles) / len(runs))
    # the committed summary the README quotes is what these runs merge to
    assert merged == json.loads((BENCHMARKS / "results" / "overfit-12-photos.json").read_text())
    other = json.loads(runs[0].read_text())
    other["settings"]["steps"] += 1
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(SystemExit) as refused:
        bench.main(["--merge", str(runs[1]), str(tmp_path / "other.json")])
    assert refused.value.code == 2
