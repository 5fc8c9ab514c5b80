"""Parsers of the CAMELS-US layout, on the real files in ../shared and on small tmp files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ealstm.config import FORCING_PRODUCTS, PAPER_ATTRIBUTES
from ealstm.data.readers.camels_us import (
    FORCING_TAGS,
    available_basins,
    read_attributes,
    read_basin_list,
    read_forcings,
    read_gauge_locations,
    read_streamflow,
)
from ealstm.errors import BasinDataError, ConfigError, DataNotFoundError

COLUMNS = ["dayl", "prcp", "srad", "swe", "tmax", "tmin", "vp"]
AREA_01022500 = 587.675987  # header: 587675987 m^2

# product -> (first date, last date, first row as in the file)
REAL_FORCINGS = {
    "daymet": ("2000-01-01", "2003-12-31",
               [31185.97, 0.0, 189.56, 0.0, -2.36, -14.36, 202.51]),
    "maurer": ("2000-01-01", "2002-12-31",
               [31185.94, 0.0, 233.66, 0.0, -8.49, -8.49, 192.89]),
    "maurer_extended": ("2000-01-01", "2002-12-31",
                        [31185.94, 0.0, 233.66, 0.0, -2.09, -14.99, 192.89]),
    "nldas": ("1980-01-01", "2014-12-31",
              [31185.94, 0.0, 247.36, 0.0, -5.69, -5.69, 257.60]),
}

HEADER = "  44.82\n 133.00\n 587675987\n"


def _write_forcing(root: Path, product: str, basin: str, body: str, header: str = HEADER) -> Path:
    tag = FORCING_TAGS[product]
    path = root / "basin_mean_forcing" / product / "01" / f"{basin}_lump_{tag}_forcing_leap.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + body)
    return path


def _write_streamflow(root: Path, basin: str, rows: list[str]) -> Path:
    path = root / "usgs_streamflow" / "01" / f"{basin}_streamflow_qc.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")
    return path


FORCING_BODY = (
    "Year Mnth Day Hr\tDayl(s)\tPRCP(mm/day)\tSRAD(W/m2)\tSWE(mm)\tTmax(C)\tTmin(C)\tVp(Pa)\n"
    "2000 01 01 12\t1.0\t2.0\t3.0\t0.0\t5.0\t4.0\t7.0\n"
    "2000 01 02 12\t1.0\t2.5\t3.0\t0.0\t5.0\t4.0\t7.0\n"
)


# --- forcings --------------------------------------------------------------------------------


def test_forcing_tags_cover_the_config_products() -> None:
    assert set(FORCING_TAGS) == set(FORCING_PRODUCTS)


@pytest.mark.parametrize("product", sorted(REAL_FORCINGS))
def test_real_forcings_parse(shared_camels: Path, product: str) -> None:
    first, last, first_row = REAL_FORCINGS[product]
    frame, area = read_forcings(shared_camels, "01022500", product)
    assert list(frame.columns) == COLUMNS
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.name == "date"
    assert frame.index[0] == pd.Timestamp(first) and frame.index[-1] == pd.Timestamp(last)
    assert len(frame) == (pd.Timestamp(last) - pd.Timestamp(first)).days + 1
    np.testing.assert_allclose(frame.iloc[0].to_numpy(), first_row)
    assert area == pytest.approx(AREA_01022500, rel=1e-12)


def test_daymet_lower_case_header_parses(shared_camels: Path) -> None:
    path = next((shared_camels / "basin_mean_forcing" / "daymet").glob("*/01022500_*"))
    header = path.read_text().splitlines()[3]
    assert "prcp(mm/day)" in header and "PRCP" not in header  # the quirk is really there
    frame, _ = read_forcings(shared_camels, "01022500", "daymet")
    assert frame.loc["2000-01-02", "tmax"] == pytest.approx(4.81)


def test_maurer_extended_is_tab_separated_and_parses(shared_camels: Path) -> None:
    path = next((shared_camels / "basin_mean_forcing" / "maurer_extended").glob("*/01022500_*"))
    assert path.read_text().splitlines()[4].startswith("2000\t1\t1\t12\t")
    frame, _ = read_forcings(shared_camels, "01022500", "maurer_extended")
    assert frame.loc["2002-12-31", "tmin"] == pytest.approx(-15.83)


@pytest.mark.parametrize(("product", "equal"), [("nldas", True), ("maurer", True),
                                                ("maurer_extended", False), ("daymet", False)])
def test_tmax_equals_tmin_only_in_nldas_and_maurer(shared_camels: Path, product: str,
                                                   equal: bool) -> None:
    frame, _ = read_forcings(shared_camels, "01022500", product)
    assert bool((frame["tmax"] == frame["tmin"]).all()) is equal
    if not equal:
        assert (frame["tmax"] >= frame["tmin"]).all() and (frame["tmax"] > frame["tmin"]).any()


def test_nldas_forcing_of_another_basin_and_its_own_area(shared_camels: Path) -> None:
    frame, area = read_forcings(shared_camels, "08023080", "nldas")
    assert frame.index[0] == pd.Timestamp("1993-09-29")
    assert frame.index[-1] == pd.Timestamp("2013-10-03")
    assert area == pytest.approx(187.693872)


def test_extended_product_with_other_header_spelling(tmp_path: Path) -> None:
    body = ("Year\tMnth Day  Hr dayl(s) prcp(mm/day)\tSRAD(W/m2) swe(mm) Tmax(C) tmin(C) Vp(Pa)\n"
            "1980 1 1 12 1.0 2.0 3.0 0.0 5.0 4.0 7.0\n"
            "1980 1 2 12 1.0 2.5 3.0 0.0 6.0 4.0 7.0\n")
    _write_forcing(tmp_path, "nldas_extended", "01022500", body)
    frame, area = read_forcings(tmp_path, "1022500", "nldas_extended")
    assert list(frame.columns) == COLUMNS
    assert frame.loc["1980-01-02", "tmax"] == 6.0
    assert area == pytest.approx(AREA_01022500)


def test_forcing_duplicate_date_raises_naming_file(tmp_path: Path) -> None:
    body = FORCING_BODY + "2000 01 02 12\t1.0\t2.5\t3.0\t0.0\t5.0\t4.0\t7.0\n"
    path = _write_forcing(tmp_path, "maurer", "01022500", body)
    with pytest.raises(BasinDataError, match="duplicate") as info:
        read_forcings(tmp_path, "01022500", "maurer")
    assert str(path) in str(info.value)


def test_forcing_gap_raises_naming_file(tmp_path: Path) -> None:
    body = FORCING_BODY + "2000 01 04 12\t1.0\t2.5\t3.0\t0.0\t5.0\t4.0\t7.0\n"
    path = _write_forcing(tmp_path, "maurer", "01022500", body)
    with pytest.raises(BasinDataError, match="2000-01-02 is followed by 2000-01-04") as info:
        read_forcings(tmp_path, "01022500", "maurer")
    assert str(path) in str(info.value)


def test_forcing_bad_area_header_raises(tmp_path: Path) -> None:
    _write_forcing(tmp_path, "maurer", "01022500", FORCING_BODY, header="44.8\n133\nunknown\n")
    with pytest.raises(BasinDataError, match="area"):
        read_forcings(tmp_path, "01022500", "maurer")


def test_missing_forcing_file_names_basin_product_and_folder(shared_camels: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        read_forcings(shared_camels, "01013500", "daymet")  # only nldas exists for it
    message = str(info.value)
    assert "01013500" in message and "daymet" in message
    assert str(shared_camels / "basin_mean_forcing" / "daymet") in message
    assert isinstance(info.value, FileNotFoundError)


def test_unknown_product_lists_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nldas_extended"):
        read_forcings(tmp_path, "01022500", "daymet_v4")
    with pytest.raises(ConfigError, match="maurer_extended"):
        available_basins(tmp_path, "daymet_v4")


def test_available_basins(shared_camels: Path) -> None:
    assert available_basins(shared_camels, "daymet") == [
        "01022500", "01547700", "02064000", "03015500"]
    nldas = available_basins(shared_camels, "nldas")
    assert len(nldas) == 22 and nldas == sorted(nldas)
    assert {"08023080", "06221400", "01013500"} <= set(nldas)
    with pytest.raises(DataNotFoundError, match="nldas_extended"):
        available_basins(shared_camels, "nldas_extended")


# --- streamflow ------------------------------------------------------------------------------


def test_streamflow_cfs_to_mm_per_day_by_hand(shared_camels: Path) -> None:
    q = read_streamflow(shared_camels, "01022500", AREA_01022500)
    # 395 cfs * 0.0283168 m^3/ft^3 * 86400 s / 587.675987e6 m^2 * 1000 mm/m = 1.644439 mm/day
    assert q.name == "qobs" and q.index.name == "date"
    assert q.loc["1980-01-01"] == pytest.approx(1.644439, rel=1e-6)
    assert q.index[0] == pd.Timestamp("1980-01-01") and q.index[-1] == pd.Timestamp("2014-12-31")


def test_streamflow_scales_inversely_with_area(shared_camels: Path) -> None:
    q1 = read_streamflow(shared_camels, "01022500", AREA_01022500)
    q2 = read_streamflow(shared_camels, "01022500", 2 * AREA_01022500)
    np.testing.assert_allclose(q2.dropna(), q1.dropna() / 2)


@pytest.mark.parametrize(("basin", "first_missing", "n_missing"),
                         [("01022500", "2014-10-01", 92), ("06221400", "2014-10-27", 66)])
def test_streamflow_missing_values_are_nan(shared_camels: Path, basin: str, first_missing: str,
                                           n_missing: int) -> None:
    q = read_streamflow(shared_camels, basin, 100.0)
    assert np.isnan(q.loc[first_missing])
    assert np.isfinite(q.loc[pd.Timestamp(first_missing) - pd.Timedelta(days=1)])
    assert int(q.isna().sum()) == n_missing  # exactly the -999 / M rows
    assert (q.dropna() >= 0).all()


def test_streamflow_estimated_flag_is_kept(shared_camels: Path) -> None:
    q = read_streamflow(shared_camels, "01022500", 100.0)
    # "01022500 1985 12 11   265.00 A:e"
    expected = 265.0 * 0.3048**3 * 86400 / 100e6 * 1000
    assert q.loc["1985-12-11"] == pytest.approx(expected)


def test_streamflow_starts_later_than_forcing(shared_camels: Path) -> None:
    forcing, area = read_forcings(shared_camels, "08023080", "nldas")
    q = read_streamflow(shared_camels, "08023080", area)
    assert q.index[0] == pd.Timestamp("1993-10-08") > forcing.index[0]
    assert q.index[-1] == pd.Timestamp("2013-10-10") > forcing.index[-1]
    late = read_streamflow(shared_camels, "06221400", 100.0)
    assert late.index[0] == pd.Timestamp("2002-06-30")


def test_streamflow_flag_m_with_positive_value_and_gaps(tmp_path: Path) -> None:
    _write_streamflow(tmp_path, "01022500", [
        "01022500 2000 01 01   10.00 A",
        "01022500 2000 01 02   20.00 M",
        "01022500 2000 01 03 -999.00 A:e",
        "01022500 2000 01 05   30.00 A:e",
    ])
    q = read_streamflow(tmp_path, "01022500", 1.0)
    assert list(q.index) == list(pd.date_range("2000-01-01", "2000-01-05", name="date"))
    assert q.index.name == "date"
    assert np.isnan(q.iloc[1:4]).all()
    assert q.iloc[0] == pytest.approx(10 * 0.3048**3 * 86.4)
    assert q.iloc[4] == pytest.approx(30 * 0.3048**3 * 86.4)


def test_streamflow_duplicate_date_raises(tmp_path: Path) -> None:
    path = _write_streamflow(tmp_path, "01022500", [
        "01022500 2000 01 01 10.00 A", "01022500 2000 01 01 11.00 A"])
    with pytest.raises(BasinDataError, match="duplicate") as info:
        read_streamflow(tmp_path, "01022500", 1.0)
    assert str(path) in str(info.value)


def test_missing_streamflow_file_names_basin(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="01234567"):
        read_streamflow(tmp_path, "01234567", 1.0)


# --- attributes ------------------------------------------------------------------------------


def test_attributes_all_671_basins_with_string_ids(shared_camels: Path) -> None:
    attrs = read_attributes(shared_camels)
    assert len(attrs) == 671 and attrs.index.is_unique
    assert attrs.index.name == "gauge_id"
    assert all(isinstance(b, str) and len(b) == 8 for b in attrs.index)
    assert "01022500" in attrs.index  # a leading zero survives
    assert set(PAPER_ATTRIBUTES) <= set(attrs.columns)
    assert {"gauge_name", "geol_1st_class", "gauge_lat", "q_mean"} <= set(attrs.columns)
    assert attrs.loc["01022500", "area_gages2"] == pytest.approx(573.6)
    assert attrs.loc["01013500", "huc_02"] == "01"


def test_attribute_names_parse(shared_camels: Path) -> None:
    names = read_attributes(shared_camels)["gauge_name"]
    assert names.loc["01013500"] == "Fish River near Fort Kent, Maine"


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
def test_non_ascii_gauge_names_decode(shared_camels: Path, tmp_path: Path, encoding: str) -> None:
    # the sample's camels_name.txt happens to be pure ASCII; the full file has latin-1 bytes
    folder = tmp_path / "camels_attributes_v2.0"
    folder.mkdir()
    text = "gauge_id;huc_02;gauge_name\n01022500;01;Río Piedras at Cañón, Puerto Rico\n"
    (folder / "camels_name.txt").write_bytes(text.encode(encoding))
    topo = (shared_camels / "camels_attributes_v2.0" / "camels_topo.txt").read_text()
    (folder / "camels_topo.txt").write_text(topo)
    attrs = read_attributes(tmp_path, basins=["01022500"])
    assert attrs.loc["01022500", "gauge_name"] == "Río Piedras at Cañón, Puerto Rico"
    assert attrs.loc["01022500", "elev_mean"] == pytest.approx(
        read_attributes(shared_camels).loc["01022500", "elev_mean"])


def test_attribute_selection_keeps_order_and_values(shared_camels: Path) -> None:
    basins = ["03015500", "01022500"]
    attrs = read_attributes(shared_camels, basins=basins, columns=["area_gages2", "p_mean"])
    assert list(attrs.index) == basins and list(attrs.columns) == ["area_gages2", "p_mean"]
    assert attrs.loc["01022500", "area_gages2"] == pytest.approx(573.6)


def test_paper_attributes_complete_for_531_basins(shared_camels: Path) -> None:
    basins = read_basin_list(shared_camels / "basin_list_531.txt")
    attrs = read_attributes(shared_camels, basins=basins, columns=PAPER_ATTRIBUTES)
    assert attrs.shape == (531, 27) and np.isfinite(attrs.to_numpy()).all()


@pytest.mark.parametrize(("paper_name", "file_name"), [
    ("forest_frac", "frac_forest"), ("carb_rocks_frac", "carbonate_rocks_frac"),
    ("frac_snow_daily", "frac_snow"), ("p_men", "p_mean")])
def test_unknown_attribute_suggests_file_name(shared_camels: Path, paper_name: str,
                                              file_name: str) -> None:
    with pytest.raises(ConfigError) as info:
        read_attributes(shared_camels, columns=["aridity", paper_name])
    message = str(info.value)
    assert "data.static_attributes" in message and paper_name in message
    assert file_name in message


def test_non_numeric_attribute_raises(shared_camels: Path) -> None:
    with pytest.raises(ConfigError, match="gauge_name"):
        read_attributes(shared_camels, columns=["p_mean", "gauge_name"])


def test_unknown_basin_in_attributes_raises(shared_camels: Path) -> None:
    with pytest.raises(BasinDataError, match="99999999"):
        read_attributes(shared_camels, basins=["01022500", "99999999"], columns=["p_mean"])


def test_nan_attribute_names_basin_and_column(shared_camels: Path) -> None:
    # root_depth_50 is NA for 01013500 in camels_vege.txt
    with pytest.raises(BasinDataError, match="01013500: root_depth_50"):
        read_attributes(shared_camels, basins=["01013500"], columns=["p_mean", "root_depth_50"])
    ok = read_attributes(shared_camels, basins=["01022500"], columns=["root_depth_50"])
    assert np.isfinite(ok.to_numpy()).all()


def test_missing_attribute_folder(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="camels_attributes_v2.0"):
        read_attributes(tmp_path)


def test_gauge_locations(shared_camels: Path) -> None:
    loc = read_gauge_locations(shared_camels, basins=["01022500", "08023080"])
    assert list(loc.columns) == ["lat", "lon", "area_gages2"]
    assert list(loc.index) == ["01022500", "08023080"]
    assert loc.loc["01022500"].tolist() == pytest.approx([44.60797, -67.93524, 573.6])
    assert len(read_gauge_locations(shared_camels)) == 671
    with pytest.raises(BasinDataError, match="12345678"):
        read_gauge_locations(shared_camels, basins=["12345678"])


# --- basin lists -----------------------------------------------------------------------------


def test_basin_list_531(shared_camels: Path) -> None:
    basins = read_basin_list(shared_camels / "basin_list_531.txt")
    assert len(basins) == 531 and len(set(basins)) == 531
    assert basins[0] == "01022500" and all(len(b) == 8 for b in basins)
    assert set(basins) <= set(read_attributes(shared_camels).index)


def test_basin_list_comments_blank_lines_and_padding(tmp_path: Path) -> None:
    path = tmp_path / "basins.txt"
    path.write_text("# my basins\n\n1022500\n  08023080  # Texas\n\n")
    assert read_basin_list(path) == ["01022500", "08023080"]


def test_basin_list_duplicates_raise(tmp_path: Path) -> None:
    path = tmp_path / "basins.txt"
    path.write_text("01022500\n1022500\n")
    with pytest.raises(BasinDataError, match="01022500"):
        read_basin_list(path)


def test_basin_list_bad_line_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "basins.txt"
    path.write_text("01022500\nbasin_two\n")
    with pytest.raises(BasinDataError, match="line 2"):
        read_basin_list(path)
    with pytest.raises(DataNotFoundError, match="nope.txt"):
        read_basin_list(tmp_path / "nope.txt")


def test_streamflow_of_another_gauge_raises(tmp_path: Path) -> None:
    _write_streamflow(tmp_path, "01022500", ["01013500 2000 01 01 10.00 A"])
    with pytest.raises(BasinDataError, match="01013500"):
        read_streamflow(tmp_path, "01022500", 1.0)


def test_ragged_forcing_row_raises_naming_file(tmp_path: Path) -> None:
    path = _write_forcing(tmp_path, "maurer", "01022500", FORCING_BODY + "2000 01 03 12 1.0 2.0\n")
    with pytest.raises(BasinDataError) as info:
        read_forcings(tmp_path, "01022500", "maurer")
    assert str(path) in str(info.value)


def test_streamflow_row_without_value_raises(tmp_path: Path) -> None:
    _write_streamflow(tmp_path, "01022500", ["01022500 2000 01 01 10.00 A", "01022500 2000 01 02"])
    with pytest.raises(BasinDataError, match="discharge"):
        read_streamflow(tmp_path, "01022500", 1.0)
