"""Fault corpus: one generated defect per class and reader, each with the message it must give.

CAMELS-US trees come from the synthetic generator (:mod:`ealstm.data.synthetic.demo`), Caravan and
generic trees from the small writers of their reader tests; each test plants one defect on
one day and builds the arrays through :func:`ealstm.data.cache.load_basin_arrays`, the path
every training and evaluation takes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ealstm.config import DataConfig, Period
from ealstm.data.cache import load_basin_arrays
from ealstm.data.synthetic.demo import generate_demo_data
from ealstm.errors import BasinDataError
from tests.data.test_caravan import make_caravan
from tests.data.test_generic import make_generic

DAY = "2001-03-15"  # inside the train period of every config below


def _period(start: str, end: str) -> Period:
    return Period(start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end))


# --- defect writers: change one value of one basin on DAY ---------------------------------------


def _edit_table_file(path: Path, skip: int, sep: str, date_cols: int, column: int,
                     value: str) -> None:
    """Set field ``column`` of the row dated DAY in a whitespace table with Y M D columns."""
    lines = path.read_text().splitlines()
    day = pd.Timestamp(DAY)
    for i in range(skip, len(lines)):
        fields = lines[i].split()
        ymd = [int(f) for f in fields[date_cols:date_cols + 3]]
        if ymd == [day.year, day.month, day.day]:
            fields[column] = value
            lines[i] = sep.join(fields)
            break
    else:
        raise AssertionError(f"{DAY} not in {path}")
    path.write_text("\n".join(lines) + "\n")


def _edit_csv(path: Path, column: str, value: float, index_col: str = "date") -> None:
    frame = pd.read_csv(path, dtype={index_col: str})
    frame.loc[frame[index_col] == DAY, column] = value
    frame.to_csv(path, index=False)


@dataclass(frozen=True)
class Reader:
    """A data set in tmp_path and how to plant a defect in it."""

    name: str
    build: Callable[[Path], DataConfig]
    basin: str
    precip: str
    other: str
    target: str
    attribute: str
    set_value: Callable[[Path, str, str, float], Path]  # (root, kind, column, value) -> file
    set_attribute: Callable[[Path, str, float], Path]


def _camels_cfg(root: Path, **kw: object) -> DataConfig:
    return DataConfig(data_dir=root, basins=("90000001",), forcings="maurer_extended",
                      train_period=_period("2000-10-01", "2001-09-30"),
                      test_period=_period("1999-10-10", "2000-09-30"), seq_length=5,
                      cache_dir=root / "cache", **kw)


def _camels_set(root: Path, kind: str, column: str, value: float) -> Path:
    if kind == "target":
        path = next(root.glob("usgs_streamflow/*/90000001_streamflow_qc.txt"))
        _edit_table_file(path, 0, " ", 1, 4, f"{value:.2f}")
        return path
    path = next(root.glob("basin_mean_forcing/maurer_extended/*/90000001_*"))
    header = path.read_text().splitlines()[3].split("\t")
    position = [h.split("(")[0].lower() for h in header].index(column)
    _edit_table_file(path, 4, "\t", 0, position, repr(value))
    return path


def _camels_set_attribute(root: Path, column: str, value: float) -> Path:
    path = root / "camels_attributes_v2.0" / "camels_topo.txt"
    frame = pd.read_csv(path, sep=";", dtype={"gauge_id": str})
    frame.loc[frame["gauge_id"] == "90000001", column] = value
    frame.to_csv(path, sep=";", index=False)
    return path


def _camels_root(tmp: Path) -> DataConfig:
    root = generate_demo_data(tmp / "camels", n_basins=1, start="1999-10-01", end="2001-09-30",
                              seed=3)
    return _camels_cfg(root)


def _generic_root(tmp: Path) -> DataConfig:
    root = make_generic(tmp / "generic")
    return DataConfig(dataset="generic", data_dir=root, dynamic_inputs=("precip", "temp", "pet"),
                      static_attributes=("area", "elevation"), basins=("01022500",),
                      train_period=_period("2001-01-01", "2001-12-31"),
                      test_period=_period("2000-03-01", "2000-12-31"), seq_length=5,
                      cache_dir=tmp / "cache")


def _generic_set(root: Path, kind: str, column: str, value: float) -> Path:
    path = root / "time_series" / "01022500.csv"
    _edit_csv(path, column, value)
    return path


def _caravan_root(tmp: Path) -> DataConfig:
    root = make_caravan(tmp / "Caravan")
    return DataConfig(dataset="caravan", data_dir=root,
                      dynamic_inputs=("total_precipitation_sum", "temperature_2m_mean"),
                      static_attributes=("p_mean", "area"), basins=("camels_01022500",),
                      train_period=_period("2001-01-01", "2001-12-31"),
                      test_period=_period("2000-03-01", "2000-12-31"), seq_length=5,
                      cache_dir=tmp / "cache")


def _caravan_set(root: Path, kind: str, column: str, value: float) -> Path:
    path = root / "timeseries" / "csv" / "camels" / "camels_01022500.csv"
    _edit_csv(path, column, value)
    return path


def _table_attribute(relative: str, basin: str, index_col: str) -> Callable[..., Path]:
    def set_attribute(root: Path, column: str, value: float) -> Path:
        path = root / relative
        frame = pd.read_csv(path, dtype={index_col: str})
        frame.loc[frame[index_col] == basin, column] = value
        frame.to_csv(path, index=False)
        return path

    return set_attribute


READERS = {
    "camels_us": Reader("camels_us", _camels_root, "90000001", "prcp", "tmax", "qobs",
                        "elev_mean", _camels_set, _camels_set_attribute),
    "caravan": Reader("caravan", _caravan_root, "camels_01022500", "total_precipitation_sum",
                      "temperature_2m_mean", "streamflow", "area", _caravan_set,
                      _table_attribute("attributes/camels/attributes_other_camels.csv",
                                       "camels_01022500", "gauge_id")),
    "generic": Reader("generic", _generic_root, "01022500", "precip", "temp", "qobs", "area",
                      _generic_set, _table_attribute("attributes.csv", "01022500", "basin")),
}


@pytest.fixture(params=sorted(READERS))
def reader(request: pytest.FixtureRequest) -> Reader:
    return READERS[request.param]


def _value_on_day(cfg: DataConfig, column: str) -> float:
    arrays = load_basin_arrays(cfg)
    t = arrays.dates.get_loc(pd.Timestamp(DAY))
    if column in arrays.dynamic_names:
        return float(arrays.dynamic[0, t, arrays.dynamic_names.index(column)])
    return float(arrays.target[0, t])


# --- impossible values: one error naming file, basin, column, date -----------------------------

#: defect class -> (which column, planted value, words the message must hold)
IMPOSSIBLE = {
    "negative_precipitation": ("precip", -1.5, "negative, physically impossible"),
    "negative_discharge": ("target", -0.5, "negative, physically impossible"),
    "infinite_input": ("other", np.inf, "not finite"),
    "float32_overflow": ("other", 1e39, "beyond the float32 range"),
    "precipitation_beyond_bound": ("precip", 5000.0, "outside the plausible range [0, 3000]"),
}


@pytest.mark.parametrize("defect", sorted(IMPOSSIBLE))
def test_impossible_value_is_an_error_naming_file_basin_column_date(
        reader: Reader, defect: str, tmp_path: Path) -> None:
    which, value, words = IMPOSSIBLE[defect]
    cfg = reader.build(tmp_path)
    column = getattr(reader, which)
    path = reader.set_value(cfg.data_dir, "target" if which == "target" else "input", column,
                            value)
    with pytest.raises(BasinDataError) as info:
        load_basin_arrays(cfg)
    message = str(info.value)
    for part in (str(path), f"basin {reader.basin}", repr(column), DAY, words):
        assert part in message, (part, message)
    assert "\n" not in message


@pytest.mark.parametrize("defect", ["negative_precipitation", "infinite_input",
                                    "negative_discharge"])
def test_mask_mode_turns_impossible_values_into_missing_with_a_warning(
        reader: Reader, defect: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    which, value, _ = IMPOSSIBLE[defect]
    cfg = reader.build(tmp_path).model_copy(update={"invalid_values": "mask"})
    column = getattr(reader, which)
    reader.set_value(cfg.data_dir, "target" if which == "target" else "input", column, value)
    with caplog.at_level(logging.WARNING, logger="ealstm.data.validation"):
        assert np.isnan(_value_on_day(cfg, column))
    assert any(f"basin {reader.basin}" in r.message and "1 impossible value(s) masked" in
               r.message for r in caplog.records), caplog.text


# --- sentinels: missing, never a value ----------------------------------------------------------


@pytest.mark.parametrize(("which", "sentinel"), [("precip", -999.0), ("other", -9999.0),
                                                 ("target", -999.0), ("target", -9999.0)])
def test_sentinels_become_missing(reader: Reader, which: str, sentinel: float,
                                  tmp_path: Path) -> None:
    cfg = reader.build(tmp_path)
    column = getattr(reader, which)
    reader.set_value(cfg.data_dir, "target" if which == "target" else "input", column, sentinel)
    assert np.isnan(_value_on_day(cfg, column))


def test_sentinels_leave_the_other_days_unchanged(reader: Reader, tmp_path: Path) -> None:
    cfg = reader.build(tmp_path)
    clean = load_basin_arrays(cfg)
    reader.set_value(cfg.data_dir, "input", reader.other, -999.0)
    dirty = load_basin_arrays(cfg.model_copy(update={"cache_dir": tmp_path / "cache2"}))
    t = clean.dates.get_loc(pd.Timestamp(DAY))
    f = clean.dynamic_names.index(reader.other)
    expected = clean.dynamic.copy()
    expected[0, t, f] = np.nan
    np.testing.assert_array_equal(dirty.dynamic, expected)
    np.testing.assert_array_equal(dirty.target, clean.target)


# --- attributes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "words"), [(1e39, "beyond the float32 range"),
                                              (np.inf, "not finite"),
                                              (-999.0, "the missing-value sentinel"),
                                              (3e7, "outside the plausible range")])
def test_bad_attribute_is_an_error_naming_basin_and_attribute(
        reader: Reader, value: float, words: str, tmp_path: Path) -> None:
    cfg = reader.build(tmp_path)
    attribute = reader.attribute
    if reader.name == "camels_us":
        cfg = cfg.model_copy(update={"static_attributes": (attribute,)})
    reader.set_attribute(cfg.data_dir, attribute, value)
    with pytest.raises(BasinDataError) as info:
        load_basin_arrays(cfg)
    message = str(info.value)
    for part in (f"basin {reader.basin}", repr(attribute), words):
        assert part in message, (part, message)


# --- CAMELS-US only: the forcing-header area converts the discharge -----------------------------


def test_camels_forcing_area_in_km2_is_an_error_naming_both_areas(tmp_path: Path) -> None:
    cfg = _camels_root(tmp_path)
    path = next(cfg.data_dir.glob("basin_mean_forcing/maurer_extended/*/90000001_*"))
    lines = path.read_text().splitlines()
    area_m2 = float(lines[2])
    lines[2] = f"{area_m2 / 1e6:.3f}"  # km^2 where m^2 belongs: discharge x 1e6
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(BasinDataError) as info:
        load_basin_arrays(cfg)
    message = str(info.value)
    assert str(path) in message and "area_gages2" in message and "area_geospa_fabric" in message
    assert f"{area_m2 / 1e6:.3f}"[:5] in message and "in m^2" in message


def test_camels_forcing_area_within_tolerance_is_accepted(tmp_path: Path) -> None:
    cfg = _camels_root(tmp_path)
    path = next(cfg.data_dir.glob("basin_mean_forcing/maurer_extended/*/90000001_*"))
    lines = path.read_text().splitlines()
    lines[2] = str(int(float(lines[2]) * 2))  # like CAMELS basin 05057200 (ratio 0.48)
    path.write_text("\n".join(lines) + "\n")
    assert load_basin_arrays(cfg).target.shape[0] == 1


# --- unreadable files ---------------------------------------------------------------------------


def test_non_utf8_time_series_is_an_error_naming_the_file(reader: Reader, tmp_path: Path) -> None:
    cfg = reader.build(tmp_path)
    path = reader.set_value(cfg.data_dir, "input", reader.other, 1.0)
    content = path.read_bytes()
    middle = content.index(b"\n", len(content) // 2) + 1  # a data row, not a skipped header
    path.write_bytes(content[:middle] + b"\xff\xfe" + content[middle:])
    with pytest.raises(BasinDataError, match=f"cannot parse {path}"):
        load_basin_arrays(cfg)


def test_non_utf8_basin_list_is_an_error_naming_the_file(reader: Reader, tmp_path: Path) -> None:
    cfg = reader.build(tmp_path)
    basin_file = tmp_path / "basins.txt"
    basin_file.write_bytes(reader.basin.encode() + b"  # caf\xe9\n")
    cfg = cfg.model_copy(update={"basins": None, "basin_file": basin_file})
    with pytest.raises(BasinDataError, match=f"basin list {basin_file} is not UTF-8 text"):
        load_basin_arrays(cfg)
