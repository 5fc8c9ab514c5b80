"""Layout of a run directory and of an experiment folder: every artifact has one fixed place.

:class:`RunPaths` names the files of one run (also of an ensemble, a search trial's held-out
basins and an ungauged run, which hold the same evaluation files). :class:`ExperimentPaths` is
the one reader of the experiment layout::

    <experiment_dir>/experiment.yml
    <experiment_dir>/<configuration>/seed<seed>/     a run directory per member
    <experiment_dir>/<configuration>/ensemble/       the ensemble mean's evaluation files
    <experiment_dir>/tables/  report/                written by ``ealstm report``
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Folder of a configuration's ensemble mean.
ENSEMBLE = "ensemble"
#: The resolved experiment spec in the experiment folder.
SPEC_FILE = "experiment.yml"
#: Names a configuration may not have (they are other parts of the experiment folder).
RESERVED_NAMES = ("tables", "report", SPEC_FILE)
_SEED_DIR = re.compile(r"^seed(-?\d+)$")


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

    def analysis(self, name: str) -> Path:
        """Folder of the outputs of analysis ``name`` (``sensitivity``, ``embedding``, ...)."""
        return self.root / "analysis" / name

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


@dataclass(frozen=True)
class ExperimentPaths:
    """The folders of the experiment in ``root`` (see the module docstring)."""

    root: Path

    @property
    def spec(self) -> Path:
        """The resolved experiment config ``experiment.yml``."""
        return self.root / SPEC_FILE

    def member(self, configuration: str, seed: int) -> RunPaths:
        """Run directory of member ``(configuration, seed)``."""
        return RunPaths(self.root / configuration / f"seed{seed}")

    def analysis(self, configuration: str, name: str) -> Path:
        """Folder of analysis ``name`` over all members of ``configuration``."""
        return self.root / configuration / "analysis" / name

    def ensemble(self, configuration: str) -> RunPaths:
        """Folder of the ensemble mean of ``configuration``."""
        return RunPaths(self.root / configuration / ENSEMBLE)

    def read_spec(self) -> dict[str, Any]:
        """Return the parsed ``experiment.yml``; an empty dict when absent or unreadable."""
        try:
            raw = yaml.safe_load(self.spec.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return {}
        return raw if isinstance(raw, dict) else {}

    def declared_configurations(self) -> list[str]:
        """Return the configuration names in ``experiment.yml`` order (empty without one)."""
        listed = self.read_spec().get("configurations") or []
        if isinstance(listed, Mapping):
            return [str(name) for name in listed]
        return [str(c["name"]) if isinstance(c, Mapping) else str(c) for c in listed]

    def configurations(self) -> list[str]:
        """Return the declared configurations, else the folders with members or an ensemble."""
        declared = self.declared_configurations()
        if declared or not self.root.is_dir():
            return declared
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and p.name not in RESERVED_NAMES
                      and ((p / ENSEMBLE).is_dir() or self.seeds(p.name)))

    def seeds(self, configuration: str, period: str | None = None) -> dict[int, Path]:
        """``seed -> member folder`` (``seed<int>/``), by seed; with ``period`` only scored ones.

        A member counts as scored on ``period`` when it has ``metrics_<period>.csv``.
        """
        folder = self.root / configuration
        found = {}
        for child in folder.iterdir() if folder.is_dir() else []:
            match = _SEED_DIR.match(child.name)
            if match and child.is_dir() and (
                    period is None or RunPaths(child).metrics(period).is_file()):
                found[int(match.group(1))] = child
        return dict(sorted(found.items()))
