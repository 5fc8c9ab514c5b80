r"""Tables 2 and 3 of Kratzert et al. (2019) and the significance tests, from an experiment dir.

Inputs (``docs/architecture.md``, "Experiment directory"):
``<experiment_dir>/<configuration>/seed<seed>/metrics_<period>.csv`` of every member and
``<configuration>/ensemble/metrics_<period>.csv`` of the ensemble mean (index ``basin``,
columns ``nse, ..., status``); Table 3 also reads the ``predictions_<period>.nc`` next to them.

Basins
------
All tables use **one basin set**: the basins present in every metrics file of the selected
configurations (members and ensembles) with an NSE in all of them. Any other basin
is excluded everywhere and counted (``n_excluded``), so all rows and all paired tests compare
the same basins, as the paper's 531 (Table 2) and 447 (Table 3) basins.

Table 2 (paper sect. 3.1)
-------------------------
For each configuration with seeds :math:`s = 1..S` and per-seed statistics :math:`x_s` (mean NSE
over basins, median NSE, number of basins with NSE :math:`\le 0`), the single-model entry is
:math:`\bar x = \frac{1}{S}\sum_s x_s` and the ``_std`` column
:math:`\sqrt{\frac{1}{S}\sum_s (x_s - \bar x)^2}` -- the population standard deviation
(``ddof=0``), as ``np.std`` in the paper's evaluation notebook. The ensemble entries are the same
statistics of the ensemble mean's NSE.

Significance (sect. 3.1)
------------------------
Paired two-sided Wilcoxon signed-rank tests and Cohen's d (:mod:`ealstm.evaluation.stats`)
between all pairs of configurations; for ``kind == "single"`` the per-basin value is the NSE
averaged over the seeds, for ``kind == "ensemble"`` the NSE of the ensemble mean.

Table 3 (sect. 3.2)
-------------------
:func:`~ealstm.evaluation.benchmarks.compare_with_benchmarks` of the configurations' ensembles
(``"<configuration> ensemble"``) and, optionally, of each seed, collapsed to one
``"<configuration> single"`` row with mean and ``_std`` (``ddof=0``) over the seeds, against
external simulations read with :func:`~ealstm.evaluation.benchmarks.read_simulations`.

References
----------
.. [1] Kratzert, F. et al. (2019): Towards learning universal, regional, and local hydrological
   behaviors via machine learning applied to large-sample datasets, HESS, 23, 5089-5110,
   Tables 2 and 3.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from ealstm.errors import BasinDataError, DataNotFoundError
from ealstm.evaluation.benchmarks import BENCHMARK_METRICS, compare_with_benchmarks
from ealstm.evaluation.benchmarks import read_simulations as read_benchmark
from ealstm.evaluation.metrics import summarize
from ealstm.evaluation.stats import compare_configurations
from ealstm.io import save_csv, write_text

__all__ = [
    "ConfigurationResults",
    "ExperimentResults",
    "PAPER_ORDER",
    "TABLE2_COLUMNS",
    "benchmark_comparison",
    "benchmark_table",
    "find_configurations",
    "load_experiment",
    "markdown_table",
    "read_metrics_csv",
    "significance_table",
    "table2",
    "write_tables",
]

logger = logging.getLogger(__name__)

#: Row order of the paper's configurations; others follow in experiment.yml or name order.
PAPER_ORDER = ("lstm_no_static_mse", "lstm_no_static_nse", "lstm_static_mse", "lstm_static_nse",
               "ealstm_mse", "ealstm_nse")
#: Columns of :func:`table2`.
TABLE2_COLUMNS = (
    "single_nse_mean", "single_nse_mean_std", "single_nse_median", "single_nse_median_std",
    "single_n_nse_le_0", "single_n_nse_le_0_std", "ensemble_nse_mean", "ensemble_nse_median",
    "ensemble_n_nse_le_0", "n_seeds", "n_basins", "n_excluded",
)
ENSEMBLE_DIR = "ensemble"
#: Population std over seeds, as ``np.std`` in the paper's notebook.
SEED_STD_DDOF = 0
_SEED_DIR = re.compile(r"^seed(.+)$")


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConfigurationResults:
    """Per-basin metrics of one configuration: each member and the ensemble (if present)."""

    name: str
    directory: Path
    seeds: dict[str, pd.DataFrame]
    ensemble: pd.DataFrame | None


@dataclass(frozen=True)
class ExperimentResults:
    """Metrics of the selected configurations and the basin set shared by all tables.

    ``basins`` are scored ``ok`` in every metrics file; ``excluded`` are the other basins that
    appear in at least one of them.
    """

    experiment_dir: Path
    period: str
    configurations: dict[str, ConfigurationResults]
    basins: list[str]
    excluded: list[str]


def read_metrics_csv(path: Path) -> pd.DataFrame:
    """Read a ``metrics_<period>.csv``; index ``basin`` (str), needs columns nse and status.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    BasinDataError
        Column ``basin``, ``nse`` or ``status`` is missing, or a basin repeats.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"metrics file {path} does not exist; run the evaluation first")
    frame = pd.read_csv(path, dtype={"basin": str, "status": str})
    missing = [c for c in ("basin", "nse", "status") if c not in frame.columns]
    if missing:
        raise BasinDataError(f"{path}: missing column(s) {missing} (found {list(frame.columns)})")
    frame = frame.set_index("basin")
    if frame.index.has_duplicates:
        repeated = list(frame.index[frame.index.duplicated()].unique())
        raise BasinDataError(f"{path}: basin(s) repeat: {repeated}; keep one row each")
    return frame


def _seed_key(label: str) -> tuple[int, int | str]:
    return (0, int(label)) if label.isdigit() else (1, label)


def _seed_dirs(config_dir: Path, period: str) -> dict[str, Path]:
    """``seed label -> member dir`` of the members that have metrics for ``period``."""
    found = {}
    for child in config_dir.iterdir() if config_dir.is_dir() else []:
        match = _SEED_DIR.match(child.name)
        if match and child.is_dir() and (child / f"metrics_{period}.csv").is_file():
            found[match.group(1)] = child
    return {label: found[label] for label in sorted(found, key=_seed_key)}


def _declared_order(experiment_dir: Path) -> list[str]:
    """Return the configuration names in ``experiment.yml`` order (empty if unreadable)."""
    path = experiment_dir / "experiment.yml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        return []
    configurations = raw.get("configurations") if isinstance(raw, dict) else None
    return [str(k) for k in configurations] if isinstance(configurations, dict) else []


def find_configurations(experiment_dir: Path, period: str = "test") -> list[str]:
    """List the configurations that have at least one member scored on ``period``.

    Order: :data:`PAPER_ORDER`, then the order of ``experiment.yml``, then by name.

    Raises
    ------
    DataNotFoundError
        No ``<configuration>/seed<seed>/metrics_<period>.csv`` under ``experiment_dir``.
    """
    experiment_dir = Path(experiment_dir)
    if not experiment_dir.is_dir():
        raise DataNotFoundError(f"experiment directory {experiment_dir} does not exist")
    names = {p.name for p in experiment_dir.iterdir() if _seed_dirs(p, period)}
    if not names:
        raise DataNotFoundError(
            f"no {experiment_dir}/<configuration>/seed<seed>/metrics_{period}.csv found; "
            f"train and evaluate the experiment on the {period!r} period first"
        )
    declared = _declared_order(experiment_dir)
    rank: dict[str, int] = {}
    for name in (*PAPER_ORDER, *declared):
        rank.setdefault(name, len(rank))
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def _load_configuration(experiment_dir: Path, name: str, period: str) -> ConfigurationResults:
    directory = experiment_dir / name
    seeds = {label: read_metrics_csv(d / f"metrics_{period}.csv")
             for label, d in _seed_dirs(directory, period).items()}
    if not seeds:
        raise DataNotFoundError(
            f"configuration {name!r}: no {directory}/seed*/metrics_{period}.csv")
    ensemble_path = directory / ENSEMBLE_DIR / f"metrics_{period}.csv"
    ensemble = read_metrics_csv(ensemble_path) if ensemble_path.is_file() else None
    if ensemble is None:
        logger.warning("configuration %s has no %s; ensemble columns stay empty", name,
                       ensemble_path)
    return ConfigurationResults(name, directory, seeds, ensemble)


def _common_ok_basins(tables: Sequence[pd.DataFrame]) -> tuple[list[str], list[str]]:
    """Basins with an NSE in every table (first-table order) and the excluded rest (sorted).

    A basin whose NSE exists but another metric does not (e.g. FLV of an intermittent river
    with a flat low-flow segment) stays in: dropping it would bias the NSE statistics against
    arid basins. Medians of the other metrics skip their missing values.
    """
    everywhere = set.intersection(*(set(t.index[t["nse"].notna()]) for t in tables))
    seen = list(dict.fromkeys(b for t in tables for b in t.index))
    basins = [b for b in seen if b in everywhere]
    return basins, sorted(set(seen) - everywhere)


def load_experiment(experiment_dir: Path, period: str = "test",
                    configurations: Sequence[str] | None = None) -> ExperimentResults:
    """Load the metrics of ``configurations`` (default: all) and fix the shared basin set.

    Raises
    ------
    DataNotFoundError
        Missing experiment dir, configuration or member metrics.
    BasinDataError
        A metrics file is malformed, or no basin is scored ``ok`` in every file.
    """
    experiment_dir = Path(experiment_dir)
    names = list(configurations) if configurations else find_configurations(experiment_dir,
                                                                             period)
    results = {n: _load_configuration(experiment_dir, n, period) for n in names}
    tables = [t for r in results.values()
              for t in [*r.seeds.values(), *([r.ensemble] if r.ensemble is not None else [])]]
    basins, excluded = _common_ok_basins(tables)
    if not basins:
        raise BasinDataError(f"{experiment_dir}: no basin is scored 'ok' in all "
                             f"{len(tables)} metrics files of period {period!r}")
    if excluded:
        logger.warning("%d basin(s) excluded from the tables (no NSE or missing in some "
                       "run): %s", len(excluded), excluded)
    return ExperimentResults(experiment_dir, period, results, basins, excluded)


# --------------------------------------------------------------------------------------------
# Table 2 and significance
# --------------------------------------------------------------------------------------------
def _single_row(result: ConfigurationResults, basins: list[str]) -> dict[str, float]:
    """Mean and std over seeds of the seeds' mean/median NSE and #NSE <= 0."""
    per_seed = pd.DataFrame([summarize(t.loc[basins, "nse"].to_numpy(np.float64))
                             for t in result.seeds.values()])
    row = {}
    for stat, column in (("mean", "single_nse_mean"), ("median", "single_nse_median"),
                         ("n_nse_le_0", "single_n_nse_le_0")):
        values = per_seed[stat].to_numpy(np.float64)
        row[column] = float(values.mean())
        row[f"{column}_std"] = float(values.std(ddof=SEED_STD_DDOF))
    return row


def _ensemble_row(result: ConfigurationResults, basins: list[str]) -> dict[str, float]:
    if result.ensemble is None:
        return dict.fromkeys(("ensemble_nse_mean", "ensemble_nse_median",
                              "ensemble_n_nse_le_0"), math.nan)
    stats = summarize(result.ensemble.loc[basins, "nse"].to_numpy(np.float64))
    return {"ensemble_nse_mean": stats["mean"], "ensemble_nse_median": stats["median"],
            "ensemble_n_nse_le_0": stats["n_nse_le_0"]}


def _table2(exp: ExperimentResults) -> pd.DataFrame:
    rows = {
        name: {**_single_row(r, exp.basins), **_ensemble_row(r, exp.basins),
               "n_seeds": len(r.seeds), "n_basins": len(exp.basins),
               "n_excluded": len(exp.excluded)}
        for name, r in exp.configurations.items()
    }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(TABLE2_COLUMNS))
    table.index.name = "configuration"
    table.attrs = {"period": exp.period, "excluded_basins": exp.excluded}
    return table


def table2(experiment_dir: Path, period: str = "test",
           configurations: Sequence[str] | None = None) -> pd.DataFrame:
    """Paper Table 2: single-model (mean ± std over seeds) and ensemble NSE statistics.

    Parameters
    ----------
    experiment_dir : Path
        Experiment directory.
    period : str, default "test"
        Period whose ``metrics_<period>.csv`` are read.
    configurations : sequence of str, optional
        Configurations (rows) in this order; default all, see :func:`find_configurations`.

    Returns
    -------
    pd.DataFrame
        Index ``configuration``, columns :data:`TABLE2_COLUMNS`: ``single_*`` are means over
        seeds with ``*_std`` their population std, ``ensemble_*`` the ensemble mean's
        statistics (NaN without an ensemble), ``n_seeds``, ``n_basins`` (the shared basin set)
        and ``n_excluded``. ``attrs``: ``period`` and ``excluded_basins``.
    """
    return _table2(load_experiment(experiment_dir, period, configurations))


def _per_basin_nse(exp: ExperimentResults) -> tuple[dict[str, pd.Series], dict[str, pd.Series]]:
    """Seed-averaged and ensemble per-basin NSE of every configuration on the shared basins."""
    single, ensemble = {}, {}
    for name, r in exp.configurations.items():
        seeds = pd.concat([t.loc[exp.basins, "nse"] for t in r.seeds.values()], axis=1)
        single[name] = seeds.astype(np.float64).mean(axis=1)
        if r.ensemble is not None:
            ensemble[name] = r.ensemble.loc[exp.basins, "nse"].astype(np.float64)
    return single, ensemble


def _significance(exp: ExperimentResults) -> pd.DataFrame:
    single, ensemble = _per_basin_nse(exp)
    parts = [compare_configurations(values).assign(kind=kind)
             for kind, values in (("single", single), ("ensemble", ensemble)) if len(values) > 1]
    if not parts:
        return pd.DataFrame(columns=["kind", *compare_configurations({}).columns])
    table = pd.concat(parts, ignore_index=True)
    table = table[["kind", *[c for c in table.columns if c != "kind"]]]
    table.attrs = {"period": exp.period, "n_basins": len(exp.basins),
                   "excluded_basins": exp.excluded}
    return table


def significance_table(experiment_dir: Path, period: str = "test",
                       configurations: Sequence[str] | None = None) -> pd.DataFrame:
    """Wilcoxon signed-rank tests and Cohen's d between all pairs of configurations.

    Returns
    -------
    pd.DataFrame
        Column ``kind`` (``"single"``: per-basin NSE averaged over seeds; ``"ensemble"``: the
        ensemble mean's NSE) followed by the columns of
        :func:`~ealstm.evaluation.stats.compare_configurations`; pairs in row order of
        :func:`table2`. Configurations without an ensemble are left out of the ensemble rows.
    """
    return _significance(load_experiment(experiment_dir, period, configurations))


# --------------------------------------------------------------------------------------------
# Table 3
# --------------------------------------------------------------------------------------------
def _read_predictions(run_dir: Path, period: str) -> xr.Dataset:
    path = run_dir / f"predictions_{period}.nc"
    if not path.is_file():
        raise DataNotFoundError(f"predictions file {path} does not exist; evaluate the run first")
    with xr.open_dataset(path) as ds:
        if "qsim" not in ds.data_vars:
            raise BasinDataError(f"{path}: no variable 'qsim' (found {sorted(ds.data_vars)})")
        return ds[[v for v in ("qobs", "qsim") if v in ds.data_vars]].load()


def _experiment_models(exp: ExperimentResults, single: bool
                       ) -> tuple[xr.DataArray, dict[str, xr.DataArray], dict[str, list[str]]]:
    """``qobs``, model name -> ``qsim`` and ``"<cfg> single"`` -> member model names."""
    runs: dict[str, Path] = {}
    groups: dict[str, list[str]] = {}
    for name, r in exp.configurations.items():
        if single:
            members = {f"{name} seed{label}": r.directory / f"seed{label}" for label in r.seeds}
            runs.update(members)
            groups[f"{name} single"] = list(members)
        if r.ensemble is not None:
            runs[f"{name} ensemble"] = r.directory / ENSEMBLE_DIR
    if not runs:
        raise DataNotFoundError(f"{exp.experiment_dir}: no ensemble predictions for Table 3; "
                                "build the ensembles or pass single=True")
    qobs, models = None, {}
    for model, run_dir in runs.items():
        ds = _read_predictions(run_dir, exp.period)
        models[model] = ds["qsim"]
        qobs = ds["qobs"] if qobs is None and "qobs" in ds else qobs
    if qobs is None:
        raise BasinDataError(f"no predictions_{exp.period}.nc of {exp.experiment_dir} has qobs")
    qobs = qobs.assign_coords(basin=[str(b) for b in qobs["basin"].values])
    return qobs.sel(basin=exp.basins), models, groups


def _collapse_members(table: pd.DataFrame, groups: Mapping[str, list[str]]) -> pd.DataFrame:
    """Replace member rows and ``beats_<member>`` columns by their mean over each group.

    Statistic columns of a group row get a ``<column>_std`` (population std over members).
    """
    frame = table.astype("float64")
    stats = [c for c in frame.columns if not c.startswith("beats_")]
    for label, members in groups.items():
        cols = [f"beats_{m}" for m in members]
        frame[f"beats_{label}"] = frame[cols].mean(axis=1)
        frame = frame.drop(columns=cols)
    rows = {}
    for label, members in groups.items():
        rows[label] = frame.loc[members].mean(axis=0)
        rows[label][f"beats_{label}"] = math.nan
        spread = frame.loc[members, stats].std(axis=0, ddof=SEED_STD_DDOF)
        rows[label] = pd.concat([rows[label], spread.add_suffix("_std")])
    members = [m for ms in groups.values() for m in ms]
    out = pd.concat([frame.drop(index=members), pd.DataFrame.from_dict(rows, orient="index")])
    beats = [c for c in out.columns if c.startswith("beats_")]
    ordered = [c for s in stats for c in ((s,) if s == "n_basins" else (s, f"{s}_std"))]
    out = out.reindex(columns=[*ordered, *beats]).rename_axis("model")
    return out.astype({"n_basins": "int64"})


def benchmark_comparison(
    experiment_dir: Path, benchmarks: Mapping[str, Path], period: str = "test",
    configurations: Sequence[str] | None = None, single: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-basin metrics and Table 3 of the experiment against external simulations.

    See :func:`benchmark_table`; also returns the per-basin metrics of
    :func:`~ealstm.evaluation.benchmarks.compare_with_benchmarks` (members not collapsed).
    """
    exp = load_experiment(experiment_dir, period, configurations)
    qobs, models, groups = _experiment_models(exp, single)
    for name, path in benchmarks.items():
        if name in models:
            raise BasinDataError(f"benchmark name {name!r} clashes with an experiment model")
        models[name] = read_benchmark(path)
    per_basin, raw = compare_with_benchmarks(qobs, models)
    table = _collapse_members(raw, groups)
    order = [m for n in exp.configurations for m in (f"{n} single", f"{n} ensemble")
             if m in table.index]
    table = table.loc[[*order, *benchmarks]]
    beats = [f"beats_{m}" for m in table.index]
    table = table[[c for c in table.columns if not c.startswith("beats_")] + beats]
    table.attrs = {**raw.attrs, "period": period,
                   "n_excluded_experiment": len(exp.excluded)}
    return per_basin, table


def benchmark_table(experiment_dir: Path, benchmarks: Mapping[str, Path], period: str = "test",
                    configurations: Sequence[str] | None = None,
                    single: bool = True) -> pd.DataFrame:
    """Paper Table 3: the experiment's models against benchmark models on common basins.

    Parameters
    ----------
    experiment_dir : Path
        Experiment directory (predictions of members and ensembles are read).
    benchmarks : mapping of str to Path
        Benchmark model name -> simulation file (format: :mod:`ealstm.evaluation.benchmarks`).
    period : str, default "test"
        Period of the experiment's predictions; the benchmarks are cut to its dates.
    configurations : sequence of str, optional
        Configurations to include; default all.
    single : bool, default True
        Also score every seed and report ``"<configuration> single"`` rows (mean over seeds,
        ``*_std`` columns the population std); otherwise only the ensembles.

    Returns
    -------
    pd.DataFrame
        Index ``model`` (``"<cfg> single"``, ``"<cfg> ensemble"``, then the benchmarks);
        columns ``n_basins``, ``nse_mean``, ``nse_median``, ``n_nse_le_0``,
        ``<metric>_median`` of :data:`~ealstm.evaluation.benchmarks.BENCHMARK_METRICS` (each
        with ``_std``), and ``beats_<model>``: the number of common basins where the row's NSE
        is higher than that model's (averaged over seeds for single models; NaN on the
        diagonal). Basins: those of :func:`load_experiment` that every benchmark covers and
        every model scores; ``attrs`` holds the counts.
    """
    return benchmark_comparison(experiment_dir, benchmarks, period, configurations, single)[1]


# --------------------------------------------------------------------------------------------
# Markdown and writing
# --------------------------------------------------------------------------------------------
def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _cell(value: Any, float_format: str) -> str:
    """Markdown cell text: empty for missing, floats formatted, ``|`` escaped."""
    if _is_missing(value):
        return ""
    if isinstance(value, (float, np.floating)):
        text = format(float(value), float_format)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, index: bool = True, float_format: str = ".3f") -> str:
    """Render ``frame`` as a GitHub-flavoured Markdown table (no ``tabulate`` needed).

    Parameters
    ----------
    frame : pd.DataFrame
        Table to render; cells that are already strings are written unchanged.
    index : bool, default True
        Write the index as the first column, headed by the index name.
    float_format : str, default ".3f"
        :func:`format` spec of float cells; missing values (NaN, None, ``pd.NA``) are empty.

    Returns
    -------
    str
        Header line, alignment line (numeric columns right-aligned) and one line per row,
        ending with a newline.
    """
    data = frame.reset_index() if index else frame
    headers = [_cell(c, "") or " " for c in data.columns]
    if index and frame.index.name is None:
        headers[0] = " "
    align = ["---:" if pd.api.types.is_numeric_dtype(data[c]) else "---" for c in data.columns]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    for row in data.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, float_format) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _pm(value: Any, std: Any, spec: str) -> str:
    """``"value ± std"``; only ``value`` where ``std`` is missing; empty if both are."""
    if _is_missing(value):
        return ""
    if _is_missing(std):
        return format(float(value), spec)
    return f"{float(value):{spec}} ± {float(std):{spec}}"


def _excluded_note(excluded: Sequence[str], n_basins: int) -> str:
    shown = ", ".join(excluded[:20]) + (", ..." if len(excluded) > 20 else "")
    note = f"{n_basins} basins"
    return note + (f"; {len(excluded)} excluded (no NSE in some run): {shown}"
                   if excluded else "; none excluded")


def table2_markdown(table: pd.DataFrame) -> str:
    """Markdown of :func:`table2`: ``mean ± std`` over seeds, as printed in the paper."""
    shown = pd.DataFrame(index=table.index)
    for column, label, spec in (("single_nse_mean", "mean NSE", ".3f"),
                                ("single_nse_median", "median NSE", ".3f"),
                                ("single_n_nse_le_0", "NSE <= 0", ".1f")):
        shown[f"single: {label}"] = [_pm(v, s, spec) for v, s in
                                     zip(table[column], table[f"{column}_std"], strict=True)]
    for column, label, spec in (("ensemble_nse_mean", "mean NSE", ".3f"),
                                ("ensemble_nse_median", "median NSE", ".3f"),
                                ("ensemble_n_nse_le_0", "NSE <= 0", ".0f")):
        shown[f"ensemble: {label}"] = [_pm(v, None, spec) for v in table[column]]
    shown["seeds"] = table["n_seeds"].astype(str)
    n_basins = int(table["n_basins"].iloc[0]) if len(table) else 0
    note = _excluded_note(table.attrs.get("excluded_basins", []), n_basins)
    return (f"## Table 2: single models and ensemble means ({table.attrs.get('period', '')})\n\n"
            f"Single models: mean ± population std over seeds. {note}.\n\n"
            + markdown_table(shown))


def significance_markdown(table: pd.DataFrame) -> str:
    """Markdown of :func:`significance_table` (p in scientific notation)."""
    shown = table.copy()
    shown["p_value"] = [_pm(p, None, ".2e") for p in table["p_value"]]
    shown["wilcoxon_statistic"] = [_pm(t, None, ".1f") for t in table["wilcoxon_statistic"]]
    note = _excluded_note(table.attrs.get("excluded_basins", []), table.attrs.get("n_basins", 0))
    return ("## Paired Wilcoxon signed-rank tests and Cohen's d "
            f"({table.attrs.get('period', '')})\n\n"
            "single: per-basin NSE averaged over seeds; ensemble: NSE of the ensemble mean. "
            f"d > 0: config_a better. {note}.\n\n" + markdown_table(shown, index=False))


def table3_markdown(table: pd.DataFrame) -> str:
    """Markdown of :func:`benchmark_table`: ``mean ± std`` over seeds for single models."""
    shown = pd.DataFrame(index=table.index)
    shown["basins"] = table["n_basins"].map(lambda v: f"{v:.0f}")
    for column, label, spec in (("nse_mean", "mean NSE", ".3f"),
                                ("nse_median", "median NSE", ".3f"),
                                ("n_nse_le_0", "NSE <= 0", ".1f"),
                                *((f"{m}_median", f"{m} (median)", ".2f")
                                  for m in BENCHMARK_METRICS)):
        pairs = zip(table[column], table[f"{column}_std"], strict=True)
        shown[label] = [_pm(v, s, spec) for v, s in pairs]
    for column in (c for c in table.columns if c.startswith("beats_")):
        shown[f"> {column.removeprefix('beats_')}"] = [_pm(v, None, ".1f") for v in table[column]]
    attrs = table.attrs
    return (f"## Table 3: comparison with benchmark models ({attrs.get('period', '')})\n\n"
            f"{attrs.get('n_basins', '?')} basins covered and scored by every model "
            f"({attrs.get('n_excluded', 0)} of {attrs.get('n_common_basins', '?')} common "
            "basins excluded). Single models: mean ± population std over seeds. "
            "\"> X\": number of basins where the row's NSE is higher than X's.\n\n"
            + markdown_table(shown))


def write_tables(experiment_dir: Path, period: str = "test",
                 benchmarks: Mapping[str, Path] | None = None) -> list[Path]:
    """Write Table 2, the significance tests and (with ``benchmarks``) Table 3.

    Files (atomically, under ``<experiment_dir>/tables/``): ``table2.csv|md``,
    ``significance.csv|md`` and, with benchmarks, ``table3.csv|md`` plus
    ``table3_per_basin.csv`` (every model's metrics per common basin). CSVs hold full
    precision; the Markdown files the paper's ``mean ± std`` layout.

    Returns
    -------
    list of Path
        The files written, in the order above.
    """
    experiment_dir = Path(experiment_dir)
    out = experiment_dir / "tables"
    exp = load_experiment(experiment_dir, period)
    t2, sig = _table2(exp), _significance(exp)
    paths = [save_csv(out / "table2.csv", t2), write_text(out / "table2.md", table2_markdown(t2)),
             save_csv(out / "significance.csv", sig, index=False),
             write_text(out / "significance.md", significance_markdown(sig))]
    if benchmarks:
        per_basin, t3 = benchmark_comparison(experiment_dir, benchmarks, period)
        paths += [save_csv(out / "table3.csv", t3),
                  write_text(out / "table3.md", table3_markdown(t3)),
                  save_csv(out / "table3_per_basin.csv", per_basin)]
    return paths
