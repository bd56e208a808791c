"""Modalities of the INR codec: reading, normalizing, restoring, writing and measuring.

Each modality turns its signal into an array ``(*spatial, C)`` of normalized float values
(what the networks fit) plus the side information the decoder needs (JSON metadata and
optional extra chunks), and back:

============  ==========================  ====================================  ==========
modality      signal                      normalized values                     rate unit
============  ==========================  ====================================  ==========
``image``     uint8 ``(H, W, 3)``         ``v / 255 - 1/2``, ``(H, W, 3)``       bits/pixel
``audio``     :class:`~rdlab.data.audio   ``x / peak`` (peak = max abs sample,   kbit/s
              .Audio` (mono, [-1, 1))     in the metadata), ``(n, 1)``
``protein``   :class:`~rdlab.data         ``(xyz - centroid) / 16 Å``, ``(n,     bits/atom
              .proteins.CaTrace`          3)``; sequence coded beside it
``video``     :class:`~rdlab.data.video   ``v / 255 - 1/2``, ``(T, H, W, 3)``    bits/pixel
              .Video`                                                            (per frame)
============  ==========================  ====================================  ==========

Greyscale images and videos are coded as three equal channels and decoded as their rounded
mean.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._varint import decode_varint, encode_varint, unzigzag, zigzag
from ..data.audio import Audio, read_audio, write_audio
from ..data.images import read_image, write_png
from ..data.proteins import CaTrace, read_ca_trace, write_ca_pdb
from ..data.video import Video, is_video_path, read_video, write_video
from ..errors import CountMismatchError, FormatError, InputError
from ..metrics import audio_psnr_db, psnr, rmsd, snr_db, video_psnr_db

__all__ = [
    "PROTEIN_SCALE",
    "Prepared",
    "detect_modality",
    "distortion",
    "items",
    "prepare",
    "read_signal",
    "restore",
    "write_signal",
]

#: Å per normalized unit of C-alpha coordinates
PROTEIN_SCALE = 16.0
_AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
_PROTEIN_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")
_AMINO = (
    "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
    "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL",
)  # fmt: skip
_OTHER = len(_AMINO)  # index of "any other residue name" (listed in the metadata)


@dataclass
class Prepared:
    """A signal ready for fitting: ``values`` float32 ``(*spatial, C)``; ``meta``: what the
    decoder needs (JSON); ``chunks``: extra chunk payloads by tag; ``items``: the rate's
    denominator (pixels, seconds, atoms, pixels of all frames)."""

    values: np.ndarray
    meta: dict[str, Any]
    chunks: dict[str, bytes] = field(default_factory=dict)
    items: float = 1.0


def detect_modality(path: str | os.PathLike[str]) -> str:
    """The modality of a file from its name (and, for PNG, its frame count)."""
    name = os.fspath(path).lower()
    stem = name[:-3] if name.endswith(".gz") else name
    if stem.endswith(_PROTEIN_SUFFIXES):
        return "protein"
    if name.endswith(_AUDIO_SUFFIXES):
        return "audio"
    if os.path.isdir(name) or is_video_path(path):
        return "video"
    return "image"


def read_signal(path: str | os.PathLike[str], modality: str) -> Any:
    if modality == "image":
        return read_image(path)
    if modality == "audio":
        return read_audio(path)
    if modality == "protein":
        return read_ca_trace(path)
    if modality == "video":
        return read_video(path)
    raise InputError("modality", f"unknown modality {modality!r}")


def items(modality: str, signal: Any) -> float:
    """The rate denominator: pixels, seconds (for kbit/s), atoms, or pixels of all frames."""
    if modality == "image":
        return float(signal.shape[0] * signal.shape[1])
    if modality == "audio":
        return signal.samples.size / signal.sample_rate
    if modality == "protein":
        return float(signal.coords.shape[0])
    return float(math.prod(signal.frames.shape[:3]))


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise FormatError("the protein side-information chunk is truncated")
        out = self.data[self.pos : self.pos + size]
        self.pos += size
        return out

    def varint(self) -> int:
        value, self.pos = decode_varint(self.data, self.pos, "a protein side-information field")
        return value

    def signed(self) -> int:
        return unzigzag(self.varint())


def _protein_side_chunk(trace: CaTrace, centroid: np.ndarray, *, sentinel: bool = True) -> bytes:
    """Everything of a C-alpha trace but its coordinates, in binary (the JSON this replaced
    cost 10-18 bits per atom on 100-300 residue chains): centroid (3 zigzag varints,
    milli-Å), chain id (length + UTF-8), residue-number breaks (count, then per break
    the index step and the number's offset from the previous + 1), names outside the
    20 standard residues (count, then index step, length, name), then the residue names
    as base-21 digits of one integer (log2(21) = 4.39 bits each) above a sentinel digit
    1, so the sequence's length pins the atom count (:func:`_sequence_bytes`)."""
    out = bytearray()
    for c in centroid:
        out += encode_varint(zigzag(round(float(c) * 1000)))
    chain = trace.chain_id.encode("utf-8")
    out += encode_varint(len(chain)) + chain
    numbers = trace.residue_numbers
    breaks = [(i, n) for i, n in enumerate(numbers) if i == 0 or n != numbers[i - 1] + 1]
    out += encode_varint(len(breaks))
    last, expected = 0, 1
    for i, n in breaks:
        prev = numbers[i - 1] + 1 if i else expected
        out += encode_varint(i - last) + encode_varint(zigzag(n - prev))
        last = i
    lookup = {name: k for k, name in enumerate(_AMINO)}
    others = [(i, name) for i, name in enumerate(trace.residue_names) if name not in lookup]
    out += encode_varint(len(others))
    last = 0
    for i, name in others:
        raw = name.encode("utf-8")
        out += encode_varint(i - last) + encode_varint(len(raw)) + raw
        last = i
    value = int(sentinel)  # a count other than the file's own cannot match the bytes
    for name in reversed(trace.residue_names):
        value = value * 21 + lookup.get(name, _OTHER)
    size = _sequence_bytes(len(trace.residue_names), sentinel=sentinel)
    return bytes(out) + value.to_bytes(size, "little")


def _sequence_bytes(count: int, *, sentinel: bool) -> int:
    """Bytes of the base-21 residue sequence of ``count`` residues.

    Without the sentinel (INR codec versions 1 and 2) the value is below ``21**count``,
    in ``ceil(count·log2 21 / 8)`` bytes, so counts one apart often share a length and a
    raised count decoded as an invented residue. With it (version 3) the value lies in
    ``[21**count, 2·21**count)``, which no other count's range meets: a count that
    disagrees with the sequence is refused (at most one byte more)."""
    if not sentinel:
        return math.ceil(count * math.log2(21) / 8)
    return ((2 * 21**count - 1).bit_length() + 7) // 8


def _read_protein_side(
    data: bytes, count: int, *, sentinel: bool
) -> tuple[np.ndarray, str, tuple[str, ...], tuple[int, ...]]:
    """Inverse of :func:`_protein_side_chunk` for ``count`` atoms (``sentinel``: the
    sequence carries its length, codec version 3)."""
    r = _Reader(data)
    centroid = np.array([r.signed() / 1000.0 for _ in range(3)], dtype=np.float64)
    chain = r.take(r.varint()).decode("utf-8", errors="replace")

    def positions() -> Iterator[int]:
        # residue indexes, strictly increasing after the first, each below ``count``
        pos = 0
        for k in range(r.varint()):
            step = r.varint()
            pos += step
            if (k and not step) or pos >= count:
                raise CountMismatchError(
                    f"the protein side information names residue {pos} of {count}"
                )
            yield pos

    breaks = {pos: r.signed() for pos in positions()}
    others = {pos: r.take(r.varint()).decode("utf-8", errors="replace") for pos in positions()}
    size = _sequence_bytes(count, sentinel=sentinel)
    if len(data) - r.pos != size:
        raise CountMismatchError(
            f"the residue sequence has {len(data) - r.pos} bytes; {count} residues take {size}"
        )
    value = int.from_bytes(r.take(size), "little")
    if sentinel:
        if not 21**count <= value < 2 * 21**count:
            raise CountMismatchError(
                f"the residue sequence does not hold {count} residues (atom count mismatch)"
            )
        value -= 21**count
    names = []
    for i in range(count):
        value, d = divmod(value, 21)
        names.append(others.get(i, "UNK") if d == _OTHER else _AMINO[d])
    if value:
        raise FormatError("the residue sequence chunk is corrupt")
    numbers, current = [], 0
    for i in range(count):
        current = current + 1 + breaks.get(i, 0) if i else 1 + breaks.get(0, 0)
        numbers.append(current)
    return centroid, chain, tuple(names), tuple(numbers)


def prepare(modality: str, signal: Any) -> Prepared:
    if modality == "image":
        img = np.asarray(signal)
        grey = img.ndim == 2
        if grey:
            img = np.repeat(img[..., None], 3, axis=2)
        values = img.astype(np.float32) / 255.0 - 0.5
        meta: dict[str, Any] = {"shape": list(img.shape[:2])}
        if grey:
            meta["grey"] = True
        return Prepared(values, meta, items=img.shape[0] * img.shape[1])
    if modality == "audio":
        x = np.asarray(signal.samples, dtype=np.float64)
        peak = float(np.abs(x).max())
        peak = peak if peak > 0 else 1.0
        values = (x / peak).astype(np.float32)[:, None]
        meta = {"n": int(x.size), "rate": int(signal.sample_rate), "peak": peak}
        return Prepared(values, meta, items=x.size / signal.sample_rate)
    if modality == "protein":
        coords = np.asarray(signal.coords, dtype=np.float64)
        centroid = np.round(coords.mean(axis=0), 3)
        values = ((coords - centroid) / PROTEIN_SCALE).astype(np.float32)
        side = _protein_side_chunk(signal, centroid)
        return Prepared(values, {"n": int(coords.shape[0])}, {"PROT": side}, items=coords.shape[0])
    if modality == "video":
        frames = np.asarray(signal.frames)
        grey = frames.shape[-1] == 1
        if grey:
            frames = np.repeat(frames, 3, axis=-1)
        values = frames.astype(np.float32) / 255.0 - 0.5
        meta = {"shape": list(frames.shape[:3]), "fps": float(signal.fps)}
        if grey:
            meta["grey"] = True
        return Prepared(values, meta, items=float(math.prod(frames.shape[:3])))
    raise InputError("modality", f"unknown modality {modality!r}")


def spatial_shape(modality: str, meta: dict[str, Any]) -> tuple[tuple[int, ...], int]:
    """``(spatial, channels)`` of the normalized array from the metadata."""
    try:
        if modality == "image":
            return (int(meta["shape"][0]), int(meta["shape"][1])), 3
        if modality in ("audio", "protein"):
            return (int(meta["n"]),), 1 if modality == "audio" else 3
        if modality == "video":
            t, h, w = (int(v) for v in meta["shape"])
            return (t, h, w), 3
    except (KeyError, TypeError, ValueError, IndexError):
        raise FormatError("the file's metadata lacks the signal shape") from None
    raise FormatError(f"unknown modality {modality!r} in the file")


def restore(
    modality: str,
    values: np.ndarray,
    meta: dict[str, Any],
    chunks: dict[str, bytes],
    *,
    sequence_sentinel: bool = True,
) -> Any:
    """Decoded normalized values (float64 ``(*spatial, C)``) back to the signal
    (``sequence_sentinel``: a protein's residue sequence carries its length, as INR codec
    version 3 writes it; versions 1 and 2 do not)."""
    if modality in ("image", "video"):
        pixels = np.clip(np.rint((values + 0.5) * 255.0), 0, 255).astype(np.uint8)
        if meta.get("grey"):
            pixels = np.rint(pixels.astype(np.float64).mean(axis=-1)).astype(np.uint8)
            if modality == "video":
                pixels = pixels[..., None]
        if modality == "video":
            return Video(pixels, float(meta["fps"]))
        return pixels
    if modality == "audio":
        x = np.clip(values[:, 0] * float(meta["peak"]), -1.0, 1.0 - 2.0**-15)
        return Audio(x.astype(np.float32), int(meta["rate"]))
    if modality == "protein":
        n = int(meta["n"])
        if "PROT" not in chunks:
            raise FormatError("the protein file lacks its sequence chunk")
        centroid, chain, names, numbers = _read_protein_side(
            chunks["PROT"], n, sentinel=sequence_sentinel
        )
        coords = values * PROTEIN_SCALE + centroid
        return CaTrace(np.round(coords, 3), names, numbers, chain)
    raise FormatError(f"unknown modality {modality!r} in the file")


def write_signal(
    path: str | os.PathLike[str],
    modality: str,
    signal: Any,
    *,
    overwrite: bool = False,
    protect: tuple[str, ...] = (),
) -> int:
    if modality == "image":
        return write_png(path, signal, overwrite=overwrite, protect=protect)
    if modality == "audio":
        return write_audio(path, signal, overwrite=overwrite, protect=protect)
    if modality == "protein":
        return write_ca_pdb(path, signal, overwrite=overwrite, protect=protect)
    return write_video(path, signal, overwrite=overwrite, protect=protect)


def distortion(modality: str, reference: Any, decoded: Any) -> dict[str, float]:
    """The modality's distortion figures (PSNR dB at peak 255 for images and video; SNR
    and PSNR (peak-to-peak 2) dB for audio; RMSD in Å for proteins)."""
    if modality == "image":
        return {"psnr_db": float(psnr(reference, decoded))}
    if modality == "audio":
        return {
            "snr_db": snr_db(reference.samples, decoded.samples),
            "psnr_db": audio_psnr_db(reference.samples, decoded.samples),
        }
    if modality == "protein":
        return {"rmsd_angstrom": rmsd(reference.coords, decoded.coords)}
    return {"psnr_db": video_psnr_db(reference.frames, decoded.frames)}


def default_output_suffix(modality: str) -> str:
    return {"image": ".png", "audio": ".flac", "protein": ".pdb", "video": ".png"}[modality]
