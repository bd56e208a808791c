"""``rdlab info``: version, dependencies and which optional codecs are available."""

from __future__ import annotations

import argparse
import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .. import __version__
from ._output import emit

DEPENDENCIES = ("torch", "numpy", "scipy", "constriction", "Pillow", "tqdm", "matplotlib")
PEERS = ("compressai",)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("info", help="show version, dependencies and available codecs")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def _version(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def classical_codecs() -> dict[str, bool]:
    """Which classical image codecs can encode and decode here (probed with a real image)."""
    from ..codecs.classical import available_classical_codecs

    return dict(available_classical_codecs())


def collect() -> dict[str, Any]:
    """Everything ``rdlab info`` reports, JSON-ready."""
    from ..codecs import available_codecs

    torch_info: dict[str, Any] = {}
    try:
        import torch

        torch_info = {"threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()}
    except ImportError:
        torch_info = {"error": "torch is not installed"}
    return {
        "rdlab": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "dependencies": {name: _version(name) for name in DEPENDENCIES},
        "codecs": {name: list(versions) for name, versions in available_codecs().items()},
        "classical_codecs": classical_codecs(),
        "peers": {name: _version(name) for name in PEERS},
        "torch": torch_info,
    }


def run(args: argparse.Namespace) -> int:
    report = collect()
    deps = "\n".join(f"  {k:<13}{v or 'not installed'}" for k, v in report["dependencies"].items())
    codecs = ", ".join(f"{k} (v{', '.join(v)})" for k, v in report["codecs"].items())
    classical = ", ".join(
        f"{k} {'yes' if ok else 'no'}" for k, ok in report["classical_codecs"].items()
    )
    peers = ", ".join(f"{k} {v or 'not installed'}" for k, v in report["peers"].items())
    text = (
        f"rdlab {report['rdlab']} on Python {report['python']} ({report['platform']})\n"
        f"dependencies:\n{deps}\n"
        f"rdlab codecs: {codecs}\n"
        f"classical codecs: {classical}\n"
        f"peers for benchmarks: {peers}\n"
        f"torch: {_torch_line(report['torch'])}"
    )
    emit(report, args.json, text)
    return 0


def _torch_line(torch_info: dict[str, Any]) -> str:
    if "error" in torch_info:
        return torch_info["error"]
    return f"{torch_info['threads']} threads, CUDA {'yes' if torch_info['cuda'] else 'no'}"
