"""Checkpoints: one file per epoch, written atomically, loadable with ``weights_only=True``.

A checkpoint holds the model and optimizer state, the epoch and what is needed to rebuild the
model (``model_args``, the resolved config). Nothing is pickled beyond tensors, numbers and
strings, so loading never executes code. Each checkpoint has a SHA-256 sidecar
``epoch_NNN.pt.sha256`` (:func:`ealstm.io.atomic_checked_path`) that is verified on load: a
corrupt file is a :class:`~ealstm.errors.CheckpointError` that names it and the epoch to resume
from, never silently wrong weights. Checkpoints written before sidecars existed load with a
warning.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch

from ealstm.errors import CheckpointError, IntegrityError
from ealstm.io import atomic_checked_path, verify_checksum

log = logging.getLogger(__name__)

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
    with atomic_checked_path(path) as tmp:
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
        If the run has no such checkpoint, or the file is corrupt (checksum mismatch) or
        cannot be read.
    """
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise CheckpointError(f"run {run_dir} has no checkpoint; train it first (`ealstm train`)")
    epoch = max(checkpoints) if epoch is None else epoch
    if epoch not in checkpoints:
        raise CheckpointError(f"run {run_dir} has no checkpoint of epoch {epoch}; "
                              f"available epochs: {sorted(checkpoints)}")
    path = checkpoints[epoch]
    try:
        if not verify_checksum(path):
            log.warning("checkpoint %s has no SHA-256 sidecar; loading it unverified", path)
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same user problem
        reason = str(exc) if isinstance(exc, IntegrityError) else f"cannot read {path}: {exc}"
        raise CheckpointError(f"{reason}; {_previous_epoch_hint(path, epoch, checkpoints)}"
                              ) from exc


def _previous_epoch_hint(path: Path, epoch: int, checkpoints: dict[int, Path]) -> str:
    """How to go on without the bad checkpoint: resume from the previous epoch."""
    earlier = [e for e in checkpoints if e < epoch]
    if not earlier:
        return f"delete {path} and train the run again"
    return (f"delete {path} (and its .sha256) to resume from the checkpoint of epoch "
            f"{max(earlier)} with --resume")
