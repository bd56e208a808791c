"""How much memory this process may still use, to refuse work that would not fit.

The bounds come from wherever the system sets one (Linux first, sensible fallbacks
elsewhere): the kernel's estimate of available memory (``MemAvailable`` in
``/proc/meminfo``), the memory limit of the process's cgroup (v2 ``memory.max`` or v1
``memory.limit_in_bytes``, of the cgroup and of each ancestor, less what it uses
already), the address-space limit ``RLIMIT_AS`` less the current virtual size, and,
when none of those can be read, the physical memory the OS reports. The smallest bound
is what :func:`available_memory_bytes` returns.
"""

from __future__ import annotations

import os

from .errors import InputError, SizeLimitError

__all__ = ["available_memory_bytes", "human_bytes", "memory_limits", "require_memory"]

_UNLIMITED = 1 << 60  # cgroup v1 writes "no limit" as 2**63 - 4096 or so


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _read_int(path: str) -> int | None:
    text = _read_text(path)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return value if 0 <= value < _UNLIMITED else None


def _meminfo_available() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes (Linux), else None."""
    text = _read_text("/proc/meminfo")
    for line in (text or "").splitlines():
        if line.startswith("MemAvailable:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) * 1024
    return None


def _stat_field(path: str, key: str) -> int:
    """A field of a cgroup ``memory.stat`` file (0 when absent)."""
    for line in (_read_text(path) or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def _ancestors(relative: str) -> list[str]:
    """``/a/b`` -> ``["/a/b", "/a", "/"]``."""
    parts = [p for p in relative.split("/") if p]
    return ["/" + "/".join(parts[:n]) for n in range(len(parts), -1, -1)]


def _cgroup_headroom() -> int | None:
    """Smallest ``limit - usage`` (page cache that can be dropped counted free) over the
    process's memory cgroup and its ancestors, v2 or v1; None when no limit is set."""
    text = _read_text("/proc/self/cgroup")
    if text is None:
        return None
    best: int | None = None
    for line in text.splitlines():
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, relative = fields
        if controllers == "":  # cgroup v2
            roots = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
            limit_file, usage_file, cache_key = "memory.max", "memory.current", "inactive_file"
        elif "memory" in controllers.split(","):  # cgroup v1
            roots = ["/sys/fs/cgroup/memory"]
            limit_file, usage_file = "memory.limit_in_bytes", "memory.usage_in_bytes"
            cache_key = "total_inactive_file"
        else:
            continue
        for root in roots:
            for group in _ancestors(relative):
                directory = root + group.rstrip("/")
                limit = _read_int(os.path.join(directory, limit_file))
                if limit is None:
                    continue
                usage = _read_int(os.path.join(directory, usage_file)) or 0
                cache = _stat_field(os.path.join(directory, "memory.stat"), cache_key)
                headroom = max(0, limit - max(0, usage - cache))
                best = headroom if best is None else min(best, headroom)
    return best


def _address_space_headroom() -> int | None:
    """``RLIMIT_AS`` less the current virtual size, when such a limit is set."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    used = 0
    for line in (_read_text("/proc/self/status") or "").splitlines():
        if line.startswith("VmSize:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                used = int(fields[1]) * 1024
    return max(0, soft - used)


def _physical_memory() -> int | None:
    """Total physical memory as the OS reports it (the fallback off Linux; None on
    systems without ``sysconf``, such as Windows)."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        pages = size = -1
    if pages > 0 and size > 0:
        return int(pages) * int(size)
    return None


def memory_limits() -> dict[str, int]:
    """Each bound on the memory this process may still use that the system sets, in bytes.

    Returns:
        A mapping (possibly empty) with some of the keys ``"available"``
        (``MemAvailable``), ``"cgroup"`` (cgroup limit less usage), ``"address_space"``
        (``RLIMIT_AS`` less the virtual size) and, only when none of those is known,
        ``"physical"`` (total physical memory).
    """
    limits: dict[str, int] = {}
    for key, probe in (
        ("available", _meminfo_available),
        ("cgroup", _cgroup_headroom),
        ("address_space", _address_space_headroom),
    ):
        value = probe()
        if value is not None:
            limits[key] = value
    if not limits:
        physical = _physical_memory()
        if physical is not None:
            limits["physical"] = physical
    return limits


def available_memory_bytes() -> int | None:
    """Bytes of memory this process can still allocate: the smallest of
    :func:`memory_limits`, or None when the system tells nothing."""
    limits = memory_limits()
    return min(limits.values()) if limits else None


def human_bytes(size: float) -> str:
    """``size`` bytes in binary units, e.g. ``"3.2 GiB"`` (the CLI's format)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def require_memory(needed: int, what: str, *, argument: str = "input") -> None:
    """Refuse, before any work, a task that needs more memory than is available.

    Args:
        needed: estimated peak memory of the task, in bytes.
        what: the task, for the message (e.g. ``"coding a.png (20000x20000)"``).
        argument: the argument named in the error.

    Raises:
        InputError: ``needed`` exceeds :func:`available_memory_bytes` (nothing is
            refused when the system tells no bound).
    """
    limits = memory_limits()
    if not limits:
        return
    source, available = min(limits.items(), key=lambda item: item[1])
    if needed > available:
        raise InputError(
            argument,
            f"{what} needs about {human_bytes(needed)} of memory, more than the "
            f"{human_bytes(available)} this process can use ({source})",
        )


def refuse_decode_beyond_memory(needed: int, what: str) -> None:
    """Refuse, before any allocation, a file whose decoding needs more memory than this
    process may use (nothing is refused when the system tells no bound).

    Args:
        needed: estimated peak memory of decoding it, in bytes.
        what: the file and its size, for the message (e.g. ``"lossless file: 8192x8192"``).

    Raises:
        SizeLimitError: ``needed`` exceeds :func:`available_memory_bytes`.
    """
    available = available_memory_bytes()
    if available is not None and needed > available:
        raise SizeLimitError(
            f"{what}: decoding needs about {human_bytes(needed)} of memory, more than the "
            f"{human_bytes(available)} this process can use"
        )
