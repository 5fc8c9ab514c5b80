"""Raw data files -> :class:`BasinArrays` on the configured basins and date axis.

The raw files are read through the reader of ``cfg.dataset`` in
:data:`ealstm.data.readers.datasets.DATASETS` (CAMELS-US, Caravan or the generic layout),
cleaned by :mod:`ealstm.data.validation` and aligned on one daily axis that starts
``seq_length - 1`` days before the first period, so that every period's first day has a full
input window. :mod:`ealstm.data.cache` stores the result; :func:`check_periods` refuses a
period without any valid day before a run trains on nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ealstm.config import PERIOD_NAMES, DataConfig
from ealstm.data.arrays import COVERAGE_COLUMNS, BasinArrays, span_text
from ealstm.data.readers.datasets import get_dataset
from ealstm.data.validation import check_statics, clean_basin
from ealstm.errors import ConfigError

log = logging.getLogger(__name__)

# --- configuration -> basins, date axis --------------------------------------------------------


def resolve_basins(cfg: DataConfig) -> tuple[str, ...]:
    """Basins of ``cfg``: ``basins``, else ``basin_file``, else every basin with forcings."""
    reader = get_dataset(cfg)
    if cfg.basins is not None:
        basins = tuple(cfg.basins)
    elif cfg.basin_file is not None:
        basins = tuple(reader.read_basin_list(cfg.basin_file))
    else:
        basins = tuple(reader.list_basins(cfg))
    if not basins:
        source = cfg.basin_file or reader.describe(cfg)
        raise ConfigError(f"no basins found in {source}; set data.basins or data.basin_file")
    duplicates = sorted({b for b in basins if basins.count(b) > 1})
    if duplicates:
        raise ConfigError(f"basins {duplicates} are listed more than once in the basin list")
    return basins


def date_axis(cfg: DataConfig) -> pd.DatetimeIndex:
    """Daily axis from ``seq_length - 1`` days before the first period start to the last end."""
    periods = [p for p in (getattr(cfg, f"{n}_period") for n in PERIOD_NAMES) if p is not None]
    start = min(p.start for p in periods) - dt.timedelta(days=cfg.seq_length - 1)
    end = max(p.end for p in periods)
    return pd.date_range(start, end, freq="D", name="date").as_unit("ns")


# --- raw files -> arrays -----------------------------------------------------------------------


def build_arrays(cfg: DataConfig, basins: tuple[str, ...], dates: pd.DatetimeIndex,
                  target_optional: bool = False) -> BasinArrays:
    """Parse forcings, streamflow and attributes of ``basins`` onto ``dates``."""
    reader = get_dataset(cfg)
    reader.check_basins(cfg, basins)
    _check_unique(cfg.dynamic_inputs, "data.dynamic_inputs")
    _check_unique(cfg.static_attributes, "data.static_attributes")
    n_dynamic = len(cfg.dynamic_inputs)
    dynamic = np.full((len(basins), len(dates), n_dynamic), np.nan, dtype=np.float32)
    target = np.full((len(basins), len(dates)), np.nan, dtype=np.float32)
    coverage = []
    for i, basin in enumerate(basins):
        forcing, qobs = clean_basin(
            *reader.read_basin(cfg, basin, require_target=not target_optional), basin,
            cfg.invalid_values)
        dynamic[i] = _align(forcing, dates).to_numpy(np.float32)
        target[i] = _align(qobs, dates).to_numpy(np.float32)
        coverage.append(_coverage(forcing, qobs))
        log.debug("parsed basin %s (%d/%d)", basin, i + 1, len(basins))
    return BasinArrays(
        basins=basins, dates=dates, dynamic=dynamic, target=target,
        static=_read_static(cfg, basins), dynamic_names=tuple(cfg.dynamic_inputs),
        static_names=tuple(cfg.static_attributes),
        coverage=pd.DataFrame(coverage, index=pd.Index(basins, name="basin")))


def _check_unique(names: Sequence[str], key: str) -> None:
    duplicates = sorted({n for n in names if list(names).count(n) > 1})
    if duplicates:
        raise ConfigError(f"{key} lists {duplicates} more than once")


def _align(data: pd.DataFrame | pd.Series, dates: pd.DatetimeIndex) -> pd.DataFrame | pd.Series:
    """Reindex ``data`` (unique daily dates) onto ``dates``; days outside its record become NaN."""
    return data.set_axis(pd.DatetimeIndex(data.index).as_unit("ns").normalize()).reindex(dates)


def _coverage(forcing: pd.DataFrame, qobs: pd.Series) -> dict[str, pd.Timestamp]:
    """First and last day with all inputs finite and with a finite target."""
    valid_forcing = forcing.index[np.isfinite(forcing.to_numpy(np.float64)).all(axis=1)]
    valid_qobs = qobs.index[np.isfinite(qobs.to_numpy(np.float64))]
    first = [pd.Timestamp(v[0]) if len(v) else pd.NaT for v in (valid_forcing, valid_qobs)]
    last = [pd.Timestamp(v[-1]) if len(v) else pd.NaT for v in (valid_forcing, valid_qobs)]
    return dict(zip(COVERAGE_COLUMNS, (first[0], last[0], first[1], last[1]), strict=True))


def _read_static(cfg: DataConfig, basins: tuple[str, ...]) -> np.ndarray:
    """Attributes ``[basin, attribute]`` as float32, rows in the order of ``basins``."""
    columns = list(cfg.static_attributes)
    if not columns:
        return np.zeros((len(basins), 0), dtype=np.float32)
    reader = get_dataset(cfg)
    frame = reader.read_statics(cfg, basins)
    check_statics(frame.loc[list(basins), columns], f"attributes of {reader.describe(cfg)}")
    return np.ascontiguousarray(frame.loc[list(basins), columns].to_numpy(np.float32))


# --- period checks -----------------------------------------------------------------------------


def check_periods(arrays: BasinArrays, cfg: DataConfig) -> None:
    """Raise if a set period has no valid day in any basin; warn about empty train basins.

    A day is valid in train and validation when all inputs and the target are finite, in test
    when all inputs are finite.

    Raises
    ------
    ConfigError
        Naming ``data.<name>_period``, the period and the span the data covers.
    """
    input_ok = np.isfinite(arrays.dynamic).all(axis=2)
    target_ok = np.isfinite(arrays.target)
    for name in PERIOD_NAMES:
        period = getattr(cfg, f"{name}_period")
        if period is None:
            continue
        sl = arrays.time_slice(period)
        valid = input_ok[:, sl] if name == "test" else input_ok[:, sl] & target_ok[:, sl]
        if not valid.any():
            needs = "forcings" if name == "test" else "forcings and streamflow"
            raise ConfigError(
                f"data.{name}_period {period.start}..{period.end} holds no day with valid "
                f"{needs} in any of the {len(arrays.basins)} basins; the data covers "
                f"{_coverage_text(arrays, input_ok, target_ok)}; choose a period inside it")
        if name == "train":
            empty = [b for b, ok in zip(arrays.basins, valid.any(axis=1), strict=True) if not ok]
            if empty:
                log.warning("basins %s have no day with valid forcings and streamflow in "
                            "data.train_period; they give no training samples", empty)


def _coverage_text(arrays: BasinArrays, input_ok: np.ndarray, target_ok: np.ndarray) -> str:
    """Describe the span of valid forcings and streamflow (from the raw files if known)."""
    if arrays.coverage is not None and len(arrays.coverage):
        cov = arrays.coverage
        forcing = span_text(cov["forcing_start"].min(), cov["forcing_end"].max())
        qobs = span_text(cov["qobs_start"].min(), cov["qobs_end"].max())
    else:
        forcing = span_text(arrays.dates[input_ok.any(axis=0)])
        qobs = span_text(arrays.dates[target_ok.any(axis=0)])
    return f"forcings {forcing}, streamflow {qobs}"
