"""The codec protocol and the one registry of codecs, with what each can do.

Every codec rdlab knows is a :class:`CodecSpec` in this registry: rdlab's ``.rdl`` codecs
(``hyperprior``, ``lossless``, ``inr``, ``ltc``, ``learned``), the hyperprior's benchmark presets
(``rdlab``, ``rdlab-e8``, ``rdlab-refine``: the same codec with fixed options) and the
classical image codecs (JPEG, WebP, JPEG 2000, AVIF, HEIC, JPEG XL, which write their
own file formats, not ``.rdl``). An entry says what the codec writes (``.rdl`` or a
classical format and its suffix), its quality or rate parameter and range, the
modalities it codes, the ``.rdl`` versions it decodes, whether it is lossless, what it
needs to run here, and how to make it: its factory, named ``"module:attribute"`` and
imported only when a codec is made, so listing the registry (``rdlab info``) loads
neither PyTorch nor any codec module.

- :func:`get_codec` makes any codec by name (aliases, any case), with keyword options;
- :func:`known_codecs` gives the ``.rdl`` codecs and the versions they decode (what
  :func:`rdlab.container.decode_rdl` takes as ``codecs``);
- :func:`load` / :func:`decode_bytes` decode any ``.rdl`` file with the codec its header
  names; codecs whose models are not bundled (LTC, learned) find theirs by the file's model hash
  among the models given to :func:`register_model`;
- :func:`bench_codecs` gives the image codecs ``rdlab bench images`` can sweep;
- :func:`register` / :func:`register_codec` add a codec of your own.
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib.resources import files
from typing import Any, Protocol, runtime_checkable

from .._files import read_bytes
from ..container import decode_rdl, hash_matches
from ..errors import InputError, ModelError, UnknownCodecError

#: The modalities a codec may code.
MODALITIES = ("image", "audio", "protein", "video", "vectors")


@runtime_checkable
class Codec(Protocol):
    """What every rdlab codec offers."""

    name: str
    version: str
    description: str

    def encode(self, x: Any) -> bytes:
        """Data to the bytes of a complete file (``.rdl``, or the classical format)."""
        ...

    def decode(self, data: bytes) -> Any:
        """Bytes of a file written by this codec back to data."""
        ...


@dataclass(frozen=True)
class QualityRange:
    """The quality or rate parameter of a codec: the keyword its factory takes, the
    values allowed (``low``..``high``; ``low_open``: ``low`` itself excluded; ``high``
    may be ``math.inf``), whether they are integers, the default benchmark ``sweep``
    (lowest rate first; empty: none) and what the values mean (``meaning``, with units).
    """

    keyword: str
    low: float
    high: float
    integer: bool = False
    sweep: tuple[float, ...] = ()
    meaning: str = ""
    low_open: bool = False

    @property
    def default(self) -> float | None:
        """The middle of the sweep (None without a sweep)."""
        return self.sweep[len(self.sweep) // 2] if self.sweep else None

    def check(self, value: Any, codec: str) -> Any:
        """``value`` as a number of this range (an ``int`` for integer ranges).

        Raises:
            InputError: on argument ``quality``: not a number, or outside the range.
        """
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError("quality", f"{codec}: must be a number, got {value!r}") from None
        below = number <= self.low if self.low_open else number < self.low
        if below or not number <= self.high or (self.integer and number != int(number)):
            kind = "an integer" if self.integer else "a number"
            left = "(" if self.low_open else "["
            raise InputError(
                "quality",
                f"{codec}: must be {kind} in {left}{self.low:g}, {self.high:g}], got {value}",
            )
        return int(number) if self.integer else number

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (an infinite bound is ``None``)."""
        return {
            "keyword": self.keyword,
            "low": self.low,
            "high": self.high if math.isfinite(self.high) else None,
            "low_open": self.low_open,
            "integer": self.integer,
            "sweep": list(self.sweep),
            "meaning": self.meaning,
        }


@dataclass(frozen=True)
class CodecSpec:
    """One codec of the registry: what it does and how to make it.

    Args:
        name: the registry name (lower case).
        description: one line.
        factory: callable taking keyword options and returning a :class:`Codec`, or
            ``"module:attribute"`` naming one (imported when a codec is made); None for
            a preset (``base``'s factory).
        writes: ``"rdl"`` or the name of the classical file format written (``"JPEG"``).
        suffix: the file suffix of what it writes (``".rdl"``, ``".jpg"``).
        modalities: what it codes, among :data:`MODALITIES`.
        versions: the ``.rdl`` codec versions it decodes (empty: it decodes no ``.rdl``
            file under its own name; a preset's files are its base codec's).
        lossless: decodes to exactly the input.
        quality: its quality or rate parameter (None: set by the model, or none).
        base: a preset: the codec it configures, with ``options``.
        options: keyword options a preset passes to its base's factory (given options
            override them).
        requires: what it needs to run (libraries, plugins, models), said when it is
            unavailable.
        check: ``"module:function"``: ``function(name) -> bool``, whether it works here
            (None: always; rdlab's own dependencies are installed with it).
        models: what model it runs and where it finds it (empty: none).
        aliases: other names accepted for it.
        bench_default: swept by ``rdlab bench images`` without ``--codecs``.
        cli_options: ``rdlab compress`` options it takes (``dest`` names, e.g.
            ``"target_bpp"``), mapped to its keyword options (empty: the hyperprior's and
            INR's own, which the command handles itself).
    """

    name: str
    description: str
    factory: str | Callable[..., Codec] | None
    writes: str
    suffix: str
    modalities: tuple[str, ...]
    versions: tuple[str, ...] = ()
    lossless: bool = False
    quality: QualityRange | None = None
    base: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    requires: str = ""
    check: str | None = None
    models: str = ""
    aliases: tuple[str, ...] = ()
    bench_default: bool = False
    cli_options: Mapping[str, str] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """The capabilities, JSON-ready (the factory by name)."""
        factory = self.factory
        if factory is not None and not isinstance(factory, str):
            factory = f"{factory.__module__}:{getattr(factory, '__qualname__', factory)}"
        return {
            "name": self.name,
            "description": self.description,
            "writes": self.writes,
            "suffix": self.suffix,
            "modalities": list(self.modalities),
            "versions": list(self.versions),
            "lossless": self.lossless,
            "quality": None if self.quality is None else self.quality.to_dict(),
            "base": self.base,
            "options": dict(self.options),
            "requires": self.requires,
            "models": self.models,
            "aliases": list(self.aliases),
            "cli_options": dict(self.cli_options),
            "factory": factory,
        }


def _classical(
    name: str,
    implementation: str,
    description: str,
    writes: str,
    suffix: str,
    quality: QualityRange,
    requires: str,
    aliases: tuple[str, ...] = (),
) -> CodecSpec:
    """A classical image codec: class ``implementation`` of :mod:`rdlab.codecs.classical`,
    probed to tell whether it works here."""
    return CodecSpec(
        name,
        description,
        f"rdlab.codecs.classical:{implementation}",
        writes,
        suffix,
        ("image",),
        quality=quality,
        requires=requires,
        check="rdlab.codecs.classical:works",
        aliases=aliases,
        bench_default=True,
    )


def _hyperprior_preset(
    name: str, description: str, sweep: tuple[float, ...], **options: Any
) -> CodecSpec:
    """A benchmark preset of the hyperprior codec: ``options`` fixed, its own sweep."""
    model = options.get("model", "default")
    return CodecSpec(
        name,
        description,
        None,
        "rdl",
        ".rdl",
        ("image",),
        quality=replace(_HYPERPRIOR_QUALITY, sweep=sweep),
        base="hyperprior",
        options=options,
        requires=f"the bundled model {model!r} (reinstall rdlab)",
        check="rdlab.codecs.registry:preset_model_bundled",
        models=f"bundled {model!r}",
        bench_default=name == "rdlab",
    )


_HYPERPRIOR_QUALITY = QualityRange(
    "quality",
    1.0,
    6.0,
    meaning="rate level 1 (smallest) .. K (6 for the bundled models), "
    "fractional values interpolate",
)

#: The built-in codecs, in the order they are listed.
BUILTIN_CODECS: tuple[CodecSpec, ...] = (
    CodecSpec(
        "hyperprior",
        "learned hyperprior image codec (GDN transforms, integer scale branch)",
        "rdlab.codecs.hyperprior:HyperpriorImageCodec",
        "rdl",
        ".rdl",
        ("image",),
        versions=("1", "2", "3"),
        quality=_HYPERPRIOR_QUALITY,
        models="bundled 'default' (or model=NAME, a .safetensors path); files name theirs by hash",
    ),
    _hyperprior_preset(
        "rdlab",
        "rdlab learned hyperprior (default model)",
        (1.0, 1.7, 2.4, 3.1, 3.9, 4.6, 5.3, 6.0),
        model="default",
    ),
    _hyperprior_preset(
        "rdlab-e8",
        "rdlab learned hyperprior, E8 lattice latents (model default-e8)",
        (1.0, 2.0, 3.0, 4.0, 5.0, 6.0),
        model="default-e8",
    ),
    _hyperprior_preset(
        "rdlab-refine",
        "rdlab learned hyperprior, latents refined per image (100 steps)",
        (1.0, 2.0, 3.0, 4.0, 5.0, 6.0),
        model="default",
        refine=100,
    ),
    CodecSpec(
        "lossless",
        "lossless 8- and 16-bit images: colour transform, planar prediction, adaptive Laplace",
        "rdlab.codecs.lossless:LosslessImageCodec",
        "rdl",
        ".rdl",
        ("image",),
        versions=("1", "2"),
        lossless=True,
    ),
    CodecSpec(
        "inr",
        "Bayesian implicit neural representation, relative entropy coded weights",
        "rdlab.codecs.inr:INRCodec",
        "rdl",
        ".rdl",
        ("image", "audio", "protein", "video"),
        versions=("1", "2", "3", "4"),
        quality=QualityRange(
            "bpp",
            0.0,
            math.inf,
            low_open=True,
            meaning="target rate: bits per pixel (images, video); audio takes kbps, proteins "
            "bits_per_atom, any modality bits (None: the model's training rate)",
        ),
        models="bundled inr-<modality>-<level>, chosen by modality and rate (or model=)",
    ),
    CodecSpec(
        "overfit",
        "overfitted latent grids (Cool-chic style), quantized, auto-regressive model",
        "rdlab.codecs.overfit:OverfitImageCodec",
        "rdl",
        ".rdl",
        ("image",),
        versions=("1",),
        quality=QualityRange(
            "bpp",
            0.0,
            math.inf,
            low_open=True,
            sweep=(0.1, 0.2, 0.4, 0.8),
            meaning="aim of the latent grids' bits per pixel (the networks, about 0.02 bpp "
            "on 512x512, come on top)",
        ),
        models="none: the networks are fitted to each image and travel in its file",
        cli_options={"target_bpp": "bpp", "lmbda": "lmbda", "steps": "steps", "seed": "seed"},
    ),
    CodecSpec(
        "ltc",
        "lattice transform coding of vectors (analysis MLP, lattice quantizer, synthesis MLP)",
        "rdlab.codecs.ltc:LTCCodec",
        "rdl",
        ".rdl",
        ("vectors",),
        versions=("1", "2"),
        models="a trained LTCModel: model= (the model or its .safetensors file), or registered "
        "with rdlab.codecs.ltc.register_ltc_model; decoders find it by the file's model hash",
    ),
    CodecSpec(
        "learned",
        "learned image codec of your own model built from rdlab's parts (rdlab.nn)",
        "rdlab.codecs.learned:LearnedImageCodec",
        "rdl",
        ".rdl",
        ("image",),
        versions=("1",),
        models="a model saved by rdlab.nn.architectures.save_model: model= (the model or "
        "its .safetensors file), or registered with "
        "rdlab.codecs.learned.register_learned_model; decoders find it by the file's hash",
    ),
    _classical(
        "jpeg",
        "JpegCodec",
        "JPEG (Pillow/libjpeg), 4:4:4, optimized Huffman",
        "JPEG",
        ".jpg",
        QualityRange(
            "quality",
            1,
            95,
            integer=True,
            sweep=(5, 10, 20, 35, 50, 65, 80, 90),
            meaning="libjpeg quality 1..95 (Pillow advises against > 95)",
        ),
        "Pillow built with JPEG support",
        ("jpg",),
    ),
    _classical(
        "webp",
        "WebpCodec",
        "WebP lossy (Pillow/libwebp), 4:2:0 (the only lossy WebP sampling)",
        "WebP",
        ".webp",
        QualityRange(
            "quality",
            0,
            100,
            integer=True,
            sweep=(0, 10, 25, 45, 65, 80, 88, 93),
            meaning="libwebp -q 0..100",
        ),
        "Pillow built with WebP support",
    ),
    _classical(
        "jpeg2000",
        "Jpeg2000Codec",
        "JPEG 2000 (Pillow/OpenJPEG, JP2), 9/7 + ICT, quality = target bpp",
        "JPEG 2000",
        ".jp2",
        QualityRange(
            "quality",
            1e-3,
            24.0,
            sweep=(0.08, 0.15, 0.25, 0.4, 0.6, 0.9, 1.4, 2.2),
            meaning="target rate in bits per pixel",
        ),
        "Pillow built with OpenJPEG (JPEG 2000) support",
        ("jp2", "j2k"),
    ),
    _classical(
        "avif",
        "AvifCodec",
        "AVIF (Pillow/libavif), 4:4:4, speed 6",
        "AVIF",
        ".avif",
        QualityRange(
            "quality",
            0,
            100,
            integer=True,
            sweep=(5, 20, 35, 50, 60, 70, 80, 88),
            meaning="libavif quality 0..100 (Pillow maps it to the quantizer)",
        ),
        "Pillow built with AVIF support (Pillow >= 11.2 with libavif)",
    ),
    _classical(
        "heic",
        "HeicCodec",
        "HEIC (pillow-heif/libheif, x265), 4:4:4",
        "HEIC",
        ".heic",
        QualityRange(
            "quality",
            0,
            100,
            integer=True,
            sweep=(5, 15, 25, 33, 40, 47, 54, 62),
            meaning="pillow-heif/libheif (x265) quality 0..100",
        ),
        "pillow-heif with a libheif that has the x265 HEVC encoder (pip install pillow-heif)",
        ("heif",),
    ),
    _classical(
        "jxl",
        "JxlCodec",
        "JPEG XL (libjxl via pillow-jxl-plugin or imagecodecs), VarDCT, effort 7",
        "JXL",
        ".jxl",
        QualityRange(
            "quality",
            0,
            100,
            integer=True,
            sweep=(0, 15, 30, 50, 65, 78, 88, 94),
            meaning="libjxl quality 0..100 (mapped to a Butteraugli distance by libjxl)",
        ),
        "pillow-jxl-plugin or imagecodecs (pip install pillow-jxl-plugin)",
        ("jpegxl",),
    ),
)

_SPECS: dict[str, CodecSpec] = {spec.name: spec for spec in BUILTIN_CODECS}
_BUILTIN_VERSIONS = {spec.name: spec.versions for spec in BUILTIN_CODECS if spec.versions}
_MODELS: dict[tuple[str, bytes], Any] = {}


# ------------------------------------------------------------------------ registering
def register(spec: CodecSpec) -> None:
    """Add ``spec`` to the registry (replacing an entry of the same name).

    Raises:
        InputError: on argument ``spec``: a name that is not lower case, a preset whose
            base is not registered, no factory, or an unknown modality.
    """
    if spec.name != spec.name.strip().lower() or not spec.name:
        raise InputError("spec", f"codec name {spec.name!r} must be non-empty lower case")
    if spec.base is not None and spec.base not in _SPECS:
        raise InputError("spec", f"{spec.name}: base codec {spec.base!r} is not registered")
    if spec.base is None and spec.factory is None:
        raise InputError("spec", f"{spec.name}: a codec needs a factory (or a base)")
    unknown = set(spec.modalities) - set(MODALITIES)
    if unknown:
        raise InputError("spec", f"{spec.name}: unknown modalities {sorted(unknown)}")
    _SPECS[spec.name] = spec


def register_codec(
    name: str, factory: Callable[..., Codec], versions: tuple[str, ...], **capabilities: Any
) -> None:
    """Make ``factory`` (called with keyword options) available under ``name`` as an
    ``.rdl`` codec decoding ``versions``; ``capabilities``: the other
    :class:`CodecSpec` fields (default: an image codec).

    A built-in codec's module calls this when it is imported: its versions are checked
    against the registry's entry, which is kept.

    Raises:
        ModelError: ``name`` is a built-in codec and ``versions`` differ from its
            entry in :data:`BUILTIN_CODECS` (a programming error: update the table).
    """
    if name in _BUILTIN_VERSIONS:
        if tuple(versions) != _BUILTIN_VERSIONS[name]:
            raise ModelError(
                f"codec {name} registers versions {tuple(versions)} but "
                f"rdlab.codecs.registry.BUILTIN_CODECS lists {_BUILTIN_VERSIONS[name]}: "
                "update it"
            )
        return
    fields = {"writes": "rdl", "suffix": ".rdl", "modalities": ("image",), "description": name}
    fields.update(capabilities)
    register(CodecSpec(name=name, factory=factory, versions=tuple(versions), **fields))


def register_model(codec: str, model_hash: bytes, model: Any) -> None:
    """Make ``model`` the one :func:`find_model` gives for files of ``codec`` whose
    header carries ``model_hash`` (32 bytes: :func:`rdlab.container.model_hash`).

    Raises:
        InputError: on argument ``model_hash``: not 32 bytes.
    """
    if not isinstance(model_hash, (bytes, bytearray)) or len(model_hash) != 32:
        raise InputError("model_hash", "must be the 32-byte SHA-256 of the model")
    _MODELS[(codec_spec(codec).name, bytes(model_hash))] = model


def find_model(codec: str, file_hash: bytes) -> Any | None:
    """The model registered for ``codec`` whose hash the file's ``file_hash`` names (the
    whole hash, or a compact file's first 8 bytes); None if there is none."""
    name = codec_spec(codec).name
    for (owner, digest), model in _MODELS.items():
        if owner == name and hash_matches(file_hash, digest):
            return model
    return None


# --------------------------------------------------------------------------- looking up
def codec_specs() -> dict[str, CodecSpec]:
    """Every registered codec by name, built-in ones first (nothing is imported)."""
    return dict(_SPECS)


def codec_spec(name: str) -> CodecSpec:
    """The entry of codec ``name`` or one of its aliases (any case).

    Raises:
        InputError: on argument ``codec``: no such codec.
    """
    key = str(name).strip().lower()
    if key in _SPECS:
        return _SPECS[key]
    for spec in _SPECS.values():
        if key in spec.aliases:
            return spec
    raise InputError("codec", f"unknown codec {name!r} (available: {', '.join(_SPECS)})")


def known_codecs() -> dict[str, tuple[str, ...]]:
    """The ``.rdl`` codecs and the versions each decodes (the mapping
    :func:`rdlab.container.decode_rdl` takes as ``codecs``), by name; nothing imported."""
    return {name: spec.versions for name, spec in sorted(_SPECS.items()) if spec.versions}


def available_codecs() -> dict[str, tuple[str, ...]]:
    """What :func:`known_codecs` gives, after importing every ``.rdl`` codec's module
    (each checks the versions it registers against its entry)."""
    for name in known_codecs():
        _factory(_SPECS[name])
    return known_codecs()


def _resolve(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _factory(spec: CodecSpec) -> Callable[..., Codec]:
    if spec.base is not None:
        return _factory(_SPECS[spec.base])
    factory = spec.factory
    return _resolve(factory) if isinstance(factory, str) else factory  # type: ignore[return-value]


def get_codec(name: str, **options: Any) -> Codec:
    """A codec by name or alias (any case), made by its factory with ``options`` (a
    preset's options first); imports only that codec's module.

    Raises:
        InputError: on argument ``codec``: no such codec; the factory's own errors on
            bad options.
    """
    spec = codec_spec(name)
    return _factory(spec)(**{**spec.options, **options})


def get_codec_at(name: str, quality: float | None = None) -> Codec:
    """Codec ``name`` at ``quality`` on its own scale, given to its factory under its
    quality keyword (None: the codec's default).

    Raises:
        InputError: no such codec, or ``quality`` given to a codec without one.
    """
    spec = codec_spec(name)
    if quality is None:
        return get_codec(spec.name)
    if spec.quality is None:
        raise InputError("quality", f"{spec.name} has no quality parameter")
    return get_codec(spec.name, **{spec.quality.keyword: quality})


# ---------------------------------------------------------------------------- here
def is_available(name: str) -> bool:
    """Whether codec ``name`` works here (its ``check``; classical codecs are probed by
    coding a 16x16 image once per process, presets look for their bundled model)."""
    spec = codec_spec(name)
    return spec.check is None or bool(_resolve(spec.check)(spec.name))


def unavailable_reason(name: str) -> str:
    """What codec ``name`` needs to work (a hint for the user when it does not)."""
    spec = codec_spec(name)
    return spec.requires or f"{spec.name} could not be made (reinstall rdlab)"


def preset_model_bundled(name: str) -> bool:
    """Whether the bundled model file a hyperprior preset names is installed (no
    PyTorch: the file is looked for, not loaded)."""
    model = codec_spec(name).options.get("model", "default")
    return (files("rdlab") / "models" / f"{model}.safetensors").is_file()


def bench_codecs(default_only: bool = False) -> list[str]:
    """The image codecs ``rdlab bench images`` sweeps (image modality, a quality
    parameter with a default sweep), in registry order; ``default_only``: those it
    sweeps without ``--codecs``."""
    return [
        name
        for name, spec in _SPECS.items()
        if "image" in spec.modalities
        and spec.quality is not None
        and spec.quality.sweep
        and (spec.bench_default or not default_only)
    ]


# --------------------------------------------------------------------------- decoding
def load(path: str | os.PathLike[str]) -> Any:
    """Decode an ``.rdl`` file with the codec named in its header."""
    return decode_bytes(read_bytes(path))


def decode_bytes(data: bytes) -> Any:
    """Decode the bytes of an ``.rdl`` file with the codec named in its header.

    Raises:
        FormatError: the file is invalid (:class:`~rdlab.errors.UnknownCodecError`: of
            no registered ``.rdl`` codec or version).
        ModelError: the codec cannot find the file's model (LTC: not registered).
    """
    header = decode_rdl(data, codecs=known_codecs())  # imports only the file's codec
    try:
        codec = get_codec(header.codec)
    except InputError as exc:  # registered versions but no factory: should not happen
        raise UnknownCodecError(str(exc)) from None
    return codec.decode(data)
