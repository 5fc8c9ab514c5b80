"""Tests of the Caravan reader, its registry entry and the pipeline on a small Caravan tree."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ealstm.config import DataConfig, Period, parse_config
from ealstm.data.assemble import date_axis, resolve_basins
from ealstm.data.cache import cache_key, load_basin_arrays
from ealstm.data.readers import caravan
from ealstm.data.readers.datasets import DATASETS, list_basins, read_basin, read_statics
from ealstm.errors import BasinDataError, ConfigError, DataNotFoundError

INPUTS = ("total_precipitation_sum", "temperature_2m_mean", "potential_evaporation_sum")
ATTRS = ("p_mean", "aridity", "ele_mt_sav", "area")
GAUGES = {"camels": ("camels_01022500", "camels_01030500"), "lamah": ("lamah_1",)}


def _series(gauge: str, start: str = "2000-01-01", end: str = "2001-12-31") -> pd.DataFrame:
    """Synthetic daily forcings and a streamflow that follows the rain (Caravan names)."""
    dates = pd.date_range(start, end, freq="D", name="date")
    rng = np.random.default_rng(sum(map(ord, gauge)))
    rain = rng.gamma(0.6, 4.0, len(dates))
    frame = pd.DataFrame({
        "total_precipitation_sum": rain,
        "temperature_2m_mean": 10 + 8 * np.sin(2 * np.pi * dates.day_of_year / 365.25),
        "potential_evaporation_sum": rng.uniform(0.5, 3.0, len(dates)),
        "streamflow": pd.Series(rain).rolling(5, min_periods=1).mean().to_numpy() * 0.4,
    }, index=dates)
    frame.loc[frame.index[3], "streamflow"] = np.nan
    return frame


def _write_series(root: Path, gauge: str, fmt: str, frame: pd.DataFrame) -> Path:
    source = gauge.split("_")[0]
    folder = root / "timeseries" / fmt / source
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        path = folder / f"{gauge}.csv"
        frame.reset_index().to_csv(path, index=False, date_format="%Y-%m-%d")
    else:
        path = folder / f"{gauge}.nc"
        frame.to_xarray().to_netcdf(path, engine="netcdf4")
    return path


def _write_attributes(root: Path, source: str, gauges: tuple[str, ...]) -> None:
    folder = root / "attributes" / source
    folder.mkdir(parents=True, exist_ok=True)
    n, scale = len(gauges), 1.0 if source == "camels" else 1.5
    tables = {
        "caravan": {"p_mean": np.linspace(2, 3, n) * scale,
                    "aridity": np.linspace(0.5, 1.5, n) * scale},
        "hydroatlas": {"ele_mt_sav": np.linspace(100, 900, n) * scale,
                       "for_pc_sse": np.full(n, 40.0)},
        "other": {"gauge_name": [f"River {g}" for g in gauges], "country": ["X"] * n,
                  "gauge_lat": np.full(n, 45.0), "area": np.linspace(50, 500, n) * scale},
    }
    if source == "camels":  # an extra file that only one source has
        tables["extra"] = {"glacier_frac": np.zeros(n)}
    for name, columns in tables.items():
        frame = pd.DataFrame({"gauge_id": list(gauges), **columns})
        frame.to_csv(folder / f"attributes_{name}_{source}.csv", index=False)


def make_caravan(root: Path, formats: dict[str, str] | None = None) -> Path:
    """Caravan tree: ``camels`` as CSV and ``lamah`` as netCDF unless ``formats`` says otherwise."""
    formats = formats or {"camels": "csv", "lamah": "netcdf"}
    for source, gauges in GAUGES.items():
        for gauge in gauges:
            _write_series(root, gauge, formats[source], _series(gauge))
        _write_attributes(root, source, gauges)
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_caravan(tmp_path / "Caravan")


def _period(start: str, end: str) -> Period:
    return Period(start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end))


def _cfg(root: Path, cache: Path, **kwargs: object) -> DataConfig:
    fields = {
        "dataset": "caravan", "data_dir": root, "dynamic_inputs": INPUTS,
        "static_attributes": ATTRS, "basins": ("camels_01022500", "lamah_1"), "seq_length": 10,
        "train_period": _period("2001-01-01", "2001-12-31"),
        "test_period": _period("2000-03-01", "2000-12-31"), "cache_dir": cache,
    }
    return DataConfig(**{**fields, **kwargs})


# --- readers ------------------------------------------------------------------------------------


def test_source_is_the_prefix_of_the_gauge_id() -> None:
    assert caravan.source_of("camels_01022500") == "camels"
    assert caravan.source_of("hysets_01AD_002") == "hysets"
    with pytest.raises(ConfigError, match="data.basins"):
        caravan.source_of("01022500")


@pytest.mark.parametrize("fmt", ["csv", "netcdf"])
def test_read_timeseries_in_both_formats(tmp_path: Path, fmt: str) -> None:
    expected = _series("lamah_1")
    _write_series(tmp_path, "lamah_1", fmt, expected)
    frame = caravan.read_timeseries(tmp_path, "lamah_1")
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.name == "date"
    assert frame.index.freq == "D" or (np.diff(frame.index.values) == np.timedelta64(1, "D")).all()
    assert set(frame.columns) == set(expected.columns)
    assert (frame.dtypes == np.float64).all()
    pd.testing.assert_frame_equal(frame[list(expected.columns)], expected, check_freq=False,
                                  check_index_type=False)


def test_netcdf_is_preferred_over_csv(tmp_path: Path) -> None:
    _write_series(tmp_path, "lamah_1", "netcdf", _series("lamah_1"))
    _write_series(tmp_path, "lamah_1", "csv", _series("lamah_1") * 0 - 1.0)
    assert (caravan.read_timeseries(tmp_path, "lamah_1")["total_precipitation_sum"] >= 0).all()


def test_missing_timeseries_names_basin_and_paths(root: Path) -> None:
    with pytest.raises(DataNotFoundError, match="lamah_99") as err:
        caravan.read_timeseries(root, "lamah_99")
    message = str(err.value)
    assert "netcdf/lamah/lamah_99.nc" in message and "csv/lamah/lamah_99.csv" in message


def test_available_basins_across_sources_and_formats(root: Path) -> None:
    (root / "timeseries" / "csv" / "lamah").mkdir(parents=True)
    (root / "timeseries" / "csv" / "lamah" / "camels_999.csv").write_text("date\n")  # wrong folder
    assert caravan.available_basins(root) == ["camels_01022500", "camels_01030500", "lamah_1"]
    with pytest.raises(DataNotFoundError, match="timeseries"):
        caravan.available_basins(root / "nowhere")


def test_attributes_are_merged_across_files_and_sources(root: Path) -> None:
    attrs = caravan.read_attributes(root)
    assert list(attrs.index) == ["camels_01022500", "camels_01030500", "lamah_1"]
    assert {"p_mean", "ele_mt_sav", "gauge_name", "area", "glacier_frac"} <= set(attrs.columns)
    assert np.isnan(attrs.loc["lamah_1", "glacier_frac"])  # the extra file is camels-only
    picked = caravan.read_attributes(root, basins=["lamah_1", "camels_01030500"],
                                     columns=["area", "p_mean"])
    assert list(picked.columns) == ["area", "p_mean"]
    assert list(picked.index) == ["lamah_1", "camels_01030500"]
    assert picked.loc["camels_01030500", "area"] == 500.0


def test_only_the_sources_of_the_basins_are_read(root: Path) -> None:
    for path in (root / "attributes" / "lamah").iterdir():
        path.unlink()
    attrs = caravan.read_attributes(root, basins=["camels_01022500"], columns=["p_mean"])
    assert attrs.shape == (1, 1)
    with pytest.raises(DataNotFoundError, match="lamah_1") as err:
        caravan.read_attributes(root, basins=["lamah_1"], columns=["p_mean"])
    assert str(root / "attributes" / "lamah") in str(err.value)


def test_attribute_errors(root: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.static_attributes.*p_meen.*p_mean"):
        caravan.read_attributes(root, columns=["p_meen"])
    with pytest.raises(ConfigError, match="not numeric"):
        caravan.read_attributes(root, columns=["gauge_name"])
    with pytest.raises(BasinDataError, match="basin lamah_1: column glacier_frac"):
        caravan.read_attributes(root, basins=["camels_01022500", "lamah_1"],
                                columns=["glacier_frac"])
    with pytest.raises(ConfigError, match="glacier_frac"):  # only the lamah files are read
        caravan.read_attributes(root, basins=["lamah_1"], columns=["glacier_frac"])
    with pytest.raises(BasinDataError, match="camels_123"):
        caravan.read_attributes(root, basins=["camels_123"], columns=["p_mean"])


def test_a_column_in_two_files_must_agree(root: Path) -> None:
    folder = root / "attributes" / "camels"
    same = pd.DataFrame({"gauge_id": list(GAUGES["camels"]), "area": [50.0, 500.0]})
    same.to_csv(folder / "attributes_more_camels.csv", index=False)
    assert caravan.read_attributes(root, columns=["area"]).loc["camels_01030500", "area"] == 500
    same.assign(area=[1.0, 2.0]).to_csv(folder / "attributes_more_camels.csv", index=False)
    with pytest.raises(BasinDataError, match="'area'"):
        caravan.read_attributes(root, columns=["area"])


# --- registry and config -------------------------------------------------------------------------


def test_registry_selects_columns_by_name(root: Path, tmp_path: Path) -> None:
    cfg = _cfg(root, tmp_path, dynamic_inputs=("temperature_2m_mean", "total_precipitation_sum"))
    dynamic, target = read_basin(cfg, "lamah_1")
    assert list(dynamic.columns) == ["temperature_2m_mean", "total_precipitation_sum"]
    assert target.name == "streamflow" == cfg.target
    np.testing.assert_allclose(target.to_numpy(), _series("lamah_1")["streamflow"].to_numpy())
    statics = read_statics(cfg, ["lamah_1", "camels_01022500"])
    assert list(statics.columns) == list(ATTRS) and list(statics.index)[0] == "lamah_1"
    assert list_basins(cfg) == caravan.available_basins(root)
    assert set(DATASETS) == {"camels_us", "caravan", "generic"}


def test_unknown_names_point_at_the_config_key(root: Path, tmp_path: Path) -> None:
    bad_input = _cfg(root, tmp_path, dynamic_inputs=("total_precipitation", "temperature_2m_mean"))
    with pytest.raises(ConfigError, match=r"data\.dynamic_inputs.*total_precipitation_sum"):
        read_basin(bad_input, "lamah_1")
    with pytest.raises(ConfigError, match=r"data\.target.*streamflow"):
        read_basin(_cfg(root, tmp_path, target="streamflo"), "lamah_1")


def test_config_rules_for_caravan(root: Path, tmp_path: Path) -> None:
    cfg = _cfg(root, tmp_path, basins=["lamah_1"])
    assert cfg.target == "streamflow" and cfg.basins == ("lamah_1",)  # no zero padding
    raw = {"name": "t", "data": {"dataset": "caravan", "data_dir": str(root),
                                 "train_period": {"start": "2001-01-01", "end": "2001-12-31"},
                                 "test_period": {"start": "2000-03-01", "end": "2000-12-31"}}}
    with pytest.raises(ConfigError, match=r"data\.dynamic_inputs and data\.static_attributes"):
        parse_config(raw)
    raw["data"]["dynamic_inputs"] = list(INPUTS) + ["streamflow"]
    raw["data"]["static_attributes"] = []
    with pytest.raises(ConfigError, match=r"data\.target 'streamflow' is also in"):
        parse_config(raw)


# --- pipeline -----------------------------------------------------------------------------------


def test_load_basin_arrays_on_caravan(root: Path, tmp_path: Path) -> None:
    cfg = _cfg(root, tmp_path / "cache")
    arrays = load_basin_arrays(cfg)
    assert arrays.basins == ("camels_01022500", "lamah_1")
    assert arrays.dynamic_names == INPUTS and arrays.static_names == ATTRS
    assert arrays.dates[0] == pd.Timestamp("2000-02-21") and arrays.dates[-1].year == 2001
    day = arrays.dates.get_loc(pd.Timestamp("2000-07-01"))
    expected = _series("lamah_1").loc["2000-07-01"]
    np.testing.assert_allclose(arrays.dynamic[1, day], expected[list(INPUTS)], rtol=1e-6)
    assert arrays.target[1, day] == pytest.approx(expected["streamflow"], rel=1e-6)
    assert arrays.static[1, 3] == 75.0 and np.isfinite(arrays.static).all()
    assert len(list((tmp_path / "cache").glob("caravan_*.nc"))) == 1
    again = load_basin_arrays(cfg)  # cache hit
    np.testing.assert_array_equal(again.dynamic, arrays.dynamic)


def test_target_and_dataset_are_in_the_cache_key(root: Path, tmp_path: Path) -> None:
    cfg = _cfg(root, tmp_path)
    dates = date_axis(cfg)
    other = _cfg(root, tmp_path, target="potential_evaporation_sum",
                 dynamic_inputs=INPUTS[:2])
    plain = _cfg(root, tmp_path, dynamic_inputs=INPUTS[:2])
    assert cache_key(other, cfg.basins, dates) != cache_key(plain, cfg.basins, dates)


def test_basins_from_file_or_folder(root: Path, tmp_path: Path) -> None:
    basin_file = tmp_path / "basins.txt"
    basin_file.write_text("# two sources\nlamah_1\ncamels_01030500\n")
    assert resolve_basins(_cfg(root, tmp_path, basins=None, basin_file=basin_file)) == (
        "lamah_1", "camels_01030500")
    assert len(resolve_basins(_cfg(root, tmp_path, basins=None))) == 3
    with pytest.raises(DataNotFoundError, match="lamah_7"):
        load_basin_arrays(_cfg(root, tmp_path, basins=("lamah_1", "lamah_7")))
