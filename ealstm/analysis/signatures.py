r"""The 13 hydrological signatures of Addor et al. (2018) as published in CAMELS-US.

The paper (Kratzert et al. 2019, sect. 2.6.3 and 3.4, Fig. 10) uses the signatures of the
``camels_attributes_v2.0/camels_hydro.txt`` file, computed by Addor et al. (2017) from the USGS
discharge and Daymet precipitation of the water years 1990-2009 (:data:`CAMELS_PERIOD`). This
module recomputes them from any daily series: :data:`SIGNATURES` registers the per-signature
functions of :mod:`ealstm.analysis.flow_signatures` and :mod:`ealstm.analysis.baseflow` (their
input, missing-value, water-year and quantile conventions are documented there), and
:func:`compute_signatures` / :func:`basin_signatures` compute them for one series / for several
basins (CAMELS raw files: :func:`ealstm.data.readers.camels_us.signature_series`), and
:func:`run_signatures` for the basins of any data set through its reader.
The definitions follow Addor's public R code (``naddor/camels``,
``hydro/hydro_signatures.R``) and were checked against the published values (see
``tests/analysis/test_signatures.py``).

Conventions
-----------
* **Tolerance.** :func:`compute_signatures` and :func:`basin_signatures` refuse a signature when
  more than ``max_missing`` of the days are missing (CAMELS: ``tol_na = 0.0502``); the
  baseflow index is exempt, as in CAMELS.
* **No silent NaN.** A signature that is undefined raises
  :class:`~ealstm.errors.NoValidDataError`; :func:`compute_signatures` turns it into NaN only
  with ``errors="nan"`` and logs why, :func:`basin_signatures` also writes why into ``status``.

References
----------
.. [1] Addor, N., Nearing, G., Prieto, C., Newman, A. J., Le Vine, N. and Clark, M. P. (2018):
   A ranking of hydrological signatures based on their predictability in space, Water Resour.
   Res., 54, 8792-8812.
.. [2] Addor, N., Newman, A. J., Mizukami, N. and Clark, M. P. (2017): The CAMELS data set:
   catchment attributes and meteorology for large-sample studies, HESS, 21, 5293-5313, Table 3.
.. [3] Kratzert, F. et al. (2019): Towards learning universal, regional, and local hydrological
   behaviors via machine learning applied to large-sample datasets, HESS, 23, 5089-5110.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import pandas as pd

from ealstm.analysis.baseflow import baseflow_index
from ealstm.analysis.flow_signatures import (
    CAMELS_MAX_MISSING,
    daily_series,
    hfd_mean,
    high_q_dur,
    high_q_freq,
    low_q_dur,
    low_q_freq,
    q5,
    q95,
    q_mean,
    runoff_ratio,
    slope_fdc,
    stream_elas,
    zero_q_freq,
)
from ealstm.config import DataConfig, Period
from ealstm.data.readers.datasets import precipitation_input, read_basin
from ealstm.errors import ConfigError, NoValidDataError
from ealstm.metrics import select_registered

__all__ = [
    "CAMELS_PERIOD",
    "SIGNATURES",
    "basin_signatures",
    "compute_signatures",
    "run_signatures",
]

logger = logging.getLogger(__name__)

#: Period of the published CAMELS signatures: water years 1990-2009.
CAMELS_PERIOD = Period(start=dt.date(1989, 10, 1), end=dt.date(2009, 9, 30))
#: Signatures that also need precipitation / that are exempt from ``max_missing``.
_PRCP_SIGNATURES = frozenset({"runoff_ratio", "stream_elas"})
_NO_TOLERANCE = frozenset({"baseflow_index"})

Signature = Callable[[pd.Series, "pd.Series | None"], float]

#: Registry, in the column order of ``camels_hydro.txt``: ``name -> f(qobs, prcp) -> float``.
SIGNATURES: dict[str, Signature] = {
    "q_mean": q_mean,
    "runoff_ratio": runoff_ratio,
    "slope_fdc": slope_fdc,
    "baseflow_index": baseflow_index,
    "stream_elas": stream_elas,
    "q5": q5,
    "q95": q95,
    "high_q_freq": high_q_freq,
    "high_q_dur": high_q_dur,
    "low_q_freq": low_q_freq,
    "low_q_dur": low_q_dur,
    "zero_q_freq": zero_q_freq,
    "hfd_mean": hfd_mean,
}


# --------------------------------------------------------------------------- drivers


def _signature_names(names: Sequence[str] | None) -> list[str]:
    """Return the requested names (all by default); unknown ones raise ``ConfigError``."""
    return select_registered(names, SIGNATURES, "signature")


def _check_options(errors: str, max_missing: float) -> None:
    """Validate ``errors`` and ``max_missing``."""
    if errors not in ("raise", "nan"):
        raise ConfigError(f"errors must be 'raise' or 'nan', got {errors!r}")
    if not 0.0 <= max_missing <= 1.0:
        raise ConfigError(f"max_missing must lie in [0, 1], got {max_missing}")


def _check_missing(name: str, q: pd.Series, p: pd.Series | None, max_missing: float) -> None:
    """Raise ``NoValidDataError`` if more than ``max_missing`` of the days are missing."""
    if name in _NO_TOLERANCE or (p is None and name in _PRCP_SIGNATURES):
        return  # the exempt signature copes with gaps; without prcp the signature itself raises
    missing = q.isna() | p.isna() if name in _PRCP_SIGNATURES else q.isna()
    if missing.mean() > max_missing:
        what = "discharge or precipitation" if name in _PRCP_SIGNATURES else "discharge"
        raise NoValidDataError(f"{int(missing.sum())} of {len(missing)} days "
                               f"({missing.mean():.1%}) miss {what}, more than "
                               f"max_missing = {max_missing:.2%}")


def _evaluate(qobs: pd.Series, prcp: pd.Series | None, names: list[str],
              max_missing: float) -> tuple[dict[str, float], dict[str, NoValidDataError]]:
    """Values of ``names`` (NaN where undefined) and the error of each undefined one."""
    q = daily_series(qobs)
    p = daily_series(prcp, "prcp").reindex(q.index) if prcp is not None else None
    values: dict[str, float] = {}
    failures: dict[str, NoValidDataError] = {}
    for name in names:
        try:
            _check_missing(name, q, p, max_missing)
            values[name] = float(SIGNATURES[name](q, p))
        except NoValidDataError as exc:
            values[name], failures[name] = math.nan, exc
    return values, failures


def compute_signatures(qobs: pd.Series, prcp: pd.Series | None, names: Sequence[str] | None = None,
                       *, errors: Literal["raise", "nan"] = "raise",
                       max_missing: float = CAMELS_MAX_MISSING) -> dict[str, float]:
    """Compute hydrological signatures of one basin (see the conventions of the module).

    Parameters
    ----------
    qobs : pd.Series [time]
        Daily discharge in mm/day on a ``DatetimeIndex``; NaN = missing.
    prcp : pd.Series [time] or None
        Daily precipitation in mm/day (aligned to ``qobs`` by date); only ``runoff_ratio`` and
        ``stream_elas`` use it, and they are undefined when it is None.
    names : sequence of str, optional
        Names from :data:`SIGNATURES`; all 13 by default, in ``camels_hydro.txt`` order.
    errors : {"raise", "nan"}, default "raise"
        An undefined signature re-raises :class:`~ealstm.errors.NoValidDataError` naming it, or
        becomes NaN (and the reason is logged as a warning).
    max_missing : float, default 0.0502
        Largest fraction of days of ``qobs``' span that may miss the data a signature needs
        (CAMELS' tolerance; ``baseflow_index`` is exempt). ``1`` disables the check.

    Returns
    -------
    dict of str to float
        Signature name -> value, in the order requested.

    Raises
    ------
    ConfigError
        Unknown name or invalid option.
    BasinDataError
        ``qobs`` / ``prcp`` are not daily series on a ``DatetimeIndex``.
    NoValidDataError
        With ``errors="raise"``, a signature is undefined.
    """
    _check_options(errors, max_missing)
    values, failures = _evaluate(qobs, prcp, _signature_names(names), max_missing)
    for name, exc in failures.items():
        if errors == "raise":
            raise NoValidDataError(f"{name}: {exc}") from exc
        logger.warning("signature %s set to NaN: %s", name, exc)
    return values


def _period_bounds(period: Period | tuple) -> pd.DatetimeIndex:
    """Daily dates of a :class:`~ealstm.config.Period` or a ``(start, end)`` pair."""
    start, end = (period.start, period.end) if isinstance(period, Period) else period
    dates = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="D", name="date")
    if dates.empty:
        raise ConfigError(f"period {period} is empty: end lies before start")
    return dates


def _status(failures: dict[str, NoValidDataError]) -> str:
    """``"ok"`` or ``"<names>: <reason>; ..."``, signatures with the same reason grouped."""
    by_reason: dict[str, list[str]] = {}
    for name, exc in failures.items():
        by_reason.setdefault(str(exc), []).append(name)
    return "; ".join(f"{', '.join(names)}: {reason}" for reason, names in by_reason.items()) or "ok"


def basin_signatures(series: Mapping[str, tuple[pd.Series, pd.Series | None]],
                     period: Period | tuple = CAMELS_PERIOD, names: Sequence[str] | None = None,
                     *, errors: Literal["raise", "nan"] = "raise",
                     max_missing: float = CAMELS_MAX_MISSING) -> pd.DataFrame:
    """Signatures of several basins from their series (one row per basin).

    The series come from a data set's reader, e.g.
    :func:`ealstm.data.readers.camels_us.signature_series` for the raw CAMELS-US files (with the
    area CAMELS used), so that this module works for any data set.

    Parameters
    ----------
    series : mapping of str to (qobs, prcp)
        Basin id -> daily discharge (mm/day) and precipitation (mm/day, or None).
    period : Period or (start, end), default :data:`CAMELS_PERIOD`
        Closed date range; days without data in it count as missing.
    names : sequence of str, optional
        Signatures to compute; all 13 by default.
    errors : {"raise", "nan"}, default "raise"
        An undefined signature raises (naming basin and signature) or becomes NaN.
    max_missing : float, default 0.0502
        See :func:`compute_signatures`.

    Returns
    -------
    pd.DataFrame
        Index ``gauge_id`` (str), one float column per signature, and ``status``: ``"ok"`` or
        ``"<name>: <reason>; ..."`` for the signatures that are NaN.

    Raises
    ------
    ConfigError
        Invalid option.
    NoValidDataError
        With ``errors="raise"``, a signature is undefined for a basin.
    """
    _check_options(errors, max_missing)
    names, dates = _signature_names(names), _period_bounds(period)
    rows = []
    for basin, (qobs, prcp) in series.items():
        values, failures = _evaluate(qobs.reindex(dates),
                                     None if prcp is None else prcp.reindex(dates), names,
                                     max_missing)
        if failures and errors == "raise":
            name, exc = next(iter(failures.items()))
            raise NoValidDataError(f"basin {basin}, signature {name}: {exc}") from exc
        rows.append({**values, "status": _status(failures)})
    table = pd.DataFrame(rows, index=pd.Index(list(series), name="gauge_id"),
                         columns=[*names, "status"])
    if (table["status"] != "ok").any():
        logger.warning("signatures NaN for basins %s", list(table.index[table["status"] != "ok"]))
    return table


def run_signatures(cfg: DataConfig, basins: Sequence[str],
                   names: Sequence[str] | None = None) -> pd.DataFrame:
    """Signatures of ``basins`` from the target and precipitation of any data set's reader.

    Used when the attributes carry no ``camels_hydro.txt`` signatures (Caravan, generic data):
    the series are read through :func:`ealstm.data.readers.datasets.read_basin` over their whole
    span; a signature that is undefined for a basin becomes NaN (logged), precipitation
    signatures are NaN without a precipitation input.

    Returns
    -------
    pd.DataFrame
        Index ``basin``, one float column per signature.
    """
    column = precipitation_input(cfg)
    series = {}
    for basin in basins:
        dynamic, target = read_basin(cfg, basin)
        series[str(basin)] = (target, None if column is None else dynamic[column])
    first = min(q.index.min() for q, _ in series.values())
    last = max(q.index.max() for q, _ in series.values())
    table = basin_signatures(series, (first.date(), last.date()), names, errors="nan",
                             max_missing=1.0)
    return table.drop(columns="status").rename_axis("basin")
