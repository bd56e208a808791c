"""Run ``rdlab`` in a private network namespace whose only interface is loopback.

Usage (what ``tests/test_batch.py`` runs)::

    unshare --map-root-user --net python tests/_private_network.py REPORT.json ARGS...
    unshare --map-root-user --net python tests/_private_network.py REPORT.json \
        --call MODULE:FUNCTION

A local Ray instance listens on all of the machine's interfaces (Ray 2.60 puts its
servers on the node address, which it resolves to the machine's external address even
when given 127.0.0.1); inside this namespace the only address there is, is 127.0.0.1, so
nothing outside the namespace can reach it. This script brings the loopback interface
up, runs ``rdlab ARGS...`` (or ``FUNCTION()`` of ``MODULE``, imported from this folder)
in this process, samples the namespace's listening TCP sockets every 50 ms while it
runs, and writes ``{"code", "interfaces", "listening", "value"}`` to REPORT.json
(``listening``: every distinct local address seen in LISTEN state; ``value``: what
FUNCTION returned, JSON).
"""

from __future__ import annotations

import fcntl
import importlib
import ipaddress
import json
import socket
import struct
import sys
import threading
from typing import Any

_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up() -> None:
    """Set the ``lo`` interface up (a new network namespace starts with it down)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, _SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def interfaces() -> list[str]:
    """The network interfaces of this process's namespace."""
    with open("/proc/self/net/dev") as dev:
        return [line.split(":")[0].strip() for line in dev.readlines()[2:]]


def _address(hex_address: str) -> str:
    """``/proc/net/tcp{,6}``'s hex form (32-bit words in host order) as an IP address
    (an IPv4-mapped IPv6 address as the IPv4 one)."""
    raw = bytes.fromhex(hex_address)
    address = ipaddress.ip_address(b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4)))
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:a.b.c.d is IPv4's a.b.c.d
    return str(mapped or address)


def listening() -> set[str]:
    """``address:port`` of every TCP socket in LISTEN state in this namespace."""
    found = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as rows:
            for row in rows.readlines()[1:]:
                fields = row.split()
                if fields[3] == "0A":  # TCP_LISTEN
                    host, port = fields[1].split(":")
                    found.add(f"{_address(host)}:{int(port, 16)}")
    return found


def run_isolated(report: Any, *argv: str, timeout: float = 300) -> tuple[dict, Any]:
    """For tests: this script on ``argv`` in a new network namespace (the test is skipped
    where unprivileged namespaces are refused); the report and the finished process."""
    import os
    import subprocess

    import pytest

    prefix = ["unshare", "--map-root-user", "--net"]
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"unshare unavailable: {exc}")
    if probe.returncode != 0:
        pytest.skip(f"no private network namespace: {probe.stderr.decode().strip()}")
    here = os.path.dirname(os.path.abspath(__file__))
    command = [*prefix, sys.executable, os.path.join(here, "_private_network.py"), str(report)]
    child = subprocess.run([*command, *argv], capture_output=True, timeout=timeout, cwd=here)
    assert os.path.isfile(report), child.stderr.decode()[-2000:]
    with open(report) as handle:
        result = json.load(handle)
    # the namespace held loopback only, and every server seen listening was on it
    assert result["interfaces"] == ["lo"]
    assert result["listening"], "no server was seen listening"
    for address in result["listening"]:
        assert ipaddress.ip_address(address.rsplit(":", 1)[0]).is_loopback, address
    return result, child


def main() -> int:
    report, argv = sys.argv[1], sys.argv[2:]
    loopback_up()
    seen: set[str] = set()
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            seen.update(listening())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    value = None
    try:
        if argv[0] == "--call":  # MODULE:FUNCTION, importable from this folder
            module, function = argv[1].split(":")
            value = getattr(importlib.import_module(module), function)()
            code = 0
        else:
            from rdlab.cli import main as rdlab_main

            code = rdlab_main(argv)
    finally:
        stop.set()
        sampler.join()
    result = {"code": code, "interfaces": interfaces(), "listening": sorted(seen), "value": value}
    with open(report, "w") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
