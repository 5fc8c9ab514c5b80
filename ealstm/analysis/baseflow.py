r"""Baseflow index of CAMELS: the Lyne-Hollick filter as standardised by Ladson et al. (2013).

The filter (reflection padding, alternating forward and backward passes) is a method of its
own, checked by hand and against a loop transcription of Ladson's ``BFI.R``; it is kept apart
from the other signatures (:mod:`ealstm.analysis.flow_signatures`), which are one-line
statistics. :func:`lyne_hollick_baseflow` filters one gap-free segment (plain numpy);
:func:`baseflow_index` is the signature ``f(qobs, prcp) -> float`` registered in
:data:`ealstm.analysis.signatures.SIGNATURES`.

References
----------
.. [1] Ladson, A. R., Brown, R., Neal, B. and Nathan, R. (2013): A standard approach to baseflow
   separation using the Lyne and Hollick filter, Australas. J. Water Resour., 17, 25-34.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from ealstm.analysis.flow_signatures import daily_series
from ealstm.errors import ConfigError, NoValidDataError

__all__ = ["BFI_ALPHA", "BFI_PASSES", "BFI_REFLECT", "baseflow_index", "lyne_hollick_baseflow"]

#: Lyne-Hollick filter of the CAMELS baseflow index (Ladson et al. 2013).
BFI_ALPHA, BFI_PASSES, BFI_REFLECT = 0.925, 3, 30


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
    """Baseflow of one gap-free discharge segment by the Lyne-Hollick filter [1]_.

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
    q = daily_series(qobs).to_numpy()
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
