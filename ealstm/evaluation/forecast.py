"""``ealstm predict``: simulate any period with a trained run, for its basins or new ones.

A trained model is a function of its inputs only, so it can simulate periods it never saw
(forecasting with forcings of the future) and basins it was not trained on (the ungauged case of
the paper's sect. 3.2 and 4), from any data set of the same kind and inputs, with or without
discharge observations. The run's scaler is reused unchanged (inputs and attributes of new
basins are standardised with the training statistics) and the static attributes of new basins
come from the data set. Every predicted day needs the ``seq_length - 1`` days before it as
input, so the forcings must cover ``[start - (seq_length - 1), end]`` in every basin: the
warm-up is read from the data, never invented. The result goes to its own netCDF file (default
under ``<run>/predict/``), written atomically; the run's own results are never touched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ealstm.config import DataConfig, Period, RunConfig, load_run_config, validate_model
from ealstm.data.arrays import BasinArrays, span_text
from ealstm.data.cache import load_basin_arrays
from ealstm.data.scaling import Scaler
from ealstm.device import select_device
from ealstm.errors import ConfigError
from ealstm.evaluation.predict import predict_period
from ealstm.evaluation.run import load_trained_model
from ealstm.io import load_json, save_netcdf
from ealstm.runs.best_epoch import epoch_tag, resolve_epoch
from ealstm.runs.paths import RunPaths
from ealstm.simulation.simulate import Simulation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Forecast:
    """What :func:`predict_run` wrote: the file, its content and the checkpoint epoch used."""

    path: Path
    dataset: xr.Dataset
    epoch: int


def forecast_data_config(cfg: RunConfig, period: Period, data_dir: Path | None = None,
                         basins: Sequence[str] | None = None) -> DataConfig:
    """Point the run's data config at ``period`` (plus warm-up), ``data_dir`` and ``basins``.

    Without ``basins``: the run's basins for the run's data folder, every basin of the data set
    for another ``data_dir``. Inputs, attributes, target and ``seq_length`` stay the run's.
    """
    raw = cfg.data.model_dump(mode="json")
    span = period.model_dump(mode="json")
    # one span for loading only: nothing is fitted on it (the run's scaler is reused)
    raw.update(train_period=span, validation_period=None, test_period=span,
               allow_period_overlap=True)
    if data_dir is not None and Path(data_dir).resolve() != Path(cfg.data.data_dir).resolve():
        raw.update(data_dir=str(Path(data_dir).resolve()), basins=None, basin_file=None)
    if basins:
        raw.update(basins=list(basins), basin_file=None)
    return validate_model(DataConfig, raw, "of `ealstm predict`", "data selection")


def check_coverage(arrays: BasinArrays, period: Period, warmup: int) -> None:
    """Raise if a basin's forcings do not cover the period and the warm-up before it.

    Raises
    ------
    ConfigError
        Naming the basins, the span their forcings cover and the span needed.
    """
    need_start = pd.Timestamp(period.start) - pd.Timedelta(days=warmup)
    need_end = pd.Timestamp(period.end)
    cov = arrays.coverage
    if cov is None:
        return
    first, last = cov["forcing_start"], cov["forcing_end"]
    bad = first.isna() | last.isna() | (first > need_start) | (last < need_end)
    if bad.any():
        short = [f"{b} (forcings {span_text(first[b], last[b])})" for b in cov.index[bad]]
        fits = (f"--start >= {(first.max() + pd.Timedelta(days=warmup)).date()} and --end <= "
                f"{last.min().date()}" if not (first.isna().any() or last.isna().any())
                else "other basins")
        raise ConfigError(
            f"the forcings do not cover {need_start.date()}..{need_end.date()} (the period "
            f"{period.start}..{period.end} and its warm-up of seq_length - 1 = {warmup} days "
            f"before --start) in basins {', '.join(short[:10])}"
            f"{f' and {len(short) - 10} more' if len(short) > 10 else ''}; choose {fits}")


def default_output(paths: RunPaths, period: Period, tag: str) -> Path:
    """``<run>/predict/predictions_<start>_<end>[_<basins>][_epochNNN].nc``."""
    return paths.predict_dir / f"predictions_{period.start:%Y%m%d}_{period.end:%Y%m%d}{tag}.nc"


def selection_tag(run_data: DataConfig, data_cfg: DataConfig) -> str:
    """File-name tag of a prediction for other basins or another data folder than the run's.

    Empty for the run's own basins and data; otherwise the basin ids (one or two) or their
    count, plus a short hash of the data folder and the sorted ids, so that predictions of the
    same period for different basins or data sets never overwrite each other.
    """
    def selection(data: DataConfig) -> tuple:
        return (Path(data.data_dir).resolve(), data.basins, data.basin_file)

    if selection(data_cfg) == selection(run_data):
        return ""
    ids = sorted(data_cfg.basins or [])
    key = f"{Path(data_cfg.data_dir).resolve()}|{','.join(ids)}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    label = "all" if not ids else "-".join(ids) if len(ids) <= 2 else f"{len(ids)}basins"
    return f"_{label}_{digest}"


def _check_output(paths: RunPaths, out: Path) -> Path:
    """Refuse an output file in the run folder itself, where the run's own results live."""
    if Path(out).resolve().parent == paths.root.resolve():
        raise ConfigError(f"--out {out} lies in the run folder next to its own results; write "
                          f"to {paths.predict_dir} (the default) or outside the run")
    return Path(out)


def _observed_or_not(ds: xr.Dataset) -> xr.Dataset:
    """Drop ``qobs`` when no basin has an observation (forecasting, ungauged basins)."""
    if not np.isfinite(ds["qobs"].values).any():
        return ds.drop_vars("qobs")
    return ds


def predict_run(run_dir: Path, start: dt.date, end: dt.date, data_dir: Path | None = None,
                basins: Sequence[str] | None = None, epoch: int | None = None,
                out: Path | None = None, device: str | None = None) -> Forecast:
    """Simulate ``[start, end]`` with a trained run and write ``qsim`` (and ``qobs``) to netCDF.

    Parameters
    ----------
    run_dir
        Directory written by ``ealstm train``.
    start, end
        First and last predicted day.
    data_dir
        Data set of the same kind as the run's (default: the run's); discharge is optional.
    basins
        Basins to simulate (default: see :func:`forecast_data_config`).
    epoch
        Checkpoint (default: the best validation epoch, else the last).
    out
        Output netCDF (default: :func:`default_output`).
    device
        Torch device (default: the run's ``train.device``).

    Raises
    ------
    ConfigError
        Bad period, output in the run folder, or forcings that do not cover the warm-up.
    """
    paths = RunPaths(Path(run_dir))
    cfg = load_run_config(paths.root)
    period = validate_model(Period, {"start": start, "end": end}, "--start/--end", "period")
    epoch, is_default = resolve_epoch(paths.root, epoch)
    data_cfg = forecast_data_config(cfg, period, data_dir, basins)
    tag = selection_tag(cfg.data, data_cfg) + epoch_tag(epoch, is_default)
    out = _check_output(paths, out or default_output(paths, period, tag))
    arrays = load_basin_arrays(data_cfg, target_optional=True)
    check_coverage(arrays, period, data_cfg.seq_length - 1)
    scaler = Scaler.from_dict(load_json(paths.scaler))
    model, _ = load_trained_model(paths.root, epoch)
    torch_device = select_device(device or cfg.train.device)
    model.to(torch_device)
    log.info("predicting %d basins, %s..%s, with epoch %d of %s", len(arrays.basins),
             period.start, period.end, epoch, paths.root)
    ds = predict_period(model, scaler.transform(arrays), scaler, period, Simulation.of(cfg),
                        torch_device, progress=True)
    ds = _observed_or_not(ds)
    ds.attrs.update(run=str(paths.root), epoch=epoch, data_dir=str(data_cfg.data_dir))
    save_netcdf(out, ds)
    return Forecast(out, ds, epoch)
