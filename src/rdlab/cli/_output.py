"""Printing reports (text or JSON) and progress on stderr.

Progress: a tqdm bar when stderr is a terminal; otherwise (a log file, a pipe, a job
scheduler) a plain line every :data:`PROGRESS_INTERVAL` seconds, so a long run off a
terminal is not silent::

    rdlab: training: 120/800 (15%), 0:30 elapsed, about 2:50 left

``rdlab --quiet`` (:data:`QUIET`) silences both.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, TypeVar

from .._memory import human_bytes as human_bytes  # the CLI's size format

T = TypeVar("T")

#: Seconds between two plain progress lines when stderr is not a terminal (0: a line
#: on every update, for tests).
PROGRESS_INTERVAL = 30.0
#: No progress output at all (set by ``rdlab --quiet`` for the command's run).
QUIET = False


class Progress(Protocol):
    """What :func:`progress_bar` returns: ``n`` items done so far, ``update(n)``, ``close()``."""

    n: int | float

    def update(self, n: int | float = 1) -> Any: ...

    def close(self) -> None: ...


def emit(report: dict[str, Any], as_json: bool, text: str) -> None:
    """Print ``report`` as JSON (stdout) or the human-readable ``text``."""
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, sort_keys=False) + "\n")
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")


def emit_benchmark(args: Any, report: dict[str, Any], lines: list[str]) -> int:
    """A benchmark command's ending: the text lines plus where the plot went (``--plot``),
    or the JSON report (``--json``); returns exit status 0."""
    if "plot" in report:
        lines = [*lines, f"plot written to {report['plot']['path']}"]
    emit(report, args.json, "\n".join(lines))
    return 0


def _clock(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _Silent:
    """Progress that shows nothing (``--quiet``)."""

    def __init__(self) -> None:
        self.n: int | float = 0

    def update(self, n: int | float = 1) -> None:
        self.n += n

    def close(self) -> None:
        pass


class LineProgress(_Silent):
    """Plain progress lines on stderr, at most one per :data:`PROGRESS_INTERVAL` seconds
    (the first after one interval, so short runs print nothing): stage, done/total,
    elapsed time and an estimate of the time left. ``close`` prints the final count if
    a line was printed before it."""

    def __init__(self, total: int | float | None, description: str) -> None:
        super().__init__()
        self.total = total if total else None
        self.description = description
        self.start = self.last = time.monotonic()
        self.shown: int | float | None = None

    def update(self, n: int | float = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL:
            self.last = now
            self._print(now)

    def close(self) -> None:
        if self.shown is not None and self.shown != self.n:
            self._print(time.monotonic())

    def _print(self, now: float) -> None:
        elapsed = now - self.start
        done = f"{self.n:g}"
        line = f"rdlab: {self.description}: {done}"
        if self.total is not None:
            line += f"/{self.total:g} ({100.0 * self.n / self.total:.0f}%)"
        line += f", {_clock(elapsed)} elapsed"
        if self.total is not None and 0 < self.n < self.total:
            line += f", about {_clock(elapsed * (self.total - self.n) / self.n)} left"
        self.shown = self.n
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def progress_bar(total: int | float | None, description: str) -> Progress:
    """Progress of ``total`` steps: a tqdm bar on a terminal, else plain lines
    (:class:`LineProgress`), nothing with ``--quiet``. Call ``.update(n)`` and
    ``.close()``; ``.n`` is the count so far."""
    if QUIET:
        return _Silent()
    if not sys.stderr.isatty():
        return LineProgress(total, description)
    from tqdm import tqdm

    return tqdm(total=total, desc=description, leave=False, file=sys.stderr)


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items`` showing progress as :func:`progress_bar` does (the total
    is ``len(items)`` when not given and ``items`` has a length)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    bar = progress_bar(total, description)
    try:
        for item in items:
            yield item
            bar.update(1)
    finally:
        bar.close()


def add_report_options(parser: Any) -> None:
    """``--json``, ``--plot OUT.png`` and ``--force``: the options of a benchmark command."""
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--plot", metavar="OUT.png", default=None, help="write a PNG plot")
    parser.add_argument("--force", action="store_true", help="overwrite an existing plot")


def run_reported(
    args: Any,
    total: int,
    description: str,
    work: Any,
    render: Any,
    protect: Iterable[str] = (),
) -> dict[str, Any]:
    """Run a benchmark command's ``work(progress) -> report`` under a progress bar of
    ``total`` steps (``progress(k)``: k done); the plot path is refused before any work
    and written atomically after it (``render(report) -> PNG bytes``), its path and size
    added to the report as ``"plot"``."""
    from .._files import check_output, write_atomic

    if args.plot:
        check_output(args.plot, overwrite=args.force, protect=protect)
    bar = progress_bar(total, description)
    try:
        report = work(lambda k: bar.update(k - bar.n))
    finally:
        bar.close()
    if args.plot:
        size = write_atomic(args.plot, render(report), overwrite=args.force, protect=protect)
        report["plot"] = {"path": str(args.plot), "bytes": size}
    return report
