"""Chunked long-sequence simulation: exactness (chunk = 1), chunk semantics, masking, cost."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ealstm.data.windows import gather_batch, iterate_batches, sample_index
from ealstm.evaluation.run import load_run
from ealstm.models.ealstm import EALSTM
from ealstm.models.lstm import LSTM
from ealstm.simulation.chunked import (
    chunk_plan,
    invalid_days,
    model_steps,
    period_inputs,
    simulate_chunked,
)
from ealstm.simulation.simulate import Simulation, simulate


def _model(seed: int = 0, static: bool = True) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = EALSTM(3, 2, hidden_size=5, initial_forget_bias=1.0) if static else LSTM(3, 0, 5)
    return model.eval()


class _FiniteOnly(torch.nn.Module):
    """Wrapper that fails if the wrapped model is ever fed a non-finite input."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x_d, x_s=None, predict_last_n=1):
        assert torch.isfinite(x_d).all()
        assert x_s is None or torch.isfinite(x_s).all()
        return self.inner(x_d, x_s, predict_last_n)


@pytest.mark.parametrize(("n_times", "warmup", "chunk"),
                         [(20, 4, 1), (20, 4, 5), (20, 4, 7), (5, 4, 3), (4, 4, 2), (30, 0, 8)])
def test_chunk_plan_covers_each_predicted_day_once(n_times, warmup, chunk):
    days = [int(s) + j for starts, n in chunk_plan(n_times, warmup, chunk) for s in starts
            for j in range(n)]
    assert sorted(days) == list(range(warmup, n_times))
    assert all(n <= chunk for _, n in chunk_plan(n_times, warmup, chunk))


def _seq_to_one_reference(run, time_slice, seq):
    """One window per day, cut by the training code's own window index (independent path)."""
    index = sample_index(run.scaled.dynamic, run.scaled.target, seq, time_slice,
                         require_target=False)
    out = np.full((len(run.scaled.basins), time_slice.stop - time_slice.start), np.nan)
    with torch.no_grad():
        for basin_idx, time_idx in iterate_batches(index, 128, shuffle=False):
            batch = gather_batch(run.scaled, basin_idx, time_idx, seq)
            out[basin_idx, time_idx - time_slice.start] = run.model(batch.x_d, batch.x_s)[:, -1]
    return out


def test_chunk_one_equals_seq_to_one_on_trained_run(tiny_ealstm_run):
    run = load_run(tiny_ealstm_run)
    run.model.eval()
    seq = run.cfg.data.seq_length
    time_slice = run.scaled.time_slice(run.cfg.data.period("test"))
    expected = _seq_to_one_reference(run, time_slice, seq)
    got = simulate(run.model, run.scaled, time_slice, Simulation(seq, chunk=1))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    chunked = simulate(run.model, run.scaled, time_slice, Simulation(seq, chunk=seq))
    np.testing.assert_array_equal(np.isnan(chunked), np.isnan(expected))
    assert not np.allclose(chunked, expected, equal_nan=True)  # longer memory: not identical


@pytest.mark.parametrize("chunk", [1, 3, 4, 16])
def test_day_j_of_a_chunk_sees_warmup_plus_j_days(chunk):
    model, warmup = _model(), 3
    x_d, x_s = torch.randn(2, 16, 3), torch.randn(2, 2)
    out = simulate_chunked(model, x_d, x_s, warmup, chunk)
    assert torch.isnan(out[:, :warmup]).all()
    for t in range(warmup, 16):
        first = (t - warmup) // chunk * chunk  # first input day of t's sequence
        with torch.no_grad():
            expected = model(x_d[:, first:t + 1], x_s)[:, -1]
        torch.testing.assert_close(out[:, t], expected, rtol=1e-5, atol=1e-6)


def test_result_does_not_depend_on_batching():
    model = _model()
    x_d, x_s = torch.randn(3, 40, 3), torch.randn(3, 2)
    big = simulate_chunked(model, x_d, x_s, 5, 6)
    small = simulate_chunked(model, x_d, x_s, 5, 6, batch_steps=11)  # one sequence a batch
    torch.testing.assert_close(big, small, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_draws_share_an_expanded_input_view():
    model = _model()
    x_d, x_s = torch.randn(1, 30, 3), torch.randn(4, 2)
    batched = simulate_chunked(model, x_d.expand(4, -1, -1), x_s, 5, 10)
    for k in range(4):
        single = simulate_chunked(model, x_d, x_s[k:k + 1], 5, 10)
        torch.testing.assert_close(batched[k:k + 1], single, rtol=1e-5, atol=1e-6,
                                   equal_nan=True)


@pytest.mark.parametrize("chunk", [1, 4])
def test_non_finite_inputs_are_masked_not_fed(chunk):
    model, warmup = _model(), 3
    x_d, x_s = torch.randn(2, 20, 3), torch.randn(2, 2)
    clean = simulate_chunked(model, x_d, x_s, warmup, chunk)
    x_d[0, 9, 1] = float("nan")
    x_s_bad = x_s.clone()
    x_s_bad[1, 0] = float("inf")
    out = simulate_chunked(_FiniteOnly(model), x_d, x_s_bad, warmup, chunk)
    mask = invalid_days(x_d, x_s_bad, warmup, chunk)
    assert torch.equal(torch.isnan(out), mask)
    assert mask[1].all()  # non-finite static: whole row
    assert mask[0, 9] and not mask[0, 8]  # outputs before the gap are kept
    assert mask[0, 9:9 + warmup].all()
    torch.testing.assert_close(out[~mask], clean[~mask])


def test_masked_days_are_found_once_and_reported(monkeypatch, caplog):
    """The full-tensor scan of invalid_days runs once per simulation, also for the log."""
    import logging

    from ealstm.simulation import chunked

    calls, real = [], chunked.invalid_days
    monkeypatch.setattr(chunked, "invalid_days", lambda *a: calls.append(1) or real(*a))
    x_d = torch.randn(2, 20, 3)
    x_d[0, 9, 1] = float("nan")
    with caplog.at_level(logging.WARNING, logger=chunked.log.name):
        simulate_chunked(_model(), x_d, torch.randn(2, 2), 3, 4)
    assert len(calls) == 1
    n_masked = int(real(x_d, None, 3, 4)[:, 3:].sum())
    assert f"{n_masked} of {2 * 17} simulated days set to NaN" in caplog.text


def test_invalid_days_with_chunk_one_is_the_seq_to_one_rule():
    rng = np.random.default_rng(3)
    dynamic = rng.normal(size=(3, 40, 2)).astype(np.float32)
    dynamic[rng.random((3, 40)) < 0.05] = np.nan
    seq = 6
    index = sample_index(dynamic, np.zeros((3, 40), np.float32), seq, slice(0, 40),
                         require_target=False)
    valid = np.zeros((3, 40), bool)
    valid[index.basin, index.time] = True
    mask = invalid_days(torch.from_numpy(dynamic), None, seq - 1, 1).numpy()
    np.testing.assert_array_equal(~mask, valid)


def test_model_without_statics_and_float64():
    model = _model(static=False).double()
    x_d = torch.randn(2, 12, 3, dtype=torch.float64)
    out = simulate_chunked(model, x_d, None, 2, 5)
    assert out.dtype == torch.float64 and out.shape == (2, 12)
    assert torch.isfinite(out[:, 2:]).all()


def test_cost_of_chunking():
    assert model_steps(1, 3650 + 269, 269, 1) == 3650 * 270
    assert model_steps(1, 3650 + 269, 269, 270) < 3650 * 2.1
    with pytest.raises(ValueError, match="chunk"):
        chunk_plan(10, 2, 0)


def test_period_inputs_pads_days_before_the_array():
    dynamic = np.arange(2 * 10 * 1, dtype=np.float32).reshape(2, 10, 1)
    x = period_inputs(dynamic, slice(2, 6), 4)
    assert x.shape == (2, 8, 1)
    assert torch.isnan(x[:, :2]).all()
    np.testing.assert_array_equal(x[:, 2:].numpy(), dynamic[:, :6])
