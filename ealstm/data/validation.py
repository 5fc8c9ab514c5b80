"""Plausibility checks that every reader's frames pass through before they become arrays.

One place for the rules, used by :mod:`ealstm.data.cache` for CAMELS-US, Caravan and the generic
layout alike:

* **Sentinels** :data:`SENTINELS` (``-999``, ``-9999``) are the documented "missing" markers of
  CAMELS-US and of many national archives; they become NaN (a missing day), never a value.
* **Impossible values** are rejected: a non-finite value (``inf``; NaN is "missing"), a value
  outside the physical range of its variable (:data:`BOUNDS`, e.g. negative precipitation or
  discharge) and, for a variable not in the table, a magnitude above :data:`DEFAULT_BOUND`
  (which also catches values that overflow float32). One such value would otherwise dominate
  the mean and standard deviation of the scaler and flatten the inputs of every basin.
  ``data.invalid_values: error`` (the default) raises :class:`BasinDataError` naming file, basin,
  column, first date and value; ``mask`` turns them into NaN and logs a WARNING with the count.
* **Attributes** must be finite and inside the same bounds; they cannot be masked (a basin
  without an attribute value has no model input), so a bad one always raises.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from ealstm.errors import BasinDataError

log = logging.getLogger(__name__)

#: Values that mean "missing" in the raw files; they become NaN.
SENTINELS = (-999.0, -9999.0)
#: |value| above this is rejected for a variable without an entry in :data:`BOUNDS`.
DEFAULT_BOUND = 1e7
#: Largest precipitation or discharge accepted, mm/day: above the world-record daily rainfall
#: (1825 mm, La Reunion, 1966).
_MAX_WATER_MM_DAY = 3000.0
#: Physical range ``(low, high)`` per variable name in the units of the supported data sets
#: (CAMELS-US: Daymet/Maurer/NLDAS; Caravan: ERA5-Land). Temperatures in deg C, radiation in
#: W/m^2, vapour pressure in Pa, day length in s, snow water equivalent in mm.
BOUNDS: dict[str, tuple[float, float]] = {
    "prcp": (0.0, _MAX_WATER_MM_DAY),
    "total_precipitation_sum": (0.0, _MAX_WATER_MM_DAY),
    "qobs": (0.0, _MAX_WATER_MM_DAY),
    "streamflow": (0.0, _MAX_WATER_MM_DAY),
    "tmax": (-100.0, 70.0),
    "tmin": (-100.0, 70.0),
    "temperature_2m_mean": (-100.0, 70.0),
    "temperature_2m_min": (-100.0, 70.0),
    "temperature_2m_max": (-100.0, 70.0),
    "srad": (0.0, 1500.0),
    "vp": (0.0, 10000.0),
    "dayl": (0.0, 86400.0),
    "swe": (0.0, 20000.0),
}
#: Bounds of the target (discharge, mm/day) whatever its column is called.
TARGET_BOUNDS = (0.0, _MAX_WATER_MM_DAY)
MODES = ("error", "mask")


def bounds_of(name: str, is_target: bool = False) -> tuple[float, float]:
    """Return the accepted range of ``name`` (precipitation: ``prcp*``, ``*precip*``)."""
    key = name.lower()
    if is_target:
        return TARGET_BOUNDS
    if key in BOUNDS:
        return BOUNDS[key]
    if key.startswith("prcp") or "precip" in key:
        return (0.0, _MAX_WATER_MM_DAY)
    return (-DEFAULT_BOUND, DEFAULT_BOUND)


def _reason(value: float, low: float, high: float) -> str:
    if not math.isfinite(value):
        return "not finite"
    if value < 0 <= low:
        return "negative, physically impossible"
    if abs(value) > float(np.finfo(np.float32).max):
        return "beyond the float32 range"
    return f"outside the plausible range [{low:g}, {high:g}]"


def clean_series(values: pd.Series, name: str, basin: str, source: str, mode: str = "error",
                 is_target: bool = False) -> pd.Series:
    """Sentinels -> NaN; impossible values raise (``mode='error'``) or become NaN (``'mask'``).

    Parameters
    ----------
    values
        One column of a basin on a date index.
    name, basin, source
        Column name, basin id and file, for the bounds and the messages.
    mode
        ``data.invalid_values``: ``error`` or ``mask``.
    is_target
        The column is the discharge target (non-negative whatever its name).

    Raises
    ------
    BasinDataError
        Naming file, basin, column, first date and value of an impossible value.
    """
    v = values.to_numpy(np.float64, copy=True)
    sentinel = np.isin(v, SENTINELS)
    v[sentinel] = np.nan
    if sentinel.any() and not is_target:  # a missing input day drops every window holding it
        log.warning("%s: basin %s, column %r: %d sentinel values (%s) treated as missing",
                    source, basin, name, int(sentinel.sum()), "/".join(f"{s:g}" for s in SENTINELS))
    low, high = bounds_of(name, is_target)
    with np.errstate(invalid="ignore"):
        bad = np.isinf(v) | (v < low) | (v > high)
    if bad.any():
        first = int(np.argmax(bad))
        date = pd.Timestamp(values.index[first]).date()
        if mode != "mask":
            raise BasinDataError(
                f"{source}: basin {basin}, column {name!r}: {int(bad.sum())} impossible value(s), "
                f"first {v[first]:g} on {date} ({_reason(v[first], low, high)}); fix the file "
                "or set data.invalid_values: mask to treat them as missing")
        log.warning("%s: basin %s, column %r: %d impossible value(s) masked as missing "
                    "(first %g on %s)", source, basin, name, int(bad.sum()), v[first], date)
        v[bad] = np.nan
    return pd.Series(v, index=values.index, name=values.name)


def clean_basin(dynamic: pd.DataFrame, target: pd.Series, basin: str, mode: str = "error",
                sources: tuple[str, str] | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """Apply :func:`clean_series` to every input column and to the target of one basin.

    ``sources`` names the (input, target) files; by default the frames' ``attrs["source"]``.
    """
    dyn_src = sources[0] if sources else dynamic.attrs.get("source", "time-series file")
    tgt_src = sources[1] if sources else target.attrs.get("source", dyn_src)
    columns = {c: clean_series(dynamic[c], str(c), basin, str(dyn_src), mode)
               for c in dynamic.columns}
    cleaned = pd.DataFrame(columns, index=dynamic.index)
    qobs = clean_series(target, str(target.name), basin, str(tgt_src), mode, is_target=True)
    return cleaned, qobs


def check_statics(frame: pd.DataFrame, source: str) -> None:
    """Raise if an attribute is a sentinel, not finite or outside its bounds.

    Raises
    ------
    BasinDataError
        Naming the source, basin, attribute and value of the first bad entry.
    """
    for column in frame.columns:
        v = frame[column].to_numpy(np.float64)
        low, high = bounds_of(str(column))
        with np.errstate(invalid="ignore"):
            bad = np.isin(v, SENTINELS) | ~np.isfinite(v) | (v < low) | (v > high)
        if bad.any():
            i = int(np.argmax(bad))
            why = ("the missing-value sentinel" if v[i] in SENTINELS
                   else _reason(v[i], low, high))
            raise BasinDataError(
                f"{source}: basin {frame.index[i]}, attribute {column!r} is {v[i]:g} ({why}); "
                "every static attribute needs a plausible value: fix the file or remove the "
                "attribute from data.static_attributes")
