"""Tests of the sample index, the batch gather and the per-basin target std."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ealstm.data.arrays import BasinArrays
from ealstm.data.windows import (
    Batch,
    SampleIndex,
    basin_target_std,
    gather_batch,
    iterate_batches,
    sample_index,
    thin_index,
)
from ealstm.errors import NoValidDataError


def _arrays(n_basins: int = 3, n_times: int = 30, n_dynamic: int = 2, n_static: int = 4,
            seed: int = 0) -> BasinArrays:
    rng = np.random.default_rng(seed)
    return BasinArrays(
        basins=tuple(f"{i:08d}" for i in range(n_basins)),
        dates=pd.date_range("2000-01-01", periods=n_times, freq="D", name="date"),
        dynamic=rng.normal(size=(n_basins, n_times, n_dynamic)).astype(np.float32),
        target=rng.normal(size=(n_basins, n_times)).astype(np.float32),
        static=rng.normal(size=(n_basins, n_static)).astype(np.float32),
        dynamic_names=tuple(f"d{i}" for i in range(n_dynamic)),
        static_names=tuple(f"s{i}" for i in range(n_static)),
    )


def _naive_index(dynamic: np.ndarray, target: np.ndarray, seq_length: int, start: int,
                 stop: int, require_target: bool = True) -> set[tuple[int, int]]:
    valid = set()
    for b in range(dynamic.shape[0]):
        for t in range(start, stop):
            if t - seq_length + 1 < 0:
                continue
            if not np.isfinite(dynamic[b, t - seq_length + 1:t + 1]).all():
                continue
            if require_target and not np.isfinite(target[b, t]):
                continue
            valid.add((b, t))
    return valid


def test_all_finite_gives_every_window_inside_the_array() -> None:
    arrays = _arrays(n_basins=2, n_times=10)
    index = sample_index(arrays.dynamic, arrays.target, 4, slice(0, 10))
    assert isinstance(index, SampleIndex)
    assert len(index) == 2 * 7  # last days 3..9 in both basins
    assert index.basin.dtype == np.int64 and index.time.dtype == np.int64
    assert index.time.min() == 3 and index.time.max() == 9
    assert index.n_dropped_missing_input == 2 * 3  # last days 0..2 need days before the array
    assert index.n_dropped_missing_target == 0


def test_one_nan_input_drops_exactly_the_overlapping_windows() -> None:
    arrays = _arrays(n_basins=2, n_times=20, n_dynamic=3)
    dynamic = arrays.dynamic.copy()
    dynamic[1, 10, 2] = np.nan  # one feature of one day in basin 1
    seq_length = 5
    index = sample_index(dynamic, arrays.target, seq_length, slice(4, 20))
    kept = set(zip(index.basin.tolist(), index.time.tolist(), strict=True))
    dropped = {(1, t) for t in range(10, 15)}  # windows ending on 10..14 contain day 10
    expected = {(b, t) for b in range(2) for t in range(4, 20)} - dropped
    assert kept == expected
    assert index.n_dropped_missing_input == len(dropped)
    assert index.n_dropped_missing_target == 0


def test_nan_target_days_are_dropped_and_counted() -> None:
    arrays = _arrays(n_basins=2, n_times=15)
    target = arrays.target.copy()
    target[0, [6, 9]] = np.nan
    index = sample_index(arrays.dynamic, target, 3, slice(5, 15))
    kept = set(zip(index.basin.tolist(), index.time.tolist(), strict=True))
    assert (0, 6) not in kept and (0, 9) not in kept and (1, 6) in kept
    assert len(index) == 2 * 10 - 2
    assert index.n_dropped_missing_target == 2
    assert index.n_dropped_missing_input == 0
    no_target = sample_index(arrays.dynamic, target, 3, slice(5, 15), require_target=False)
    assert len(no_target) == 20 and no_target.n_dropped_missing_target == 0


def test_counts_are_disjoint_when_input_and_target_are_missing() -> None:
    arrays = _arrays(n_basins=1, n_times=12)
    dynamic, target = arrays.dynamic.copy(), arrays.target.copy()
    dynamic[0, 8, 0] = np.nan
    target[0, 8] = np.nan  # its window is already dropped for the input
    target[0, 3] = np.nan
    index = sample_index(dynamic, target, 2, slice(1, 12))
    assert index.n_dropped_missing_input == 2  # last days 8 and 9
    assert index.n_dropped_missing_target == 1  # last day 3
    assert len(index) + 3 == 11


def test_sample_index_matches_a_naive_loop_on_random_gaps() -> None:
    rng = np.random.default_rng(3)
    dynamic = rng.normal(size=(4, 60, 3)).astype(np.float32)
    target = rng.normal(size=(4, 60)).astype(np.float32)
    dynamic[rng.random(dynamic.shape) < 0.01] = np.nan
    dynamic[2, :, 1] = np.where(rng.random(60) < 0.05, np.inf, 1.0)  # inf is missing too
    target[rng.random(target.shape) < 0.1] = np.nan
    for seq_length, start, stop in [(7, 0, 60), (7, 20, 45), (1, 0, 60), (60, 0, 60)]:
        for require_target in (True, False):
            index = sample_index(dynamic, target, seq_length, slice(start, stop), require_target)
            kept = set(zip(index.basin.tolist(), index.time.tolist(), strict=True))
            assert kept == _naive_index(dynamic, target, seq_length, start, stop, require_target)
            n_candidates = 4 * (stop - start)
            assert (len(index) + index.n_dropped_missing_input
                    + index.n_dropped_missing_target) == n_candidates


def test_sample_index_orders_by_basin_then_time() -> None:
    arrays = _arrays(n_basins=3, n_times=10)
    index = sample_index(arrays.dynamic, arrays.target, 2, slice(0, 10))
    order = np.lexsort((index.time, index.basin))
    np.testing.assert_array_equal(order, np.arange(len(index)))


def test_sample_index_rejects_bad_shapes_and_lengths() -> None:
    arrays = _arrays()
    with pytest.raises(ValueError, match="seq_length"):
        sample_index(arrays.dynamic, arrays.target, 0, slice(0, 10))
    with pytest.raises(ValueError, match=r"\[basin, time\]"):
        sample_index(arrays.dynamic, arrays.target[:, :-1], 3, slice(0, 10))
    with pytest.raises(ValueError, match="step 1"):
        sample_index(arrays.dynamic, arrays.target, 3, slice(0, 10, 2))


def test_slice_shorter_than_the_window_gives_an_empty_index() -> None:
    arrays = _arrays(n_basins=2, n_times=10)
    index = sample_index(arrays.dynamic, arrays.target, 8, slice(0, 5))
    assert len(index) == 0 and index.n_dropped_missing_input == 10


def test_gathered_windows_equal_a_naive_slice() -> None:
    arrays = _arrays(n_basins=3, n_times=40, n_dynamic=2, n_static=4)
    seq_length = 6
    basin_idx = np.array([2, 0, 1, 2, 0])
    time_idx = np.array([5, 39, 20, 17, 5])
    batch = gather_batch(arrays, basin_idx, time_idx, seq_length)
    assert isinstance(batch, Batch)
    assert batch.x_d.shape == (5, seq_length, 2) and batch.x_d.dtype == torch.float32
    assert batch.x_s.shape == (5, 4) and batch.y.shape == (5, 1)
    assert batch.basin.dtype == torch.int64
    for i, (b, t) in enumerate(zip(basin_idx, time_idx, strict=True)):
        np.testing.assert_array_equal(batch.x_d[i].numpy(),
                                      arrays.dynamic[b, t - seq_length + 1:t + 1])
        np.testing.assert_array_equal(batch.x_s[i].numpy(), arrays.static[b])
        assert batch.y[i, 0].item() == arrays.target[b, t]
        assert batch.basin[i].item() == b


def test_gather_refuses_windows_outside_the_array() -> None:
    arrays = _arrays(n_times=20)
    with pytest.raises(IndexError):
        gather_batch(arrays, np.array([0]), np.array([3]), 5)  # would wrap to negative days
    with pytest.raises(IndexError):
        gather_batch(arrays, np.array([0]), np.array([20]), 5)


def test_gather_of_an_index_batch_has_finite_values() -> None:
    arrays = _arrays(n_basins=2, n_times=30)
    dynamic = arrays.dynamic.copy()
    dynamic[0, 12, 1] = np.nan
    arrays = BasinArrays(arrays.basins, arrays.dates, dynamic, arrays.target, arrays.static,
                         arrays.dynamic_names, arrays.static_names)
    index = sample_index(arrays.dynamic, arrays.target, 5, slice(0, 30))
    batch = gather_batch(arrays, index.basin, index.time, 5)
    assert torch.isfinite(batch.x_d).all() and torch.isfinite(batch.y).all()


def test_iterate_batches_covers_each_sample_once() -> None:
    arrays = _arrays(n_basins=3, n_times=20)
    index = sample_index(arrays.dynamic, arrays.target, 4, slice(0, 20))
    batches = list(iterate_batches(index, 7, shuffle=False))
    assert [len(b) for b, _ in batches] == [7] * 7 + [2]
    np.testing.assert_array_equal(np.concatenate([b for b, _ in batches]), index.basin)
    np.testing.assert_array_equal(np.concatenate([t for _, t in batches]), index.time)

    def shuffled(seed: int) -> list[tuple[int, int]]:
        pairs = iterate_batches(index, 5, shuffle=True, rng=np.random.default_rng(seed))
        return [p for b, t in pairs for p in zip(b.tolist(), t.tolist(), strict=True)]

    first = shuffled(1)
    assert first == shuffled(1) and first != shuffled(2)
    assert sorted(first) == sorted(zip(index.basin.tolist(), index.time.tolist(), strict=True))
    with pytest.raises(ValueError, match="batch_size"):
        next(iterate_batches(index, 0, shuffle=False))


def test_basin_target_std_uses_only_the_slice_and_skips_nan() -> None:
    target = np.array([[1.0, 2.0, np.nan, 4.0, 100.0],
                       [5.0, 5.0, 5.0, np.nan, -100.0],
                       [np.nan, np.nan, np.nan, np.nan, 3.0]], dtype=np.float32)
    std = basin_target_std(target, slice(0, 4))
    assert std.shape == (3,) and np.isfinite(std).all()
    np.testing.assert_allclose(std, [np.std([1.0, 2.0, 4.0]), 0.0, 0.0], rtol=1e-6)


def test_basin_target_std_names_empty_basins_with_samples() -> None:
    target = np.array([[1.0, 2.0, 3.0], [np.nan, np.nan, np.nan]], dtype=np.float32)
    fine = SampleIndex(np.array([0, 0]), np.array([1, 2]), 0, 0)
    assert basin_target_std(target, slice(0, 3), index=fine, basins=["a", "b"]).shape == (2,)
    bad = SampleIndex(np.array([0, 1]), np.array([1, 2]), 0, 0)
    with pytest.raises(NoValidDataError, match="'b'"):
        basin_target_std(target, slice(0, 3), index=bad, basins=["a", "b"])


def test_target_window_keeps_samples_with_any_target_in_the_last_days():
    dynamic = np.zeros((1, 8, 1), dtype=np.float32)
    target = np.array([[0, 1, np.nan, np.nan, np.nan, 5, np.nan, np.nan]], dtype=np.float32)
    one = sample_index(dynamic, target, 2, slice(0, 8))
    three = sample_index(dynamic, target, 3, slice(0, 8), target_window=3)
    assert one.time.tolist() == [1, 5]
    # windows ending at t=2..7 with a finite target among t-2..t: t=2,3 (day 1) and 5,6,7 (day 5)
    assert three.time.tolist() == [2, 3, 5, 6, 7]
    assert three.n_dropped_missing_target == 1  # t = 4


def test_gather_batch_returns_the_last_n_targets():
    arrays = _arrays(n_basins=2, n_times=12)
    batch = gather_batch(arrays, np.array([1]), np.array([9]), seq_length=5, predict_last_n=3)
    np.testing.assert_array_equal(batch.y.numpy()[0], arrays.target[1, 7:10])
    assert batch.x_d.shape == (1, 5, arrays.dynamic.shape[2])


def test_thin_index_visits_every_nth_day_per_basin():
    index = sample_index(np.zeros((3, 40, 1), np.float32), np.zeros((3, 40), np.float32), 1,
                         slice(0, 40))
    thinned = thin_index(index, 7, np.random.default_rng(0))
    for b in range(3):
        days = thinned.time[thinned.basin == b]
        assert np.all(np.diff(days) == 7) and days[0] < 7
    assert thin_index(index, 1, np.random.default_rng(0)) is index


def test_targets_before_the_period_never_count_for_a_sample():
    # period = days 4..9; a window ending at day 5 predicts days 3..5; only day 3 is finite
    dynamic = np.zeros((1, 10, 1), dtype=np.float32)
    target = np.full((1, 10), np.nan, dtype=np.float32)
    target[0, 3] = 1.0
    target[0, 8] = 2.0
    index = sample_index(dynamic, target, 3, slice(4, 10), target_window=3)
    # day 3 lies before the period: windows ending at 4 and 5 have no in-period target
    assert index.time.tolist() == [8, 9]


def test_gather_batch_masks_targets_outside_the_period():
    arrays = _arrays(n_basins=2, n_times=20)
    period = slice(6, 12)
    batch = gather_batch(arrays, np.array([0, 1, 1]), np.array([7, 11, 9]), seq_length=5,
                         predict_last_n=4, target_period=period)
    days = np.array([[4, 5, 6, 7], [8, 9, 10, 11], [6, 7, 8, 9]])
    inside = (days >= 6) & (days < 12)
    y = batch.y.numpy()
    assert np.isnan(y[~inside]).all()
    expected = arrays.target[np.array([0, 1, 1])[:, None], days]
    np.testing.assert_array_equal(y[inside], expected[inside])
    unmasked = gather_batch(arrays, np.array([0]), np.array([7]), 5, 4)
    assert np.isfinite(unmasked.y.numpy()).all()  # without a period nothing is masked


def test_nse_star_std_is_the_raw_std_of_each_basin_not_of_the_scaled_target():
    from ealstm.config import Period
    from ealstm.data.scaling import Scaler
    from ealstm.data.windows import nse_star_std

    arrays = _arrays(n_basins=2, n_times=6)
    raw = np.array([[1.0, 3.0, 1.0, 3.0, 50.0, 50.0],  # std 1 over the first 4 days
                    [0.0, 0.0, 4.0, np.nan, 9.0, -9.0]], dtype=np.float32)  # std of 0, 0, 4
    arrays = BasinArrays(arrays.basins, arrays.dates, arrays.dynamic, raw, arrays.static,
                         arrays.dynamic_names, arrays.static_names)
    scaled = Scaler.fit(arrays, Period(start="2000-01-01", end="2000-01-04")).transform(arrays)
    table = nse_star_std(scaled, slice(0, 4))
    assert table.index.tolist() == list(arrays.basins)
    np.testing.assert_allclose(table["std_mm_day"], [1.0, np.std([0.0, 0.0, 4.0])], rtol=1e-12)
    assert table["n_days"].tolist() == [4, 3]
    # the standardised target's std differs (it is divided by the global target std)
    assert not np.allclose(basin_target_std(scaled.target, slice(0, 4)), table["std_mm_day"])


def test_nse_star_std_does_not_depend_on_the_global_target_scaling():
    from ealstm.data.scaling import Scaler
    from ealstm.data.windows import nse_star_std

    arrays = _arrays(n_basins=3, n_times=20)
    arrays = BasinArrays(arrays.basins, arrays.dates, arrays.dynamic,
                         np.abs(arrays.target) * 3.0, arrays.static, arrays.dynamic_names,
                         arrays.static_names)
    tables = []
    for mean, std in ((0.0, 1.0), (2.5, 3.7), (-1.0, 0.01)):
        scaler = Scaler(np.zeros(2), np.ones(2), np.zeros(4), np.ones(4), mean, std,
                        arrays.dynamic_names, arrays.static_names)
        tables.append(nse_star_std(scaler.transform(arrays), slice(0, 20)))
    for table in tables[1:]:
        pd.testing.assert_frame_equal(table, tables[0])
