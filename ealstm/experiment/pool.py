"""One way to run many independent trainings: here, in a process pool, or on a Dask cluster.

The experiment runner (members) and the studies (search trials, ungauged folds) both hand a
``key -> (function, args)`` mapping to :func:`run_tasks` together with an :class:`Execution`:

* ``workers=1`` (or a single task) and no scheduler: one after another in this process
  (progress bars of the task itself are shown, ``progress=True`` is passed to the function);
* ``workers=N``: up to N at once, each in its own ``spawn`` process
  (:func:`ealstm.workers.run_in_processes`; a dying worker fails only its task);
* ``scheduler="tcp://host:8786"``: submitted to a ``dask.distributed`` cluster
  (``pip install 'ealstm[cluster]'``).

Each task runs with ``Execution.threads_per_task()`` torch threads. Where ``threads`` is given,
:func:`pin_threads` also writes it into ``train.num_threads`` of each task's config (unless the
config sets one), so training does not measure a load-dependent count: a task then depends only
on its arguments and that thread count, and every mode gives bit-identical results.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch

from ealstm.config import DataConfig, RunConfig
from ealstm.data.cache import build_cache
from ealstm.errors import ConfigError, MissingDependencyError
from ealstm.workers import Task, run_in_processes

Outcome = Callable[[], Any]

#: Seconds to wait for a Dask scheduler before giving up (dask's default is 30).
SCHEDULER_TIMEOUT_S = 5


@dataclass(frozen=True)
class Execution:
    """Where and how wide a batch of trainings runs.

    Attributes
    ----------
    workers
        Tasks run at once (local process pool); 1 = one after another in this process.
    threads
        Torch threads per task; ``None`` = ``max(1, cpu_count // workers)``.
    scheduler
        Address of a Dask scheduler (``tcp://host:8786``): run the tasks on that cluster.
    progress
        Show progress bars (per epoch when serial, per task otherwise).
    """

    workers: int = 1
    threads: int | None = None
    scheduler: str | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        if self.workers < 1 or (self.threads is not None and self.threads < 1):
            raise ConfigError("workers and threads_per_worker must be at least 1")

    def threads_per_task(self) -> int:
        """Torch threads each task uses."""
        return self.threads or max(1, cpu_count() // self.workers)

    def runs_here(self, n_tasks: int) -> bool:
        """Whether ``n_tasks`` run one after another in this process.

        So they do without a scheduler for one worker or a single task (no process to spawn);
        progress is then shown per epoch, else per task.
        """
        return not self.scheduler and (self.workers == 1 or n_tasks <= 1)

    def check(self) -> None:
        """Fail early (before any training) when the scheduler needs a missing package."""
        if self.scheduler:
            _require_dask()


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def pin_threads(cfg: RunConfig, execution: Execution) -> RunConfig:
    """Return ``cfg`` with ``train.num_threads`` set to ``execution.threads`` where given.

    Without it a training measures 1 against N threads and keeps the faster, a count that
    depends on the machine's load. A ``train.num_threads`` of the config itself is kept.
    """
    if execution.threads is None or cfg.train.num_threads is not None:
        return cfg
    train = cfg.train.model_copy(update={"num_threads": execution.threads})
    return cfg.model_copy(update={"train": train})


@contextmanager
def task_threads(execution: Execution) -> Iterator[None]:
    """Run the body with the torch thread count of one task (counted where the task runs)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(execution.threads_per_task())
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_tasks(tasks: Mapping[Hashable, Task], execution: Execution,
              data: Iterable[DataConfig] = ()) -> Iterator[tuple[Hashable, Outcome]]:
    """Run ``tasks`` as ``execution`` says; yield ``(key, outcome)`` as they finish.

    ``outcome()`` returns the task's result or raises its error (a
    :class:`~ealstm.errors.WorkerDiedError` when its process died). The caches of ``data`` are
    built first when the tasks run in other processes, so the raw files are parsed once.
    """
    if not tasks:
        return iter(())
    if execution.scheduler:
        return _run_dask(execution.scheduler, tasks)
    if execution.runs_here(len(tasks)):
        return iter([(key, partial(fn, *args, progress=execution.progress))
                     for key, (fn, args) in tasks.items()])
    for cfg in {d.model_dump_json(): d for d in data}.values():
        build_cache(cfg)  # parse the raw files once, not once per worker
    return run_in_processes(dict(tasks), min(execution.workers, len(tasks)))


def _require_dask() -> None:
    try:
        import dask.distributed  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            "running on a Dask cluster (scheduler=...) needs dask.distributed; "
            "install it with `pip install 'ealstm[cluster]'`") from exc


def _connect(client_class: type, scheduler: str) -> Any:
    """Connect to ``scheduler``; an unreachable address raises :class:`ConfigError` fast."""
    try:
        return client_class(scheduler, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"--scheduler {scheduler}: no Dask scheduler answered within "
                          f"{SCHEDULER_TIMEOUT_S} s ({type(exc).__name__}: {exc}); start one "
                          "with `dask scheduler` or check the address") from None


def _run_dask(scheduler: str, tasks: Mapping[Hashable, Task]) -> Iterator[tuple[Hashable, Outcome]]:
    """Submit ``tasks`` to the Dask scheduler at ``scheduler``; yield them as they finish."""
    from dask.distributed import Client
    from dask.distributed import as_completed as dask_completed

    with _connect(Client, scheduler) as client:
        key_of = {client.submit(fn, *args, pure=False,
                                key=f"ealstm-{_slug(key)}-{uuid.uuid4().hex[:8]}"): key
                  for key, (fn, args) in tasks.items()}
        for future in dask_completed(list(key_of)):
            yield key_of[future], future.result


def _slug(key: Hashable) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    return "-".join(str(p).replace("/", "-") for p in parts)
