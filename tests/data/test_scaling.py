"""Tests of the train-period standardisation and its JSON round trip."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging

import numpy as np
import pandas as pd
import pytest

from ealstm.config import Period
from ealstm.data.arrays import BasinArrays
from ealstm.data.scaling import Scaler
from ealstm.errors import ConfigError, NoValidDataError

TRAIN = Period(start=dt.date(2000, 1, 1), end=dt.date(2000, 1, 3))  # first 3 of 6 days
TEST = Period(start=dt.date(2000, 1, 4), end=dt.date(2000, 1, 6))


def _arrays() -> BasinArrays:
    dynamic = np.array([
        [[1.0, 10.0], [2.0, 10.0], [3.0, np.nan], [50.0, 70.0], [60.0, 80.0], [70.0, 90.0]],
        [[4.0, 20.0], [np.nan, 30.0], [5.0, 40.0], [50.0, 70.0], [60.0, 80.0], [70.0, 90.0]],
    ], dtype=np.float32)
    target = np.array([[1.0, 2.0, np.nan, 9.0, 9.0, 9.0],
                       [3.0, 4.0, 5.0, 9.0, 9.0, 9.0]], dtype=np.float32)
    static = np.array([[100.0, 0.5, 7.0], [300.0, 0.25, 7.0]], dtype=np.float32)
    return BasinArrays(
        basins=("00000001", "00000002"),
        dates=pd.date_range("2000-01-01", periods=6, freq="D", name="date"),
        dynamic=dynamic, target=target, static=static,
        dynamic_names=("prcp", "vp"), static_names=("elev_mean", "frac_forest", "const"))


def test_fit_uses_train_period_of_all_basins_and_skips_nan() -> None:
    scaler = Scaler.fit(_arrays(), TRAIN)
    prcp, vp = [1.0, 2.0, 3.0, 4.0, 5.0], [10.0, 10.0, 20.0, 30.0, 40.0]
    np.testing.assert_allclose(scaler.dynamic_mean, [np.mean(prcp), np.mean(vp)])
    np.testing.assert_allclose(scaler.dynamic_std, [np.std(prcp), np.std(vp)])
    assert scaler.target_mean == pytest.approx(np.mean([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert scaler.target_std == pytest.approx(np.std([1.0, 2.0, 3.0, 4.0, 5.0]))
    np.testing.assert_allclose(scaler.static_mean, [200.0, 0.375, 7.0])
    np.testing.assert_allclose(scaler.static_std, [100.0, 0.125, 1.0])  # constant -> 1


def test_test_period_values_do_not_change_the_scaler() -> None:
    arrays = _arrays()
    changed = arrays.dynamic.copy()
    changed[:, 3:] = 1e6
    target = arrays.target.copy()
    target[:, 3:] = -1e6
    other = dataclasses.replace(arrays, dynamic=changed, target=target)
    assert Scaler.fit(other, TRAIN).to_dict() == Scaler.fit(arrays, TRAIN).to_dict()
    assert Scaler.fit(other, TEST).to_dict() != Scaler.fit(arrays, TEST).to_dict()


def test_constant_attribute_is_named_in_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ealstm.data.scaling"):
        Scaler.fit(_arrays(), TRAIN)
    assert "const" in caplog.text and "elev_mean" not in caplog.text


def test_single_basin_attributes_get_std_one(caplog: pytest.LogCaptureFixture) -> None:
    single = _arrays().select(["00000002"])
    with caplog.at_level(logging.WARNING, logger="ealstm.data.scaling"):
        scaler = Scaler.fit(single, TRAIN)
    np.testing.assert_array_equal(scaler.static_std, [1.0, 1.0, 1.0])
    assert "elev_mean" in caplog.text
    np.testing.assert_allclose(scaler.transform(single).static, [[0.0, 0.0, 0.0]])


def test_transform_standardises_keeps_nan_and_returns_float32() -> None:
    arrays = _arrays()
    scaler = Scaler.fit(arrays, TRAIN)
    scaled = scaler.transform(arrays)
    assert scaled is not arrays and scaled.basins == arrays.basins
    for name in ("dynamic", "target", "static"):
        assert getattr(scaled, name).dtype == np.float32
        assert getattr(scaled, name).shape == getattr(arrays, name).shape
    expected = (arrays.dynamic - scaler.dynamic_mean) / scaler.dynamic_std
    np.testing.assert_allclose(scaled.dynamic, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.isnan(scaled.dynamic), np.isnan(arrays.dynamic))
    np.testing.assert_array_equal(np.isnan(scaled.target), np.isnan(arrays.target))
    train = scaled.dynamic[:, :3, 0]
    assert np.nanmean(train) == pytest.approx(0.0, abs=1e-6)
    assert np.nanstd(train) == pytest.approx(1.0, abs=1e-6)
    assert arrays.dynamic[0, 0, 0] == 1.0  # the input is not modified


def test_scale_and_unscale_target_are_inverse() -> None:
    scaler = Scaler.fit(_arrays(), TRAIN)
    q = np.array([0.0, 1.5, np.nan, 12.0])
    y = scaler.scale_target(q)
    np.testing.assert_allclose(y, (q - 3.0) / np.std([1.0, 2.0, 3.0, 4.0, 5.0]), rtol=1e-6)
    np.testing.assert_allclose(scaler.unscale_target(y), q, rtol=1e-6, atol=1e-6)


def test_to_dict_is_json_safe_and_round_trips() -> None:
    arrays = _arrays()
    scaler = Scaler.fit(arrays, TRAIN)
    data = json.loads(json.dumps(scaler.to_dict()))
    restored = Scaler.from_dict(data)
    assert restored.to_dict() == scaler.to_dict()
    assert restored.dynamic_names == ("prcp", "vp")
    np.testing.assert_array_equal(restored.transform(arrays).dynamic,
                                  scaler.transform(arrays).dynamic)


def test_transform_rejects_other_feature_names() -> None:
    arrays = _arrays()
    restored = Scaler.from_dict(Scaler.fit(arrays, TRAIN).to_dict())
    renamed = dataclasses.replace(arrays, dynamic_names=("prcp", "srad"))
    with pytest.raises(ConfigError, match=r"data\.dynamic_inputs"):
        restored.transform(renamed)
    with pytest.raises(ConfigError, match="srad"):
        restored.transform(renamed)
    swapped = dataclasses.replace(arrays, static_names=("frac_forest", "elev_mean", "const"))
    with pytest.raises(ConfigError, match="order differs"):
        restored.transform(swapped)


def test_from_dict_rejects_broken_data() -> None:
    data = Scaler.fit(_arrays(), TRAIN).to_dict()
    with pytest.raises(ConfigError, match="target_std"):
        Scaler.from_dict({k: v for k, v in data.items() if k != "target_std"})
    with pytest.raises(ConfigError, match="dynamic_mean"):
        Scaler.from_dict({**data, "dynamic_mean": [1.0]})


def test_fit_without_finite_values_raises() -> None:
    arrays = _arrays()
    target = arrays.target.copy()
    target[:, :3] = np.nan
    with pytest.raises(NoValidDataError, match="qobs"):
        Scaler.fit(dataclasses.replace(arrays, target=target), TRAIN)
