"""The INR protein benchmark: C-alpha traces; INR at target bits/atom against uniform
quantization with predictive range coding (the grid baseline,
:func:`rdlab.eval.baselines.ca_uniform_rate_distortion`) at steps in Å. The INR file also
carries the residue sequence and numbering (``side_info_bits_per_atom``, about 4.4 for the
sequence plus a few bytes); the grid points count the same side information in their
whole-file ``bits_per_atom`` (the stream alone is their ``payload_bits_per_atom``), so
both keys compare like with like: whole files, and coded coordinates alone. RMSD in Å
without superposition.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from ...data.proteins import CaTrace, read_ca_trace
from ...inr.modalities import get_modality
from ...parallel import LOCAL, Engine
from ..baselines import ca_uniform_rate_distortion
from .common import (
    DEFAULTS,
    Log,
    ProgressFn,
    check_positive,
    check_settings,
    input_files,
    inr_curve,
    mean_curve,
    model_source,
    quiet,
    run_signals,
    spread,
    worker_models,
)

__all__ = ["protein_bench", "run_files", "run_section", "side_info"]


def _side_bits_per_atom(trace: CaTrace) -> float:
    """Bits per atom of the side chunks an INR protein file carries beside the coded
    coordinates (sequence, numbering, chain, centroid)."""
    chunks = get_modality("protein").prepare(trace).chunks
    return 8 * sum(map(len, chunks.values())) / len(trace)


def side_info(point: dict[str, Any], trace: CaTrace, decoded: CaTrace) -> None:
    """``side_info_bits_per_atom``: the side chunks (sequence, numbering, chain,
    centroid) per atom, which ride beside the coded coordinates."""
    point["side_info_bits_per_atom"] = _side_bits_per_atom(trace)


def _protein_signal(job: Mapping[str, Any], log: Log) -> dict[str, Any]:
    """One chain's record (in a worker): INR at each target bits/atom and uniform
    quantization at each step."""
    trace = read_ca_trace(job["path"])
    models = worker_models(job["models"])
    inr = inr_curve(
        trace, "protein", job["bits_per_atom"], models, job["fit"], job["label"], log,
        measure=side_info,
    )  # fmt: skip
    side = _side_bits_per_atom(trace)
    uniform = [
        {
            "target": row["step"],
            "bytes": int(row["bytes"]),
            "payload_bits_per_atom": row["bits_per_atom"],
            "bits_per_atom": row["bits_per_atom"] + side,
            "side_info_bits_per_atom": side,
            "rmsd_angstrom": row["rmsd"],
            "max_error_angstrom": row["max_error"],
        }
        for row in ca_uniform_rate_distortion(trace.coords, list(job["ca_steps"]))
    ]
    name = os.path.basename(job["path"])
    return {"name": name, "atoms": len(trace), "results": {"inr": inr, "uniform": uniform}}


def protein_bench(
    paths: Sequence[str],
    *,
    bits_per_atom: Sequence[float] = DEFAULTS["bits_per_atom"],
    ca_steps: Sequence[float] = DEFAULTS["ca_steps"],
    model_dir: str | None = None,
    steps: int | None = None,
    fine_tune_steps: int | None = None,
    seed: int = 0,
    log: Log = quiet,
    progress: ProgressFn | None = None,
    engine: Engine = LOCAL,
) -> dict[str, Any]:
    """INR against uniform quantization of the C-alpha coordinates.

    One job per chain, run as :func:`~.audio.audio_bench` runs its files (``engine``,
    ``progress``; ``failures``: the chains that
    could not be read or coded, left out of the curves).
    """
    check_positive("ca_steps", list(ca_steps))
    sources = {float(b): model_source("protein", b, model_dir) for b in bits_per_atom}
    models = worker_models(sources)
    fit = {"steps": steps, "fine_tune_steps": fine_tune_steps, "seed": seed}
    check_settings("protein", models, fit)
    jobs = [
        {"path": path, "label": f"protein {i + 1}/{len(paths)} {os.path.basename(path)}",
         "bits_per_atom": [float(b) for b in bits_per_atom],
         "ca_steps": [float(c) for c in ca_steps], "models": sources, "fit": fit}
        for i, path in enumerate(paths)
    ]  # fmt: skip
    records, failures = run_signals(
        _protein_signal, jobs, models=sources.values(), description="benchmarking proteins",
        log=log, progress=progress, engine=engine,
    )  # fmt: skip
    return {
        "settings": {"bits_per_atom": list(bits_per_atom), "ca_steps_angstrom": list(ca_steps)},
        "models": {f"{b:g}": models[float(b)].name for b in bits_per_atom},
        "signals": records,
        "failures": failures,
        "mean_curves": {
            c: mean_curve([r["results"][c] for r in records]) for c in ("inr", "uniform")
        },
    }


def run_files(paths: Sequence[str], options: Mapping[str, Any], **common: Any) -> dict[str, Any]:
    """:func:`protein_bench` on ``paths`` with the settings of ``options``
    (:data:`~.common.DEFAULTS` keys ``bits_per_atom``, ``ca_steps``)."""
    return protein_bench(
        paths, bits_per_atom=options["bits_per_atom"], ca_steps=options["ca_steps"], **common
    )


def run_section(data: str, options: Mapping[str, Any], **common: Any) -> dict[str, Any]:
    """:func:`protein_bench` on ``options["proteins"]`` chains of ``data/proteins/eval``."""
    folder = os.path.join(data, "proteins", "eval")
    paths = spread(input_files(folder, "protein", "protein files"), int(options["proteins"]))
    return run_files(paths, options, **common)
