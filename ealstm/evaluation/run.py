"""Evaluate a trained run: predictions netCDF, per-basin metrics CSV, summary JSON."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import xarray as xr
from torch import nn

from ealstm.config import ModelConfig, RunConfig, load_run_config
from ealstm.data.arrays import BasinArrays
from ealstm.data.prepare import prepare_data
from ealstm.data.scaling import Scaler
from ealstm.device import select_device
from ealstm.evaluation.predict import predict_period
from ealstm.io import load_json, save_csv, save_json, save_netcdf
from ealstm.metrics import evaluate_basins, summarize
from ealstm.models import build_model
from ealstm.runs.best_epoch import epoch_tag, resolve_epoch
from ealstm.runs.checkpoint import load_checkpoint
from ealstm.runs.paths import RunPaths
from ealstm.simulation.simulate import Simulation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainedRun:
    """A trained run ready for prediction or analysis: config, model and standardised data."""

    paths: RunPaths
    cfg: RunConfig
    model: nn.Module
    scaler: Scaler
    scaled: BasinArrays
    epoch: int
    device: torch.device


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate_run` wrote and the paper's summary of it."""

    predictions: Path
    metrics: Path
    summary: dict
    table: pd.DataFrame


def load_trained_model(run_dir: Path, epoch: int | None = None) -> tuple[nn.Module, dict]:
    """Rebuild the model of a run from its checkpoint (default: the last epoch)."""
    state = load_checkpoint(run_dir, epoch)
    model = build_model(ModelConfig(**state["model_config"]), **state["model_args"])
    model.load_state_dict(state["model"])
    model.eval()
    return model, state


def load_run(run_dir: Path, epoch: int | None = None, device: str | None = None) -> TrainedRun:
    """Load a run's config, scaler, data (standardised as in training) and trained model.

    ``epoch`` defaults to the best validation epoch if the run has one, else the last.
    """
    paths = RunPaths(Path(run_dir))
    cfg = load_run_config(paths.root)
    scaled, scaler = prepare_data(cfg, Scaler.from_dict(load_json(paths.scaler)))
    model, state = load_trained_model(paths.root, resolve_epoch(paths.root, epoch)[0])
    torch_device = select_device(device or cfg.train.device)
    model.to(torch_device)
    return TrainedRun(paths, cfg, model, scaler, scaled, int(state["epoch"]), torch_device)


def evaluate_run(run_dir: Path, period: str = "test", epoch: int | None = None,
                 device: str | None = None) -> Evaluation:
    """Predict ``period`` for every basin of a run and score it.

    Parameters
    ----------
    run_dir
        Directory written by ``ealstm train``.
    period
        ``train``, ``validation`` or ``test``, as set in the run's config.
    epoch
        Checkpoint to use; default: the best validation epoch (``best_epoch.json``), else the
        last. Results of another epoch get its number in their file names
        (``predictions_test_epoch001.nc``), so they never overwrite the default results.
    device
        Torch device; default: the run's ``train.device``.
    """
    epoch, is_default = resolve_epoch(Path(run_dir), epoch)
    run = load_run(run_dir, epoch, device)
    cfg, paths, tag = run.cfg, run.paths, epoch_tag(epoch, is_default)
    predictions = predict_period(run.model, run.scaled, run.scaler, cfg.data.period(period),
                                 Simulation.of(cfg), run.device, progress=True)
    predictions.attrs.update(run=str(paths.root), epoch=run.epoch, period=period)
    return save_evaluation(predictions, paths.root, period, tag, epoch=run.epoch)


def save_evaluation(ds: xr.Dataset, folder: Path, period: str, tag: str = "",
                    **info: Any) -> Evaluation:
    """Score ``ds`` (``qobs``, ``qsim``) and write predictions, metrics and summary to ``folder``.

    The one writer of evaluation results: runs (:func:`evaluate_run`), ensembles, held-out
    basins of a search trial and ungauged folds all leave the same three files
    (:class:`~ealstm.runs.paths.RunPaths`); ``info`` goes into the summary after ``period``.
    """
    paths = RunPaths(Path(folder))
    save_netcdf(paths.predictions(period, tag), ds)
    table = evaluate_basins(ds["qobs"], ds["qsim"])
    save_csv(paths.metrics(period, tag), table)
    summary = {"period": period, **info, **summarize(table["nse"])}
    save_json(paths.summary(period, tag), summary)
    return Evaluation(paths.predictions(period, tag), paths.metrics(period, tag), summary, table)
