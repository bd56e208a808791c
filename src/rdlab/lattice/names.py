"""Lattices by name: ``get_lattice("e8")``, ``get_lattice("a2xd4")``, ``get_lattice("dn", 5)``."""

from __future__ import annotations

import re

from ..errors import InputError
from .barnes_wall import BarnesWallLattice
from .base import Lattice
from .classical import AnLattice, DnDualLattice, DnLattice, IntegerLattice, check_dimension
from .e8 import E8Lattice
from .leech import LeechLattice
from .product import ProductLattice

__all__ = ["available_lattices", "get_lattice"]

_VALID = (
    "z, z<n> / z^<n> (Z^n), a<n> (A_n, n >= 1), d<n> (D_n, n >= 3), d<n>* (D_n*, n >= 3), "
    "e8, bw16, leech; zn/an/dn/dn* with dim=n; powers <name>^<k> (e.g. e8^3) and products "
    "<name>x<name> (e.g. a2xd4)"
)

_FIXED = {"e8": E8Lattice, "bw16": BarnesWallLattice, "leech": LeechLattice}
_FAMILY = re.compile(r"^(z|a|d)(\d+|n)?(\*?)$")


def available_lattices() -> list[str]:
    """Example canonical names accepted by :func:`get_lattice` (families take any n)."""
    return ["Z", "Z^n", "An", "Dn", "Dn*", "E8", "BW16", "Leech", "<name>^k", "<name>x<name>"]


def _unknown(name: str) -> InputError:
    return InputError("name", f"unknown lattice {name!r}; valid names: {_VALID}")


def _single(token: str, dim: int | None, original: str) -> Lattice:
    if token in _FIXED:
        return _FIXED[token]()
    match = _FAMILY.match(token)
    if match is None:
        raise _unknown(original)
    family, number, star = match.groups()
    if star and family != "d":
        raise _unknown(original)
    if family == "z" and number is None and not star:
        n: int | None = 1
    elif number is None or number == "n":
        n = dim
        if n is None:
            raise InputError("dim", f"{original!r} needs dim=n")
    else:
        n = int(number)
    if family == "z":
        check_dimension("Z^n", n, 1)  # type: ignore[arg-type]
        return IntegerLattice(n)  # type: ignore[arg-type]
    if family == "a":
        check_dimension("A_n", n, 1)  # type: ignore[arg-type]
        return AnLattice(n)  # type: ignore[arg-type]
    check_dimension("D_n*" if star else "D_n", n, 3)  # type: ignore[arg-type]
    return DnDualLattice(n) if star else DnLattice(n)  # type: ignore[arg-type]


def _power(token: str, dim: int | None, original: str) -> Lattice:
    if "^" not in token:
        return _single(token, dim, original)
    base, _, exponent = token.rpartition("^")
    if not base or not exponent.isdigit() or int(exponent) < 1:
        raise _unknown(original)
    if base == "z":  # "z^8" is Z^8 itself
        return IntegerLattice(int(exponent))
    block = _single(base, dim, original)
    return ProductLattice([block] * int(exponent)) if int(exponent) > 1 else block


def get_lattice(name: str, dim: int | None = None) -> Lattice:
    """The lattice called ``name`` (case-insensitive, spaces ignored).

    Examples: ``"z"`` (Z^1), ``"z4"``/``"z^4"``, ``"a2"``, ``"d4"``, ``"d4*"``, ``"e8"``,
    ``"bw16"``, ``"leech"``, ``"e8^3"``, ``"a2xd4"``; ``"an"``, ``"dn"``, ``"dn*"``,
    ``"zn"`` take the dimension from ``dim``. Unknown names raise
    :class:`rdlab.errors.InputError` listing the valid ones."""
    if not isinstance(name, str):
        raise InputError("name", f"must be a string, got {type(name).__name__}")
    token = name.strip().lower().replace(" ", "").replace("×", "x")
    if not token:
        raise _unknown(name)
    parts = token.split("x")
    if any(not p for p in parts):
        raise _unknown(name)
    lattices = [_power(p, dim, name) for p in parts]
    return lattices[0] if len(lattices) == 1 else ProductLattice(lattices)
