"""Batch coding of whole folders: one plan, a manifest, resumable; an engine runs it.

``rdlab compress DIR_OR_GLOB... -o OUTDIR [--workers N]`` compresses every image under
the inputs into a mirrored tree of ``.rdl`` files. The work is planned once
(:func:`plan_compress`: one :class:`WorkItem` per input file, outputs refused before any
work when two would collide) and run by an **engine** of :mod:`rdlab.parallel` that
only executes it:

- ``"local"`` (default): ``N`` worker processes (``spawn``), each loading the codec and
  its model **once** and using ``cores // N`` PyTorch threads, so workers do not
  oversubscribe the machine; ``N = 1`` runs in this process.
- ``"ray"``: ``N`` Ray actors (one CPU each, the model loaded once per actor) on an
  existing cluster (``address``) or on a local instance started for the run (``pip
  install 'rdlab[ray]'``).

A worker process that dies on an item (out of memory, killed) is replaced; the item is
retried alone and recorded as failed if it kills its worker again.

:func:`run_batch` does the rest (manifest, resume, report) whatever the engine.

Every output is written atomically by its worker (a temporary file renamed into
place), so a killed run leaves no partial output. The parent alone appends to the
**manifest** (``OUTDIR/manifest.jsonl``, one JSON object per finished item, flushed and
fsynced per line): input path, size, modification time and SHA-256, output path, size
and SHA-256, bits per pixel, PSNR, seconds, status and the one-line error of a failed
item. A rerun (:func:`pending`) skips an item only when its latest record is ``ok``, the
output exists with the recorded hash, and the input is unchanged (the recorded size and
modification time, else the recorded hash); everything else (missing, corrupt, failed,
changed) is redone. Outputs depend only on the input and the
codec options, never on the engine, the worker count or the order (the codecs are
deterministic across thread counts).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ._files import write_atomic
from .errors import InputError, RdlabError
from .parallel import LOCAL, Engine, WorkerDiedError, map_unordered

__all__ = [
    "JOBS",
    "MANIFEST",
    "BatchReport",
    "Manifest",
    "WorkItem",
    "pending",
    "plan_compress",
    "plan_decompress",
    "run_batch",
]

MANIFEST = "manifest.jsonl"
"""File name of the manifest inside the output folder."""
IMAGE_INPUT_SUFFIXES = (
    ".png", ".tif", ".tiff", ".bmp", ".ppm", ".pgm", ".pnm",
    ".jpg", ".jpeg", ".webp", ".avif", ".heic", ".jxl", ".jp2", ".gif",
)  # fmt: skip
"""Files a folder walk picks up (case-insensitive)."""
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class WorkItem:
    """One file to code.

    Attributes:
        source: the input's path (absolute).
        key: its path relative to the input it was found under (``/``-separated): the
            manifest's key and the output's place in the mirrored tree.
        output: the output's path (absolute).
    """

    source: str
    key: str
    output: str


def is_batch_input(path: str) -> bool:
    """Whether ``path`` names a folder or a glob pattern (batch mode)."""
    return os.path.isdir(path) or bool(_GLOB_CHARS & set(path))


def _files_of(path: str, suffixes: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(source, key)`` of the files with ``suffixes`` under a folder, the files a glob
    pattern matches, or one file."""
    if os.path.isdir(path):
        root = Path(path)
        found = []
        for current, dirs, names in os.walk(root):
            dirs.sort()
            for name in sorted(names):
                if name.lower().endswith(suffixes) and not name.startswith("."):
                    file = Path(current) / name
                    found.append((str(file.resolve()), file.relative_to(root).as_posix()))
        return found
    if _GLOB_CHARS & set(path):
        matches = sorted(glob.glob(path, recursive=True))
        return [(str(Path(m).resolve()), Path(m).name) for m in matches if os.path.isfile(m)]
    if not os.path.isfile(path):
        raise InputError("input", f"{path} does not exist")
    return [(str(Path(path).resolve()), Path(path).name)]


def plan_compress(inputs: Sequence[str], outdir: str, suffix: str = ".rdl") -> list[WorkItem]:
    """The work of compressing ``inputs`` (folders, glob patterns or files) into
    ``outdir``: ``outdir/<key><suffix>`` for each input file, in a fixed order.

    Raises:
        InputError: an input that does not exist, nothing to do, or two inputs whose
            outputs would collide (before any work).
    """
    return _plan(inputs, outdir, IMAGE_INPUT_SUFFIXES, lambda key: key + suffix)


def _plan(
    inputs: Sequence[str],
    outdir: str,
    suffixes: tuple[str, ...],
    name: Callable[[str], str],
) -> list[WorkItem]:
    out = Path(outdir).resolve()
    items: list[WorkItem] = []
    seen: dict[str, str] = {}
    for path in inputs:
        for source, key in _files_of(path, suffixes):
            output = str(out / name(key))
            if output in seen and seen[output] != source:
                raise InputError(
                    "output", f"{seen[output]} and {source} would both be written to {output}"
                )
            if output not in seen:
                seen[output] = source
                items.append(WorkItem(source, key, output))
    if not items:
        raise InputError("input", f"no {'/'.join(suffixes[:3])}... files under {', '.join(inputs)}")
    return items


def _decoded_key(key: str) -> str:
    """Output key of a decoded image: ``a/b.png.rdl`` → ``a/b.png``; a name without a
    lossless image suffix gets ``.png`` (``photo.jpg.rdl`` → ``photo.jpg.png``)."""
    from .data.images import IMAGE_SUFFIXES

    stem = key[: -len(".rdl")] if key.lower().endswith(".rdl") else key
    return stem if os.path.splitext(stem)[1].lower() in IMAGE_SUFFIXES else stem + ".png"


def plan_decompress(inputs: Sequence[str], outdir: str) -> list[WorkItem]:
    """The work of decoding the ``.rdl`` files under ``inputs`` (folders, patterns or
    files) into ``outdir``, mirroring the tree (:func:`_decoded_key` names each output).

    Raises:
        InputError: as :func:`plan_compress`.
    """
    return _plan(inputs, outdir, (".rdl",), _decoded_key)


def sha256_of(path: str) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Facts(NamedTuple):
    """What a rerun needs of an item's latest manifest record, kept compact (a million
    records take about 0.6 GB in memory, against 3.7 GB as parsed JSON): the
    ``status``, the index of its settings in :attr:`Manifest.settings`, and the sizes,
    modification time (ns) and SHA-256 digests (raw bytes) of its files."""

    status: str
    settings: int
    output_bytes: int | None
    output_sha256: bytes | None
    input_bytes: int | None
    input_mtime_ns: int | None
    input_sha256: bytes | None


def _digest(value: Any) -> bytes | None:
    try:
        return bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Manifest:
    """The JSON Lines record of a batch run (see the module docstring).

    Args:
        path: the manifest file; existing records are read (a last line cut short by a
            killed run is ignored), each key's latest as its :class:`Facts`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.facts: dict[str, Facts] = {}
        self.settings: list[Any] = []
        self._settings_index: dict[str, int] = {}
        if self.path.is_file():
            with open(self.path, encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue
                    if isinstance(record, dict) and isinstance(record.get("key"), str):
                        self._remember(record)

    def _remember(self, record: dict[str, Any]) -> None:
        text = json.dumps(record.get("settings"), sort_keys=True)
        index = self._settings_index.setdefault(text, len(self.settings))
        if index == len(self.settings):
            self.settings.append(record.get("settings"))
        self.facts[sys.intern(record["key"])] = Facts(
            status=str(record.get("status")),
            settings=index,
            output_bytes=_int(record.get("output_bytes")),
            output_sha256=_digest(record.get("output_sha256")),
            input_bytes=_int(record.get("input_bytes")),
            input_mtime_ns=_int(record.get("input_mtime_ns")),
            input_sha256=_digest(record.get("input_sha256")),
        )

    def status(self, key: str) -> str | None:
        """The latest status of ``key`` (``"ok"``, ``"failed"``), None if never run."""
        facts = self.facts.get(key)
        return None if facts is None else facts.status

    def append(self, record: dict[str, Any]) -> None:
        """Add ``record`` (it supersedes earlier records of its key), durably."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, sort_keys=True) + "\n"
        with open(self.path, "a+b") as file:
            file.seek(0, os.SEEK_END)
            if file.tell():  # a line cut short by a killed run is closed first
                file.seek(-1, os.SEEK_END)
                if file.read(1) != b"\n":
                    line = "\n" + line
            file.write(line.encode("utf-8"))
            file.flush()
            os.fsync(file.fileno())
        self._remember(record)


def _stat_of(path: str) -> dict[str, int]:
    """The input facts a rerun compares first: size (bytes) and modification time (ns)."""
    info = os.stat(path)
    return {"input_bytes": info.st_size, "input_mtime_ns": info.st_mtime_ns}


def _sha256_bytes(path: str) -> bytes:
    return bytes.fromhex(sha256_of(path))


def _is_done(item: WorkItem, facts: Facts | None, settings: Any, manifest: Manifest) -> bool:
    if facts is None or facts.status != "ok" or manifest.settings[facts.settings] != settings:
        return False
    try:
        if not os.path.isfile(item.output) or os.path.getsize(item.output) != facts.output_bytes:
            return False
        if _sha256_bytes(item.output) != facts.output_sha256:
            return False
        # the input: its size and time as recorded (a dataset's inputs can be terabytes,
        # so an unchanged one is not read again), else its hash (a touched input)
        stat = _stat_of(item.source)
        if (stat["input_bytes"], stat["input_mtime_ns"]) == (
            facts.input_bytes,
            facts.input_mtime_ns,
        ):
            return True
        return _sha256_bytes(item.source) == facts.input_sha256
    except OSError:
        return False


def pending(
    items: Sequence[WorkItem], manifest: Manifest, settings: dict[str, Any]
) -> tuple[list[WorkItem], list[WorkItem]]:
    """``(to do, already done)``: an item is done when its latest record is ``ok`` for
    the same ``settings``, the output still has the recorded hash and the input is
    unchanged (size and modification time, else hash)."""
    todo, done = [], []
    for item in items:
        facts = manifest.facts.get(item.key)
        (done if _is_done(item, facts, settings, manifest) else todo).append(item)
    return todo, done


def remove_stale_temporaries(outdir: str | os.PathLike[str]) -> int:
    """Delete the temporary files a killed run left in ``outdir`` (``.NAME.HEX.tmp``,
    what :func:`rdlab._files.write_atomic` writes before its rename); returns how many."""
    removed = 0
    for current, _, names in os.walk(outdir):
        for name in names:
            if name.startswith(".") and name.endswith(".tmp"):
                try:
                    os.remove(os.path.join(current, name))
                    removed += 1
                except OSError:
                    pass
    return removed


def read_input_image(source: str, codec: Any, *, to_8bit: bool = False) -> Any:
    """Read one input image for ``codec``: 16-bit kept for the lossless codec, reduced
    with ``to_8bit``, else refused; refused up front (before its pixels are decoded)
    when coding it would need more memory than this process may use.

    Raises:
        InputError: not a readable image of a kind the codec takes.
        SizeLimitError: coding it would need more memory than this process may use.
    """
    from ._files import check_input
    from ._memory import require_memory
    from .data.images import check_image_header, probe_image, read_image

    check_input(source)  # a pipe or a device would block the reader
    lossless = codec.name == "lossless"
    bit_depth = "keep" if lossless else ("reduce" if to_8bit else "8")
    info = probe_image(source)
    check_image_header(info, bit_depth=bit_depth)
    estimate = getattr(codec, "peak_memory_bytes", None)
    if estimate is not None:
        if lossless:
            keep = 16 if info.bit_depth > 8 else 8
            needed = estimate(info.height, info.width, info.channels, keep)
        else:
            needed = estimate(info.height, info.width)
        require_memory(needed, f"coding {source} ({info.width}x{info.height})")
    return read_image(source, bit_depth=bit_depth)


# -- workers -------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(codec: str, options: dict[str, Any], to_8bit: bool) -> None:
    """Per worker, once: the codec and its model (``codec`` empty: decoding, where each
    file names its codec; those are made once per name)."""
    from .codecs import get_codec

    coder = get_codec(codec, **options) if codec else None
    if coder is not None and hasattr(coder, "model"):
        _ = coder.model  # load the model now, not with the first file
    _WORKER.update(codec=coder, options=options, to_8bit=to_8bit, decoders={})


def _decoder(name: str) -> Any:
    """This worker's decoder for codec ``name`` (made once, with the run's options)."""
    from .codecs import get_codec
    from .codecs.registry import codec_spec

    decoders = _WORKER["decoders"]
    if name not in decoders:
        spec = codec_spec(name)
        if "image" not in spec.modalities or spec.writes != "rdl" or name == "inr":
            raise InputError("input", f"a {name} file; batch decoding handles image files")
        options = _WORKER["options"] if spec.models else {}
        decoders[name] = get_codec(name, **options)
    return decoders[name]


def _recorded(item: WorkItem, work: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """The manifest record of ``work(record)`` on ``item``: what ``work`` adds, then
    ``status`` ``ok``, or ``failed`` with the one-line error (a bad input never raises
    out of a worker), and the seconds it took."""
    start = time.perf_counter()
    record: dict[str, Any] = {"key": item.key, "input": item.source, "output": item.output}
    try:
        work(record)
        record["status"] = "ok"
    except RdlabError as exc:
        record.update(status="failed", error=" ".join(str(exc).split()))
    except Exception as exc:  # an internal error is recorded, the run goes on
        record.update(status="failed", error=f"internal error: {type(exc).__name__}: {exc}")
    record["seconds"] = round(time.perf_counter() - start, 4)
    return record


def _decompress_item(item: WorkItem) -> dict[str, Any]:
    """Decode one ``.rdl`` file to a lossless image (its manifest record)."""
    from .codecs.registry import known_codecs
    from .container import decode_rdl
    from .data.images import write_image

    def work(record: dict[str, Any]) -> None:
        record.update(_stat_of(item.source))
        with open(item.source, "rb") as file:
            data = file.read()
        record["input_sha256"] = hashlib.sha256(data).hexdigest()
        header = decode_rdl(data, codecs=known_codecs())
        image = _decoder(header.codec).decode(data)
        os.makedirs(os.path.dirname(item.output), exist_ok=True)
        size = write_image(item.output, image, overwrite=True)
        record.update(
            codec=header.codec,
            output_bytes=size,
            output_sha256=sha256_of(item.output),
            bits_per_pixel=8 * len(data) / (int(image.shape[0]) * int(image.shape[1])),
        )

    return _recorded(item, work)


JOBS: dict[str, Callable[[WorkItem], dict[str, Any]]] = {}
"""Jobs by name (``"compress"``, ``"decompress"``): ``job(item) -> manifest record``."""


def _compress_item(item: WorkItem) -> dict[str, Any]:
    """Code one file with this worker's codec (its manifest record)."""
    from .metrics import psnr_integer

    def work(record: dict[str, Any]) -> None:
        record.update(_stat_of(item.source))  # before reading: a later change is seen
        record["input_sha256"] = sha256_of(item.source)
        coder = _WORKER["codec"]
        image = read_input_image(item.source, coder, to_8bit=_WORKER["to_8bit"])
        data = coder.encode(image)
        decoded = coder.decode(data)
        os.makedirs(os.path.dirname(item.output), exist_ok=True)
        write_atomic(item.output, data, overwrite=True)
        value = psnr_integer(image, decoded)
        record.update(
            output_bytes=len(data),
            output_sha256=hashlib.sha256(data).hexdigest(),
            bits_per_pixel=8 * len(data) / (int(image.shape[0]) * int(image.shape[1])),
            psnr_db=value if value != float("inf") else None,
        )

    return _recorded(item, work)


JOBS.update(compress=_compress_item, decompress=_decompress_item)


def _died(item: WorkItem, error: WorkerDiedError) -> dict[str, Any]:
    """The record of an item whose worker process died (alone, twice) while coding it."""
    return {"key": item.key, "input": item.source, "output": item.output,
            "status": "failed", "error": str(error)}  # fmt: skip


@dataclass
class BatchReport:
    """What a batch run did: counts, time and throughput (of the files coded now)."""

    planned: int
    coded: int
    skipped: int
    failed: int
    seconds: float
    input_bytes: int
    workers: int
    engine: str
    manifest: str
    failures: list[dict[str, str]]

    @property
    def files_per_second(self) -> float:
        return (self.coded + self.failed) / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["files_per_second"] = self.files_per_second
        out["input_mb_per_second"] = (
            self.input_bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0
        )
        return out


def run_batch(
    items: Sequence[WorkItem],
    codec: str,
    options: dict[str, Any],
    outdir: str,
    *,
    engine: Engine = LOCAL,
    to_8bit: bool = False,
    job: str = "compress",
    progress: Callable[[int], None] | None = None,
) -> BatchReport:
    """Run ``job`` on ``items`` with an engine, resuming from the manifest.

    Args:
        items: the plan (:func:`plan_compress` or :func:`plan_decompress`).
        codec: compressing: a registered ``.rdl`` codec name (decompressing: ``""``,
            each file names its own); ``options`` its keyword options (decompressing:
            e.g. ``model``). They are part of what a manifest record must match to be
            skipped.
        outdir: the output folder (holds the manifest).
        engine: where the items run (:class:`rdlab.parallel.Engine`: local processes,
            1 being this process, or Ray actors; their PyTorch threads).
        to_8bit: reduce 16-bit inputs to 8 bits for a lossy codec (else refused).
        job: ``"compress"`` or ``"decompress"`` (:data:`JOBS`).
        progress: called with the number of items finished so far.

    Returns:
        The :class:`BatchReport`.

    Raises:
        InputError: an unknown job, Ray asked for and not installed.
    """
    if job not in JOBS:
        raise InputError("job", f"unknown job {job!r} (known: {', '.join(JOBS)})")
    Path(outdir).mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(outdir)
    manifest = Manifest(Path(outdir) / MANIFEST)
    settings = {"job": job, "codec": codec, "options": options, "to_8bit": to_8bit}
    todo, done = pending(items, manifest, settings)
    start = time.perf_counter()
    results = map_unordered(
        JOBS[job],
        todo,
        init=_init_worker,
        init_args=(codec, options, to_8bit),
        engine=engine,
    )
    failed: list[tuple[int, dict[str, str]]] = []
    input_bytes = 0
    for finished, (index, result) in enumerate(results, start=1):
        record = _died(todo[index], result) if isinstance(result, WorkerDiedError) else result
        record["settings"] = settings
        manifest.append(record)
        input_bytes += int(record.get("input_bytes", 0))
        if record["status"] != "ok":
            failed.append((index, {"input": record["input"], "error": record.get("error", "")}))
        if progress is not None:
            progress(finished)
    seconds = time.perf_counter() - start
    failures = [failure for _, failure in sorted(failed, key=lambda f: f[0])]  # plan order
    return BatchReport(
        planned=len(items),
        coded=len(todo) - len(failures),
        skipped=len(done),
        failed=len(failures),
        seconds=seconds,
        input_bytes=input_bytes,
        workers=engine.workers,
        engine=engine.kind,
        manifest=str(manifest.path),
        failures=failures,
    )


def batch_inputs(paths: Iterable[str]) -> bool:
    """Whether a command line's inputs ask for batch mode (a folder or a pattern)."""
    return any(is_batch_input(p) for p in paths)
