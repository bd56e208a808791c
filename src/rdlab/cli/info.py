"""``rdlab info``: version, dependencies, codecs, bundled models and threads; fast.

The codecs are the entries of the one codec registry (:mod:`rdlab.codecs.registry`),
each with its capabilities (what it writes, quality range, modalities, the ``.rdl``
versions it decodes, lossless or not) and whether it works here. What is cheap is
checked for real: each classical codec codes a 16x16 image (milliseconds); the
hyperprior presets' model files are looked for. The learned codecs are not loaded or
run (no PyTorch). ``--self-test`` runs every codec on a small input and reports
pass/fail and times (seconds to minutes: it loads PyTorch and every model).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import time
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from typing import Any

from .. import __version__
from ._output import emit, progress

DEPENDENCIES = ("torch", "numpy", "scipy", "constriction", "Pillow", "tqdm", "matplotlib")
PEERS = ("compressai",)
#: Side in px of the self-test image (a crop of the bundled sample photo).
SELF_TEST_SIDE = 32
#: Fitting steps and rate (bits per pixel) of the INR codec in the self-test: enough to
#: run every stage on the small image, not to fit it well.
SELF_TEST_INR_STEPS = 2
SELF_TEST_INR_BPP = 2.0
#: Quasi-Monte-Carlo cell samples of the LTC model in the self-test.
SELF_TEST_LTC_SAMPLES = 16


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "info", help="show version, dependencies, codecs, bundled models and threads"
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="also run every codec (rdlab's and the classical ones) on a "
        f"{SELF_TEST_SIDE}x{SELF_TEST_SIDE} image and report pass/fail and times "
        "(slow: loads PyTorch and the models)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def _version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def bundled_models() -> dict[str, dict[str, Any]]:
    """The model files shipped in ``rdlab/models``: for each, the codec that uses it
    (``inr-*`` models: ``inr``; the others: ``hyperprior``), its size in bytes and the
    SHA-256 of its bytes (for hyperprior models, the model hash ``.rdl`` files record);
    realism heads (``rdlab/models/realism``) as ``realism/<image model>``, codec
    ``hyperprior`` (decoder side, ``rdlab decompress --realism``)."""
    models: dict[str, dict[str, Any]] = {}
    root = files("rdlab") / "models"
    for folder, prefix in ((root, ""), (root / "realism", "realism/")):
        try:
            entries = sorted(folder.iterdir(), key=lambda p: p.name)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            if not entry.name.endswith(".safetensors"):
                continue
            data = entry.read_bytes()
            name = prefix + entry.name[: -len(".safetensors")]
            models[name] = {
                "codec": "inr" if name.startswith("inr-") else "hyperprior",
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
    return models


def registry_codecs() -> dict[str, dict[str, Any]]:
    """Every codec of the registry: its capabilities (:meth:`CodecSpec.to_dict`) and
    ``available`` (whether it works here: classical codecs probed with a 16x16 image,
    presets' model files looked for; no learned codec is loaded)."""
    from ..codecs.registry import codec_specs, is_available

    return {
        name: {**spec.to_dict(), "available": is_available(name)}
        for name, spec in codec_specs().items()
    }


def bench_codecs(registry: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """rdlab's presets that ``rdlab bench images`` sweeps beside the classical codecs
    (``rdlab``, ``rdlab-e8``, ``rdlab-refine``), from :func:`registry_codecs`: the codec
    they configure, their options (model, refinement steps) and whether their model file
    is bundled; not run."""
    return {
        name: {
            "description": entry["description"],
            "base": entry["base"],
            "options": entry["options"],
            "model": entry["options"].get("model", "default"),
            "refine": entry["options"].get("refine", 0),
            "model_bundled": entry["available"],
        }
        for name, entry in registry.items()
        if entry["base"] is not None
    }


def classical_codecs(registry: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """Which classical codecs (those writing their own file format, not ``.rdl``) can
    encode and decode here, from :func:`registry_codecs`."""
    return {
        name: entry["available"] for name, entry in registry.items() if entry["writes"] != "rdl"
    }


def threads() -> dict[str, Any]:
    """The thread count rdlab's PyTorch work uses by default and where it comes from."""
    from .._threads import cgroup_cpu_limit, usable_cores

    try:
        affinity: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return {
        "default": usable_cores(),
        "cpu_affinity": affinity,
        "cpu_count": os.cpu_count(),
        "cgroup_cpu_quota": cgroup_cpu_limit(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


def collect(self_test: bool = False) -> dict[str, Any]:
    """Everything ``rdlab info`` reports, JSON-ready; ``self_test`` adds ``self_test``
    (one entry per codec) and ``torch`` (threads, CUDA)."""
    from ..codecs.registry import known_codecs

    registry = registry_codecs()
    report: dict[str, Any] = {
        "rdlab": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "dependencies": {name: _version(name) for name in DEPENDENCIES},
        "codecs": {name: list(versions) for name, versions in known_codecs().items()},
        "registry": registry,
        "models": bundled_models(),
        "bench_codecs": bench_codecs(registry),
        "classical_codecs": classical_codecs(registry),
        "peers": {name: _version(name) for name in PEERS},
        "threads": threads(),
    }
    if self_test:
        report["self_test"] = run_self_test()
        import torch

        report["torch"] = {"threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()}
    return report


def _self_test_cases() -> list[tuple[str, str, dict[str, Any]]]:
    """``(name, kind, options)`` for every codec of the registry: kind ``rdlab`` (an
    ``.rdl`` codec), ``bench`` (a preset) or ``classical``; the options it is made with."""
    from ..codecs.registry import codec_specs

    cases: list[tuple[str, str, dict[str, Any]]] = []
    for name, spec in codec_specs().items():
        kind = "bench" if spec.base else ("rdlab" if spec.versions else "classical")
        options: dict[str, Any] = {}
        if name == "inr":
            options = {"modality": "image", "bpp": SELF_TEST_INR_BPP, "steps": SELF_TEST_INR_STEPS}
        cases.append((name, kind, options))
    return cases


def _self_test_vectors() -> tuple[Any, Any]:
    """A vector codec's self-test: a small untrained LTC model (2-D vectors on A2) and
    64 Gaussian vectors."""
    import numpy as np

    from ..lattice import get_lattice
    from ..nn.ltc import LTCModel

    model = LTCModel(2, get_lattice("a2").unit_volume(), mc_samples=SELF_TEST_LTC_SAMPLES)
    return model, np.random.default_rng(0).standard_normal((64, 2))


def _self_test_learned_model() -> Any:
    """The learned codec's self-test model: a small untrained ``factorized`` model with
    its integer tables."""
    from ..nn.architectures import build_architecture

    model = build_architecture("factorized", channels=8, latent_channels=8, layers=2)
    model.update()
    return model


def run_self_test() -> list[dict[str, Any]]:
    """Encode and decode a small crop of the bundled photo with every codec (a vector
    codec: Gaussian vectors, an untrained model); each entry says ``ok`` (decoded to the
    input's shape; bit-exact for lossless codecs), the file's
    ``bytes``, ``seconds`` (encode + decode) or the ``error``."""
    import numpy as np

    from .._threads import apply_threads
    from ..codecs.registry import codec_spec, get_codec
    from ..data.images import read_image, sample_path

    apply_threads(None)
    image = np.ascontiguousarray(read_image(sample_path())[:SELF_TEST_SIDE, :SELF_TEST_SIDE])
    results = []
    cases = _self_test_cases()
    for name, kind, options in progress(cases, "self-test", total=len(cases)):
        entry: dict[str, Any] = {"codec": name, "kind": kind}
        spec = codec_spec(name)
        start = time.perf_counter()
        try:
            sample = image
            if spec.modalities == ("vectors",):
                model, sample = _self_test_vectors()
                options = {**options, "model": model}
            elif name == "learned":
                options = {**options, "model": _self_test_learned_model()}
            codec = get_codec(name, **options)
            data = codec.encode(sample)
            decoded = np.asarray(codec.decode(data))
            entry["bytes"] = len(data)
            entry["ok"] = decoded.shape == sample.shape and (
                not spec.lossless or bool(np.array_equal(decoded, sample))
            )
            if not entry["ok"]:
                entry["error"] = f"decoded to shape {decoded.shape}, not {sample.shape}"
        except Exception as exc:  # a self-test reports every failure, whatever it is
            entry["ok"] = False
            entry["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        entry["seconds"] = time.perf_counter() - start
        results.append(entry)
    return results


def run(args: argparse.Namespace) -> int:
    report = collect(self_test=args.self_test)
    emit(report, args.json, _text(report))
    failed = [t for t in report.get("self_test", []) if not t["ok"] and t["kind"] != "classical"]
    return 1 if failed else 0


def _codec_line(name: str, entry: dict[str, Any]) -> str:
    """One codec of the registry as a line of text."""
    writes = f"{entry['writes'] if entry['writes'] != 'rdl' else ''} {entry['suffix']}".strip()
    if entry["versions"]:
        writes += f" v{','.join(entry['versions'])}"
    scale = entry["quality"]
    if entry["lossless"]:
        quality = "lossless"
    elif scale is None:
        quality = "set by the model"
    elif scale["high"] is None:
        quality = f"{scale['keyword']} {'>' if scale['low_open'] else '>='} {scale['low']:g}"
    else:
        quality = f"{scale['keyword']} {scale['low']:g}..{scale['high']:g}"
    works = "yes" if entry["available"] else f"no: needs {entry['requires']}"
    line = f"  {name:<13}{writes:<17}{quality:<19}{', '.join(entry['modalities']):<30}{works}"
    if entry["base"]:
        options = ", ".join(f"{k} {v}" for k, v in entry["options"].items())
        line += f" ({entry['base']} preset: {options})"
    return line


def _text(report: dict[str, Any]) -> str:
    deps = "\n".join(f"  {k:<13}{v or 'not installed'}" for k, v in report["dependencies"].items())
    codecs = "\n".join(_codec_line(name, entry) for name, entry in report["registry"].items())
    models = "\n".join(
        f"  {name:<17}{m['codec']:<11}{m['bytes']:>10} bytes  sha256 {m['sha256'][:16]}"
        for name, m in report["models"].items()
    )
    peers = ", ".join(f"{k} {v or 'not installed'}" for k, v in report["peers"].items())
    t = report["threads"]
    quota = t["cgroup_cpu_quota"]
    lines = [
        f"rdlab {report['rdlab']} on Python {report['python']} ({report['platform']})",
        f"dependencies:\n{deps}",
        f"codecs (name, what it writes, quality, modalities, works here):\n{codecs}",
        f"bundled models:\n{models or '  none'}",
        f"peers for benchmarks: {peers}",
        f"threads: {t['default']} by default (CPU affinity {t['cpu_affinity']}, "
        f"{'no cgroup CPU quota' if quota is None else f'cgroup CPU quota {quota:g}'}, "
        f"OMP_NUM_THREADS {t['omp_num_threads'] or 'unset'})",
    ]
    if "self_test" in report:
        lines.append("self-test:")
        for entry in report["self_test"]:
            result = "ok" if entry["ok"] else f"FAILED: {entry['error']}"
            lines.append(
                f"  {entry['codec']:<14}{entry['kind']:<11}{entry['seconds']:>7.2f} s  {result}"
            )
        torch_info = report["torch"]
        lines.append(
            f"torch: {torch_info['threads']} threads, CUDA {'yes' if torch_info['cuda'] else 'no'}"
        )
    else:
        lines.append("(run 'rdlab info --self-test' to run every codec)")
    return "\n".join(lines)
