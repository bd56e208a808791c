"""Exact decoding of lattices that are unions of cosets of a scaled D_n indexed by a
binary code (BW16 and the Leech lattice).

The lattice is Λ = ∪_h ∪_{c ∈ C} (o_h·1 + s·c + q·Y_h) with Y_h = {y ∈ Z^n : sum y ≡ r_h
(mod 2)}, for a binary linear code C (M codewords of length n), a code step s, a coset
step q and "halves" h with offsets o_h and parities r_h.

Fast exact decoder (per vector x; costs in units of q²):

1. per coordinate j, half h and code bit b, the nearest point of qZ + o_h + s·b is
   o_h + s·b + q·y with error e = (x_j − o_h − s·b)/q − y (cost e²); the nearest point
   of opposite parity of y (y ± 1 towards x_j) costs δ = 1 − 2|e| more;
2. with every coordinate at its nearest point, codeword c of half h costs
   L(c) = D0_h + Δd_h · c: one float32 GEMM (B·H, n) @ (n, M) for all cosets. L is a
   lower bound of the true cost T(c), which adds min_j δ_j over the coordinates of c
   when the parity of sum y is wrong (the D_n rule: moving one coordinate is optimal);
3. the coset with the smallest L is evaluated exactly, giving an achievable cost U;
   every coset with L < U (+ a rounding slack) is evaluated exactly and the best one
   wins (ties: the lowest coset index). No other coset can be nearer, so the result is
   exact; typically only a handful of cosets are candidates.

:meth:`CodeCosetLattice.nearest_naive` is the slow reference: one D_n decode per coset.
"""

from __future__ import annotations

import torch

from .base import Lattice
from .classical import nearest_dn

__all__ = ["CodeCosetLattice"]

#: Slack (units of q²) on the float32 lower bounds: costs are at most n/4 + 1, so float32
#: rounding stays far below it; a larger slack only adds candidates.
_MARGIN = 1e-3


class CodeCosetLattice(Lattice):
    """A union of code-indexed cosets of q·D_n-like sets (see the module docstring).

    Args:
        name: canonical name.
        native_generator: float64 (n, n) upper-triangular generator in native coordinates.
        known_G: published normalized second moment or None.
        codewords: int64 0/1 (M, n), every codeword of the binary code.
        code_step: s, the multiple of a codeword added.
        coset_step: q, the scale of the integer part.
        halves: (offset o_h, parity r_h) pairs.
    """

    def __init__(
        self,
        name: str,
        native_generator: torch.Tensor,
        known_G: float | None,
        codewords: torch.Tensor,
        code_step: float,
        coset_step: float,
        halves: tuple[tuple[float, int], ...],
    ) -> None:
        super().__init__(name, native_generator, known_G)
        self._codewords = codewords
        self._code_step = float(code_step)
        self._coset_step = float(coset_step)
        self._halves = halves
        self._code_t = codewords.T.to(torch.float32).contiguous()

    # -- sizes -----------------------------------------------------------------------
    @property
    def _cosets(self) -> int:
        return len(self._halves) * self._codewords.shape[0]

    def _row_bytes(self, itemsize: int) -> int:
        return 12 * self._cosets + 64 * len(self._halves) * self.dim * itemsize

    def _chunk_rows(self, itemsize: int) -> int:
        # keep the (H, B, M) float32 bound table near cache size (16 MiB; measured: about
        # 512 rows is best for the Leech lattice), but at least 128 rows per Python pass
        return max(128, min(super()._chunk_rows(itemsize), 2**24 // (4 * self._cosets)))

    # -- fast exact decoder ------------------------------------------------------------
    def _pairs(
        self,
        rows: torch.Tensor,
        coset: torch.Tensor,
        y: torch.Tensor,
        e: torch.Tensor,
        required: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        """Exact cost of coset ``coset`` (P,) (= h·M + codeword index) for the vectors
        ``rows`` (P,), from the (B, 2H, n) tables y (nearest integer) and e (error).

        Returns cost (P,) in units of q², table index sel (P, n) = 2h + c, the
        nearest integers y_sel (P, n), errors e_sel (P, n), wrong parity (P,) bool and
        the cheapest coordinate to move (P,)."""
        m, n = self._codewords.shape
        half = torch.div(coset, m, rounding_mode="floor")
        sel = 2 * half[:, None] + self._codewords[coset % m]
        cols = torch.arange(n)[None, :]
        e_sel = e[rows[:, None], sel, cols]
        y_sel = y[rows[:, None], sel, cols]
        cost = (e_sel * e_sel).sum(-1)
        wrong = torch.remainder(y_sel.sum(-1) - required[half], 2) != 0
        extra, where = (1 - 2 * e_sel.abs()).min(-1)
        return cost + wrong.to(cost.dtype) * extra, sel, y_sel, e_sel, wrong, where

    def _nearest_native(self, x: torch.Tensor) -> torch.Tensor:
        b_rows, n = x.shape
        dt = x.dtype
        h_count = len(self._halves)
        m = self._codewords.shape[0]
        s, q = self._code_step, self._coset_step
        t = torch.tensor([o + s * b for o, _ in self._halves for b in (0, 1)], dtype=dt)
        required = torch.tensor([r for _, r in self._halves], dtype=dt)
        r = (x[:, None, :] - t[None, :, None]) / q  # (B, 2H, n)
        y = torch.round(r)
        e = r - y
        d = e * e
        even, odd = d[:, 0::2], d[:, 1::2]  # (B, H, n)
        # lower bounds (parity ignored) of every coset: one float32 GEMM, (H·B, M)
        lhs = (odd - even).transpose(0, 1).reshape(h_count * b_rows, n).float()
        base = even.sum(-1).T.float()  # (H, B)
        extra = (lhs @ self._code_t).view(h_count, b_rows, m)  # L = base + extra
        # blocks of 64 codewords: block minima are cheap (amin) and locate candidates
        width = 64 if m % 64 == 0 else m
        blocks = extra.view(h_count, b_rows, m // width, width)
        block_min = blocks.amin(-1)  # (H, B, m/width)
        at = block_min.argmin(-1, keepdim=True)  # (H, B, 1)
        inner = blocks.gather(2, at[..., None].expand(-1, -1, -1, width))[:, :, 0].argmin(-1)
        half = (block_min.gather(2, at)[..., 0] + base).argmin(0)  # (B,)
        first = at[..., 0] * width + inner  # (H, B) best codeword per half
        first = half * m + first.gather(0, half[None])[0]
        everyone = torch.arange(b_rows)
        upper = self._pairs(everyone, first, y, e, required)[0]  # an achievable cost
        # every coset whose bound is below the achievable cost is a candidate
        limit = (upper.float() + _MARGIN)[None, :] - base  # (H, B)
        hh, rr, bb = torch.nonzero(block_min < limit[..., None], as_tuple=True)
        values = blocks[hh, rr, bb]  # (P, width)
        pp, ww = torch.nonzero(values < limit[hh, rr][:, None], as_tuple=True)
        hh, rr, ww = hh[pp], rr[pp], bb[pp] * width + ww
        coset = hh * m + ww
        block = 2**16  # pairs per block: bounded memory even when many cosets tie
        cost = torch.cat(
            [
                self._pairs(rr[i : i + block], coset[i : i + block], y, e, required)[0]
                for i in range(0, rr.numel(), block)
            ]
        )
        best = torch.full((b_rows,), torch.inf, dtype=dt).scatter_reduce(0, rr, cost, "amin")
        winner = cost == best[rr]
        pair = torch.arange(rr.numel())
        chosen = torch.full((b_rows,), rr.numel(), dtype=torch.int64)
        chosen = chosen.scatter_reduce(0, rr[winner], pair[winner], "amin")
        _, sel, y_sel, e_sel, wrong, where = self._pairs(everyone, coset[chosen], y, e, required)
        if bool(wrong.any()):
            step = torch.where(e_sel.gather(1, where[:, None]) >= 0, 1.0, -1.0).to(dt)
            y_sel = y_sel.scatter_add(1, where[:, None], step * wrong[:, None].to(dt))
        return t[sel] + q * y_sel

    # -- slow reference ------------------------------------------------------------------
    def nearest_naive(self, x: torch.Tensor) -> torch.Tensor:
        """Reference decoder: one D_n decode per coset (H·M of them), keep the nearest.
        Same contract as :meth:`nearest`, much slower (for tests and benchmarks)."""
        flat = self._check_points(x, "x") / self.scale
        out = torch.empty_like(flat)
        rows = max(1, 2**22 // (self._cosets * self.dim))
        for start in range(0, flat.shape[0], rows):
            out[start : start + rows] = self._naive_chunk(flat[start : start + rows])
        return (out * self.scale).reshape(x.shape)

    def _naive_chunk(self, x: torch.Tensor) -> torch.Tensor:
        b_rows, n = x.shape
        dt = x.dtype
        s, q = self._code_step, self._coset_step
        best = torch.full((b_rows,), torch.inf, dtype=dt)
        point = torch.zeros_like(x)
        unit = torch.zeros(n, dtype=dt)
        unit[0] = 1.0
        for offset, par in self._halves:
            shift = offset + s * self._codewords.to(dt)  # (M, n)
            z = (x[:, None, :] - shift[None]) / q - par * unit
            y = nearest_dn(z.reshape(-1, n)).view(b_rows, -1, n) + par * unit
            cand = shift[None] + q * y
            dist = ((x[:, None, :] - cand) ** 2).sum(-1)
            value, arg = dist.min(-1)
            better = value < best
            best = torch.where(better, value, best)
            chosen = cand.gather(1, arg[:, None, None].expand(-1, 1, n))[:, 0]
            point = torch.where(better[:, None], chosen, point)
        return point
