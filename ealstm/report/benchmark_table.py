r"""Paper Table 3 (sect. 3.2): the experiment's models against external benchmark models.

:func:`~ealstm.evaluation.benchmarks.compare_with_benchmarks` of the configurations' ensembles
(``"<configuration> ensemble"``) and, optionally, of each seed, collapsed to one
``"<configuration> single"`` row with mean and ``_std`` (``ddof=0``) over the seeds, against
external simulations read with :func:`~ealstm.evaluation.benchmarks.read_simulations`. Unlike
Table 2 (:mod:`ealstm.report.tables`), it reads the ``predictions_<period>.nc`` next to the
metrics files and the benchmarks' simulation files, on the basins of
:func:`~ealstm.report.experiment_results.load_experiment` that every benchmark covers.

:func:`benchmark_significance` adds the statistics of the Table 3 text (sect. 3.2): the paired
two-sided Wilcoxon signed-rank test and Cohen's d (:mod:`ealstm.evaluation.stats`) of every
configuration against every benchmark model -- ``single``: the per-basin NSE averaged over the
seeds, ``ensemble``: the NSE of the ensemble mean (as ``get_pvals``/``get_cohens_d`` in the
paper's performance notebook) -- each on the Table 3 basin set (``included``: the basins where
every model's NSE is defined, 447 in the paper), as the paper's tests use that basin set.

References
----------
.. [1] Kratzert, F. et al. (2019): Towards learning universal, regional, and local hydrological
   behaviors via machine learning applied to large-sample datasets, HESS, 23, 5089-5110,
   Table 3.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import xarray as xr

from ealstm.errors import BasinDataError, DataNotFoundError
from ealstm.evaluation.benchmarks import BASIN_COUNT_COLUMNS, compare_with_benchmarks
from ealstm.evaluation.benchmarks import read_simulations as read_benchmark
from ealstm.evaluation.stats import COMPARISON_COLUMNS, compare_configurations
from ealstm.report.experiment_results import (
    ENSEMBLE_DIR,
    SEED_STD_DDOF,
    ExperimentResults,
    load_experiment,
)

__all__ = ["benchmark_comparison", "benchmark_significance", "benchmark_table"]


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

    Statistic columns of a group row get a ``<column>_std`` (population std over members);
    the basin counts of :data:`~ealstm.evaluation.benchmarks.BASIN_COUNT_COLUMNS` do not (they
    are the same for every model).
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
    ordered = [c for s in stats
               for c in ((s,) if s in BASIN_COUNT_COLUMNS else (s, f"{s}_std"))]
    out = out.reindex(columns=[*ordered, *beats]).rename_axis("model")
    return out.astype(dict.fromkeys([c for c in BASIN_COUNT_COLUMNS if c in out], "int64"))


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
                   "n_excluded_experiment": len(exp.excluded),
                   "members": groups, "benchmarks": list(benchmarks),
                   "configurations": list(exp.configurations)}
    return per_basin, table


def _included_nse(per_basin: pd.DataFrame) -> pd.DataFrame:
    """NSE ``[basin, model]`` on the Table 3 basins (``included``: NSE defined for every model)."""
    nse = per_basin["nse"].unstack("model").astype("float64")
    included = per_basin["included"].astype(bool).groupby(level="basin").all()
    return nse.loc[included[included].index]


def _per_basin_nse(per_basin: pd.DataFrame,
                   table: pd.DataFrame) -> dict[str, dict[str, pd.Series]]:
    """``{"single": {cfg: seed-mean NSE}, "ensemble": {cfg: NSE}}`` over the Table 3 basins."""
    nse = _included_nse(per_basin)
    members = table.attrs.get("members", {})
    kinds: dict[str, dict[str, pd.Series]] = {"single": {}, "ensemble": {}}
    for name in table.attrs.get("configurations", []):
        seeds = members.get(f"{name} single", [])
        if seeds:
            kinds["single"][name] = nse[seeds].mean(axis=1, skipna=False)
        if f"{name} ensemble" in nse.columns:
            kinds["ensemble"][name] = nse[f"{name} ensemble"]
    return kinds


def benchmark_significance(per_basin: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Wilcoxon signed-rank p and Cohen's d of every configuration against every benchmark.

    Parameters
    ----------
    per_basin, table : pd.DataFrame
        Output of :func:`benchmark_comparison` (``table.attrs`` names the members, the
        configurations and the benchmarks).

    Returns
    -------
    pd.DataFrame
        Column ``kind`` (``single``: NSE averaged over seeds; ``ensemble``: the ensemble mean's
        NSE), then :data:`~ealstm.evaluation.stats.COMPARISON_COLUMNS` with ``config_a`` the
        configuration and ``config_b`` the benchmark; ``n`` the Table 3 basins (``included``
        in ``per_basin``: every model's NSE defined), the same for every pair as in the paper.
        ``cohens_d > 0``: the configuration is better on average.
    """
    rows = []
    benchmarks = table.attrs.get("benchmarks", [])
    nse = _included_nse(per_basin)
    for kind, values in _per_basin_nse(per_basin, table).items():
        for name, series in values.items():
            for bench in benchmarks:
                pair = compare_configurations({name: series, bench: nse[bench]})
                rows.append(pair.assign(kind=kind))
    columns = ["kind", *COMPARISON_COLUMNS]
    out = pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)
    out.attrs = {"period": table.attrs.get("period", ""),
                 "n_basins": int(table.attrs.get("n_basins", 0)),
                 "excluded_basins": list(table.attrs.get("excluded_basins", []))}
    return out


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
        with ``_std``; each over the basins where that metric is defined for every model),
        ``n_nse`` and ``n_<metric>`` (basins per statistic), and ``beats_<model>``: the
        number of common basins where the row's NSE is higher than that model's (averaged
        over seeds for single models; NaN on the diagonal). Basins: those of
        :func:`~ealstm.report.experiment_results.load_experiment` that every benchmark covers
        (each statistic on those where its metric is defined); ``attrs`` holds the counts.
    """
    return benchmark_comparison(experiment_dir, benchmarks, period, configurations, single)[1]
