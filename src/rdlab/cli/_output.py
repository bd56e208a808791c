"""Printing reports (text or JSON) and progress bars that appear only on a terminal."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def emit(report: dict[str, Any], as_json: bool, text: str) -> None:
    """Print ``report`` as JSON (stdout) or the human-readable ``text``."""
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2, sort_keys=False) + "\n")
    else:
        sys.stdout.write(text.rstrip("\n") + "\n")


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a tqdm bar on stderr when stderr is a terminal; silently otherwise."""
    if not sys.stderr.isatty():
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, desc=description, total=total, leave=False, file=sys.stderr)


def progress_bar(total: int, description: str) -> Any:
    """A tqdm bar on stderr (call ``.update(n)``, ``.close()``) when stderr is a terminal,
    else None."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=description, leave=False, file=sys.stderr)


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
