"""Figures of an experiment: CDFs of per-basin NSE (paper Figs. 3-5) and hydrographs.

:func:`experiment_figures` reads an experiment directory (see ``docs/architecture.md``) and writes
into ``<experiment_dir>/report/figures/``:

* ``nse_cdf.png`` -- CDF of the per-basin NSE of every configuration, ensemble mean (solid) and
  one single model, the first seed found (dashed), as in Fig. 3;
* ``nse_cdf_benchmarks.png`` -- only when ``tables/table3_per_basin.csv`` exists (written with
  Table 3 by :func:`ealstm.report.tables.write_tables`; columns ``model, basin, nse, ...,
  included``): the best configuration against the benchmark models on their common basins
  (Figs. 4-5);
* ``hydrograph_<basin>.png`` -- observed vs simulated discharge of the best configuration's
  ensemble, by default for its best, median and worst basin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from ealstm.errors import ConfigError, NoValidDataError
from ealstm.io import atomic_path
from ealstm.metrics import nse as nse_score
from ealstm.runs.paths import ENSEMBLE, ExperimentPaths

#: Colours of the paper's Fig. 3 per model family; darker shade: NSE* loss, lighter: MSE.
FAMILY_COLORS = {
    "lstm_no_static": ("#b07cc6", "#6a1b9a"),  # purple: LSTM without catchment attributes
    "lstm_static": ("#f4a442", "#d35400"),  # orange: LSTM with catchment attributes
    "ealstm": ("#7fc97f", "#1b7837"),  # green: EA-LSTM
}
OTHER_COLORS = ("#2c7bb6", "#d7191c", "#404040", "#8c510a", "#01665e", "#c51b7d", "#999999")
#: Days shown by the hydrographs of :func:`experiment_figures` (the end of the period).
HYDROGRAPH_DAYS = 730


def config_color(name: str, index: int = 0) -> str:
    """Colour of a configuration: the paper's family colour, else one of :data:`OTHER_COLORS`."""
    for family in sorted(FAMILY_COLORS, key=len, reverse=True):
        if name == family or name.startswith(f"{family}_"):
            return FAMILY_COLORS[family][0 if name.endswith("_mse") else 1]
    return OTHER_COLORS[index % len(OTHER_COLORS)]


def _base_name(label: str) -> str:
    return label.split(" (")[0]


def _is_ensemble(label: str) -> bool:
    return f"({ENSEMBLE}" in label


def _ecdf(ax: Axes, values: pd.Series, label: str, color: str, linestyle: str) -> None:
    """Step plot of the empirical CDF of ``values`` (NaN dropped); legend tells NSE < 0."""
    x = np.sort(pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(float))
    if x.size == 0:
        ax.plot([], [], color=color, linestyle=linestyle, label=f"{label}: no valid NSE")
        return
    y = np.arange(0, x.size + 1) / x.size  # rises from 0 at the lowest value
    n_neg = int(np.sum(x < 0))
    text = f"{label}: median {np.median(x):.2f}, {n_neg} of {x.size} below 0"
    ax.step(np.r_[x[0], x], y, where="post", color=color, linestyle=linestyle, linewidth=1.6,
            label=text)


def plot_nse_cdf(nse: Mapping[str, pd.Series], title: str, ax: Axes | None = None) -> Figure:
    """Empirical CDFs of per-basin NSE, x clipped to [0, 1] as in the paper's Fig. 3.

    Parameters
    ----------
    nse
        Curve label -> NSE per basin [basin]. A label ``"<name> (ensemble)"`` is drawn solid;
        any other label whose ``<name>`` (the text before ``" ("``) also has an ensemble curve,
        e.g. ``"<name> (seed 111)"``, is a single model and drawn dashed. The colour follows
        ``<name>`` (see :func:`config_color`).
    title
        Axes title.
    ax
        Axes to draw into; a new figure by default.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; each legend entry gives the median and how many basins lie below 0 (left
        of the clipped axis).
    """
    fig = Figure(figsize=(9, 6)) if ax is None else ax.figure
    ax = fig.subplots() if ax is None else ax
    names = list(dict.fromkeys(_base_name(label) for label in nse))
    with_ensemble = {_base_name(label) for label in nse if _is_ensemble(label)}
    for label, values in nse.items():
        name = _base_name(label)
        single = name in with_ensemble and not _is_ensemble(label)
        _ecdf(ax, values, label, config_color(name, names.index(name)), "--" if single else "-")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="NSE", ylabel="cumulative density", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2 if len(nse) > 4 else 1,
              fontsize="small", frameon=False)
    ax.text(0.99, 0.01, "x axis clipped to [0, 1]", transform=ax.transAxes, ha="right",
            va="bottom", fontsize="x-small", color="0.35")
    return fig


def _nse_text(obs: np.ndarray, sim: np.ndarray) -> str:
    try:
        return f"{nse_score(obs, sim):.3f}"
    except NoValidDataError:
        return "n/a"


def _basin_window(predictions: xr.Dataset, basin: str, period: tuple[Any, Any] | None
                  ) -> xr.Dataset:
    """Return ``predictions`` of one basin, restricted to the closed ``period``."""
    known = [str(b) for b in predictions["basin"].values]
    if str(basin) not in known:
        raise KeyError(f"basin {basin!r} is not in the predictions; basins: {known}")
    data = predictions.isel(basin=known.index(str(basin)))
    if period is not None:
        data = data.sel(date=slice(pd.Timestamp(period[0]), pd.Timestamp(period[1])))
    if data.sizes["date"] == 0:
        raise ValueError(f"no prediction of basin {basin} lies in the period {period}")
    return data


def plot_hydrograph(predictions: xr.Dataset, basin: str, period: tuple[Any, Any] | None = None,
                    label: str = "simulated") -> Figure:
    """Observed and simulated discharge (mm/day) of one basin, NSE of the days shown in the title.

    Parameters
    ----------
    predictions
        ``qobs`` and ``qsim`` [basin, date] in mm/day (``predictions_<period>.nc``).
    basin
        8-character gauge id.
    period
        ``(start, end)`` dates to show (closed); the whole record by default.
    label
        Legend entry of ``qsim``.

    Raises
    ------
    KeyError
        ``basin`` is not in ``predictions``.
    ValueError
        No day of ``predictions`` lies in ``period``.
    """
    data = _basin_window(predictions, basin, period)
    dates = pd.DatetimeIndex(data["date"].values)
    obs, sim = data["qobs"].to_numpy(), data["qsim"].to_numpy()
    fig = Figure(figsize=(11, 3.8))
    ax = fig.subplots()
    ax.plot(dates, sim, color="#1b7837", linewidth=1.3, alpha=0.8, label=label)
    ax.plot(dates, obs, color="black", linewidth=0.8, label="observed")
    locator = AutoDateLocator()
    ax.xaxis.set(major_locator=locator, major_formatter=ConciseDateFormatter(locator))
    ax.set(ylabel="discharge (mm/day)", xlim=(dates[0], dates[-1]),
           title=f"Basin {basin}: NSE {_nse_text(obs, sim)} "
                 f"({dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d})")
    ax.grid(alpha=0.3)
    ax.legend(handles=ax.get_lines()[::-1], loc="upper right", fontsize="small")
    return fig


def save_figure(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG, atomically (temp file + ``os.replace``)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return Path(path)


def load_experiment(experiment_dir: Path) -> dict[str, Any]:
    """Return the resolved ``experiment.yml`` of an experiment (empty dict when absent)."""
    return ExperimentPaths(Path(experiment_dir)).read_spec()


def configuration_names(experiment_dir: Path, experiment: Mapping[str, Any]) -> list[str]:
    """Return the configurations listed in ``experiment.yml``, else the folders of members."""
    listed = experiment.get("configurations") or []
    if isinstance(listed, Mapping):
        return [str(name) for name in listed]
    if listed:
        return [str(c["name"]) if isinstance(c, Mapping) else str(c) for c in listed]
    return ExperimentPaths(Path(experiment_dir)).configurations()


def member_names(experiment_dir: Path, experiment: Mapping[str, Any], configuration: str
                 ) -> list[str]:
    """Member folders (``seed<seed>``) of a configuration: the seeds declared, else those found."""
    seeds = experiment.get("seeds")
    if seeds:
        return [f"seed{seed}" for seed in seeds]
    return [f"seed{seed}" for seed in ExperimentPaths(Path(experiment_dir)).seeds(configuration)]


def read_metrics(path: Path) -> pd.DataFrame:
    """Read a ``metrics_<period>.csv``: index ``basin`` as 8-character strings."""
    return pd.read_csv(path, index_col="basin", dtype={"basin": str, "status": str})


def collect_nse(experiment_dir: Path, period: str = "test",
                experiment: Mapping[str, Any] | None = None) -> dict[str, pd.Series]:
    """Per-basin NSE of each configuration: one single model and the ensemble mean.

    Returns
    -------
    dict
        ``"<configuration> (seed<seed>)"`` (the first member with metrics) and
        ``"<configuration> (ensemble)"`` -> NSE [basin], for the curves that exist.
    """
    root = Path(experiment_dir)
    experiment = load_experiment(root) if experiment is None else experiment
    curves: dict[str, pd.Series] = {}
    for name in configuration_names(root, experiment):
        for member in member_names(root, experiment, name):
            path = root / name / member / f"metrics_{period}.csv"
            if path.is_file():
                curves[f"{name} ({member})"] = read_metrics(path)["nse"]
                break
        path = root / name / ENSEMBLE / f"metrics_{period}.csv"
        if path.is_file():
            curves[f"{name} ({ENSEMBLE})"] = read_metrics(path)["nse"]
    return curves


def best_configuration(curves: Mapping[str, pd.Series]) -> str | None:
    """Return the configuration with the highest median NSE (ensembles preferred)."""
    pool = {k: v for k, v in curves.items() if _is_ensemble(k)} or dict(curves)
    medians = {k: float(v.median()) for k, v in pool.items() if v.notna().any()}
    return _base_name(max(medians, key=medians.__getitem__)) if medians else None


def choose_basins(nse: pd.Series) -> dict[str, str]:
    """Best, median and worst basin by NSE (role -> basin; one basin may fill several roles)."""
    ranked = nse.dropna().sort_values(ascending=False)
    if ranked.empty:
        return {}
    return {"best": str(ranked.index[0]), "median": str(ranked.index[(len(ranked) - 1) // 2]),
            "worst": str(ranked.index[-1])}


def load_benchmark_nse(experiment_dir: Path) -> dict[str, pd.Series]:
    """Return model -> NSE [basin] of ``tables/table3_per_basin.csv`` (empty when absent).

    Only the basins marked ``included`` (scored by every model) are kept, so that all models are
    compared on the same basins as in the paper's Table 3 and Figs. 4-5.
    """
    path = Path(experiment_dir) / "tables" / "table3_per_basin.csv"
    if not path.is_file():
        return {}
    frame = pd.read_csv(path, dtype={"model": str, "basin": str})
    if "included" in frame.columns:
        frame = frame[frame["included"].astype(str).str.lower() == "true"]
    return {str(m): g.set_index("basin")["nse"] for m, g in frame.groupby("model", sort=False)}


def _benchmark_figure(root: Path, curves: Mapping[str, pd.Series], best: str) -> Figure | None:
    per_model = load_benchmark_nse(root)
    configs = {_base_name(k) for k in curves}
    ours = {m: v for m, v in per_model.items() if any(m.startswith(f"{c} ") for c in configs)}
    bench = {m: v for m, v in per_model.items() if m not in ours}
    if not bench:
        return None
    own = {m: v for m, v in ours.items() if m.startswith(f"{best} ")}
    own_single = [m for m in own if not m.endswith(f" {ENSEMBLE}")][:1]
    chosen = {m: v for m, v in (own or ours).items()
              if m.endswith(f" {ENSEMBLE}") or m in own_single}
    labels = {m: f"{m.rsplit(' ', 1)[0]} ({m.rsplit(' ', 1)[1]})" for m in chosen}
    n_basins = len(next(iter(bench.values())))
    return plot_nse_cdf({**{labels[m]: v for m, v in chosen.items()}, **bench},
                        f"NSE of the experiment and the benchmark models, {n_basins} basins")


def _hydrographs(root: Path, period: str, curves: Mapping[str, pd.Series], best: str,
                 basins: Sequence[str] | None, out: Path) -> dict[str, Path]:
    source = f"{best} ({ENSEMBLE})"
    if source not in curves:
        source = next(k for k in curves if _base_name(k) == best)
    member = source.split(" (")[1].rstrip(")")
    path = root / best / member / f"predictions_{period}.nc"
    if not path.is_file():
        return {}
    chosen = list(basins) if basins else list(dict.fromkeys(choose_basins(curves[source]).values()))
    with xr.open_dataset(path) as handle:
        predictions = handle.load()
    known = [str(b) for b in predictions["basin"].values]
    unknown = [str(b) for b in chosen if str(b) not in known]
    if unknown:
        raise ConfigError(f"--basins: {unknown} are not in {path} ({len(known)} basins, e.g. "
                          f"{known[:5]}); choose basins of the experiment")
    dates = pd.DatetimeIndex(predictions["date"].values)
    window = (dates[-HYDROGRAPH_DAYS], dates[-1]) if len(dates) > HYDROGRAPH_DAYS else None
    label = f"{best} {member}"
    return {f"hydrograph_{b}": save_figure(plot_hydrograph(predictions, b, window, label),
                                           out / f"hydrograph_{b}.png") for b in chosen}


def experiment_figures(experiment_dir: Path, period: str = "test",
                       basins: Sequence[str] | None = None) -> dict[str, Path]:
    """Write the figures of an experiment to ``<experiment_dir>/report/figures/*.png``.

    Parameters
    ----------
    experiment_dir
        Folder written by ``ealstm experiment``.
    period
        Evaluation period whose ``metrics_<period>.csv``/``predictions_<period>.nc`` are used.
    basins
        Basins to draw hydrographs of; default: the best, median and worst basin (by NSE) of the
        best configuration's ensemble.

    Returns
    -------
    dict
        Figure name (``nse_cdf``, ``nse_cdf_benchmarks``, ``hydrograph_<basin>``) -> PNG path,
        in the order of the report. Empty when no metrics of ``period`` exist.
    """
    root = Path(experiment_dir)
    out = root / "report" / "figures"
    curves = collect_nse(root, period)
    best = best_configuration(curves)
    if best is None:
        remove_stale_figures(out, [])
        return {}
    title = f"Per-basin NSE, {period} period (solid: ensemble mean, dashed: single model)"
    figures = {"nse_cdf": save_figure(plot_nse_cdf(curves, title), out / "nse_cdf.png")}
    bench = _benchmark_figure(root, curves, best)
    if bench is not None:
        figures["nse_cdf_benchmarks"] = save_figure(bench, out / "nse_cdf_benchmarks.png")
    figures.update(_hydrographs(root, period, curves, best, basins, out))
    remove_stale_figures(out, figures.values())
    return figures


def remove_stale_figures(folder: Path, keep: Iterable[Path]) -> list[Path]:
    """Delete the PNGs of ``folder`` not in ``keep``; return them.

    A regenerated report must not leave the figures of an earlier one behind (hydrographs of
    other basins, the benchmark CDF of a removed Table 3), where they would be mistaken for
    current results.
    """
    keep = {Path(p).resolve() for p in keep}
    stale = [p for p in Path(folder).glob("*.png") if p.resolve() not in keep]
    for path in stale:
        path.unlink()
    return stale
