"""Learned image codec: speed against CompressAI, and peak memory on a large image.

Sections (``run`` combines them into one JSON object):

- speed: a 768x512 RGB photo (the bundled 256x192 sample ``chelsea``, mirror-tiled, i.e.
  reflected about its edges, to 768x512; real photo statistics at native resolution)
  encoded and decoded by rdlab's default model (:class:`HyperpriorImageCodec`, quality 4)
  and by CompressAI's ``mbt2018_mean(quality=3, pretrained=False)`` (same N=128, M=192
  mean-scale hyperprior; untrained weights, ``update(force=True)``). Both on CPU with the
  same torch thread count, both timed from end to end: uint8 array in, bytes out; bytes
  in, uint8 array out (CompressAI's pre/post-processing as in its examples: /255, zero
  pad to a multiple of 64, crop, clamp, x255, round; its strings and shape serialized
  into one byte string). A warm-up run each, then the median of ``--repeats`` runs,
  interleaved. Ratios are ``rdlab / compressai`` seconds (target <= 1 each).
- lattice: the same image through the bundled **E8 lattice-latent** model
  (``default-e8``, quality 4), one timed run after a warm-up: seconds, bpp, PSNR, and
  the ratios to the scalar default model of this run (no target: the lattice coder's
  Monte-Carlo cell masses make it slower; this measures by how much).
- context: the same image through a full-size **checkerboard context** model (format
  version 3: the default model's weights with untrained context branches, built and
  exported in the run; timing only), one timed run after a warm-up: seconds and the
  ratios to the scalar default model and to CompressAI (target <= 2 each).
- refine: the same image encoded with **encoder-side latent refinement**
  (``refine=--refine-steps``, default 20; 0 skips it), one run: seconds per step, the
  ratio to the plain encode, and the change in bytes, PSNR and the loss ``bpp + λ·MSE``
  it minimizes, against the plain file of this run (no target: an opt-in slow encoder).
- memory: peak resident memory of encoding (and, in another process, decoding) a
  4000x3000 photo (the sample mirror-tiled to that size) with the default model, each in
  a fresh subprocess. The peak is the child's ``VmHWM`` from ``/proc/self/status``:
  ``ru_maxrss`` of a child started by ``subprocess`` also counts the parent's resident
  set at the fork (Linux keeps it across ``execve``), so it is reported as well, but
  only as a cross-check. ``baseline_mib`` is the child's peak before coding (Python,
  torch, the model, the image). Target: under 4 GiB.

    python benchmarks/image_codec.py --json
    python benchmarks/image_codec.py --quick  # smoke: 256x192, no warm-up, 1 run, memory 320x240
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import struct
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np
import torch

from rdlab.codecs.hyperprior import HyperpriorImageCodec
from rdlab.data.images import read_image, sample_path

QUALITY = 4.0
PEER_QUALITY = 3
TARGETS = {
    "encode_ratio": 1.0, "decode_ratio": 1.0, "context_ratio": 2.0, "memory_peak_mib": 4096.0,
}  # fmt: skip
IMAGE_NOTE = "sample 'chelsea' (256x192 photo) mirror-tiled to {w}x{h}"


def photo(width: int, height: int) -> np.ndarray:
    """The bundled photo reflected about its edges (``np.pad`` symmetric) to ``W x H``."""
    base = read_image(sample_path())
    bh, bw = base.shape[:2]
    image = np.pad(base, ((0, max(0, height - bh)), (0, max(0, width - bw)), (0, 0)), "symmetric")
    return np.ascontiguousarray(image[:height, :width])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


# -- CompressAI, end to end ---------------------------------------------------------------


class CompressAIPeer:
    """``mbt2018_mean`` with the pre/post-processing and a byte format around it."""

    def __init__(self, quality: int = PEER_QUALITY) -> None:
        from compressai.zoo import mbt2018_mean

        self.net = mbt2018_mean(quality=quality, pretrained=False).eval()
        self.net.update(force=True)

    def encode(self, image: np.ndarray) -> bytes:
        with torch.inference_mode():
            h, w = image.shape[:2]
            x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div_(255.0)
            x = torch.nn.functional.pad(x, (0, -w % 64, 0, -h % 64), mode="constant", value=0)
            out = self.net.compress(x)
        (y_string,), (z_string,) = out["strings"]
        zh, zw = out["shape"]
        head = struct.pack("<6I", h, w, zh, zw, len(y_string), len(z_string))
        return head + y_string + z_string

    def decode(self, data: bytes) -> np.ndarray:
        h, w, zh, zw, ny, nz = struct.unpack_from("<6I", data)
        y_string = data[24 : 24 + ny]
        z_string = data[24 + ny : 24 + ny + nz]
        with torch.inference_mode():
            out = self.net.decompress([[y_string], [z_string]], [zh, zw])
            x_hat = out["x_hat"][0, :, :h, :w].clamp_(0.0, 1.0).mul_(255.0).round_()
            return x_hat.to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


# -- speed ------------------------------------------------------------------------------------


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def speed(
    width: int = 768, height: int = 512, repeats: int = 5, warmup: bool = True
) -> dict[str, Any]:
    image = photo(width, height)
    coders: dict[str, Any] = {"rdlab": HyperpriorImageCodec(quality=QUALITY)}
    out: dict[str, Any] = {}
    try:
        coders["compressai"] = CompressAIPeer()
    except Exception as exc:  # ImportError, or a broken install
        out["compressai"] = {"unavailable": f"{type(exc).__name__}: {exc}"}
    times: dict[str, dict[str, list[float]]] = {k: {"encode": [], "decode": []} for k in coders}
    files: dict[str, bytes] = {}
    decoded: dict[str, np.ndarray] = {}
    for name, coder in coders.items():
        if warmup:  # a whole run first: model load, allocator, tables, caches
            files[name] = coder.encode(image)
            decoded[name] = coder.decode(files[name])
        else:  # --quick: only load the model (a 64x64 crop)
            coder.decode(coder.encode(np.ascontiguousarray(image[:64, :64])))
    for _ in range(max(1, repeats)):
        for name, coder in coders.items():  # interleaved
            s, data = _timed(lambda c=coder: c.encode(image))
            times[name]["encode"].append(s)
            s, rec = _timed(lambda c=coder, d=data: c.decode(d))
            times[name]["decode"].append(s)
            files.setdefault(name, data)
            decoded.setdefault(name, rec)
            if data != files[name] or not np.array_equal(rec, decoded[name]):
                raise RuntimeError(f"{name}: repeated runs gave different bytes or pixels")
    for name in coders:
        nbytes = len(files[name])
        out[name] = {
            "encode_s": float(np.median(times[name]["encode"])),
            "decode_s": float(np.median(times[name]["decode"])),
            "encode_runs_s": times[name]["encode"],
            "decode_runs_s": times[name]["decode"],
            "bytes": nbytes,
            "bpp": nbytes * 8 / (width * height),
            "psnr": psnr(image, decoded[name]),
        }
    out["rdlab"]["quality"] = QUALITY
    if "compressai" in coders:
        out["compressai"]["quality"] = PEER_QUALITY
        out["compressai"]["note"] = "untrained weights: bpp and psnr are not comparable"
    return out


LATTICE_MODEL = "default-e8"


def lattice_speed(image_size: tuple[int, int], scalar: dict[str, Any]) -> dict[str, Any]:
    """One warm-up and one timed encode and decode by the E8 lattice-latent model."""
    from rdlab.codecs.image_model_file import bundled_image_models

    if LATTICE_MODEL not in bundled_image_models():
        return {"unavailable": f"model {LATTICE_MODEL} is not bundled"}
    image = photo(*image_size)
    codec = HyperpriorImageCodec(quality=QUALITY, model=LATTICE_MODEL)
    codec.decode(codec.encode(np.ascontiguousarray(image[:64, :64])))
    enc_s, data = _timed(lambda: codec.encode(image))
    dec_s, rec = _timed(lambda: codec.decode(data))
    width, height = image_size
    return {
        "model": LATTICE_MODEL,
        "quality": QUALITY,
        "encode_s": enc_s,
        "decode_s": dec_s,
        "bytes": len(data),
        "bpp": len(data) * 8 / (width * height),
        "psnr": psnr(image, rec),
        "encode_ratio_to_scalar": enc_s / scalar["encode_s"],
        "decode_ratio_to_scalar": dec_s / scalar["decode_s"],
    }


def _context_model(path: str) -> None:
    """A full-size checkerboard context model for timing: the default model's weights with
    fresh (untrained) context branches, exported with crops of the test photo as
    calibration. Its rates are not meaningful; its work per pixel is the trained one's."""
    from dataclasses import replace

    from rdlab.codecs.image_model_file import _model_path, export_image_model, load_training_state
    from rdlab.nn.image_model import HyperpriorImageModel

    config, state = load_training_state(_model_path("default"))
    torch.manual_seed(0)
    net = HyperpriorImageModel(replace(config, context="checkerboard"))
    net.load_state_dict(state, strict=False)
    crops = photo(512, 512).reshape(2, 256, 2, 256, 3).transpose(0, 2, 4, 1, 3)
    calibration = torch.from_numpy(crops.reshape(4, 3, 256, 256).copy()).float() / 255.0
    card = {"note": "timing only: default weights, untrained context branches"}
    export_image_model(net, path, calibration, card, overwrite=True)


def context_speed(
    image_size: tuple[int, int], scalar: dict[str, Any], peer: dict[str, Any]
) -> dict[str, Any]:
    """One warm-up and one timed encode and decode by a full-size **checkerboard context**
    model (format version 3; see :func:`_context_model`): seconds and the ratios to the
    scalar default model and, when it ran, to CompressAI's mbt2018-mean (target <= 2)."""
    image = photo(*image_size)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "context.safetensors")
        _context_model(path)
        codec = HyperpriorImageCodec(quality=QUALITY, model=path)
        codec.decode(codec.encode(np.ascontiguousarray(image[:64, :64])))
        enc_s, data = _timed(lambda: codec.encode(image))
        dec_s, _ = _timed(lambda: codec.decode(data))
    out = {
        "model": "default weights + untrained checkerboard context (timing only)",
        "quality": QUALITY,
        "encode_s": enc_s,
        "decode_s": dec_s,
        "encode_ratio_to_scalar": enc_s / scalar["encode_s"],
        "decode_ratio_to_scalar": dec_s / scalar["decode_s"],
    }
    if "unavailable" not in peer:
        out["encode_ratio_to_compressai"] = enc_s / peer["encode_s"]
        out["decode_ratio_to_compressai"] = dec_s / peer["decode_s"]
    return out


REFINE_STEPS = 20


def refine_speed(
    image_size: tuple[int, int], scalar: dict[str, Any], steps: int = REFINE_STEPS
) -> dict[str, Any]:
    """One encode with encoder-side latent refinement (``refine=steps``, default model):
    seconds per step, the ratio to the plain encode of this run, and what it buys at the
    same quality setting (bytes, PSNR, and the loss ``bpp + λ·MSE`` it minimizes)."""
    image = photo(*image_size)
    codec = HyperpriorImageCodec(quality=QUALITY, refine=steps)
    enc_s, data = _timed(lambda: codec.encode(image))
    rec = codec.decode(data)
    width, height = image_size
    lmbda = float(codec.model.net.lambdas_at(torch.tensor([QUALITY - 1.0]))[0])

    def loss(size: int, quality_db: float) -> float:
        return size * 8 / (width * height) + lmbda * 255.0**2 * 10 ** (-quality_db / 10)

    quality_db = psnr(image, rec)
    return {
        "steps": steps,
        "quality": QUALITY,
        "encode_s": enc_s,
        "seconds_per_step": (enc_s - scalar["encode_s"]) / steps,
        "encode_ratio_to_plain": enc_s / scalar["encode_s"],
        "bytes": len(data),
        "bpp": len(data) * 8 / (width * height),
        "psnr": quality_db,
        "bytes_change": len(data) / scalar["bytes"] - 1.0,
        "psnr_change_db": quality_db - scalar["psnr"],
        "loss_change": loss(len(data), quality_db) / loss(scalar["bytes"], scalar["psnr"]) - 1.0,
    }


# -- memory (fresh subprocesses) ----------------------------------------------------------------


def _peak_mib() -> dict[str, float]:
    """This process's peak resident memory: ``VmHWM`` (Linux) and ``ru_maxrss``."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0  # bytes on macOS
    peaks = {"ru_maxrss_mib": maxrss / scale}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    peaks["vmhwm_mib"] = int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return peaks


def _child(task: str, path: str, width: int, height: int, threads: int) -> dict[str, Any]:
    """Runs in the fresh subprocess: encode a photo to ``path``, or decode ``path``."""
    torch.set_num_threads(threads)
    codec = HyperpriorImageCodec(quality=QUALITY)
    codec.model  # noqa: B018 - load the model before the baseline
    if task == "encode":
        image = photo(width, height)
        baseline = _peak_mib()
        seconds, data = _timed(lambda: codec.encode(image))
        with open(path, "wb") as f:
            f.write(data)
        extra: dict[str, Any] = {"bytes": len(data)}
    else:
        with open(path, "rb") as f:
            data = f.read()
        baseline = _peak_mib()
        seconds, rec = _timed(lambda: codec.decode(data))
        extra = {"shape": list(rec.shape)}
    return {"seconds": seconds, "peak": _peak_mib(), "baseline": baseline, **extra}


def _spawn(task: str, path: str, width: int, height: int, threads: int) -> dict[str, Any]:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--child",
        task,
        "--child-file",
        path,
        "--memory-size",
        f"{width}x{height}",
        "--threads",
        str(threads),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"memory child ({task}) failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def memory(width: int = 4000, height: int = 3000, threads: int = 2) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "image.rdl")
        enc = _spawn("encode", path, width, height, threads)
        dec = _spawn("decode", path, width, height, threads)
    key = "vmhwm_mib" if "vmhwm_mib" in enc["peak"] else "ru_maxrss_mib"
    return {
        "size": f"{width}x{height}",
        "image": IMAGE_NOTE.format(w=width, h=height),
        "peak_source": "VmHWM" if key == "vmhwm_mib" else "ru_maxrss",
        "encode_peak_mib": enc["peak"][key],
        "decode_peak_mib": dec["peak"][key],
        "encode_baseline_mib": enc["baseline"][key],
        "decode_baseline_mib": dec["baseline"][key],
        "encode_ru_maxrss_mib": enc["peak"]["ru_maxrss_mib"],
        "decode_ru_maxrss_mib": dec["peak"]["ru_maxrss_mib"],
        "encode_s": enc["seconds"],
        "decode_s": dec["seconds"],
        "bytes": enc["bytes"],
        "bpp": enc["bytes"] * 8 / (width * height),
    }


# -- all ----------------------------------------------------------------------------------------


def run(
    size: tuple[int, int] = (768, 512),
    repeats: int = 5,
    threads: int = 2,
    memory_size: tuple[int, int] | None = (4000, 3000),
    warmup: bool = True,
    refine_steps: int = REFINE_STEPS,
) -> dict[str, Any]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(size, repeats, threads, memory_size, warmup, refine_steps)
    finally:
        torch.set_num_threads(previous)


def _run(
    size: tuple[int, int],
    repeats: int,
    threads: int,
    memory_size: tuple[int, int] | None,
    warmup: bool,
    refine_steps: int,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "image": IMAGE_NOTE.format(w=size[0], h=size[1]),
        "repeats": repeats,
        "warmup": warmup,
    }
    result.update(speed(*size, repeats=repeats, warmup=warmup))
    peer = result["compressai"]
    met: dict[str, bool] = {}
    if "unavailable" not in peer:
        ours = result["rdlab"]
        result["ratios"] = {
            "encode": ours["encode_s"] / peer["encode_s"],
            "decode": ours["decode_s"] / peer["decode_s"],
        }
        met["encode_ratio"] = result["ratios"]["encode"] <= TARGETS["encode_ratio"]
        met["decode_ratio"] = result["ratios"]["decode"] <= TARGETS["decode_ratio"]
    result["lattice"] = lattice_speed(size, result["rdlab"])
    result["context"] = context_speed(size, result["rdlab"], peer)
    if "encode_ratio_to_compressai" in result["context"]:
        for key in ("encode", "decode"):
            ratio = result["context"][f"{key}_ratio_to_compressai"]
            met[f"context_{key}_ratio"] = ratio <= TARGETS["context_ratio"]
    if refine_steps:
        result["refine"] = refine_speed(size, result["rdlab"], refine_steps)
    if memory_size is not None:
        mem = memory(*memory_size, threads=threads)
        result["memory"] = mem
        met["memory_peak_mib"] = (
            max(mem["encode_peak_mib"], mem["decode_peak_mib"]) < TARGETS["memory_peak_mib"]
        )
    result["targets"] = TARGETS
    result["meets_targets"] = met
    return result


def _print_table(result: dict[str, Any]) -> None:
    print(f"{result['image']}, {result['threads']} threads, median of {result['repeats']}")
    print(f"{'':12s} {'encode s':>9s} {'decode s':>9s} {'bytes':>8s} {'bpp':>6s} {'PSNR':>6s}")
    for name in ("rdlab", "compressai"):
        r = result[name]
        if "unavailable" in r:
            print(f"{name:12s} unavailable: {r['unavailable']}")
            continue
        print(
            f"{name:12s} {r['encode_s']:9.3f} {r['decode_s']:9.3f} {r['bytes']:8d} "
            f"{r['bpp']:6.3f} {r['psnr']:6.2f}"
        )
    if "ratios" in result:
        ratios = result["ratios"]
        print(
            f"rdlab / compressai: encode {ratios['encode']:.2f}, decode {ratios['decode']:.2f} "
            f"(target <= 1)"
        )
    lat = result.get("lattice", {})
    if "unavailable" not in lat and lat:
        print(
            f"{'rdlab-e8':12s} {lat['encode_s']:9.3f} {lat['decode_s']:9.3f} {lat['bytes']:8d} "
            f"{lat['bpp']:6.3f} {lat['psnr']:6.2f}  (E8 lattice latents; "
            f"{lat['encode_ratio_to_scalar']:.0f}x / {lat['decode_ratio_to_scalar']:.0f}x "
            "the scalar model's time)"
        )
    ref = result.get("refine")
    if ref:
        print(
            f"{'refine':12s} {ref['encode_s']:9.3f} {'':9s} {ref['bytes']:8d} "
            f"{ref['bpp']:6.3f} {ref['psnr']:6.2f}  ({ref['steps']} steps, "
            f"{ref['seconds_per_step']:.2f} s/step; bytes {100 * ref['bytes_change']:+.1f} %, "
            f"PSNR {ref['psnr_change_db']:+.2f} dB, loss {100 * ref['loss_change']:+.1f} %)"
        )
    if "memory" in result:
        m = result["memory"]
        print(
            f"memory {m['size']}: encode peak {m['encode_peak_mib']:.0f} MiB "
            f"({m['encode_s']:.1f} s), decode peak {m['decode_peak_mib']:.0f} MiB "
            f"({m['decode_s']:.1f} s) [{m['peak_source']}; target < 4096 MiB]"
        )
    print("meets targets:", ", ".join(f"{k}={v}" for k, v in result["meets_targets"].items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--quick", action="store_true", help="small smoke test")
    parser.add_argument("--size", default="768x512", help="speed image WxH")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--memory-size", default="4000x3000", help="memory image WxH")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument(
        "--refine-steps", type=int, default=REFINE_STEPS, help="refinement steps timed (0: skip)"
    )
    parser.add_argument("--child", choices=("encode", "decode"), help=argparse.SUPPRESS)
    parser.add_argument("--child-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        w, h = _size(args.memory_size)
        print(json.dumps(_child(args.child, args.child_file, w, h, args.threads)))
        return 0
    size, repeats, memory_size = _size(args.size), args.repeats, _size(args.memory_size)
    refine_steps = args.refine_steps
    if args.quick:
        size, repeats, memory_size, refine_steps = (256, 192), 1, (320, 240), min(3, refine_steps)
    memory_size = None if args.skip_memory else memory_size
    result = run(
        size, repeats, args.threads, memory_size, warmup=not args.quick, refine_steps=refine_steps
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
