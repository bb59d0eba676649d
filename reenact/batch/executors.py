"""Where a batch's tasks run: in this process, on a local process pool, or on a Ray cluster.

Each executor gives every worker one `Worker` (worker.py) and feeds it `Task`s; all of them run the
same `Worker.run`, so the outputs and labels do not depend on where an item ran. Results come back
as they finish, in no particular order; the driver puts the rows back in task order.

- InlineExecutor: this process, one item after another (`workers=0`: debugging, small runs, tests).
- LocalExecutor: a spawn-context process pool, one worker per core by default. A worker builds its
  pipeline on its first item and keeps it; at most 4 tasks per worker are in flight, so a dataset of
  any size is fed without queueing it all at once.
- RayExecutor: an actor per worker, each holding one `Worker`. `address=None` starts a local Ray
  instance or joins the one `ray start` made on this machine; an address joins that cluster. Tasks
  carry paths only: each actor reads its inputs from shared storage and writes into the output folder
  (shared storage too), nothing large travels through the object store.
"""
from __future__ import annotations

import logging
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterable, Iterator, Protocol

from .. import ReenactError
from ..errors import BackendUnavailable, ConfigError
from .worker import Context, Result, Task, Worker

log = logging.getLogger("reenact")
IN_FLIGHT_PER_WORKER = 4


def cores() -> int:
    """CPU cores this process may use (its affinity, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class Executor(Protocol):
    name: str
    workers: int

    def map(self, tasks: Iterable[Task]) -> Iterator[Result]: ...

    def close(self) -> None: ...


class InlineExecutor:
    name = "inline"
    workers = 1

    def __init__(self, ctx: Context):
        self._worker = Worker(ctx)

    def map(self, tasks: Iterable[Task]) -> Iterator[Result]:
        for t in tasks:
            yield self._worker.run(t)

    def close(self) -> None:
        self._worker.close()


# the pool process's own worker, made by the pool's initializer
_WORKER: Worker | None = None


def _init_pool_worker(ctx: Context) -> None:
    global _WORKER
    _WORKER = Worker(ctx)


def _run_pool_task(task: Task) -> Result:
    assert _WORKER is not None, "pool worker not initialised"
    return _WORKER.run(task)


def _bounded(submit, tasks: Iterable[Task], window: int, wait_some) -> Iterator:
    """Keep `window` tasks in flight; yield each finished handle as it finishes."""
    it = iter(tasks)
    pending = {submit(t) for _, t in zip(range(window), it)}
    while pending:
        done, pending = wait_some(pending)
        for h in done:
            yield h
            t = next(it, None)
            if t is not None:
                pending.add(submit(t))


class LocalExecutor:
    name = "local"

    def __init__(self, ctx: Context, workers: int | None = None):
        import multiprocessing as mp

        self.workers = workers or cores()
        # spawn: a forked copy of a process that has MediaPipe's threads running is not safe
        self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                         initializer=_init_pool_worker, initargs=(ctx,))

    def map(self, tasks: Iterable[Task]) -> Iterator[Result]:
        def wait_some(pending):
            return wait(pending, return_when=FIRST_COMPLETED)

        try:
            for fut in _bounded(lambda t: self._pool.submit(_run_pool_task, t), tasks,
                                IN_FLIGHT_PER_WORKER * self.workers, wait_some):
                yield fut.result()
        except BrokenProcessPool:
            raise ReenactError("a worker process died; finished items are kept, run again to resume") from None

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class _RayWorker:
    """A Ray actor's state: one Worker, so one pipeline per editor/config for the actor's lifetime."""

    def __init__(self, ctx: Context):
        self._worker = Worker(ctx)

    def run(self, task: Task) -> Result:
        return self._worker.run(task)


class RayExecutor:
    name = "ray"

    def __init__(self, ctx: Context, workers: int | None = None, *, address: str | None = None,
                 num_cpus: int | None = None, object_store_memory: int | None = None):
        try:
            import ray
        except ImportError:
            raise BackendUnavailable("ray is not installed; pip install 'reenact[ray]'") from None
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            kwargs = dict(log_to_driver=False, logging_level=logging.WARNING)
            if address is None and num_cpus is not None:  # a fresh local instance of a given size
                address = "local"
                kwargs.update(num_cpus=num_cpus, include_dashboard=False, object_store_memory=object_store_memory)
            try:
                ray.init(address=address, **kwargs)
            except (ConnectionError, ValueError, RuntimeError, ray.exceptions.RayError) as e:
                hint = ("; is the address right? A cluster with token authentication also needs "
                        "RAY_AUTH_MODE=token and its token in ~/.ray/auth_token here") if address not in (None, "local") else ""
                raise ReenactError(f"cannot start or join Ray ({str(e).splitlines()[0]}){hint}", address) from None
            self._started = True
        cpus = int(ray.cluster_resources().get("CPU", 0))
        self.workers = workers or cpus
        if self.workers < 1:
            raise ConfigError("the Ray cluster has no CPUs to run on")
        actor = ray.remote(num_cpus=1)(_RayWorker)
        ctx_ref = ray.put(ctx)
        self._actors = [actor.remote(ctx_ref) for _ in range(self.workers)]

    def map(self, tasks: Iterable[Task]) -> Iterator[Result]:
        ray = self._ray
        load = [0] * len(self._actors)
        owner: dict = {}

        def submit(task: Task):
            i = min(range(len(load)), key=load.__getitem__)  # the least busy actor
            ref = self._actors[i].run.remote(task)
            owner[ref] = i
            load[i] += 1
            return ref

        def wait_some(pending):
            done, rest = ray.wait(list(pending), num_returns=1)
            for r in done:
                load[owner.pop(r)] -= 1
            return done, set(rest)

        # two tasks per actor in flight: an actor never waits on the driver for its next one
        for ref in _bounded(submit, tasks, 2 * len(self._actors), wait_some):
            yield ray.get(ref)

    def close(self) -> None:
        for a in self._actors:
            self._ray.kill(a)
        self._actors = []
        if self._started:
            self._ray.shutdown()


def make_executor(ctx: Context, *, workers: int | None, ray: bool = False, address: str | None = None,
                  num_cpus: int | None = None, object_store_memory: int | None = None) -> Executor:
    if ray or address:
        return RayExecutor(ctx, workers, address=address, num_cpus=num_cpus,
                           object_store_memory=object_store_memory)
    if workers == 0:
        return InlineExecutor(ctx)
    return LocalExecutor(ctx, workers)
