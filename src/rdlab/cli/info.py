"""``rdlab info``: version, dependencies, codecs, bundled models and threads; fast.

What is cheap is checked for real: each classical codec codes a 16x16 image
(milliseconds). The learned codecs are reported from the codec registry (name, the file
versions they decode) and from the bundled model files (name, size, SHA-256), without
loading PyTorch or running them. ``--self-test`` runs every codec on a small image and
reports pass/fail and times (seconds to minutes: it loads PyTorch and every model).
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
    SHA-256 of its bytes (for hyperprior models, the model hash ``.rdl`` files record)."""
    models: dict[str, dict[str, Any]] = {}
    root = files("rdlab") / "models"
    try:
        entries = sorted(root.iterdir(), key=lambda p: p.name)
    except FileNotFoundError:
        return models
    for entry in entries:
        if not entry.name.endswith(".safetensors"):
            continue
        data = entry.read_bytes()
        name = entry.name[: -len(".safetensors")]
        models[name] = {
            "codec": "inr" if name.startswith("inr-") else "hyperprior",
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    return models


def bench_codecs(models: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """rdlab's own codec in the variants ``rdlab bench images`` sweeps beside the classical
    codecs (``rdlab``, ``rdlab-e8``, ``rdlab-refine``): model, refinement steps and
    whether the model file is bundled; not run."""
    from ..codecs.classical import CODECS, RdlabCodec

    return {
        name: {
            "description": cls.description,
            "model": cls.model,
            "refine": cls.refine,
            "model_bundled": cls.model in models,
        }
        for name, cls in CODECS.items()
        if issubclass(cls, RdlabCodec)
    }


def classical_codecs() -> dict[str, bool]:
    """Which classical image codecs can encode and decode here (each probed now with a
    16x16 image; rdlab's own benchmark codecs are not among them)."""
    from ..codecs.classical import CODECS, RdlabCodec, codec_works

    return {
        name: codec_works(name) for name, cls in CODECS.items() if not issubclass(cls, RdlabCodec)
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

    models = bundled_models()
    report: dict[str, Any] = {
        "rdlab": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "dependencies": {name: _version(name) for name in DEPENDENCIES},
        "codecs": {name: list(versions) for name, versions in known_codecs().items()},
        "models": models,
        "bench_codecs": bench_codecs(models),
        "classical_codecs": classical_codecs(),
        "peers": {name: _version(name) for name in PEERS},
        "threads": threads(),
    }
    if self_test:
        report["self_test"] = run_self_test()
        import torch

        report["torch"] = {"threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()}
    return report


def _self_test_cases() -> list[tuple[str, str, Any]]:
    """``(name, kind, make_codec)`` for every codec: the registry's (kind ``rdlab``),
    rdlab's benchmark variants (``bench``) and the classical ones (``classical``)."""
    from ..codecs import get_codec, known_codecs
    from ..codecs.classical import CODECS, RdlabCodec

    cases: list[tuple[str, str, Any]] = []
    for name in known_codecs():
        options: dict[str, Any] = {}
        if name == "inr":
            options = {"modality": "image", "bpp": SELF_TEST_INR_BPP, "steps": SELF_TEST_INR_STEPS}
        cases.append((name, "rdlab", lambda n=name, o=options: get_codec(n, **o)))
    for name, cls in CODECS.items():
        kind = "bench" if issubclass(cls, RdlabCodec) else "classical"
        cases.append((name, kind, cls))
    return cases


def run_self_test() -> list[dict[str, Any]]:
    """Encode and decode a small crop of the bundled photo with every codec; each entry
    says ``ok`` (decoded to the input's shape; bit-exact for ``lossless``), the file's
    ``bytes``, ``seconds`` (encode + decode) or the ``error``."""
    import numpy as np

    from .._threads import apply_threads
    from ..data.images import read_image, sample_path

    apply_threads(None)
    image = np.ascontiguousarray(read_image(sample_path())[:SELF_TEST_SIDE, :SELF_TEST_SIDE])
    results = []
    cases = _self_test_cases()
    for name, kind, make in progress(cases, "self-test", total=len(cases)):
        entry: dict[str, Any] = {"codec": name, "kind": kind}
        start = time.perf_counter()
        try:
            codec = make()
            data = codec.encode(image)
            decoded = np.asarray(codec.decode(data))
            entry["bytes"] = len(data)
            entry["ok"] = decoded.shape == image.shape and (
                name != "lossless" or bool(np.array_equal(decoded, image))
            )
            if not entry["ok"]:
                entry["error"] = f"decoded to shape {decoded.shape}, not {image.shape}"
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


def _text(report: dict[str, Any]) -> str:
    deps = "\n".join(f"  {k:<13}{v or 'not installed'}" for k, v in report["dependencies"].items())
    codecs = ", ".join(f"{k} (v{', '.join(v)})" for k, v in report["codecs"].items())
    models = "\n".join(
        f"  {name:<17}{m['codec']:<11}{m['bytes']:>10} bytes  sha256 {m['sha256'][:16]}"
        for name, m in report["models"].items()
    )
    bench = ", ".join(
        f"{k} (model {v['model']}"
        + (f", {v['refine']} refinement steps" if v["refine"] else "")
        + ("" if v["model_bundled"] else ", model file missing")
        + ")"
        for k, v in report["bench_codecs"].items()
    )
    classical = ", ".join(
        f"{k} {'yes' if ok else 'no'}" for k, ok in report["classical_codecs"].items()
    )
    peers = ", ".join(f"{k} {v or 'not installed'}" for k, v in report["peers"].items())
    t = report["threads"]
    quota = t["cgroup_cpu_quota"]
    lines = [
        f"rdlab {report['rdlab']} on Python {report['python']} ({report['platform']})",
        f"dependencies:\n{deps}",
        f"rdlab codecs (file versions decoded): {codecs}",
        f"bundled models:\n{models or '  none'}",
        f"rdlab codecs in 'rdlab bench images': {bench}",
        f"classical codecs (for benchmarks): {classical}",
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
