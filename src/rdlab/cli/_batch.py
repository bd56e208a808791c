"""Commands over several files: each file's failure named and reported, the rest done.

A batch tool should not stop at the first bad file: :func:`run_batch` runs one job per
input, prints ``rdlab: error: FILE: ...`` for each that fails (rdlab's own errors only;
a bug still ends the run), carries on with the others and makes the command exit 2 at
the end if any failed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import InputError, RdlabError
from ._output import emit

EXIT_FAILED = 2

Job = Callable[[str, str], tuple[dict[str, Any], str]]


def planned_outputs(
    inputs: Sequence[str], output: str | None, default: Callable[[str], str]
) -> list[str]:
    """One output path per input: ``output`` for a single input, else ``default(input)``.

    Raises:
        InputError: ``-o`` with several inputs, or two inputs that would share an output.
    """
    if output and len(inputs) > 1:
        raise InputError(
            "output",
            "-o/--output names one file; with several inputs, leave it "
            "out and each output is named after its input",
        )
    outputs = [output] if output else [default(path) for path in inputs]
    seen: dict[str, str] = {}
    for source, target in zip(inputs, outputs, strict=True):
        key = os.path.normcase(os.path.abspath(target))
        if key in seen:
            raise InputError(
                "output", f"{seen[key]} and {source} would both be written to {target}"
            )
        seen[key] = source
    return outputs


def _message(source: str, exc: BaseException) -> str:
    """The error's one line, naming ``source`` unless it already does as a whole word."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    named = re.search(rf"(^|[\s'\"(]){re.escape(source)}($|[\s:,;'\")])", text)
    return text if named else f"{source}: {text}"


def run_batch(
    args: argparse.Namespace,
    pairs: Sequence[tuple[str, str]],
    job: Job,
    wrap: Callable[[Any], Any] = lambda items: items,
) -> int:
    """Run ``job(source, output)`` for every pair; print the reports; return the exit code.

    Args:
        args: the command's arguments (``json`` and ``debug`` are read).
        pairs: ``(input, output)`` paths.
        job: codes one file, returning its JSON report and its text line; raises an
            :class:`~rdlab.errors.RdlabError` for a bad file.
        wrap: wraps the iteration (a progress display).

    Returns:
        0 if every file succeeded, else 2 (after the others were done).
    """
    reports: list[dict[str, Any]] = []
    lines: list[str] = []
    failed: list[dict[str, str]] = []
    for source, output in wrap(pairs):
        try:
            report, line = job(source, output)
        except RdlabError as exc:
            message = _message(source, exc)
            sys.stderr.write(f"rdlab: error: {message}\n")
            if getattr(args, "debug", False):
                traceback.print_exc()
            failed.append({"input": source, "error": message})
            continue
        reports.append(report)
        lines.append(line)
    if reports or len(pairs) > 1:
        if len(pairs) == 1:
            emit(reports[0], args.json, "\n".join(lines))
        else:
            document: dict[str, Any] = {"files": reports}
            if failed:
                document["failed"] = failed
            if failed:
                lines.append(f"{len(failed)} of {len(pairs)} files failed")
            emit(document, args.json, "\n".join(lines))
    return EXIT_FAILED if failed else 0
