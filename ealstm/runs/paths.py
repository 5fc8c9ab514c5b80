"""Layout of a run directory: every artifact of a run has one fixed place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunPaths:
    """Paths of the artifacts of the run in ``root``.

    ``tag`` is a file-name suffix for results of a non-default epoch (``"_epoch001"``).
    """

    root: Path

    @property
    def config(self) -> Path:
        """Resolved configuration the run was trained with."""
        return self.root / "config.yml"

    @property
    def scaler(self) -> Path:
        """Training-period statistics used to standardise inputs and target."""
        return self.root / "scaler.json"

    @property
    def nse_star_std(self) -> Path:
        """Per-basin s(b) of the NSE* loss: ``basin, std_mm_day, n_days`` (raw discharge)."""
        return self.root / "nse_star_std.csv"

    @property
    def train_log(self) -> Path:
        """One CSV row per epoch: loss, learning rate, time, validation score."""
        return self.root / "train_log.csv"

    @property
    def tensorboard(self) -> Path:
        """TensorBoard event files (written when ``tensorboard`` is installed)."""
        return self.root / "tensorboard"

    @property
    def best_epoch(self) -> Path:
        """Best validation epoch and its median NSE (written when the run is validated)."""
        return self.root / "best_epoch.json"

    @property
    def predict_dir(self) -> Path:
        """Folder of ``ealstm predict`` outputs (kept apart from the run's own results)."""
        return self.root / "predict"

    def predictions(self, period: str, tag: str = "") -> Path:
        """Return the path of the netCDF with ``qobs`` and ``qsim`` [basin, date] of ``period``."""
        return self.root / f"predictions_{period}{tag}.nc"

    def metrics(self, period: str, tag: str = "") -> Path:
        """Return the path of the CSV with one row of metrics per basin for ``period``."""
        return self.root / f"metrics_{period}{tag}.csv"

    def summary(self, period: str, tag: str = "") -> Path:
        """Return the path of the JSON summary (mean, median, #NSE <= 0) of ``period``."""
        return self.root / f"summary_{period}{tag}.json"
