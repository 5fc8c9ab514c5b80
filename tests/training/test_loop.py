"""End-to-end training on tiny synthetic data: outputs, resume exactness, refusals."""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from ealstm.config import load_run_config, parse_config
from ealstm.errors import CheckpointError, TrainingDivergedError
from ealstm.evaluation.run import evaluate_run
from ealstm.runs.checkpoint import list_checkpoints, load_checkpoint
from ealstm.training.loop import train
from tests.conftest import tiny_run_config


def tiny_config(data_dir: Path, runs_dir: Path, name: str = "tiny", **train) -> dict:
    return tiny_run_config(data_dir, runs_dir, name, n_basins=2, **train)


def test_train_and_evaluate_write_every_artifact(demo_camels, tmp_path):
    cfg = parse_config(tiny_config(demo_camels, tmp_path, validate_every=1))
    run_dir = train(cfg, progress=False)
    assert sorted(list_checkpoints(run_dir)) == [1, 2]
    log = pd.read_csv(run_dir / "train_log.csv")
    assert list(log["epoch"]) == [1, 2] and np.isfinite(log["train_loss"]).all()
    assert np.isfinite(log["val_median_nse"]).all()
    result = evaluate_run(run_dir, "test")
    ds = xr.open_dataset(result.predictions)
    assert ds["qsim"].dims == ("basin", "date") and ds.sizes["date"] == 365
    assert list(ds["basin"].values) == list(cfg.data.basins)
    assert np.isfinite(ds["qsim"].values).all()
    assert set(result.table.columns) >= {"nse", "alpha_nse", "beta_nse", "fhv", "fms", "flv"}
    assert result.summary["n_basins"] == 2


def test_predictions_hold_observed_discharge_in_mm_per_day(demo_camels, tmp_path):
    from ealstm.data.readers.camels_us import read_forcings, read_streamflow

    cfg = parse_config(tiny_config(demo_camels, tmp_path, epochs=1))
    result = evaluate_run(train(cfg, progress=False), "test")
    basin = cfg.data.basins[0]
    _, area = read_forcings(demo_camels, basin, "maurer_extended")
    q = read_streamflow(demo_camels, basin, area).loc["1998-10-01":"1999-09-30"]
    stored = xr.open_dataset(result.predictions)["qobs"].sel(basin=basin).values
    np.testing.assert_allclose(stored, q.values, rtol=1e-5, atol=1e-6)


def test_resumed_run_equals_uninterrupted_run(demo_camels, tmp_path):
    full = train(parse_config(tiny_config(demo_camels, tmp_path, name="full", epochs=3)),
                 progress=False)
    parted = parse_config(tiny_config(demo_camels, tmp_path, name="parted", epochs=2))
    train(parted, progress=False)  # as if killed after epoch 2
    resumed = train(parse_config(tiny_config(demo_camels, tmp_path, name="parted", epochs=3)),
                    resume=True, progress=False)
    a, b = load_checkpoint(full), load_checkpoint(resumed)
    assert a["epoch"] == b["epoch"] == 3
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    log = pd.read_csv(resumed / "train_log.csv")
    assert list(log["epoch"]) == [1, 2, 3]


def test_refuses_to_overwrite_or_resume_nothing(demo_camels, tmp_path):
    cfg = parse_config(tiny_config(demo_camels, tmp_path, epochs=1))
    with pytest.raises(CheckpointError, match="no checkpoint"):
        train(cfg, resume=True, progress=False)
    assert not cfg.run_dir.exists()  # refused before the lock, which would create the folder
    train(cfg, progress=False)
    with pytest.raises(CheckpointError, match="--resume"):
        train(cfg, progress=False)
    changed = parse_config(tiny_config(demo_camels, tmp_path, epochs=1, batch_size=32))
    with pytest.raises(CheckpointError, match="train.batch_size"):
        train(changed, resume=True, progress=False)


def test_resume_may_change_device_threads_cache_and_epochs(demo_camels, tmp_path):
    train(parse_config(tiny_config(demo_camels, tmp_path, epochs=1)), progress=False)
    raw = tiny_config(demo_camels, tmp_path, epochs=2, device="cpu", num_threads=1)
    raw["data"]["cache_dir"] = str(tmp_path / "other_cache")
    run_dir = train(parse_config(raw), resume=True, progress=False)
    assert list(pd.read_csv(run_dir / "train_log.csv")["epoch"]) == [1, 2]
    saved = load_run_config(run_dir)
    assert (saved.train.device, saved.train.num_threads, saved.train.epochs) == ("cpu", 1, 2)
    assert saved.data.cache_dir == tmp_path / "other_cache"


def test_lstm_without_statics_trains(demo_camels, tmp_path):
    raw = tiny_config(demo_camels, tmp_path, epochs=1)
    raw["model"] = {"name": "lstm", "use_static": False, "hidden_size": 8}
    run_dir = train(parse_config(raw), progress=False)
    state = load_checkpoint(run_dir)
    assert state["model_args"]["n_static"] == 0
    assert np.isfinite(evaluate_run(run_dir).table["nse"]).all()


def test_sequence_to_sequence_training_and_chunked_evaluation(demo_camels, tmp_path):
    raw = tiny_config(demo_camels, tmp_path, epochs=2, predict_last_n=5)
    raw["data"]["seq_length"] = 15
    cfg = parse_config(raw)
    run_dir = train(cfg, progress=False)
    log = pd.read_csv(run_dir / "train_log.csv")
    seq_to_one = train(parse_config(tiny_config(demo_camels, tmp_path, name="s2o", epochs=1)),
                       progress=False)
    # each target day is visited about once per epoch: ~1/5 of the seq-to-one windows
    n_s2o = pd.read_csv(seq_to_one / "train_log.csv")["n_samples"].iloc[0]
    assert np.isfinite(log["train_loss"]).all()
    result = evaluate_run(run_dir, "test")
    ds = xr.open_dataset(result.predictions)
    assert ds.attrs["warmup_days"] == 10 and ds.attrs["chunk_days"] == 5
    assert np.isfinite(ds["qsim"].values).all()
    assert n_s2o / 6 < log["n_samples"].iloc[0] < n_s2o / 4


def test_predict_last_n_longer_than_window_is_a_config_error(demo_camels, tmp_path):
    from ealstm.errors import ConfigError

    with pytest.raises(ConfigError, match="predict_last_n"):
        parse_config(tiny_config(demo_camels, tmp_path, predict_last_n=11))


def _record_loss_calls(monkeypatch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Replace the NSE* loss of the loop by a wrapper recording ``(y, q_std)`` of each batch."""
    import ealstm.training.loop as loop
    from ealstm.training.losses import nse_star_loss

    calls = []

    def recording(y_hat, y, q_std, eps):
        calls.append((y.detach().cpu().clone(), q_std.detach().cpu().clone()))
        return nse_star_loss(y_hat, y, q_std, eps)

    monkeypatch.setitem(loop.LOSSES, "nse_star", recording)
    return calls


def test_nse_star_weights_use_the_raw_discharge_std_written_to_the_run(demo_camels, tmp_path,
                                                                        monkeypatch):
    from ealstm.data.cache import load_basin_arrays

    calls = _record_loss_calls(monkeypatch)
    cfg = parse_config(tiny_config(demo_camels, tmp_path, epochs=1, loss="nse_star"))
    run_dir = train(cfg, progress=False)
    table = pd.read_csv(run_dir / "nse_star_std.csv", dtype={"basin": str})
    assert list(table.columns) == ["basin", "std_mm_day", "n_days"]
    raw = load_basin_arrays(cfg.data)
    window = raw.target[:, raw.time_slice(cfg.data.train_period)].astype(np.float64)
    expected = [np.std(row[np.isfinite(row)]) for row in window]
    np.testing.assert_allclose(table["std_mm_day"], expected, rtol=1e-12)
    assert table["n_days"].tolist() == np.isfinite(window).sum(axis=1).tolist()
    # the loss saw exactly these values (float32), for every batch
    seen = torch.cat([q for _, q in calls])
    assert set(seen.tolist()) <= set(np.float32(expected).tolist())
    assert len(set(seen.tolist())) == len(expected)


def test_no_target_outside_the_training_period_enters_the_loss(demo_camels, tmp_path,
                                                               monkeypatch):
    """Sequence-to-sequence: windows ending early in the period predict days before it."""
    import ealstm.training.loop as loop
    from ealstm.data.cache import load_basin_arrays

    raw = tiny_config(demo_camels, tmp_path, epochs=2, predict_last_n=8, loss="nse_star")
    raw["data"]["seq_length"] = 15
    cfg = parse_config(raw)
    arrays = load_basin_arrays(cfg.data)
    period = arrays.time_slice(cfg.data.train_period)
    # poison every target outside the training period: it must never reach the loss
    poisoned = arrays.target.copy()
    poisoned[:, :period.start] = 1e6
    poisoned[:, period.stop:] = 1e6
    original_prepare = loop.prepare_data

    def prepare_poisoned(run_cfg, scaler=None):
        scaled, fitted = original_prepare(run_cfg, scaler)
        target = fitted.scale_target(poisoned)
        return dataclasses.replace(scaled, target=target), fitted

    terms, early = [], []
    original_gather = loop.gather_batch

    def recording_gather(arrays_, basin_idx, time_idx, seq_length, n_last=1, **kwargs):
        batch = original_gather(arrays_, basin_idx, time_idx, seq_length, n_last, **kwargs)
        days = time_idx[:, None] + np.arange(1 - n_last, 1)
        finite = np.isfinite(batch.y.numpy())
        terms.append(days[finite])
        early.append(bool((days < period.start).any()))
        return batch

    monkeypatch.setattr(loop, "prepare_data", prepare_poisoned)
    monkeypatch.setattr(loop, "gather_batch", recording_gather)
    calls = _record_loss_calls(monkeypatch)
    train(cfg, progress=False)
    days = np.concatenate(terms)
    assert any(early)  # some windows did reach back before the period
    assert days.size > 0 and days.min() >= period.start and days.max() < period.stop
    assert max(float(y[torch.isfinite(y)].abs().max()) for y, _ in calls) < 1e3
# --- issue 10: a diverging run stops --------------------------------------------------------------


def test_non_finite_loss_stops_training_without_a_checkpoint(demo_camels, tmp_path, monkeypatch):
    from ealstm.training import loop

    calls = []

    def poisoned(y_hat, y, q_std, eps):  # the 2nd batch's loss is NaN, as after an overflow
        calls.append(1)
        loss = ((y_hat - y) ** 2).mean()
        return loss * float("nan") if len(calls) == 2 else loss

    monkeypatch.setitem(loop.LOSSES, "nse_star", poisoned)
    cfg = parse_config(tiny_config(demo_camels, tmp_path, epochs=1))
    with pytest.raises(TrainingDivergedError, match=r"diverged in epoch 1, batch 2: loss nan"):
        train(cfg, progress=False)
    assert not list_checkpoints(cfg.run_dir) and len(calls) == 2


def test_non_finite_gradient_stops_before_the_optimizer_step(demo_camels, tmp_path, monkeypatch):
    from ealstm.training import loop

    steps = []
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: steps.append(1))

    def infinite_gradient(y_hat, y, q_std, eps):  # finite value; d sqrt(0) = inf, times 0: nan
        return ((y_hat - y) ** 2).mean() + torch.sqrt(0 * y_hat.sum())

    monkeypatch.setitem(loop.LOSSES, "nse_star", infinite_gradient)
    cfg = parse_config(tiny_config(demo_camels, tmp_path, epochs=1))
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, batch 1: loss [0-9.]+, gradient "
                       r"norm (nan|inf)"):
        train(cfg, progress=False)
    assert steps == [] and not list_checkpoints(cfg.run_dir)


def test_run_trained_before_the_raw_nse_star_weights_is_not_resumed(demo_camels, tmp_path):
    run_dir = train(parse_config(tiny_config(demo_camels, tmp_path, epochs=1)), progress=False)
    (run_dir / "nse_star_std.csv").unlink()  # as a run trained before the fidelity fixes
    with pytest.raises(CheckpointError, match="pre-fix NSE. weights.*new `name`"):
        train(parse_config(tiny_config(demo_camels, tmp_path, epochs=2)), resume=True,
              progress=False)


def test_gradient_norm_is_clipped_before_the_step(demo_camels, tmp_path, monkeypatch):
    # one batch with a large loss; the optimizer replaced by plain SGD, so the parameter change
    # must be -lr * g * clip / |g| with g the raw gradient (the paper code clips at norm 1)
    from ealstm.training import loop

    raw = {}
    real_check = loop._check_finite

    def record(model, loss, epoch, batch):  # runs after backward, before the clipping
        raw.update({n: (p.detach().clone(), p.grad.clone()) for n, p in model.named_parameters()
                    if p.grad is not None})
        return real_check(model, loss, epoch, batch)

    @torch.no_grad()
    def sgd_step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])

    monkeypatch.setattr(loop, "_check_finite", record)
    monkeypatch.setattr(torch.optim.Adam, "step", sgd_step)
    monkeypatch.setitem(loop.LOSSES, "nse_star",
                        lambda y_hat, y, q_std, eps: 1000.0 * ((y_hat - y) ** 2).mean())
    cfg = parse_config(tiny_config(demo_camels, tmp_path, epochs=1, batch_size=4096,
                                   learning_rate={1: 0.1}))
    assert cfg.train.clip_grad_norm == 1.0
    train(cfg, progress=False)
    assert pd.read_csv(cfg.run_dir / "train_log.csv")["n_samples"].tolist()[0] <= 4096  # 1 batch
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g)
                                                 for _, g in raw.values()]))
    assert norm > 10.0  # the clipping matters
    after = load_checkpoint(cfg.run_dir)["model"]
    for name, (before, grad) in raw.items():
        expected = before - 0.1 * grad * (1.0 / norm)
        torch.testing.assert_close(after[name], expected, rtol=1e-5, atol=1e-6)


def test_best_epoch_is_written_only_after_a_validation(demo_camels, tmp_path, monkeypatch):
    from ealstm.training import loop

    written = []
    real_save = loop.save_best_epoch
    monkeypatch.setattr(loop, "save_best_epoch",
                        lambda run_dir, best: written.append(best.epoch) or real_save(run_dir,
                                                                                      best))
    cfg = parse_config(tiny_config(demo_camels, tmp_path, epochs=3, validate_every=2))
    run_dir = train(cfg, progress=False)
    assert written == [2] and (run_dir / "best_epoch.json").is_file()
