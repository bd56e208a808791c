"""``--workers N`` and ``--ray [ADDRESS]``: where a command's many independent pieces of
work run (:mod:`rdlab.parallel`), the same options for batch coding and benchmarks."""

from __future__ import annotations

import argparse

from ..errors import InputError
from ..parallel import Engine

RAY_HELP = (
    "run on Ray (pip install 'rdlab[ray]'): N actors on a local Ray instance started for "
    "the run and stopped after it (its servers listen on the machine's interfaces), or on "
    "the cluster at ADDRESS"
)


def add_engine_arguments(parser: argparse.ArgumentParser, workers_help: str) -> None:
    """Add ``--workers N`` (with ``workers_help``) and ``--ray [ADDRESS]`` to ``parser``."""
    parser.add_argument("--workers", type=int, metavar="N", help=workers_help)
    parser.add_argument("--ray", nargs="?", const="", metavar="ADDRESS", help=RAY_HELP)


def engine_settings(args: argparse.Namespace) -> Engine:
    """The :class:`rdlab.parallel.Engine` of the parsed options: ``--workers`` N (default
    1 local process, or one Ray actor per usable core with ``--ray``), ``--ray``'s
    address, ``--threads`` per worker.

    Raises:
        InputError: ``--workers`` or ``--threads`` below 1.
    """
    from .._threads import check_threads, usable_cores

    threads = check_threads(getattr(args, "threads", None))
    ray = getattr(args, "ray", None)
    workers = args.workers
    if workers is None:
        workers = usable_cores() if ray is not None else 1
    if workers < 1:
        raise InputError("--workers", f"must be >= 1, got {workers}")
    return Engine(workers, "local" if ray is None else "ray", ray or None, threads)
