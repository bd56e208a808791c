"""Protein C-alpha traces: read from PDB or mmCIF (plain or gzip), write as PDB.

Conventions:

- coordinates are float64 Å, shape ``(n, 3)``, one row per residue in file order;
- only the **first model** is read (``MODEL``/``ENDMDL`` in PDB, the smallest
  ``pdbx_PDB_model_num`` in mmCIF) and only one chain: the first chain with a C-alpha
  atom, unless ``chain`` names one (PDB column 22; mmCIF ``auth_asym_id``, falling back
  to ``label_asym_id``); a blank chain identifier is ``""``;
- a C-alpha is an ``ATOM`` or ``HETATM`` record whose atom name is ``CA`` and whose
  element is carbon (so modified residues such as MSE count, calcium ions do not);
- alternate locations: the first one met for each residue is kept (usually ``A``);
- insertion codes are dropped from ``residue_numbers`` (residues 52 and 52A are two
  entries numbered 52), so the numbers need not be unique.
"""

from __future__ import annotations

import gzip
import os
import shlex
from dataclasses import dataclass

import numpy as np

from .._files import write_atomic
from ..errors import InputError

__all__ = ["CaTrace", "ca_pdb_text", "read_ca_trace", "write_ca_pdb"]


@dataclass(frozen=True, eq=False)
class CaTrace:
    """The C-alpha atoms of one protein chain.

    Attributes:
        coords: float64, shape ``(n, 3)``, Å.
        residue_names: 3-letter residue names (``"GLY"``, ...), ``n`` of them.
        residue_numbers: author residue numbers (insertion codes dropped), ``n`` of them.
        chain_id: chain identifier (``""`` when the file leaves it blank).
    """

    coords: np.ndarray
    residue_names: tuple[str, ...]
    residue_numbers: tuple[int, ...]
    chain_id: str

    def __post_init__(self) -> None:
        coords = np.asarray(self.coords)
        if coords.dtype.kind not in "fiu" or coords.ndim != 2 or coords.shape[1:] != (3,):
            raise InputError("coords", f"must be real numbers of shape (n, 3), got {coords.shape}")
        coords = np.ascontiguousarray(coords, dtype=np.float64)
        if coords.shape[0] == 0:
            raise InputError("coords", "holds no atoms")
        if not np.isfinite(coords).all():
            raise InputError("coords", "holds NaN or infinite values")
        names = tuple(str(name) for name in self.residue_names)
        numbers = tuple(int(number) for number in self.residue_numbers)
        if len(names) != coords.shape[0] or len(numbers) != coords.shape[0]:
            raise InputError(
                "residue_names",
                f"{len(names)} names and {len(numbers)} numbers for {coords.shape[0]} atoms",
            )
        object.__setattr__(self, "coords", coords)
        object.__setattr__(self, "residue_names", names)
        object.__setattr__(self, "residue_numbers", numbers)
        object.__setattr__(self, "chain_id", str(self.chain_id))

    def __len__(self) -> int:
        return int(self.coords.shape[0])


def _read_text(name: str) -> str:
    if os.path.isdir(name):
        raise InputError("input", f"{name} is a directory")
    try:
        with open(name, "rb") as stream:
            raw = stream.read()
    except FileNotFoundError:
        raise InputError("input", f"{name} does not exist") from None
    except PermissionError:
        raise InputError("input", f"{name}: permission denied") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError("input", f"{name} is not valid gzip: {exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return raw.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any bytes
            raise InputError("input", f"{name} is not a text file") from None


class _Collector:
    """Keeps the first chain's (or the requested chain's) C-alpha atoms, one per residue."""

    def __init__(self, chain: str | None) -> None:
        self.chain = chain
        self.chosen: str | None = chain
        self.coords: list[tuple[float, float, float]] = []
        self.names: list[str] = []
        self.numbers: list[int] = []
        self.seen: set[tuple[str, str]] = set()
        self.chains: set[str] = set()

    def add(
        self, chain: str, number: str, icode: str, resname: str, xyz: tuple[float, float, float]
    ) -> None:
        self.chains.add(chain)
        if self.chosen is None:
            self.chosen = chain
        if chain != self.chosen:
            return
        key = (number, icode)
        if key in self.seen:  # another alternate location of a residue already read
            return
        self.seen.add(key)
        self.coords.append(xyz)
        self.names.append(resname)
        self.numbers.append(int(number))

    def trace(self, name: str) -> CaTrace:
        if not self.coords:
            if self.chain is not None and self.chains:
                have = ", ".join(repr(c) for c in sorted(self.chains))
                raise InputError(
                    "chain", f"{name} has no C-alpha atoms in chain {self.chain!r} (have {have})"
                )
            raise InputError("input", f"{name} has no C-alpha (CA) atoms")
        return CaTrace(
            np.array(self.coords, dtype=np.float64),
            tuple(self.names),
            tuple(self.numbers),
            self.chosen or "",
        )


def _parse_pdb(text: str, name: str, chain: str | None) -> CaTrace:
    collector = _Collector(chain)
    for lineno, line in enumerate(text.splitlines(), start=1):
        record = line[:6]
        if record in ("ENDMDL", "END   ", "END"):
            break
        if record not in ("ATOM  ", "HETATM") or line[12:16].strip() != "CA":
            continue
        element = line[76:78].strip().upper()
        if element.isalpha() and element != "C":
            continue  # a calcium ion (element CA) or other non-carbon named CA
        if not element.isalpha() and line[17:20].strip() == "CA":
            continue  # no element column: residue CA is a calcium ion
        try:
            xyz = (float(line[30:38]), float(line[38:46]), float(line[46:54]))
            number = line[22:26].strip()
            int(number)
        except ValueError:
            raise InputError("input", f"{name} line {lineno}: malformed ATOM record") from None
        collector.add(line[21].strip(), number, line[26:27].strip(), line[17:20].strip(), xyz)
    return collector.trace(name)


def _cif_tokens(lines: list[str], start: int) -> tuple[list[str], int]:
    """Tokens of the ``_atom_site`` rows from ``lines[start]`` up to the loop's end."""
    tokens: list[str] = []
    i = start
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith(("_", "loop_", "data_", "#")):
            break
        if line.startswith(";"):  # multi-line text field
            block = [line[1:]]
            i += 1
            while i < len(lines) and not lines[i].startswith(";"):
                block.append(lines[i])
                i += 1
            tokens.append("\n".join(block))
            i += 1
            continue
        if stripped:
            tokens.extend(shlex.split(stripped, posix=True))
        i += 1
    return tokens, i


def _parse_cif(text: str, name: str, chain: str | None) -> CaTrace:
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "loop_" and i + 1 < len(lines):
            j = i + 1
            fields: list[str] = []
            while j < len(lines) and lines[j].strip().startswith("_atom_site."):
                fields.append(lines[j].strip().split()[0][len("_atom_site.") :])
                j += 1
            if fields:
                try:
                    tokens, _ = _cif_tokens(lines, j)
                except ValueError as exc:
                    raise InputError("input", f"{name}: bad mmCIF quoting: {exc}") from None
                return _cif_atoms(fields, tokens, name, chain)
        i += 1
    raise InputError("input", f"{name} is neither PDB text nor mmCIF with an _atom_site loop")


def _cif_atoms(fields: list[str], tokens: list[str], name: str, chain: str | None) -> CaTrace:
    width = len(fields)
    if len(tokens) % width:
        raise InputError("input", f"{name}: _atom_site loop has a truncated row")
    col = {field: k for k, field in enumerate(fields)}
    need = ("Cartn_x", "Cartn_y", "Cartn_z")
    if any(f not in col for f in need) or not ("label_atom_id" in col or "auth_atom_id" in col):
        raise InputError("input", f"{name}: _atom_site lacks coordinates or atom names")
    rows = [tokens[k : k + width] for k in range(0, len(tokens), width)]

    def get(row: list[str], *keys: str) -> str:
        for key in keys:
            if key in col and row[col[key]] not in (".", "?"):
                return row[col[key]]
        return ""

    model = None
    collector = _Collector(chain)
    for row in rows:
        if get(row, "group_PDB") not in ("ATOM", "HETATM", ""):
            continue
        this_model = get(row, "pdbx_PDB_model_num")
        if model is None:
            model = this_model
        elif this_model != model:
            continue
        if get(row, "auth_atom_id", "label_atom_id") != "CA":
            continue
        if get(row, "type_symbol").upper() not in ("C", ""):
            continue
        try:
            xyz = (
                float(row[col["Cartn_x"]]),
                float(row[col["Cartn_y"]]),
                float(row[col["Cartn_z"]]),
            )
            number = get(row, "auth_seq_id", "label_seq_id")
            int(number)
        except ValueError:
            raise InputError("input", f"{name}: malformed _atom_site row {row}") from None
        collector.add(
            get(row, "auth_asym_id", "label_asym_id"),
            number,
            get(row, "pdbx_PDB_ins_code"),
            get(row, "auth_comp_id", "label_comp_id"),
            xyz,
        )
    return collector.trace(name)


def read_ca_trace(path: str | os.PathLike[str], chain: str | None = None) -> CaTrace:
    """Read the C-alpha trace of one chain from a PDB or mmCIF file (optionally gzipped).

    The format is recognised from the content (an ``_atom_site`` loop means mmCIF), so
    ``.pdb``, ``.ent``, ``.cif`` and their ``.gz`` forms all work. See the module
    docstring for model, chain, altloc and HETATM rules. A file without C-alpha atoms
    (or without the requested chain) is an :class:`~rdlab.errors.InputError`.
    """
    name = os.fspath(path)
    text = _read_text(name)
    head = text.lstrip()[:5].lower()
    if head == "data_" or "\n_atom_site." in text or "\nloop_" in text[:20000]:
        return _parse_cif(text, name, chain)
    return _parse_pdb(text, name, chain)


def ca_pdb_text(trace: CaTrace) -> str:
    """PDB text of ``trace``: CA-only ``ATOM`` records (``%8.3f`` Å), ``TER``, ``END``."""
    if not isinstance(trace, CaTrace):
        raise InputError("trace", f"must be a CaTrace, got {type(trace).__name__}")
    if trace.coords.max() >= 9999.9995 or trace.coords.min() <= -999.9995:
        raise InputError("trace", "has coordinates that do not fit PDB's %8.3f columns")
    if len(trace.chain_id) > 1:
        raise InputError("trace", f"chain id {trace.chain_id!r} is longer than PDB's 1 column")
    chain = trace.chain_id or " "
    lines = []
    serial = 0
    for serial, (xyz, resname, number) in enumerate(
        zip(trace.coords, trace.residue_names, trace.residue_numbers, strict=True), start=1
    ):
        if not -999 <= number <= 9999:
            raise InputError("trace", f"residue number {number} does not fit PDB's 4 columns")
        lines.append(
            f"ATOM  {serial % 100000:5d}  CA  {resname[:3]:>3s} {chain}{number:4d}    "
            f"{xyz[0]:8.3f}{xyz[1]:8.3f}{xyz[2]:8.3f}  1.00  0.00           C  "
        )
    last = trace.residue_names[-1][:3]
    lines.append(f"TER   {(serial + 1) % 100000:5d}      {last:>3s} {chain}{number:4d}")
    lines.append("END")
    return "\n".join(lines) + "\n"


def write_ca_pdb(
    path: str | os.PathLike[str],
    trace: CaTrace,
    *,
    overwrite: bool = False,
    protect: tuple[str, ...] = (),
) -> int:
    """Write ``trace`` as CA-only PDB text (gzip when ``path`` ends in ``.gz``), atomically,
    never over an existing file unless ``overwrite``; return the size in bytes."""
    data = ca_pdb_text(trace).encode("ascii", errors="replace")
    if os.fspath(path).lower().endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    return write_atomic(path, data, overwrite=overwrite, protect=protect)
