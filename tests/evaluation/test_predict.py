"""predict_period: observations stored as read, negative simulations clipped as the paper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ealstm.config import Period
from ealstm.data.arrays import BasinArrays
from ealstm.data.scaling import Scaler
from ealstm.evaluation.predict import predict_period
from ealstm.metrics import evaluate_basins
from ealstm.simulation.simulate import Simulation

PERIOD = Period(start="2000-01-05", end="2000-01-20")


class _Constant(torch.nn.Module):
    """A model whose output is one constant (in scaled target units) on every day."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x_d, x_s=None, predict_last_n=1):
        return torch.full((x_d.shape[0], predict_last_n), self.value, dtype=x_d.dtype)


def _arrays() -> BasinArrays:
    rng = np.random.default_rng(4)
    n_times = 20
    target = rng.gamma(0.5, 2.0, size=(2, n_times)).astype(np.float32)
    target[:, ::3] = 0.0  # intermittent: exact zero flow every third day
    target[1, 7] = np.float32(0.1234567)
    return BasinArrays(
        basins=("00000001", "00000002"),
        dates=pd.date_range("2000-01-01", periods=n_times, freq="D", name="date"),
        dynamic=rng.normal(size=(2, n_times, 2)).astype(np.float32), target=target,
        static=rng.normal(size=(2, 3)).astype(np.float32), dynamic_names=("a", "b"),
        static_names=("x", "y", "z"))


def _predict(value: float, clip_negative: bool = True):
    raw = _arrays()
    scaler = Scaler.fit(raw, PERIOD)
    how = Simulation(seq_length=3) if clip_negative else Simulation(3, clip_negative=False)
    return raw, scaler, predict_period(_Constant(value), scaler.transform(raw), scaler, PERIOD,
                                       how)


def test_qobs_is_the_raw_discharge_bit_for_bit_and_zeros_stay_zero():
    raw, _, ds = _predict(0.0)
    expected = raw.target[:, raw.time_slice(PERIOD)]
    assert ds["qobs"].dtype == np.float32
    assert np.array_equal(ds["qobs"].values, expected)
    zeros = expected == 0.0
    assert zeros.any() and np.all(ds["qobs"].values[zeros] == 0.0)


def test_negative_simulations_are_scored_as_zero_by_default():
    raw, scaler, _ = _predict(0.0)
    below_zero = -scaler.target_mean / scaler.target_std - 1.0  # qsim = -std mm/day
    _, _, ds = _predict(below_zero)
    assert np.all(ds["qsim"].values == 0.0) and ds.attrs["clip_negative"] == 1
    obs = raw.target[:, raw.time_slice(PERIOD)].astype(np.float64)
    table = evaluate_basins(ds["qobs"], ds["qsim"], metrics=["nse"])
    expected = [1 - np.sum(o ** 2) / np.sum((o - o.mean()) ** 2) for o in obs]
    np.testing.assert_allclose(table["nse"], expected, rtol=1e-6)


def test_clip_negative_off_keeps_the_raw_simulation():
    raw, scaler, _ = _predict(0.0)
    below_zero = -scaler.target_mean / scaler.target_std - 1.0
    _, _, ds = _predict(below_zero, clip_negative=False)
    sim = ds["qsim"].values.astype(np.float64)
    np.testing.assert_allclose(sim, -scaler.target_std, rtol=1e-5)
    obs = raw.target[:, raw.time_slice(PERIOD)].astype(np.float64)
    table = evaluate_basins(ds["qobs"], ds["qsim"], metrics=["nse"])
    expected = [1 - np.sum((s - o) ** 2) / np.sum((o - o.mean()) ** 2)
                for o, s in zip(obs, sim, strict=True)]
    np.testing.assert_allclose(table["nse"], expected, rtol=1e-6)


@pytest.mark.parametrize("clip", [True, False])
def test_clip_negative_is_read_from_the_evaluation_config(clip, tmp_path):
    from ealstm.config import parse_config

    train = {"start": "2000-01-01", "end": "2000-12-31"}
    test = {"start": "2001-01-01", "end": "2001-12-31"}
    cfg = parse_config({"name": "x", "data": {"data_dir": str(tmp_path), "train_period": train,
                                              "test_period": test},
                        "evaluation": {"clip_negative": clip}})
    assert Simulation.of(cfg).clip_negative is clip


def test_one_chunk_default_for_evaluation_and_the_analyses(demo_camels, tmp_path):
    from ealstm.config import parse_config
    from ealstm.errors import ConfigError
    from ealstm.simulation.simulate import resolve_chunk
    from tests.conftest import tiny_run_config

    seq2one = parse_config(tiny_run_config(demo_camels, tmp_path, "a"))
    seq2seq = parse_config(tiny_run_config(demo_camels, tmp_path, "b", predict_last_n=5))
    assert resolve_chunk(None, seq2one) == Simulation.of(seq2one).chunk == 1
    assert resolve_chunk(None, seq2seq) == Simulation.of(seq2seq).chunk == 5
    assert resolve_chunk(3, seq2seq) == 3
    with pytest.raises(ConfigError, match="chunk must be >= 1"):
        resolve_chunk(0, seq2one)
