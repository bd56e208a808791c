"""rdlab.parallel: one function over many items on local processes (Ray: test_batch)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from rdlab.errors import InputError
from rdlab.parallel import Engine, WorkerDiedError, check_workers, map_unordered

TWO = Engine(workers=2)

_SETUP: dict[str, int] = {}


def _init(offset: int) -> None:
    _SETUP["offset"] = offset
    _SETUP["inits"] = _SETUP.get("inits", 0) + 1


def _square(x: int) -> tuple[int, int, int, int]:
    """``x² + offset``, this worker's pid, how often it ran ``_init``, its torch threads."""
    import torch

    return x * x + _SETUP["offset"], os.getpid(), _SETUP["inits"], torch.get_num_threads()


def _die_on_three(x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
    time.sleep(0.05)
    return x


def _pid_then_sleep(x: int) -> int:
    if x > 0:
        time.sleep(60)
    return os.getpid()


def test_results_match_one_process_and_init_runs_once_per_worker():
    one = dict(map_unordered(_square, range(12), init=_init, init_args=(7,)))
    two = dict(map_unordered(_square, range(12), init=_init, init_args=(7,), engine=TWO))
    assert sorted(two) == list(range(12))
    assert (
        [two[i][0] for i in range(12)]
        == [one[i][0] for i in range(12)]
        == [i * i + 7 for i in range(12)]
    )
    pids = {r[1] for r in two.values()}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    assert all(r[2] == 1 for r in two.values())  # the model-loading init ran once per worker
    one_each = Engine(workers=2, threads=1)
    threads = dict(map_unordered(_square, range(4), init=_init, init_args=(0,), engine=one_each))
    assert {r[3] for r in threads.values()} == {1}


def test_a_worker_that_dies_fails_only_its_item():
    results = dict(map_unordered(_die_on_three, range(10), engine=TWO))
    assert sorted(results) == list(range(10))
    assert isinstance(results[3], WorkerDiedError)
    assert all(results[i] == i for i in range(10) if i != 3)  # nobody else is blamed


def test_an_exception_in_the_caller_stops_the_workers():
    results = map_unordered(_pid_then_sleep, [0, 1, 2, 3], engine=Engine(2, threads=1))
    _, pid = next(results)  # item 0 returns at once; the others sleep a minute
    start = time.monotonic()
    results.close()  # what an exception (Ctrl-C, SIGTERM) in the loop does
    assert time.monotonic() - start < 20
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"worker {pid} still runs")


def test_refusals():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(InputError, match="workers"):
            check_workers(bad)
    with pytest.raises(InputError, match="unknown engine"):
        Engine(2, "spark")
    with pytest.raises(InputError, match="threads"):
        Engine(2, threads=0)
    assert list(map_unordered(_square, [], engine=TWO)) == []


def ray_run_with_a_dying_actor() -> dict:
    """Run by ``tests/_private_network.py`` (inside a loopback-only namespace): the Ray
    engine over 6 items where item 3 kills its actor's process every time."""
    results = dict(map_unordered(_die_on_three, range(6), engine=Engine(2, "ray")))
    return {str(k): (v if isinstance(v, int) else f"{type(v).__name__}: {v}")
            for k, v in results.items()}  # fmt: skip
