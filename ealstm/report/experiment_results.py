r"""Load an experiment's per-basin metrics and fix the basin set shared by all report tables.

Inputs (``docs/architecture.md``, "Experiment directory"):
``<experiment_dir>/<configuration>/seed<seed>/metrics_<period>.csv`` of every member and
``<configuration>/ensemble/metrics_<period>.csv`` of the ensemble mean (index ``basin``,
columns ``nse, ..., status``). The tables of :mod:`ealstm.report.tables` (Table 2,
significance) and :mod:`ealstm.report.benchmark_table` (Table 3) all start from
:func:`load_experiment`, so this layout and the basin rule live here once.

Basins
------
All tables use **one basin set**: the basins present in every metrics file of the selected
configurations (members and ensembles) with an NSE in all of them. Any other basin
is excluded everywhere and counted (``n_excluded``), so all rows and all paired tests compare
the same basins, as the paper's 531 (Table 2) and 447 (Table 3) basins.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ealstm.errors import BasinDataError, DataNotFoundError
from ealstm.runs.paths import ENSEMBLE, ExperimentPaths

__all__ = [
    "ConfigurationResults",
    "ENSEMBLE_DIR",
    "ExperimentResults",
    "PAPER_ORDER",
    "SEED_STD_DDOF",
    "find_configurations",
    "load_experiment",
    "read_metrics_csv",
]

logger = logging.getLogger(__name__)

#: Row order of the paper's configurations; others follow in experiment.yml or name order.
PAPER_ORDER = ("lstm_no_static_mse", "lstm_no_static_nse", "lstm_static_mse", "lstm_static_nse",
               "ealstm_mse", "ealstm_nse")
#: Directory of a configuration that holds the ensemble mean's metrics and predictions.
ENSEMBLE_DIR = ENSEMBLE
#: Population std over seeds, as ``np.std`` in the paper's notebook.
SEED_STD_DDOF = 0


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


def _seed_dirs(config_dir: Path, period: str) -> dict[str, Path]:
    """``seed label -> member dir`` of the members that have metrics for ``period``."""
    seeds = ExperimentPaths(config_dir.parent).seeds(config_dir.name, period)
    return {str(seed): path for seed, path in seeds.items()}


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
    declared = ExperimentPaths(experiment_dir).declared_configurations()
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
