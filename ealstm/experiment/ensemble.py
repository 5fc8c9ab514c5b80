"""Ensembles of an experiment's members and the long table of all their metrics.

The ensemble of a configuration is the mean of its members' simulated discharge at each time
step (paper sect. 3); it is written like a member, to ``<configuration>/ensemble/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ealstm.errors import CheckpointError, DataNotFoundError
from ealstm.evaluation.predict import CLIP_ATTRIBUTE, is_current_prediction
from ealstm.evaluation.run import Evaluation, save_evaluation
from ealstm.runs.paths import ENSEMBLE, ExperimentPaths, RunPaths


def build_ensembles(experiment_dir: Path, configuration: str, period: str = "test",
                    seeds: Sequence[int] | None = None) -> Evaluation:
    """Average the members' ``qsim`` at each time step and score the ensemble (paper sect. 3).

    The mean is taken in float64 and stored as float32. It is NaN at a step where any member is
    NaN: all members see the same inputs, so they are NaN on the same steps (incomplete input
    windows); averaging over fewer members at some steps would silently change the ensemble.

    Parameters
    ----------
    experiment_dir, configuration
        The members are ``<experiment_dir>/<configuration>/seed<seed>/``.
    period
        Period whose ``predictions_<period>.nc`` are averaged.
    seeds
        Members to use; default: every member with predictions and metrics of ``period``.

    Returns
    -------
    Evaluation
        Files written to ``<configuration>/ensemble/``; the summary records the seeds used.
    """
    paths = ExperimentPaths(Path(experiment_dir))
    folder = paths.root / configuration
    members = _load_members(paths, configuration, period, seeds)
    seeds = list(members)  # the given order, or by seed
    named = {f"seed{s}": members[s] for s in seeds}
    check_clip_settings(folder, period, named)
    ensemble = ensemble_dataset(list(named.values()), list(named), configuration, period)
    return save_evaluation(ensemble, paths.ensemble(configuration).root, period,
                           configuration=configuration, seeds=seeds, n_members=len(seeds))


def _load_members(paths: ExperimentPaths, configuration: str, period: str,
                  seeds: Sequence[int] | None) -> dict[int, xr.Dataset]:
    """``seed -> predictions of period``, each file read once.

    Default ``seeds``: every member with metrics and current predictions (with
    ``clip_negative``) of ``period``.

    Raises
    ------
    DataNotFoundError
        A requested member has no predictions file, or no member has current predictions.
    """
    if seeds is None:
        files = {s: paths.member(configuration, s).predictions(period)
                 for s in paths.seeds(configuration, period)}
        loaded = {s: xr.load_dataset(f) for s, f in files.items() if f.is_file()}
        members = {s: ds for s, ds in loaded.items() if _clip_attribute(ds) is not None}
        missing: list[int] = []
    else:
        files = {s: paths.member(configuration, s).predictions(period) for s in seeds}
        missing = [s for s, f in files.items() if not f.is_file()]
        members = {} if missing else {s: xr.load_dataset(f) for s, f in files.items()}
    if missing or not members:
        raise DataNotFoundError(f"no predictions_{period}.nc of seeds {missing or 'any'} in "
                                f"{paths.root / configuration}; run the experiment first")
    return members


def _clip_attribute(ds: xr.Dataset) -> int | None:
    """Return the ``clip_negative`` attribute of loaded predictions, ``None`` if absent."""
    value = ds.attrs.get(CLIP_ATTRIBUTE)
    return None if value is None else int(value)


def check_clip_settings(folder: Path, period: str, members: dict[str, xr.Dataset]) -> None:
    """Refuse to average members evaluated under different rules for negative simulations.

    Raises
    ------
    CheckpointError
        A member's predictions have no ``clip_negative`` attribute (written before the
        fidelity fixes: ``qsim`` unclipped, ``qobs`` round-tripped), or members differ in it.
    """
    settings = {s: _clip_attribute(ds) for s, ds in members.items()}
    old = [s for s, value in settings.items() if value is None]
    if old:
        raise CheckpointError(
            f"predictions_{period}.nc of members {old} in {folder} predate the fidelity fixes (no "
            "clip_negative attribute); evaluate them again (`ealstm evaluate` or rerun the "
            "experiment)")
    if len(set(settings.values())) > 1:
        raise CheckpointError(f"members of {folder} differ in evaluation.clip_negative in "
                              f"period {period}: {settings}; evaluate them with one setting")


def _evaluated_seeds(folder: Path, period: str) -> list[int]:
    """Seeds with metrics and current predictions (with ``clip_negative``) of ``period``."""
    seeds = ExperimentPaths(folder.parent).seeds(folder.name, period)
    return [s for s, p in seeds.items() if is_current_prediction(RunPaths(p).predictions(period))]


def ensemble_dataset(members: list[xr.Dataset], names: list[str], configuration: str,
                     period: str) -> xr.Dataset:
    """Dataset of the shared ``qobs`` and the mean ``qsim`` of ``members``.

    ``names`` (e.g. ``seed111``) name the members in errors and attributes; the members must
    have the same basins, dates and observations.
    """
    first = members[0]
    for name, ds in zip(names[1:], members[1:], strict=True):
        same = all(np.array_equal(ds[c].values, first[c].values) for c in ("basin", "date"))
        if not same or not np.array_equal(ds["qobs"].values, first["qobs"].values,
                                          equal_nan=True):
            raise CheckpointError(f"member {name} of {configuration} has other basins, dates "
                                  f"or observations in period {period} than {names[0]}")
    qsim = np.stack([ds["qsim"].values for ds in members]).astype(np.float64).mean(axis=0)
    ensemble = first[["qobs"]].copy()
    ensemble["qsim"] = (("basin", "date"), qsim.astype(np.float32), first["qsim"].attrs)
    ensemble.attrs.update(configuration=configuration, period=period, n_members=len(names),
                          members=" ".join(names))
    for key in ("run", "epoch"):
        ensemble.attrs.pop(key, None)
    return ensemble


def collect_metrics(experiment_dir: Path, period: str = "test") -> pd.DataFrame:
    """Long table of every member's and ensemble's metrics of ``period``.

    Returns
    -------
    pandas.DataFrame
        Columns ``configuration``, ``member`` (``seed111``, ..., ``ensemble``), ``basin`` (str)
        and the columns of ``metrics_<period>.csv``; configurations in the order of
        ``experiment.yml``, members by seed with the ensemble last.
    """
    experiment_dir = Path(experiment_dir)
    frames = [pd.read_csv(path, dtype={"basin": str}).assign(configuration=c, member=m)
              for c in _configuration_names(experiment_dir)
              for m, path in _metric_files(experiment_dir / c, period)]
    if not frames:
        raise DataNotFoundError(f"no metrics_{period}.csv under {experiment_dir}; run the "
                                "experiment first")
    frame = pd.concat(frames, ignore_index=True)
    first = ["configuration", "member", "basin"]
    return frame[first + [c for c in frame.columns if c not in first]]


def _configuration_names(experiment_dir: Path) -> list[str]:
    return ExperimentPaths(experiment_dir).configurations()


def _metric_files(folder: Path, period: str) -> list[tuple[str, Path]]:
    paths = ExperimentPaths(folder.parent)
    found = [(f"seed{s}", paths.member(folder.name, s).metrics(period))
             for s in sorted(_evaluated_seeds(folder, period))]
    found.append((ENSEMBLE, paths.ensemble(folder.name).metrics(period)))
    return [(m, path) for m, path in found if path.is_file()]
