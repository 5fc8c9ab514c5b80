"""The best validation epoch of a run, early stopping, and the default epoch of evaluation.

With ``train.validate_every = N`` the median NSE over the basins of the validation period is
computed every ``N`` epochs. The epoch with the highest score so far is written to
``best_epoch.json`` in the run directory after each validation; ``ealstm evaluate`` and
``ealstm predict`` use it by default (and say so in the log). With ``train.patience = P``
training stops after ``P`` validations in a row without a new best score (early stopping).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ealstm.errors import CheckpointError, ConfigError
from ealstm.io import load_json, save_json
from ealstm.runs.paths import RunPaths
from ealstm.runs.checkpoint import list_checkpoints

log = logging.getLogger(__name__)


@dataclass
class BestEpoch:
    """Best validation score seen so far and the validations since it (mutable tracker).

    Attributes
    ----------
    patience
        Validations without improvement after which :meth:`update` asks to stop; ``None``:
        never stop early.
    epoch, score
        Best epoch and its median validation NSE (``None`` / ``-inf`` before any finite score).
    since_best
        Validations since the best one.
    """

    patience: int | None = None
    epoch: int | None = None
    score: float = -math.inf
    since_best: int = 0

    @property
    def stopped(self) -> bool:
        """Whether patience ran out (a resumed run that stopped early does not continue)."""
        return self.patience is not None and self.since_best >= self.patience

    def update(self, epoch: int, score: float) -> bool:
        """Record the validation score of ``epoch``; return ``True`` if training should stop."""
        if math.isfinite(score) and score > self.score:
            self.epoch, self.score, self.since_best = epoch, float(score), 0
        else:
            self.since_best += 1
        return self.stopped

    @classmethod
    def from_log(cls, rows: Iterable[Mapping[str, Any]], patience: int | None) -> BestEpoch:
        """Rebuild the tracker from the rows of ``train_log.csv`` (for a resumed run)."""
        tracker = cls(patience)
        for row in rows:
            score = row.get("val_median_nse")
            if score is not None and not (isinstance(score, float) and math.isnan(score)):
                tracker.update(int(row["epoch"]), float(score))
        return tracker

    def to_dict(self) -> dict[str, Any]:
        """JSON content of ``best_epoch.json``."""
        return {"epoch": self.epoch, "val_median_nse": self.score,
                "validations_since_best": self.since_best, "patience": self.patience}


def best_epoch_path(run_dir: Path) -> Path:
    """Return the path of ``best_epoch.json`` in a run directory."""
    return RunPaths(Path(run_dir)).best_epoch


def save_best_epoch(run_dir: Path, tracker: BestEpoch) -> None:
    """Write ``best_epoch.json`` (atomically) once the tracker has a best epoch."""
    if tracker.epoch is not None:
        save_json(best_epoch_path(run_dir), tracker.to_dict())


def load_best_epoch(run_dir: Path) -> int | None:
    """Best validation epoch of a run, or ``None`` if it was never validated."""
    path = best_epoch_path(run_dir)
    if not path.is_file():
        return None
    epoch = load_json(path).get("epoch")
    return None if epoch is None else int(epoch)


def default_epoch(run_dir: Path) -> int:
    """Epoch that evaluation uses without ``--epoch``: the best validated one, else the last.

    Raises
    ------
    ConfigError
        If ``run_dir`` is not a run directory (no ``config.yml``).
    CheckpointError
        If the run has no checkpoint.
    """
    if not RunPaths(Path(run_dir)).config.is_file():
        raise ConfigError(f"{run_dir} is not a run directory: config.yml is missing")
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise CheckpointError(f"run {run_dir} has no checkpoint; train it first (`ealstm train`)")
    best = load_best_epoch(run_dir)
    if best is not None and best in checkpoints:
        return best
    return max(checkpoints)


def resolve_epoch(run_dir: Path, epoch: int | None) -> tuple[int, bool]:
    """Return ``(epoch to use, whether it is the run's default epoch)`` and log the choice."""
    default = default_epoch(run_dir)
    if epoch is None:
        best = load_best_epoch(run_dir)
        why = "best validation epoch (best_epoch.json)" if best == default else "last epoch"
        log.info("using epoch %d of %s: the %s; choose another with --epoch", default,
                 run_dir, why)
        return default, True
    return int(epoch), int(epoch) == default


def epoch_tag(epoch: int, is_default: bool) -> str:
    """File-name suffix of results of a non-default epoch: ``"_epoch001"``; ``""`` otherwise."""
    return "" if is_default else f"_epoch{epoch:03d}"


def format_epoch_line(row: Mapping[str, Any], n_epochs: int) -> str:
    """One tidy log line per epoch, e.g. ``epoch 3/30  lr 1.0e-03  loss 0.1234  42.1 s``.

    The time is the epoch's training plus validation seconds.
    """
    parts = [f"epoch {row['epoch']}/{n_epochs}", f"lr {row['lr']:.1e}",
             f"loss {row['train_loss']:.4f}"]
    if "val_median_nse" in row:
        parts.append(f"val NSE {row['val_median_nse']:.2f}")
    parts.append(f"{row['seconds'] + row.get('val_seconds', 0.0):.1f} s")
    return "  ".join(parts)
