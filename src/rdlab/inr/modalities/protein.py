"""Protein C-alpha traces for the INR codec: :class:`~rdlab.data.proteins.CaTrace`,
normalized to ``(xyz - centroid) / 16 Å``, ``(n, 3)``; the residue sequence, numbering,
chain and centroid ride beside the weights in the chunk ``PROT``
(:func:`_protein_side_chunk`). The rate is bits per atom of the coded coordinates (the
weight payload), as protein structure compression counts it; RMSD in Å.

INR codec version 3 (written for proteins) puts a sentinel in the residue sequence, so
that its length pins the atom count (:func:`_sequence_bytes`); versions 1 and 2 decode.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..._varint import decode_varint, encode_varint, unzigzag, zigzag
from ...data.proteins import CaTrace, read_ca_trace, write_ca_pdb
from ...errors import CountMismatchError, FormatError
from ...metrics import rmsd
from .base import Architecture, Modality, Prepared

__all__ = ["MODALITY", "PROTEIN_SCALE", "ProteinModality"]

#: Å per normalized unit of C-alpha coordinates
PROTEIN_SCALE = 16.0
#: the INR codec versions whose residue sequence has no sentinel
_WITHOUT_SENTINEL = ("1", "2")
_AMINO = (
    "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
    "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL",
)  # fmt: skip
_OTHER = len(_AMINO)  # index of "any other residue name" (listed in the metadata)
_TAG = "PROT"


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


class ProteinModality(Modality):
    """C-alpha traces of PDB / mmCIF files (optionally gzipped)."""

    name = "protein"
    suffixes = tuple(s + gz for gz in ("", ".gz") for s in (".pdb", ".ent", ".cif", ".mmcif"))
    output_suffix = ".pdb"
    output_suffixes = (".pdb", ".ent")
    writer = staticmethod(write_ca_pdb)
    rate_keyword = "bits_per_atom"
    rate_unit = "bits/atom"
    payload_budget = "coordinates"
    codec_version = "3"
    #: patches of 16 residues with one hidden layer (339 weights) reached 20.4 dB at 12.3
    #: bits/atom after 4 rounds at beta 0.003, 32 residues with two layers 18.8 dB at 12.1;
    #: w0 = 5 reached 26.6 dB at 1,469 bits per patch after 4 rounds where w0 = 30 had
    #: 25.3 dB at 1,878 bits (and w0 = 1 24.9 dB at 1,835 bits after 2)
    architecture: Architecture = ((16,), {"in_dim": 1, "out_dim": 3, "hidden": 16,
        "layers": 1, "frequencies": 8, "max_frequency": 8.0, "w0": 5.0})  # fmt: skip

    def accepts(self, signal: Any) -> bool:
        return isinstance(signal, CaTrace)

    def read(self, path: str | os.PathLike[str], **options: Any) -> CaTrace:
        return read_ca_trace(path)

    def items(self, signal: Any) -> float:
        """C-alpha atoms."""
        return float(signal.coords.shape[0])

    def prepare(self, signal: Any) -> Prepared:
        coords = np.asarray(signal.coords, dtype=np.float64)
        centroid = np.round(coords.mean(axis=0), 3)
        values = ((coords - centroid) / PROTEIN_SCALE).astype(np.float32)
        side = _protein_side_chunk(signal, centroid)
        return Prepared(values, {"n": int(coords.shape[0])}, {_TAG: side}, items=coords.shape[0])

    def spatial_shape(self, meta: dict[str, Any]) -> tuple[tuple[int, ...], int]:
        return (int(meta["n"]),), 3

    def restore(
        self,
        values: np.ndarray,
        meta: dict[str, Any],
        chunks: dict[str, bytes],
        *,
        codec_version: str | None = None,
    ) -> CaTrace:
        """The trace; its residue sequence carries a sentinel unless ``codec_version`` is
        1 or 2."""
        n = int(meta["n"])
        if _TAG not in chunks:
            raise FormatError("the protein file lacks its sequence chunk")
        sentinel = (codec_version or self.codec_version) not in _WITHOUT_SENTINEL
        centroid, chain, names, numbers = _read_protein_side(chunks[_TAG], n, sentinel=sentinel)
        coords = values * PROTEIN_SCALE + centroid
        return CaTrace(np.round(coords, 3), names, numbers, chain)

    def distortion(self, reference: Any, decoded: Any) -> dict[str, float]:
        """``rmsd_angstrom``: RMSD of the C-alpha positions in Å, no superposition."""
        return {"rmsd_angstrom": rmsd(reference.coords, decoded.coords)}


MODALITY = ProteinModality()
