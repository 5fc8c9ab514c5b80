r"""Tables 2 and 3 of Kratzert et al. (2019) and the significance tests, from an experiment dir.

Table 2 and the significance tests are computed here, Table 3 in
:mod:`ealstm.report.benchmark_table`; :func:`write_tables` writes all of them as CSV and
Markdown (:mod:`ealstm.report.markdown`). Every table reads the experiment's metrics with
:func:`~ealstm.report.experiment_results.load_experiment` and uses its one shared basin set.

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

References
----------
.. [1] Kratzert, F. et al. (2019): Towards learning universal, regional, and local hydrological
   behaviors via machine learning applied to large-sample datasets, HESS, 23, 5089-5110,
   Tables 2 and 3.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ealstm.evaluation.stats import compare_configurations
from ealstm.io import save_csv, write_text
from ealstm.metrics import summarize
from ealstm.report.benchmark_table import benchmark_comparison, benchmark_significance
from ealstm.report.experiment_results import (
    SEED_STD_DDOF,
    ConfigurationResults,
    ExperimentResults,
    load_experiment,
)
from ealstm.report.markdown import (
    benchmark_significance_markdown,
    significance_markdown,
    table2_markdown,
    table3_markdown,
)

__all__ = [
    "TABLE2_COLUMNS",
    "significance_table",
    "table2",
    "write_tables",
]

#: Columns of :func:`table2`.
TABLE2_COLUMNS = (
    "single_nse_mean", "single_nse_mean_std", "single_nse_median", "single_nse_median_std",
    "single_n_nse_le_0", "single_n_nse_le_0_std", "ensemble_nse_mean", "ensemble_nse_median",
    "ensemble_n_nse_le_0", "n_seeds", "n_basins", "n_excluded",
)


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
        Configurations (rows) in this order; default all, see
        :func:`~ealstm.report.experiment_results.find_configurations`.

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


def write_tables(experiment_dir: Path, period: str = "test",
                 benchmarks: Mapping[str, Path] | None = None) -> list[Path]:
    """Write Table 2, the significance tests and (with ``benchmarks``) Table 3.

    Files (atomically, under ``<experiment_dir>/tables/``): ``table2.csv|md``,
    ``significance.csv|md`` and, with benchmarks, ``table3.csv|md``,
    ``table3_per_basin.csv`` (every model's metrics per common basin) and
    ``table3_significance.csv|md`` (Wilcoxon p and Cohen's d against every benchmark). CSVs
    hold full precision; the Markdown files the paper's ``mean ± std`` layout.

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
        sig3 = benchmark_significance(per_basin, t3)
        paths += [save_csv(out / "table3.csv", t3),
                  write_text(out / "table3.md", table3_markdown(t3)),
                  save_csv(out / "table3_per_basin.csv", per_basin),
                  save_csv(out / "table3_significance.csv", sig3, index=False),
                  write_text(out / "table3_significance.md",
                             benchmark_significance_markdown(sig3))]
    return paths
