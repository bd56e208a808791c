"""The argument parsers of ``rdlab``: one-line errors, options added only when used.

Building the whole parser must stay cheap (``rdlab --help`` and ``rdlab info`` should
not import PyTorch or SciPy), yet some commands take their options' choices and
defaults from heavy modules. Such a command calls :func:`defer_arguments`: its
arguments are added when that command's parser first parses or prints help.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

EXIT_USAGE = 2

QUIET_HELP = "no progress output (bars on a terminal, progress lines otherwise)"

Setup = Callable[[argparse.ArgumentParser], None]


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``rdlab: error: ...``, exit status 2) and
    arguments that may be added on first use (:meth:`defer`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[Setup] = []

    def defer(self, setup: Setup) -> None:
        """Run ``setup(self)`` (which adds arguments) just before this parser is used."""
        self._pending.append(setup)

    def _complete(self) -> None:
        while self._pending:
            self._pending.pop(0)(self)

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self._complete()
        return super().parse_known_args(*args, **kwargs)

    def format_usage(self) -> str:
        self._complete()
        return super().format_usage()

    def format_help(self) -> str:
        self._complete()
        return super().format_help()

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"rdlab: error: {message} (see 'rdlab --help')\n")
        raise SystemExit(EXIT_USAGE)


class SubParser(Parser):
    """A command's parser: also takes the global ``--quiet`` after the command name
    (``rdlab compress --quiet ...`` as well as ``rdlab --quiet compress ...``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # SUPPRESS: when absent here, the value given before the command stays
        self.add_argument(
            "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP
        )


def defer_arguments(parser: argparse.ArgumentParser, setup: Setup) -> None:
    """Add ``parser``'s arguments with ``setup`` when it is used (rdlab's parsers), or now
    (any other argparse parser, e.g. one a test builds)."""
    if isinstance(parser, Parser):
        parser.defer(setup)
    else:
        setup(parser)


def number_list(rule: str, ok: Callable[[float], bool]) -> Callable[[str], list[float]]:
    """An argparse ``type`` for a comma-separated list of numbers, each of which ``ok``
    accepts (``"inf"`` and ``"nan"`` parse; ``ok`` decides). ``rule`` says what ``ok``
    wants, e.g. ``"epsilon must be finite and > 0"``: the error names the first value
    that breaks it."""

    def parse(text: str) -> list[float]:
        try:
            values = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"give at least one value ({rule})")
        for v in values:
            if not ok(v):
                raise argparse.ArgumentTypeError(f"{rule}, got {v:g}")
        return values

    return parse
