"""Thread policy: choice logic, calibration side effects, and the OpenMP wait policy."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from ealstm.models import EALSTM, LSTM
from ealstm.runtime_env import set_omp_wait_policy
from ealstm.training import threads


@pytest.mark.parametrize(("available", "expected"), [(1, [1]), (2, [1, 2]), (8, [1, 8]),
                                                      (0, [1])])
def test_candidate_threads(available, expected):
    assert threads.candidate_threads(available) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        ({1: 0.10, 2: 0.05}, 2),  # two threads twice as fast
        ({1: 0.10, 2: 0.095}, 1),  # within the margin: the one a busy neighbour hurts least
        ({1: 0.10, 2: 0.60}, 1),  # a competing process makes 2 threads slow
        ({1: 0.114, 2: 0.10}, 1),  # just within the margin (1.15): still the fewer
        ({1: 0.30, 4: 0.20, 8: 0.10}, 8),
    ],
)
def test_pick_threads(seconds, expected):
    assert threads.pick_threads(seconds, margin=1.15) == expected


def test_pick_threads_needs_timings():
    with pytest.raises(ValueError, match="no timings"):
        threads.pick_threads({})


def test_time_threads_runs_every_candidate_with_its_thread_count():
    seen = []
    before = torch.get_num_threads()
    try:
        result = threads.time_threads(lambda: seen.append(torch.get_num_threads()), [1, 2], 3)
    finally:
        torch.set_num_threads(before)
    assert sorted(result) == [1, 2] and all(s >= 0 for s in result.values())
    assert seen[1:] == [1, 2] * 3  # warm-up first, then interleaved


@pytest.mark.parametrize("model", [EALSTM(3, 4, hidden_size=5), LSTM(3, 0, hidden_size=5)])
def test_calibration_sets_the_pick_and_leaves_model_and_rng_alone(model, monkeypatch):
    monkeypatch.setattr(threads, "time_threads", lambda step, cands, repeats: (
        step(), {1: 0.3, 2: 0.1})[1])
    state = {k: v.clone() for k, v in model.state_dict().items()}
    before, rng = torch.get_num_threads(), torch.get_rng_state()
    try:
        assert threads.calibrate_threads(model, batch=4, seq_length=6, predict_last_n=2,
                                         available=2) == 2
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_calibration_with_one_thread_available_measures_nothing(monkeypatch):
    monkeypatch.setattr(threads, "time_threads", pytest.fail)
    assert threads.calibrate_threads(EALSTM(3, 4, hidden_size=5), 4, 6, 1, available=1) == 1


def test_calibration_candidates_are_capped_by_available(monkeypatch):
    seen = []
    monkeypatch.setattr(threads, "time_threads", lambda step, cands, repeats: (
        seen.append(cands), {n: 1.0 / n for n in cands})[1])
    before = torch.get_num_threads()
    try:
        assert threads.calibrate_threads(EALSTM(3, 4, hidden_size=5), 4, 6, 1, available=3) == 3
    finally:
        torch.set_num_threads(before)
    assert seen == [[1, 3]]


def test_wait_policy_set_only_when_unset_and_before_torch():
    env: dict[str, str] = {}
    assert set_omp_wait_policy(env, modules={}) == "PASSIVE" and env["OMP_WAIT_POLICY"] == "PASSIVE"
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert set_omp_wait_policy(env, modules={}) is None and env["OMP_WAIT_POLICY"] == "ACTIVE"
    env = {}
    assert set_omp_wait_policy(env, modules={"torch": object()}) is None and not env


def test_cli_module_does_not_import_torch():
    """``main`` can only set the wait policy if importing the CLI leaves torch unloaded."""
    code = "import sys, ealstm.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("num_threads", "calls"), [(None, 1), (1, 0)])
def test_train_calibrates_once_per_run_unless_num_threads_is_set(demo_camels, tmp_path,
                                                                 monkeypatch, num_threads, calls):
    from ealstm.config import parse_config
    from ealstm.training import loop
    from tests.conftest import tiny_run_config

    seen = []
    monkeypatch.setattr(loop, "calibrate_threads", lambda model, batch, seq, n, available: (
        seen.append((batch, seq, n, available)), 1)[1])
    raw = tiny_run_config(demo_camels, tmp_path, n_basins=2, epochs=2, device="cpu",
                          num_threads=num_threads)
    loop.train(parse_config(raw), progress=False)
    assert len(seen) == calls
    if calls:
        cfg = parse_config(raw)
        assert seen[0] == (cfg.train.batch_size, cfg.data.seq_length, 1, torch.get_num_threads())


@pytest.mark.slow
def test_resumed_run_keeps_the_thread_count_it_started_with(demo_camels, tmp_path, monkeypatch):
    """Float sums depend on the thread count: a resumed run must not re-measure it."""
    from ealstm.config import parse_config
    from ealstm.runs.checkpoint import load_checkpoint
    from ealstm.training import loop
    from tests.conftest import tiny_run_config

    seen = []

    def calibrate_to_two(model, batch, seq, n, available):
        seen.append(batch)
        torch.set_num_threads(2)
        return 2

    monkeypatch.setattr(loop, "calibrate_threads", calibrate_to_two)
    raw = tiny_run_config(demo_camels, tmp_path, n_basins=2, epochs=1, device="cpu")
    try:
        run_dir = loop.train(parse_config(raw), progress=False)
        assert load_checkpoint(run_dir)["num_threads"] == 2
        torch.set_num_threads(1)  # e.g. another process started the resumed run
        raw["train"]["epochs"] = 2
        loop.train(parse_config(raw), resume=True, progress=False)
        assert len(seen) == 1 and torch.get_num_threads() == 2
        assert load_checkpoint(run_dir, 2)["num_threads"] == 2
    finally:
        torch.set_num_threads(1)
