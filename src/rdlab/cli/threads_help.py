"""The ``--threads`` option, the same in every command that runs PyTorch."""

from __future__ import annotations

from typing import Any

from .._threads import usable_cores

THREADS_HELP = (
    "CPU threads for PyTorch (default: the cores this process may use, "
    f"{usable_cores()} here, from its CPU affinity, cgroup CPU quota and OMP_NUM_THREADS; "
    "never more than its cores); any count gives the same output"
)


def add_threads_argument(parser: Any) -> None:
    """Add ``--threads N`` (passed to :func:`rdlab._threads.apply_threads` by ``run``)."""
    parser.add_argument("--threads", type=int, metavar="N", help=THREADS_HELP)
