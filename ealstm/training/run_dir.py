"""Where a training run lives on disk: start it, refuse to overwrite it, resume it faithfully.

A new run refuses a folder that already holds a trained run; a resumed run must have a
checkpoint, the faithful NSE* weights (``nse_star_std.csv``) and the config it started with
(only where it runs may change: :data:`RESUMABLE_CHANGES`). Temporary files of a killed run
are removed first.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from ealstm.config import RunConfig, load_run_config
from ealstm.errors import CheckpointError
from ealstm.io import remove_orphan_tmp_files, save_yaml
from ealstm.runs.checkpoint import checkpoint_dir, latest_checkpoint, load_checkpoint
from ealstm.runs.paths import RunPaths

log = logging.getLogger(__name__)


def prepare_run_dir(paths: RunPaths, cfg: RunConfig, resume: bool) -> None:
    """Create the run dir; refuse to overwrite a trained run, refuse to resume a missing one."""
    if resume:
        check_resumable(paths)  # again under the lock
        check_current_loss_weights(paths)
        check_same_config(paths, cfg)
    elif latest_checkpoint(paths.root) is not None:
        raise CheckpointError(f"run directory {paths.root} already holds a trained run; use "
                              "--resume to continue it or choose another `name`")
    else:
        paths.root.mkdir(parents=True, exist_ok=True)
    save_yaml(paths.config, cfg.to_dict())


def check_resumable(paths: RunPaths) -> None:
    """Refuse to resume a run without a checkpoint (or without a folder)."""
    if latest_checkpoint(paths.root) is None:
        raise CheckpointError(f"cannot resume: {paths.root} has no checkpoint; start it "
                              "without --resume")


def remove_orphans(paths: RunPaths) -> None:
    """Delete ``.tmp`` files of checkpoints and of train's own artifacts left by a killed run.

    Temporary files of other writers (``ealstm evaluate`` may run alongside) are left alone.
    """
    remove_orphan_tmp_files(checkpoint_dir(paths.root))
    for artifact in (paths.config, paths.scaler, paths.train_log):
        remove_orphan_tmp_files(paths.root, name=artifact.name)


def check_current_loss_weights(paths: RunPaths, action: str = "resume") -> None:
    """Refuse to resume or reuse a run trained before the NSE* weights were the raw-discharge std.

    Every run since writes ``nse_star_std.csv`` before its first checkpoint; a run with
    checkpoints but without it was trained with the old ``s(b)`` (std of the standardised
    target) and could see targets outside its training period: resuming it would train one
    model on two different losses, and reusing it would mix it with faithful members.
    """
    if not paths.nse_star_std.is_file():
        raise CheckpointError(
            f"cannot {action} {paths.root}: it has checkpoints but no {paths.nse_star_std.name}, "
            "so it was trained with the pre-fix NSE* weights (std of the standardised target); "
            "retrain it under a new `name`")


#: Keys a resumed run may change: where it runs and caches, not what it learns.
RESUMABLE_CHANGES = (("train", "epochs"), ("train", "device"), ("train", "num_threads"),
                     ("train", "patience"), ("data", "cache_dir"), ("model", "implementation"))


def check_same_config(paths: RunPaths, cfg: RunConfig) -> None:
    """Refuse to resume with another config than the run started with.

    The epochs may grow, and the device, thread count and cache folder may change (a run
    started on a GPU can be finished on a CPU); the saved ``config.yml`` records the new values.
    """
    saved = load_run_config(paths.root).to_dict()
    new = cfg.to_dict()
    for section, key in RESUMABLE_CHANGES:
        saved[section][key] = new[section][key]
    diff = sorted(f"{section}.{key}" for section in new if isinstance(new[section], dict)
                  for key in new[section] if new[section][key] != saved[section].get(key))
    diff += [key for key in new if not isinstance(new[key], dict) and new[key] != saved[key]]
    if diff:
        hint = ("; a train.lr_schedule is stretched over train.epochs, so other epochs give "
                "other rates" if "train.learning_rate" in diff else "")
        raise CheckpointError(f"cannot resume {paths.root}: the config differs from the one it "
                              f"was started with in {diff}{hint}")


def restore(paths: RunPaths, model: nn.Module, optimizer: torch.optim.Optimizer
             ) -> tuple[int, int | None]:
    """Load the latest checkpoint into ``model`` and ``optimizer``.

    Returns its epoch and the CPU thread count the run trained with (``None`` for checkpoints
    written before it was recorded).
    """
    state = load_checkpoint(paths.root)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    log.info("resuming %s after epoch %d", paths.root, state["epoch"])
    threads = state.get("num_threads")
    return int(state["epoch"]), int(threads) if threads else None
