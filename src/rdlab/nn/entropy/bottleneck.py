"""The factorized entropy model as one module: training rate, integer tables, bytes."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch

from ...coding.quantize import quantize_probabilities
from ...coding.stream import SymbolDecoder, SymbolEncoder, check_stream_room
from ...coding.tables import FrequencyTables
from ...errors import CorruptStreamError, InputError, ModelError
from ..entropy_models import FactorizedDensity
from .base import CodingState, TrainingProxy, check_proxy, ste_round, uniform_noise

__all__ = ["EXACT_LIMIT", "EntropyBottleneck"]

EXACT_LIMIT = 2**24
"""Largest magnitude of a coded value: float32 holds every integer up to it exactly."""


class EntropyBottleneck(CodingState, FactorizedDensity):
    """A learned density per channel that also codes: CompressAI's ``EntropyBottleneck``.

    One object owns the whole life of the latent it models:

    * ``forward(y, training_proxy=...)`` gives the training proxy of ``y`` and its rate;
    * :meth:`update` turns the learned densities into **integer** frequency tables
      (once, at export: the tables are stored, never recomputed by a decoder);
    * :meth:`compress` / :meth:`decompress` range-code ``round(y)`` with them.

    The tables belong to the module's state: ``state_dict()`` holds them as
    ``table_frequencies`` (int32 ``(C, L)``, rows padded with zeros), ``table_sizes``
    (int32 ``(C,)``) and ``table_offsets`` (int64 ``(C,)``: the value of symbol 0);
    loading a state dict restores them exactly.

    Args:
        channels: C, channels of the latent (each has its own density and table).
        filters: hidden widths of the cumulative network (:class:`FactorizedDensity`).
        init_scale: initial width of the densities (latent units).
        precision: bits of the integer tables (frequencies sum to ``2**precision``).
        tail_mass: the mass a table may leave to its escape symbol (values outside a
            table's range are coded by escape, so every integer stays codable).
        max_support: the most integers a table covers.

    Shapes: latents ``(B, C, H, W)``.
    """

    coding_names = ("table_frequencies", "table_sizes", "table_offsets")

    def __init__(
        self,
        channels: int,
        filters: tuple[int, ...] = (3, 3, 3),
        init_scale: float = 10.0,
        *,
        precision: int = 16,
        tail_mass: float = 1e-9,
        max_support: int = 2048,
    ) -> None:
        super().__init__(channels, filters, init_scale)
        self.precision = int(precision)
        self.tail_mass = float(tail_mass)
        self.max_support = int(max_support)
        self._tables: FrequencyTables | None = None

    # -- training ----------------------------------------------------------------------
    def forward(
        self, y: torch.Tensor, *, training_proxy: TrainingProxy = "noise"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The training proxy of ``y`` and its rate.

        Args:
            y: latent ``(B, C, H, W)``, float.
            training_proxy: ``"noise"``, ``"ste"``, ``"mixed"`` or ``None``
                (:mod:`rdlab.nn.entropy.base`).

        Returns:
            ``(y_hat, bits)``, both shaped like ``y``: the quantized (or noisy) latent and
            the information content of each element in **bits** (``-log2`` of its bin's
            mass; sum them for the rate of an image).
        """
        check_proxy(training_proxy)
        if training_proxy in ("noise", "mixed"):
            noisy = uniform_noise(y)
            bits = -torch.log2(self.likelihood(noisy))
            return (noisy if training_proxy == "noise" else ste_round(y)), bits
        y_hat = ste_round(y) if training_proxy == "ste" else torch.round(y)
        return y_hat, -torch.log2(self.likelihood(y_hat))

    # -- the integer tables ----------------------------------------------------------------
    @torch.no_grad()
    def update(self) -> FrequencyTables:
        """Build (or rebuild) the integer tables from the learned densities and keep them.

        Each channel's bin masses on the integers that carry all but ``tail_mass`` of it
        (:meth:`FactorizedDensity.integer_tables`) plus the escape's mass are quantized
        to frequencies by :func:`rdlab.coding.quantize.quantize_probabilities`. The masses
        are computed on the CPU whatever the module's device; the integers made from
        them are what every decoder uses (stored, never recomputed).

        Returns:
            the tables (also :attr:`tables`).
        """
        density = self if self.matrices[0].device.type == "cpu" else copy.deepcopy(self).cpu()
        offsets, masses = density.integer_tables(self.tail_mass, self.max_support)
        rows = []
        for row in masses:
            used = row[: int(np.max(np.nonzero(row)[0])) + 1] if row.any() else row[:1]
            p = np.append(used, max(0.0, 1.0 - float(used.sum())))
            p = p / p.sum()
            rows.append(quantize_probabilities(p, self.precision, name="z masses"))
        self._tables = self._checked(
            FrequencyTables(tuple(rows), offsets, True, self.precision, _description())
        )
        return self._tables

    @property
    def tables(self) -> FrequencyTables:
        """The integer tables (one per channel, with escape).

        Raises:
            ModelError: none were built (:meth:`update`) or loaded.
        """
        if self._tables is None:
            raise ModelError(
                "entropy bottleneck: no integer tables; call update() or load a state "
                "dict that holds them"
            )
        return self._tables

    def _checked(self, tables: FrequencyTables) -> FrequencyTables:
        if len(tables) != self.channels:
            raise ModelError(
                f"entropy bottleneck: {len(tables)} tables for {self.channels} channels"
            )
        return tables

    def coding_arrays(self) -> dict[str, np.ndarray]:
        if self._tables is None:
            return {}
        tables = self._tables
        width = max(f.size for f in tables.frequencies)
        freq = np.zeros((len(tables), width), dtype=np.int32)
        for i, f in enumerate(tables.frequencies):
            freq[i, : f.size] = f
        return {
            "table_frequencies": freq,
            "table_sizes": tables.sizes.astype(np.int32),
            "table_offsets": tables.offsets.astype(np.int64),
        }

    def set_coding_arrays(self, arrays: dict[str, np.ndarray] | None) -> None:
        """Tables from :meth:`coding_arrays`' arrays (``None``: none).

        Raises:
            ModelError: missing or inconsistent arrays, or tables that do not sum to
                ``2**precision``.
        """
        self._tables = None
        if arrays is None:
            return
        try:
            freq, sizes, offsets = (arrays[name] for name in self.coding_names)
        except KeyError as exc:
            raise ModelError(f"entropy bottleneck: missing table array {exc}") from None
        if (
            freq.ndim != 2
            or sizes.shape != (freq.shape[0],)
            or offsets.shape != (freq.shape[0],)
            or (sizes < 1).any()
            or (sizes > freq.shape[1]).any()
        ):
            raise ModelError("entropy bottleneck: tables have inconsistent shapes")
        rows = tuple(freq[i, : int(sizes[i])].astype(np.int64) for i in range(freq.shape[0]))
        try:
            tables = FrequencyTables(
                rows, offsets.astype(np.int64), True, self.precision, _description()
            )
        except InputError as exc:
            raise ModelError(f"entropy bottleneck: bad tables ({exc})") from None
        self._tables = self._checked(tables)

    # -- coding ------------------------------------------------------------------------
    def channel_indexes(self, shape: tuple[int, ...]) -> np.ndarray:
        """The table of every element of a latent of ``shape`` ``(B, C, ...)``: its channel."""
        if len(shape) < 2 or shape[1] != self.channels or min(shape) < 0:
            raise InputError(
                "shape",
                f"must be (B, {self.channels}, ...) for {self.channels} channels, "
                f"got {tuple(shape)}",
            )
        view = np.arange(self.channels).reshape(1, -1, *([1] * (len(shape) - 2)))
        return np.broadcast_to(view, tuple(shape))

    def compress(self, y: torch.Tensor) -> bytes:
        """Range-code ``round(y)`` with the integer tables.

        Args:
            y: latent ``(B, C, ...)`` (any float tensor); the whole batch is one stream.

        Returns:
            the stream's bytes.

        Raises:
            InputError: ``y`` is not finite, or rounds beyond ``±2**24``.
            ModelError: no tables (:meth:`update`).
        """
        tables = self.tables
        values = torch.round(y.detach()).cpu()
        if not bool(torch.isfinite(values).all()):
            raise InputError("y", "holds NaN or infinite values")
        if values.numel() and float(values.abs().max()) > EXACT_LIMIT:
            raise InputError("y", "rounds to values beyond ±2**24, which float32 cannot hold")
        symbols = values.numpy().astype(np.int64)
        encoder = SymbolEncoder()
        encoder.encode_values(symbols, self.channel_indexes(symbols.shape), tables)
        return encoder.to_bytes()

    def decompress(
        self, data: bytes, shape: Any, *, what: str = "entropy bottleneck stream"
    ) -> torch.Tensor:
        """Inverse of :meth:`compress`: ``round(y)`` as float32, on this module's device.

        Args:
            data: the stream.
            shape: the latent's shape ``(B, C, ...)``.
            what: names the stream in error messages.

        Raises:
            LengthError: ``data`` is too short for ``shape`` (checked before decoding).
            CorruptStreamError: ``data`` is not such a stream; its subclass
                :class:`~rdlab.errors.StreamEndError` when it does not end with the last
                symbol.
        """
        tables = self.tables
        indexes = self.channel_indexes(tuple(int(v) for v in shape))
        least = indexes.size // self.channels * float(tables.least_bits().sum())
        check_stream_room(len(data), least, f"{what}: {indexes.size} values")
        decoder = SymbolDecoder(data)
        values = decoder.decode_values(indexes, tables)
        decoder.finish(what)
        if np.abs(values).max(initial=0) > EXACT_LIMIT:
            raise CorruptStreamError(f"{what}: a value is out of range")
        device = self.matrices[0].device
        return torch.from_numpy(values.astype(np.float32)).to(device)


def _description() -> dict[str, Any]:
    return {"kind": "entropy-bottleneck"}
