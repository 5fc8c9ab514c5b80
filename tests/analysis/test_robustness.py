"""Robustness to noisy static inputs (paper sections 2.6.2 and 3.3)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from ealstm.analysis import robustness as rob
from ealstm.config import parse_config
from ealstm.errors import ConfigError
from ealstm.evaluation.run import evaluate_run, load_run
from ealstm.metrics import nse
from ealstm.training.loop import train
from tests.conftest import tiny_run_config


@pytest.fixture
def run_copy(tiny_ealstm_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_ealstm_run, tmp_path / "run"))


class _StaticShift(torch.nn.Module):
    """Trained model plus ``x_s @ w``: its output depends strongly and linearly on x_s."""

    def __init__(self, inner: torch.nn.Module, n_static: int) -> None:
        super().__init__()
        self.inner = inner
        self.register_buffer("w", torch.full((n_static,), 2.0 / n_static ** 0.5))

    def forward(self, x_d, x_s=None, predict_last_n=1):
        return self.inner(x_d, x_s, predict_last_n) + (x_s @ self.w)[:, None]


def test_sigma_zero_is_the_plain_evaluation_and_files_are_written(run_copy):
    result = rob.robustness(run_copy, sigmas=(0.5, 1.0), n_draws=3, chunk=1)
    plain = evaluate_run(run_copy, "test").table["nse"]
    assert result.nse.dims == ("sigma", "draw", "basin")
    assert result.nse.shape == (3, 3, 4)
    np.testing.assert_allclose(result.nse.sel(sigma=0.0).values,
                               np.broadcast_to(plain.to_numpy(), (3, 4)), rtol=0, atol=1e-5)
    assert not np.allclose(result.nse.sel(sigma=1.0).values, plain.to_numpy()[None])
    out = run_copy / "analysis" / "robustness"
    assert result.output_dir == out
    assert sorted(p.name for p in out.iterdir()) == [
        "meta.json", "nse.nc", "nse_vs_sigma.png", "summary.csv"]  # no temp files left
    assert result.files["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with xr.open_dataset(result.files["nse"]) as saved:
        np.testing.assert_array_equal(saved["nse"].values, result.nse.values)
    meta = json.loads(result.files["meta"].read_text())
    assert meta["mode"] == "seq-to-one" and meta["chunk"] == 1 and meta["n_draws"] == 3
    assert meta["n_simulated_basin_days"] == 4 * (1 + 2 * 3) * 365 == result.n_basin_days
    assert meta["n_model_steps"] == result.n_basin_days * 10 and meta["wall_time_s"] > 0
    assert meta["n_masked_basin_days"] == 0  # the synthetic forcings are complete
    assert list(result.summary.columns) == [
        "n", "mean", "median", "p01", "p05", "p25", "p75", "p95"]


def test_summary_matches_numpy_percentiles(run_copy):
    result = rob.robustness(run_copy, sigmas=(1.0,), n_draws=4, seed=1)
    values = result.nse.sel(sigma=1.0).values.ravel()
    row = result.summary.loc[1.0]
    assert row["n"] == 16
    np.testing.assert_allclose([row["mean"], row["median"], row["p05"], row["p95"]],
                               [values.mean(), np.median(values), *np.percentile(values, [5, 95])])
    # default: driven as `ealstm evaluate` drives this seq-to-one run, i.e. chunk 1 (exact)
    assert result.mode == "seq-to-one" and result.chunk == 1
    fast = rob.robustness(run_copy, sigmas=(1.0,), n_draws=4, seed=1, chunk=10)
    assert fast.mode == "chunked" and fast.n_model_steps < 2.5 * fast.n_basin_days


def test_reproducible_with_the_seed(run_copy):
    first = rob.robustness(run_copy, sigmas=(0.3, 1.0), n_draws=2, seed=5).nse
    again = rob.robustness(run_copy, sigmas=(0.3, 1.0), n_draws=2, seed=5).nse
    other = rob.robustness(run_copy, sigmas=(0.3, 1.0), n_draws=2, seed=6).nse
    xr.testing.assert_identical(first, again)
    assert not np.allclose(first.sel(sigma=1.0), other.sel(sigma=1.0))
    np.testing.assert_array_equal(first.sel(sigma=0.0), other.sel(sigma=0.0))


def test_draws_of_a_basin_do_not_depend_on_batching(monkeypatch, run_copy):
    together = rob.robustness(run_copy, sigmas=(1.0,), n_draws=2, seed=3).nse
    monkeypatch.setattr(rob, "ROWS_PER_PASS", 1)  # one basin per pass
    alone = rob.robustness(run_copy, sigmas=(1.0,), n_draws=2, seed=3).nse
    xr.testing.assert_allclose(together, alone, rtol=1e-5)


def test_nse_degrades_with_sigma_when_statics_matter(monkeypatch, run_copy):
    real_load_run = rob.load_run

    def load_shifted(*args, **kwargs):
        run = real_load_run(*args, **kwargs)
        return dataclasses.replace(run, model=_StaticShift(run.model, run.scaled.static.shape[1]))

    monkeypatch.setattr(rob, "load_run", load_shifted)
    result = rob.robustness(run_copy, sigmas=(0.25, 0.5, 1.0), n_draws=20, seed=0)
    means = result.summary["mean"].to_numpy()
    assert np.all(np.diff(means) < 0), means
    assert means[-1] < means[0] - 0.5


def test_nse_rows_is_the_metric_nse():
    rng = np.random.default_rng(0)
    obs = rng.gamma(2.0, size=50)
    obs[[3, 7]] = np.nan
    sim = obs[None, :] + rng.normal(size=(4, 50))
    sim[1, 10] = np.nan
    expected = [nse(obs, row) for row in sim]
    np.testing.assert_allclose(rob.nse_rows(obs, sim), expected, rtol=1e-12)
    assert np.isnan(rob.nse_rows(np.ones(5), sim[:, :5])).all()  # constant obs


def test_perturbed_statics_layout():
    x_s = np.array([1.0, -1.0], np.float32)
    rows = rob.perturbed_statics(x_s, (0.5, 2.0), 3, np.random.default_rng(0))
    assert rows.shape == (7, 2) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows[0], x_s)
    spread = [np.abs(rows[1:4] - x_s).mean(), np.abs(rows[4:] - x_s).mean()]
    assert spread[0] < spread[1]


def test_lstm_with_statics_works_and_without_statics_errors(demo_camels, tmp_path):
    model = {"name": "lstm", "hidden_size": 4, "dropout": 0.0}
    with_static = train(parse_config(tiny_run_config(
        demo_camels, tmp_path, name="lstm_s", model=model, epochs=1)), progress=False)
    result = rob.robustness(with_static, sigmas=(1.0,), n_draws=2)
    assert np.isfinite(result.nse.values).all()
    no_static = train(parse_config(tiny_run_config(
        demo_camels, tmp_path, name="lstm_ns", model=model | {"use_static": False}, epochs=1)),
        progress=False)
    with pytest.raises(ConfigError, match="without static inputs"):
        rob.robustness(no_static)
    assert not (no_static / "analysis").exists()


def test_invalid_settings(run_copy):
    with pytest.raises(ConfigError, match="sigmas"):
        rob.robustness(run_copy, sigmas=(-0.1,))
    with pytest.raises(ConfigError, match="n_draws"):
        rob.robustness(run_copy, n_draws=0)
    with pytest.raises(ConfigError, match="chunk"):
        rob.robustness(run_copy, chunk=0)
    assert load_run(run_copy).cfg.model.name == "ealstm"


class _VeryNegative(torch.nn.Module):
    """A model whose discharge is below 0 mm/day on every day, whatever the statics."""

    def forward(self, x_d, x_s=None, predict_last_n=1):
        return torch.full((x_d.shape[0], x_d.shape[1]), -50.0)[:, -predict_last_n:]


@pytest.mark.parametrize("clip", [True, False])
def test_negative_simulations_are_scored_as_zero_unless_disabled(monkeypatch, run_copy, clip):
    real_load_run = rob.load_run

    def load_negative(*args, **kwargs):
        run = real_load_run(*args, **kwargs)
        cfg = run.cfg.model_copy(update={"evaluation": run.cfg.evaluation.model_copy(
            update={"clip_negative": clip})})
        return dataclasses.replace(run, model=_VeryNegative(), cfg=cfg)

    monkeypatch.setattr(rob, "load_run", load_negative)
    result = rob.robustness(run_copy, sigmas=(0.5,), n_draws=2, chunk=1)
    run = real_load_run(run_copy)
    obs = run.scaled.observed[:, run.scaled.time_slice(run.cfg.data.period("test"))]
    sim = 0.0 if clip else float(run.scaler.unscale_target(np.array([-50.0]))[0])
    expected = [nse(o, np.full_like(o, sim)) for o in obs]
    np.testing.assert_allclose(result.nse.sel(sigma=0.5).values,
                               np.broadcast_to(expected, (2, len(expected))), rtol=1e-5)
def _nse_cube() -> xr.DataArray:
    """3 sigmas x 2 draws x 3 basins; basin c is a hopeless one at NSE -90."""
    reference = np.array([0.8, -0.5, -90.0])
    change = np.array([[0.0, 0.0], [-0.1, -0.3], [-0.2, -0.4]])  # [sigma, draw], every basin
    values = reference[None, None, :] + change[:, :, None]
    return xr.DataArray(values, dims=("sigma", "draw", "basin"),
                        coords={"sigma": [0.0, 0.1, 0.5], "draw": [0, 1],
                                "basin": ["a", "b", "c"]})


def test_delta_nse_is_the_per_basin_median_change():
    from ealstm.analysis.robustness import delta_nse

    delta = delta_nse(_nse_cube())
    assert np.allclose(delta.sel(sigma=0.0), 0.0)
    assert np.allclose(delta.sel(sigma=0.1), -0.2) and np.allclose(delta.sel(sigma=0.5), -0.3)


def test_one_hopeless_basin_does_not_squash_the_nse_boxes(tmp_path, monkeypatch):
    import pandas as pd

    figures = []
    monkeypatch.setattr(rob, "save_png", lambda fig, path: figures.append(fig) or path)
    rob.plot_nse_vs_sigma(_nse_cube(), pd.DataFrame(), tmp_path / "x.png")
    left, right = figures[0].axes
    assert left.get_ylim()[0] == pytest.approx(-1.05)  # the floor, not -90
    assert "6 values below -1 not shown" in left.get_title()
    assert right.get_ylim()[0] > -1.0 and "per basin" in right.get_title()


def test_noise_has_standard_deviation_sigma():
    # paper sect. 2.6.2: noise N(0, sigma) on the standardised attributes (std sigma, not sigma^2)
    x_s = np.linspace(-2.0, 2.0, 500).astype(np.float32)
    sigmas = (0.3, 0.8)
    rows = rob.perturbed_statics(x_s, sigmas, 400, np.random.default_rng(1))
    for i, sigma in enumerate(sigmas):
        noise = rows[1 + i * 400:1 + (i + 1) * 400] - x_s
        assert noise.std() == pytest.approx(sigma, rel=0.01)
        assert abs(noise.mean()) < 0.01 * sigma


def test_default_noise_levels_and_draws_are_the_papers():
    # paper sect. 2.6.2: sigma = 0.1, 0.2, ..., 1.0 and 50 draws per basin and sigma
    import inspect

    from ealstm.cli import build_parser

    assert rob.DEFAULT_SIGMAS == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    params = inspect.signature(rob.robustness).parameters
    assert params["sigmas"].default == rob.DEFAULT_SIGMAS and params["n_draws"].default == 50
    args = build_parser().parse_args(["analyze", "robustness", "run"])
    assert tuple(args.sigmas) == rob.DEFAULT_SIGMAS and args.draws == 50
