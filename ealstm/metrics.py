r"""Hydrological performance metrics of Kratzert et al. (2019), Table 1, plus the KGE.

Every metric has the signature ``metric(obs, sim) -> float`` with the **observations first**
(as in neuralhydrology and scikit-learn's ``(y_true, y_pred)``), takes 1-D array-likes of the
same shape and works in float64 whatever the input dtype.

A shared base module (like :mod:`ealstm.io`): pure functions of arrays that import no stage, so
the training loop's validation NSE, the evaluation, the experiments and the reports all score
with the same code.

Conventions shared by all metrics
---------------------------------
* **Masking.** A time step is used only where *both* ``obs`` and ``sim`` are non-NaN; the
  metric is then exactly the metric of the arrays with those steps dropped. Infinite values are
  not masked (an infinite simulation is a model failure that must stay visible).
* **No silent NaN.** Fewer than :data:`MIN_VALID_STEPS` valid steps, constant observations (for
  the NSE-type metrics), or a degenerate flow duration curve raise
  :class:`~ealstm.errors.NoValidDataError` with the reason. :func:`calculate_metrics` and
  :func:`evaluate_basins` turn these into NaN only on request and then say why.
* **Standard deviations** are population ones (``ddof=0``), as in neuralhydrology.
* **Flow duration curves (FDC).** ``obs`` and ``sim`` are each sorted in descending order
  *independently* (after masking), so the FHV/FMS/FLV compare distributions, not time steps.
  Segment sizes and indices are ``np.round(fraction * n)``, i.e. round half to even (neuralhydrology
  does the same): with ``n`` valid steps the top 2 % are the ``round(0.02 n)`` largest flows
  (``n = 75`` -> 2, ``n = 125`` -> 2, ``n = 25`` -> 0, which raises).
* **Logarithms** (FMS, FLV): as in the paper's code (``calc_fdc_fms``, ``calc_fdc_flv``), flows
  ``<= 0`` in either series are replaced by :data:`FLOW_EPS` ``= 1e-6`` and then
  ``log(q + FLOW_EPS)`` is taken, so a zero flow (clipped simulation) enters as ``log(2e-6)``.
  (The paper's code replaces only exact zeros; a negative flow, possible only with
  ``evaluation.clip_negative: false``, would give NaN there and is treated as zero here.)

References
----------
.. [1] Nash, J. E. and Sutcliffe, J. V. (1970): River flow forecasting through conceptual models
   part I - A discussion of principles, J. Hydrol., 10, 282-290.
.. [2] Gupta, H. V., Kling, H., Yilmaz, K. K. and Martinez, G. F. (2009): Decomposition of the
   mean squared error and NSE performance criteria: Implications for improving hydrological
   modelling, J. Hydrol., 377, 80-91.
.. [3] Yilmaz, K. K., Gupta, H. V. and Wagener, T. (2008): A process-based diagnostic approach to
   model evaluation: Application to the NWS distributed hydrologic model, Water Resour. Res.,
   44, W09417.
.. [4] Kratzert, F. et al. (2019): Towards learning universal, regional, and local hydrological
   behaviors via machine learning applied to large-sample datasets, HESS, 23, 5089-5110, Table 1.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import ArrayLike

from ealstm.errors import ConfigError, NoValidDataError

__all__ = [
    "FLOW_EPS",
    "METRICS",
    "MIN_VALID_STEPS",
    "alpha_nse",
    "beta_nse",
    "calculate_metrics",
    "evaluate_basins",
    "fhv",
    "flv",
    "fms",
    "kge",
    "nse",
    "summarize",
]

logger = logging.getLogger(__name__)

#: Flows ``<= 0`` are replaced by this value, and it is added to every flow, before the
#: logarithms of FMS and FLV (paper code ``calc_fdc_fms``/``calc_fdc_flv``).
FLOW_EPS = 1e-6
#: Minimum number of time steps with both ``obs`` and ``sim`` valid.
MIN_VALID_STEPS = 2


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------
def _valid_pair(obs: ArrayLike, sim: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return float64 ``obs`` and ``sim`` restricted to steps where neither is NaN."""
    obs_arr = np.asarray(obs, dtype=np.float64)
    sim_arr = np.asarray(sim, dtype=np.float64)
    if obs_arr.shape != sim_arr.shape or obs_arr.ndim != 1:
        raise ValueError(
            "obs and sim must be 1-D arrays of the same shape, got obs of shape "
            f"{obs_arr.shape} and sim of shape {sim_arr.shape}"
        )
    valid = ~(np.isnan(obs_arr) | np.isnan(sim_arr))
    n_valid = int(valid.sum())
    if n_valid < MIN_VALID_STEPS:
        raise NoValidDataError(
            f"only {n_valid} of {obs_arr.size} time steps have both obs and sim non-NaN; "
            f"metrics need at least {MIN_VALID_STEPS}"
        )
    return obs_arr[valid], sim_arr[valid]


def _require_variable_obs(obs: np.ndarray) -> None:
    """Raise if ``obs`` is constant, which makes NSE-type metrics undefined."""
    if obs.max() == obs.min():
        raise NoValidDataError(
            f"obs is constant ({obs[0]:g} on all {obs.size} valid steps): its variance is zero, "
            "so NSE-type metrics are undefined"
        )


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie in the open interval (0, 1), got {value!r}")


def _fdc(q: np.ndarray) -> np.ndarray:
    """Flow duration curve: flows sorted from highest to lowest."""
    return np.sort(q)[::-1]


def _log_fdc(q: np.ndarray) -> np.ndarray:
    """``log(q + FLOW_EPS)`` of the FDC, flows ``<= 0`` replaced by :data:`FLOW_EPS` first.

    Exactly the paper code's transform (``q[q == 0] = 1e-6``, then ``np.log(q + 1e-6)``).
    """
    fdc = _fdc(q)
    return np.log(np.where(fdc <= 0.0, FLOW_EPS, fdc) + FLOW_EPS)


def _segment_size(fraction: float, n: int) -> int:
    """Return the FDC segment size ``np.round(fraction * n)`` (round half to even)."""
    return int(np.round(fraction * n))


# --------------------------------------------------------------------------------------------
# NSE family
# --------------------------------------------------------------------------------------------
def nse(obs: ArrayLike, sim: ArrayLike) -> float:
    r"""Nash-Sutcliffe efficiency [1]_.

    .. math::
        \mathrm{NSE} = 1 - \frac{\sum_{t=1}^{T} (Q_s^t - Q_o^t)^2}
                                {\sum_{t=1}^{T} (Q_o^t - \overline{Q_o})^2}

    Parameters
    ----------
    obs, sim : array-like [time]
        Observed and simulated discharge; steps where either is NaN are dropped.

    Returns
    -------
    float
        NSE in :math:`(-\infty, 1]`; 1 is a perfect fit, 0 is as good as the observed mean.

    Raises
    ------
    ValueError
        ``obs`` and ``sim`` are not 1-D arrays of the same shape.
    NoValidDataError
        Fewer than two valid steps, or ``obs`` is constant.
    """
    obs, sim = _valid_pair(obs, sim)
    _require_variable_obs(obs)
    return float(1.0 - np.sum((sim - obs) ** 2) / np.sum((obs - obs.mean()) ** 2))


def alpha_nse(obs: ArrayLike, sim: ArrayLike) -> float:
    r"""Alpha term of the NSE decomposition [2]_: ratio of standard deviations.

    .. math:: \alpha = \sigma_s / \sigma_o

    Parameters
    ----------
    obs, sim : array-like [time]
        Observed and simulated discharge; steps where either is NaN are dropped.

    Returns
    -------
    float
        1 for a perfect variability; < 1 underestimates, > 1 overestimates it.

    Raises
    ------
    ValueError
        ``obs`` and ``sim`` are not 1-D arrays of the same shape.
    NoValidDataError
        Fewer than two valid steps, or ``obs`` is constant.
    """
    obs, sim = _valid_pair(obs, sim)
    _require_variable_obs(obs)
    return float(sim.std() / obs.std())


def beta_nse(obs: ArrayLike, sim: ArrayLike) -> float:
    r"""Beta term of the NSE decomposition [2]_: mean bias scaled by the observed std.

    .. math:: \beta = (\mu_s - \mu_o) / \sigma_o

    Parameters
    ----------
    obs, sim : array-like [time]
        Observed and simulated discharge; steps where either is NaN are dropped.

    Returns
    -------
    float
        0 for an unbiased mean; positive when the simulation is too high.

    Raises
    ------
    ValueError
        ``obs`` and ``sim`` are not 1-D arrays of the same shape.
    NoValidDataError
        Fewer than two valid steps, or ``obs`` is constant.
    """
    obs, sim = _valid_pair(obs, sim)
    _require_variable_obs(obs)
    return float((sim.mean() - obs.mean()) / obs.std())


def kge(obs: ArrayLike, sim: ArrayLike) -> float:
    r"""Kling-Gupta efficiency [2]_.

    .. math::
        \mathrm{KGE} = 1 - \sqrt{(r - 1)^2 + (\alpha - 1)^2 + (\beta_{KGE} - 1)^2},
        \quad \alpha = \sigma_s / \sigma_o, \quad \beta_{KGE} = \mu_s / \mu_o,

    with :math:`r` the Pearson correlation of ``obs`` and ``sim``. Note that
    :math:`\beta_{KGE}` is a ratio of means, unlike :func:`beta_nse`.

    Parameters
    ----------
    obs, sim : array-like [time]
        Observed and simulated discharge; steps where either is NaN are dropped.

    Returns
    -------
    float
        KGE in :math:`(-\infty, 1]`; 1 is a perfect fit.

    Raises
    ------
    ValueError
        ``obs`` and ``sim`` are not 1-D arrays of the same shape.
    NoValidDataError
        Fewer than two valid steps, ``obs`` constant, ``sim`` constant (correlation undefined)
        or a zero observed mean.
    """
    obs, sim = _valid_pair(obs, sim)
    _require_variable_obs(obs)
    if sim.max() == sim.min():
        raise NoValidDataError(
            f"sim is constant ({sim[0]:g}): the correlation r of the KGE is undefined"
        )
    if obs.mean() == 0.0:
        raise NoValidDataError("the mean of obs is zero: the KGE ratio of means is undefined")
    obs_anom, sim_anom = obs - obs.mean(), sim - sim.mean()
    r = np.sum(obs_anom * sim_anom) / np.sqrt(np.sum(obs_anom**2) * np.sum(sim_anom**2))
    alpha = sim.std() / obs.std()
    beta = sim.mean() / obs.mean()
    return float(1.0 - np.sqrt((r - 1.0) ** 2 + (alpha - 1.0) ** 2 + (beta - 1.0) ** 2))


# --------------------------------------------------------------------------------------------
# flow duration curve signatures (Yilmaz et al. 2008)
# --------------------------------------------------------------------------------------------
def fhv(obs: ArrayLike, sim: ArrayLike, fraction: float = 0.02) -> float:
    r"""Percent bias of the peak-flow segment of the flow duration curve (FHV) [3]_.

    .. math::
        \%\mathrm{BiasFHV} = \frac{\sum_{h=1}^{H} (QS_h - QO_h)}{\sum_{h=1}^{H} QO_h} \times 100

    :math:`QS_h` and :math:`QO_h` are the :math:`h`-th largest simulated and observed flows
    (each series sorted on its own) and :math:`H` = ``np.round(fraction * n)`` (round half to
    even) for ``n`` valid steps: with the default 2 %, ``n = 26..74`` gives one flow and
    ``n = 75..125`` two.

    Parameters
    ----------
    obs, sim : array-like [time]
        Observed and simulated discharge; steps where either is NaN are dropped.
    fraction : float, default 0.02
        Share of the highest flows forming the peak segment, in (0, 1).

    Returns
    -------
    float
        Bias in percent; positive when simulated peaks are too high.

    Raises
    ------
    ValueError
        Shapes differ, not 1-D, or ``fraction`` outside (0, 1).
    NoValidDataError
        Fewer than two valid steps, ``H`` rounds to 0 (``n <= 0.5 / fraction``) or the observed
        peak flows sum to zero.
    """
    _check_fraction("fraction", fraction)
    obs, sim = _valid_pair(obs, sim)
    n_high = _segment_size(fraction, obs.size)
    if n_high == 0:
        raise NoValidDataError(
            f"the top {100 * fraction:g} % of {obs.size} valid steps round to zero flows; "
            f"FHV needs more than {0.5 / fraction:g} valid steps"
        )
    obs_high, sim_high = _fdc(obs)[:n_high], _fdc(sim)[:n_high]
    obs_total = obs_high.sum()
    if obs_total == 0.0:
        raise NoValidDataError("the observed peak flows sum to zero, so FHV is undefined")
    return float(100.0 * np.sum(sim_high - obs_high) / obs_total)


def fms(obs: ArrayLike, sim: ArrayLike, lower: float = 0.2, upper: float = 0.7) -> float:
    r"""Percent bias of the slope of the FDC mid-segment (FMS) [3]_.

    .. math::
        \%\mathrm{BiasFMS} = \frac{[\log QS_{m1} - \log QS_{m2}] - [\log QO_{m1} - \log QO_{m2}]}
                                  {\log QO_{m1} - \log QO_{m2}} \times 100

    :math:`m1` and :math:`m2` are the FDC entries at exceedance probabilities ``lower`` and
    ``upper``: the 0-based indices ``np.round(lower * n)`` and ``np.round(upper * n)`` (capped at
    ``n - 1``) of the descending FDC of ``n`` valid steps, e.g. 2 and 7 for ``n = 10``. The logs
    are ``log(q + 1e-6)`` with flows ``<= 0`` set to :data:`FLOW_EPS` first (paper code). Unlike
    the paper code, no ``1e-6`` is added to the denominator: a flat observed mid-segment raises
    instead of giving a huge value.

    Parameters
    ----------
    obs, sim : array-like [time]
        Observed and simulated discharge; steps where either is NaN are dropped.
    lower, upper : float, default 0.2 and 0.7
        Exceedance probabilities bounding the mid-segment, ``0 < lower < upper < 1``.

    Returns
    -------
    float
        Bias in percent; positive when the simulated mid-segment is too steep.

    Raises
    ------
    ValueError
        Shapes differ, not 1-D, or the bounds are not ``0 < lower < upper < 1``.
    NoValidDataError
        Fewer than two valid steps, or the observed FDC is flat between the two bounds.
    """
    _check_fraction("lower", lower)
    _check_fraction("upper", upper)
    if lower >= upper:
        raise ValueError(f"lower must be smaller than upper, got lower={lower}, upper={upper}")
    obs, sim = _valid_pair(obs, sim)
    i_m1 = min(_segment_size(lower, obs.size), obs.size - 1)
    i_m2 = min(_segment_size(upper, obs.size), obs.size - 1)
    log_obs, log_sim = _log_fdc(obs), _log_fdc(sim)
    slope_obs = log_obs[i_m1] - log_obs[i_m2]
    slope_sim = log_sim[i_m1] - log_sim[i_m2]
    if slope_obs == 0.0:
        raise NoValidDataError(
            f"the observed FDC is flat between exceedance {lower} and {upper} "
            f"(indices {i_m1} and {i_m2} of {obs.size}), so FMS is undefined"
        )
    return float(100.0 * (slope_sim - slope_obs) / slope_obs)


def flv(obs: ArrayLike, sim: ArrayLike, fraction: float = 0.3) -> float:
    r"""Percent bias of the low-flow segment of the flow duration curve (FLV) [3]_.

    .. math::
        \%\mathrm{BiasFLV} = -1 \times
            \frac{\sum_{l=1}^{L} [\log QS_l - \log QS_L] - \sum_{l=1}^{L} [\log QO_l - \log QO_L]}
                 {\sum_{l=1}^{L} [\log QO_l - \log QO_L]} \times 100

    The low segment is the ``L = np.round(fraction * n)`` smallest flows of each series (sorted on
    its own), :math:`Q_L` its minimum; the logs are ``log(q + 1e-6)`` with flows ``<= 0`` set to
    :data:`FLOW_EPS` first (paper code). The factor -1 follows Yilmaz et al. (2008) and the paper
    code. Unlike the paper code, no ``1e-6`` is added to the denominator: a flat observed low
    segment raises instead.

    Parameters
    ----------
    obs, sim : array-like [time]
        Observed and simulated discharge; steps where either is NaN are dropped.
    fraction : float, default 0.3
        Share of the lowest flows forming the low-flow segment, in (0, 1).

    Returns
    -------
    float
        Bias in percent.

    Raises
    ------
    ValueError
        Shapes differ, not 1-D, or ``fraction`` outside (0, 1).
    NoValidDataError
        Fewer than two valid steps, a low segment of fewer than two flows, or a flat observed
        low segment (e.g. all zero flows).
    """
    _check_fraction("fraction", fraction)
    obs, sim = _valid_pair(obs, sim)
    n_low = _segment_size(fraction, obs.size)
    if n_low < 2:
        raise NoValidDataError(
            f"the lowest {100 * fraction:g} % of {obs.size} valid steps hold {n_low} flow(s); "
            "FLV needs at least 2"
        )
    log_obs, log_sim = _log_fdc(obs)[-n_low:], _log_fdc(sim)[-n_low:]
    spread_obs = np.sum(log_obs - log_obs.min())
    spread_sim = np.sum(log_sim - log_sim.min())
    if spread_obs == 0.0:
        raise NoValidDataError(
            f"the observed low-flow segment ({n_low} flows) is flat, so FLV is undefined"
        )
    return float(-100.0 * (spread_sim - spread_obs) / spread_obs)


#: Registry of metric names -> functions; the single source of metric names.
METRICS: dict[str, Callable[[ArrayLike, ArrayLike], float]] = {
    "nse": nse,
    "alpha_nse": alpha_nse,
    "beta_nse": beta_nse,
    "fhv": fhv,
    "fms": fms,
    "flv": flv,
    "kge": kge,
}


# --------------------------------------------------------------------------------------------
# several metrics, several basins
# --------------------------------------------------------------------------------------------
def select_registered(names: Sequence[str] | str | None, registry: Mapping[str, object],
                      what: str, where: str = "") -> list[str]:
    """Return the requested names of ``registry`` (all by default); raise on unknown ones.

    The one check behind metric and signature names; ``what`` names the kind ("metric") and
    ``where`` the config key the names come from, if any.
    """
    if names is None:
        return list(registry)
    names = [names] if isinstance(names, str) else list(names)
    unknown = [name for name in names if name not in registry]
    if unknown:
        raise ConfigError(f"unknown {what}(s) {unknown}; choose from {sorted(registry)}"
                          + (f" ({where})" if where else ""))
    return names


def _metric_names(metrics: Sequence[str] | None) -> list[str]:
    """Validate requested metric names; ``None`` means all of :data:`METRICS`."""
    return select_registered(metrics, METRICS, "metric", "evaluation.metrics in the config")


def calculate_metrics(
    obs: ArrayLike,
    sim: ArrayLike,
    metrics: Sequence[str] | None = None,
    errors: Literal["raise", "nan"] = "raise",
) -> dict[str, float]:
    """Compute several metrics of one basin.

    Parameters
    ----------
    obs, sim : array-like [time]
        Observed and simulated discharge (see the module conventions on masking).
    metrics : sequence of str, optional
        Names from :data:`METRICS`; all of them (in registry order) by default.
    errors : {"raise", "nan"}, default "raise"
        What to do when a metric cannot be computed for this basin
        (:class:`~ealstm.errors.NoValidDataError`): re-raise it with the metric's name, or
        record NaN for it. Shape errors are always raised.

    Returns
    -------
    dict of str to float
        Metric name -> value, in the order requested.

    Raises
    ------
    ConfigError
        Unknown metric name or ``errors`` value.
    NoValidDataError
        With ``errors="raise"``, a metric cannot be computed.
    """
    if errors not in ("raise", "nan"):
        raise ConfigError(f"errors must be 'raise' or 'nan', got {errors!r}")
    values: dict[str, float] = {}
    for name in _metric_names(metrics):
        try:
            values[name] = float(METRICS[name](obs, sim))
        except NoValidDataError as exc:
            if errors == "raise":
                raise NoValidDataError(f"{name}: {exc}") from exc
            values[name] = math.nan
    return values


def summarize(nse: ArrayLike) -> dict[str, float | int]:
    """Summarise per-basin NSE values as in the paper's Table 2.

    Parameters
    ----------
    nse : array-like [basin]
        NSE of each basin; NaN marks a basin that could not be evaluated and is ignored.

    Returns
    -------
    dict
        ``mean`` and ``median`` (floats) over the valid basins, ``n_nse_le_0`` (basins with
        NSE <= 0, the paper's "catastrophic failures"), ``n_basins`` (valid basins used) and
        ``n_invalid`` (NaN entries ignored).

    Raises
    ------
    ValueError
        ``nse`` is not 1-D.
    NoValidDataError
        No basin has a valid (non-NaN) NSE.
    """
    values = np.asarray(nse, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"nse must be 1-D [basin], got shape {values.shape}")
    valid = values[~np.isnan(values)]
    if valid.size == 0:
        raise NoValidDataError(f"none of the {values.size} basins has a valid (non-NaN) NSE")
    return {
        "mean": float(np.mean(valid)),
        "median": float(np.median(valid)),
        "n_nse_le_0": int(np.sum(valid <= 0.0)),
        "n_basins": int(valid.size),
        "n_invalid": int(values.size - valid.size),
    }


def _aligned(qobs: xr.DataArray, qsim: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Check dims ``(basin, date)`` and identical coordinates; return both as [basin, date]."""
    for name, da in (("qobs", qobs), ("qsim", qsim)):
        if set(da.dims) != {"basin", "date"}:
            raise ValueError(f"{name} must have dims ('basin', 'date'), got {da.dims}")
    qobs, qsim = qobs.transpose("basin", "date"), qsim.transpose("basin", "date")
    try:
        return xr.align(qobs, qsim, join="exact")
    except ValueError as exc:
        raise ValueError(
            f"qobs and qsim must share the same basin and date coordinates: {exc}"
        ) from exc


def _basin_row(obs: np.ndarray, sim: np.ndarray, names: list[str]) -> dict[str, object]:
    """Metrics, ``n_valid`` and ``status`` of one basin; metrics NaN only if status != ok."""
    obs_ok, sim_ok = ~np.isnan(obs), ~np.isnan(sim)
    n_valid = int(np.sum(obs_ok & sim_ok))
    row: dict[str, object] = dict.fromkeys(names, math.nan)
    row["n_valid"] = n_valid
    if not obs_ok.any():
        row["status"] = "no valid observations"
    elif not sim_ok.any():
        row["status"] = "no valid simulations"
    elif n_valid < MIN_VALID_STEPS:
        row["status"] = f"only {n_valid} time step(s) with both obs and sim valid"
    else:
        failures = []
        for name in names:
            try:
                row[name] = float(METRICS[name](obs, sim))
            except NoValidDataError as exc:
                failures.append(f"{name}: {exc}")
        row["status"] = "; ".join(failures) if failures else "ok"
    return row


def evaluate_basins(
    qobs: xr.DataArray, qsim: xr.DataArray, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per-basin metric table.

    Parameters
    ----------
    qobs, qsim : xr.DataArray [basin, date]
        Observed and simulated discharge with identical ``basin`` and ``date`` coordinates
        (any dimension order).
    metrics : sequence of str, optional
        Names from :data:`METRICS`; all by default.

    Returns
    -------
    pd.DataFrame
        One row per basin, index ``basin`` (str); columns the metric names, ``n_valid`` (steps
        with both obs and sim non-NaN) and ``status``: ``"ok"`` or why the basin (or which
        metric) could not be evaluated, e.g. ``"no valid observations"``. A metric is NaN only
        in rows whose status is not ``"ok"``; such basins are also logged as a warning.

    Raises
    ------
    ValueError
        Wrong dims or coordinates that differ between ``qobs`` and ``qsim``.
    ConfigError
        Unknown metric name.
    """
    names = _metric_names(metrics)
    qobs, qsim = _aligned(qobs, qsim)
    obs_values = np.asarray(qobs.values, dtype=np.float64)
    sim_values = np.asarray(qsim.values, dtype=np.float64)
    rows = [_basin_row(obs_values[i], sim_values[i], names) for i in range(obs_values.shape[0])]
    index = pd.Index([str(b) for b in qobs["basin"].values], name="basin")
    table = pd.DataFrame(rows, index=index, columns=[*names, "n_valid", "status"])
    failed = table.index[table["status"] != "ok"]
    if len(failed) > 0:
        logger.warning(
            "%d of %d basins not fully evaluated: %s", len(failed), len(table), list(failed)
        )
    return table
