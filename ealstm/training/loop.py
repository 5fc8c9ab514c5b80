"""The training loop: config -> data -> model -> epochs -> checkpoints (nanoGPT-shaped).

Sequence-to-one (the paper, ``train.predict_last_n = 1``): one target per window of
``data.seq_length`` days. Sequence-to-sequence (``predict_last_n = n > 1``): the loss covers the
last ``n`` days of each window, the first ``seq_length - n`` days are warm-up, and each epoch
visits every ``n``-th window end of a basin (random offset), so every target day enters the
loss about once per epoch at ~``n`` times less compute. MSE and NSE* weight each (basin, day)
term exactly as in sequence-to-one.

Reproducibility: the shuffling order and the dropout masks of epoch ``e`` are drawn from
generators seeded with ``(seed, e)``, and each epoch ends with a checkpoint. A run killed after
epoch ``e`` and resumed with ``resume=True`` therefore continues exactly as the uninterrupted
run would have, and ends bit-identical to it on the same CPU and thread count.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ealstm.config import RunConfig, TrainConfig, load_run_config
from ealstm.data.cache import BasinArrays, load_basin_arrays
from ealstm.data.scaling import Scaler
from ealstm.data.windows import (
    SampleIndex,
    basin_target_std,
    gather_batch,
    iterate_batches,
    sample_index,
    thin_index,
)
from ealstm.errors import CheckpointError, NoValidDataError
from ealstm.evaluation.metrics import METRICS
from ealstm.evaluation.predict import Simulation, simulate
from ealstm.io import load_json, save_json, save_yaml
from ealstm.models import build_model
from ealstm.progress import is_terminal
from ealstm.rundir import RunPaths
from ealstm.training.best_epoch import BestEpoch, format_epoch_line, save_best_epoch
from ealstm.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from ealstm.training.epoch_log import EpochLog
from ealstm.training.finetune import init_scaler, init_weights, resolve_init
from ealstm.training.losses import LOSSES

log = logging.getLogger(__name__)


def select_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def prepare_data(cfg: RunConfig, scaler: Scaler | None = None) -> tuple[BasinArrays, Scaler]:
    """Load the basin arrays and standardise them (fitting the scaler on the train period)."""
    arrays = load_basin_arrays(cfg.data)
    scaler = scaler or Scaler.fit(arrays, cfg.data.train_period)
    return scaler.transform(arrays), scaler


def n_static_inputs(cfg: RunConfig, scaled: BasinArrays) -> int:
    """Return the number of static inputs the model sees (0 without statics)."""
    return len(scaled.static_names) if cfg.model.use_static else 0


def train(cfg: RunConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train the model of ``cfg`` and return its run directory.

    Parameters
    ----------
    cfg
        Validated run configuration.
    resume
        Continue a run from its last checkpoint instead of starting a new one.
    progress
        Show a progress bar with the running loss (only when stderr is a terminal; a log
        gets one line per epoch).
    """
    cfg = resolve_init(cfg)
    paths = RunPaths(cfg.run_dir)
    _prepare_run_dir(paths, cfg, resume)
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    device = select_device(cfg.train.device)
    scaler = Scaler.from_dict(load_json(paths.scaler)) if resume else init_scaler(cfg)
    scaled, scaler = prepare_data(cfg, scaler)
    save_json(paths.scaler, scaler.to_dict())
    train_slice = scaled.time_slice(cfg.data.train_period)
    index = _training_index(scaled, cfg, train_slice)
    q_std = torch.from_numpy(basin_target_std(scaled.target, train_slice)).float()
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model, len(scaled.dynamic_names), n_static_inputs(cfg, scaled))
    if not resume:
        init_weights(model, cfg)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr_at(1))
    start = _restore(paths, model, optimizer) + 1 if resume else 1
    epoch_log = EpochLog(paths, keep_before=start)
    best = BestEpoch.from_log(epoch_log.rows, cfg.train.patience)
    for epoch in range(start, cfg.train.epochs + 1):
        if best.stopped:
            log.info("not resuming: the run stopped early (best epoch %d); raise "
                     "train.patience to continue", best.epoch)
            break
        row = _run_epoch(model, optimizer, scaled, index, q_std, cfg, epoch, device, progress)
        stop = _validate(row, best, model, scaled, scaler, cfg, device)
        epoch_log.append(row)
        save_checkpoint(paths.root, epoch, _checkpoint_state(model, optimizer, cfg, scaled))
        save_best_epoch(paths.root, best)
        log.info(format_epoch_line(row, cfg.train.epochs))
        if stop:
            log.info("early stopping after epoch %d: no better validation median NSE in %d "
                     "validations; best epoch %d (NSE %.3f)", epoch, best.since_best,
                     best.epoch, best.score)
            break
    epoch_log.close()
    return paths.root


def _validate(row: dict, best: BestEpoch, model: nn.Module, scaled: BasinArrays,
              scaler: Scaler, cfg: RunConfig, device: torch.device) -> bool:
    """Score the validation period if due (into ``row``); return whether to stop early."""
    if not cfg.train.validate_every or row["epoch"] % cfg.train.validate_every:
        return False
    start = time.perf_counter()
    row["val_median_nse"] = validation_median_nse(model, scaled, scaler, cfg, device)
    row["val_seconds"] = round(time.perf_counter() - start, 3)  # `seconds` stays training only
    return best.update(row["epoch"], row["val_median_nse"])


def _prepare_run_dir(paths: RunPaths, cfg: RunConfig, resume: bool) -> None:
    """Create the run dir; refuse to overwrite a trained run, refuse to resume a missing one."""
    has_checkpoint = latest_checkpoint(paths.root) is not None
    if resume and not has_checkpoint:
        raise CheckpointError(f"cannot resume: {paths.root} has no checkpoint; start it "
                              "without --resume")
    if not resume and has_checkpoint:
        raise CheckpointError(f"run directory {paths.root} already holds a trained run; use "
                              "--resume to continue it or choose another `name`")
    if resume:
        _check_same_config(paths, cfg)
    else:
        paths.root.mkdir(parents=True, exist_ok=True)
    save_yaml(paths.config, cfg.to_dict())


#: Keys a resumed run may change: where it runs and caches, not what it learns.
RESUMABLE_CHANGES = (("train", "epochs"), ("train", "device"), ("train", "num_threads"),
                     ("train", "patience"), ("data", "cache_dir"))


def _check_same_config(paths: RunPaths, cfg: RunConfig) -> None:
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
        raise CheckpointError(f"cannot resume {paths.root}: the config differs from the one it "
                              f"was started with in {diff}")


def _training_index(scaled: BasinArrays, cfg: RunConfig, train_slice: slice) -> SampleIndex:
    index = sample_index(scaled.dynamic, scaled.target, cfg.data.seq_length, train_slice,
                         target_window=cfg.train.predict_last_n)
    log.info("training samples: %d (dropped: %d with missing inputs, %d with missing target)",
             len(index), index.n_dropped_missing_input, index.n_dropped_missing_target)
    if len(index) == 0:
        raise NoValidDataError(
            f"no training sample with complete inputs and an observed target in "
            f"data.train_period {cfg.data.train_period.start}..{cfg.data.train_period.end}")
    return index


def _restore(paths: RunPaths, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Load the latest checkpoint into ``model`` and ``optimizer``; return its epoch."""
    state = load_checkpoint(paths.root)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    log.info("resuming %s after epoch %d", paths.root, state["epoch"])
    return int(state["epoch"])


def _checkpoint_state(model: nn.Module, optimizer: torch.optim.Optimizer, cfg: RunConfig,
                      scaled: BasinArrays) -> dict:
    model_args = {"n_dynamic": len(scaled.dynamic_names), "n_static": n_static_inputs(cfg, scaled)}
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "model_args": model_args, "model_config": cfg.model.model_dump(mode="json")}


def _run_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, scaled: BasinArrays,
               index: SampleIndex, q_std: torch.Tensor, cfg: RunConfig, epoch: int,
               device: torch.device, progress: bool) -> dict:
    """One pass over the shuffled training samples; returns the epoch's log row."""
    tcfg: TrainConfig = cfg.train
    lr = tcfg.lr_at(epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr
    torch.manual_seed(_epoch_seed(tcfg.seed, epoch))
    rng = np.random.default_rng([tcfg.seed, epoch])
    loss_fn = LOSSES[tcfg.loss]
    model.train()
    n_last = tcfg.predict_last_n
    index = thin_index(index, n_last, rng)
    batches = iterate_batches(index, tcfg.batch_size, shuffle=True, rng=rng)
    total = -(-len(index) // tcfg.batch_size)
    bar = tqdm(batches, total=total, desc=f"epoch {epoch}", leave=False,
               disable=not (progress and is_terminal()))
    start, losses = time.perf_counter(), []
    for basin_idx, time_idx in bar:
        batch = gather_batch(scaled, basin_idx, time_idx, cfg.data.seq_length, n_last)
        x_s = batch.x_s.to(device) if cfg.model.use_static else None
        y_hat = model(batch.x_d.to(device), x_s, predict_last_n=n_last)
        loss = loss_fn(y_hat, batch.y.to(device), q_std[batch.basin].to(device), tcfg.nse_eps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if tcfg.clip_grad_norm:
            nn.utils.clip_grad_norm_(model.parameters(), tcfg.clip_grad_norm)
        optimizer.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    return {"epoch": epoch, "lr": lr, "train_loss": float(np.mean(losses)),
            "seconds": round(time.perf_counter() - start, 3), "n_samples": len(index)}


def _epoch_seed(seed: int, epoch: int) -> int:
    """Derive a distinct, reproducible torch seed from (run seed, epoch)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def validation_median_nse(model: nn.Module, scaled: BasinArrays, scaler: Scaler,
                          cfg: RunConfig, device: torch.device) -> float:
    """Median NSE over basins of the validation period (basins without data skipped)."""
    period = cfg.data.period("validation")
    time_slice = scaled.time_slice(period)
    sim = scaler.unscale_target(simulate(model, scaled, time_slice, Simulation.of(cfg), device))
    obs = scaler.unscale_target(scaled.target[:, time_slice])
    scores = []
    for o, s in zip(obs, sim, strict=True):
        try:
            scores.append(METRICS["nse"](o, s))
        except (NoValidDataError, ValueError):
            continue
    return float(np.median(scores)) if scores else float("nan")
