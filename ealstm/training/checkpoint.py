"""Checkpoints: one file per epoch, written atomically, loadable with ``weights_only=True``.

A checkpoint holds the model and optimizer state, the epoch and what is needed to rebuild the
model (``model_args``, the resolved config). Nothing is pickled beyond tensors, numbers and
strings, so loading never executes code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from ealstm.errors import CheckpointError
from ealstm.io import atomic_path

_PATTERN = re.compile(r"^epoch_(\d{3,})\.pt$")


def checkpoint_dir(run_dir: Path) -> Path:
    """Folder of the per-epoch checkpoints of a run."""
    return Path(run_dir) / "checkpoints"


def checkpoint_path(run_dir: Path, epoch: int) -> Path:
    """Path of the checkpoint written after ``epoch`` (1-based)."""
    return checkpoint_dir(run_dir) / f"epoch_{epoch:03d}.pt"


def save_checkpoint(run_dir: Path, epoch: int, state: dict[str, Any]) -> Path:
    """Write ``state`` plus the epoch as the checkpoint of ``epoch``, atomically."""
    path = checkpoint_path(run_dir, epoch)
    with atomic_path(path) as tmp:
        torch.save({**state, "epoch": epoch}, tmp)
    return path


def list_checkpoints(run_dir: Path) -> dict[int, Path]:
    """Map epoch -> checkpoint file for every complete checkpoint of a run."""
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return {}
    found = (_PATTERN.match(p.name) for p in folder.iterdir())
    return {int(m.group(1)): folder / m.group(0) for m in found if m}


def latest_checkpoint(run_dir: Path) -> Path | None:
    """Return the checkpoint of the highest epoch, or ``None`` if there is none yet."""
    checkpoints = list_checkpoints(run_dir)
    return checkpoints[max(checkpoints)] if checkpoints else None


def load_checkpoint(run_dir: Path, epoch: int | None = None) -> dict[str, Any]:
    """Load the checkpoint of ``epoch`` (default: the latest) of a run onto the CPU.

    Raises
    ------
    CheckpointError
        If the run has no such checkpoint or the file cannot be read.
    """
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise CheckpointError(f"run {run_dir} has no checkpoint; train it first (`ealstm train`)")
    epoch = max(checkpoints) if epoch is None else epoch
    if epoch not in checkpoints:
        raise CheckpointError(f"run {run_dir} has no checkpoint of epoch {epoch}; "
                              f"available epochs: {sorted(checkpoints)}")
    try:
        return torch.load(checkpoints[epoch], map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user problem
        raise CheckpointError(f"cannot read checkpoint {checkpoints[epoch]}: {exc}") from exc
