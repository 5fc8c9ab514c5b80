"""Unit tests of the plausibility rules in :mod:`ealstm.data.validation` on hand-made series."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from ealstm.data.validation import (
    DEFAULT_BOUND,
    bounds_of,
    check_statics,
    clean_basin,
    clean_series,
)
from ealstm.errors import BasinDataError

DATES = pd.date_range("2000-01-01", periods=5, freq="D", name="date")


def _series(values: list[float], name: str = "x") -> pd.Series:
    return pd.Series(values, index=DATES, name=name, dtype="float64")


@pytest.mark.parametrize(("name", "is_target", "expected"), [
    ("prcp", False, (0.0, 3000.0)),
    ("total_precipitation_sum", False, (0.0, 3000.0)),
    ("precip_era5", False, (0.0, 3000.0)),  # any *precip* name is non-negative
    ("tmin", False, (-100.0, 70.0)),
    ("anything_else", False, (-DEFAULT_BOUND, DEFAULT_BOUND)),
    ("discharge_m3s", True, (0.0, 3000.0)),  # the target is discharge whatever its name
])
def test_bounds_table(name, is_target, expected):
    assert bounds_of(name, is_target) == expected


def test_sentinels_become_nan_and_nothing_else_changes(caplog):
    values = _series([1.5, -999.0, 2.0, -9999.0, -998.0], "pressure")
    with caplog.at_level(logging.WARNING):
        out = clean_series(values, "pressure", "b1", "f.csv")
    np.testing.assert_array_equal(out.to_numpy(), [1.5, np.nan, 2.0, np.nan, -998.0])
    assert "f.csv: basin b1, column 'pressure': 2 sentinel values (-999/-9999)" in caplog.text


def test_first_impossible_value_is_named_with_its_date_and_count():
    values = _series([0.0, np.nan, -0.1, 4.0, -2.0], "prcp")
    with pytest.raises(BasinDataError) as info:
        clean_series(values, "prcp", "b1", "f.csv")
    assert str(info.value).startswith("f.csv: basin b1, column 'prcp': 2 impossible value(s), "
                                      "first -0.1 on 2000-01-03 (negative, physically impossible)")


def test_mask_mode_masks_exactly_the_impossible_values(caplog):
    values = _series([1.0, np.inf, 3000.0, 3000.5, np.nan], "prcp")
    with caplog.at_level(logging.WARNING):
        out = clean_series(values, "prcp", "b1", "f.csv", mode="mask")
    np.testing.assert_array_equal(out.to_numpy(), [1.0, np.nan, 3000.0, np.nan, np.nan])
    assert "basin b1, column 'prcp': 2 impossible value(s) masked" in caplog.text


def test_nan_is_missing_not_impossible():
    out = clean_series(_series([np.nan] * 5), "x", "b", "f")
    assert out.isna().all()


def test_clean_basin_names_the_target_file():
    dynamic = pd.DataFrame({"prcp": [1.0] * 5}, index=DATES)
    dynamic.attrs["source"] = "forcing.txt"
    target = _series([1.0, 2.0, -3.0, 1.0, 1.0], "qobs")
    target.attrs["source"] = "streamflow.txt"
    with pytest.raises(BasinDataError, match=r"^streamflow\.txt: basin b, column 'qobs'"):
        clean_basin(dynamic, target, "b")


def test_attributes_must_be_plausible():
    frame = pd.DataFrame({"area": [10.0, 20.0], "elev": [100.0, 1e39]},
                         index=pd.Index(["a", "b"], name="basin"))
    with pytest.raises(BasinDataError, match=r"^attrs\.csv: basin b, attribute 'elev' is 1e\+39 "
                       r"\(beyond the float32 range\)"):
        check_statics(frame, "attrs.csv")
    check_statics(frame.iloc[:1], "attrs.csv")  # basin a alone is fine
