"""Lattices with exact, batched nearest-point decoders (torch).

Every lattice has an upper-triangular generator (rows are basis vectors, x = k @ G, so
coordinate x_j depends on k_0..k_j only), its Voronoi volume, the published normalized
second moment where known, and ``nearest`` / ``coefficients`` / ``points`` /
``sample_voronoi`` / ``scaled`` / ``unit_volume`` / ``second_moment_mc``.

Available: Z^n, A_n, D_n, D_n*, E8, BW16, the Leech lattice, and products of these
(:func:`get_lattice` parses names such as ``"e8^3"`` or ``"a2xd4"``). Figures of merit
(``KNOWN_G``, high-rate gaps) live in :mod:`rdlab.theory.lattice`.
"""

from .barnes_wall import BarnesWallLattice
from .base import Lattice
from .classical import AnLattice, DnDualLattice, DnLattice, IntegerLattice
from .codes import golay_codewords, rm14_codewords
from .cosets import CodeCosetLattice
from .e8 import E8Lattice
from .leech import LeechLattice
from .names import available_lattices, get_lattice
from .product import ProductLattice

__all__ = [
    "AnLattice",
    "BarnesWallLattice",
    "CodeCosetLattice",
    "DnDualLattice",
    "DnLattice",
    "E8Lattice",
    "IntegerLattice",
    "Lattice",
    "LeechLattice",
    "ProductLattice",
    "available_lattices",
    "get_lattice",
    "golay_codewords",
    "rm14_codewords",
]
