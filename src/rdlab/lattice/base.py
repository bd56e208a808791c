"""The :class:`Lattice` base class: generator, volume, chunked nearest point, coefficients.

Conventions (shared by every lattice in :mod:`rdlab.lattice`):

- a lattice of dimension n is given by its generator ``G`` (float64, shape (n, n)) whose
  ROWS are basis vectors, so a point is ``x = k @ G`` for integer coefficients k;
- ``G`` is upper triangular with a positive diagonal: coordinate x_j depends on
  k_0..k_j only (an autoregressive coder of k relies on this);
- each subclass decodes in its own *native* coordinates (integer or half-integer ones for
  D_n, E8, BW16, Leech); :meth:`Lattice.scaled` multiplies the lattice by a factor,
  and every public method works in the scaled coordinates.
"""

from __future__ import annotations

import copy
import math

import torch

from ..errors import InputError

__all__ = ["CHUNK_BYTES", "Lattice", "hermite_normal_form"]

#: Bound on the temporaries one chunk of :meth:`Lattice.nearest` may allocate (bytes).
CHUNK_BYTES = 64 * 2**20

_FLOATS = (torch.float32, torch.float64)


def hermite_normal_form(vectors: list[list[int]], dim: int) -> list[list[int]]:
    """Upper-triangular (row-style Hermite normal form) basis of the integer lattice spanned
    by ``vectors`` (m integer rows of length ``dim``, rank ``dim``).

    Returns ``dim`` rows H with H[i][j] = 0 for i > j, H[j][j] > 0 and
    0 <= H[i][j] < H[j][j] for i < j; the rows generate the same lattice (unimodular
    row operations only, exact Python integers)."""
    rows = [list(map(int, v)) for v in vectors if any(v)]
    basis: list[list[int]] = []
    for col in range(dim):
        while True:  # Euclid on column ``col`` until one row is nonzero there
            nonzero = [r for r in rows if r[col] != 0]
            if len(nonzero) <= 1:
                break
            pivot = min(nonzero, key=lambda r: abs(r[col]))
            for r in nonzero:
                if r is not pivot:
                    q = r[col] // pivot[col]
                    r[:] = [a - q * b for a, b in zip(r, pivot, strict=True)]
        nonzero = [r for r in rows if r[col] != 0]
        if not nonzero:
            raise InputError("vectors", f"do not span a lattice of rank {dim}")
        pivot = nonzero[0]
        rows = [r for r in rows if r is not pivot and any(r)]
        if pivot[col] < 0:
            pivot = [-a for a in pivot]
        basis.append(pivot)
    for j in range(dim):  # reduce the entries above each pivot into [0, pivot)
        for i in range(j):
            q = basis[i][j] // basis[j][j]
            if q:
                basis[i] = [a - q * b for a, b in zip(basis[i], basis[j], strict=True)]
    return basis


class Lattice:
    """A lattice Λ ⊂ R^n with an exact nearest-point (closest vector) algorithm.

    Attributes:
        name: canonical name, e.g. ``"Z^3"``, ``"A2"``, ``"D4*"``, ``"E8"``, ``"Leech"``,
            ``"E8^3"``, ``"A2xD4"`` (unchanged by :meth:`scaled`).
        dim: the dimension n.
        generator: float64 (n, n), rows are basis vectors, upper triangular, positive
            diagonal.
        volume: |det generator|, the volume of the Voronoi cell.
        known_G: the published normalized second moment (scale invariant) or ``None``.
        scale: the factor applied to the native coordinates (1 for the standard lattice).
    """

    name: str
    dim: int
    generator: torch.Tensor
    volume: float
    known_G: float | None  # noqa: N815 (the API name; G is the standard symbol)
    scale: float

    def __init__(
        self,
        name: str,
        native_generator: torch.Tensor,
        known_G: float | None = None,
    ) -> None:
        g = native_generator.to(torch.float64)
        n = g.shape[0]
        if g.shape != (n, n) or bool(torch.any(torch.tril(g, -1) != 0)):
            raise InputError("native_generator", "must be a square upper-triangular matrix")
        if not bool(torch.all(torch.diagonal(g) > 0)):
            raise InputError("native_generator", "must have a positive diagonal")
        self.name = name
        self.dim = n
        self.known_G = known_G
        self._native_generator = g
        self._set_scale(1.0)

    # -- scaling -------------------------------------------------------------------
    def _set_scale(self, scale: float) -> None:
        self.scale = float(scale)
        self.generator = self._native_generator * self.scale
        self.volume = float(math.prod(float(v) for v in torch.diagonal(self.generator)))

    def scaled(self, factor: float) -> Lattice:
        """The lattice ``factor · Λ`` (generator, volume and nearest point all scaled)."""
        f = float(factor)
        if not math.isfinite(f) or f <= 0:
            raise InputError("factor", f"must be a positive finite number, got {factor!r}")
        out = copy.copy(self)
        out._set_scale(self.scale * f)
        return out

    def unit_volume(self) -> Lattice:
        """The lattice scaled to a Voronoi cell of volume 1."""
        return self.scaled(self.volume ** (-1.0 / self.dim))

    # -- decoding ------------------------------------------------------------------
    def _nearest_native(self, x: torch.Tensor) -> torch.Tensor:
        """Nearest point in native coordinates of the rows of ``x`` (N, n) (same dtype)."""
        raise NotImplementedError

    def _row_bytes(self, itemsize: int) -> int:
        """Estimated bytes of temporaries per decoded row (sets the chunk size)."""
        return 16 * self.dim * itemsize

    def _chunk_rows(self, itemsize: int) -> int:
        return max(1, CHUNK_BYTES // self._row_bytes(itemsize))

    def _nearest_flat(self, x: torch.Tensor) -> torch.Tensor:
        """Nearest point of each row of ``x`` (N, n), scaled coordinates, in chunks."""
        if self.scale != 1.0:
            x = x / self.scale
        rows = self._chunk_rows(x.element_size())
        if x.shape[0] <= rows:
            out = self._nearest_native(x)
        else:
            out = torch.empty_like(x)
            for start in range(0, x.shape[0], rows):
                out[start : start + rows] = self._nearest_native(x[start : start + rows])
        return out * self.scale if self.scale != 1.0 else out

    def _check_points(self, x: torch.Tensor, argument: str) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise InputError(argument, f"must be a torch.Tensor, got {type(x).__name__}")
        if x.dtype not in _FLOATS:
            raise InputError(argument, f"must be float32 or float64, got {x.dtype}")
        if x.ndim < 1 or x.shape[-1] != self.dim:
            raise InputError(
                argument, f"must have shape (..., {self.dim}) for {self.name}, got {tuple(x.shape)}"
            )
        if not bool(torch.isfinite(x).all()):
            raise InputError(argument, "contains non-finite values")
        return x.reshape(-1, self.dim)

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """Exact nearest lattice point of every vector.

        Args:
            x: float32 or float64 tensor of shape (..., n), finite.

        Returns:
            The nearest lattice points, shape (..., n), same dtype. Ties are broken
            deterministically. Work is done in chunks of bounded memory
            (:data:`CHUNK_BYTES`).
        """
        flat = self._check_points(x, "x")
        return self._nearest_flat(flat.contiguous()).reshape(x.shape)

    # -- coordinates -----------------------------------------------------------------
    def coefficients(self, points: torch.Tensor) -> torch.Tensor:
        """Integer coefficients k (int64, shape (..., n)) with ``points = k @ generator``.

        ``points`` (float32/float64, shape (..., n)) must be lattice points up to rounding
        error (e.g. the output of :meth:`nearest`); k is the rounded solution of the
        triangular system k @ generator = points, and points that are not lattice points
        (reconstruction off by more than a small tolerance) raise InputError."""
        flat = self._check_points(points, "points").to(torch.float64)
        g = self.generator
        k = torch.round(torch.linalg.solve_triangular(g, flat, upper=True, left=False))
        recon = self._points_flat(k)
        tol = 1e-3 * float(torch.diagonal(g).min()) + 1e-5 * flat.abs().amax(-1, keepdim=True)
        if bool((recon - flat).abs().gt(tol).any()):
            raise InputError("points", f"are not points of {self.name}")
        return k.to(torch.int64).reshape(points.shape)

    def _points_flat(self, k: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        """x_j = sum_i k_i g_ij (k float64 (N, n) of integers; g defaults to
        :attr:`generator`) accumulated over i = 0..n-1 elementwise (no BLAS)."""
        g = self.generator if g is None else g
        kt = k.T.contiguous()  # (n, N): contiguous rows make the products vectorize
        xt = torch.zeros(kt.shape, dtype=torch.float64)
        for i in range(self.dim):
            xt += g[i][:, None] * kt[i][None, :]  # separate multiply and add (no FMA)
        return xt.T.contiguous()

    def points(self, k: torch.Tensor) -> torch.Tensor:
        """Lattice points ``k @ generator`` (float64, shape (..., n)) of integer
        coefficients k (integer tensor, shape (..., n)), computed elementwise in a fixed
        order, so the result is bit-identical on every machine."""
        if not isinstance(k, torch.Tensor) or k.dtype.is_floating_point or k.is_complex():
            raise InputError("k", "must be an integer torch.Tensor")
        if k.ndim < 1 or k.shape[-1] != self.dim:
            raise InputError("k", f"must have shape (..., {self.dim}), got {tuple(k.shape)}")
        flat = k.reshape(-1, self.dim).to(torch.float64)
        return self._points_flat(flat).reshape(k.shape)

    # -- statistics ------------------------------------------------------------------
    def sample_voronoi(
        self,
        count: int,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> torch.Tensor:
        """``count`` points (shape (count, n), ``dtype``) uniform over the Voronoi cell of
        the origin: u = t @ generator with t ~ U[0, 1)^n, returned as u - nearest(u)."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InputError("count", f"must be a non-negative integer, got {count!r}")
        if dtype not in _FLOATS:
            raise InputError("dtype", f"must be torch.float32 or torch.float64, got {dtype}")
        t = torch.rand(count, self.dim, generator=generator, dtype=torch.float64)
        u = (t @ self.generator).to(dtype)
        return u - self._nearest_flat(u)

    def second_moment_mc(self, count: int, seed: int = 0) -> float:
        """Monte-Carlo normalized second moment G = E||e||² / (n · volume^(2/n)) from
        ``count`` uniform Voronoi-cell samples (float64, torch generator seeded ``seed``).
        The relative standard error is about 0.9 / sqrt(n · count) or less."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InputError("count", f"must be a positive integer, got {count!r}")
        gen = torch.Generator().manual_seed(int(seed))
        total = 0.0
        step = max(1, 2**21 // self.dim)
        for start in range(0, count, step):
            e = self.sample_voronoi(min(step, count - start), gen)
            total += float((e * e).sum())
        return total / count / self.dim / self.volume ** (2.0 / self.dim)

    def __repr__(self) -> str:
        scale = "" if self.scale == 1.0 else f", scale={self.scale:g}"
        return f"{type(self).__name__}({self.name!r}, dim={self.dim}{scale})"
