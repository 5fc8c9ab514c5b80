"""Fine-tuning: start a new run from the weights and scaler of a trained run.

The paper's section 4 suggests a regional model as the starting point of local models: train
on many basins, then continue on one basin (or another period). ``train.init_from`` names the
trained run and ``train.init_epoch`` its checkpoint (default: its best validation epoch, else
its last; the resolved epoch is recorded in the new run's ``config.yml``). The new run is an
ordinary run directory with its own epochs, checkpoints and logs; the optimizer starts fresh
(the learning-rate schedule of the new config applies from its epoch 1). The source run's
scaler is reused unchanged, so the new basins are standardised exactly as the model was
trained, and the architecture must match (the same ``model`` section and input sizes).
"""

from __future__ import annotations

import logging
from pathlib import Path

from torch import nn

from ealstm.config import RunConfig, load_run_config
from ealstm.data.scaling import Scaler
from ealstm.errors import CheckpointError
from ealstm.io import load_json
from ealstm.runs.best_epoch import default_epoch
from ealstm.runs.checkpoint import load_checkpoint
from ealstm.runs.paths import RunPaths

log = logging.getLogger(__name__)

#: Model settings that may differ from the source run: they act in training or pick how the
#: same equations are computed, not what the weights are.
TRAINING_ONLY = frozenset({"dropout", "initial_forget_bias", "implementation"})


def resolve_init(cfg: RunConfig) -> tuple[RunConfig, dict | None]:
    """Fill in ``train.init_epoch`` of a fine-tuning config and load its checkpoint.

    Returns the config and the source checkpoint (loaded and checked once, here; ``None`` and
    the config unchanged without ``init_from``), for :func:`init_weights`.

    Raises
    ------
    CheckpointError
        ``init_from`` is not a trained run or is the run being trained, or the architecture
        differs (checked here, before the new run folder is created).
    """
    source = cfg.train.init_from
    if source is None:
        return cfg, None
    source = Path(source)
    load_run_config(source)  # a clear error if it is no run directory
    if source.resolve() == Path(cfg.run_dir).resolve():
        raise CheckpointError(f"train.init_from {source} is the run being trained; give the new "
                              "run another `name`")
    epoch = cfg.train.init_epoch or default_epoch(source)
    train = cfg.train.model_copy(update={"init_epoch": epoch})
    cfg = cfg.model_copy(update={"train": train})
    state = load_checkpoint(source, epoch)
    check_architecture(cfg, state)
    return cfg, state


def init_scaler(cfg: RunConfig) -> Scaler | None:
    """Return the scaler of ``train.init_from`` (reused unchanged), or ``None`` to fit one."""
    if cfg.train.init_from is None:
        return None
    return Scaler.from_dict(load_json(RunPaths(Path(cfg.train.init_from)).scaler))


def check_architecture(cfg: RunConfig, state: dict) -> None:
    """Raise unless the model of ``cfg`` has the architecture of the checkpoint ``state``.

    Raises
    ------
    CheckpointError
        Another ``model`` section (but dropout, forget-gate bias, implementation) or other
        input sizes.
    """
    n_static = len(cfg.data.static_attributes) if cfg.model.use_static else 0
    own = {**cfg.model.model_dump(mode="json"), "n_dynamic": len(cfg.data.dynamic_inputs),
           "n_static": n_static}
    theirs = {**state["model_config"], **state["model_args"]}
    diff = sorted(k for k in (own.keys() | theirs.keys()) - TRAINING_ONLY
                  if own.get(k) != theirs.get(k))
    if diff:
        details = ", ".join(f"{k}: {theirs.get(k)!r} there, {own.get(k)!r} here" for k in diff)
        raise CheckpointError(f"cannot fine-tune from {cfg.train.init_from}: the model "
                              f"architecture differs ({details}); use the `model` section and "
                              "inputs of that run")


def init_weights(model: nn.Module, cfg: RunConfig, state: dict | None) -> None:
    """Load the weights of the checkpoint ``state`` of :func:`resolve_init` into ``model``.

    Nothing happens without one (no ``init_from``).
    """
    if state is None:
        return
    model.load_state_dict(state["model"])
    log.info("initialised the model from %s, epoch %d (optimizer starts fresh)",
             cfg.train.init_from, state["epoch"])
