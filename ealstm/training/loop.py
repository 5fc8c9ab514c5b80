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
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ealstm.config import RunConfig, TrainConfig
from ealstm.data.arrays import BasinArrays
from ealstm.data.prepare import prepare_data
from ealstm.data.scaling import Scaler
from ealstm.data.windows import (
    SampleIndex,
    gather_batch,
    iterate_batches,
    nse_star_std,
    sample_index,
    thin_index,
)
from ealstm.device import select_device
from ealstm.errors import NoValidDataError, TrainingDivergedError
from ealstm.io import load_json, save_csv, save_json
from ealstm.locks import folder_lock
from ealstm.metrics import METRICS
from ealstm.models import build_model
from ealstm.progress import is_terminal
from ealstm.runs.best_epoch import BestEpoch, format_epoch_line, save_best_epoch
from ealstm.runs.checkpoint import (
    save_checkpoint,
)
from ealstm.runs.paths import RunPaths
from ealstm.simulation.simulate import Simulation, simulate, to_discharge
from ealstm.training.epoch_log import EpochLog
from ealstm.training.finetune import init_scaler, init_weights, resolve_init
from ealstm.training.losses import LOSSES
from ealstm.training.run_dir import (
    check_resumable,
    prepare_run_dir,
    remove_orphans,
    restore,
)
from ealstm.training.threads import calibrate_threads

log = logging.getLogger(__name__)


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

    Raises
    ------
    RunLockedError
        Another process is training in the same run folder (or running it as an experiment
        member). Evaluation takes no lock and may run alongside.
    """
    cfg, source = resolve_init(cfg)
    if resume:  # before the lock, which would create the folder of a missing run
        check_resumable(RunPaths(cfg.run_dir))
    with folder_lock(cfg.run_dir):
        return _train_locked(cfg, resume, progress, source)


def _train_locked(cfg: RunConfig, resume: bool, progress: bool, source: dict | None) -> Path:
    """Body of :func:`train`, run while holding the run folder's lock.

    ``source`` is the checkpoint to fine-tune from (:func:`resolve_init`), else ``None``.
    """
    paths = RunPaths(cfg.run_dir)
    remove_orphans(paths)
    prepare_run_dir(paths, cfg, resume)
    device = select_device(cfg.train.device)
    scaler = Scaler.from_dict(load_json(paths.scaler)) if resume else init_scaler(cfg)
    scaled, scaler = prepare_data(cfg, scaler)
    save_json(paths.scaler, scaler.to_dict())
    train_slice = scaled.time_slice(cfg.data.train_period)
    index = _training_index(scaled, cfg, train_slice)
    q_std = _loss_std(paths, scaled, train_slice, index)
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model, len(scaled.dynamic_names), n_static_inputs(cfg, scaled))
    if not resume:
        init_weights(model, cfg, source)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr_at(1))
    last, saved_threads = restore(paths, model, optimizer) if resume else (0, None)
    start = last + 1
    threads = _set_threads(cfg, device, model, len(index), saved_threads)
    epoch_log = EpochLog(paths, keep_before=start)
    best = BestEpoch.from_log(epoch_log.rows, cfg.train.patience)
    for epoch in range(start, cfg.train.epochs + 1):
        if best.stopped:
            log.info("not resuming: the run stopped early (best epoch %d); raise "
                     "train.patience to continue", best.epoch)
            break
        row = _run_epoch(model, optimizer, scaled, index, q_std, cfg, epoch, device, progress,
                         target_period=train_slice)
        stop = _validate(row, best, model, scaled, scaler, cfg, device)
        epoch_log.append(row)
        save_checkpoint(paths.root, epoch,
                        _checkpoint_state(model, optimizer, cfg, scaled, threads))
        if "val_median_nse" in row:  # it changes only when a validation ran; written after
            save_best_epoch(paths.root, best)  # the checkpoint, so it never names a missing one
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


def _loss_std(paths: RunPaths, scaled: BasinArrays, train_slice: slice,
              index: SampleIndex) -> torch.Tensor:
    """Return the NSE* ``s(b)`` per basin row (raw mm/day, eq. 13); save ``nse_star_std.csv``.

    Written for every loss, so that a user can check the weights NSE* uses (or would use).
    """
    table = nse_star_std(scaled, train_slice, index)
    save_csv(paths.nse_star_std, table)
    return torch.tensor(table["std_mm_day"].to_numpy(), dtype=torch.float32)


def _set_threads(cfg: RunConfig, device: torch.device, model: nn.Module, n_samples: int,
                 saved: int | None) -> int:
    """Fix the run's CPU thread count once: the config's, the resumed run's, or measured.

    Float sums depend on the thread count, so it stays the same for the whole run and is stored
    in every checkpoint: a resumed run continues with the count it started with and ends
    bit-identical to an uninterrupted one. ``train.num_threads`` overrides both.
    """
    if cfg.train.num_threads:
        torch.set_num_threads(cfg.train.num_threads)
    elif saved:
        torch.set_num_threads(saved)
        log.info("CPU threads: %d, as the run was started with", saved)
    elif device.type == "cpu":
        calibrate_threads(model, min(cfg.train.batch_size, n_samples), cfg.data.seq_length,
                          cfg.train.predict_last_n, available=torch.get_num_threads())
    return torch.get_num_threads()


def _checkpoint_state(model: nn.Module, optimizer: torch.optim.Optimizer, cfg: RunConfig,
                      scaled: BasinArrays, num_threads: int) -> dict:
    model_args = {"n_dynamic": len(scaled.dynamic_names), "n_static": n_static_inputs(cfg, scaled)}
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "model_args": model_args, "model_config": cfg.model.model_dump(mode="json"),
            "num_threads": num_threads}


def _run_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, scaled: BasinArrays,
               index: SampleIndex, q_std: torch.Tensor, cfg: RunConfig, epoch: int,
               device: torch.device, progress: bool, target_period: slice | None = None) -> dict:
    """One pass over the shuffled training samples; returns the epoch's log row.

    Targets outside ``target_period`` (the training period) are masked, so no observation of
    another period enters the loss.
    """
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
    for number, (basin_idx, time_idx) in enumerate(bar, start=1):
        batch = gather_batch(scaled, basin_idx, time_idx, cfg.data.seq_length, n_last,
                             target_period=target_period)
        x_s = batch.x_s.to(device) if cfg.model.use_static else None
        y_hat = model(batch.x_d.to(device), x_s, predict_last_n=n_last)
        loss = loss_fn(y_hat, batch.y.to(device), q_std[batch.basin].to(device), tcfg.nse_eps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm, loss_value = _check_finite(model, loss, epoch, number)
        if tcfg.clip_grad_norm:  # same as clip_grad_norm_, reusing the norm computed above
            nn.utils.clip_grads_with_norm_(model.parameters(), tcfg.clip_grad_norm, grad_norm)
        optimizer.step()
        losses.append(loss_value)
        bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    return {"epoch": epoch, "lr": lr, "train_loss": float(np.mean(losses)),
            "seconds": round(time.perf_counter() - start, 3), "n_samples": len(index)}


def _check_finite(model: nn.Module, loss: torch.Tensor, epoch: int, batch: int
                  ) -> tuple[torch.Tensor, float]:
    """Return the total gradient norm and the loss value; stop a diverging run before the step.

    Loss and norm come to the host in one transfer (one device sync per batch); the loss value
    is the one logged.

    Raises
    ------
    TrainingDivergedError
        The loss or the gradient norm of batch ``batch`` of ``epoch`` is NaN or infinite; no
        checkpoint of this epoch is written.
    """
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    norm = nn.utils.get_total_norm(grads) if grads else torch.zeros(())
    values = torch.stack([loss.detach().float(), norm.float().to(loss.device)])
    loss_value, norm_value = values.tolist()
    if not (math.isfinite(loss_value) and math.isfinite(norm_value)):
        raise TrainingDivergedError(
            f"training diverged in epoch {epoch}, batch {batch}: loss {loss_value}, gradient "
            f"norm {norm_value}; lower train.learning_rate, set train.clip_grad_norm, or check "
            "the inputs for extreme values (no checkpoint of this epoch was written)")
    return norm, loss_value


def _epoch_seed(seed: int, epoch: int) -> int:
    """Derive a distinct, reproducible torch seed from (run seed, epoch)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def validation_median_nse(model: nn.Module, scaled: BasinArrays, scaler: Scaler,
                          cfg: RunConfig, device: torch.device) -> float:
    """Median NSE over basins of the validation period (basins without data skipped)."""
    period = cfg.data.period("validation")
    time_slice = scaled.time_slice(period)
    how = Simulation.of(cfg)
    sim = to_discharge(scaler, simulate(model, scaled, time_slice, how, device),
                       how.clip_negative)
    obs = scaled.observed[:, time_slice]
    scores = []
    for o, s in zip(obs, sim, strict=True):
        try:
            scores.append(METRICS["nse"](o, s))
        except (NoValidDataError, ValueError):
            continue
    return float(np.median(scores)) if scores else float("nan")
