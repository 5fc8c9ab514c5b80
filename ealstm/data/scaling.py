"""Standardisation of inputs, target and attributes with statistics of the training period.

The scaler is fitted once on the training period of the training basins, saved as
``scaler.json`` in the run directory and reused unchanged for validation and test, so that no
information from those periods leaks into the inputs (Kratzert et al. 2019, section 2.4).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ealstm.config import Period
from ealstm.data.arrays import BasinArrays
from ealstm.errors import ConfigError, NoValidDataError

log = logging.getLogger(__name__)

#: Version of the ``to_dict`` layout; ``from_dict`` rejects other versions.
SCALER_FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class Scaler:
    """Mean and standard deviation of every input, the target and every attribute.

    ``x_scaled = (x - mean) / std`` per feature. Dynamic inputs and the target use all finite
    values of all basins in the training period; attributes use all basins. A standard deviation
    of zero (a constant feature, or any attribute of a single basin) is replaced by 1.

    Attributes
    ----------
    dynamic_mean, dynamic_std
        float64 ``[feature]``.
    static_mean, static_std
        float64 ``[attribute]``.
    target_mean, target_std
        Of ``qobs`` in mm/day.
    dynamic_names, static_names
        Feature names the statistics belong to; checked in :meth:`transform`.
    """

    dynamic_mean: np.ndarray
    dynamic_std: np.ndarray
    static_mean: np.ndarray
    static_std: np.ndarray
    target_mean: float
    target_std: float
    dynamic_names: tuple[str, ...]
    static_names: tuple[str, ...]

    @classmethod
    def fit(cls, arrays: BasinArrays, period: Period) -> Scaler:
        """Compute the statistics from the ``period`` (training) slice of ``arrays``.

        Raises
        ------
        NoValidDataError
            If an input or the target has no finite value in the period, or an attribute
            none in any basin.
        """
        sl = arrays.time_slice(period)
        where = f"data.train_period {period.start}..{period.end}"
        dynamic_mean, dynamic_std = _feature_stats(
            [arrays.dynamic[:, sl, i] for i in range(len(arrays.dynamic_names))],
            arrays.dynamic_names, where)
        static_mean, static_std = _feature_stats(
            [arrays.static[:, i] for i in range(len(arrays.static_names))],
            arrays.static_names, f"the attributes of the {len(arrays.basins)} basin(s)")
        target_mean, target_std = _feature_stats([arrays.target[:, sl]], ("qobs",), where)
        return cls(
            dynamic_mean=dynamic_mean, dynamic_std=dynamic_std,
            static_mean=static_mean, static_std=static_std,
            target_mean=float(target_mean[0]), target_std=float(target_std[0]),
            dynamic_names=tuple(arrays.dynamic_names), static_names=tuple(arrays.static_names))

    def transform(self, arrays: BasinArrays) -> BasinArrays:
        """Return a standardised float32 copy of ``arrays`` (inputs, attributes and target).

        The raw discharge is kept unchanged as ``target_raw`` of the copy.

        Raises
        ------
        ConfigError
            If the feature names of ``arrays`` differ from those the scaler was fitted on.
        """
        _check_names("dynamic inputs", "data.dynamic_inputs", self.dynamic_names,
                     arrays.dynamic_names)
        _check_names("static attributes", "data.static_attributes", self.static_names,
                     arrays.static_names)
        return dataclasses.replace(
            arrays,
            dynamic=_standardise(arrays.dynamic, self.dynamic_mean, self.dynamic_std),
            static=_standardise(arrays.static, self.static_mean, self.static_std),
            target=self.scale_target(arrays.target), target_raw=arrays.target)

    def scale_target(self, q: np.ndarray) -> np.ndarray:
        """Discharge in mm/day -> standardised target (float32, NaN stays NaN)."""
        return _standardise(np.asarray(q), np.float64(self.target_mean),
                            np.float64(self.target_std))

    def unscale_target(self, y: np.ndarray) -> np.ndarray:
        """Standardised target (e.g. the model's output) -> discharge in mm/day (float32)."""
        y = np.asarray(y, dtype=np.float64)
        return (y * self.target_std + self.target_mean).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe representation: names, lists of floats and the format version."""
        return {
            "format_version": SCALER_FORMAT_VERSION,
            "dynamic_names": list(self.dynamic_names),
            "dynamic_mean": [float(v) for v in self.dynamic_mean],
            "dynamic_std": [float(v) for v in self.dynamic_std],
            "static_names": list(self.static_names),
            "static_mean": [float(v) for v in self.static_mean],
            "static_std": [float(v) for v in self.static_std],
            "target_mean": float(self.target_mean),
            "target_std": float(self.target_std),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scaler:
        """Rebuild a scaler from :meth:`to_dict` output (e.g. a run's ``scaler.json``).

        Raises
        ------
        ConfigError
            If keys are missing, the version is unknown or lengths do not match the names.
        """
        _check_layout(data)
        return cls(
            dynamic_mean=np.asarray(data["dynamic_mean"], dtype=np.float64),
            dynamic_std=np.asarray(data["dynamic_std"], dtype=np.float64),
            static_mean=np.asarray(data["static_mean"], dtype=np.float64),
            static_std=np.asarray(data["static_std"], dtype=np.float64),
            target_mean=float(data["target_mean"]), target_std=float(data["target_std"]),
            dynamic_names=tuple(data["dynamic_names"]), static_names=tuple(data["static_names"]))


def _feature_stats(columns: Sequence[np.ndarray], names: Sequence[str],
                   where: str) -> tuple[np.ndarray, np.ndarray]:
    """Nan-aware mean and population std of each column; std 0 -> 1 with one warning.

    Raises
    ------
    NoValidDataError
        If a column has no finite value.
    """
    means, stds = np.zeros(len(names)), np.ones(len(names))
    for i, (values, name) in enumerate(zip(columns, names, strict=True)):
        finite = values[np.isfinite(values)].astype(np.float64)
        if finite.size == 0:
            raise NoValidDataError(f"{name} has no finite value in {where}; the scaler cannot "
                                   "be fitted (check the period and the basin list)")
        means[i], stds[i] = finite.mean(), finite.std()
    constant = [name for name, std in zip(names, stds, strict=True) if std == 0.0]
    if constant:
        log.warning("%s are constant in %s; their standard deviation is set to 1, so they are "
                    "only centred", constant, where)
    stds[stds == 0.0] = 1.0
    return means, stds


def _standardise(values: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(values - mean) / std`` along the last axis, as a new float32 array."""
    out = values.astype(np.float32, copy=True)
    out -= np.asarray(mean, dtype=np.float32)
    out /= np.asarray(std, dtype=np.float32)
    return out


def _check_names(what: str, key: str, fitted: Sequence[str], given: Sequence[str]) -> None:
    """Raise :class:`ConfigError` when ``given`` names differ from the ``fitted`` ones."""
    if tuple(fitted) == tuple(given):
        return
    missing = [n for n in fitted if n not in given]
    extra = [n for n in given if n not in fitted]
    detail = f"missing {missing}, unexpected {extra}" if missing or extra else "order differs"
    raise ConfigError(f"the scaler was fitted on {what} {list(fitted)} but the arrays have "
                      f"{list(given)} ({detail}); use the run's own {key}")


def _check_layout(data: dict[str, Any]) -> None:
    """Validate the keys, version and lengths of a scaler dict."""
    keys = ("dynamic_names", "dynamic_mean", "dynamic_std", "static_names", "static_mean",
            "static_std", "target_mean", "target_std")
    missing = [k for k in keys if k not in data]
    if missing:
        raise ConfigError(f"scaler data lacks keys {missing}; is it a scaler.json of ealstm?")
    version = data.get("format_version", SCALER_FORMAT_VERSION)
    if version != SCALER_FORMAT_VERSION:
        raise ConfigError(f"scaler format version {version} is not supported "
                          f"(expected {SCALER_FORMAT_VERSION})")
    for part in ("dynamic", "static"):
        n = len(data[f"{part}_names"])
        if len(data[f"{part}_mean"]) != n or len(data[f"{part}_std"]) != n:
            raise ConfigError(f"scaler data: {part}_mean/{part}_std do not have one value per "
                              f"name in {part}_names ({n})")
