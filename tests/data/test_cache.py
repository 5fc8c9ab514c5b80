"""Tests of BasinArrays and the netCDF cache, by hand and on the real CAMELS-US sample."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ealstm.config import DataConfig, Period
from ealstm.data.arrays import BasinArrays
from ealstm.data.assemble import date_axis, resolve_basins
from ealstm.data.cache import (
    arrays_to_dataset,
    build_cache,
    cache_key,
    cache_path,
    dataset_to_arrays,
    load_basin_arrays,
)
from ealstm.data.readers import camels_us
from ealstm.errors import BasinDataError, ConfigError, DataNotFoundError

BASINS = ("08023080", "01022500", "06221400")


def _period(start: str, end: str) -> Period:
    return Period(start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end))


def _small_arrays() -> BasinArrays:
    dynamic = np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)
    dynamic[1, 2, 0] = np.nan
    return BasinArrays(
        basins=("00000001", "00000002"),
        dates=pd.date_range("2000-01-01", periods=5, freq="D", name="date"),
        dynamic=dynamic, target=np.array([[1, 2, np.nan, 4, 5], [6, 7, 8, 9, 10]], np.float32),
        static=np.array([[1.0, 2.0], [3.0, 4.0]], np.float32),
        dynamic_names=("prcp", "srad", "vp"), static_names=("a", "b"))


def _cfg(data_dir: Path, cache: Path, **kwargs: object) -> DataConfig:
    fields = {
        "data_dir": data_dir, "forcings": "nldas", "basins": BASINS[:2], "seq_length": 10,
        "train_period": _period("1993-10-01", "1995-09-30"),
        "test_period": _period("2005-10-01", "2006-09-30"), "cache_dir": cache,
    }
    return DataConfig(**{**fields, **kwargs})


def _assert_same(a: BasinArrays, b: BasinArrays) -> None:
    assert a.basins == b.basins and a.dates.equals(b.dates)
    assert a.dynamic_names == b.dynamic_names and a.static_names == b.static_names
    for name in ("dynamic", "target", "static"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert getattr(b, name).dtype == np.float32 and getattr(b, name).flags.c_contiguous


def _forbid_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the raw files were parsed although the cache is valid")

    for name in ("read_forcings", "read_streamflow", "read_attributes"):
        monkeypatch.setattr(camels_us, name, fail)


# --- BasinArrays by hand ------------------------------------------------------------------------


def test_time_slice_is_closed_and_refuses_periods_outside() -> None:
    arrays = _small_arrays()
    sl = arrays.time_slice(_period("2000-01-02", "2000-01-04"))
    assert (sl.start, sl.stop) == (1, 4)
    assert list(arrays.dates[sl].day) == [2, 3, 4]
    with pytest.raises(ConfigError, match="2000-01-01..2000-01-05"):
        arrays.time_slice(_period("1999-12-31", "2000-01-03"))


def test_select_reorders_and_rejects_unknown_basins() -> None:
    arrays = _small_arrays()
    picked = arrays.select(["00000002", "00000001"])
    np.testing.assert_array_equal(picked.dynamic, arrays.dynamic[::-1])
    np.testing.assert_array_equal(picked.static, arrays.static[::-1])
    assert picked.basins == ("00000002", "00000001")
    with pytest.raises(ConfigError, match="00000003"):
        arrays.select(["00000003"])


def test_shapes_are_checked() -> None:
    arrays = _small_arrays()
    with pytest.raises(BasinDataError, match="target"):
        BasinArrays(arrays.basins, arrays.dates, arrays.dynamic, arrays.target[:, :4],
                    arrays.static, arrays.dynamic_names, arrays.static_names)


def test_dataset_round_trip(tmp_path: Path) -> None:
    arrays = _small_arrays()
    path = tmp_path / "a.nc"
    arrays_to_dataset(arrays).to_netcdf(path, engine="netcdf4")
    with xr.open_dataset(path, engine="netcdf4") as ds:
        assert ds["dynamic"].dims == ("basin", "date", "dynamic_feature")
        assert ds["target"].dims == ("basin", "date")
        assert ds["static"].dims == ("basin", "static_feature")
        _assert_same(arrays, dataset_to_arrays(ds.load()))


# --- real CAMELS-US sample ---------------------------------------------------------------------


def test_load_aligns_records_on_one_axis(shared_camels: Path, tmp_path: Path) -> None:
    cfg = _cfg(shared_camels, tmp_path, basins=BASINS)
    arrays = load_basin_arrays(cfg)
    assert arrays.basins == BASINS
    assert arrays.dates[0] == pd.Timestamp("1993-09-22")  # 1993-10-01 minus 9 days
    assert arrays.dates[-1] == pd.Timestamp("2006-09-30")
    assert arrays.dynamic.shape == (3, len(arrays.dates), 5)
    assert arrays.dynamic_names == ("prcp", "srad", "tmax", "tmin", "vp")
    assert arrays.static.shape == (3, 27) and np.isfinite(arrays.static).all()
    b, q_start = 0, arrays.dates.get_loc(pd.Timestamp("1993-10-08"))
    assert np.isnan(arrays.target[b, :q_start]).all()  # 08023080 streamflow starts 1993-10-08
    assert np.isfinite(arrays.target[b, q_start])
    f_start = arrays.dates.get_loc(pd.Timestamp("1993-09-29"))  # NLDAS sample starts here
    assert np.isnan(arrays.dynamic[b, :f_start]).all()
    assert np.isfinite(arrays.dynamic[b, f_start:]).all()
    assert np.isfinite(arrays.dynamic[1]).all()  # 01022500 covers 1980..2014
    assert np.isnan(arrays.target[2, : arrays.dates.get_loc(pd.Timestamp("2002-06-30"))]).all()


def test_loaded_values_equal_the_parsers(shared_camels: Path, tmp_path: Path) -> None:
    cfg = _cfg(shared_camels, tmp_path)
    arrays = load_basin_arrays(cfg)
    forcing, area = camels_us.read_forcings(shared_camels, "01022500", "nldas")
    qobs = camels_us.read_streamflow(shared_camels, "01022500", area)
    day = pd.Timestamp("1995-03-01")
    t = arrays.dates.get_loc(day)
    np.testing.assert_allclose(arrays.dynamic[1, t], forcing.loc[day, list(cfg.dynamic_inputs)],
                               rtol=1e-6)
    assert arrays.target[1, t] == pytest.approx(qobs.loc[day], rel=1e-6)
    attrs = camels_us.read_attributes(shared_camels, basins=["01022500"],
                                      columns=cfg.static_attributes)
    np.testing.assert_allclose(arrays.static[1], attrs.iloc[0].to_numpy(float), rtol=1e-6)


def test_second_load_hits_the_cache(shared_camels: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch,
                                    caplog: pytest.LogCaptureFixture) -> None:
    cfg = _cfg(shared_camels, tmp_path)
    first = load_basin_arrays(cfg)
    path = cache_path(cfg, cache_key(cfg, cfg.basins, date_axis(cfg)))
    assert path.is_file() and path.parent == tmp_path and path.name.startswith("camels_us_")
    _forbid_parsing(monkeypatch)
    with caplog.at_level(logging.INFO, logger="ealstm.data.cache"):
        second = load_basin_arrays(cfg)
    assert "cache hit" in caplog.text
    _assert_same(first, second)
    assert build_cache(cfg) == path
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file


def test_data_relevant_fields_change_the_cache_file(shared_camels: Path, tmp_path: Path) -> None:
    cfg = _cfg(shared_camels, tmp_path)
    load_basin_arrays(cfg)
    other = _cfg(shared_camels, tmp_path, dynamic_inputs=("prcp", "tmax"))
    arrays = load_basin_arrays(other)
    assert arrays.dynamic.shape[2] == 2
    assert len(list(tmp_path.glob("camels_us_*.nc"))) == 2
    same_axis = _cfg(shared_camels, tmp_path, validation_period=_period("1996-01-01",
                                                                          "1996-12-31"))
    assert cache_key(same_axis, BASINS[:2], date_axis(same_axis)) == cache_key(
        cfg, BASINS[:2], date_axis(cfg))


def test_corrupt_cache_is_rebuilt(shared_camels: Path, tmp_path: Path,
                                  caplog: pytest.LogCaptureFixture) -> None:
    cfg = _cfg(shared_camels, tmp_path)
    good = load_basin_arrays(cfg)
    path = next(tmp_path.glob("camels_us_*.nc"))
    path.write_bytes(b"not a netCDF file")
    with caplog.at_level(logging.WARNING, logger="ealstm.data.cache"):
        rebuilt = load_basin_arrays(cfg)
    assert "rebuilding" in caplog.text
    _assert_same(good, rebuilt)
    _assert_same(good, load_basin_arrays(cfg))  # and the rebuilt file is readable


def test_cache_dir_from_environment(shared_camels: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EALSTM_CACHE_DIR", str(tmp_path / "env"))
    cfg = _cfg(shared_camels, None, basins=("01022500",), static_attributes=())
    arrays = load_basin_arrays(cfg)
    assert arrays.static.shape == (1, 0)
    assert len(list((tmp_path / "env").glob("camels_us_*.nc"))) == 1


def test_basin_file_is_read(shared_camels: Path, tmp_path: Path) -> None:
    basin_file = tmp_path / "basins.txt"
    basin_file.write_text("1022500\n08023080\n")
    cfg = _cfg(shared_camels, tmp_path, basins=None, basin_file=basin_file)
    assert load_basin_arrays(cfg).basins == ("01022500", "08023080")


def test_period_outside_the_data_names_the_key(shared_camels: Path, tmp_path: Path) -> None:
    cfg = _cfg(shared_camels, tmp_path, basins=("08023080",),
               test_period=_period("2015-01-01", "2015-12-31"))
    with pytest.raises(ConfigError, match=r"data\.test_period 2015-01-01\.\.2015-12-31") as err:
        load_basin_arrays(cfg)
    assert "1993-09-29..2013-10-03" in str(err.value)  # the span the forcings cover
    early = _cfg(shared_camels, tmp_path, basins=("08023080",),
                 train_period=_period("1980-10-01", "1985-09-30"))
    with pytest.raises(ConfigError, match=r"data\.train_period"):
        load_basin_arrays(early)


def test_basins_without_train_data_are_reported(shared_camels: Path, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    cfg = _cfg(shared_camels, tmp_path, basins=("01022500", "06221400"))
    with caplog.at_level(logging.WARNING, logger="ealstm.data.cache"):
        load_basin_arrays(cfg)
    assert "06221400" in caplog.text and "01022500" not in caplog.text


def test_unknown_dynamic_input(shared_camels: Path, tmp_path: Path) -> None:
    cfg = _cfg(shared_camels, tmp_path, dynamic_inputs=("prcp", "pet"))
    with pytest.raises(ConfigError, match=r"data\.dynamic_inputs") as err:
        load_basin_arrays(cfg)
    message = str(err.value)
    assert "pet" in message and "srad" in message and "_lump_nldas_forcing_leap.txt" in message
    assert not list(tmp_path.glob("camels_us_*.nc"))


def test_basin_without_forcing_file(shared_camels: Path, tmp_path: Path) -> None:
    cfg = _cfg(shared_camels, tmp_path, basins=("01022500", "01030500"))
    with pytest.raises(DataNotFoundError, match="01030500"):
        load_basin_arrays(cfg)


def test_all_basins_with_forcings_by_default(shared_camels: Path, tmp_path: Path) -> None:
    cfg = _cfg(shared_camels, tmp_path, basins=None)
    basins = resolve_basins(cfg)
    assert basins == tuple(camels_us.available_basins(shared_camels, "nldas"))
    assert {"01022500", "08023080"} <= set(basins)
