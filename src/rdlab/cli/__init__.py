"""The ``rdlab`` command line: a thin layer over the library.

One module per subcommand; each exposes ``add_parser(subparsers)`` and ``run(args)``.
Errors: rdlab's own errors (bad input, bad files) print one line ``rdlab: error: ...``
and exit 2; anything else is a bug: one line and exit 1 (``--debug`` shows the
traceback). Reports go to stdout (``--json`` for machine-readable output), progress bars
to stderr and only on a terminal.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from .. import __version__
from ..errors import RdlabError
from . import bench, compress, demo, info, inspect, ltc, rd, rec, train

COMMANDS = (
    info,
    inspect,
    compress.CompressCommand,
    compress.DecompressCommand,
    demo,
    bench,
    rd,
    ltc,
    rec,
    train,
)

EXIT_OK, EXIT_BUG, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``rdlab: error: ...``) and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"rdlab: error: {message} (see 'rdlab --help')\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rdlab", description="Learned compression measured against the limit.")
    parser.add_argument("--version", action="version", version=f"rdlab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.run(args) or EXIT_OK)
    except RdlabError as exc:
        sys.stderr.write(f"rdlab: error: {_one_line(exc)}\n")
        if args.debug:
            traceback.print_exc()
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("rdlab: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug in rdlab: say so, briefly
        if args.debug:
            traceback.print_exc()
        hint = "" if args.debug else " (run with --debug for the traceback)"
        sys.stderr.write(f"rdlab: internal error: {type(exc).__name__}: {_one_line(exc)}{hint}\n")
        return EXIT_BUG


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
