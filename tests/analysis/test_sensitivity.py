"""Explicit Morris sensitivities: exact gradients w.r.t. the static inputs (eq. 15, Table 4)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ealstm.analysis import maps
from ealstm.analysis import sensitivity as sens
from ealstm.config import parse_config
from ealstm.data.windows import gather_batch, sample_index
from ealstm.errors import ConfigError
from ealstm.evaluation.run import load_run
from ealstm.models.ealstm import EALSTM
from ealstm.simulation.chunked import invalid_days
from ealstm.training.loop import train
from tests.conftest import tiny_run_config


@pytest.fixture
def run_copy(tiny_ealstm_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_ealstm_run, tmp_path / "run"))


def _samples(run, n: int = 6):
    """``n`` seq-to-one windows of the test period, spread over basins and days."""
    seq = run.cfg.data.seq_length
    index = sample_index(run.scaled.dynamic, run.scaled.target, seq,
                         run.scaled.time_slice(run.cfg.data.period("test")), False)
    pick = np.linspace(0, len(index) - 1, n).astype(int)
    return gather_batch(run.scaled, index.basin[pick], index.time[pick], seq)


def test_one_backward_pass_gives_the_per_sample_gradients(tiny_ealstm_run):
    run = load_run(tiny_ealstm_run)
    batch = _samples(run)
    for n, copies in ((1, None), (3, None), (3, 2)):  # copies 2: outputs in two passes
        batched = sens.output_gradients(run.model, batch.x_d, batch.x_s, n, copies)
        assert batched.shape == (6, n, batch.x_s.shape[1])
        for k in range(6):
            x_s = batch.x_s[k:k + 1].clone().requires_grad_(True)
            y = run.model(batch.x_d[k:k + 1], x_s, n)
            for j in range(n):
                (single,) = torch.autograd.grad(y[0, j], x_s, retain_graph=True)
                torch.testing.assert_close(batched[k, j], single[0], rtol=1e-5, atol=1e-7)
    assert all(p.requires_grad and p.grad is None for p in run.model.parameters())


def test_gradient_matches_central_finite_differences_in_float64(tiny_ealstm_run):
    run = load_run(tiny_ealstm_run)
    model = copy.deepcopy(run.model).double().eval()
    batch = _samples(run, 3)
    x_d, x_s = batch.x_d.double(), batch.x_s.double()
    grads = sens.output_gradients(model, x_d, x_s)[:, 0]
    h = 1e-6
    with torch.no_grad():
        for i in range(x_s.shape[1]):
            step = torch.zeros_like(x_s)
            step[:, i] = h
            fd = (model(x_d, x_s + step) - model(x_d, x_s - step))[:, 0] / (2 * h)
            torch.testing.assert_close(grads[:, i], fd, rtol=1e-6, atol=1e-9)
    assert grads.abs().max() > 1e-4  # not trivially zero


@pytest.mark.parametrize(("chunk", "batch_steps"), [(1, 2**16), (4, 2**16), (4, 9)])
def test_day_gradients_follow_the_simulated_sequences(chunk, batch_steps):
    torch.manual_seed(0)
    model = EALSTM(3, 2, hidden_size=4, initial_forget_bias=1.0).double().eval()
    x_d, x_s, warmup = torch.randn(2, 13, 3, dtype=torch.float64), torch.randn(2, 2).double(), 3
    x_d[1, 8, 0] = float("nan")
    grads = sens.day_gradients(model, x_d, x_s, warmup, chunk, batch_steps)
    invalid = invalid_days(x_d, x_s, warmup, chunk)
    assert torch.equal(torch.isnan(grads).all(dim=2), invalid)
    for b, t in zip(*torch.nonzero(~invalid, as_tuple=True), strict=True):
        first = (int(t) - warmup) // chunk * chunk
        expected = sens.output_gradients(model, x_d[b:b + 1, first:int(t) + 1], x_s[b:b + 1])
        torch.testing.assert_close(grads[b, t], expected[0, 0])


def test_sensitivity_end_to_end(run_copy):
    result = sens.sensitivity(run_copy)
    run = load_run(run_copy)
    gradients, ranking = result.gradients, result.ranking
    assert gradients.shape == (4, len(run.scaled.static_names))
    assert np.isfinite(gradients.to_numpy()).all() and (gradients.to_numpy() > 0).all()
    # independent check of basin 0 with the seq-to-one windows of the data stage
    seq = run.cfg.data.seq_length
    index = sample_index(run.scaled.dynamic, run.scaled.target, seq,
                         run.scaled.time_slice(run.cfg.data.period("test")), False)
    chosen = index.basin == 0
    batch = gather_batch(run.scaled, index.basin[chosen], index.time[chosen], seq)
    direct = sens.output_gradients(run.model, batch.x_d, batch.x_s)[:, 0].abs().double()
    np.testing.assert_allclose(gradients.iloc[0].to_numpy(),
                               direct.mean(0).numpy() * run.scaler.target_std, rtol=1e-5)
    assert result.n_gradient_days == len(index) and result.mode == "seq-to-one"
    assert list(ranking["rank"]) == list(range(1, len(ranking) + 1))
    assert ranking["score"].is_monotonic_decreasing
    assert ranking["score"].between(0, 1).all()
    assert list(result.most_sensitive["attribute"]) == list(gradients.idxmax(axis=1))
    out = run_copy / "analysis" / "sensitivity"
    assert result.output_dir == out
    assert sorted(p.name for p in out.iterdir()) == [
        "gradients.csv", "map.png", "meta.json", "most_sensitive.csv", "ranking.csv"]
    saved = pd.read_csv(result.files["ranking"])
    assert list(saved.columns) == ["rank", "attribute", "label", "score"]
    pd.testing.assert_frame_equal(
        pd.read_csv(result.files["gradients"], index_col="basin", dtype={"basin": str}),
        gradients, check_exact=False)
    assert result.files["map"].read_bytes()[:4] == b"\x89PNG"
    assert result.map_background == "us-states"
    meta = json.loads(result.files["meta"].read_text())
    assert meta["n_gradient_days"] == result.n_gradient_days and meta["wall_time_s"] > 0


def test_rank_attributes_normalises_per_basin_then_averages():
    gradients = pd.DataFrame([[1.0, 2.0, 5.0], [0.0, 4.0, 2.0], [3.0, 3.0, 3.0],
                              [np.nan] * 3], columns=["a", "b", "c"],
                             index=pd.Index(["1", "2", "3", "4"], name="basin"))
    ranking = sens.rank_attributes(gradients)
    assert list(ranking["attribute"]) == ["c", "b", "a"]
    np.testing.assert_allclose(ranking["score"], [0.75, 0.625, 0.0])
    assert list(ranking["rank"]) == [1, 2, 3]


def test_map_without_state_outlines_is_a_plain_frame(monkeypatch, tmp_path):
    monkeypatch.setattr(maps, "state_outlines", lambda: None)
    most = pd.DataFrame({"lat": [40.0, 35.0], "lon": [-100.0, -90.0],
                         "attribute": ["p_mean", "aridity"]})
    ranking = pd.DataFrame({"attribute": ["aridity", "p_mean"]})
    assert sens.plot_sensitivity_map(most, ranking, tmp_path / "m.png") == "lonlat-frame"
    assert (tmp_path / "m.png").stat().st_size > 0


def test_state_outlines_resource_covers_conus():
    lines = maps.state_outlines()
    assert lines is not None and len(lines) > 100
    points = np.concatenate(lines)
    west, east, south, north = maps.CONUS_EXTENT
    assert points[:, 0].min() >= west and points[:, 0].max() <= east
    assert points[:, 1].min() >= south and points[:, 1].max() <= north


def test_lstm_without_statics_errors_clearly(demo_camels, tmp_path):
    model = {"name": "lstm", "hidden_size": 4, "dropout": 0.0, "use_static": False}
    run_dir = train(parse_config(tiny_run_config(demo_camels, tmp_path, name="ns", model=model,
                                                 epochs=1)), progress=False)
    with pytest.raises(ConfigError, match="without static inputs"):
        sens.sensitivity(run_dir)
    assert not (run_dir / "analysis").exists()
