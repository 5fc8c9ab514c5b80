"""Registry of data-set readers with one interface for :mod:`ealstm.data.cache`.

Each entry of :data:`DATASETS` (keyed by ``DataConfig.dataset``) is a :class:`DatasetReader`
whose functions take the :class:`~ealstm.config.DataConfig`:

* ``read_basin(cfg, basin, require_target=True) -> (dynamic, target)``: the
  ``cfg.dynamic_inputs`` columns (in that order) and the ``cfg.target`` series in mm/day, both
  on the basin's own daily dates. With ``require_target=False`` a basin without discharge (no
  streamflow file, no target column: forecasting, ungauged basins) gets an all-NaN target;
* ``read_statics(cfg, basins) -> DataFrame``: ``[basin, cfg.static_attributes]``, rows in order;
* ``list_basins(cfg) -> list[str]``: every basin with time-series data;
* ``read_basin_list(path) -> list[str]``: the ids of a ``data.basin_file``;
* ``check_basins(cfg, basins)``: raise :class:`DataNotFoundError` naming every basin without
  time-series data, before anything is parsed;
* ``describe(cfg) -> str``: a short description of the source for log and error messages;
* ``read_attributes(cfg, basins, columns=None) -> DataFrame``: any attribute columns (all by
  default) of ``basins``, indexed by basin: what the analyses read (signatures, units);
* ``read_locations(cfg, basins) -> DataFrame``: gauge ``lat, lon`` (degrees) indexed by basin,
  for the maps (CAMELS-US ``camels_topo.txt``, else ``gauge_lat``/``gauge_lon`` attributes).

The analyses and the report reach a data set only through these functions
(:func:`read_attributes`, :func:`read_locations`), so they work for every entry of DATASETS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from ealstm.config import DataConfig
from ealstm.data.readers import camels_us, caravan, generic
from ealstm.errors import BasinDataError, ConfigError, DataNotFoundError


@dataclass(frozen=True)
class DatasetReader:
    """The functions through which the cache reads one data set (see the module docstring)."""

    name: str
    read_basin: Callable[..., tuple[pd.DataFrame, pd.Series]]
    read_statics: Callable[[DataConfig, Sequence[str]], pd.DataFrame]
    list_basins: Callable[[DataConfig], list[str]]
    read_basin_list: Callable[[Path], list[str]]
    check_basins: Callable[[DataConfig, Sequence[str]], None]
    describe: Callable[[DataConfig], str]
    read_attributes: Callable[..., pd.DataFrame]
    read_locations: Callable[[DataConfig, Sequence[str]], pd.DataFrame]


def _empty_statics(basins: Sequence[str]) -> pd.DataFrame:
    """Return a frame with the basins as index and no attribute column."""
    return pd.DataFrame(index=pd.Index([str(b) for b in basins], name="basin"))


# --- CAMELS-US ---------------------------------------------------------------------------------


def _no_target(index: pd.Index, name: str) -> pd.Series:
    """Return an all-NaN target on ``index``: a basin without discharge observations."""
    return pd.Series(np.nan, index=index, name=name, dtype=np.float32)


def _camels_read_basin(cfg: DataConfig, basin: str,
                       require_target: bool = True) -> tuple[pd.DataFrame, pd.Series]:
    """Read forcings ``cfg.dynamic_inputs`` and ``qobs`` (mm/day) of one CAMELS-US basin."""
    forcing, area_km2 = camels_us.read_forcings(cfg.data_dir, basin, cfg.forcings)
    unknown = [name for name in cfg.dynamic_inputs if name not in forcing.columns]
    if unknown:
        raise ConfigError(
            f"data.dynamic_inputs: {unknown} are not columns of the {cfg.forcings} forcing file "
            f"{forcing.attrs['source']}; available columns: {list(forcing.columns)}")
    camels_us.check_forcing_area(cfg.data_dir, basin, area_km2,
                                 forcing.attrs["source"])
    streamflow = Path(cfg.data_dir) / "usgs_streamflow"
    if not require_target and not any(streamflow.glob(f"*/{basin}_streamflow_qc.txt")):
        return forcing[list(cfg.dynamic_inputs)], _no_target(forcing.index, "qobs")
    qobs = camels_us.read_streamflow(cfg.data_dir, basin, area_km2)
    return forcing[list(cfg.dynamic_inputs)], qobs


def _camels_read_statics(cfg: DataConfig, basins: Sequence[str]) -> pd.DataFrame:
    if not cfg.static_attributes:
        return _empty_statics(basins)
    return camels_us.read_attributes(cfg.data_dir, basins=list(basins),
                                     columns=list(cfg.static_attributes))


def _camels_check_basins(cfg: DataConfig, basins: Sequence[str]) -> None:
    """Raise :class:`DataNotFoundError` naming every basin without a forcing file."""
    available = set(camels_us.available_basins(cfg.data_dir, cfg.forcings))
    missing = [b for b in basins if b not in available]
    if missing:
        folder = Path(cfg.data_dir) / "basin_mean_forcing" / cfg.forcings
        raise DataNotFoundError(
            f"no {cfg.forcings} forcing file for basins {missing} under {folder}; remove them "
            "from the basin list or choose another data.forcings product")


CAMELS_US = DatasetReader(
    name="camels_us",
    read_basin=_camels_read_basin,
    read_statics=_camels_read_statics,
    list_basins=lambda cfg: camels_us.available_basins(cfg.data_dir, cfg.forcings),
    read_basin_list=lambda path: camels_us.read_basin_list(path),
    check_basins=_camels_check_basins,
    describe=lambda cfg: f"{cfg.data_dir} ({cfg.forcings} forcings)",
    read_attributes=lambda cfg, basins, columns=None: camels_us.read_attributes(
        cfg.data_dir, list(basins), None if columns is None else list(columns)),
    read_locations=lambda cfg, basins: camels_us.read_gauge_locations(
        cfg.data_dir, list(basins))[["lat", "lon"]],
)


# --- Caravan and generic: column selection by name ---------------------------------------------


def _columns_reader(module: ModuleType) -> Callable[..., tuple[pd.DataFrame, pd.Series]]:
    """``read_basin`` of a layout whose ``read_timeseries`` holds inputs and target as columns."""

    def read_basin(cfg: DataConfig, basin: str,
                   require_target: bool = True) -> tuple[pd.DataFrame, pd.Series]:
        frame = module.read_timeseries(cfg.data_dir, basin)
        dynamic = generic.select_series(frame, cfg.dynamic_inputs, "data.dynamic_inputs")
        if not require_target and cfg.target not in frame.columns:
            return dynamic, _no_target(frame.index, cfg.target)
        target = generic.select_series(frame, [cfg.target], "data.target")[cfg.target]
        return dynamic, target.rename(cfg.target)

    return read_basin


def _statics_reader(module: ModuleType) -> Callable[[DataConfig, Sequence[str]], pd.DataFrame]:
    """``read_statics`` from a module's ``read_attributes(data_dir, basins, columns)``."""

    def read_statics(cfg: DataConfig, basins: Sequence[str]) -> pd.DataFrame:
        if not cfg.static_attributes:
            return _empty_statics(basins)
        return module.read_attributes(cfg.data_dir, basins=list(basins),
                                      columns=list(cfg.static_attributes))

    return read_statics


def _files_checker(module: ModuleType) -> Callable[[DataConfig, Sequence[str]], None]:
    """``check_basins`` that compares with ``module.available_basins(data_dir)``."""

    def check_basins(cfg: DataConfig, basins: Sequence[str]) -> None:
        available = set(module.available_basins(cfg.data_dir))
        missing = [b for b in basins if b not in available]
        if missing:
            raise DataNotFoundError(
                f"no time-series file for basins {missing[:10]}"
                f"{f' (and {len(missing) - 10} more)' if len(missing) > 10 else ''} in the "
                f"{cfg.dataset} data set at {cfg.data_dir}; remove them from the basin list")

    return check_basins


def _attributes_reader(module: ModuleType) -> Callable[..., pd.DataFrame]:
    """``read_attributes`` from a module's ``read_attributes(data_dir, basins, columns)``."""

    def read_attributes(cfg: DataConfig, basins: Sequence[str],
                        columns: Sequence[str] | None = None) -> pd.DataFrame:
        return module.read_attributes(cfg.data_dir, list(basins),
                                      None if columns is None else list(columns))

    return read_attributes


def _gauge_columns(module: ModuleType) -> Callable[[DataConfig, Sequence[str]], pd.DataFrame]:
    """``read_locations`` from the ``gauge_lat``/``gauge_lon`` attributes of a module."""

    def read_locations(cfg: DataConfig, basins: Sequence[str]) -> pd.DataFrame:
        frame = module.read_attributes(cfg.data_dir, list(basins), ["gauge_lat", "gauge_lon"])
        return frame.set_axis(["lat", "lon"], axis=1)

    return read_locations


def _by_columns(name: str, module: ModuleType) -> DatasetReader:
    """Reader of a layout with per-basin column files (``caravan``, ``generic``)."""
    return DatasetReader(
        name=name,
        read_basin=_columns_reader(module),
        read_statics=_statics_reader(module),
        list_basins=lambda cfg: module.available_basins(cfg.data_dir),
        read_basin_list=generic.read_basin_list,
        check_basins=_files_checker(module),
        describe=lambda cfg: f"{cfg.data_dir} ({name} layout)",
        read_attributes=_attributes_reader(module),
        read_locations=_gauge_columns(module),
    )


#: Dynamic-input names read as precipitation (first match wins, case-insensitive).
PRECIPITATION = re.compile(r"^(prcp|precip.*|total_precipitation.*|pr|p|rain.*)$", re.IGNORECASE)


def precipitation_input(cfg: DataConfig) -> str | None:
    """Return the first of ``cfg.dynamic_inputs`` that is precipitation (mm/day), or None."""
    return next((c for c in cfg.dynamic_inputs if PRECIPITATION.match(c)), None)


#: ``DataConfig.dataset`` -> reader.
DATASETS: dict[str, DatasetReader] = {
    "camels_us": CAMELS_US,
    "caravan": _by_columns("caravan", caravan),
    "generic": _by_columns("generic", generic),
}


def get_dataset(cfg: DataConfig) -> DatasetReader:
    """Reader of ``cfg.dataset``.

    Raises
    ------
    ConfigError
        Unknown data set name.
    """
    if cfg.dataset not in DATASETS:
        raise ConfigError(f"unknown data.dataset {cfg.dataset!r}; choose from {sorted(DATASETS)}")
    return DATASETS[cfg.dataset]


def read_basin(cfg: DataConfig, basin: str,
               require_target: bool = True) -> tuple[pd.DataFrame, pd.Series]:
    """Dynamic inputs ``cfg.dynamic_inputs`` and target ``cfg.target`` (mm/day) of one basin.

    ``require_target=False``: a basin without discharge gets an all-NaN target.
    """
    return get_dataset(cfg).read_basin(cfg, basin, require_target)


def read_statics(cfg: DataConfig, basins: Sequence[str]) -> pd.DataFrame:
    """Attributes ``cfg.static_attributes`` of ``basins`` (rows in that order)."""
    return get_dataset(cfg).read_statics(cfg, basins)


def list_basins(cfg: DataConfig) -> list[str]:
    """Every basin of the configured data set that has time-series data."""
    return get_dataset(cfg).list_basins(cfg)


def read_attributes(cfg: DataConfig, basins: Sequence[str],
                    columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Attribute ``columns`` (default: all) of ``basins`` in the configured data set."""
    return get_dataset(cfg).read_attributes(cfg, basins, columns)


def read_locations(cfg: DataConfig, basins: Sequence[str]) -> pd.DataFrame:
    """``lat, lon`` (degrees) of ``basins``, indexed by basin, from the configured data set.

    Raises
    ------
    ConfigError
        The data set has no gauge coordinates for these basins (``gauge_lat``/``gauge_lon``).
    """
    try:
        return get_dataset(cfg).read_locations(cfg, basins)
    except (ConfigError, DataNotFoundError, BasinDataError) as exc:
        raise ConfigError(f"no gauge coordinates for the map in the {cfg.dataset} data at "
                          f"{cfg.data_dir}: the attributes need gauge_lat and gauge_lon "
                          f"columns for every basin ({exc})") from None
