"""How many CPU threads rdlab's PyTorch work uses: the cores this process may use.

PyTorch's default is the machine's core count, which ignores a CPU affinity mask and a
container's CPU quota; more OpenMP threads than usable cores spin and wait on each other
(an INR encode ran 5 to 20 times slower on a loaded 2-core machine). So rdlab counts
what this process may actually run on:

- the CPU affinity mask (``os.sched_getaffinity``; ``os.cpu_count()`` where that is
  missing);
- the cgroup CPU quota: cgroup v2 ``cpu.max``, cgroup v1 ``cpu.cfs_quota_us`` /
  ``cpu.cfs_period_us``, the smallest along the process's cgroup path, rounded down
  (a quota of 1.5 CPUs gives 1 thread, never fewer than 1);
- ``OMP_NUM_THREADS`` when it is set to a positive integer (the user's choice).

Threads never change what a file decodes to, and the transform codecs (hyperprior,
context, lossless, lattice) write the same bytes for any count. The INR encoder is the
exception: it fits a network by float32 gradient descent, whose sums PyTorch splits by
thread, so 1 and 2 threads can write different (equally valid) files; fix ``threads``
where an INR run must be repeated byte for byte.
PyTorch is imported only by :func:`apply_threads`.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator

from .errors import InputError

__all__ = ["apply_threads", "cgroup_cpu_limit", "cpu_limit", "one_thread", "usable_cores"]

#: Where the cgroup file systems are mounted (v2: here or at ``unified/``; v1: one
#: folder per controller). Module settings, so tests can point them at a fake tree.
CGROUP_ROOT = "/sys/fs/cgroup"
#: The process's cgroup memberships, one ``ID:CONTROLLERS:PATH`` line each.
PROC_SELF_CGROUP = "/proc/self/cgroup"

_interop_set = False


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _ratio(quota: str | None, period: str | None) -> float | None:
    """CPUs of a quota per period (both in microseconds); None for no (or a bad) quota."""
    try:
        q, p = int(quota or ""), int(period or "")
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def _memberships() -> list[tuple[set[str], str]]:
    """``(controllers, path)`` per line of ``/proc/self/cgroup``; controllers are empty
    for the cgroup v2 hierarchy (``0::/path``)."""
    text = _read(PROC_SELF_CGROUP)
    out = []
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            out.append(({c for c in parts[1].split(",") if c}, parts[2]))
    return out or [(set(), "/")]


def _with_ancestors(mount: str, path: str) -> list[str]:
    """``mount`` and every folder from it down to ``mount/path``. (Inside a container
    without a cgroup namespace the path names the host's folder, which is absent: the
    container's own cgroup is then the mount itself.)"""
    parts = [p for p in path.split("/") if p and p not in (".", "..")]
    return [mount] + [os.path.join(mount, *parts[: i + 1]) for i in range(len(parts))]


def cgroup_cpu_limit() -> float | None:
    """CPUs this process's cgroups allow (quota / period, the smallest along its path in
    any hierarchy), or None when no CPU quota applies or none can be read.

    Returns:
        The number of CPUs (may be fractional, e.g. 1.5), or None.
    """
    limits: list[float | None] = []
    for controllers, path in _memberships():
        if not controllers:  # cgroup v2, mounted at the root or (hybrid) at unified/
            for mount in (CGROUP_ROOT, os.path.join(CGROUP_ROOT, "unified")):
                for folder in _with_ancestors(mount, path):
                    fields = (_read(os.path.join(folder, "cpu.max")) or "").split()
                    if len(fields) == 2:
                        limits.append(_ratio(fields[0], fields[1]))  # "max ..." -> None
        elif "cpu" in controllers:
            names = dict.fromkeys(("cpu", ",".join(sorted(controllers)), "cpu,cpuacct"))
            for name in names:
                for folder in _with_ancestors(os.path.join(CGROUP_ROOT, name), path):
                    limits.append(
                        _ratio(
                            _read(os.path.join(folder, "cpu.cfs_quota_us")),
                            _read(os.path.join(folder, "cpu.cfs_period_us")),
                        )
                    )
    found = [limit for limit in limits if limit is not None]
    return min(found) if found else None


def _affinity_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def cpu_limit() -> int:
    """Cores this process may run on: its affinity mask, capped by a cgroup CPU quota
    (rounded down, at least 1). ``OMP_NUM_THREADS`` is not counted here."""
    cores = _affinity_cores()
    quota = cgroup_cpu_limit()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return cores


def _env_threads() -> int | None:
    """``OMP_NUM_THREADS`` (its first entry) when it is a positive integer, else None."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    try:
        threads = int(value)
    except ValueError:
        return None
    return threads if threads >= 1 else None


def usable_cores() -> int:
    """The thread count rdlab uses by default: :func:`cpu_limit`, and no more than
    ``OMP_NUM_THREADS`` when that is set.

    Returns:
        A count >= 1.
    """
    cores = cpu_limit()
    env = _env_threads()
    return min(cores, env) if env is not None else cores


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """PyTorch's intra-op thread count is 1 inside the block (restored after it).

    For small float computations whose last bits would otherwise depend on how oneDNN
    splits them between threads (seen: the hyperprior's mean branch, whose float means
    move reconstructed values, gave means one ulp apart for 1 and 2 threads, and one
    decoded pixel moved by a level).
    """
    import torch

    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


def check_threads(requested: int | None) -> int | None:
    """``requested`` if it is a valid thread count (an integer >= 1) or None; checked
    without importing PyTorch, so a command can refuse it before any work.

    Raises:
        InputError: on argument ``threads``.
    """
    if requested is not None and (
        isinstance(requested, bool) or not isinstance(requested, int) or requested < 1
    ):
        raise InputError("threads", f"must be an integer >= 1, got {requested!r}")
    return requested


def apply_threads(requested: int | None = None) -> int:
    """Set PyTorch's thread counts: ``requested`` (capped at :func:`cpu_limit`: more
    threads than cores only wait on each other) or, for None, :func:`usable_cores`.

    The intra-op count is set every call; the inter-op pool can be sized only once per
    process and before it starts, so it is lowered (never raised) on the first call and
    left alone when PyTorch refuses.

    Args:
        requested: threads asked for (``--threads``), an integer >= 1, or None.

    Returns:
        The intra-op thread count now in effect.

    Raises:
        InputError: ``requested`` is not an integer >= 1 (argument ``threads``).
    """
    global _interop_set
    requested = check_threads(requested)
    threads = usable_cores() if requested is None else min(requested, cpu_limit())
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if not _interop_set:
        _interop_set = True
        try:
            if torch.get_num_interop_threads() > threads:
                torch.set_num_interop_threads(threads)
        except RuntimeError:  # inter-op work already started, or set before
            pass
    return threads
