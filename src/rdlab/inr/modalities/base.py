"""What every modality of the INR codec provides: the :class:`Modality` base class and the
:class:`Prepared` signal.

A modality turns its signal into an array ``(*spatial, C)`` of normalized float values
(what the networks fit) plus the side information the decoder needs (JSON metadata and
optional extra chunks), and back; it reads and writes its files, measures distortion and
names its rate unit. Nothing here imports a reader or a metric, so that listing the
modalities stays cheap (the command line builds its parser from them).
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from ..._files import check_output
from ...errors import FormatError, InputError

__all__ = ["Architecture", "Modality", "Prepared", "invalid_metadata", "positive_number"]

#: a network for one modality: the patch shape (samples per axis) and the keyword
#: arguments of :class:`rdlab.nn.bayes_inr.INRConfig`
Architecture = tuple[tuple[int, ...], dict[str, Any]]


@dataclass
class Prepared:
    """A signal ready for fitting.

    Attributes:
        values: float32 ``(*spatial, C)``, the normalized values the networks fit.
        meta: what the decoder needs besides the weights (JSON-serializable).
        chunks: extra chunk payloads by 4-character tag (side information).
        items: the rate's denominator (pixels, seconds, atoms, pixels of all frames).
    """

    values: np.ndarray
    meta: dict[str, Any]
    chunks: dict[str, bytes] = field(default_factory=dict)
    items: float = 1.0


class Modality(ABC):
    """One kind of signal the INR codec codes (subclass it, then
    :func:`rdlab.inr.modalities.register_modality` an instance).

    Class attributes:
        name: the modality's name, as model files and ``--modality`` give it.
        suffixes: lower-case file suffixes it reads (compound ones like ``.pdb.gz``
            allowed); :meth:`detect` and the training and benchmark folders use them.
        output_suffix: the suffix of a decoded file when the user names none.
        output_suffixes: the suffixes :meth:`write` takes (empty: ``output_suffix``
            alone); :meth:`check_output` refuses others before decoding.
        rate_keyword: the budget's keyword (``INRCodec(bpp=...)``) and the key of the
            rate in reports and benchmark points.
        rate_unit: the rate unit as printed (``"bpp"``, ``"kbit/s"``, ``"bits/atom"``).
        rate_scale: bits per item in one rate unit: 1, or 1000 for kbit/s (items are
            seconds): ``rate = bits / items / rate_scale``.
        fit: encoder settings over :data:`rdlab.inr.coding.DEFAULT_FIT` (a model
            file's own settings still win).
        prior_rate_fraction: the training rate of the bundled prior that codes a
            requested rate best, as a fraction of that rate (1: the nearest).
        payload_budget: None when the budget covers the whole file; else what the
            weight payload codes (``"coordinates"``): the budget counts the payload
            alone, the side chunks ride beside it.
        codec_version: the INR codec version the encoder writes for this modality
            (``"2"``; proteins ``"3"``); :meth:`file_version` may choose per file
            (audio with its envelope: ``"4"``).
        architecture: the default patch and network of ``rdlab train inr`` (None: the
            caller must give one).
        read_options: keyword options :meth:`read` takes (``"sample_rate"``, ...).
        optional_side: the optional side information :meth:`prepare` adds at low rates
            (audio: ``"spectral envelope"``), or None.
        writer: ``writer(path, signal, *, overwrite, protect) -> bytes written``, the
            data layer's writer that :meth:`write` calls (a ``staticmethod``).
    """

    name: str
    suffixes: tuple[str, ...] = ()
    output_suffix: str
    output_suffixes: tuple[str, ...] = ()
    rate_keyword: str
    rate_unit: str
    rate_scale: float = 1.0
    fit: Mapping[str, object] = MappingProxyType({})
    prior_rate_fraction: float = 1.0
    payload_budget: str | None = None
    codec_version: str = "2"
    architecture: Architecture | None = None
    read_options: tuple[str, ...] = ()
    optional_side: str | None = None
    writer: Callable[..., int]

    # ------------------------------------------------------------------ files
    def check_output(
        self,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        protect: tuple[str, ...] = (),
    ) -> None:
        """Refuse, before any decoding, an output :meth:`write` would refuse: a suffix it
        does not write, or a path :func:`rdlab._files.check_output` refuses.

        Raises:
            InputError: on ``output``.
        """
        name = os.fspath(path)
        allowed = self.output_suffixes or (self.output_suffix,)
        if not name.lower().endswith(allowed):
            raise InputError(
                "output", f"{name}: a decoded {self.name} is written as {', '.join(allowed)}"
            )
        check_output(name, overwrite=overwrite, protect=protect)

    def detect(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` holds a signal of this modality (default: its suffix is one of
        :attr:`suffixes`, case-insensitive)."""
        return os.fspath(path).lower().endswith(self.suffixes)

    def folder_is_signal(self, path: str | os.PathLike[str]) -> bool:
        """Whether the directory ``path`` is one signal rather than a folder of files of
        signals (video: a folder of PNG frames). Default: False."""
        return False

    @abstractmethod
    def accepts(self, signal: Any) -> bool:
        """Whether ``signal`` (in memory) is of this modality."""

    @abstractmethod
    def read(self, path: str | os.PathLike[str], **options: Any) -> Any:
        """The signal of the file ``path`` (``options``: those in :attr:`read_options`).

        Raises:
            InputError: the file cannot be read as this modality.
        """

    def write(
        self,
        path: str | os.PathLike[str],
        signal: Any,
        *,
        overwrite: bool = False,
        protect: tuple[str, ...] = (),
    ) -> int:
        """Write ``signal`` to ``path`` atomically, never over ``protect``; returns bytes
        (default: the class's :attr:`writer`, a function of the data layer).

        Raises:
            InputError: ``path`` exists (without ``overwrite``), is protected or has a
                suffix the writer does not know.
        """
        return type(self).writer(path, signal, overwrite=overwrite, protect=protect)

    # ------------------------------------------------------------------ values
    @abstractmethod
    def items(self, signal: Any) -> float:
        """The rate's denominator of ``signal`` (what :attr:`Prepared.items` holds)."""

    @abstractmethod
    def prepare(self, signal: Any, **options: Any) -> Prepared:
        """``signal`` as normalized values, metadata and side chunks.

        Args:
            signal: the signal.
            options: only for a modality with :attr:`optional_side`, from the codec:
                ``rate``, the rate the file is coded at in :attr:`rate_unit`, and
                ``side_information``, whether to add the optional side information
                (None: as the modality decides from ``rate``). Training passes neither
                (no side information).
        """

    def file_version(self, prepared: Prepared) -> str:
        """The INR codec version of a file of ``prepared`` (default :attr:`codec_version`)."""
        return self.codec_version

    def check_side_information(self, side_information: bool | None) -> None:
        """Refuse ``side_information=True`` for a modality without :attr:`optional_side`
        (the codec calls this before :meth:`prepare` for such a modality).

        Raises:
            InputError: on ``side_information``.
        """
        if side_information and self.optional_side is None:
            raise InputError(
                "side_information", f"the {self.name} modality has no optional side information"
            )

    @abstractmethod
    def spatial_shape(self, meta: dict[str, Any]) -> tuple[tuple[int, ...], int]:
        """``(spatial, channels)`` of the normalized array from the file's metadata (may
        raise ``KeyError``, ``TypeError``, ``ValueError`` or ``IndexError`` on missing or
        malformed fields: the codec reports them as a :class:`~rdlab.errors.FormatError`)."""

    def check_meta(self, meta: dict[str, Any]) -> None:
        """Refuse metadata the encoder cannot have written, before any decoding (default:
        nothing to check beyond the shape).

        Raises:
            FormatError: a field is invalid (:func:`invalid_metadata`).
        """
        return None

    @abstractmethod
    def restore(
        self,
        values: np.ndarray,
        meta: dict[str, Any],
        chunks: dict[str, bytes],
        *,
        codec_version: str | None = None,
    ) -> Any:
        """Decoded normalized values (float64 ``(*spatial, C)``) back to the signal.

        Args:
            values: the networks' output.
            meta: the file's metadata.
            chunks: the file's chunk payloads by tag.
            codec_version: the file's INR codec version (None: :attr:`codec_version`).

        Raises:
            FormatError: the side information is missing or corrupt.
        """

    # ------------------------------------------------------------------ rate, quality
    @abstractmethod
    def distortion(self, reference: Any, decoded: Any) -> dict[str, float]:
        """The modality's distortion figures of ``decoded`` against ``reference``, by name
        (``"psnr_db"``, ...)."""

    def rate(self, bits: float, items: float) -> float:
        """``bits`` over ``items`` in the rate unit (bits per item / :attr:`rate_scale`)."""
        return bits / items / self.rate_scale

    def budget_bits(self, rate: float, items: float) -> float:
        """The bits that ``rate`` (in the rate unit) allows for ``items``."""
        return rate * items * self.rate_scale

    def card_facts(self, items_per_sample: float) -> dict[str, Any]:
        """Facts for a trained model's card from the training items per value sample
        (audio: the sample rate when all files had one). Default: none."""
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def positive_number(value: Any) -> bool:
    """Whether ``value`` is a finite JSON number > 0."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def invalid_metadata(key: str) -> FormatError:
    """The error for an invalid metadata field ``key`` of an INR file."""
    return FormatError(f"the INR file's metadata has an invalid {key!r}")
