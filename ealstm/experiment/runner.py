"""Run an experiment: train and evaluate every member, then build the ensembles.

Each member ``(configuration, seed)`` is an ordinary run directory,
``<experiment_dir>/<configuration>/seed<seed>/`` (``docs/architecture.md``). Running an
experiment again continues it: finished members (last checkpoint, and an evaluation of it for
every period) are skipped, members with a partial checkpoint are resumed exactly
(``train(..., resume=True)``), the rest start from scratch. A failing member is logged with its
configuration and seed, the others go on, the ensembles are built from the members that
finished, and then :class:`ExperimentError` lists the failures.

Parallelism
-----------
Members go through the pool that the studies share (:mod:`ealstm.experiment.pool`), as an
:class:`~ealstm.experiment.pool.Execution` says: ``workers=1`` trains the members one after
another in this process; ``workers=N`` runs up to N at once, each in its own ``spawn`` process
(:func:`ealstm.workers.run_in_processes`; a script calling it must use
``if __name__ == "__main__":``). A worker that dies (killed, out of memory)
fails only its member, which has no final checkpoint and is retried on the next run.
Each member uses ``Execution.threads`` torch threads (default
``max(1, cpu_count // workers)``). A member depends only on its config and the thread count, so
``workers=1`` and ``workers=N`` with the same ``threads`` give bit-identical members.

Cluster (Dask)
--------------
With ``scheduler="tcp://host:8786"`` the members go to a ``dask.distributed`` cluster instead
(``pip install 'ealstm[cluster]'``)::

    dask scheduler                                          # prints tcp://host:8786
    dask worker tcp://host:8786 --nworkers 4 --nthreads 1   # on every compute machine

Workers need ``ealstm`` installed and must see the data, the cache and the experiment folder
under the same paths (shared file system). Set ``workers`` to the members a machine runs at once
(``--nworkers``), or ``Execution.threads`` (``--threads-per-worker``), so that torch threads
match its cores. A member runs
on one device (``train.device``); with several GPUs per machine start one worker per GPU with
``CUDA_VISIBLE_DEVICES`` set. Data-parallel training of one member across several GPUs or
machines is **not implemented**: the parallelism is across members only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from ealstm.config import RunConfig, parse_config
from ealstm.errors import CheckpointError, ExperimentError, WorkerDiedError
from ealstm.evaluation.predict import is_current_prediction
from ealstm.evaluation.run import evaluate_run
from ealstm.experiment.config import ExperimentConfig, validate_members
from ealstm.experiment.ensemble import build_ensembles
from ealstm.experiment.pool import Execution, pin_threads, run_tasks, task_threads
from ealstm.io import load_json, save_yaml
from ealstm.locks import folder_lock
from ealstm.progress import track
from ealstm.runs.checkpoint import list_checkpoints
from ealstm.runs.paths import RunPaths
from ealstm.training.loop import train
from ealstm.training.run_dir import check_current_loss_weights

log = logging.getLogger(__name__)

Member = tuple[str, int]  # (configuration, seed)
_DIED_HINT = (" (or a script that calls run_experiment(workers>1) without "
              "`if __name__ == '__main__':`)")


def run_experiment(exp: ExperimentConfig, execution: Execution | None = None) -> Path:
    """Train and evaluate every member of ``exp`` and build the ensembles.

    Parameters
    ----------
    exp
        The experiment; every member config is validated before anything runs.
    execution
        Workers, torch threads per member, Dask scheduler and progress bars
        (:class:`~ealstm.experiment.pool.Execution`); default: one member after another here.

    Returns
    -------
    Path
        ``exp.experiment_dir``.

    Raises
    ------
    ConfigError
        A member config is invalid (raised before anything is trained).
    MissingDependencyError
        An ``ImportError``: ``scheduler`` is given but ``dask.distributed`` is not installed.
    ExperimentError
        Some members failed (after the ensembles of the others were written).
    """
    execution = execution or Execution()
    configs = validate_members(exp)
    execution.check()
    exp.experiment_dir.mkdir(parents=True, exist_ok=True)
    save_yaml(exp.experiment_dir / "experiment.yml", exp.to_dict())
    todo = {m: cfg for m, cfg in configs.items() if not member_finished(cfg, exp.periods)}
    log.info("experiment %s: %d members, %d to train or evaluate", exp.name, len(configs),
             len(todo))
    failures = _dispatch(todo, exp.periods, execution)
    _finish(exp, failures)
    return exp.experiment_dir


def _finish(exp: ExperimentConfig, failures: dict[Member, str]) -> None:
    """Build the ensembles of the members that finished; then raise if any member failed."""
    for configuration in exp.configurations:
        seeds = [s for s in exp.seeds if (configuration, s) not in failures]
        for period in exp.periods if seeds else []:  # no ensemble without a finished member
            build_ensembles(exp.experiment_dir, configuration, period, seeds)
    if failures:
        lines = "\n".join(f"  {c}/seed{s}: {msg}" for (c, s), msg in failures.items())
        n_members = len(exp.configurations) * len(exp.seeds)
        raise ExperimentError(f"{len(failures)} of {n_members} members of experiment "
                              f"{exp.name!r} failed (rerun to retry them):\n{lines}")


# --- one member -------------------------------------------------------------------------------


def member_finished(cfg: RunConfig, periods: Sequence[str]) -> bool:
    """Whether the member has its last checkpoint and an evaluation of it for every period."""
    paths = RunPaths(cfg.run_dir)
    return cfg.train.epochs in list_checkpoints(paths.root) and all(
        _evaluated(paths, period, cfg.train.epochs) for period in periods)


def _evaluated(paths: RunPaths, period: str, epoch: int) -> bool:
    """Whether ``period`` is evaluated at ``epoch`` under the current evaluation rules.

    Predictions without the ``clip_negative`` attribute predate the fidelity fixes (unclipped
    ``qsim``, round-tripped ``qobs``) and are evaluated again.
    """
    files = (paths.predictions(period), paths.metrics(period), paths.summary(period))
    return (all(f.is_file() for f in files) and load_json(files[2]).get("epoch") == epoch
            and is_current_prediction(files[0]))


def run_member(cfg: RunConfig, periods: Sequence[str], progress: bool = False) -> Path:
    """Train (resume, or skip if trained) one member, then evaluate what is not evaluated yet.

    The member's run folder is locked throughout (:func:`ealstm.locks.folder_lock`): a second
    experiment process reaching the same member fails it with ``RunLockedError``.
    """
    with folder_lock(cfg.run_dir, what="experiment member"):
        return _run_member_locked(cfg, periods, progress)


def _run_member_locked(cfg: RunConfig, periods: Sequence[str], progress: bool) -> Path:
    checkpoints = list_checkpoints(cfg.run_dir)
    if cfg.train.epochs not in checkpoints:
        train(cfg, resume=bool(checkpoints), progress=progress)
    else:
        _check_trained_with(cfg)
    paths = RunPaths(cfg.run_dir)
    for period in periods:
        if not _evaluated(paths, period, cfg.train.epochs):
            evaluate_run(paths.root, period, epoch=cfg.train.epochs)
    return paths.root


def _check_trained_with(cfg: RunConfig) -> None:
    """Refuse to reuse a trained member trained before the fidelity fixes or with another config.

    The epochs may differ (a finished member of a longer experiment is reused).
    """
    check_current_loss_weights(RunPaths(cfg.run_dir), action="reuse")
    saved = yaml.safe_load(RunPaths(cfg.run_dir).config.read_text(encoding="utf-8"))
    new = cfg.to_dict()
    saved.setdefault("train", {})["epochs"] = new["train"]["epochs"]
    if not same_config(parse_config(saved, source=str(cfg.run_dir)).to_dict(), new):
        raise CheckpointError(f"{cfg.run_dir} was trained with another config than the "
                              "experiment's; delete it or use another experiment_dir")


def same_config(saved: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether two config dicts agree but in ``train.num_threads``.

    The thread count is set per execution (:func:`~ealstm.experiment.pool.pin_threads`) and may
    change on resume, so a member trained with ``--threads-per-worker 4`` is reused by a run
    with another count, as before the count was written into the config.
    """
    def strip(raw: dict[str, Any]) -> dict[str, Any]:
        return {**raw, "train": {**raw.get("train", {}), "num_threads": None}}
    return strip(saved) == strip(new)


def _member_task(raw: dict[str, Any], periods: list[str], execution: Execution,
                 progress: bool = False) -> str:
    """Run one member in a worker (process, Dask worker or this process) with a thread cap."""
    with task_threads(execution):
        return str(run_member(pin_threads(parse_config(raw), execution), periods, progress))


# --- dispatch ---------------------------------------------------------------------------------


def _dispatch(todo: dict[Member, RunConfig], periods: list[str],
              execution: Execution) -> dict[Member, str]:
    """Run the members; return ``member -> error message`` of those that failed."""
    tasks = {m: (_member_task, (cfg.to_dict(), list(periods), execution))
             for m, cfg in todo.items()}
    outcomes = run_tasks(tasks, execution, [cfg.data for cfg in todo.values()])
    per_member = not execution.runs_here(len(tasks))  # serial: bars per epoch
    return _collect(outcomes, execution.progress and per_member, len(tasks))


def _collect(outcomes: Iterable[tuple[Member, Callable[[], Any]]], progress: bool,
             total: int | None = None) -> dict[Member, str]:
    """Fetch each member's result (``outcome()``); log and return the failures."""
    failures = {}
    for member, outcome in track(outcomes, total, "members", progress, leave=True):
        try:
            log.info("finished %s/seed%d: %s", *member, outcome())
        except Exception as exc:  # noqa: BLE001 - one failing member must not stop the others
            log.error("member %s/seed%d failed: %s", *member, exc, exc_info=exc)
            hint = _DIED_HINT if isinstance(exc, WorkerDiedError) else ""
            failures[member] = f"{type(exc).__name__}: {exc}{hint}"
    return failures
