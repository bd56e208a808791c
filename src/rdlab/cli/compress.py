"""``rdlab compress`` and ``rdlab decompress``: files to ``.rdl`` and back.

Several inputs may be given at once; each output is then named after its input, a bad
file is reported by name and the others are still done (exit 2 at the end), and a
progress display runs. Every output is checked before any coding starts. The codecs,
PyTorch and the INR code are imported only once a command runs, so ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._files import check_output, read_bytes
from ..errors import InputError
from ._batch import EXIT_FAILED, planned_outputs, run_batch
from ._engine import add_engine_arguments, engine_settings
from ._output import emit, human_bytes, progress, progress_bar

#: Options of the learned (hyperprior) codec alone.
HYPERPRIOR_OPTIONS = ("quality", "target_bpp", "lmbda", "tile", "refine")


class CompressCommand:
    @staticmethod
    def add_parser(sub: Any) -> None:
        from .inr_io import add_inr_arguments
        from .threads_help import add_threads_argument

        parser = sub.add_parser(
            "compress", help="compress images (and, with --codec inr, audio, proteins, video)"
        )
        parser.add_argument(
            "inputs",
            nargs="*",
            metavar="input",
            help="image file(s): PNG, JPEG, ...; 8-bit greyscale or RGB (opaque alpha is "
            "dropped; 16-bit only with --codec lossless or --to-8bit); with --codec inr "
            "also WAV/FLAC audio, PDB/mmCIF proteins and video",
        )
        parser.add_argument(
            "-o", "--output", help="output path for a single input (default: INPUT.rdl)"
        )
        parser.add_argument(
            "--sample",
            action="store_true",
            help="compress the bundled sample photo (chelsea, 256x192) instead of inputs",
        )
        parser.add_argument(
            "--codec",
            default="hyperprior",
            help=f"codec name (default: hyperprior; available: {', '.join(_rdl_codecs())})",
        )
        rate = parser.add_mutually_exclusive_group()
        rate.add_argument(
            "-q",
            "--quality",
            type=float,
            help="learned codec rate, 1 (smallest) .. 6 (best), fractional allowed; default 4",
        )
        rate.add_argument(
            "--target-bpp",
            type=float,
            help="learned codec: aim at this many bits per pixel (a warning says when the "
            "model cannot reach it; --json gives target_bpp, quality and reachable); "
            "--codec overfit: the grids' bits per pixel (default 0.4)",
        )
        rate.add_argument(
            "--lmbda",
            type=float,
            help="learned and overfit codecs: rate-distortion trade-off λ",
        )
        parser.add_argument(
            "--model",
            help="learned codecs: bundled model name or .safetensors path (--codec learned: "
            "a model file saved with rdlab.nn.architectures.save_model)",
        )
        parser.add_argument(
            "--tile", type=int, help="learned codec: tile side in px for large images (memory)"
        )
        parser.add_argument(
            "--refine",
            type=int,
            metavar="STEPS",
            help="learned codec: optimize this image's latents for STEPS steps before coding "
            "(smaller files at the same quality; ~1 s per step for 640x426 on 2 cores; "
            "100 is a good choice); files decode as usual",
        )
        parser.add_argument(
            "--to-8bit",
            action="store_true",
            help="lossy codecs: reduce 16-bit images to 8 bits (refused without it); "
            "--codec lossless keeps all 16 bits",
        )
        add_engine_arguments(
            parser,
            "batch mode (also implied by a folder or a glob pattern among the inputs): "
            "code every image under the inputs into the folder -o OUTDIR, mirroring the "
            "tree, with N worker processes (default 1); OUTDIR/manifest.jsonl records each "
            "file, and a rerun redoes only what is missing, corrupt or failed",
        )
        add_threads_argument(parser)
        parser.add_argument("-f", "--force", action="store_true", help="replace existing outputs")
        parser.add_argument("--json", action="store_true", help="print a JSON report")
        add_inr_arguments(parser)
        parser.set_defaults(run=CompressCommand.run)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        if args.sample:
            if args.inputs:
                raise InputError("input", "give either --sample or input files, not both")
            from ..data.images import sample_path

            args.inputs = [sample_path()]
            if not args.output:
                args.output = "chelsea.rdl"
        if not args.inputs:
            raise InputError("input", "no input image (give a file, or --sample)")
        from .inr_io import inr_options_given

        if args.codec.lower() not in _rdl_codecs():  # refused before any work
            from ..codecs.registry import codec_spec

            spec = codec_spec(args.codec)
            does = (
                f"writes {spec.writes} files"
                if spec.writes != "rdl"
                else f"codes {', '.join(spec.modalities)}"
            )
            raise InputError(
                "codec",
                f"{spec.name} {does}; rdlab compress writes .rdl files of images with "
                f"{', '.join(_rdl_codecs())}",
            )
        from ..batch import batch_inputs

        if args.workers is not None or args.ray is not None or batch_inputs(args.inputs):
            return _batch_folder(args, "compress")
        inr = args.codec.lower() == "inr"
        if inr:
            _only_for(args, (*HYPERPRIOR_OPTIONS, "to_8bit"), "--codec hyperprior")
        else:
            from ..codecs.registry import codec_spec

            spec = codec_spec(args.codec)
            taken = tuple(spec.cli_options)  # options this codec takes for its own
            given = [g for g in inr_options_given(args) if g[2:].replace("-", "_") not in taken]
            if given:
                verb = "applies" if len(given) == 1 else "apply"
                raise InputError("codec", f"{', '.join(given)} {verb} only to --codec inr")
            if args.codec.lower() != "hyperprior":
                own = ("model",) if spec.models and not taken else ()  # learned: --model
                lossy = () if spec.lossless else ("to_8bit",)
                refused = [
                    n
                    for n in (*HYPERPRIOR_OPTIONS, "model", "to_8bit")
                    if n not in own + lossy + taken
                ]
                _only_for(args, tuple(refused), "--codec hyperprior")
        default = (lambda p: f"{p.rstrip('/')}.rdl") if inr else (lambda p: f"{p}.rdl")
        outputs = planned_outputs(args.inputs, args.output, default)
        for output in outputs:  # refuse before any work, not after
            check_output(output, overwrite=args.force, protect=args.inputs)
        from .._threads import check_threads

        check_threads(args.threads)
        pairs = list(zip(args.inputs, outputs, strict=True))
        if inr:
            from .inr_io import compress_inr

            _apply_threads(args.threads, load=True)
            return run_batch(args, pairs, lambda s, o: compress_inr(args, s, o))
        from ..codecs import get_codec

        codec = get_codec(args.codec, **_codec_options(args))
        _apply_threads(args.threads)  # after the codec's module: PyTorch only if it uses it
        return run_batch(
            args,
            pairs,
            lambda s, o: _compress_image(args, codec, s, o),
            lambda items: progress(items, "compressing", total=len(pairs)),
        )


def _batch_folder(args: argparse.Namespace, job: str) -> int:
    """Batch mode (:mod:`rdlab.batch`): every image (``compress``) or ``.rdl`` image
    file (``decompress``) under the inputs into the folder ``-o``."""
    from .._threads import check_threads
    from ..batch import plan_compress, plan_decompress, run_batch

    compress = job == "compress"
    if compress and args.codec.lower() == "inr":
        raise InputError("--workers", "batch mode codes images (hyperprior, lossless), not inr")
    if not compress and args.compare:
        raise InputError("--compare", "compares one decoded image; not in batch mode")
    if not args.output:
        raise InputError("output", "batch mode needs -o, the folder to write into")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise InputError("output", f"{args.output} is a file; batch mode writes into a folder")
    engine = engine_settings(args)
    check_threads(args.threads)
    if compress:
        items = plan_compress(args.inputs, args.output)  # refused before any work
        codec, options = args.codec.lower(), _codec_options(args)
        from ..codecs import get_codec

        get_codec(codec, **options)  # options checked here, before workers start
    else:
        items = plan_decompress(args.inputs, args.output)
        codec, options = "", {}
        if args.model:
            options["model"] = args.model
        if args.realism is not None:
            options.update(realism=args.realism, realism_seed=args.realism_seed)
        elif args.realism_seed != 0:
            raise InputError("--realism-seed", "needs --realism")
    bar = progress_bar(len(items), "compressing" if compress else "decompressing")
    try:
        report = run_batch(
            items, codec, options, args.output, engine=engine,
            to_8bit=bool(getattr(args, "to_8bit", False)), job=job,
            progress=lambda k: bar.update(k - bar.n),
        )  # fmt: skip
    finally:
        bar.close()
    for failure in report.failures:
        text = failure["error"]
        named = text if failure["input"] in text else f"{failure['input']}: {text}"
        sys.stderr.write(f"rdlab: error: {named}\n")
    line = (
        f"{report.coded} {'coded' if compress else 'decoded'}, {report.skipped} already "
        f"done, {report.failed} failed of {report.planned} files in {report.seconds:.1f} s "
        f"({report.files_per_second:.2f} files/s, {report.workers} worker(s), "
        f"{report.engine}); manifest {report.manifest}"
    )
    emit(report.to_dict(), args.json, line)
    return EXIT_FAILED if report.failed else 0


def _rdl_codecs() -> list[str]:
    """The registry's codecs ``rdlab compress`` writes with: ``.rdl`` codecs of images
    (and INR, of its other modalities too)."""
    from ..codecs.registry import codec_specs

    return [n for n, s in codec_specs().items() if s.writes == "rdl" and "image" in s.modalities]


def _only_for(args: argparse.Namespace, names: tuple[str, ...], codec: str) -> None:
    """Refuse the options among ``names`` that were given: they apply only to ``codec``."""
    given = [
        "--" + n.replace("_", "-") for n in names if getattr(args, n, None) not in (None, False)
    ]
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        raise InputError(
            "codec", f"{', '.join(given)} {verb} only to {codec}, not --codec {args.codec}"
        )


def _compress_image(
    args: argparse.Namespace, codec: Any, source: str, output: str
) -> tuple[dict[str, Any], str]:
    """Code one image file with ``codec``; returns its JSON report and text line."""
    import numpy as np

    from .._files import write_atomic
    from ..container import decode_rdl
    from ..metrics import psnr

    image = _read_input_image(args, codec, source)
    start = time.perf_counter()
    with _refinement_progress(codec, source):
        data = codec.encode(image)
    seconds = time.perf_counter() - start
    size = write_atomic(output, data, overwrite=args.force, protect=args.inputs)
    pixels = image.shape[0] * image.shape[1]
    decoded = codec.decode(data)  # the file decodes: and the quality it gives
    lossless = bool(np.array_equal(decoded, image))
    quality = math.inf if lossless else psnr(image, decoded)
    version = decode_rdl(data).codec_version  # per file (a model may pick it)
    report: dict[str, Any] = {
        "input": source,
        "output": output,
        "codec": codec.name,
        "codec_version": version,
        "height": image.shape[0],
        "width": image.shape[1],
        "channels": 1 if image.ndim == 2 else 3,
        "bits_per_sample": 8 * image.dtype.itemsize,
        "rdl_bytes": size,
        "bits_per_pixel": 8 * size / pixels,
        "psnr_db": quality if math.isfinite(quality) else None,
        "lossless": lossless,
        "input_bytes": os.path.getsize(source),
        "encode_seconds": seconds,
    }
    report.update(getattr(codec, "last_rate", None) or {})
    report["bits_per_pixel"] = 8 * size / pixels
    if report.get("reachable") is False:
        sys.stderr.write(f"rdlab: warning: {source}: {_unreachable(report, codec)}\n")
    shown = "lossless" if lossless else f"PSNR {quality:.2f} dB"
    chosen = f", quality {report['quality']:.2f}" if "quality" in report else ""
    line = (
        f"{source} -> {output}: {human_bytes(size)}, {8 * size / pixels:.3f} bpp, "
        f"{shown} ({codec.name} v{version}{chosen}, {seconds:.2f} s)"
    )
    return report, line


def _unreachable(report: dict[str, Any], codec: Any) -> str:
    """The warning for a ``--target-bpp`` the model cannot meet."""
    target, got = report["target_bpp"], report["bits_per_pixel"]
    model = getattr(codec, "model_name", "the model")
    if report.get("unreachable") == "above":
        return (
            f"--target-bpp {target:g} is above what model {model!r} reaches on this image; "
            f"wrote its largest file, {got:.3f} bpp (quality {report['quality']:.2f})"
        )
    return (
        f"--target-bpp {target:g} is below what model {model!r} reaches on this image; "
        f"wrote its smallest file, {got:.3f} bpp (quality {report['quality']:.2f})"
    )


def _read_input_image(args: argparse.Namespace, codec: Any, source: str) -> Any:
    """Read one input image for ``codec`` (:func:`rdlab.batch.read_input_image`)."""
    from ..batch import read_input_image

    return read_input_image(source, codec, to_8bit=bool(args.to_8bit))


@contextmanager
def _refinement_progress(codec: Any, source: str) -> Iterator[None]:
    """A progress display for a slow encoder: the learned codec's latent refinement (a
    new one for each refinement: ``--target-bpp`` may refine up to 4 times) or a codec
    that fits each image (``slow_encoder``)."""
    if not (getattr(codec, "refine", 0) or getattr(codec, "slow_encoder", False)):
        yield
        return
    bar: Any = None  # no bar yet
    last = 0

    def report(stage: str, done: int, total: int) -> None:
        nonlocal bar, last
        if done <= last or bar is None:
            if bar is not None:
                bar.close()
            bar = progress_bar(total, f"{os.path.basename(source)}: {stage}")
        last = done
        bar.update(done - bar.n)

    codec.progress = report
    try:
        yield
    finally:
        if bar is not None:
            bar.close()
        codec.progress = None


def _apply_threads(threads: int | None, *, load: bool = False) -> None:
    """Set PyTorch's thread count (``--threads``, else the cores this process may use)
    once PyTorch is in use (``load``: import it now, for a codec that needs it), so a
    codec that never loads it (lossless) does not pay for its import."""
    from .._threads import apply_threads, check_threads

    check_threads(threads)
    if load or "torch" in sys.modules:
        apply_threads(threads)


def _codec_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword options of the codec from the command line: a codec's own
    (:attr:`CodecSpec.cli_options`), else the learned codecs'."""
    from ..codecs.registry import codec_spec

    own = codec_spec(args.codec).cli_options
    if own:
        return {k: getattr(args, n) for n, k in own.items() if getattr(args, n, None) is not None}
    learned = {
        "quality": args.quality,
        "target_bpp": args.target_bpp,
        "lmbda": args.lmbda,
        "model": args.model,
        "tile": args.tile,
        "refine": args.refine,
    }
    return {k: v for k, v in learned.items() if v is not None}


class DecompressCommand:
    @staticmethod
    def add_parser(sub: Any) -> None:
        from .threads_help import add_threads_argument

        parser = sub.add_parser(
            "decompress",
            help="decode .rdl files: images to PNG (or TIFF, BMP, PPM); INR files to PNG, "
            "FLAC, PDB or animated PNG by modality; LTC files to .npy arrays",
        )
        parser.add_argument("inputs", nargs="+", metavar="input", help=".rdl file(s)")
        parser.add_argument(
            "-o",
            "--output",
            help="output path for a single input; images: .png, .tif, .bmp or .ppm/.pgm "
            "(lossless formats; default: INPUT without .rdl, or INPUT.png); INR files: "
            "PNG (images), FLAC (audio), PDB (proteins), animated PNG (video); LTC files: "
            ".npy (default: INPUT without .rdl, plus .npy)",
        )
        parser.add_argument(
            "--compare",
            metavar="IMAGE",
            help="image files: print the PSNR against this image (checked before decoding)",
        )
        parser.add_argument(
            "--model",
            help="learned codecs: model file (.safetensors) if not a bundled model (LTC "
            "files: their model file, unless registered)",
        )
        parser.add_argument(
            "--realism",
            nargs="?",
            const="default",
            metavar="HEAD",
            help="hyperprior image files: decode a realistic sample (texture from shared "
            "noise; lower PSNR) with the model's bundled realism head, or HEAD (a file "
            "from 'rdlab train realism')",
        )
        parser.add_argument(
            "--realism-seed",
            type=int,
            default=0,
            metavar="N",
            help="with --realism: the shared noise (another N, another sample; default 0)",
        )
        add_engine_arguments(
            parser,
            "batch mode (also implied by a folder or a glob pattern among the inputs): "
            "decode every .rdl image file under the inputs into the folder -o DIR, "
            "mirroring the tree (a.png.rdl -> a.png), with N worker processes; resumable "
            "through DIR/manifest.jsonl",
        )
        add_threads_argument(parser)
        parser.add_argument("-f", "--force", action="store_true", help="replace existing outputs")
        parser.add_argument("--json", action="store_true", help="print a JSON report")
        parser.set_defaults(run=DecompressCommand.run)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        from ..batch import batch_inputs

        if args.workers is not None or args.ray is not None or batch_inputs(args.inputs):
            return _batch_folder(args, "decompress")
        explicit = args.output is not None
        outputs = planned_outputs(args.inputs, args.output, _default_image_name)
        if explicit:  # refuse before any decoding (default names: once the codec is known)
            check_output(args.output, overwrite=args.force, protect=args.inputs)
        reference = None
        if args.compare:
            from ..data.images import read_image

            reference = read_image(args.compare, bit_depth="keep", field="compare")
        from .._threads import check_threads

        check_threads(args.threads)
        if args.realism is None and args.realism_seed != 0:
            raise InputError("--realism-seed", "needs --realism")
        pairs = list(zip(args.inputs, outputs, strict=True))
        return run_batch(
            args,
            pairs,
            lambda s, o: _decompress_one(args, s, o, reference, explicit),
            lambda items: progress(items, "decompressing", total=len(pairs)),
        )


def _decompress_one(
    args: argparse.Namespace, source: str, output: str, reference: Any, explicit: bool
) -> tuple[dict[str, Any], str]:
    """Decode one ``.rdl`` file to ``output``; returns its JSON report and text line."""
    from ..codecs import get_codec
    from ..codecs.registry import codec_spec, known_codecs
    from ..container import decode_rdl
    from ..data.images import image_format_for

    data = read_bytes(source)
    header = decode_rdl(data, codecs=known_codecs())
    if args.realism is not None and header.codec != "hyperprior":
        raise InputError("--realism", f"applies to hyperprior image files, not {header.codec}")
    if header.codec == "inr":
        if reference is not None:
            raise InputError("compare", "applies to image files (hyperprior, lossless), not inr")
        from .inr_io import decompress_inr

        _apply_threads(args.threads, load=True)
        return decompress_inr(args, source, data, output if explicit else None)
    if codec_spec(header.codec).modalities == ("vectors",):  # LTC: arrays, not images
        target = output if explicit else None
        _apply_threads(args.threads, load=True)
        return _decompress_vectors(args, source, data, header, target, reference)
    image_format = image_format_for(output)  # before decoding: refuse early
    check_output(output, overwrite=args.force, protect=args.inputs)
    options: dict[str, Any] = (
        {"model": args.model} if args.model and codec_spec(header.codec).models else {}
    )
    if args.realism is not None:
        options.update(realism=args.realism, realism_seed=args.realism_seed)
    codec = get_codec(header.codec, **options)
    _apply_threads(args.threads)  # after the codec's module: PyTorch only if it uses it
    start = time.perf_counter()
    image = codec.decode(data)
    seconds = time.perf_counter() - start
    if reference is not None and reference.shape != image.shape:
        raise InputError(
            "compare", f"{args.compare} is {reference.shape}, the decoded image {image.shape}"
        )
    from ..data.images import write_image

    size = write_image(
        output, image, image_format=image_format, overwrite=args.force, protect=args.inputs
    )
    pixels = image.shape[0] * image.shape[1]
    report: dict[str, Any] = {
        "input": source,
        "output": output,
        "codec": header.codec,
        "codec_version": header.codec_version,
        "height": int(image.shape[0]),
        "width": int(image.shape[1]),
        "rdl_bytes": len(data),
        "output_bytes": size,
        "decode_seconds": seconds,
        "bits_per_pixel": 8 * len(data) / pixels,
    }
    if args.realism is not None:
        report["realism"] = {"head": args.realism, "seed": args.realism_seed}
    extra = ""
    if reference is not None:
        from ..metrics import psnr_integer

        if reference.dtype != image.dtype:
            raise InputError(
                "compare",
                f"{args.compare} has {8 * reference.dtype.itemsize}-bit samples, the decoded "
                f"image {8 * image.dtype.itemsize}-bit",
            )
        value = psnr_integer(reference, image)
        report["psnr_db"] = value if math.isfinite(value) else None
        extra = ", lossless" if not math.isfinite(value) else f", PSNR {value:.2f} dB"
    line = (
        f"{source} -> {output}: {image.shape[1]}x{image.shape[0]}, "
        f"{8 * len(data) / pixels:.3f} bpp{extra} "
        f"({header.codec} v{header.codec_version}, {seconds:.2f} s)"
    )
    return report, line


def _decompress_vectors(
    args: argparse.Namespace,
    source: str,
    data: bytes,
    header: Any,
    output: str | None,
    reference: Any,
) -> tuple[dict[str, Any], str]:
    """Decode an ``.rdl`` file of vectors (LTC) to a float64 ``.npy`` array: ``output``,
    or INPUT without ``.rdl`` plus ``.npy``; the model from ``--model`` or registered."""
    import io

    import numpy as np

    from .._files import write_atomic
    from ..codecs import get_codec

    if reference is not None:
        raise InputError("compare", f"applies to image files, not {header.codec} files")
    output = output or f"{_rdl_stem(source)}.npy"
    if not output.lower().endswith(".npy"):
        raise InputError("output", f"{output}: {header.codec} files decode to arrays; name a .npy")
    check_output(output, overwrite=args.force, protect=args.inputs)
    start = time.perf_counter()
    options = {"model": args.model} if args.model else {}
    array = np.asarray(get_codec(header.codec, **options).decode(data))
    seconds = time.perf_counter() - start
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    size = write_atomic(output, buffer.getvalue(), overwrite=args.force, protect=args.inputs)
    report: dict[str, Any] = {
        "input": source,
        "output": output,
        "codec": header.codec,
        "codec_version": header.codec_version,
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "rdl_bytes": len(data),
        "output_bytes": size,
        "decode_seconds": seconds,
        "bits_per_dimension": 8 * len(data) / max(1, array.size),
    }
    line = (
        f"{source} -> {output}: {array.shape[0]} items of shape {tuple(array.shape[1:])}, "
        f"{report['bits_per_dimension']:.3f} bits/dim ({header.codec} v{header.codec_version}, "
        f"{seconds:.2f} s)"
    )
    return report, line


def _rdl_stem(path: str) -> str:
    return path[:-4] if path.lower().endswith(".rdl") else path


def _default_image_name(path: str) -> str:
    stem = _rdl_stem(path)
    return stem if stem.lower().endswith(".png") else f"{stem}.png"
