"""One process per task: a worker that dies or raises fails only its own task."""

import os
import signal

import pytest

from ealstm.errors import WorkerDiedError
from ealstm.workers import run_in_processes


def square(x: int) -> int:
    return x * x


def raise_value_error(x: int) -> int:
    raise ValueError(f"bad input {x}")


def exit_hard(code: int) -> int:
    os._exit(code)


def kill_self(_: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return 0


def _results(tasks: dict, workers: int) -> dict:
    results = {}
    for key, outcome in run_in_processes(tasks, workers):
        try:
            results[key] = outcome()
        except Exception as exc:  # noqa: BLE001 - the test inspects every failure
            results[key] = exc
    return results


def test_dying_and_raising_workers_fail_only_their_task():
    tasks = {"a": (square, (3,)), "exit": (exit_hard, (3,)), "b": (square, (4,)),
             "kill": (kill_self, (0,)), "raise": (raise_value_error, (7,)), "c": (square, (5,))}
    results = _results(tasks, workers=2)
    assert {k: results[k] for k in "abc"} == {"a": 9, "b": 16, "c": 25}
    assert isinstance(results["exit"], WorkerDiedError) and "exit code 3" in str(results["exit"])
    assert isinstance(results["kill"], WorkerDiedError)
    assert "killed by SIGKILL" in str(results["kill"])
    assert isinstance(results["raise"], ValueError) and str(results["raise"]) == "bad input 7"


def test_results_come_back_with_one_worker_too():
    assert _results({i: (square, (i,)) for i in range(3)}, workers=1) == {0: 0, 1: 1, 2: 4}


@pytest.mark.parametrize("workers", [1, 3])
def test_no_task_no_process(workers):
    assert _results({}, workers) == {}
