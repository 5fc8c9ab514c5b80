"""`ealstm predict` data checks: forcings that do not cover the period are named per basin."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ealstm.config import Period
from ealstm.data.arrays import BasinArrays
from ealstm.errors import ConfigError
from ealstm.evaluation.forecast import check_coverage


def _arrays(first: list, last: list) -> BasinArrays:
    dates = pd.date_range("2000-01-01", "2000-12-31", name="date")
    basins = ("A", "B", "C")
    coverage = pd.DataFrame({"forcing_start": pd.to_datetime(first),
                             "forcing_end": pd.to_datetime(last),
                             "qobs_start": pd.NaT, "qobs_end": pd.NaT},
                            index=pd.Index(basins, name="basin"))
    n = len(dates)
    return BasinArrays(basins=basins, dates=dates, dynamic=np.zeros((3, n, 1), np.float32),
                       target=np.zeros((3, n), np.float32), static=np.zeros((3, 0), np.float32),
                       dynamic_names=("p",), static_names=(), coverage=coverage)


def test_short_forcings_are_named_with_their_span():
    arrays = _arrays(["2000-01-01", "2000-03-01", None], ["2000-12-31", "2000-12-31", None])
    period = Period(start=dt.date(2000, 2, 1), end=dt.date(2000, 12, 31))
    with pytest.raises(ConfigError) as err:
        check_coverage(arrays, period, warmup=10)
    message = str(err.value)
    assert "do not cover 2000-01-22..2000-12-31" in message
    assert "B (forcings 2000-03-01..2000-12-31)" in message
    assert "C (forcings nothing)" in message and "A (" not in message

