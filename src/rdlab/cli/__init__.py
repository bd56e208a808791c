"""The ``rdlab`` command line: a thin layer over the library.

One module per subcommand; each exposes ``add_parser(subparsers)`` and ``run(args)``.
Errors: rdlab's own errors (bad input, bad files) print one line ``rdlab: error: ...``
and exit 2; anything else is a bug: one line and exit 1 (``--debug`` shows the
traceback). Reports go to stdout (``--json`` for machine-readable output), progress to
stderr (a bar on a terminal, a plain line every 30 s otherwise; ``--quiet``: none).

Start-up stays fast: building the parser imports no codec, PyTorch or SciPy; each
command imports what it needs in ``run`` (``rdlab --help``, ``info`` and ``inspect``
never load PyTorch).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import traceback
from collections.abc import Iterator

from .. import __version__
from ..errors import RdlabError
from . import (
    _output,
    bench,
    compress,
    demo,
    info,
    inspect,
    ltc,
    perception,
    privacy,
    rd,
    rec,
    task,
    train,
)
from ._parser import EXIT_USAGE, QUIET_HELP, Parser, SubParser

COMMANDS = (
    info,
    inspect,
    compress.CompressCommand,
    compress.DecompressCommand,
    demo,
    bench,
    rd,
    perception,
    ltc,
    rec,
    privacy,
    task,
    train,
)

EXIT_OK, EXIT_BUG, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 130, 128 + signal.SIGTERM


class Terminated(BaseException):
    """SIGTERM arrived: raised in the main thread so that what runs stops the way it
    stops for Ctrl-C (temporary files removed, worker processes terminated)."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` while the command runs (main thread only)."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="rdlab", description="Learned compression measured against the limit.")
    parser.add_argument("--version", action="version", version=f"rdlab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    parser.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=SubParser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    quiet = _output.QUIET
    _output.QUIET = bool(args.quiet)
    try:
        with _sigterm_raises():
            return int(args.run(args) or EXIT_OK)
    except Terminated:
        sys.stderr.write("rdlab: terminated\n")
        return EXIT_TERMINATED
    except RdlabError as exc:
        sys.stderr.write(f"rdlab: error: {_one_line(exc)}\n")
        if args.debug:
            traceback.print_exc()
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("rdlab: interrupted\n")
        return EXIT_INTERRUPTED
    except MemoryError:  # the machine's limit, not a bug: say so in one line
        if args.debug:
            traceback.print_exc()
        sys.stderr.write(
            "rdlab: error: out of memory (a smaller input, --tile for large images, or "
            "fewer jobs at once may help)\n"
        )
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug in rdlab: say so, briefly
        if args.debug:
            traceback.print_exc()
        hint = "" if args.debug else " (run with --debug for the traceback)"
        sys.stderr.write(f"rdlab: internal error: {type(exc).__name__}: {_one_line(exc)}{hint}\n")
        return EXIT_BUG
    finally:
        _output.QUIET = quiet


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
