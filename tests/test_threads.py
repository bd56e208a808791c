"""The default thread count: the cores this process may use (affinity, cgroup quota,
OMP_NUM_THREADS), never more threads than cores; ``--threads`` validated."""

from __future__ import annotations

import os

import pytest

from rdlab import _threads
from rdlab.errors import InputError


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A fake machine: 8 CPUs in the affinity mask, no OMP_NUM_THREADS, an empty cgroup
    tree; returns a function that writes a file under the fake cgroup root."""
    root = tmp_path / "cgroup"
    root.mkdir()
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text("0::/\n")
    monkeypatch.setattr(_threads, "CGROUP_ROOT", str(root))
    monkeypatch.setattr(_threads, "PROC_SELF_CGROUP", str(proc))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)

    def write(relative: str, text: str) -> None:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    return write


def test_no_limits_gives_the_affinity_mask(machine):
    assert _threads.cgroup_cpu_limit() is None
    assert _threads.usable_cores() == 8


def test_affinity_mask_smaller_than_the_machine(machine, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3}, raising=False)
    assert _threads.usable_cores() == 2


def test_cgroup_v2_quota_is_rounded_down(machine):
    machine("cgroup/cpu.max", "250000 100000\n")  # 2.5 CPUs
    assert _threads.cgroup_cpu_limit() == pytest.approx(2.5)
    assert _threads.usable_cores() == 2


def test_cgroup_v2_unlimited_and_tiny_quotas(machine):
    machine("cgroup/cpu.max", "max 100000\n")
    assert _threads.usable_cores() == 8
    machine("cgroup/cpu.max", "20000 100000\n")  # 0.2 CPU: still one thread
    assert _threads.usable_cores() == 1


def test_cgroup_v2_nested_path_takes_the_smallest_quota(machine):
    machine("proc_self_cgroup", "0::/jobs/mine\n")
    machine("cgroup/jobs/cpu.max", "300000 100000\n")
    machine("cgroup/jobs/mine/cpu.max", "max 100000\n")
    assert _threads.usable_cores() == 3


def test_cgroup_v2_hybrid_mount(machine):
    machine("cgroup/unified/cpu.max", "100000 100000\n")
    assert _threads.usable_cores() == 1


def test_cgroup_v1_cfs_quota(machine):
    machine("proc_self_cgroup", "4:memory:/\n2:cpu,cpuacct:/docker/abc\n0::/\n")
    machine("cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "400000\n")
    machine("cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n")
    assert _threads.usable_cores() == 4
    machine("cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n")  # no quota
    assert _threads.usable_cores() == 8


def test_cgroup_v1_quota_at_the_mount_inside_a_container(machine):
    """Without a cgroup namespace the path names the host's folder; the container's own
    cgroup is the mount itself."""
    machine("proc_self_cgroup", "3:cpu:/kubepods/pod1/ctr\n")
    machine("cgroup/cpu/cpu.cfs_quota_us", "150000\n")
    machine("cgroup/cpu/cpu.cfs_period_us", "100000\n")
    assert _threads.usable_cores() == 1


def test_unreadable_or_garbage_files_are_ignored(machine):
    machine("cgroup/cpu.max", "lots\n")
    machine("proc_self_cgroup", "garbage\n")
    assert _threads.usable_cores() == 8


@pytest.mark.parametrize(("value", "expected"), [("3", 3), ("16", 8), ("2,1", 2), ("0", 8)])
def test_omp_num_threads_caps_the_default(machine, monkeypatch, value, expected):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert _threads.usable_cores() == expected


def test_omp_num_threads_garbage_is_ignored(machine, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "many")
    assert _threads.usable_cores() == 8


@pytest.fixture
def torch_threads():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    yield torch
    torch.set_num_threads(before)


def test_apply_threads_sets_torch_and_caps_at_the_cores(machine, monkeypatch, torch_threads):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert _threads.apply_threads(None) == 1
    assert torch_threads.get_num_threads() == 1
    assert _threads.apply_threads(4) == 1  # never more threads than cores
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _threads.apply_threads(None) == 1  # the default follows OMP_NUM_THREADS
    assert _threads.apply_threads(2) == 2  # an explicit count only by the cores
    assert torch_threads.get_num_threads() == 2
    assert torch_threads.get_num_interop_threads() >= 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_apply_threads_refuses_bad_counts(bad):
    with pytest.raises(InputError) as info:
        _threads.apply_threads(bad)
    assert info.value.argument == "threads"


def test_threads_option_is_checked_by_the_cli(capsys):
    from rdlab.cli import main

    argv = ["rec", "bench", "--quick", "--samplers", "pfr", "--dims", "1", "--threads", "0"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rdlab: error: threads:")
