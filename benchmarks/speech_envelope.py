"""Speech at low rates: the INR codec with and without its spectral envelope, against Opus.

Slow (each INR point fits networks on the CPU; not run in CI). For each clip of
``audio/eval`` (``--clips N`` spread over the 18, or ``--files``), its first
``--seconds`` (2), at each ``--kbps`` (whole-file rate):

- ``inr_envelope``: the INR codec as it codes by default at these rates, with the coded
  mel-band envelope (:mod:`rdlab.dsp.envelope`; above 8 kHz the networks code the
  decimated signal and the envelope fills the band above);
- ``inr_waveform``: the same codec told to leave the envelope out
  (``side_information=False``): the networks alone, at the whole rate;
- ``opus``: libopus asked for the same rate (:func:`rdlab.eval.baselines.opus_roundtrip`;
  its whole-file rate is higher: the Ogg container; ``payload_kbps`` leaves it out).

Per point: SNR, log-spectral and 40-band log-mel distances (dB,
:meth:`rdlab.inr.modalities.audio.AudioModality.distortion`), the file's kbit/s, the
envelope's share, encode and decode seconds, and whether a second decode gives the same
samples. The summary has the means over the clips per codec and rate. Torch runs on
``--threads`` (default 1): the encode times are those of one core.

    python benchmarks/speech_envelope.py --clips 6 --kbps 6,9 --json > speech.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inr import default_data, eval_paths, print_summary
from rdlab.codecs.inr import INRCodec
from rdlab.container import decode_rdl
from rdlab.data.audio import Audio, read_audio
from rdlab.errors import InputError
from rdlab.eval.baselines import opus_header_bytes, opus_roundtrip
from rdlab.inr.modalities import get_modality
from rdlab.inr.modalities.audio import ENVELOPE_TAG

AUDIO = get_modality("audio")


def inr_point(audio: Audio, kbps: float, envelope: bool, seed: int) -> dict[str, Any]:
    codec = INRCodec(kbps=kbps, side_information=envelope, seed=seed)
    start = time.perf_counter()
    try:
        data = codec.encode(audio)
    except InputError as exc:  # a rate too low for the model on this clip
        return {"target": kbps, "error": str(exc)}
    encode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    decoded = INRCodec().decode(data)
    decode_seconds = time.perf_counter() - start
    again = INRCodec().decode(data)
    chunks = {c.tag: len(c.payload) for c in decode_rdl(data).chunks}
    return {
        "target": kbps,
        "kbps": AUDIO.rate(8 * len(data), audio.duration),
        "envelope_kbps": AUDIO.rate(8 * chunks.get(ENVELOPE_TAG, 0), audio.duration),
        **AUDIO.distortion(audio, decoded),
        "encode_seconds": encode_seconds,
        "decode_seconds": decode_seconds,
        "decodes_twice_the_same": bool(np.array_equal(decoded.samples, again.samples)),
        "model": codec.last_report["model"],
    }


def opus_point(audio: Audio, kbps: float) -> dict[str, Any]:
    decoded, size = opus_roundtrip(audio, kbps)
    header = opus_header_bytes(audio.sample_rate)
    return {
        "target": kbps,
        "kbps": AUDIO.rate(8 * size, audio.duration),
        "payload_kbps": AUDIO.rate(8 * (size - header), audio.duration),
        **AUDIO.distortion(audio, decoded),
    }


def mean_table(records: list[dict[str, Any]], codecs: list[str]) -> dict[str, Any]:
    """Per codec and target rate, the mean of each figure over the clips."""
    table: dict[str, Any] = {}
    for codec in codecs:
        by_target: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            for point in record["results"][codec]:
                if "error" in point:
                    continue
                by_target.setdefault(f"{point['target']:g}", []).append(point)
        table[codec] = {
            target: {
                key: float(np.mean([p[key] for p in points]))
                for key in ("kbps", "snr_db", "lsd_db", "log_mel_db")
            }
            | {"clips": len(points)}
            for target, points in by_target.items()
        }
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default_data())
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--files", nargs="*", help="clips to use instead of audio/eval")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--kbps", default="6,9")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--codecs",
        default="inr_envelope,inr_waveform,opus",
        help="which of inr_envelope, inr_waveform, opus to run",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    asked = set(args.codecs.split(","))
    known = ("inr_envelope", "inr_waveform", "opus")
    if not asked or asked - set(known):
        parser.error(f"--codecs: give some of {', '.join(known)}, got {args.codecs!r}")
    codecs = [c for c in known if c in asked]
    paths = eval_paths(args.files, args.data, "audio", "clips", args.clips)
    rates = [float(k) for k in args.kbps.split(",")]
    records = []
    for path in paths:
        full = read_audio(path)
        n = min(full.samples.size, max(1, round(args.seconds * full.sample_rate)))
        audio = Audio(full.samples[:n], full.sample_rate)
        results: dict[str, list[dict[str, Any]]] = {c: [] for c in codecs}
        for kbps in rates:
            for codec, envelope in (("inr_envelope", True), ("inr_waveform", False)):
                if codec not in codecs:
                    continue
                point = inr_point(audio, kbps, envelope, args.seed)
                results[codec].append(point)
                brief = point.get("error") or (
                    f"{point['kbps']:.2f} kbit/s log-mel {point['log_mel_db']:.2f} dB "
                    f"SNR {point['snr_db']:.2f} dB {point['encode_seconds']:.0f} s"
                )
                print(f"{Path(path).name} {codec} {kbps:g}: {brief}", file=sys.stderr, flush=True)
            if "opus" in codecs:
                results["opus"].append(opus_point(audio, kbps))
        records.append({"name": Path(path).name, "sample_rate": audio.sample_rate,
                        "seconds": audio.duration, "results": results})  # fmt: skip
    summary = {
        "settings": {"kbps": rates, "seconds": args.seconds, "threads": args.threads,
                     "seed": args.seed, "clips": [r["name"] for r in records]},
        "means": mean_table(records, codecs),
        "all_decode_twice_the_same": all(
            p["decodes_twice_the_same"] for r in records for c in codecs if c != "opus"
            for p in r["results"][c] if "error" not in p
        ),
        "records": records,
    }  # fmt: skip
    print_summary(summary, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
