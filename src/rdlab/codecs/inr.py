"""The Bayesian implicit-neural-representation codec (``inr``): images, audio, protein
C-alpha traces and video, coded as a relative-entropy-coded sample of network weights.

``encode(signal)`` normalizes the signal with its modality (a
:class:`rdlab.inr.modalities.Modality` from the registry), cuts it into
patches (:mod:`rdlab.inr.patches`), fits a Gaussian posterior over each patch's network
weights against the model's learned prior and codes one weight sample block by block
with ordered random coding, fine-tuning the rest after each group of blocks
(:mod:`rdlab.inr.coding`). The file (compact container, codec version 2) holds the
``k``-bit candidate indices (chunk ``INRW``), the metadata the decoder needs (shape,
seed if not 0, ...) and the modality's side chunks (proteins: the residue sequence,
numbering and chain, chunk ``PROT``; low-rate audio: the spectral envelope, chunk
``ENVL``, codec version 4). The prior is named by its hash alone (the
container's 8 bytes; the decoder finds it among the bundled models, or takes
``--model``) and the block count by the payload's length: at
0.2 bpp a 256x256 image has 1.6 kB, so every header byte saved is a byte more for the
weights. Version 1 files (long container, model name and block count in the metadata)
still decode.

``decode`` regenerates the coded vectors from the shared randomness (bit-exact float64),
maps them to weights with the model's learned linear reparameterization if it has one
(:meth:`rdlab.inr.model_file.INRModel.network_weights`, fixed-order float64) and
evaluates the networks with :func:`rdlab.nn.bayes_inr.evaluate_deterministic`: the decoded
signal is the same on every machine, thread count and batch split. ``encode`` fits by
float32 gradient descent, so its bytes can differ between PyTorch thread counts (both
files are valid and each decodes the same everywhere); fix the threads to repeat an
encode byte for byte.

Rate: ``bits``, or per item, by the modality's keyword (:attr:`Modality.rate_keyword`):
``bpp`` (images, video: bits per pixel), ``kbps`` (audio), ``bits_per_atom`` (proteins).
For images, video and audio the budget is the whole file (header included); for proteins
(:attr:`Modality.payload_budget`) it is the coded coordinates (the weight payload), as
protein structure compression counts it: the residue sequence, numbering and chain are
lossless side information beside it (about 4.4 bits per residue for the sequence plus a
fixed header; ``last_report["file_bits"]`` has the whole file). The number of blocks is
the largest that fits the budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._arrays import optional_limit
from ..container import Chunk, RdlFile, decode_rdl, encode_rdl, hash_matches
from ..errors import FormatError, InputError, ModelError, SizeLimitError
from ..inr.blocks import block_layout, min_blocks
from ..inr.coding import decode_weights, encode_weights, fit_settings
from ..inr.modalities import Modality, get_modality, modality_for_signal, modality_names
from ..inr.modalities.audio import ENVELOPE_VERSION
from ..inr.model_file import INRModel, bundled_inr_models, load_inr_model
from ..inr.patches import from_patches, patch_coordinates, patch_grid, to_patches
from ..nn.bayes_inr import evaluate_deterministic
from ..rec.blockwise import prepare_pool
from .registry import register_codec

__all__ = [
    "INRCodec",
    "choose_model",
    "encoder_settings",
    "implicit_log2_candidates",
]

NAME = "inr"
#: version 2 writes the compact container and leaves out what the decoder can find
#: itself: the model's name (found by hash among the bundled models) and the block count
#: (from the payload's length). Version 1 files (long container) still decode.
#: Version 3 is version 2 with a sentinel in a protein's residue sequence, so that its
#: length pins the atom count (a count in the metadata that disagrees is refused); the
#: encoder writes each modality's :attr:`~rdlab.inr.modalities.Modality.codec_version`:
#: 3 for proteins, 4 for audio with an envelope and version 2, byte for byte as before,
#: otherwise.
#: Version 4 is version 2 where audio may carry a coded spectral envelope and code a
#: decimated signal (:mod:`rdlab.inr.modalities.audio`).
VERSION = "2"
PROTEIN_VERSION = "3"
AUDIO_VERSION = ENVELOPE_VERSION  # "4"
VERSIONS = ("1", VERSION, PROTEIN_VERSION, AUDIO_VERSION)
_TAG = "INRW"
MAX_SAMPLES = 1 << 26
"""Default of ``max_samples``: the most samples (pixels of all frames, audio samples,
atoms) a file to decode may declare."""


def choose_model(modality: str, rate_per_item: float | None) -> INRModel:
    """The bundled model of ``modality`` whose training rate (``card["rate_per_item"]``) is
    closest in log scale to ``rate_per_item`` times the modality's
    :attr:`~rdlab.inr.modalities.Modality.prior_rate_fraction` (the middle one when
    None)."""
    names = bundled_inr_models(modality)
    if not names:
        raise ModelError(f"no bundled INR model for {modality}; pass a model file")
    models = sorted(
        (load_inr_model(n) for n in names), key=lambda m: float(m.card.get("rate_per_item", 1.0))
    )
    if rate_per_item is None:
        return models[len(models) // 2]
    fraction = get_modality(modality).prior_rate_fraction
    target = math.log(max(rate_per_item * fraction, 1e-9))

    def distance(m: INRModel) -> float:
        return abs(math.log(float(m.card.get("rate_per_item", 1.0))) - target)

    return min(models, key=distance)


def encoder_settings(
    model: INRModel,
    *,
    steps: int | None = None,
    fine_tune_steps: int | None = None,
    **others: object,
) -> dict[str, object]:
    """The encoder settings of ``model`` (:func:`rdlab.inr.coding.fit_settings`) with the
    caller's ``steps``, ``fine_tune_steps`` and ``others`` (None: the model's).

    ``steps`` bounds the whole fit: when it is below the model's and ``fine_tune_steps``
    is not given, the fine-tuning after each group of coded blocks is cut in the same
    proportion (rounded down: ``steps=1`` fine-tunes nothing, where it used to run the
    model's 60 steps after each of 11 groups). With neither given the settings are the
    model's, so the default encoding is unchanged.

    Args:
        model: the INR model (its own settings over the modality's and the defaults).
        steps: posterior fitting steps, >= 1, or None.
        fine_tune_steps: steps after each coded group, >= 0, or None.
        others: further settings of :data:`rdlab.inr.coding.DEFAULT_FIT` (None: the
            model's).

    Returns:
        The settings dict :func:`rdlab.inr.coding.encode_weights` takes.
    """
    settings = fit_settings(model, steps=steps, fine_tune_steps=fine_tune_steps, **others)
    if steps is not None and fine_tune_steps is None:
        base = fit_settings(model)
        tune, full = int(base["fine_tune_steps"]), int(base["steps"])
        if steps < full:
            settings["fine_tune_steps"] = tune * int(steps) // full
    return settings


class INRCodec:
    """Codec options: ``model`` (an :class:`INRModel`, bundled name or path; None: chosen
    by modality and rate), ``modality`` (a registered name, :mod:`rdlab.inr.modalities`;
    None: from the signal's type), one of ``bits`` / ``bpp`` / ``kbps`` /
    ``bits_per_atom`` or another registered modality's rate keyword (``other_rates``;
    None: the model's training rate), ``seed`` (shared randomness), ``steps`` (fitting
    steps; None: the model's), ``fine_tune_steps`` (after each group of coded blocks;
    None: the model's, cut in proportion when fewer ``steps`` are asked for, see
    :func:`encoder_settings`), ``progress`` (callable ``(stage, done, total)``; stages
    ``"candidates"``, ``"fit"``, ``"code"``), ``side_information`` (the modality's
    :attr:`~rdlab.inr.modalities.Modality.optional_side`, audio's spectral envelope:
    True / False, or None: as the modality decides from the rate, for audio at most
    12 kbit/s).

    Raises:
        InputError: an unknown modality or option, more than one rate, a rate or step
            count out of range.
    """

    name = NAME
    version = VERSION
    description = "Bayesian implicit neural representation, relative entropy coded weights"

    def __init__(
        self,
        model: INRModel | str | None = None,
        *,
        modality: str | None = None,
        bits: float | None = None,
        bpp: float | None = None,
        kbps: float | None = None,
        bits_per_atom: float | None = None,
        seed: int = 0,
        steps: int | None = None,
        fine_tune_steps: int | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        max_samples: int | None = MAX_SAMPLES,
        side_information: bool | None = None,
        **other_rates: float | None,
    ) -> None:
        if side_information is not None and not isinstance(side_information, bool):
            raise InputError(
                "side_information", f"must be True, False or None, got {side_information!r}"
            )
        self.side_information = side_information
        self.max_samples = optional_limit(max_samples, "max_samples")
        self.model = load_inr_model(model) if isinstance(model, str) else model
        if modality is not None:
            get_modality(modality)  # InputError for an unknown name
        self.modality = modality
        keywords = {get_modality(name).rate_keyword for name in modality_names()}
        for key in other_rates:
            if key not in keywords:
                known = ", ".join(sorted(keywords))
                raise InputError(key, f"is not an option of the INR codec (rates: {known})")
        rates = {"bits": bits, "bpp": bpp, "kbps": kbps, "bits_per_atom": bits_per_atom}
        given = {k: v for k, v in {**rates, **other_rates}.items() if v is not None}
        if len(given) > 1:
            names = ", ".join(["bits", *sorted(keywords)])
            raise InputError("rate", f"give one of {names}, not {given}")
        for key, value in given.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise InputError(key, f"must be a finite number > 0, got {value!r}")
        self.rate = next(iter(given.items()), None)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise InputError("seed", f"must be an integer in 0..2^32-1, got {seed!r}")
        self.seed = seed
        for key, value, least in (("steps", steps, 1), ("fine_tune_steps", fine_tune_steps, 0)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < least
            ):
                raise InputError(key, f"must be an integer >= {least}, got {value!r}")
        self.overrides = {"steps": steps, "fine_tune_steps": fine_tune_steps}
        self.progress = progress
        self.last_report: dict[str, Any] = {}

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def signal_modality(signal: Any) -> str:
        """The name of the registered modality that takes ``signal``
        (:func:`rdlab.inr.modalities.modality_for_signal`)."""
        return modality_for_signal(signal).name

    def _rate_per_item(self, modality: Modality, items: float) -> float | None:
        """The requested rate in the modality's unit (bits per pixel / atom, kbit/s)."""
        if self.rate is None:
            return None
        key, value = self.rate
        if key == "bits":
            return modality.rate(value, items)
        expected = modality.rate_keyword
        if key != expected:
            option = "--" + expected.replace("_", "-")
            raise InputError(key, f"does not apply to {modality.name}; use {expected} ({option})")
        return float(value)

    def _budget_bits(self, modality: Modality, items: float, model: INRModel) -> float:
        per = self._rate_per_item(modality, items)
        if per is None:
            per = float(model.card.get("rate_per_item", 1.0))
        return modality.budget_bits(per, items)

    # ------------------------------------------------------------------ encode
    def encode(self, signal: Any) -> bytes:
        modality = get_modality(self.modality) if self.modality else modality_for_signal(signal)
        requested = self._rate_per_item(modality, modality.items(signal))
        model = self.model
        if model is None:
            model = choose_model(modality.name, requested)
        if model.modality != modality.name:
            raise ModelError(f"model {model.name!r} codes {model.modality}, not {modality.name}")
        rate = float(model.card.get("rate_per_item", 1.0)) if requested is None else requested
        if modality.optional_side is None:
            modality.check_side_information(self.side_information)
            prepared = modality.prepare(signal)
        else:
            prepared = modality.prepare(signal, rate=rate, side_information=self.side_information)
        samples = math.prod(prepared.values.shape[:-1])
        if self.max_samples is not None and samples > self.max_samples:  # as the decoder
            raise InputError(
                "input",
                f"the {modality.name} has {samples} samples, more than the INR decoder's "
                f"limit of {self.max_samples} (max_samples): its file would not decode",
            )
        patches = to_patches(prepared.values, model.patch)
        num_patches = patches.shape[0]
        settings = encoder_settings(model, **self.overrides)
        k = int(settings["log2_candidates"])
        budget = self._budget_bits(modality, prepared.items, model)

        def build(num_blocks: int, payload: bytes) -> bytes:
            # Kept short: at 0.2 bpp a 256x256 image is 1.6 kB, and every header byte is
            # a byte less for the weights. The model is named by its hash (8 bytes in the
            # compact container); the block count only where the payload's length does
            # not give it.
            meta: dict[str, Any] = dict(prepared.meta)
            if _blocks_in(len(payload), k) != num_blocks:
                meta["blocks"] = num_blocks
            if k != implicit_log2_candidates(model):
                meta["k"] = k
            if self.seed:
                meta["seed"] = self.seed
            chunks = [Chunk(_TAG, payload)] + [Chunk(t, b) for t, b in prepared.chunks.items()]
            version = modality.file_version(prepared)
            file = RdlFile(NAME, version, model.hash, meta, tuple(chunks))
            return encode_rdl(file, compact=True)

        fewest = min_blocks(num_patches * model.num_params)

        def file_bits(blocks: int) -> int:
            payload_bytes = -(-blocks * k // 8)
            if modality.payload_budget:  # the budget counts the coded weights only
                return 8 * payload_bytes
            return 8 * len(build(blocks, bytes(payload_bytes)))

        overhead = file_bits(fewest) - fewest * k
        num_blocks = min(int((budget - overhead) // k), num_patches * model.num_params)
        while num_blocks >= fewest and file_bits(num_blocks) > budget:
            num_blocks -= 1  # the block count's own digits, byte padding
        if num_blocks < fewest:
            least = modality.rate(file_bits(fewest), prepared.items)
            raise InputError(
                "rate",
                f"is too low for model {model.name!r} on this signal: at least {least:.4g} "
                f"{modality.rate_unit} ({fewest} blocks of {k} bits plus the header)",
            )
        # the 2^k candidates every block is scored on, built ahead so that the progress
        # says what the encoder is doing: for images 2^16 x up to 256 normals (about
        # 2 s), as much work as a hundred fitting steps of a 128x128 image
        partition = block_layout(model.kl_profile, num_patches, num_blocks, self.seed).partition
        progress = self.progress
        prepare_pool(
            self.seed,
            k,
            partition.max_dims,
            progress=None if progress is None else (lambda d, t: progress("candidates", d, t)),
        )
        encoded = encode_weights(
            model,
            patch_coordinates(model.patch),
            patches,
            num_blocks=num_blocks,
            seed=self.seed,
            settings=settings,
            progress=self.progress,
        )
        data = build(num_blocks, encoded.payload)
        self.last_report = {
            "modality": modality.name,
            "model": model.name,
            "blocks": num_blocks,
            "payload_bits": encoded.payload_bits,
            "file_bits": 8 * len(data),
            "items": prepared.items,
            "block_kl_mean_bits": float(encoded.block_kl_bits.mean()),
            "block_kl_max_bits": float(encoded.block_kl_bits.max()),
            "selection": str(settings["selection"]),
        }
        return data

    # ------------------------------------------------------------------ decode
    def decode(self, data: bytes) -> Any:
        """The signal of an INR file (image array, :class:`~rdlab.data.audio.Audio`,
        :class:`~rdlab.data.proteins.CaTrace` or :class:`~rdlab.data.video.Video`).

        Raises:
            FormatError: the file is invalid; its metadata is checked before any
                decoding: sizes of at least one sample, the block count against the
                payload's length (:class:`~rdlab.errors.CountMismatchError`), at most
                ``max_samples`` samples (:class:`~rdlab.errors.SizeLimitError`).
            ModelError: its model is neither bundled nor the one given.
        """
        file = decode_rdl(data, codecs={NAME: VERSIONS})
        meta = file.metadata
        model = self._model_for(file)
        modality = get_modality(model.modality)
        try:
            k = _whole(meta.get("k", implicit_log2_candidates(model)), 1, 32)
            seed = _whole(meta.get("seed", 0), 0, 2**32 - 1)
            if "blocks" in meta:
                num_blocks = _whole(meta["blocks"], 1, None)
            elif file.codec_version == "1":
                raise KeyError("blocks")
            else:
                num_blocks = _blocks_in(len(file.chunk(_TAG)), k)
        except (KeyError, TypeError, ValueError):
            raise FormatError("the INR file's metadata is incomplete") from None
        spatial, channels = _spatial_shape(modality, meta)
        if channels != model.config.out_dim:
            raise FormatError("the file's channels do not match its model")
        self._check_signal_meta(modality, meta, spatial)
        num_patches = math.prod(patch_grid(spatial, model.patch))
        weights = decode_weights(
            model,
            file.chunk(_TAG),
            num_patches=num_patches,
            num_blocks=num_blocks,
            seed=seed,
            log2_candidates=k,
        )
        return self.reconstruct(model, weights, modality.name, meta, file)

    def _check_signal_meta(
        self, modality: Modality, meta: dict[str, Any], spatial: tuple[int, ...]
    ) -> None:
        """Refuse signal metadata the encoder cannot have written, or a signal larger than
        ``max_samples``, before any decoding (``FormatError``, ``SizeLimitError``)."""
        if any(size < 1 for size in spatial):
            raise FormatError(f"the INR file declares an empty signal (shape {list(spatial)})")
        samples = math.prod(spatial)
        if self.max_samples is not None and samples > self.max_samples:
            raise SizeLimitError(
                f"the INR file declares {samples} samples ({modality.name}, shape "
                f"{list(spatial)}), more than this decoder's limit of {self.max_samples} "
                "(max_samples)"
            )
        modality.check_meta(meta)

    def file_modality(self, data: bytes) -> str:
        """The modality (``"image"``, ``"audio"``, ...) of an INR file, read from the model
        its header names, without decoding the signal.

        Raises:
            FormatError: ``data`` is not a valid INR file.
            ModelError: its model is neither bundled nor the one given.
        """
        return self._model_for(decode_rdl(data, codecs={NAME: VERSIONS})).modality

    def _model_for(self, file: RdlFile) -> INRModel:
        """The model a file was made with: the given one, else the bundled one named in
        the metadata (version 1) or whose hash the file holds (version 2)."""
        name = file.metadata.get("model")
        if self.model is not None and (name is None or self.model.name == name):
            model = self.model
        elif name is not None:
            try:
                model = load_inr_model(str(name))
            except ModelError:
                raise ModelError(
                    f"the file was made with INR model {name!r}, which is not bundled: "
                    "pass it with --model"
                ) from None
        else:
            bundled = (load_inr_model(n) for n in bundled_inr_models())
            found = [m for m in bundled if hash_matches(file.model_hash, m.hash)]
            if not found:
                raise ModelError(
                    f"the file was made with an INR model of hash {file.model_hash.hex()}, "
                    "which is not bundled: pass it with --model"
                )
            model = found[0]
        if not hash_matches(file.model_hash, model.hash):
            raise ModelError(
                f"the file was made with other weights than model {model.name!r} "
                f"(hash {file.model_hash.hex()[:12]} vs {model.hash.hex()[:12]})"
            )
        return model

    @staticmethod
    def reconstruct(
        model: INRModel, weights: np.ndarray, modality: str, meta: dict[str, Any], file: RdlFile
    ) -> Any:
        """The signal of ``file`` from its decoded ``weights`` (``modality``: a registered
        name)."""
        kind = get_modality(modality)
        spatial, _ = _spatial_shape(kind, meta)
        values = evaluate_deterministic(
            model.network_weights(weights), patch_coordinates(model.patch), model.config
        )
        signal_values = from_patches(values, spatial, model.patch)
        chunks = {c.tag: c.payload for c in file.chunks}
        return kind.restore(signal_values, meta, chunks, codec_version=file.codec_version)


def implicit_log2_candidates(model: INRModel) -> int:
    """Bits per block of a file that does not say (no ``k`` in its metadata): the
    model's own ``log2_candidates`` if its file sets one, else 16. Fixed for versions 1
    and 2, so that encoder defaults can change without changing what old files mean;
    a file coded with other settings carries ``k``."""
    return int(model.fit.get("log2_candidates", 16))


def _whole(value: Any, least: int, most: int | None) -> int:
    """``value`` if it is a JSON integer in ``least..most`` (None: unbounded), else
    ``ValueError``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(value)
    if value < least or (most is not None and value > most):
        raise ValueError(value)
    return value


def _spatial_shape(modality: Modality, meta: dict[str, Any]) -> tuple[tuple[int, ...], int]:
    """``(spatial, channels)`` of a file's signal from its metadata (``FormatError`` when
    the modality cannot read them there)."""
    try:
        return modality.spatial_shape(meta)
    except (KeyError, TypeError, ValueError, IndexError):
        raise FormatError("the file's metadata lacks the signal shape") from None


def _blocks_in(payload_bytes: int, log2_candidates: int) -> int:
    """Blocks of ``log2_candidates`` bits that a payload of ``payload_bytes`` holds (the
    payload is padded to whole bytes, so for 8 or more bits per block this is exact)."""
    return 8 * payload_bytes // log2_candidates


register_codec(NAME, lambda **options: INRCodec(**options), VERSIONS)
