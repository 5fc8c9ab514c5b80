r"""The 13 hydrological signatures of Addor et al. (2018) as published in CAMELS-US.

The paper (Kratzert et al. 2019, sect. 2.6.3 and 3.4, Fig. 10) uses the signatures of the
``camels_attributes_v2.0/camels_hydro.txt`` file, computed by Addor et al. (2017) from the USGS
discharge and Daymet precipitation of the water years 1990-2009 (:data:`CAMELS_PERIOD`). This
module recomputes them from any daily series; the definitions follow Addor's public R code
(``naddor/camels``, ``hydro/hydro_signatures.R``) and were checked against the published values
(see ``tests/analysis/test_signatures.py``).

Conventions
-----------
* **Inputs.** Every function of :data:`SIGNATURES` is ``f(qobs, prcp) -> float`` with daily
  ``pd.Series`` in mm/day on a ``DatetimeIndex`` (``prcp`` may be None and is ignored except
  by ``runoff_ratio`` and ``stream_elas``). The series are put on a consecutive daily axis from
  their first to their last date (absent days become NaN) and ``prcp`` is aligned to the
  dates of ``qobs``.
* **Missing values.** Days with NaN discharge (for ``runoff_ratio`` and ``stream_elas``: NaN
  discharge or precipitation) are dropped and each signature is computed from the remaining
  days, as in CAMELS. In particular high/low-flow spells are runs of consecutive *valid* days,
  so a spell continues across a gap. Exceptions: the baseflow filter runs on each gap-free
  segment separately (Ladson et al. 2013) and the half-flow date is a calendar day.
* **Tolerance.** :func:`compute_signatures` and :func:`basin_signatures` refuse a signature when
  more than ``max_missing`` of the days are missing (CAMELS: ``tol_na = 0.0502``); the
  baseflow index is exempt, as in CAMELS. Per water year, ``stream_elas`` and ``hfd_mean`` use
  only years with more than ``(1 - 0.0502) * 365`` valid days (:data:`MIN_DAYS_PER_YEAR`).
* **Water years** start on 1 October; water year ``y`` runs from ``y-1``-10-01 to ``y``-09-30.
* **Quantiles** are linear interpolations (``numpy.quantile`` default = R's type 7).
* **No silent NaN.** A signature that is undefined raises
  :class:`~ealstm.errors.NoValidDataError`; :func:`compute_signatures` turns it into NaN only
  with ``errors="nan"`` and logs why, :func:`basin_signatures` also writes why into ``status``.
  Following CAMELS, frequency and duration are 0 (not undefined) when no day is a high / low
  flow day.

References
----------
.. [1] Addor, N., Nearing, G., Prieto, C., Newman, A. J., Le Vine, N. and Clark, M. P. (2018):
   A ranking of hydrological signatures based on their predictability in space, Water Resour.
   Res., 54, 8792-8812.
.. [2] Addor, N., Newman, A. J., Mizukami, N. and Clark, M. P. (2017): The CAMELS data set:
   catchment attributes and meteorology for large-sample studies, HESS, 21, 5293-5313, Table 3.
.. [3] Ladson, A. R., Brown, R., Neal, B. and Nathan, R. (2013): A standard approach to baseflow
   separation using the Lyne and Hollick filter, Australas. J. Water Resour., 17, 25-34.
.. [4] Sankarasubramanian, A., Vogel, R. M. and Limbrunner, J. F. (2001): Climate elasticity of
   streamflow in the United States, Water Resour. Res., 37, 1771-1781.
.. [5] Sawicz, K., Wagener, T., Sivapalan, M., Troch, P. A. and Carrillo, G. (2011): Catchment
   classification: empirical analysis of hydrologic similarity based on catchment function in
   the eastern USA, HESS, 15, 2895-2911.
.. [6] Kratzert, F. et al. (2019): Towards learning universal, regional, and local hydrological
   behaviors via machine learning applied to large-sample datasets, HESS, 23, 5089-5110.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from ealstm.config import Period
from ealstm.data.camels_us import read_attributes, read_forcings, read_streamflow
from ealstm.errors import BasinDataError, ConfigError, NoValidDataError

__all__ = [
    "CAMELS_MAX_MISSING",
    "CAMELS_PERIOD",
    "MIN_DAYS_PER_YEAR",
    "SIGNATURES",
    "baseflow_index",
    "basin_signatures",
    "compute_signatures",
    "hfd_mean",
    "high_q_dur",
    "high_q_freq",
    "lyne_hollick_baseflow",
    "low_q_dur",
    "low_q_freq",
    "q5",
    "q95",
    "q_mean",
    "runoff_ratio",
    "slope_fdc",
    "slope_fdc_log",
    "stream_elas",
    "zero_q_freq",
]

logger = logging.getLogger(__name__)

#: Period of the published CAMELS signatures: water years 1990-2009.
CAMELS_PERIOD = Period(start=dt.date(1989, 10, 1), end=dt.date(2009, 9, 30))
#: Largest tolerated fraction of missing days (CAMELS' ``tol_na``).
CAMELS_MAX_MISSING = 0.0502
#: A water year enters ``stream_elas`` / ``hfd_mean`` only with more valid days than this.
MIN_DAYS_PER_YEAR = (1.0 - CAMELS_MAX_MISSING) * 365.0
HIGH_FLOW_FACTOR = 9.0  # high flow: q > 9 * median(q)
LOW_FLOW_FACTOR = 0.2  # low flow: q <= 0.2 * mean(q)
DAYS_PER_YEAR = 365.25
#: Lyne-Hollick filter of the CAMELS baseflow index (Ladson et al. 2013).
BFI_ALPHA, BFI_PASSES, BFI_REFLECT = 0.925, 3, 30
#: Signatures that also need precipitation / that are exempt from ``max_missing``.
_PRCP_SIGNATURES = frozenset({"runoff_ratio", "stream_elas"})
_NO_TOLERANCE = frozenset({"baseflow_index"})
#: How :func:`basin_signatures` turns discharge into mm/day: CAMELS used ``area_gages2``.
AREA_SOURCES = ("gages2", "geospa_fabric", "forcing")

Signature = Callable[[pd.Series, "pd.Series | None"], float]


# --------------------------------------------------------------------------- helpers


def _daily(series: pd.Series, name: str = "qobs") -> pd.Series:
    """float64 copy of ``series`` on consecutive days from its first to its last date."""
    if not isinstance(series, pd.Series) or not isinstance(series.index, pd.DatetimeIndex):
        raise BasinDataError(f"{name} must be a pandas Series with a DatetimeIndex")
    if series.index.has_duplicates:
        first = series.index[series.index.duplicated()][0]
        raise BasinDataError(f"{name} has duplicate dates, e.g. {first.date()}")
    if len(series) == 0:
        raise NoValidDataError(f"{name} is empty")
    series = series.sort_index()
    index = series.index.normalize()
    if not (index == series.index).all() or index.has_duplicates:
        raise BasinDataError(f"{name} must be daily: its dates carry a time of day")
    full = pd.date_range(index[0], index[-1], freq="D", name="date")
    return series.astype("float64").reindex(full)


def _valid(qobs: pd.Series) -> np.ndarray:
    """Discharge of the days where it is not NaN; none at all raises."""
    q = _daily(qobs).dropna().to_numpy()
    if q.size == 0:
        raise NoValidDataError("no valid (non-NaN) discharge value")
    return q


def _joint(qobs: pd.Series, prcp: pd.Series | None) -> tuple[pd.Series, pd.Series]:
    """Discharge and precipitation on the days where both are valid."""
    if prcp is None:
        raise NoValidDataError("this signature needs precipitation, got prcp=None")
    q = _daily(qobs)
    p = _daily(prcp, "prcp").reindex(q.index)
    ok = q.notna() & p.notna()
    if not ok.any():
        raise NoValidDataError("no day with both discharge and precipitation")
    return q[ok], p[ok]


def _water_year(index: pd.DatetimeIndex) -> np.ndarray:
    """Water year of each date: ``year + 1`` from October on (water year 2010 starts 2009-10-01)."""
    return index.year.to_numpy() + (index.month.to_numpy() >= 10)


def _complete_years(index: pd.DatetimeIndex) -> np.ndarray:
    """Mask of the dates whose water year has more than :data:`MIN_DAYS_PER_YEAR` dates."""
    years = _water_year(index)
    counts = pd.Series(years).value_counts()
    return np.isin(years, counts.index[counts > MIN_DAYS_PER_YEAR].to_numpy())


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """Lengths of the runs of consecutive ``True`` in a boolean array."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)


def _spells(mask: np.ndarray) -> tuple[float, float]:
    """``(days per year, mean spell length)`` of the ``True`` days; ``(0, 0)`` if none."""
    runs = _run_lengths(mask)
    if runs.size == 0:
        return 0.0, 0.0
    return float(mask.sum() / mask.size * DAYS_PER_YEAR), float(runs.mean())


# --------------------------------------------------------------------------- signatures


def q_mean(qobs: pd.Series, prcp: pd.Series | None = None) -> float:
    r"""Mean daily discharge :math:`\bar Q = \frac{1}{n}\sum_t Q_t` over the valid days, mm/day."""
    return float(_valid(qobs).mean())


def runoff_ratio(qobs: pd.Series, prcp: pd.Series | None) -> float:
    r"""Runoff ratio :math:`\bar Q / \bar P` over the days where both are valid [2]_.

    CAMELS used Daymet precipitation, so values from another product differ by that product's
    bias (NLDAS is ~12 % drier than Daymet at 01022500).

    Raises
    ------
    NoValidDataError
        No joint valid day, or zero mean precipitation.
    """
    q, p = _joint(qobs, prcp)
    if p.mean() <= 0:
        raise NoValidDataError("mean precipitation is zero: the runoff ratio is undefined")
    return float(q.mean() / p.mean())


def slope_fdc(qobs: pd.Series, prcp: pd.Series | None = None) -> float:
    r"""Slope of the flow duration curve between its 33rd and 66th percentiles, as published.

    The values in ``camels_hydro.txt`` are, to machine precision (01022500: 1.7762798035),

    .. math:: S_{fdc} = \frac{Q_{66} - Q_{33}}{\bar Q\,(0.66 - 0.33)},

    with :math:`Q_x` the ``x`` % quantile (non-exceedance) and :math:`\bar Q` the mean flow: the
    mean-normalised, *linear* slope (Yadav et al. 2007 form). The attribute description of
    Addor et al. (2017) names the log slope of Sawicz et al. (2011), which gives 2.84 for
    01022500; it is available as :func:`slope_fdc_log`.

    It is 0 when the 33rd and 66th percentiles coincide (e.g. at least 67 % of days dry).

    Raises
    ------
    NoValidDataError
        No valid day or zero mean flow.
    """
    q = _valid(qobs)
    if q.mean() <= 0:
        raise NoValidDataError("mean discharge is zero: the normalised FDC slope is undefined")
    q33, q66 = np.quantile(q, [0.33, 0.66])
    return float((q66 - q33) / (q.mean() * (0.66 - 0.33)))


def slope_fdc_log(qobs: pd.Series, prcp: pd.Series | None = None) -> float:
    r"""Log slope of the FDC of Sawicz et al. (2011), eq. 3 (not the published CAMELS value).

    .. math:: S_{fdc}^{\log} = \frac{\ln Q_{66} - \ln Q_{33}}{0.66 - 0.33}

    with :math:`Q_x` the ``x`` % quantile (Addor's ``sfdc_addor_2017``).

    Raises
    ------
    NoValidDataError
        No valid day, or :math:`Q_{33} \le 0` (the logarithm is undefined).
    """
    q33, q66 = np.quantile(_valid(qobs), [0.33, 0.66])
    if q33 <= 0:
        raise NoValidDataError("the 33rd flow percentile is zero: the log FDC slope is undefined")
    return float((np.log(q66) - np.log(q33)) / (0.66 - 0.33))


def _filter_pass(x: np.ndarray, alpha: float) -> np.ndarray:
    r"""One forward Lyne-Hollick pass: baseflow of ``x``.

    Quickflow :math:`f_0 = x_0`, :math:`f_t = \alpha f_{t-1} + \frac{1+\alpha}{2}(x_t - x_{t-1})`;
    baseflow :math:`x_t - f_t` where :math:`f_t > 0`, else :math:`x_t` (Ladson's ``BFI.R``).
    """
    quick = np.empty_like(x)
    quick[0] = x[0]
    if x.size > 1:
        drive = 0.5 * (1.0 + alpha) * np.diff(x)
        quick[1:] = lfilter([1.0], [1.0, -alpha], drive, zi=[alpha * x[0]])[0]
    return np.where(quick > 0, x - quick, x)


def lyne_hollick_baseflow(q: np.ndarray, alpha: float = BFI_ALPHA, passes: int = BFI_PASSES,
                          n_reflect: int = BFI_REFLECT) -> np.ndarray:
    """Baseflow of one gap-free discharge segment by the Lyne-Hollick filter [3]_.

    The segment is padded at both ends with its ``n_reflect`` neighbouring values in reverse
    order (``q[n_reflect:0:-1]`` before, ``q[-2:-n_reflect-2:-1]`` after), filtered forward,
    then ``(passes - 1) / 2`` times backward and forward, cut back and clipped at 0.

    Parameters
    ----------
    q : np.ndarray [time]
        Discharge without NaN, longer than ``n_reflect``.
    alpha : float
        Filter parameter in ``[0, 1)``.
    passes : int
        Odd number of passes, at least 3.
    n_reflect : int
        Number of values reflected at each end, at least 1.

    Returns
    -------
    np.ndarray [time]
        Baseflow, same units as ``q``.
    """
    q = np.asarray(q, dtype=np.float64)
    if passes < 3 or passes % 2 == 0 or not 0 <= alpha < 1 or n_reflect < 1:
        raise ConfigError(f"Lyne-Hollick filter needs odd passes >= 3 (got {passes}), "
                          f"0 <= alpha < 1 (got {alpha}) and n_reflect >= 1 (got {n_reflect})")
    if q.ndim != 1 or q.size <= n_reflect or not np.isfinite(q).all():
        raise NoValidDataError(f"the baseflow filter needs more than {n_reflect} consecutive "
                               "valid values")
    base = _filter_pass(np.concatenate((q[n_reflect:0:-1], q, q[-2:-n_reflect - 2:-1])), alpha)
    for _ in range((passes - 1) // 2):
        base = _filter_pass(base[::-1], alpha)[::-1]
        base = _filter_pass(base, alpha)
    return np.clip(base[n_reflect:-n_reflect], 0.0, None)


def _segments(valid: np.ndarray, min_length: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the runs of ``True`` in ``valid`` with at least ``min_length`` days."""
    edges = np.diff(np.concatenate(([0], valid.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(a, b) for a, b in zip(starts, stops, strict=True) if b - a >= min_length]


def baseflow_index(qobs: pd.Series, prcp: pd.Series | None = None) -> float:
    r"""Baseflow index :math:`\sum_t Q^b_t / \sum_t Q_t` (Lyne-Hollick filter, Ladson et al.).

    :math:`Q^b` comes from :func:`lyne_hollick_baseflow` (alpha 0.925, 3 passes, 30 reflected
    values), as in CAMELS. With missing days, each gap-free segment longer than 30 days gets its
    own index and the result is their mean weighted by segment length (Ladson's ``BFI.R``);
    shorter segments and segments without flow are left out.

    Raises
    ------
    NoValidDataError
        No gap-free segment longer than 30 days with positive flow.
    """
    q = _daily(qobs).to_numpy()
    indices, weights = [], []
    for start, stop in _segments(np.isfinite(q), BFI_REFLECT + 1):
        segment = q[start:stop]
        if segment.sum() > 0:
            indices.append(lyne_hollick_baseflow(segment).sum() / segment.sum())
            weights.append(stop - start)
    if not indices:
        raise NoValidDataError(f"no gap-free discharge segment of more than {BFI_REFLECT} days "
                               "with positive flow for the baseflow filter")
    return float(np.average(indices, weights=weights))


def stream_elas(qobs: pd.Series, prcp: pd.Series | None) -> float:
    r"""Streamflow-precipitation elasticity of Sankarasubramanian et al. (2001) [4]_.

    .. math::
        \varepsilon = \operatorname{median}_y \frac{(\bar Q_y - \bar Q) / \bar Q}
                                                   {(\bar P_y - \bar P) / \bar P}

    over the water years ``y`` (from 1 October) with more than :data:`MIN_DAYS_PER_YEAR` days
    where both series are valid; :math:`\bar Q_y, \bar P_y` are the means of the year's days,
    :math:`\bar Q, \bar P` those of all days of these years. Years with
    :math:`\bar P_y = \bar P` are skipped. CAMELS used Daymet precipitation.

    Raises
    ------
    NoValidDataError
        Fewer than two usable water years, or zero mean discharge or precipitation.
    """
    q, p = _joint(qobs, prcp)
    keep = _complete_years(q.index)
    q, p = q[keep], p[keep]
    years = _water_year(q.index)
    if np.unique(years).size < 2:
        raise NoValidDataError(f"stream_elas needs two water years with more than "
                               f"{MIN_DAYS_PER_YEAR:.1f} valid days")
    if q.mean() <= 0 or p.mean() <= 0:
        raise NoValidDataError("mean discharge or precipitation is zero: elasticity undefined")
    dq = q.groupby(years).mean().to_numpy() / q.mean() - 1.0
    dp = p.groupby(years).mean().to_numpy() / p.mean() - 1.0
    ok = dp != 0
    if not ok.any():
        raise NoValidDataError("annual precipitation never departs from its mean")
    return float(np.median(dq[ok] / dp[ok]))


def q5(qobs: pd.Series, prcp: pd.Series | None = None) -> float:
    """5 % quantile of daily discharge (low flow, exceeded 95 % of the time), mm/day."""
    return float(np.quantile(_valid(qobs), 0.05))


def q95(qobs: pd.Series, prcp: pd.Series | None = None) -> float:
    """95 % quantile of daily discharge (high flow, exceeded 5 % of the time), mm/day."""
    return float(np.quantile(_valid(qobs), 0.95))


def _high_flow(qobs: pd.Series) -> np.ndarray:
    """Mask of the valid days with ``q > 9 * median(q)`` (every flowing day if the median is 0)."""
    q = _valid(qobs)
    return q > HIGH_FLOW_FACTOR * np.median(q)


def _low_flow(qobs: pd.Series) -> np.ndarray:
    """Mask of the valid days with ``q <= 0.2 * mean(q)`` (CAMELS' code uses ``<=``)."""
    q = _valid(qobs)
    return q <= LOW_FLOW_FACTOR * q.mean()


def high_q_freq(qobs: pd.Series, prcp: pd.Series | None = None) -> float:
    r"""Frequency of high-flow days, :math:`365.25\,n_{high}/n` in days per year.

    A high-flow day has :math:`Q_t > 9\,\mathrm{median}(Q)`; :math:`n` counts the valid days.
    """
    return _spells(_high_flow(qobs))[0]


def high_q_dur(qobs: pd.Series, prcp: pd.Series | None = None) -> float:
    """Mean length in days of the runs of consecutive high-flow days (0 if there is none)."""
    return _spells(_high_flow(qobs))[1]


def low_q_freq(qobs: pd.Series, prcp: pd.Series | None = None) -> float:
    r"""Frequency of low-flow days, :math:`365.25\,n_{low}/n` in days per year.

    A low-flow day has :math:`Q_t \le 0.2\,\bar Q` (Addor's code; the description says ``<``).
    """
    return _spells(_low_flow(qobs))[0]


def low_q_dur(qobs: pd.Series, prcp: pd.Series | None = None) -> float:
    """Mean length in days of the runs of consecutive low-flow days (0 if there is none)."""
    return _spells(_low_flow(qobs))[1]


def zero_q_freq(qobs: pd.Series, prcp: pd.Series | None = None) -> float:
    r"""Fraction (not percent) of valid days with no flow, :math:`n(Q_t \le 0)/n`.

    ``camels_hydro.txt`` stores a fraction in ``[0, 1]`` (largest value 0.965).
    """
    return float(np.mean(_valid(qobs) <= 0.0))


def hfd_mean(qobs: pd.Series, prcp: pd.Series | None = None) -> float:
    r"""Mean half-flow date: day of the water year when half of its discharge has passed.

    For each water year with more than :data:`MIN_DAYS_PER_YEAR` valid days and positive total
    flow, the half-flow date is the first day :math:`d` with
    :math:`\sum_{t \le d} Q_t > \frac12 \sum_t Q_t` (sums over valid days), counted from
    1 October = day 1 (Court 1962; Addor's ``compute_hfd_mean_sd``); the result is the mean
    over the years.

    Raises
    ------
    NoValidDataError
        No such water year.
    """
    q = _daily(qobs).dropna()
    q = q[_complete_years(q.index)]
    days = []
    for year, x in q.groupby(_water_year(q.index)):
        if x.sum() > 0:
            first = int(np.argmax(np.cumsum(x.to_numpy()) > 0.5 * x.sum()))
            days.append((x.index[first] - pd.Timestamp(int(year) - 1, 10, 1)).days + 1)
    if not days:
        raise NoValidDataError(f"no water year with more than {MIN_DAYS_PER_YEAR:.1f} valid "
                               "days and positive flow for the half-flow date")
    return float(np.mean(days))


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
    if names is None:
        return list(SIGNATURES)
    names = [names] if isinstance(names, str) else list(names)
    unknown = [n for n in names if n not in SIGNATURES]
    if unknown:
        raise ConfigError(f"unknown signature(s) {unknown}; choose from {list(SIGNATURES)}")
    return names


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
    q = _daily(qobs)
    p = _daily(prcp, "prcp").reindex(q.index) if prcp is not None else None
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
    """Compute hydrological signatures of one basin (see the module conventions).

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


def _basin_areas(data_dir: Path, basins: list[str], area: str) -> dict[str, float] | None:
    """Area (km^2) per basin from ``camels_topo.txt`` for ``area`` != "forcing"."""
    if area not in AREA_SOURCES:
        raise ConfigError(f"area must be one of {AREA_SOURCES}, got {area!r}")
    if area == "forcing":
        return None
    column = f"area_{area}"
    table = read_attributes(data_dir, basins, [column])
    return {b: float(a) for b, a in zip(table.index, table[column], strict=True)}


def _basin_series(data_dir: Path, basin: str, product: str, dates: pd.DatetimeIndex,
                  area_km2: float | None) -> tuple[pd.Series, pd.Series]:
    """Discharge (mm/day over ``area_km2``) and precipitation of one basin on ``dates``."""
    forcings, header_area = read_forcings(data_dir, basin, product)
    qobs = read_streamflow(data_dir, basin, header_area)
    if area_km2 is not None:
        qobs = qobs * (header_area / area_km2)
    return qobs.reindex(dates), forcings["prcp"].reindex(dates)


def _status(failures: dict[str, NoValidDataError]) -> str:
    """``"ok"`` or ``"<names>: <reason>; ..."``, signatures with the same reason grouped."""
    by_reason: dict[str, list[str]] = {}
    for name, exc in failures.items():
        by_reason.setdefault(str(exc), []).append(name)
    return "; ".join(f"{', '.join(names)}: {reason}" for reason, names in by_reason.items()) or "ok"


def basin_signatures(data_dir: Path, basins: Sequence[str], product: str,
                     period: Period | tuple = CAMELS_PERIOD, names: Sequence[str] | None = None,
                     *, area: str = "gages2", errors: Literal["raise", "nan"] = "raise",
                     max_missing: float = CAMELS_MAX_MISSING) -> pd.DataFrame:
    """Signatures of several CAMELS-US basins from the raw files (one row per basin).

    Parameters
    ----------
    data_dir : Path
        Root of the CAMELS-US data (see :mod:`ealstm.data.camels_us`).
    basins : sequence of str
        8-digit gauge ids.
    product : str
        Forcing product of the precipitation (CAMELS used ``"daymet"``).
    period : Period or (start, end), default :data:`CAMELS_PERIOD`
        Closed date range; days without data in it count as missing.
    names : sequence of str, optional
        Signatures to compute; all 13 by default.
    area : {"gages2", "geospa_fabric", "forcing"}, default "gages2"
        Basin area that turns ft^3/s into mm/day: the ``camels_topo.txt`` column
        ``area_gages2`` (what ``camels_hydro.txt`` used), ``area_geospa_fabric``, or the
        forcing-file header (what :func:`~ealstm.data.camels_us.read_streamflow` and the model
        target use). It scales ``q_mean``, ``q5``, ``q95`` and ``runoff_ratio`` only.
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
    ConfigError, DataNotFoundError, BasinDataError
        Invalid option, missing or unusable files (from the parsers).
    NoValidDataError
        With ``errors="raise"``, a signature is undefined for a basin.
    """
    _check_options(errors, max_missing)
    names, dates = _signature_names(names), _period_bounds(period)
    basins = [str(b).strip().zfill(8) for b in basins]
    areas = _basin_areas(Path(data_dir), basins, area)
    rows = []
    for basin in basins:
        qobs, prcp = _basin_series(Path(data_dir), basin, product, dates,
                                   None if areas is None else areas[basin])
        values, failures = _evaluate(qobs, prcp, names, max_missing)
        if failures and errors == "raise":
            name, exc = next(iter(failures.items()))
            raise NoValidDataError(f"basin {basin}, signature {name}: {exc}") from exc
        rows.append({**values, "status": _status(failures)})
    table = pd.DataFrame(rows, index=pd.Index(basins, name="gauge_id"), columns=[*names, "status"])
    if (table["status"] != "ok").any():
        logger.warning("signatures NaN for basins %s", list(table.index[table["status"] != "ok"]))
    return table
