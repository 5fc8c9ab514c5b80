"""Figures of one evaluated run (``ealstm plot``): a basin's hydrograph and a map of a metric.

* :func:`plot_run_hydrograph` -- observed and simulated discharge of one basin from
  ``predictions_<period>.nc``, with the basin's precipitation (read from the run's data) as
  inverted bars in a panel above, as hydrologists draw it;
* :func:`plot_run_map` -- one metric of ``metrics_<period>.csv`` per basin at the gauge
  location: CAMELS-US ``camels_topo.txt`` (``gauge_lat``/``gauge_lon``), or the
  ``gauge_lat``/``gauge_lon`` attributes of Caravan and generic data. Gauges inside the
  conterminous US are drawn over the state outlines of the sensitivity map, others on a plain
  lon/lat frame (:func:`ealstm.analysis.maps.draw_basemap`).

Both write a PNG atomically into ``<run>/plots/`` (or to ``out``) and return its path. Both need
``ealstm evaluate RUN --period P`` to have run first.
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from ealstm.analysis.maps import draw_basemap
from ealstm.config import DataConfig, RunConfig, load_run_config
from ealstm.data.readers.datasets import precipitation_input, read_basin, read_locations
from ealstm.errors import BasinDataError, ConfigError, DataNotFoundError, NoValidDataError
from ealstm.report.figures import _nse_text, read_metrics, save_figure
from ealstm.runs.paths import RunPaths

log = logging.getLogger(__name__)

#: metric -> (label with unit, colour map, fixed colour range or None for the data's).
METRIC_STYLES = {
    "nse": ("NSE (-)", "viridis", (0.0, 1.0)), "kge": ("KGE (-)", "viridis", (0.0, 1.0)),
    "alpha_nse": ("alpha-NSE: std ratio sim/obs (-)", "RdBu", None),
    "beta_nse": ("beta-NSE: mean bias / std obs (-)", "RdBu", None),
    "fhv": ("FHV: high-flow volume bias (%)", "RdBu", None),
    "fms": ("FMS: mid-segment FDC slope bias (%)", "RdBu", None),
    "flv": ("FLV: low-flow volume bias (%)", "RdBu", None),
}  # fmt: skip


def load_predictions(run_dir: Path, period: str) -> xr.Dataset:
    """``predictions_<period>.nc`` of a run, loaded; a clear error when it was not written."""
    path = _evaluated_file(RunPaths(Path(run_dir)).predictions(period), run_dir, period)
    with xr.open_dataset(path) as handle:
        return handle.load()


def _evaluated_file(path: Path, run_dir: Path, period: str) -> Path:
    """Return ``path``, a file that ``ealstm evaluate`` writes; say how to make it if missing."""
    if not path.is_file():
        raise DataNotFoundError(f"{path} does not exist: run `ealstm evaluate {run_dir} "
                                f"--period {period}` first")
    return path


def _check_basin(basin: str, known: list[str], source: Path) -> None:
    if basin not in known:
        close = difflib.get_close_matches(basin, known, n=3)
        hint = f"; did you mean {close}?" if close else f"; basins: {known[:10]}"
        raise BasinDataError(f"basin {basin!r} is not in {source}{hint}")


def precipitation(cfg: DataConfig, basin: str) -> pd.Series | None:
    """Daily precipitation (mm/day) of ``basin`` from the run's first precipitation input.

    The column is the first of ``data.dynamic_inputs`` that matches
    :data:`~ealstm.data.readers.datasets.PRECIPITATION`
    (``prcp`` of CAMELS-US, ``total_precipitation_sum`` of Caravan); None when there is none
    or when the run's data cannot be found (a warning says why).
    """
    column = precipitation_input(cfg)
    if column is None:
        return None
    try:
        dynamic, _ = read_basin(cfg, basin)
    except DataNotFoundError as exc:  # predictions copied without the data: plot without it
        log.warning("no precipitation panel: %s", exc)
        return None
    return dynamic[column].rename(column)


def hydrograph_figure(obs: pd.Series, sim: pd.Series, precip: pd.Series | None, title: str,
                      log: bool = False) -> Figure:
    """Observed and simulated discharge, precipitation as inverted bars in a panel above.

    Parameters
    ----------
    obs, sim
        Discharge (mm/day) on the same daily dates.
    precip
        Precipitation (mm/day); only the dates of ``obs`` are drawn. None: no panel.
    title
        Figure title.
    log
        Logarithmic discharge axis (days with zero discharge are left out of the lines).
    """
    fig = Figure(figsize=(11, 5.2 if precip is not None else 3.8), layout="constrained")
    if precip is not None:
        top, ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 3])
        p = precip.reindex(obs.index)
        top.bar(p.index, p.to_numpy(), width=1.0, color="#4a90d9", linewidth=0)
        top.set_ylim(max(float(np.nanmax(p.to_numpy(), initial=0.0)) * 1.05, 1.0), 0)
        top.set(ylabel=f"{precip.name}\n(mm/day)")
        top.grid(alpha=0.3)
        top.set_title(title)
    else:
        ax = fig.subplots()
        ax.set_title(title)
    ax.plot(sim.index, sim.to_numpy(), color="#1b7837", linewidth=1.2, alpha=0.85,
            label="simulated")
    ax.plot(obs.index, obs.to_numpy(), color="black", linewidth=0.8, label="observed")
    if log:
        ax.set_yscale("log", nonpositive="mask")
    locator = AutoDateLocator()
    ax.xaxis.set(major_locator=locator, major_formatter=ConciseDateFormatter(locator))
    ax.set(ylabel="discharge (mm/day)", xlim=(obs.index[0], obs.index[-1]))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    return fig


def plot_run_hydrograph(run_dir: Path, basin: str, period: str = "test", log: bool = False,
                        out: Path | None = None) -> Path:
    """Draw the hydrograph of ``basin`` in ``period`` of an evaluated run; return the PNG path.

    Parameters
    ----------
    run_dir
        Run directory evaluated on ``period`` (``ealstm evaluate RUN --period P``).
    basin
        Basin id as in the predictions.
    period
        ``train``, ``validation`` or ``test``.
    log
        Logarithmic discharge axis (low flows).
    out
        PNG path; default ``<run>/plots/hydrograph_<basin>_<period>.png``.

    Raises
    ------
    DataNotFoundError
        The predictions of ``period`` were not written.
    BasinDataError
        ``basin`` is not in the predictions (close ids suggested).
    """
    cfg = load_run_config(Path(run_dir))
    predictions = load_predictions(run_dir, period)
    known = [str(b) for b in predictions["basin"].values]
    _check_basin(str(basin), known, RunPaths(Path(run_dir)).predictions(period))
    data = predictions.isel(basin=known.index(str(basin)))
    dates = pd.DatetimeIndex(data["date"].values)
    obs = pd.Series(data["qobs"].to_numpy(), index=dates)
    sim = pd.Series(data["qsim"].to_numpy(), index=dates)
    title = (f"Basin {basin}, {period} period: NSE {_nse_text(obs.to_numpy(), sim.to_numpy())} "
             f"({cfg.model.name}, {cfg.name})")
    fig = hydrograph_figure(obs, sim, precipitation(cfg.data, str(basin)), title, log)
    path = out or Path(run_dir) / "plots" / f"hydrograph_{basin}_{period}.png"
    return save_figure(fig, Path(path))


def _metric_column(table: pd.DataFrame, metric: str, source: Path) -> str:
    names = {c.lower(): c for c in table.columns if c.lower() in METRIC_STYLES}
    if metric.lower() not in names:
        raise ConfigError(f"unknown metric {metric!r}; {source} has {sorted(names)}")
    return names[metric.lower()]


def map_figure(values: pd.Series, locations: pd.DataFrame, metric: str, title: str) -> Figure:
    """Scatter map of ``values`` [basin] at ``locations`` (``lat, lon``), colour bar with unit."""
    label, cmap, limits = METRIC_STYLES.get(metric, (metric, "viridis", None))
    v = values.to_numpy(float)
    if limits is None:
        half = float(np.nanpercentile(np.abs(v), 95)) or 1.0
        limits = (-half, half) if np.nanmin(v) < 0 else (0.0, float(np.nanmax(v)) or 1.0)
    fig = Figure(figsize=(10, 5.5), layout="constrained")
    ax = fig.subplots()
    draw_basemap(ax, locations["lon"].to_numpy(), locations["lat"].to_numpy())
    points = ax.scatter(locations["lon"], locations["lat"], c=v, cmap=cmap, vmin=limits[0],
                        vmax=limits[1], s=30, edgecolors="0.2", linewidths=0.3, zorder=2)
    below, above = bool(np.nanmin(v) < limits[0]), bool(np.nanmax(v) > limits[1])
    extend = {(True, True): "both", (True, False): "min", (False, True): "max"}.get(
        (below, above), "neither")
    fig.colorbar(points, ax=ax, label=label, extend=extend, shrink=0.8)
    ax.set_title(title)
    return fig


def plot_run_map(run_dir: Path, metric: str = "nse", period: str = "test",
                 out: Path | None = None) -> Path:
    """Map one metric of an evaluated run at the gauge locations; return the PNG path.

    Parameters
    ----------
    run_dir
        Run directory evaluated on ``period``.
    metric
        A column of ``metrics_<period>.csv`` (case-insensitive: ``NSE``, ``KGE``, ``FHV``, ...).
    period
        ``train``, ``validation`` or ``test``.
    out
        PNG path; default ``<run>/plots/map_<metric>_<period>.png``.

    Raises
    ------
    DataNotFoundError
        The metrics of ``period`` were not written.
    ConfigError
        Unknown metric, or no gauge coordinates in the run's data set.
    """
    cfg: RunConfig = load_run_config(Path(run_dir))
    path = _evaluated_file(RunPaths(Path(run_dir)).metrics(period), run_dir, period)
    table = read_metrics(path)
    column = _metric_column(table, metric, path)
    values = table[column].dropna()
    if values.empty:
        raise NoValidDataError(f"{path}: no basin has a valid {column} to map")
    locations = read_locations(cfg.data, [str(b) for b in values.index])
    name = METRIC_STYLES.get(column.lower(), (column,))[0].split(" (")[0].split(":")[0]
    title = (f"{name} per basin, {period} period ({len(values)} basins, median "
             f"{values.median():.2f}; {cfg.name})")
    fig = map_figure(values, locations, column.lower(), title)
    target = out or Path(run_dir) / "plots" / f"map_{column.lower()}_{period}.png"
    return save_figure(fig, Path(target))
