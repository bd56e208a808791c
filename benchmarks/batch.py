"""Batch coding throughput: ``rdlab compress DIR -o OUT`` with 1 and 2 local workers.

A folder of 72 photos (the 12 evaluation photos in ``../shared/data/images/eval`` and
copies shifted by a few pixels, when present; else mirror-tiled copies of the bundled
sample) is compressed by the hyperprior codec (quality 4, an encode and a verifying
decode per file) into a fresh folder by a fresh ``rdlab compress`` process per
configuration, in the same run: 1 worker with the usable cores as PyTorch threads, 1
worker with 1 thread, 2 workers with 1 thread each. Each command is timed whole (what a
user waits for: interpreter start, imports, model loads, worker start). Reported per
configuration: files/s and input MB/s, the seconds per file inside the workers (the rest
of the wall time per file, times the workers, is the engines' overhead), the speed-up of
2 workers over both 1-worker runs (target >= 1.6 on 2 cores), and whether all runs wrote
identical bytes.

``--ray`` adds (``pip install 'rdlab[ray]'``; a local Ray instance is started, and
listens on this machine's interfaces while the benchmark runs):

- ``engine_overhead``: :func:`rdlab.parallel.map_unordered` on an empty task (it returns
  its argument) with 2 local processes and 2 Ray actors, at 200 and 2,000 tasks: the
  per-task cost is the slope between the two sizes, the start-up cost the rest (Ray's
  is measured on a warm instance: ``ray.init`` is timed apart);
- ``ray_photos``: the same photos on 2 Ray actors of the warm instance, against the
  local 2-worker run above (the engines' seconds, actor or worker start included;
  identical bytes).

    python benchmarks/batch.py --json [--ray]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rdlab.batch import plan_compress, run_batch
from rdlab.parallel import Engine, map_unordered

_SHARED_EVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "eval"
TARGET_SPEEDUP = 1.6


def _photos(folder: Path, count: int) -> None:
    """Fill ``folder`` with ``count`` photos: the evaluation photos (copies shifted by a
    few pixels when more are asked for), else copies of the bundled sample."""
    paths = sorted(_SHARED_EVAL.glob("*.png"))
    if paths:
        for i in range(count):
            path = paths[i % len(paths)]
            if i < len(paths):
                shutil.copy(path, folder / path.name)
            else:
                image = np.asarray(Image.open(path))
                shifted = np.roll(image, 8 * (i // len(paths)), axis=1)
                Image.fromarray(shifted).save(folder / f"{path.stem}-{i}.png")
        return
    from rdlab.data.images import read_image, sample_path

    cat = read_image(sample_path())
    tiled = np.concatenate([cat, cat[:, ::-1]], axis=1)
    for i in range(count):
        Image.fromarray(np.roll(tiled, 37 * i, axis=1)).save(folder / f"sample{i}.png")


CONFIGS = ((1, None), (1, 1), (2, None))
"""(workers, PyTorch threads per worker; None: the usable cores // workers)."""


def _nothing(x: int) -> int:
    """The empty task of the overhead measurement."""
    return x


def _overhead(engine: str, sizes: tuple[int, int] = (200, 2000)) -> dict[str, float]:
    """Per-task and start-up seconds of ``engine`` with 2 workers (see the docstring)."""
    seconds = []
    for size in sizes:
        start = time.perf_counter()
        two = Engine(workers=2, kind=engine, threads=1)
        done = sorted(i for i, _ in map_unordered(_nothing, range(size), engine=two))
        seconds.append(time.perf_counter() - start)
        if done != list(range(size)):
            raise AssertionError("an item went missing")  # never expected
    per_task = (seconds[1] - seconds[0]) / (sizes[1] - sizes[0])
    return {
        "seconds": dict(zip(map(str, sizes), seconds, strict=True)),
        "per_task_ms": 1e3 * per_task,
        "startup_seconds": seconds[0] - sizes[0] * per_task,
    }


def ray_section(source: Path, root: Path, local_seconds: float, local_bytes: dict) -> dict:
    """Engine overhead, local vs Ray, and the photos on a warm local Ray instance,
    compared by the engine's own seconds (workers' start included, the command's
    interpreter start not) with the local 2-worker run's (``local_seconds``)."""
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    out: dict[str, Any] = {"ray_version": ray.__version__,
                           "ray_init_seconds": time.perf_counter() - start}  # fmt: skip
    try:
        out["engine_overhead"] = {"local": _overhead("local"), "ray": _overhead("ray")}
        target = root / "ray"
        plan = plan_compress([str(source)], str(target))
        report = run_batch(plan, "hyperprior", {"quality": 4.0}, str(target),
                           engine=Engine(workers=2, kind="ray"))  # fmt: skip
        produced = {p.name: p.read_bytes() for p in sorted(target.rglob("*.rdl"))}
        out["ray_photos"] = {
            **report.to_dict(),
            "identical_bytes": produced == local_bytes,
            "engine_seconds_over_local_2_workers": report.seconds / local_seconds,
        }
    finally:
        ray.shutdown()
    return out


def run(count: int = 72, with_ray: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        source = root / "in"
        source.mkdir()
        _photos(source, count)
        items = plan_compress([str(source)], str(root / "plan"))
        result: dict[str, Any] = {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "files": len(items),
            "input_mb": sum(os.path.getsize(i.source) for i in items) / 1e6,
            "codec": "hyperprior, quality 4",
        }
        outputs = {}
        for n, threads in CONFIGS:
            name = f"workers_{n}_threads_{threads or 'auto'}"
            out = root / name
            command = [sys.executable, "-m", "rdlab", "--quiet", "compress", str(source), "-o",
                       str(out), "--codec", "hyperprior", "--quality", "4", "--workers", str(n),
                       "--json", *(["--threads", str(threads)] if threads else [])]  # fmt: skip
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, check=True, text=True)
            wall = time.perf_counter() - start
            report = json.loads(done.stdout)
            lines = (out / "manifest.jsonl").read_text().splitlines()
            records = [json.loads(line) for line in lines]
            inside = sum(float(r["seconds"]) for r in records)
            result[name] = {
                "command_seconds": wall,
                "files_per_second": len(records) / wall,
                "input_mb_per_second": result["input_mb"] / wall,
                "engine_seconds": report["seconds"],
                "threads_per_worker": threads or "cores // workers",
                "seconds_inside_workers_per_file": inside / len(records),
                "wall_seconds_per_file": wall / len(records),
            }
            outputs[name] = {p.name: p.read_bytes() for p in sorted(out.rglob("*.rdl"))}
        first, *rest = outputs.values()
        result["identical_bytes"] = all(o == first for o in rest)
        fps = {k: v["files_per_second"] for k, v in result.items() if k.startswith("workers_")}
        two = fps["workers_2_threads_auto"]
        result["speedup_2_workers"] = {
            "over_1_worker_all_cores": two / fps["workers_1_threads_auto"],
            "over_1_worker_1_thread": two / fps["workers_1_threads_1"],
        }
        result["target_speedup"] = TARGET_SPEEDUP
        if with_ray:
            local = result["workers_2_threads_auto"]["engine_seconds"]
            result["ray"] = ray_section(source, root, local, outputs["workers_2_threads_auto"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON (the default)")
    parser.add_argument("--files", type=int, default=72)
    parser.add_argument("--ray", action="store_true", help="add the Ray measurements")
    args = parser.parse_args()
    json.dump(run(args.files, args.ray), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
