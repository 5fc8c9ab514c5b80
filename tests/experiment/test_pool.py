"""The one pool of the experiment runner and the studies (ealstm.experiment.pool)."""

from __future__ import annotations

import pytest

from ealstm.errors import ConfigError, WorkerDiedError
from ealstm.experiment.pool import Execution, run_tasks


def power(x: int, exponent: int, progress: bool = False) -> tuple[int, bool]:
    return x**exponent, progress


def die(progress: bool = False) -> None:
    import os

    os._exit(3)


def test_execution_validates_and_splits_the_cores(monkeypatch):
    with pytest.raises(ConfigError, match="at least 1"):
        Execution(workers=0)
    with pytest.raises(ConfigError, match="at least 1"):
        Execution(threads=0)
    monkeypatch.setattr("ealstm.experiment.pool.cpu_count", lambda: 8)
    assert Execution(workers=3).threads_per_task() == 2
    assert Execution(workers=16).threads_per_task() == 1
    assert Execution(workers=2, threads=5).threads_per_task() == 5


def test_serial_tasks_run_here_with_the_progress_flag():
    outcomes = dict(run_tasks({"a": (power, (2, 3)), "b": (power, (3, 2))},
                              Execution(progress=True)))
    assert {k: f() for k, f in outcomes.items()} == {"a": (8, True), "b": (9, True)}
    assert list(run_tasks({}, Execution(workers=4))) == []


@pytest.mark.slow
def test_process_pool_gives_the_same_results_and_isolates_a_dying_task():
    tasks = {1: (power, (2, 10)), 2: (die, ()), 3: (power, (5, 2))}
    outcomes = dict(run_tasks(tasks, Execution(workers=2, threads=1, progress=True)))
    assert outcomes[1]() == (1024, False) and outcomes[3]() == (25, False)  # no bars in workers
    with pytest.raises(WorkerDiedError, match="exit code 3"):
        outcomes[2]()
