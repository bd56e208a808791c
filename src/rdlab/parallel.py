"""One function over many items, on local worker processes or on Ray actors.

:func:`map_unordered` with an :class:`Engine` is the only engine interface rdlab's batch coding
(:mod:`rdlab.batch`) and its benchmarks (:mod:`rdlab.eval.image_bench`,
:mod:`rdlab.eval.inr_bench`) use: the caller builds the work (a list of picklable items
and a module-level function), the engine only runs it and yields ``(index, result)`` in
completion order. Engines (:data:`ENGINES`):

- ``"local"`` (default, nothing extra to install): ``workers`` processes started with
  ``spawn``, each calling ``init(*init_args)`` **once** (load a model there, not per
  item) after setting its PyTorch threads to ``threads`` (default: the usable cores //
  ``workers``, so workers never oversubscribe the machine); one worker runs in this
  process.
- ``"ray"`` (``pip install 'rdlab[ray]'``): ``workers`` Ray actors of one CPU each, each
  calling ``init`` once, on the cluster at ``address`` or on a local Ray instance
  started for the call and shut down after it.

**A worker that dies** (killed, out of memory, a crash in native code) does not end the
run. Local engine: every process reports which item it starts, so the items that were
running when the pool broke are known; they are rerun alone, one at a time in a fresh
one-process pool, and an item that kills its worker again yields a :class:`WorkerDiedError`
as its result (the others are never blamed). Ray engine: each actor runs one item at a
time, so the item is known at once; it is retried once on a fresh actor.

**Stopping.** An exception in the caller while items run (Ctrl-C, a SIGTERM turned into
an exception by the CLI, an error) terminates the worker processes or the Ray actors
before it propagates: nothing keeps running after the call returns.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from .errors import InputError, RdlabError

__all__ = [
    "ENGINES",
    "LOCAL",
    "Engine",
    "WorkerDiedError",
    "check_workers",
    "map_unordered",
]

ENGINES = ("local", "ray")
"""Engine names :func:`map_unordered` takes."""
_RAY_ATTEMPTS = 2
_WINDOW = 4  # items submitted ahead per local worker


class WorkerDiedError(RdlabError):
    """The worker process running an item died (twice, alone): yielded as that item's
    result, never raised by :func:`map_unordered`."""


def check_workers(workers: Any, engine: str = "local") -> int:
    """``workers`` as a count after checking it and ``engine``.

    Raises:
        InputError: ``workers`` not an integer >= 1, or an unknown engine.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError("workers", f"must be an integer >= 1, got {workers!r}")
    if engine not in ENGINES:
        raise InputError("engine", f"unknown engine {engine!r} (known: {', '.join(ENGINES)})")
    return workers


# -- what runs in a worker -----------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _start_worker(
    threads: int, init: Callable[..., None] | None, init_args: tuple[Any, ...], started: Any
) -> None:
    """A worker's one-time setup: threads, the caller's ``init``, the start reporter."""
    from ._threads import apply_threads

    apply_threads(threads)
    if init is not None:
        init(*init_args)
    _STATE["started"] = started


def _run_one(fn: Callable[[Any], Any], index: int, item: Any) -> Any:
    """Run ``fn(item)`` in a worker, saying first that item ``index`` started here."""
    started = _STATE.get("started")
    if started is not None:
        started.put((os.getpid(), index))
    return fn(item)


class _RayActor:
    """A Ray actor: set up once (:func:`_start_worker`), then one item per call."""

    def __init__(self, threads: int, init: Any, init_args: tuple[Any, ...]) -> None:
        _start_worker(threads, init, init_args, None)

    def run(self, fn: Callable[[Any], Any], item: Any) -> Any:
        return fn(item)


# -- engines -------------------------------------------------------------------------------


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop ``pool`` now: pending items cancelled, its processes terminated."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # CPython's table
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


def _drain(started: Any, running: dict[int, int]) -> None:
    """Move every start report waiting in ``started`` into ``running`` (pid -> the
    latest item it started)."""
    while not started.empty():
        pid, index = started.get()
        running[pid] = index


def _local_engine(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    workers: int,
    setup: tuple[Any, ...],
) -> Iterator[tuple[int, Any]]:
    todo = list(enumerate(items))
    if workers == 1 or len(todo) <= 1:
        _start_worker(*setup, None)
        for index, item in todo:
            yield index, fn(item)
        return
    yield from _local_processes(fn, todo, workers, setup)


def _local_processes(
    fn: Callable[[Any], Any],
    todo: list[tuple[int, Any]],
    workers: int,
    setup: tuple[Any, ...],
) -> Iterator[tuple[int, Any]]:
    """The local engine with worker processes (see the module docstring)."""
    context = get_context("spawn")
    left = dict(todo)
    suspects: set[int] = set()
    while left:
        normal = [(i, item) for i, item in left.items() if i not in suspects]
        if normal:
            for index, value, broke in _pool_results(fn, normal, workers, setup, context):
                if broke is not None:
                    suspects |= broke
                    break
                del left[index]
                yield index, value
            continue
        # only suspects are left: each alone in a fresh one-process pool
        for index in sorted(suspects):
            outcome = list(_pool_results(fn, [(index, left[index])], 1, setup, context))
            index_, value, broke = outcome[-1]
            del left[index]
            suspects.discard(index)
            if broke is not None:
                yield index, WorkerDiedError(f"the worker process died while running item {index}")
            else:
                yield index_, value


def _pool_results(
    fn: Callable[[Any], Any],
    todo: Sequence[tuple[int, Any]],
    workers: int,
    setup: tuple[Any, ...],
    context: Any,
) -> Iterator[tuple[int, Any, set[int] | None]]:
    """``(index, result, None)`` per finished item of one pool's run, then, if the pool
    broke, one ``(-1, None, suspects)``: the items that had started and not finished."""
    started = context.SimpleQueue()  # written before the item runs: no feeder thread
    running: dict[int, int] = {}
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(todo)),
        mp_context=context,
        initializer=_start_worker,
        initargs=(*setup, started),
    )
    try:
        queue = iter(todo)
        futures: dict[Future[Any], int] = {}
        finished: set[int] = set()
        pending: set[Future[Any]] = set()

        def submit(count: int) -> None:
            for index, item in itertools.islice(queue, count):
                future = pool.submit(_run_one, fn, index, item)
                futures[future] = index
                pending.add(future)

        submit(_WINDOW * workers)  # a window, not the whole plan: a million items are fine
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            pending.difference_update(done)
            broke = False
            for future in done:
                try:
                    value = future.result()
                except BrokenProcessPool:
                    broke = True
                    continue
                finished.add(futures[future])
                yield futures[future], value, None
            _drain(started, running)
            if broke:
                suspects = set(running.values()) - finished
                _terminate(pool)
                yield -1, None, suspects or (set(futures.values()) - finished)
                return
            submit(len(done))
        pool.shutdown(wait=True)
    except BaseException:
        _terminate(pool)
        raise
    finally:
        started.close()


def _ray_engine(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    workers: int,
    setup: tuple[Any, ...],
    address: str | None,
) -> Iterator[tuple[int, Any]]:
    """The Ray engine (see the module docstring)."""
    try:
        import ray
        from ray.exceptions import RayActorError
    except ImportError:
        raise InputError("--ray", "needs Ray: pip install 'rdlab[ray]'") from None
    started = not ray.is_initialized()
    if started:
        common = {"log_to_driver": False, "configure_logging": False}
        if address:
            ray.init(address=address, **common)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, **common)
    actor_class = ray.remote(num_cpus=1, max_restarts=0)(_RayActor)
    every: list[Any] = []

    def new_actor() -> Any:
        every.append(actor_class.remote(*setup))
        return every[-1]

    try:
        left = list(enumerate(items))[::-1]  # popped from the end: item order
        attempts: dict[int, int] = {}
        running: dict[Any, tuple[Any, int, Any]] = {}
        idle = [new_actor() for _ in range(min(workers, len(items)))]
        while left or running:
            while idle and left:
                index, item = left.pop()
                actor = idle.pop()
                running[actor.run.remote(fn, item)] = (actor, index, item)
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                actor, index, item = running.pop(ref)
                try:
                    value = ray.get(ref)
                except RayActorError:
                    idle.append(new_actor())
                    attempts[index] = attempts.get(index, 0) + 1
                    if attempts[index] < _RAY_ATTEMPTS:
                        left.append((index, item))
                        continue
                    value = WorkerDiedError(f"the Ray actor died while running item {index}, twice")
                else:
                    idle.append(actor)
                yield index, value
    finally:
        for actor in every:
            ray.kill(actor)
        if started:
            ray.shutdown()


@dataclass(frozen=True)
class Engine:
    """Where many independent items run (one value for every function that fans work
    out: batch coding, the benchmarks).

    Attributes:
        workers: processes or Ray actors (1 with ``"local"``: this process).
        kind: ``"local"`` or ``"ray"`` (:data:`ENGINES`).
        address: ``"ray"``: an existing cluster's address (None: a local instance).
        threads: PyTorch threads per worker (None: usable cores // workers for local
            processes, 1 per Ray actor).

    Raises:
        InputError: ``workers`` below 1, an unknown kind, ``threads`` below 1.
    """

    workers: int = 1
    kind: str = "local"
    address: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        from ._threads import check_threads

        check_workers(self.workers, self.kind)
        check_threads(self.threads)

    def threads_per_worker(self) -> int:
        """PyTorch threads each worker sets: ``threads``, else the usable cores
        (affinity, cgroup quota, ``OMP_NUM_THREADS``) // ``workers`` for local processes
        (so workers never oversubscribe the machine), 1 per Ray actor."""
        if self.threads:
            return self.threads
        if self.kind != "local":
            return 1
        from ._threads import usable_cores

        return max(1, usable_cores() // self.workers)


LOCAL = Engine()
"""One worker, this process."""


def map_unordered(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    init: Callable[..., None] | None = None,
    init_args: Sequence[Any] = (),
    engine: Engine = LOCAL,
) -> Iterator[tuple[int, Any]]:
    """``(index, fn(items[index]))`` for every item, in the order they finish.

    Args:
        fn: a module-level function (workers import it by name); it should catch what
            it expects to fail on one item and return that as its result: an exception
            it raises ends the whole call (the workers are stopped first).
        items: picklable arguments of ``fn``, one per call.
        init: a module-level function each worker calls once with ``init_args`` before
            its first item (e.g. to load a model into a module-level cache).
        engine: where the items run (:class:`Engine`).

    Yields:
        ``(index, result)``; the result is a :class:`WorkerDiedError` for an item whose
        worker process died (see the module docstring).

    Raises:
        InputError: Ray asked for and not installed.
    """
    items = list(items)
    if not items:
        return iter(())
    setup = (engine.threads_per_worker(), init, tuple(init_args))
    if engine.kind == "ray":
        return _ray_engine(fn, items, engine.workers, setup, engine.address)
    return _local_engine(fn, items, engine.workers, setup)
