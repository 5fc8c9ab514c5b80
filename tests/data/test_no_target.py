"""Basins without discharge (forecasting, ungauged use): an all-NaN target, only on request."""

from pathlib import Path

import numpy as np
import pytest

from ealstm.data.cache import load_basin_arrays
from ealstm.data.readers.datasets import read_basin
from ealstm.errors import ConfigError
from tests.data.test_generic import _cfg, _series, _write_series, make_generic


@pytest.fixture
def ungauged(tmp_path: Path) -> Path:
    """The generic tree with a third basin ``b3`` whose file has no ``qobs`` column."""
    root = make_generic(tmp_path / "generic")
    _write_series(root, "b3", "csv", _series("b3").drop(columns="qobs"))
    with (root / "attributes.csv").open("a") as f:
        f.write("b3,50.0,500.0,Third river,0.2\n")
    return root


def test_missing_target_column_is_nan_only_when_optional(ungauged, tmp_path):
    cfg = _cfg(ungauged, tmp_path, basins=("b2", "b3"))
    with pytest.raises(ConfigError, match="data.target"):
        read_basin(cfg, "b3")
    dynamic, target = read_basin(cfg, "b3", require_target=False)
    assert target.isna().all() and target.index.equals(dynamic.index)
    arrays = load_basin_arrays(cfg, target_optional=True)
    assert np.isnan(arrays.target[1]).all() and np.isfinite(arrays.target[0]).any()
    expected = dynamic.reindex(arrays.dates).to_numpy(np.float32)
    np.testing.assert_array_equal(arrays.dynamic[1], expected)
    with pytest.raises(ConfigError, match="data.target"):  # the cache never serves training
        load_basin_arrays(cfg)
