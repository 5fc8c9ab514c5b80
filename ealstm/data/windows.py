"""Valid (basin, day) samples and vectorised gathering of their input windows.

A sample ``(b, t)`` stands for the input window ``dynamic[b, t - seq_length + 1 : t + 1]`` and
the target ``target[b, t]`` (sequence-to-one, Kratzert et al. 2019, section 2.4). Windows are
never copied ahead of time: the index holds two integer arrays, and :func:`gather_batch` cuts
the windows of one batch out of the contiguous per-basin arrays with a single fancy index.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from ealstm.data.arrays import BasinArrays
from ealstm.errors import NoValidDataError

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class SampleIndex:
    """The valid samples of a period and how many candidates were dropped.

    Attributes
    ----------
    basin, time
        int64 ``[sample]`` basin row and time index of the window's last day, sorted by basin,
        then time.
    n_dropped_missing_input
        Candidates whose window has a non-finite input or does not fit in the array.
    n_dropped_missing_target
        Candidates with a complete window but a non-finite target (only if it is required).
    """

    basin: np.ndarray
    time: np.ndarray
    n_dropped_missing_input: int
    n_dropped_missing_target: int

    def __len__(self) -> int:
        return int(self.basin.shape[0])


class Batch(NamedTuple):
    """One mini-batch of samples.

    Attributes
    ----------
    x_d
        float32 ``[batch, time, feature]`` input windows (time = ``seq_length``).
    x_s
        float32 ``[batch, attribute]`` static attributes.
    y
        float32 ``[batch, predict_last_n]`` targets of the window's last days.
    basin
        int64 ``[batch]`` basin rows (e.g. to look up per-basin target std for NSE*).
    """

    x_d: torch.Tensor
    x_s: torch.Tensor
    y: torch.Tensor
    basin: torch.Tensor


def sample_index(dynamic: np.ndarray, target: np.ndarray, seq_length: int, time_slice: slice,
                 require_target: bool = True, target_window: int = 1) -> SampleIndex:
    """Find the samples ``(b, t)``, ``t`` in ``time_slice``, whose window is complete.

    A candidate is valid when its window lies inside the array, every input in it is finite
    and, if ``require_target``, at least one of the targets ``target[b, t - target_window + 1 :
    t + 1]`` that lie inside ``time_slice`` is finite (``target_window = 1``: the last day's,
    sequence-to-one). Targets before the period never count: :func:`gather_batch` masks them.
    Counts of bad days come from cumulative sums along time, so the cost is O(basin * time).

    Parameters
    ----------
    dynamic
        ``[basin, time, feature]`` inputs.
    target
        ``[basin, time]`` target.
    seq_length
        Length of the input window in days.
    time_slice
        Candidate last days of the windows (step 1), e.g. ``arrays.time_slice(period)``.
    require_target
        Drop samples without a finite target (training, validation loss).
    target_window
        Number of last days of the window whose targets enter the loss (``predict_last_n``).

    Returns
    -------
    SampleIndex
    """
    n_basins, n_times = _check_shapes(dynamic, target, seq_length)
    start, stop, step = time_slice.indices(n_times)
    if step != 1:
        raise ValueError(f"time_slice must have step 1, got {time_slice}")
    first = max(start, seq_length - 1)  # earlier last days would need days before the array
    n_outside = max(0, min(first, stop) - start) * n_basins
    if stop <= first:
        empty = np.zeros(0, dtype=np.int64)
        return SampleIndex(empty, empty.copy(), n_outside, 0)
    bad = (~np.isfinite(dynamic).all(axis=2)).astype(np.int32)
    n_bad = np.zeros((n_basins, n_times + 1), dtype=np.int32)
    np.cumsum(bad, axis=1, out=n_bad[:, 1:])
    ends = np.arange(first, stop)
    input_ok = (n_bad[:, ends + 1] - n_bad[:, ends + 1 - seq_length]) == 0
    valid = (input_ok & _has_target(target, ends, target_window, start) if require_target
             else input_ok)
    basin, offset = np.nonzero(valid)
    n_missing_input = int((~input_ok).sum())
    return SampleIndex(
        basin=basin.astype(np.int64), time=(offset + first).astype(np.int64),
        n_dropped_missing_input=n_missing_input + n_outside,
        n_dropped_missing_target=int(input_ok.sum() - valid.sum()))


def _has_target(target: np.ndarray, ends: np.ndarray, target_window: int,
                period_start: int = 0) -> np.ndarray:
    """Tell per ``[basin, end]`` whether a target of the last ``target_window`` days is finite.

    Only days at or after ``period_start`` count (``ends`` lie at or after it).
    """
    if target_window == 1:
        return np.isfinite(target[:, ends])
    finite = np.zeros((target.shape[0], target.shape[1] + 1), dtype=np.int32)
    np.cumsum(np.isfinite(target), axis=1, out=finite[:, 1:])
    first = np.maximum(ends + 1 - target_window, max(period_start, 0))
    return (finite[:, ends + 1] - finite[:, first]) > 0


def thin_index(index: SampleIndex, every: int, rng: np.random.Generator) -> SampleIndex:
    """Keep every ``every``-th sample day of each basin, from a random offset per basin.

    With sequence-to-sequence training (``predict_last_n = every``), this visits each target
    day about once per epoch instead of ``every`` times.
    """
    if every <= 1:
        return index
    n_basins = int(index.basin.max()) + 1 if len(index) else 0
    offset = rng.integers(0, every, size=n_basins)
    keep = (index.time - offset[index.basin]) % every == 0
    return SampleIndex(index.basin[keep], index.time[keep], index.n_dropped_missing_input,
                       index.n_dropped_missing_target)


def _check_shapes(dynamic: np.ndarray, target: np.ndarray, seq_length: int) -> tuple[int, int]:
    """Validate the array shapes and the window length; return ``(n_basins, n_times)``."""
    if dynamic.ndim != 3 or target.shape != dynamic.shape[:2]:
        raise ValueError(f"dynamic must be [basin, time, feature] and target [basin, time]; "
                         f"got {dynamic.shape} and {target.shape}")
    if seq_length < 1:
        raise ValueError(f"seq_length must be at least 1, got {seq_length}")
    return int(dynamic.shape[0]), int(dynamic.shape[1])


def gather_batch(arrays: BasinArrays, basin_idx: np.ndarray, time_idx: np.ndarray,
                 seq_length: int, predict_last_n: int = 1,
                 target_period: slice | None = None) -> Batch:
    """Cut the windows of the samples ``(basin_idx[i], time_idx[i])`` out of ``arrays``.

    Parameters
    ----------
    arrays
        (Scaled) arrays the sample index refers to.
    basin_idx, time_idx
        int ``[batch]`` basin rows and last days of the windows.
    seq_length
        Window length in days.
    predict_last_n
        Number of last days of each window whose targets are returned.
    target_period
        Time indices (step 1) whose targets may enter the loss, e.g. the training period:
        targets of days outside it are returned as NaN, so that no observation of another
        period is trained on (a sequence-to-sequence window ending early in the period predicts
        days before its start). Input days are never masked: earlier days are warm-up.

    Returns
    -------
    Batch
        ``x_d [batch, seq_length, feature]``, ``x_s [batch, attribute]``,
        ``y [batch, predict_last_n]`` and
        ``basin [batch]`` as CPU tensors.

    Raises
    ------
    IndexError
        If a window does not lie inside the arrays.
    """
    basin_idx = np.asarray(basin_idx, dtype=np.int64)
    time_idx = np.asarray(time_idx, dtype=np.int64)
    n_times = arrays.dynamic.shape[1]
    if time_idx.size and (time_idx.min() < seq_length - 1 or time_idx.max() >= n_times):
        raise IndexError(f"windows of {seq_length} days ending at time indices "
                         f"{time_idx.min()}..{time_idx.max()} do not lie in [0, {n_times})")
    days = time_idx[:, None] + np.arange(1 - seq_length, 1, dtype=np.int64)  # [batch, seq]
    x_d = arrays.dynamic[basin_idx[:, None], days]
    target_days = days[:, seq_length - predict_last_n:]
    y = np.array(arrays.target[basin_idx[:, None], target_days], dtype=np.float32)
    if target_period is not None:
        start, stop, _ = target_period.indices(n_times)
        y[(target_days < start) | (target_days >= stop)] = np.nan
    return Batch(
        x_d=torch.from_numpy(np.ascontiguousarray(x_d, dtype=np.float32)),
        x_s=torch.from_numpy(np.ascontiguousarray(arrays.static[basin_idx], dtype=np.float32)),
        y=torch.from_numpy(y), basin=torch.from_numpy(basin_idx.copy()))


def iterate_batches(
    index: SampleIndex, batch_size: int, shuffle: bool, rng: np.random.Generator | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(basin_idx, time_idx)`` int64 arrays of at most ``batch_size`` samples.

    Parameters
    ----------
    index
        Samples to iterate over, each exactly once.
    batch_size
        Samples per batch; the last batch may be smaller.
    shuffle
        Visit the samples in a random order drawn from ``rng``.
    rng
        Random generator (seed it for reproducible epochs); a fresh unseeded one if ``None``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    n = len(index)
    if shuffle:
        order = (rng if rng is not None else np.random.default_rng()).permutation(n)
    else:
        order = np.arange(n)
    for start in range(0, n, batch_size):
        chosen = order[start:start + batch_size]
        yield index.basin[chosen], index.time[chosen]


def nse_star_std(arrays: BasinArrays, time_slice: slice,
                 index: SampleIndex | None = None) -> pd.DataFrame:
    r"""Compute the per-basin :math:`s(b)` of NSE* (Kratzert et al. 2019, eq. 13).

    :math:`s(b)` is the population standard deviation of the basin's *raw* discharge in mm/day
    (``arrays.observed``, never the standardised target) over the finite days of the training
    period, as in the paper's code; the loss adds :math:`\epsilon` to it and weights the
    squared errors of the *standardised* target by :math:`1 / (s(b) + \epsilon)^2`. Every
    training path (runs, tuning folds, experiment members, ungauged folds) takes it from here.

    Parameters
    ----------
    arrays
        Arrays of the training basins (scaled or not; the raw discharge is used).
    time_slice
        The training period, e.g. ``arrays.time_slice(cfg.data.train_period)``.
    index
        Training samples; a basin in it without any finite target raises.

    Returns
    -------
    pandas.DataFrame
        Index ``basin``; columns ``std_mm_day`` (float64, 0 for a basin without data) and
        ``n_days`` (finite days it was computed from).

    Raises
    ------
    NoValidDataError
        If a basin with samples in ``index`` has no finite discharge in ``time_slice``.
    """
    std = basin_target_std(arrays.observed, time_slice, index, arrays.basins)
    n_days = np.isfinite(np.asarray(arrays.observed)[:, time_slice]).sum(axis=1)
    return pd.DataFrame({"std_mm_day": std.astype(np.float64), "n_days": n_days.astype(np.int64)},
                        index=pd.Index(list(arrays.basins), name="basin"))


def basin_target_std(target: np.ndarray, time_slice: slice, index: SampleIndex | None = None,
                     basins: Sequence[str] | None = None) -> np.ndarray:
    """Compute the population std of each basin's target in ``time_slice``.

    For the NSE* weights use :func:`nse_star_std`, which passes the raw discharge.

    Parameters
    ----------
    target
        ``[basin, time]`` target.
    time_slice
        The training period, e.g. ``arrays.time_slice(cfg.train_period)``.
    index
        Training samples; a basin in it without any finite target raises.
    basins
        Basin ids, for the error message.

    Returns
    -------
    np.ndarray
        float64 ``[basin]`` population std over the finite values; 0 for basins without any
        (they have no training samples).

    Raises
    ------
    NoValidDataError
        If a basin with samples in ``index`` has no finite target in ``time_slice``.
    """
    window = np.asarray(target)[:, time_slice].astype(np.float64)
    finite = np.isfinite(window)
    count = finite.sum(axis=1)
    filled = np.where(finite, window, 0.0)
    mean = filled.sum(axis=1) / np.maximum(count, 1)
    var = np.where(finite, (window - mean[:, None]) ** 2, 0.0).sum(axis=1) / np.maximum(count, 1)
    empty = np.flatnonzero(count == 0)
    if empty.size and index is not None:
        used = np.intersect1d(empty, index.basin)
        if used.size:
            names = [basins[i] for i in used] if basins is not None else used.tolist()
            raise NoValidDataError(f"basins {names} have samples but no finite target in the "
                                   "training period, so NSE* has no standard deviation for them")
    if empty.size:
        log.debug("%d basins have no finite target in the period; their std is 0", empty.size)
    return np.sqrt(var)
