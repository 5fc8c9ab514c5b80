"""External benchmark model simulations and the comparison of paper Table 3 (sect. 3.2).

File format of a benchmark model
--------------------------------
One file per model, holding simulated discharge ``qsim`` in **mm/day** for any number of basins:

* **netCDF** (``.nc``, ``.nc4``, ``.netcdf``): a variable ``qsim`` with dims ``(basin, date)``
  in any order; ``date`` holds datetimes, ``basin`` the gauge ids. If ``qsim`` has a ``units``
  attribute it must be one of :data:`ACCEPTED_UNITS`.
* **CSV** (``.csv``): one row per basin and day, columns ``basin``, ``date`` (ISO 8601,
  e.g. ``1999-10-01``) and ``qsim``; an optional ``units`` column must hold only
  :data:`ACCEPTED_UNITS`. Header names are matched after stripping blanks and lower-casing.
  Basin/date combinations without a row become NaN.

In both, missing values are NaN (an empty CSV cell); the CAMELS fill value ``-999`` is refused
rather than silently scored. Basin ids are strings; purely numeric ids shorter than 8
characters are zero-padded (``1022500`` -> ``"01022500"``) because CSV readers and netCDF
integer coordinates drop the leading zero. A ``(basin, date)`` pair may occur only once.

Comparison
----------
:func:`compare_with_benchmarks` scores every model on exactly the same data, as the paper does
on its 447 commonly modelled basins:

1. basins: the intersection of the basins of ``qobs`` and of every model;
2. dates: the intersection of their dates, optionally restricted to ``period``;
3. time steps: a step is used only where ``qobs`` and *every* model's ``qsim`` are non-NaN,
   so each model is scored on the same steps (a model's ``qsim`` is masked where another
   model's is missing, so its ``status`` may read "no valid simulations" because of another
   model);
4. basins: as in Table 2, each statistic uses the basins where its metric is defined for
   *every* model (e.g. an intermittent basin with a valid NSE but an undefined FLV counts in
   the NSE columns and not in the FLV column); ``n_<metric>`` says how many. The NSE basins
   (``included``) also define ``n_basins`` and the ``beats_*`` counts; a basin whose NSE is
   undefined for any model (e.g. an all-NaN simulation) is excluded and counted.

References
----------
.. [1] Kratzert, F. et al. (2019): Towards learning universal, regional, and local hydrological
   behaviors via machine learning applied to large-sample datasets, HESS, 23, 5089-5110,
   sect. 3.2 and Table 3.
.. [2] Newman, A. J. et al. (2017): Benchmarking of a physically based hydrologic model,
   J. Hydrometeorol., 18, 2215-2225 (the CAMELS benchmark simulations).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ealstm.errors import BasinDataError, ConfigError, DataNotFoundError, NoValidDataError
from ealstm.metrics import evaluate_basins, summarize

__all__ = [
    "ACCEPTED_UNITS",
    "BASIN_COUNT_COLUMNS",
    "BENCHMARK_METRICS",
    "CSV_COLUMNS",
    "compare_with_benchmarks",
    "read_simulations",
]

logger = logging.getLogger(__name__)

#: Spellings of mm/day accepted in a ``units`` attribute or column (compared lower-case).
ACCEPTED_UNITS = ("mm/day", "mm/d", "mm d-1", "mm day-1", "mm/day-1", "mm d^-1", "mm day^-1")
#: Required CSV columns.
CSV_COLUMNS = ("basin", "date", "qsim")
#: Metrics whose per-model median Table 3 reports (besides mean/median NSE and #NSE <= 0).
BENCHMARK_METRICS = ("alpha_nse", "beta_nse", "fhv", "fms", "flv")
#: Columns of the comparison table that count basins (the same for every model).
BASIN_COUNT_COLUMNS = ("n_basins", "n_nse", *(f"n_{m}" for m in BENCHMARK_METRICS))
NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")
FILL_VALUE = -999.0


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def _basin_ids(values: Sequence[Any], path: Path) -> list[str]:
    """Basin ids as strings; numeric ids zero-padded to 8 characters."""
    ids = []
    for value in values:
        text = str(value).strip()
        if not text or text.lower() == "nan":
            raise BasinDataError(f"{path}: empty basin id; every row/coordinate needs one")
        ids.append(text.zfill(8) if text.isdigit() else text)
    return ids


def _check_units(units: Any, path: Path, where: str) -> None:
    """Raise unless ``units`` is a spelling of mm/day."""
    if str(units).strip().lower() not in ACCEPTED_UNITS:
        raise BasinDataError(
            f"{path}: {where} is {units!r}, but qsim must be in mm/day "
            f"(accepted spellings: {', '.join(ACCEPTED_UNITS)}); convert it first"
        )


def _check_values(values: np.ndarray, path: Path) -> None:
    """Refuse the CAMELS fill value -999, which must be NaN here."""
    n_fill = int(np.sum(values == FILL_VALUE))
    if n_fill:
        raise BasinDataError(
            f"{path}: column/variable 'qsim' holds {n_fill} value(s) of {FILL_VALUE:g}; "
            "encode missing values as NaN (an empty cell in CSV)"
        )


def _duplicates_error(path: Path, pairs: pd.MultiIndex | pd.Index, what: str) -> BasinDataError:
    dup = pairs[pairs.duplicated()].unique()
    shown = ", ".join(str(p) for p in list(dup)[:5])
    return BasinDataError(f"{path}: {len(dup)} duplicate {what} (e.g. {shown}); keep one each")


def _read_netcdf(path: Path) -> xr.DataArray:
    """``qsim`` [basin, date] of a netCDF file, loaded into memory."""
    with xr.open_dataset(path) as ds:
        if "qsim" not in ds.data_vars:
            raise BasinDataError(
                f"{path}: no variable 'qsim' (found {sorted(map(str, ds.data_vars))}); "
                "store simulated discharge in mm/day as 'qsim' [basin, date]"
            )
        da = ds["qsim"].load()
    if set(da.dims) != {"basin", "date"}:
        raise BasinDataError(f"{path}: 'qsim' must have dims ('basin', 'date'), got {da.dims}")
    if "units" in da.attrs:
        _check_units(da.attrs["units"], path, "the 'units' attribute of 'qsim'")
    da = da.transpose("basin", "date").astype(np.float64)
    basins = pd.Index(_basin_ids(da["basin"].values, path))
    dates = pd.DatetimeIndex(pd.to_datetime(da["date"].values))
    if basins.has_duplicates:
        raise _duplicates_error(path, basins, "basin id(s)")
    if dates.has_duplicates:
        raise _duplicates_error(path, dates, "date(s)")
    return da.assign_coords(basin=basins.to_numpy(), date=dates)


def _csv_frame(path: Path) -> pd.DataFrame:
    """Raw CSV as strings with normalised header names; checks the required columns."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BasinDataError(f"{path}: not a readable CSV file: {exc}") from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise BasinDataError(
            f"{path}: missing column(s) {missing} (found {list(frame.columns)}); "
            f"a benchmark CSV needs the columns {list(CSV_COLUMNS)} with qsim in mm/day"
        )
    return frame


def _parse_csv_columns(frame: pd.DataFrame, path: Path) -> pd.Series:
    """Series ``qsim`` indexed by (basin, date) from the string columns of a CSV."""
    if "units" in frame.columns:
        for units in frame["units"].dropna().unique():
            _check_units(units, path, "column 'units'")
    try:
        dates = pd.to_datetime(frame["date"].str.strip(), format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise BasinDataError(f"{path}: column 'date' has unparseable dates: {exc}") from exc
    qsim = pd.to_numeric(frame["qsim"].str.strip(), errors="coerce")
    bad = frame["qsim"].notna() & qsim.isna()
    if bad.any():
        rows = list(frame.index[bad][:5] + 2)
        raise BasinDataError(
            f"{path}: column 'qsim' has non-numeric values in line(s) {rows} "
            f"(e.g. {frame['qsim'][bad].iloc[0]!r})"
        )
    index = pd.MultiIndex.from_arrays([_basin_ids(frame["basin"], path), dates],
                                      names=["basin", "date"])
    if index.has_duplicates:
        raise _duplicates_error(path, index, "(basin, date) row(s)")
    return pd.Series(qsim.to_numpy(dtype=np.float64), index=index, name="qsim")


def _read_csv(path: Path) -> xr.DataArray:
    """``qsim`` [basin, date] of a long-format CSV file."""
    series = _parse_csv_columns(_csv_frame(path), path)
    if series.empty:
        raise BasinDataError(f"{path}: no data rows")
    return series.to_xarray().transpose("basin", "date")


def read_simulations(path: Path | str) -> xr.DataArray:
    """Read the simulations of one benchmark model (format in the module docstring).

    Parameters
    ----------
    path : Path or str
        A ``.nc``/``.nc4``/``.netcdf`` or ``.csv`` file.

    Returns
    -------
    xr.DataArray [basin, date]
        float64 ``qsim`` in mm/day named ``qsim``, basin ids as str, dates sorted;
        attributes ``units="mm/day"`` and ``source`` (the file).

    Raises
    ------
    DataNotFoundError
        ``path`` does not exist.
    BasinDataError
        Unknown suffix, missing variable/columns, wrong units or dims, unparseable dates or
        values, the fill value -999, or duplicate basin/date entries; the message names the
        file and the column.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"benchmark simulation file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in NETCDF_SUFFIXES:
        da = _read_netcdf(path)
    elif suffix == ".csv":
        da = _read_csv(path)
    else:
        raise BasinDataError(
            f"{path}: unknown format {suffix!r}; use netCDF ({', '.join(NETCDF_SUFFIXES)}) "
            "or CSV (.csv)"
        )
    _check_values(da.values, path)
    da = da.sortby("date").rename("qsim")
    da.attrs = {"units": "mm/day", "source": str(path)}
    return da


# --------------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------------
def _as_basin_date(da: xr.DataArray, name: str) -> xr.DataArray:
    """Check dims and return ``da`` as [basin, date] with str basin ids."""
    if not isinstance(da, xr.DataArray) or set(da.dims) != {"basin", "date"}:
        dims = getattr(da, "dims", type(da).__name__)
        raise ValueError(f"{name} must be an xarray.DataArray with dims (basin, date), got {dims}")
    da = da.transpose("basin", "date")
    return da.assign_coords(basin=[str(b) for b in da["basin"].values])


def _period_bounds(period: Any) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """``(start, end)`` of a Period-like object or a 2-sequence; ``None`` passes through."""
    if period is None:
        return None
    if hasattr(period, "start") and hasattr(period, "end"):
        start, end = period.start, period.end
    else:
        start, end = period
    return pd.Timestamp(start), pd.Timestamp(end)


def _common_coords(qobs: xr.DataArray, sims: Mapping[str, xr.DataArray],
                   period: Any) -> tuple[list[str], pd.DatetimeIndex]:
    """Basins (in ``qobs`` order) and dates present in ``qobs`` and every model."""
    basin_sets = [set(map(str, da["basin"].values)) for da in sims.values()]
    basins = [b for b in map(str, qobs["basin"].values) if all(b in s for s in basin_sets)]
    dates = pd.DatetimeIndex(qobs["date"].values)
    for da in sims.values():
        dates = dates.intersection(pd.DatetimeIndex(da["date"].values))
    bounds = _period_bounds(period)
    if bounds is not None:
        dates = dates[(dates >= bounds[0]) & (dates <= bounds[1])]
    if not basins or dates.empty:
        counts = {name: da.sizes["basin"] for name, da in sims.items()}
        raise NoValidDataError(
            f"no common data: {len(basins)} basin(s) shared by qobs ({qobs.sizes['basin']}) "
            f"and every model {counts}, {dates.size} common date(s) (period {period})"
        )
    return basins, dates.sort_values()


def _per_basin(qobs: xr.DataArray, sims: Mapping[str, xr.DataArray]) -> pd.DataFrame:
    """Metrics of every model on the common steps; index (model, basin), column ``included``.

    Each ``qsim`` is set to NaN where any model's ``qsim`` is NaN (steps with NaN ``qobs`` are
    masked by the metrics), so all models are scored on the same steps. ``included``: the NSE
    of the basin is defined for every model.
    """
    valid = xr.ones_like(qobs, dtype=bool)
    for da in sims.values():
        valid = valid & da.notnull()
    per_basin = pd.concat(
        {name: evaluate_basins(qobs, sim.where(valid)) for name, sim in sims.items()},
        names=["model", "basin"])
    ok = _defined_for_all(per_basin, "nse")
    per_basin["included"] = ok.reindex(per_basin.index.get_level_values("basin")).to_numpy()
    return per_basin


def _defined_for_all(per_basin: pd.DataFrame, metric: str) -> pd.Series:
    """Basin -> whether ``metric`` is finite for every model (the basin set of its statistic)."""
    values = per_basin[metric].to_numpy(np.float64)
    finite = pd.Series(np.isfinite(values), index=per_basin.index)
    return finite.groupby(level="basin", sort=False).all()


def _beats(nse: pd.DataFrame) -> pd.DataFrame:
    """``beats_<other>``: basins where the row model's NSE is higher than ``other``'s."""
    names = list(nse.columns)
    counts = pd.DataFrame(pd.NA, index=pd.Index(names, name="model"),
                          columns=[f"beats_{n}" for n in names], dtype="Int64")
    for name in names:
        for other in names:
            if other != name:
                counts.loc[name, f"beats_{other}"] = int((nse[name] > nse[other]).sum())
    return counts


def _summary(per_basin: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Table 3 statistics, one row per model; each over the basins its metric is defined on.

    A metric defined for no common basin gets a NaN median and ``n_<metric> = 0``.
    """
    basin_sets = {m: _defined_for_all(per_basin, m) for m in ("nse", *BENCHMARK_METRICS)}
    rows = {}
    for name in names:
        scores = per_basin.loc[name]
        nse_ok = basin_sets["nse"].reindex(scores.index).to_numpy()
        stats = summarize(scores.loc[nse_ok, "nse"].to_numpy(dtype=np.float64))
        row = {"n_basins": stats["n_basins"], "nse_mean": stats["mean"],
               "nse_median": stats["median"], "n_nse_le_0": stats["n_nse_le_0"]}
        for metric in BENCHMARK_METRICS:
            values = scores.loc[basin_sets[metric].reindex(scores.index).to_numpy(), metric]
            row[f"{metric}_median"] = (float(np.median(values.to_numpy(np.float64)))
                                       if len(values) else float("nan"))
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
    for metric in ("nse", *BENCHMARK_METRICS):
        table[f"n_{metric}"] = int(basin_sets[metric].sum())
    return table


def compare_with_benchmarks(
    qobs: xr.DataArray, models: Mapping[str, xr.DataArray], period: Any = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score several models on the same basins and time steps (paper Table 3).

    Parameters
    ----------
    qobs : xr.DataArray [basin, date]
        Observed discharge in mm/day.
    models : mapping of str to xr.DataArray [basin, date]
        Model name -> simulated discharge in mm/day (e.g. from :func:`read_simulations`, or
        the ``qsim`` of an ensemble's predictions). Order is kept in the outputs.
    period : Period, (start, end) or None
        Closed date range to restrict the comparison to; default all common dates.

    Returns
    -------
    per_basin : pd.DataFrame
        Index ``(model, basin)`` over the common basins; columns the metrics of
        :data:`~ealstm.metrics.METRICS`, ``n_valid``, ``status`` and ``included``
        (the basin's NSE is defined for every model).
    table : pd.DataFrame
        Index ``model``; columns ``n_basins``, ``nse_mean``, ``nse_median``, ``n_nse_le_0``,
        ``<metric>_median`` for :data:`BENCHMARK_METRICS` (each over the basins where that
        metric is defined for every model), ``n_nse`` and ``n_<metric>`` (how many basins each
        statistic used; ``n_basins == n_nse``), then one column ``beats_<other>``
        per model: the number of included basins where the row model's NSE is strictly higher
        than ``other``'s (``<NA>`` on the diagonal). ``table.attrs`` holds ``n_common_basins``
        (intersection), ``n_basins`` (included), ``n_excluded``, ``excluded_basins``,
        ``n_dates`` and ``basins_per_model``.

    Raises
    ------
    ConfigError
        ``models`` is empty.
    ValueError
        An input is not a DataArray with dims (basin, date).
    NoValidDataError
        No common basin or date, or no basin with an NSE for every model.
    """
    if not models:
        raise ConfigError("compare_with_benchmarks needs at least one model")
    qobs = _as_basin_date(qobs, "qobs")
    sims = {name: _as_basin_date(da, f"model {name!r}") for name, da in models.items()}
    basins, dates = _common_coords(qobs, sims, period)
    sims = {name: da.sel(basin=basins, date=dates) for name, da in sims.items()}
    per_basin = _per_basin(qobs.sel(basin=basins, date=dates), sims)
    included = per_basin.loc[next(iter(sims))]["included"]
    if not included.any():
        raise NoValidDataError(f"none of the {len(basins)} common basins has an NSE for every "
                               "model")
    nse = per_basin["nse"].unstack("model").loc[included[included].index, list(sims)]
    table = _summary(per_basin, list(sims)).join(_beats(nse))
    excluded = list(included.index[~included])
    table.attrs = {
        "n_common_basins": len(basins), "n_basins": int(included.sum()),
        "n_excluded": len(excluded), "excluded_basins": excluded, "n_dates": int(dates.size),
        "basins_per_model": {name: int(models[name].sizes["basin"]) for name in sims},
    }
    logger.info("benchmark comparison on %d common basins (%d excluded), %d dates",
                table.attrs["n_basins"], len(excluded), dates.size)
    return per_basin, table
