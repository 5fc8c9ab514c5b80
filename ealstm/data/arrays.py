"""The in-memory form of a data set: :class:`BasinArrays`, the seam between data and models.

Every reader (:mod:`ealstm.data.readers.datasets`) ends in these arrays, the cache
(:mod:`ealstm.data.cache`) stores them, and scaling, windows, training, evaluation and the
analyses consume them. Kept in its own module so that consumers need not import the cache.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ealstm.config import Period
from ealstm.errors import BasinDataError, ConfigError

#: Columns of :attr:`BasinArrays.coverage`: first/last day with all inputs / a target finite.
COVERAGE_COLUMNS = ("forcing_start", "forcing_end", "qobs_start", "qobs_end")


@dataclass(frozen=True, eq=False)
class BasinArrays:
    """Inputs, target and attributes of a set of basins on one daily date axis.

    Attributes
    ----------
    basins
        8-character basin ids, in the order of the first axis of every array.
    dates
        Daily ``DatetimeIndex`` named ``date``, shared by all basins.
    dynamic
        float32 ``[basin, time, feature]`` meteorological inputs; NaN = missing.
    target
        float32 ``[basin, time]`` discharge (``data.target``, ``qobs`` for CAMELS-US) in mm/day
        (raw or scaled); NaN = missing.
    static
        float32 ``[basin, attribute]`` catchment attributes.
    dynamic_names, static_names
        Names of the last axes of ``dynamic`` and ``static``.
    coverage
        Optional frame indexed by basin with the first and last day of valid forcings and
        streamflow in the raw files (:data:`COVERAGE_COLUMNS`); used in error messages.
    target_raw
        Optional float32 ``[basin, time]`` discharge in mm/day exactly as read, kept by
        :meth:`~ealstm.data.scaling.Scaler.transform` next to the standardised ``target``: the
        observations written to ``predictions_*.nc`` and the NSE* standard deviations come from
        it, never from ``target`` scaled back (float32 round trips turn zero flow into -6.7e-8).
    """

    basins: tuple[str, ...]
    dates: pd.DatetimeIndex
    dynamic: np.ndarray
    target: np.ndarray
    static: np.ndarray
    dynamic_names: tuple[str, ...]
    static_names: tuple[str, ...]
    coverage: pd.DataFrame | None = None
    target_raw: np.ndarray | None = None

    def __post_init__(self) -> None:
        n_basins, n_dates = len(self.basins), len(self.dates)
        expected = {
            "dynamic": (n_basins, n_dates, len(self.dynamic_names)),
            "target": (n_basins, n_dates),
            "static": (n_basins, len(self.static_names)),
        }
        if self.target_raw is not None:
            expected["target_raw"] = (n_basins, n_dates)
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise BasinDataError(f"BasinArrays.{name} has shape {getattr(self, name).shape}, "
                                     f"expected {shape} from the basins, dates and names")

    def time_slice(self, period: Period) -> slice:
        """Return the indices of the closed range ``[period.start, period.end]`` on ``dates``.

        Raises
        ------
        ConfigError
            If the period is not inside the date axis of these arrays.
        """
        start, end = pd.Timestamp(period.start), pd.Timestamp(period.end)
        if len(self.dates) == 0 or start < self.dates[0] or end > self.dates[-1]:
            span = span_text(self.dates)
            raise ConfigError(f"period {period.start}..{period.end} is not inside the date axis "
                              f"{span} of these arrays; load them with a DataConfig whose "
                              "periods include it")
        return slice(int(self.dates.searchsorted(start, side="left")),
                     int(self.dates.searchsorted(end, side="right")))

    def select(self, basins: Sequence[str]) -> BasinArrays:
        """Return the arrays of ``basins`` (in that order) as a new :class:`BasinArrays`.

        Raises
        ------
        ConfigError
            If a basin is not in these arrays.
        """
        basins = tuple(str(b) for b in basins)
        position = {basin: i for i, basin in enumerate(self.basins)}
        missing = [b for b in basins if b not in position]
        if missing:
            raise ConfigError(f"basins {missing} are not in these arrays (they hold "
                              f"{len(self.basins)} basins); add them to data.basins")
        rows = np.array([position[b] for b in basins], dtype=np.int64)
        coverage = None if self.coverage is None else self.coverage.loc[list(basins)]
        return dataclasses.replace(
            self, basins=basins, dynamic=np.ascontiguousarray(self.dynamic[rows]),
            target=np.ascontiguousarray(self.target[rows]),
            static=np.ascontiguousarray(self.static[rows]), coverage=coverage,
            target_raw=None if self.target_raw is None
            else np.ascontiguousarray(self.target_raw[rows]))

    @property
    def observed(self) -> np.ndarray:
        """Discharge in mm/day as read: ``target_raw`` when scaled, else ``target`` itself."""
        return self.target if self.target_raw is None else self.target_raw


def span_text(first: pd.DatetimeIndex | pd.Timestamp, last: pd.Timestamp | None = None) -> str:
    """``'YYYY-MM-DD..YYYY-MM-DD'`` of an index (or of two timestamps); ``'nothing'`` if empty."""
    if last is None:
        if len(first) == 0:
            return "nothing"
        first, last = first[0], first[-1]
    if pd.isna(first) or pd.isna(last):
        return "nothing"
    return f"{first.date()}..{last.date()}"
