"""Per-epoch training log: a CSV file, mirrored to TensorBoard when it is installed."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from ealstm.io import save_csv
from ealstm.runs.paths import RunPaths

log = logging.getLogger(__name__)


class EpochLog:
    """Append one row per epoch to ``train_log.csv`` (rewritten atomically each time).

    On resume, rows of epochs at or after ``keep_before`` are dropped: those epochs run again.
    """

    def __init__(self, paths: RunPaths, keep_before: int = 1) -> None:
        self.paths = paths
        self.rows: list[dict[str, Any]] = []
        if keep_before > 1 and paths.train_log.is_file():
            old = pd.read_csv(paths.train_log)
            self.rows = old[old["epoch"] < keep_before].to_dict("records")
        self.writer = _tensorboard_writer(paths)

    def append(self, row: dict[str, Any]) -> None:
        """Record one epoch's values and persist the whole log."""
        self.rows.append(row)
        save_csv(self.paths.train_log, pd.DataFrame(self.rows), index=False)
        if self.writer is not None:
            for key, value in row.items():
                if key != "epoch":
                    self.writer.add_scalar(key, value, row["epoch"])
            self.writer.flush()

    def close(self) -> None:
        """Close the TensorBoard writer, if any."""
        if self.writer is not None:
            self.writer.close()


def _tensorboard_writer(paths: RunPaths) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.debug("tensorboard not installed; the epoch log is written as CSV only")
        return None
    return SummaryWriter(log_dir=str(paths.tensorboard))
