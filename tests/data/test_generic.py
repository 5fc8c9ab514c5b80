"""Tests of the generic per-basin reader, its registry entry and the pipeline on a small tree."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ealstm.config import DataConfig, Period, parse_config
from ealstm.data.assemble import resolve_basins
from ealstm.data.cache import load_basin_arrays
from ealstm.data.readers import generic
from ealstm.data.readers.datasets import read_basin, read_statics
from ealstm.errors import BasinDataError, ConfigError, DataNotFoundError

INPUTS = ("precip", "temp", "pet")
ATTRS = ("area", "elevation")
BASINS = {"01022500": "csv", "b2": "nc"}  # ids are file stems, zero padding is kept as is


def _series(basin: str, start: str = "2000-01-01", end: str = "2001-12-31") -> pd.DataFrame:
    """Synthetic forcings and a discharge ``qobs`` in mm/day that follows the rain."""
    dates = pd.date_range(start, end, freq="D", name="date")
    rng = np.random.default_rng(sum(map(ord, basin)))
    rain = rng.gamma(0.6, 4.0, len(dates))
    return pd.DataFrame({
        "precip": rain,
        "temp": 8 + 9 * np.sin(2 * np.pi * dates.day_of_year / 365.25),
        "pet": rng.uniform(0.5, 3.0, len(dates)),
        "qobs": pd.Series(rain).rolling(4, min_periods=1).mean().to_numpy() * 0.5,
    }, index=dates)


def _write_series(root: Path, basin: str, suffix: str, frame: pd.DataFrame) -> Path:
    folder = root / "time_series"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{basin}.{suffix}"
    if suffix == "csv":
        frame.reset_index().to_csv(path, index=False, date_format="%Y-%m-%d")
    else:
        frame.to_xarray().to_netcdf(path, engine="netcdf4")
    return path


def make_generic(root: Path, index_name: str = "basin") -> Path:
    """Generic tree: ``01022500`` as CSV, ``b2`` as netCDF, one attribute table."""
    for basin, suffix in BASINS.items():
        _write_series(root, basin, suffix, _series(basin))
    pd.DataFrame({index_name: list(BASINS), "area": [120.5, 80.0], "elevation": [300.0, 950.0],
                  "name": ["Upper river", "Lower river"], "forest": [0.4, np.nan]}).to_csv(
        root / "attributes.csv", index=False)
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_generic(tmp_path / "generic")


def _period(start: str, end: str) -> Period:
    return Period(start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end))


def _cfg(root: Path, cache: Path, **kwargs: object) -> DataConfig:
    fields = {
        "dataset": "generic", "data_dir": root, "dynamic_inputs": INPUTS,
        "static_attributes": ATTRS, "basins": tuple(BASINS), "seq_length": 10,
        "train_period": _period("2001-01-01", "2001-12-31"),
        "test_period": _period("2000-03-01", "2000-12-31"), "cache_dir": cache,
    }
    return DataConfig(**{**fields, **kwargs})


# --- time series --------------------------------------------------------------------------------


@pytest.mark.parametrize("basin", list(BASINS))
def test_read_timeseries_csv_and_netcdf(root: Path, basin: str) -> None:
    frame = generic.read_timeseries(root, basin)
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.name == "date"
    assert list(frame.columns) == ["precip", "temp", "pet", "qobs"]
    assert (frame.dtypes == np.float64).all()
    pd.testing.assert_frame_equal(frame, _series(basin), check_freq=False, check_index_type=False)


def test_gaps_become_nan_and_text_columns_are_dropped(tmp_path: Path) -> None:
    frame = _series("g").drop(pd.Timestamp("2000-01-05")).iloc[::-1]  # unsorted, one day gone
    frame["flag"] = "A"
    _write_series(tmp_path, "g", "csv", frame)
    read = generic.read_timeseries(tmp_path, "g")
    assert read.index.is_monotonic_increasing and len(read) == 731
    assert read.loc["2000-01-05"].isna().all() and "flag" not in read.columns
    with pytest.raises(ConfigError, match=r"data\.dynamic_inputs.*\['flag'\] hold text"):
        generic.select_series(read, ["flag"], "data.dynamic_inputs")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("day,precip\n2000-01-01,1\n", "no 'date' column"),
        ("date,precip\n2000-01-01,1\n2000-01-01,2\n", "duplicate dates"),
        ("date,precip\n2000-01-01 06:00,1\n2000-01-01 18:00,2\n", "times of day"),
        ("date,precip\nsoon,1\n", "date"),
        ("date,precip\n", "no time steps"),
    ],
)
def test_bad_timeseries_files(tmp_path: Path, content: str, match: str) -> None:
    (tmp_path / "time_series").mkdir()
    (tmp_path / "time_series" / "x.csv").write_text(content)
    with pytest.raises(BasinDataError, match=match):
        generic.read_timeseries(tmp_path, "x")


def test_netcdf_needs_a_date_dimension(tmp_path: Path) -> None:
    frame = _series("n").rename_axis("time")
    (tmp_path / "time_series").mkdir()
    frame.to_xarray().to_netcdf(tmp_path / "time_series" / "n.nc", engine="netcdf4")
    with pytest.raises(BasinDataError, match="no 'date' dimension"):
        generic.read_timeseries(tmp_path, "n")
    (tmp_path / "time_series" / "n.nc").write_bytes(b"not netCDF")
    with pytest.raises(BasinDataError, match="cannot read"):
        generic.read_timeseries(tmp_path, "n")


def test_missing_file_names_basin_and_paths(root: Path) -> None:
    with pytest.raises(DataNotFoundError, match="basin b9") as err:
        generic.read_timeseries(root, "b9")
    assert "time_series/b9.nc" in str(err.value) and "time_series/b9.csv" in str(err.value)


def test_available_basins_and_basin_list(root: Path, tmp_path: Path) -> None:
    (root / "time_series" / "notes.txt").write_text("not a basin")
    assert generic.available_basins(root) == ["01022500", "b2"]
    with pytest.raises(DataNotFoundError, match="time_series"):
        generic.available_basins(tmp_path / "nowhere")
    path = tmp_path / "basins.txt"
    path.write_text("b2  # comment\n\n01022500\n")
    assert generic.read_basin_list(path) == ["b2", "01022500"]
    path.write_text("b2\nb2\n")
    with pytest.raises(BasinDataError, match="more than once"):
        generic.read_basin_list(path)


# --- attributes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("index_name", ["basin", "gauge_id"])
def test_read_attributes_keeps_ids_as_strings(tmp_path: Path, index_name: str) -> None:
    root = make_generic(tmp_path, index_name)
    attrs = generic.read_attributes(root)
    assert list(attrs.index) == ["01022500", "b2"]
    picked = generic.read_attributes(root, basins=["b2", "01022500"], columns=["elevation"])
    assert list(picked.index) == ["b2", "01022500"] and picked.iloc[0, 0] == 950.0


def test_attribute_errors(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.static_attributes.*elevaton.*elevation"):
        generic.read_attributes(root, columns=["elevaton"])
    with pytest.raises(ConfigError, match="not numeric"):
        generic.read_attributes(root, columns=["name"])
    with pytest.raises(BasinDataError, match="basin b2: column forest"):
        generic.read_attributes(root, basins=list(BASINS), columns=["forest"])
    with pytest.raises(BasinDataError, match="b7"):
        generic.read_attributes(root, basins=["b7"], columns=["area"])
    with pytest.raises(DataNotFoundError, match="attributes.csv"):
        generic.read_attributes(tmp_path)
    (tmp_path / "attributes.csv").write_text("id,area\nb2,1\n")
    with pytest.raises(BasinDataError, match="first column"):
        generic.read_attributes(tmp_path)


# --- registry, config and pipeline --------------------------------------------------------------


def test_registry_and_config_rules(root: Path, tmp_path: Path) -> None:
    cfg = _cfg(root, tmp_path, dynamic_inputs=("pet", "precip"))
    assert cfg.target == "qobs" and cfg.basins == ("01022500", "b2")
    dynamic, target = read_basin(cfg, "b2")
    assert list(dynamic.columns) == ["pet", "precip"] and target.name == "qobs"
    assert list(read_statics(cfg, ["b2"]).columns) == list(ATTRS)
    assert read_statics(_cfg(root, tmp_path, static_attributes=()), ["b2"]).shape == (1, 0)
    with pytest.raises(ConfigError, match=r"data\.target.*discharge"):
        read_basin(_cfg(root, tmp_path, target="discharge"), "b2")
    renamed = _cfg(root, tmp_path, target="pet", dynamic_inputs=("precip",))
    assert read_basin(renamed, "b2")[1].name == "pet"
    raw = {"name": "t", "data": {"dataset": "generic", "data_dir": str(root),
                                 "static_attributes": list(ATTRS),
                                 "train_period": {"start": "2001-01-01", "end": "2001-12-31"},
                                 "test_period": {"start": "2000-03-01", "end": "2000-12-31"}}}
    with pytest.raises(ConfigError, match=r"data\.dynamic_inputs listed explicitly"):
        parse_config(raw)


def test_load_basin_arrays_on_generic(root: Path, tmp_path: Path) -> None:
    arrays = load_basin_arrays(_cfg(root, tmp_path / "cache"))
    assert arrays.basins == ("01022500", "b2") and arrays.dynamic_names == INPUTS
    day = arrays.dates.get_loc(pd.Timestamp("2001-05-02"))
    expected = _series("b2").loc["2001-05-02"]
    np.testing.assert_allclose(arrays.dynamic[1, day], expected[list(INPUTS)], rtol=1e-6)
    assert arrays.target[1, day] == pytest.approx(expected["qobs"], rel=1e-6)
    np.testing.assert_array_equal(arrays.static, np.array([[120.5, 300], [80, 950]], np.float32))
    assert len(list((tmp_path / "cache").glob("generic_*.nc"))) == 1
    assert resolve_basins(_cfg(root, tmp_path, basins=None)) == ("01022500", "b2")


def test_statics_are_optional(root: Path, tmp_path: Path) -> None:
    (root / "attributes.csv").unlink()
    arrays = load_basin_arrays(_cfg(root, tmp_path, static_attributes=()))
    assert arrays.static.shape == (2, 0)
    with pytest.raises(DataNotFoundError, match="attributes.csv"):
        load_basin_arrays(_cfg(root, tmp_path))
