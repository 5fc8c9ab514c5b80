r"""Paired significance tests and effect sizes between model configurations (paper sect. 3.1-3.2).

Kratzert et al. (2019) compare two model configurations on the *same basins*: the per-basin NSE
of configuration A is paired with the per-basin NSE of configuration B. For single models the
per-basin value is the NSE averaged over the seeds, for ensembles the NSE of the ensemble mean.
Significance is the paired, two-sided Wilcoxon signed-rank test [1]_ and the effect size is
Cohen's d [2]_.

Pairing and missing values
--------------------------
:func:`paired_values` pairs the inputs (by index when both are :class:`pandas.Series`, by position
otherwise) and drops every pair in which either value is NaN; the number of pairs used (``n``)
and dropped (``n_dropped``) are reported, never hidden.

Wilcoxon signed-rank test
-------------------------
With differences :math:`d_i = a_i - b_i`, zero differences dropped (Wilcoxon's method, scipy's
``zero_method="wilcox"``) and :math:`R_i` the rank of :math:`|d_i|` among the rest (average
ranks for ties),

.. math::
    W^+ = \sum_{d_i > 0} R_i, \qquad W^- = \sum_{d_i < 0} R_i, \qquad T = \min(W^+, W^-).

The two-sided p-value is exact (enumeration of the :math:`2^n` equally likely sign patterns)
for :math:`n \le 50` pairs without ties or zeros and otherwise the normal approximation
:math:`z = (T - n(n+1)/4) / \sqrt{n(n+1)(2n+1)/24}` (tie-corrected, no continuity
correction), which is what :func:`scipy.stats.wilcoxon` does with ``method="auto"``; the
paper's code calls it with the same defaults.

Cohen's d
---------
The classic d of Cohen (1988, eq. 2.2.1) with the pooled standard deviation of two groups of
equal size:

.. math::
    d = \frac{\bar a - \bar b}{s_p}, \qquad s_p = \sqrt{\frac{s_a^2 + s_b^2}{2}}, \qquad
    s_x^2 = \frac{1}{n - \mathrm{ddof}} \sum_i (x_i - \bar x)^2 .

The default ``ddof=1`` uses the unbiased sample variances. The paper's code
(``papercode/evalutils.get_cohens_d``) plugs population variances (``np.var``, ``ddof=0``)
into the same pooled formula and reports :math:`|d|`; ``cohens_d(a, b, ddof=0)`` and its
absolute value reproduce that. The two differ by the factor :math:`\sqrt{n/(n-1)}` (0.1 % for
447 basins). The sign here is kept: ``d > 0`` means ``a`` is better on average.

References
----------
.. [1] Wilcoxon, F. (1945): Individual comparisons by ranking methods, Biometrics Bulletin, 1,
   80-83.
.. [2] Cohen, J. (1988): Statistical Power Analysis for the Behavioral Sciences, 2nd ed.,
   Lawrence Erlbaum Associates, Hillsdale, NJ, chapter 2.
.. [3] Kratzert, F. et al. (2019): Towards learning universal, regional, and local hydrological
   behaviors via machine learning applied to large-sample datasets, HESS, 23, 5089-5110,
   sect. 3.1-3.2.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from ealstm.errors import NoValidDataError

__all__ = [
    "COMPARISON_COLUMNS",
    "WilcoxonResult",
    "cohens_d",
    "compare_configurations",
    "paired_values",
    "wilcoxon_test",
]

logger = logging.getLogger(__name__)

#: Columns of :func:`compare_configurations`, in order.
COMPARISON_COLUMNS = (
    "config_a", "config_b", "n", "n_dropped", "mean_a", "mean_b",
    "wilcoxon_statistic", "p_value", "cohens_d",
)


class WilcoxonResult(NamedTuple):
    r"""Result of :func:`wilcoxon_test`.

    Attributes
    ----------
    statistic : float
        :math:`T = \min(W^+, W^-)`, the smaller signed-rank sum.
    p_value : float
        Two-sided p-value.
    n : int
        Number of pairs used (both values non-NaN), zero differences included.
    """

    statistic: float
    p_value: float
    n: int


def paired_values(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray, int]:
    """Pair two per-basin samples and drop the pairs where either value is NaN.

    Parameters
    ----------
    a, b : array-like [basin] or pd.Series
        Per-basin values. Two Series are aligned on their index (a basin missing from one
        of them counts as a NaN pair); anything else is paired by position.

    Returns
    -------
    a, b : numpy.ndarray [pair]
        float64 values of the complete pairs.
    n_dropped : int
        Number of pairs dropped because a value was NaN or missing.

    Raises
    ------
    ValueError
        Not 1-D, or (for non-Series input) shapes differ.
    """
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        a, b = a.align(b, join="outer")
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(
            f"a and b must be 1-D with the same length, got shapes {x.shape} and {y.shape}"
        )
    keep = ~(np.isnan(x) | np.isnan(y))
    return x[keep], y[keep], int(x.size - keep.sum())


def wilcoxon_test(a: ArrayLike, b: ArrayLike) -> WilcoxonResult:
    """Paired two-sided Wilcoxon signed-rank test of ``a`` against ``b``.

    See the module docstring for the statistic and how the p-value is computed.

    Parameters
    ----------
    a, b : array-like [basin] or pd.Series
        Paired per-basin values (see :func:`paired_values`); NaN pairs are dropped.

    Returns
    -------
    WilcoxonResult
        ``statistic`` :math:`T`, two-sided ``p_value`` and ``n`` pairs used. When all
        differences are zero the samples are indistinguishable: ``T = 0`` and ``p = 1``.

    Raises
    ------
    NoValidDataError
        No complete pair.
    """
    x, y, n_dropped = paired_values(a, b)
    if n_dropped:
        logger.info("wilcoxon_test: dropped %d pair(s) with NaN", n_dropped)
    if x.size == 0:
        raise NoValidDataError("wilcoxon_test: no pair with both values non-NaN")
    if np.all(x == y):
        return WilcoxonResult(0.0, 1.0, int(x.size))
    result = stats.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided", method="auto")
    return WilcoxonResult(float(result.statistic), float(result.pvalue), int(x.size))


def cohens_d(a: ArrayLike, b: ArrayLike, ddof: int = 1) -> float:
    r"""Cohen's d of ``a`` versus ``b`` with the pooled standard deviation [2]_.

    .. math::
        d = \frac{\bar a - \bar b}{\sqrt{(s_a^2 + s_b^2) / 2}}

    Parameters
    ----------
    a, b : array-like [basin] or pd.Series
        Paired per-basin values (see :func:`paired_values`); NaN pairs are dropped so that
        both means and variances use the same basins.
    ddof : int, default 1
        Delta degrees of freedom of the variances :math:`s^2`; 1 is Cohen's sample variance,
        0 the population variance of the paper's code.

    Returns
    -------
    float
        Signed effect size; positive when ``a`` has the larger mean. Cohen's rule of thumb:
        0.2 small, 0.5 medium, 0.8 large.

    Raises
    ------
    NoValidDataError
        Fewer than ``ddof + 1`` complete pairs, or both samples constant (zero pooled standard
        deviation), where d is undefined.
    """
    x, y, _ = paired_values(a, b)
    if x.size <= ddof:
        raise NoValidDataError(f"cohens_d: {x.size} complete pair(s), need at least {ddof + 1}")
    pooled = math.sqrt((np.var(x, ddof=ddof) + np.var(y, ddof=ddof)) / 2.0)
    if pooled == 0.0:
        raise NoValidDataError("cohens_d: both samples are constant, the pooled std is zero")
    return float((x.mean() - y.mean()) / pooled)


def _compare_pair(name_a: str, name_b: str, a: pd.Series, b: pd.Series) -> dict[str, object]:
    """One row of :func:`compare_configurations`; undefined statistics become NaN (logged)."""
    x, y, n_dropped = paired_values(a, b)
    row: dict[str, object] = {
        "config_a": name_a, "config_b": name_b, "n": int(x.size), "n_dropped": n_dropped,
        "mean_a": float(x.mean()) if x.size else math.nan,
        "mean_b": float(y.mean()) if y.size else math.nan,
    }
    try:
        test = wilcoxon_test(x, y)
        row["wilcoxon_statistic"], row["p_value"] = test.statistic, test.p_value
    except NoValidDataError as exc:
        logger.warning("%s vs %s: %s", name_a, name_b, exc)
        row["wilcoxon_statistic"], row["p_value"] = math.nan, math.nan
    try:
        row["cohens_d"] = cohens_d(x, y)
    except NoValidDataError as exc:
        logger.warning("%s vs %s: %s", name_a, name_b, exc)
        row["cohens_d"] = math.nan
    return row


def compare_configurations(nse: Mapping[str, pd.Series]) -> pd.DataFrame:
    """Pairwise Wilcoxon tests and Cohen's d between all configurations.

    Parameters
    ----------
    nse : mapping of str to pd.Series
        Configuration name -> per-basin NSE (index: basin). Pairs are formed on the basin
        index; a basin that is NaN or missing in either series is dropped from that pair only.

    Returns
    -------
    pd.DataFrame
        One row per unordered pair ``(config_a, config_b)`` with ``config_a`` before
        ``config_b`` in the mapping's order; columns :data:`COMPARISON_COLUMNS`: ``n`` pairs
        used, ``n_dropped``, the means of both over the used pairs, the Wilcoxon statistic
        :math:`T`, the two-sided ``p_value`` and the signed ``cohens_d`` (positive when
        ``config_a`` has the higher mean NSE). Statistics that are undefined for a pair (no
        complete pair, zero pooled std) are NaN and logged as warnings.
    """
    rows = [
        _compare_pair(name_a, name_b, pd.Series(nse[name_a]), pd.Series(nse[name_b]))
        for name_a, name_b in itertools.combinations(nse, 2)
    ]
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
