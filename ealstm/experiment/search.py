"""Grid search by k-fold cross-validation over basins (paper Appendix B) and ungauged prediction.

For every grid point and fold ``i`` a *trial* trains ``base`` + the point's values on the train
(calibration) period of the basins of the other folds and scores the basins of fold ``i`` on the
same period with that model and its scaler (fitted on the training basins only). The score of a
point is the median NSE over the held-out basins of **all folds pooled** (every basin scored
once, "highest median NSE over all possible parameter configurations"); ``summary.csv`` also
lists the mean of the per-fold medians. Basins without a valid NSE (no observed discharge in the
period) are left out of the medians. Ties go to the earlier point in grid order. Layout::

    <search_dir>/search.yml  folds.csv  results.csv  summary.csv  best_config.yml
    <search_dir>/trials/<point_id>/fold<i>/           ordinary run dir (training basins)
    <search_dir>/trials/<point_id>/fold<i>/heldout/   predictions/metrics/summary_train.*

A rerun skips finished trials and resumes partial ones; ``workers > 1`` runs each trial in its
own ``spawn`` process (guard scripts with ``if __name__ == "__main__":``; a worker that dies
fails only its trial); a trial depends only
on its config and the thread count. :func:`run_ungauged` trains one configuration per fold and
scores every basin once as ungauged (prediction in ungauged basins, PUB).
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr
import yaml
from pydantic import Field, field_validator

from ealstm.config import (
    DataConfig,
    RunConfig,
    _Frozen,
    _resolve_paths,
    expand_config,
    load_config,
    load_run_config,
    parse_config,
    parse_overrides,
    read_yaml_mapping,
    validate_model,
)
from ealstm.data.assemble import resolve_basins
from ealstm.data.cache import load_basin_arrays
from ealstm.data.scaling import Scaler
from ealstm.data.splits import basin_folds, fold_split, fold_table
from ealstm.device import select_device
from ealstm.errors import ConfigError, SearchError
from ealstm.evaluation.predict import is_current_prediction, predict_period
from ealstm.evaluation.run import load_trained_model, save_evaluation
from ealstm.experiment.pool import Execution, pin_threads, run_tasks, task_threads
from ealstm.experiment.runner import member_finished, run_member, same_config
from ealstm.io import load_json, save_csv, save_yaml, write_text
from ealstm.progress import track
from ealstm.runs.paths import RunPaths
from ealstm.simulation.simulate import Simulation

log = logging.getLogger(__name__)

#: The grid of the paper's Appendix B (7 x 4 x 4 x 2 = 224 points).
PAPER_GRID: dict[str, list[Any]] = {
    "model.hidden_size": [64, 96, 128, 156, 196, 224, 256], "model.dropout": [0.0, 0.25, 0.4, 0.5],
    "data.seq_length": [90, 180, 270, 365], "model.num_layers": [1, 2]}
SCORE_PERIOD = "train"  # held-out basins are scored on the calibration period
HELDOUT = "heldout"
_SECTIONS = ("data", "model", "train", "evaluation")
_NOT_IN_GRID = ("data.basins", "data.basin_file")


class SearchConfig(_Frozen):
    """A base run config, a grid of dotted keys and the basin folds of a search."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    search_dir: Path
    base: dict[str, Any]
    grid: dict[str, list[Any]] = Field(default_factory=lambda: copy.deepcopy(PAPER_GRID))
    k: int = Field(4, ge=2)
    fold_seed: int = 0

    @field_validator("base")
    @classmethod
    def _base_has_no_run_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [key for key in ("name", "runs_dir") if key in value]
        if bad:
            raise ValueError(f"base.{bad[0]} is set per trial (trials/<point>/fold<i>); remove it")
        return value

    @field_validator("grid", mode="before")
    @classmethod
    def _flatten_grid(cls, value: Any) -> Any:
        return _flatten(value) if isinstance(value, dict) else value

    @field_validator("grid")
    @classmethod
    def _valid_grid(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            if key.split(".")[0] not in _SECTIONS or "." not in key or key in _NOT_IN_GRID:
                raise ValueError(f"grid key {key!r} must be <section>.<key> with section in "
                                 f"{_SECTIONS}, not {_NOT_IN_GRID} (the folds set the basins)")
            dumped = [json.dumps(v, sort_keys=True) for v in values]
            if not values or len(set(dumped)) != len(dumped):
                raise ValueError(f"grid.{key} must list distinct values, got {values}")
        return value

    def to_dict(self) -> dict[str, Any]:
        """Plain, YAML-safe representation (paths as strings)."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class Trial:
    """One training on the basins of ``raw``, scored on ``heldout`` over ``period``."""

    label: str
    raw: dict[str, Any]
    heldout: tuple[str, ...]
    period: str


@dataclass(frozen=True)
class SearchResult:
    """Tables of a finished search, the winning grid values and the path of ``best_config.yml``."""

    search_dir: Path
    results: pd.DataFrame
    summary: pd.DataFrame
    best: dict[str, Any]
    best_config: Path


def _flatten(grid: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"dropout": [..]}}`` -> ``{"model.dropout": [..]}`` (nested keys win)."""
    flat: dict[str, Any] = {}
    for key, value in grid.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def grid_points(grid: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    """Expand ``grid`` (first key varies slowest) into ``point_id -> {dotted key: value}``."""
    short = {key: key.rsplit(".", 1)[-1] for key in grid}
    if len(set(short.values())) < len(short):
        short = {key: key for key in grid}
    points = {}
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, values, strict=True))
        points["_".join(f"{short[key]}-{_slug(v)}" for key, v in params.items())] = params
    if len(points) < len(list(itertools.product(*grid.values()))):
        raise ConfigError("grid values give equal point ids; use values that print differently")
    return points


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9.+]+", "-", json.dumps(value, sort_keys=True)).strip("-")


def _trial(base: dict[str, Any], params: dict[str, Any], folds: list[list[str]], fold: int,
           runs_dir: Path, period: str) -> Trial:
    """Run config of ``base`` + ``params`` on the training basins of split ``fold``."""
    train_basins, heldout = fold_split(folds, fold)
    raw = expand_config(base, params)
    data = {k: v for k, v in (raw.get("data") or {}).items() if k != "basin_file"}
    raw = {"name": f"fold{fold}", "runs_dir": str(runs_dir), **raw,
           "data": {**data, "basins": train_basins}}
    return Trial(f"{runs_dir.name}/fold{fold}", raw, tuple(heldout), period)


def plan_search(cfg: SearchConfig) -> tuple[list[list[str]], dict[str, list[Trial]]]:
    """Folds and ``point_id -> trials`` of ``cfg``; every grid point is validated first.

    Raises
    ------
    ConfigError
        Naming each bad grid point, its values and the bad keys.
    """
    base = parse_config({"name": cfg.name, **cfg.base}, source=f"base of search {cfg.name!r}")
    folds = basin_folds(resolve_basins(base.data), cfg.k, cfg.fold_seed)
    trials, errors = {}, []
    for pid, params in grid_points(cfg.grid).items():
        runs_dir = cfg.search_dir / "trials" / pid
        trials[pid] = [_trial(cfg.base, params, folds, i, runs_dir, SCORE_PERIOD)
                       for i in range(cfg.k)]
        try:
            parse_config(trials[pid][0].raw, source=f"of grid point {pid} {params}")
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors))
    return folds, trials


def load_search_config(path: Path, overrides: list[str] | None = None) -> SearchConfig:
    """Read, override (``grid.model.dropout=[0.4]``) and validate a search YAML file."""
    path = Path(path)
    raw = read_yaml_mapping(path, "search config")
    folder = path.parent.resolve()
    if raw.get("search_dir") is not None:
        raw["search_dir"] = str((folder / Path(raw["search_dir"]).expanduser()).resolve())
    if isinstance(raw.get("base"), dict):
        raw["base"] = _resolve_paths(raw["base"], folder)
    raw["grid"] = _flatten(raw.get("grid") or copy.deepcopy(PAPER_GRID))
    raw = expand_config(raw, parse_overrides(overrides or []))
    cfg = validate_model(SearchConfig, raw, str(path), "search config")
    plan_search(cfg)
    return cfg


# --- held-out prediction ----------------------------------------------------------------------


def predict_heldout(run_dir: Path, basins: tuple[str, ...], period: str,
                    epoch: int | None = None, device: str | None = None) -> xr.Dataset:
    """Predict ``basins`` (not trained on) with a run's model and its training scaler."""
    paths, cfg = RunPaths(Path(run_dir)), load_run_config(Path(run_dir))
    seen = sorted(set(basins) & set(resolve_basins(cfg.data)))
    if seen:
        raise ConfigError(f"basins {seen} are training basins of {run_dir}, not held out")
    scaler = Scaler.from_dict(load_json(paths.scaler))
    data = _heldout_data(cfg.data, basins)
    scaled = scaler.transform(load_basin_arrays(data))
    model, state = load_trained_model(paths.root, epoch)
    torch_device = select_device(device or cfg.train.device)
    ds = predict_period(model.to(torch_device), scaled, scaler, data.period(period),
                        Simulation.of(cfg), torch_device)
    ds.attrs.update(run=str(paths.root), epoch=int(state["epoch"]), period=period)
    return ds


def _heldout_data(data: DataConfig, basins: tuple[str, ...]) -> DataConfig:
    return DataConfig.model_validate({**data.model_dump(), "basins": list(basins),
                                      "basin_file": None})


def trial_finished(trial: Trial) -> bool:
    """Whether the trial is trained with its config and its held-out basins are scored."""
    cfg = parse_config(trial.raw)
    heldout = RunPaths(cfg.run_dir / HELDOUT)
    summary = heldout.summary(trial.period)
    if not (member_finished(cfg, ()) and summary.is_file()
            and is_current_prediction(heldout.predictions(trial.period))):
        return False  # held-out predictions without `clip_negative` predate the fidelity fixes
    saved = load_json(summary)
    return (saved.get("epoch") == cfg.train.epochs and saved.get("basins") == list(trial.heldout)
            and same_config(load_run_config(cfg.run_dir).to_dict(), cfg.to_dict()))


def _trial_task(trial: Trial, execution: Execution, progress: bool = False) -> str:
    """Train (resume, or reuse) one trial and score its held-out basins, with a thread cap."""
    with task_threads(execution):
        cfg = pin_threads(parse_config(trial.raw), execution)
        run_member(cfg, (), progress)
        ds = predict_heldout(cfg.run_dir, trial.heldout, trial.period, cfg.train.epochs)
        save_evaluation(ds, cfg.run_dir / HELDOUT, trial.period, epoch=cfg.train.epochs,
                        basins=list(trial.heldout))
        return str(cfg.run_dir)


def run_trials(trials: list[Trial], execution: Execution | None = None) -> dict[str, str]:
    """Run the unfinished trials through the shared pool; return ``label -> error`` of failures."""
    execution = execution or Execution()
    execution.check()
    todo = [t for t in trials if not trial_finished(t)]
    log.info("%d trials, %d to train or score", len(trials), len(todo))
    data = [parse_config(t.raw).data for t in todo]
    data += [_heldout_data(d, t.heldout) for d, t in zip(data, todo, strict=True)]
    outcomes = run_tasks({t.label: (_trial_task, (t, execution)) for t in todo}, execution, data)
    per_trial = not execution.runs_here(len(todo))  # serial: bars per epoch
    return _collect(track(outcomes, len(todo), "trials", execution.progress and per_trial,
                          leave=True))


def _collect(outcomes: Any) -> dict[str, str]:
    failures = {}
    for label, outcome in outcomes:
        try:
            log.info("finished trial %s: %s", label, outcome())
        except Exception as exc:  # noqa: BLE001 - one failing trial must not stop the others
            log.error("trial %s failed: %s", label, exc, exc_info=exc)
            failures[label] = f"{type(exc).__name__}: {exc}"
    return failures


def _raise_failures(failures: dict[str, str], n_trials: int, what: str) -> None:
    if failures:
        lines = "\n".join(f"  {label}: {msg}" for label, msg in failures.items())
        raise SearchError(f"{len(failures)} of {n_trials} trials of {what} failed (rerun to "
                          f"retry them):\n{lines}")


# --- search -----------------------------------------------------------------------------------


def run_search(cfg: SearchConfig, execution: Execution | None = None) -> SearchResult:
    """Run (or continue) the search and write results, summary and ``best_config.yml``.

    Raises
    ------
    ConfigError
        A grid point is invalid (before anything is trained).
    SearchError
        Some trials failed; the tables are written first, ``best_config.yml`` only when every
        trial finished.
    """
    folds, trials = plan_search(cfg)
    cfg.search_dir.mkdir(parents=True, exist_ok=True)
    save_yaml(cfg.search_dir / "search.yml", cfg.to_dict())
    save_csv(cfg.search_dir / "folds.csv", fold_table(folds), index=False)
    every = [t for point in trials.values() for t in point]
    failures = run_trials(every, execution)
    points = grid_points(cfg.grid)
    results, summary = _tables(points, trials, failures, cfg.k)
    save_csv(cfg.search_dir / "results.csv", results, index=False)
    save_csv(cfg.search_dir / "summary.csv", summary, index=False)
    _raise_failures(failures, len(every), f"search {cfg.name!r}")
    best = points[summary.loc[0, "point_id"]]
    return SearchResult(cfg.search_dir, results, summary, best, _write_best(cfg, summary, best))


def _tables(points: dict[str, dict], trials: dict[str, list[Trial]], failures: dict[str, str],
            k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``results`` (point x fold) and ``summary`` (point, best first; NSE pooled over folds)."""
    results, summary = [], []
    for pid, point in trials.items():
        scores = {i: _heldout_nse(t) for i, t in enumerate(point) if t.label not in failures}
        results += [{"point_id": pid, **points[pid], "fold": i, "n_basins": len(t.heldout),
                     "median_nse": scores[i].median() if i in scores else float("nan"),
                     "status": failures.get(t.label, "ok")} for i, t in enumerate(point)]
        pooled = pd.concat(scores.values()) if len(scores) == k else pd.Series([], dtype=float)
        fold_medians = pd.Series([s.median() for s in scores.values()], dtype=float)
        summary.append({"point_id": pid, **points[pid], "median_nse": pooled.median(),
                        "mean_nse": pooled.mean(), "mean_fold_median": fold_medians.mean(),
                        "n_nse_le_0": int((pooled <= 0).sum()),
                        "n_basins": int(pooled.notna().sum()), "n_folds_ok": len(scores)})
    summary = pd.DataFrame(summary).sort_values("median_nse", ascending=False, kind="stable")
    return pd.DataFrame(results), summary.reset_index(drop=True)


def _heldout_nse(trial: Trial) -> pd.Series:
    path = RunPaths(Path(trial.raw["runs_dir"]) / trial.raw["name"] / HELDOUT)
    return pd.read_csv(path.metrics(trial.period), dtype={"basin": str})["nse"]


def _write_best(cfg: SearchConfig, summary: pd.DataFrame, best: dict[str, Any]) -> Path:
    """Write the base config with the winning values as a run config for ``ealstm train``."""
    raw = {"name": f"{cfg.name}_best", "runs_dir": str(cfg.search_dir / "runs"),
           **expand_config(cfg.base, best)}
    run = parse_config(raw, source=f"best config of search {cfg.name!r}")
    header = (f"# Best of {len(summary)} grid points of search {cfg.name!r} ({cfg.k}-fold CV "
              f"over basins): {best}\n# pooled median NSE of the held-out basins "
              f"(calibration period): {summary.loc[0, 'median_nse']:.4f}\n")
    path = cfg.search_dir / "best_config.yml"
    write_text(path, header + yaml.safe_dump(run.to_dict(), sort_keys=False))
    return path


# --- prediction in ungauged basins --------------------------------------------------------------


def run_ungauged(cfg: RunConfig | Path | str, k: int = 4, fold_seed: int = 0,
                 period: str = "test", execution: Execution | None = None,
                 out_dir: Path | None = None) -> Path:
    """Score every basin of one configuration once as ungauged (k-fold CV over basins).

    Fold ``i``'s model (``<out_dir>/fold<i>/``) is trained on the other folds' basins; the
    held-out predictions of all folds are joined in ``<out_dir>/predictions_<period>.nc``,
    ``metrics_<period>.csv`` and ``summary_<period>.json``; ``folds.csv`` maps basin -> fold.

    Parameters
    ----------
    cfg
        Run config, or a path to a run config YAML file (e.g. a search's ``best_config.yml``).
    out_dir
        Default: ``<runs_dir>/<name>_ungauged_k<k>``.
    """
    cfg = cfg if isinstance(cfg, RunConfig) else load_config(Path(cfg))
    cfg.data.period(period)
    out = Path(out_dir) if out_dir else cfg.runs_dir / f"{cfg.name}_ungauged_k{k}"
    basins = resolve_basins(cfg.data)
    folds = basin_folds(basins, k, fold_seed)
    base = {key: v for key, v in cfg.to_dict().items() if key not in ("name", "runs_dir")}
    trials = [_trial(base, {}, folds, i, out, period) for i in range(k)]
    save_csv(out / "folds.csv", fold_table(folds), index=False)
    _raise_failures(run_trials(trials, execution), k,
                    f"ungauged run {out}")
    parts = [xr.load_dataset(RunPaths(out / f"fold{i}" / HELDOUT).predictions(period))
             for i in range(k)]
    joined = xr.concat(parts, dim="basin", combine_attrs="override").sel(basin=list(basins))
    joined.attrs = {**{key: v for key, v in joined.attrs.items() if key not in ("run", "epoch")},
                    "mode": "ungauged", "k": k, "fold_seed": fold_seed}
    save_evaluation(joined, out, period, mode="ungauged", k=k, fold_seed=fold_seed)
    return out
