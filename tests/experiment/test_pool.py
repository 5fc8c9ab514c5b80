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


def _record_trained_configs(monkeypatch) -> list:
    """Replace training in the runner and the search by a recorder of the config it gets."""
    from ealstm.experiment import runner, search

    seen = []
    monkeypatch.setattr(runner, "run_member", lambda cfg, *a, **k: seen.append(cfg) or "run")
    monkeypatch.setattr(search, "run_member", lambda cfg, *a, **k: seen.append(cfg) or "run")
    monkeypatch.setattr(search, "predict_heldout", lambda *a, **k: None)
    monkeypatch.setattr(search, "save_evaluation", lambda *a, **k: None)
    return seen


@pytest.mark.parametrize(("execution", "config_threads", "expected"),
                         [(Execution(threads=4), None, 4), (Execution(), None, None),
                          (Execution(threads=4), 2, 2)])
def test_given_threads_per_task_are_fixed_in_each_trained_config(
        demo_camels, tmp_path, monkeypatch, execution, config_threads, expected):
    """Without it, training measures 1 against N threads (load-dependent, not reproducible)."""
    from ealstm.experiment import runner, search
    from tests.conftest import tiny_run_config

    seen = _record_trained_configs(monkeypatch)
    raw = tiny_run_config(demo_camels, tmp_path, num_threads=config_threads)
    runner._member_task(raw, [], execution)
    search._trial_task(search.Trial("t", raw, ("01",), "test"), execution)
    assert [cfg.train.num_threads for cfg in seen] == [expected, expected]


def test_reuse_ignores_only_the_thread_count():
    from ealstm.experiment.runner import same_config

    saved = {"name": "a", "train": {"epochs": 3, "num_threads": 4}}
    assert same_config(saved, {"name": "a", "train": {"epochs": 3, "num_threads": None}})
    assert not same_config(saved, {"name": "a", "train": {"epochs": 4, "num_threads": 4}})


def own_pid(progress: bool = False) -> tuple[int, bool]:
    import os

    return os.getpid(), progress


def test_a_single_task_runs_here_whatever_the_workers():
    import os

    assert Execution(workers=4).runs_here(1) and not Execution(workers=4).runs_here(2)
    assert Execution().runs_here(5) and not Execution(scheduler="tcp://x:1").runs_here(1)
    outcomes = dict(run_tasks({"a": (own_pid, ())}, Execution(workers=4, progress=True)))
    assert outcomes["a"]() == (os.getpid(), True)
