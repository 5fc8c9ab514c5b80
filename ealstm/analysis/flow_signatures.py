r"""One function per CAMELS hydrological signature, computed from daily series of one basin.

12 of the 13 signatures of :mod:`ealstm.analysis.signatures` (the baseflow index is in
:mod:`ealstm.analysis.baseflow`) and the FDC log slope of Sawicz et al. (2011), following
Addor's public R code (``naddor/camels``, ``hydro/hydro_signatures.R``).
:mod:`ealstm.analysis.signatures` registers them, applies CAMELS' missing-data tolerance and
reads the basins; the definitions live apart from that orchestration so that each can be read
(and tested) on its own.

Conventions
-----------
* **Inputs.** Every signature is ``f(qobs, prcp) -> float`` with daily ``pd.Series`` in mm/day
  on a ``DatetimeIndex`` (``prcp`` may be None and is ignored except by ``runoff_ratio`` and
  ``stream_elas``). The series are put on a consecutive daily axis from their first to their
  last date (absent days become NaN, :func:`daily_series`) and ``prcp`` is aligned to the
  dates of ``qobs``.
* **Missing values.** Days with NaN discharge (for ``runoff_ratio`` and ``stream_elas``: NaN
  discharge or precipitation) are dropped and each signature is computed from the remaining
  days, as in CAMELS. In particular high/low-flow spells are runs of consecutive *valid* days,
  so a spell continues across a gap. Exceptions: the baseflow filter runs on each gap-free
  segment separately (Ladson et al. 2013) and the half-flow date is a calendar day.
* **Water years** start on 1 October; water year ``y`` runs from ``y-1``-10-01 to ``y``-09-30.
  Per water year, ``stream_elas`` and ``hfd_mean`` use only years with more than
  ``(1 - 0.0502) * 365`` valid days (:data:`MIN_DAYS_PER_YEAR`).
* **Quantiles** are linear interpolations (``numpy.quantile`` default = R's type 7).
* **Undefined** signatures raise :class:`~ealstm.errors.NoValidDataError`. Following CAMELS,
  frequency and duration are 0 (not undefined) when no day is a high / low flow day.

References
----------
.. [1] Addor, N., Newman, A. J., Mizukami, N. and Clark, M. P. (2017): The CAMELS data set:
   catchment attributes and meteorology for large-sample studies, HESS, 21, 5293-5313, Table 3.
.. [2] Sankarasubramanian, A., Vogel, R. M. and Limbrunner, J. F. (2001): Climate elasticity of
   streamflow in the United States, Water Resour. Res., 37, 1771-1781.
.. [3] Sawicz, K., Wagener, T., Sivapalan, M., Troch, P. A. and Carrillo, G. (2011): Catchment
   classification: empirical analysis of hydrologic similarity based on catchment function in
   the eastern USA, HESS, 15, 2895-2911.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ealstm.errors import BasinDataError, NoValidDataError

__all__ = [
    "CAMELS_MAX_MISSING",
    "MIN_DAYS_PER_YEAR",
    "daily_series",
    "hfd_mean",
    "high_q_dur",
    "high_q_freq",
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

#: Largest tolerated fraction of missing days (CAMELS' ``tol_na``).
CAMELS_MAX_MISSING = 0.0502
#: A water year enters ``stream_elas`` / ``hfd_mean`` only with more valid days than this.
MIN_DAYS_PER_YEAR = (1.0 - CAMELS_MAX_MISSING) * 365.0
HIGH_FLOW_FACTOR = 9.0  # high flow: q > 9 * median(q)
LOW_FLOW_FACTOR = 0.2  # low flow: q <= 0.2 * mean(q)
DAYS_PER_YEAR = 365.25


# --------------------------------------------------------------------------- helpers


def daily_series(series: pd.Series, name: str = "qobs") -> pd.Series:
    """float64 copy of ``series`` on consecutive days from its first to its last date.

    Parameters
    ----------
    series : pd.Series [time]
        Daily values on a ``DatetimeIndex`` (any order, no time of day, no repeated date).
    name : str, default "qobs"
        Name of the series in error messages.

    Returns
    -------
    pd.Series [time]
        The values on every day of the span (index ``date``); absent days are NaN.

    Raises
    ------
    BasinDataError
        Not a dated daily series, or a date repeats.
    NoValidDataError
        ``series`` is empty.
    """
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
    q = daily_series(qobs).dropna().to_numpy()
    if q.size == 0:
        raise NoValidDataError("no valid (non-NaN) discharge value")
    return q


def _joint(qobs: pd.Series, prcp: pd.Series | None) -> tuple[pd.Series, pd.Series]:
    """Discharge and precipitation on the days where both are valid."""
    if prcp is None:
        raise NoValidDataError("this signature needs precipitation, got prcp=None")
    q = daily_series(qobs)
    p = daily_series(prcp, "prcp").reindex(q.index)
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
    r"""Runoff ratio :math:`\bar Q / \bar P` over the days where both are valid [1]_.

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


def stream_elas(qobs: pd.Series, prcp: pd.Series | None) -> float:
    r"""Streamflow-precipitation elasticity of Sankarasubramanian et al. (2001) [2]_.

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
    q = daily_series(qobs).dropna()
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
