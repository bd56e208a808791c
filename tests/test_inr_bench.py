"""The INR benchmark's measurement code (rdlab.eval.inr_bench, benchmarks/inr.py) on tiny
signals with tiny toy models: structure, rates from bytes, determinism, BD-rate."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from rdlab.data.images import sample_path
from rdlab.eval import inr_bench
from rdlab.eval.bd import bd_rate
from rdlab.inr.model_file import save_inr_model
from rdlab.parallel import Engine
from test_inr import toy_model

DATA = Path(__file__).resolve().parent / "data" / "inr"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# 2^10 candidates per block (not 2^16): the candidate pool is generated in milliseconds
FIT = {
    "steps": 10,
    "fine_tune_steps": 2,
    "groups": 2,
    "log2_candidates": 10,
    "block_kl_target": 10.0,
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("inr-models")
    for modality in ("image", "audio", "protein", "video"):
        model = toy_model(modality, fit=FIT)
        save_inr_model(folder / f"inr-{modality}-toy.safetensors", model)
    return str(folder)


def check_inr_points(points, modality, rates):
    key = inr_bench.RATE_KEYS[modality]
    assert [p["target"] for p in points] == list(rates)
    for p in points:
        assert "error" not in p, p
        assert p["model"] == f"toy-{modality}"
        scale = 1000.0 if modality == "audio" else 1.0
        assert p[key] == pytest.approx(8 * p["bytes"] / p["items"] / scale)
        assert p[f"payload_{key}"] == pytest.approx(p["payload_bits"] / p["items"] / scale)
        # the budget is met exactly: by the whole file, or for proteins by the coordinates'
        # payload (the sequence and numbering ride beside it)
        counted = p[f"payload_{key}"] if modality == "protein" else p[key]
        assert 0 < p[f"payload_{key}"] < p[key]
        assert counted <= p["target"]
        assert p["deterministic"] is True
        assert p["encode_seconds"] > 0 and p["decode_seconds"] > 0
        assert p["fit_steps"] == FIT["steps"] + FIT["fine_tune_steps"] * (FIT["groups"] - 1)
        assert 0 < p["fit_seconds"] + p["code_seconds"] <= p["encode_seconds"]


# ------------------------------------------------------------------------------ BD-rate
def test_bd_rate_limited_matches_bd_rate_and_caps_and_refuses_disjoint_curves():
    rates = [0.1, 0.2, 0.4, 0.8]
    anchor = [28.0, 31.0, 34.0, 37.0]
    test = [29.5, 32.5, 35.5, 38.5]  # 1.5 dB better at every rate: fewer bits
    full = inr_bench.bd_rate_limited(rates, anchor, rates, test)
    assert full["reason"] is None
    assert full["bd_rate"] == pytest.approx(bd_rate(rates, anchor, rates, test), rel=1e-9)
    assert -60 < full["bd_rate"] < -20
    assert full["quality_range"] == [29.5, 37.0]
    capped = inr_bench.bd_rate_limited(rates, anchor, rates, test, max_rate=0.5)
    # capped at the lower quality where a curve reaches 0.5: the anchor, 31 + 3 log2(2.5) dB
    assert capped["quality_range"][1] == pytest.approx(34.0 + 3.0 * math.log2(0.5 / 0.4))
    assert capped["bd_rate"] < 0
    # the same curve shifted to rates 8x higher: BD-rate +700 % on any range
    shifted = inr_bench.bd_rate_limited(rates, anchor, [8 * r for r in rates], anchor)
    assert shifted["bd_rate"] == pytest.approx(700.0)
    apart = inr_bench.bd_rate_limited(rates, anchor, rates, [q + 20 for q in anchor])
    assert apart["bd_rate"] is None and "do not overlap" in apart["reason"]
    # overlap only above the cap: nothing below 0.05 bpp
    low = inr_bench.bd_rate_limited(rates, anchor, rates, test, max_rate=0.05)
    assert low["bd_rate"] is None and "below rate 0.05" in low["reason"]
    one = inr_bench.bd_rate_limited(rates, anchor, [0.3], [33.0])
    assert one["bd_rate"] is None and "fewer than 2" in one["reason"]


def test_spread_center_crop_and_mean_curve():
    names = [f"f{i}" for i in range(18)]
    assert inr_bench.spread(names, 2) == ["f0", "f17"]
    assert inr_bench.spread(names, 3) == ["f0", "f8", "f17"] or inr_bench.spread(names, 3) == [
        "f0",
        "f9",
        "f17",
    ]
    assert inr_bench.spread(names, 40) == names
    image = np.arange(10 * 12 * 3).reshape(10, 12, 3)
    crop = inr_bench.center_crop(image, 4, 6)
    assert crop.shape == (4, 6, 3) and np.array_equal(crop, image[3:7, 3:9])
    assert inr_bench.center_crop(image, 64, 64).shape == (10, 12, 3)
    curve = inr_bench.mean_curve(
        [
            [{"target": 1, "bpp": 1.0, "ok": True}, {"target": 2, "error": "too low"}],
            [{"target": 1, "bpp": 3.0, "ok": False}, {"target": 2, "bpp": 4.0, "ok": True}],
        ]
    )
    assert curve[0] == {"target": 1, "signals": 2, "bpp": 2.0, "ok": False}
    assert curve[1]["signals"] == 1 and curve[1]["bpp"] == 4.0


# ------------------------------------------------------------------------------ modalities
def test_image_bench_on_a_crop_with_a_toy_model(model_dir):
    result = inr_bench.image_bench(
        [sample_path()],
        crop=32,
        bpps=(2.0, 4.0),
        peers=("jpeg",),
        peer_qualities={"jpeg": (10, 50, 90)},
        hyperprior_qualities=(),
        max_bpp=3.0,
        model_dir=model_dir,
    )
    (record,) = result["signals"]
    assert (record["height"], record["width"]) == (32, 32)
    inr = record["results"]["inr"]
    check_inr_points(inr, "image", (2.0, 4.0))
    for p in inr:  # the classical points' keys, for the shared curves and plots
        assert p["psnr"] > 5 and p["psnr_y"] > 5 and p["ms_ssim"] is None
    jpeg = record["results"]["jpeg"]
    assert [p["target"] for p in jpeg] == [10.0, 50.0, 90.0]
    assert all(p["bpp"] == pytest.approx(8 * p["bytes"] / 1024) for p in jpeg)
    bd = result["bd_vs_peers"]["jpeg"]
    for part in ("capped", "full"):
        entry = bd[part]
        assert (entry["bd_rate"] is None) == (entry["reason"] is not None)
        assert entry["per_signal"][0]["max_rate"] == (3.0 if part == "capped" else None)
    curves = result["mean_curves"]
    assert curves["inr"][0]["bpp"] == pytest.approx(inr[0]["bpp"])
    assert result["models"] == {"2": "toy-image", "4": "toy-image"}
    # a rate below the header's cost is a point with an error, not a failed run
    low = inr_bench.inr_point(
        np.zeros((32, 32, 3), np.uint8), "image", 0.05, model=_load(model_dir, "image")
    )
    assert "is too low" in low["error"] and "bytes" not in low


def _load(model_dir, modality):
    from rdlab.inr.model_file import load_inr_model

    return load_inr_model(str(Path(model_dir) / f"inr-{modality}-toy.safetensors"))


def test_audio_bench_against_opus(model_dir):
    result = inr_bench.audio_bench(
        [str(DATA / "speech_ru_0181_0p5s.flac")],
        seconds=0.25,
        kbps=(12.0, 24.0),
        model_dir=model_dir,
    )
    (record,) = result["signals"]
    assert record["seconds"] == pytest.approx(0.25) and record["sample_rate"] == 16000
    check_inr_points(record["results"]["inr"], "audio", (12.0, 24.0))
    for p in record["results"]["inr"]:
        assert math.isfinite(p["snr_db"]) and math.isfinite(p["psnr_db"])
    for p in record["results"]["opus"]:
        assert p["kbps"] == pytest.approx(8 * p["bytes"] / 0.25 / 1000)
        assert p["payload_kbps"] == pytest.approx(8 * (p["bytes"] - p["header_bytes"]) / 250)
        assert 800 < p["header_bytes"] < 950
        # VBR: speech lands near the target (a little above), the file far above (header)
        assert 0.6 * p["target"] < p["payload_kbps"] < 1.6 * p["target"]
        assert p["kbps"] > p["target"] + 15
        assert p["snr_db"] > 0


def test_protein_bench_against_uniform_quantization(model_dir):
    result = inr_bench.protein_bench(
        [str(DATA / "cytc_d1kyow_.pdb.gz")],
        bits_per_atom=(24.0, 40.0),
        ca_steps=(0.5, 2.0),
        model_dir=model_dir,
    )
    (record,) = result["signals"]
    assert record["atoms"] == 108
    inr = record["results"]["inr"]
    check_inr_points(inr, "protein", (24.0, 40.0))
    for p in inr:
        assert p["rmsd_angstrom"] > 0
        # the sequence (base 21) plus centroid, chain, numbering and one non-standard
        # residue (M3L): measured 80 bytes for this chain, 60 of them the sequence
        sequence_bits = math.ceil(108 * math.log2(21) / 8) * 8
        assert sequence_bits / 108 < p["side_info_bits_per_atom"] < (sequence_bits + 240) / 108
    uniform = record["results"]["uniform"]
    assert [p["target"] for p in uniform] == [0.5, 2.0]
    side = inr[0]["side_info_bits_per_atom"]
    for p in uniform:
        assert p["payload_bits_per_atom"] == pytest.approx(8 * p["bytes"] / 108)
        # a grid file carrying what the INR file carries beside its coordinates
        assert p["bits_per_atom"] == pytest.approx(p["payload_bits_per_atom"] + side)
        assert p["rmsd_angstrom"] <= p["target"] * math.sqrt(3) / 2  # half a step per axis
    assert uniform[0]["bits_per_atom"] > uniform[1]["bits_per_atom"]


def test_video_bench_with_per_frame_peers(model_dir):
    result = inr_bench.video_bench(
        str(DATA / "carphone_8x32x32.png"),
        frames=4,
        crop=16,
        bpps=(3.0,),
        peers=("webp",),
        peer_qualities={"webp": (10, 80)},
        model_dir=model_dir,
    )
    (record,) = result["signals"]
    assert {k: record[k] for k in ("frames", "height", "width", "channels")} == {
        "frames": 4, "height": 16, "width": 16, "channels": 3
    }  # fmt: skip
    assert result["settings"]["frames"] == 4 and result["settings"]["crop"] == 16
    check_inr_points(record["results"]["inr"], "video", (3.0,))
    webp = record["results"]["webp_per_frame"]
    assert all(p["bpp"] == pytest.approx(8 * p["bytes"] / 1024) for p in webp)
    assert webp[1]["psnr_db"] > webp[0]["psnr_db"]


# ------------------------------------------------------------------------------ targets, CLI
def test_targets_from_synthetic_results():
    def point(target, **values):
        return {"target": target, "deterministic": True, **values}

    result = {
        "image": {
            "settings": {"max_bpp": 0.5},
            "bd_vs_peers": {"jpeg": {"capped": {"bd_rate": -30.0, "reason": None}}},
            "signals": [
                {"height": 256, "width": 256,
                 "results": {"inr": [point(0.3, encode_seconds=500.0, decode_seconds=0.5)]}}
            ],
        },
        "audio": {"signals": [{"results": {
            "inr": [point(6.0, snr_db=5.0, kbps=6.0, payload_kbps=5.0, log_mel_db=9.0,
                          lsd_db=14.0),
                    point(12.0, snr_db=8.0, kbps=12.0, payload_kbps=11.0)],
            "opus": [point(6.0, snr_db=2.0, kbps=9.0, payload_kbps=6.0, log_mel_db=6.0,
                           lsd_db=15.0)]}}]},
        "protein": {
            "signals": [
                {"name": "a", "results": {"inr": [
                    point(12.0, bits_per_atom=11.5, payload_bits_per_atom=6, rmsd_angstrom=0.9),
                    point(8.0, bits_per_atom=7.9, payload_bits_per_atom=3, rmsd_angstrom=1.4),
                ]}},
                {"name": "b", "results": {"inr": [
                    point(12.0, bits_per_atom=13.0, payload_bits_per_atom=7, rmsd_angstrom=0.8),
                ]}},
            ]
        },
    }  # fmt: skip
    t = inr_bench.targets(result)
    assert t["image_bd_rate_vs_jpeg_below_max_bpp"]["met"] is True
    assert t["image_encode_256x256_seconds"] == {**t["image_encode_256x256_seconds"],
                                                  "value": 500.0, "met": True}  # fmt: skip
    assert t["image_decode_256x256_seconds"]["met"] is True
    assert t["audio_snr_beats_opus_at_6_kbps"]["met"] is True
    # SNR ahead, but the log-mel distance is worse (9 dB > 6): what SNR hides
    assert t["audio_log_mel_db_no_worse_than_opus_at_6_kbps"]["met"] is False
    assert t["audio_log_mel_db_no_worse_than_opus_at_6_kbps"]["value"] == {
        "inr_log_mel_db": 9.0, "opus_log_mel_db": 6.0, "signals": 1}  # fmt: skip
    assert t["audio_lsd_db_no_worse_than_opus_at_6_kbps"]["met"] is True
    matched = t["audio_snr_beats_opus_at_matched_kbps"]
    # INR at 9 kbit/s: 5 + 3 log(9/6)/log(2); payload 6: 5 + 3 log(6/5)/log(11/5)
    assert matched["value"]["inr_snr_db_at_opus_kbps"] == pytest.approx(
        5 + 3 * math.log(1.5) / math.log(2)
    )
    assert matched["value"]["inr_snr_db_at_opus_payload_kbps"] == pytest.approx(
        5 + 3 * math.log(1.2) / math.log(2.2)
    )
    assert matched["met"] is True
    # chain b needs 13 bits/atom for its file: the whole-file target fails, payload passes
    assert t["protein_rmsd_1A_at_12_bits_per_atom_file"]["met"] is False
    assert t["protein_rmsd_1A_at_12_bits_per_atom_file"]["value"] == {"a": 0.9, "b": None}
    assert t["protein_rmsd_1A_at_12_bits_per_atom_payload"]["met"] is True
    opus = result["audio"]["signals"][0]["results"]["opus"][0]
    opus["snr_db"] = 6.0  # INR: 6.75 dB at Opus's file rate, 5.69 dB at its payload rate
    assert t_met(inr_bench.targets(result), "audio_snr_beats_opus_at_matched_kbps") is False
    opus["payload_kbps"] = 4.0  # below every INR point: cannot be matched
    missing = inr_bench.targets(result)["audio_snr_beats_opus_at_matched_kbps"]
    assert missing["met"] is None and "bracketed" in missing["reason"]
    result["image"]["bd_vs_peers"]["jpeg"]["capped"] = {"bd_rate": None, "reason": "apart"}
    result["image"]["signals"][0]["height"] = 128
    t = inr_bench.targets(result)
    assert t["image_bd_rate_vs_jpeg_below_max_bpp"]["met"] is None
    assert t["image_bd_rate_vs_jpeg_below_max_bpp"]["reason"] == "apart"
    assert t["image_encode_256x256_seconds"]["met"] is None


def t_met(targets: dict, name: str) -> bool | None:
    return targets[name]["met"]


def test_interpolate_log_rate():
    points = [{"r": 2.0, "v": 1.0}, {"r": 8.0, "v": 3.0}, {"r": 4.0, "error": "too low"}]
    assert inr_bench.interpolate_log_rate(points, "r", "v", 4.0) == pytest.approx(2.0)
    assert inr_bench.interpolate_log_rate(points, "r", "v", 8.0) == 3.0
    assert inr_bench.interpolate_log_rate(points, "r", "v", 9.0) is None
    assert inr_bench.interpolate_log_rate(points, "r", "v", 1.0) is None


def load_benchmark():
    spec = importlib.util.spec_from_file_location("inr_benchmark", BENCHMARKS / "inr.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_script_end_to_end_on_proteins(model_dir, tmp_path, capsys):
    data = tmp_path / "data"
    (data / "proteins" / "eval").mkdir(parents=True)
    shutil.copy(DATA / "cytc_d1kyow_.pdb.gz", data / "proteins" / "eval")
    bench = load_benchmark()
    argv = ["--json", "--data", str(data), "--model-dir", model_dir, "--modalities", "protein",
            "--bits-per-atom", "24,40", "--steps", "10", "--out", str(tmp_path / "o")]  # fmt: skip
    assert bench.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["steps"] == 10 and result["model_dir"] == model_dir
    assert set(result) >= {"protein", "targets", "conventions", "torch_threads"}
    assert "image" not in result
    assert result["targets"]["protein_deterministic"]["met"] is True
    assert (tmp_path / "o" / "inr_protein.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "o" / "result.json").read_text()) == result
    # a missing model is one line on stderr and an error entry, not a traceback
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["--json", "--data", str(data), "--model-dir", str(empty), "--modalities", "protein"]
    assert bench.main(argv) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["protein"]["error"].startswith("no inr-protein-")
    assert captured.err.strip().count("\n") == 0 and "no inr-protein-" in captured.err


# ------------------------------------------------------------------------------ parallel
TIMING = {"seconds", "encode_seconds", "decode_seconds", "fit_seconds", "code_seconds",
          "roundtrip_seconds"}  # fmt: skip


def without_timings(value):
    """``value`` without its wall-clock fields (they differ from run to run)."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


@pytest.fixture(scope="module")
def chains(tmp_path_factory) -> list[str]:
    """Three chain files: the test chain as PDB and as mmCIF, and a bent copy of it."""
    from rdlab.data.proteins import CaTrace, ca_pdb_text, read_ca_trace

    folder = tmp_path_factory.mktemp("chains")
    for name in ("cytc_d1kyow_.pdb.gz", "cytc_d1kyow_.cif"):
        shutil.copy(DATA / name, folder / name)
    trace = read_ca_trace(DATA / "cytc_d1kyow_.pdb.gz")
    bent = trace.coords + 3.0 * np.sin(np.arange(len(trace)) / 5.0)[:, None]
    copy = CaTrace(bent, trace.residue_names, trace.residue_numbers, trace.chain_id)
    (folder / "bent.pdb").write_text(ca_pdb_text(copy))
    return [str(folder / n) for n in ("cytc_d1kyow_.pdb.gz", "bent.pdb", "cytc_d1kyow_.cif")]


def test_two_workers_give_the_results_of_one_and_jobs_carry_no_arrays(
    model_dir, chains, monkeypatch
):
    import pickle

    from rdlab.eval.inr_bench import common

    sent = []

    def spy(fn, items, **options):
        sent.extend(items)
        return real(fn, items, **options)

    real = common.map_unordered
    monkeypatch.setattr(common, "map_unordered", spy)
    settings = {"bits_per_atom": (24.0, 40.0), "ca_steps": (0.5, 2.0), "model_dir": model_dir}
    # one thread in every worker: the INR fit's float sums depend on the thread count
    one = inr_bench.protein_bench(chains, steps=10, engine=Engine(threads=1), **settings)
    two = inr_bench.protein_bench(chains, steps=10, engine=Engine(2, threads=1), **settings)
    assert [r["name"] for r in two["signals"]] == [Path(p).name for p in chains]
    assert without_timings(two) == without_timings(one)
    assert two["failures"] == []
    # a negative control: the bent chain's points differ from the straight one's
    straight, bent = (r["results"]["inr"][0]["rmsd_angstrom"] for r in one["signals"][:2])
    assert straight != bent
    # each job: the path, the settings and the model's file, not the model or the chain
    assert len(sent) == 6 and all(job["live"] is None for job in sent[3:])
    model_file = str(Path(model_dir, "inr-protein-toy.safetensors").resolve())
    for job in sent[3:]:
        assert set(job["models"].values()) == {model_file}
        assert len(pickle.dumps(job)) < 2000
        assert not any(isinstance(v, np.ndarray) for v in job.values())


def test_a_failing_signal_is_listed_and_the_others_complete(model_dir, tmp_path):
    good = str(DATA / "speech_ru_0181_0p5s.flac")
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"fLaC" + b"\x00" * 64)
    messages = []
    result = inr_bench.audio_bench(
        [str(broken), good], seconds=0.25, kbps=(12.0,), model_dir=model_dir, steps=5,
        log=messages.append,
    )  # fmt: skip
    ((failure), *more) = result["failures"]
    assert more == [] and failure["path"] == str(broken)
    assert failure["error"].startswith("InputError: ") and "\n" not in failure["error"]
    (record,) = result["signals"]
    assert record["name"] == "speech_ru_0181_0p5s.flac"
    for codec in ("inr", "opus"):  # the mean over the one good file is its own points
        (mean,) = result["mean_curves"][codec]
        assert mean["signals"] == 1
        assert mean["kbps"] == pytest.approx(record["results"][codec][0]["kbps"])
    assert [p["name"] for p in result["bd_vs_peers"]["opus"]["file"]["per_signal"]] == [
        record["name"]
    ]
    assert any("broken.flac: failed: InputError" in m for m in messages)
    assert any("speech_ru_0181_0p5s.flac: inr 12 kbit/s" in m for m in messages)


def test_a_dead_worker_fails_its_signal_only_and_records_keep_input_order(
    model_dir, chains, monkeypatch
):
    from rdlab.eval.inr_bench import common
    from rdlab.parallel import WorkerDiedError

    def last_first_and_second_dies(fn, items, *, init=None, init_args=(), **options):
        init(*init_args)
        for index in reversed(range(len(items))):  # completion order: reversed
            yield index, WorkerDiedError("died") if index == 1 else fn(items[index])

    monkeypatch.setattr(common, "map_unordered", last_first_and_second_dies)
    result = inr_bench.protein_bench(
        chains, bits_per_atom=(24.0,), ca_steps=(1.0,), model_dir=model_dir, steps=5
    )
    assert result["failures"] == [{"path": chains[1], "error": "WorkerDiedError: died"}]
    assert [r["name"] for r in result["signals"]] == [Path(chains[0]).name, Path(chains[2]).name]
    assert result["mean_curves"]["inr"][0]["signals"] == 2


def test_bad_settings_are_refused_before_any_signal_is_coded(model_dir, monkeypatch):
    from rdlab.errors import InputError
    from rdlab.eval.inr_bench import common

    def no_work(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(common, "map_unordered", no_work)
    flac = [str(DATA / "speech_ru_0181_0p5s.flac")]
    cases = [
        ({"steps": 0}, "steps"),
        ({"fine_tune_steps": -1}, "fine_tune_steps"),
        ({"seed": -1}, "seed"),
        ({"seconds": 0.0}, "seconds"),
        ({"kbps": (12.0, 0.0)}, "kbps"),
    ]
    for options, argument in cases:
        with pytest.raises(InputError) as info:
            inr_bench.audio_bench(flac, **{"model_dir": model_dir, **options})
        assert info.value.argument == argument
    with pytest.raises(InputError) as info:
        inr_bench.video_bench(str(DATA / "carphone_8x32x32.png"), frames=0, model_dir=model_dir)
    assert info.value.argument == "frames"
    with pytest.raises(InputError) as info:  # an engine is checked when it is made
        Engine(workers=0)
    assert info.value.argument == "workers"


def test_protein_targets_compare_with_the_grid_at_the_same_bits():
    def point(bits, payload, rmsd):
        return {"target": bits, "bits_per_atom": bits, "payload_bits_per_atom": payload,
                "rmsd_angstrom": rmsd, "deterministic": True}  # fmt: skip

    result = {"protein": {"signals": [{"name": "a", "results": {
        "inr": [point(12.0, 6.0, 0.9), point(30.0, 24.0, 0.1)],  # 30: outside the grid
        "uniform": [point(8.0, 4.0, 1.0), point(16.0, 12.0, 0.25)],
    }}]}}  # fmt: skip
    t = inr_bench.targets(result)
    file_bits = t["protein_rmsd_below_grid_at_equal_file_bits"]
    # the grid at 12 whole-file bits, linear in log rate between its points at 8 and 16
    grid_at_12 = 1.0 + (0.25 - 1.0) * math.log(12 / 8) / math.log(16 / 8)
    assert file_bits["value"]["points"] == 1
    assert file_bits["value"]["grid_rmsd_angstrom"] == pytest.approx(grid_at_12)
    assert grid_at_12 < 0.9 and file_bits["met"] is False  # the grid is better here
    coded = t["protein_rmsd_below_grid_at_equal_coded_bits"]
    grid_at_6 = 1.0 + (0.25 - 1.0) * math.log(6 / 4) / math.log(12 / 4)
    assert coded["value"]["grid_rmsd_angstrom"] == pytest.approx(grid_at_6)
    result["protein"]["signals"][0]["results"]["uniform"] = []
    assert inr_bench.targets(result)["protein_rmsd_below_grid_at_equal_file_bits"]["met"] is None
