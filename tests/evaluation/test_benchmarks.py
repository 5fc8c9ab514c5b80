"""Reading benchmark simulations and the Table 3 comparison on common basins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ealstm.errors import BasinDataError, ConfigError, DataNotFoundError, NoValidDataError
from ealstm.evaluation.benchmarks import compare_with_benchmarks, read_simulations
from ealstm.metrics import METRICS, nse

BASINS = ["01013500", "01022500", "01030500", "01031500"]
DATES = pd.date_range("1999-10-01", periods=120, freq="D", name="date")


def _qobs() -> xr.DataArray:
    rng = np.random.default_rng(0)
    t = np.arange(DATES.size)
    values = np.stack([2.0 + np.sin(t / (5.0 + i)) + rng.random(t.size) for i in range(4)])
    return xr.DataArray(values, coords={"basin": BASINS, "date": DATES}, dims=("basin", "date"))


def _sim(qobs: xr.DataArray, scale: float, seed: int) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    return qobs * scale + rng.normal(0.0, 0.3, qobs.shape)


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------
def test_read_netcdf_any_dim_order_numeric_basins(tmp_path: Path) -> None:
    qobs = _qobs()
    da = qobs.transpose("date", "basin").assign_coords(basin=[int(b) for b in BASINS])
    da.attrs["units"] = "mm/day"
    path = tmp_path / "vic.nc"
    xr.Dataset({"qsim": da}).to_netcdf(path)
    sim = read_simulations(path)
    assert sim.dims == ("basin", "date")
    assert list(sim["basin"].values) == BASINS  # zero-padded back to 8 characters
    np.testing.assert_allclose(sim.values, qobs.values)
    assert sim.attrs["units"] == "mm/day" and sim.attrs["source"] == str(path)


def test_read_netcdf_errors(tmp_path: Path) -> None:
    qobs = _qobs()
    wrong_units = tmp_path / "cms.nc"
    xr.Dataset({"qsim": qobs.assign_attrs(units="m3/s")}).to_netcdf(wrong_units)
    with pytest.raises(BasinDataError, match=r"cms\.nc.*units.*'m3/s'.*mm/day"):
        read_simulations(wrong_units)
    no_var = tmp_path / "novar.nc"
    xr.Dataset({"q": qobs}).to_netcdf(no_var)
    with pytest.raises(BasinDataError, match=r"novar\.nc: no variable 'qsim' \(found \['q'\]\)"):
        read_simulations(no_var)
    wrong_dims = tmp_path / "dims.nc"
    xr.Dataset({"qsim": qobs.rename(basin="gauge")}).to_netcdf(wrong_dims)
    with pytest.raises(BasinDataError, match="dims"):
        read_simulations(wrong_dims)
    fill = tmp_path / "fill.nc"
    xr.Dataset({"qsim": qobs.where(qobs.date != DATES[3], -999.0)}).to_netcdf(fill)
    with pytest.raises(BasinDataError, match="-999"):
        read_simulations(fill)


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def _long(qobs: xr.DataArray) -> pd.DataFrame:
    frame = qobs.to_series().rename("qsim").reset_index()
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    return frame


def test_read_csv_round_trip_and_gaps(tmp_path: Path) -> None:
    qobs = _qobs()
    frame = _long(qobs)
    frame["basin"] = frame["basin"].astype(int)  # leading zeros lost, as in many CSV exports
    frame = frame.drop(index=5).rename(columns={"qsim": " QSim "})
    sim = read_simulations(_write_csv(tmp_path / "hbv.csv", frame))
    assert list(sim["basin"].values) == BASINS
    assert pd.DatetimeIndex(sim["date"].values).equals(pd.DatetimeIndex(DATES, name=None))
    assert np.isnan(sim.values[0, 5])  # the missing row becomes NaN
    expected = qobs.values.copy()
    expected[0, 5] = np.nan
    np.testing.assert_allclose(sim.values, expected)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda f: f.drop(columns="qsim"), r"bad\.csv: missing column\(s\) \['qsim'\]"),
        (lambda f: f.drop(columns=["basin", "date"]), r"missing column\(s\) \['basin', 'date'\]"),
        (lambda f: pd.concat([f, f.iloc[[7]]]), r"1 duplicate \(basin, date\)"),
        (lambda f: f.assign(qsim=f["qsim"].astype(object).where(f.index != 2, "abc")),
         r"column 'qsim' has non-numeric values in line\(s\) \[4\]"),
        (lambda f: f.assign(qsim=f["qsim"].where(f.index != 2, -999.0)), "-999"),
        (lambda f: f.assign(date=f["date"].where(f.index != 2, "yesterday")), "column 'date'"),
        (lambda f: f.assign(units="m3/s"), r"column 'units' is 'm3/s'"),
    ],
)
def test_read_csv_errors(tmp_path: Path, edit, match: str) -> None:
    path = _write_csv(tmp_path / "bad.csv", edit(_long(_qobs())))
    with pytest.raises(BasinDataError, match=match):
        read_simulations(path)


def test_read_csv_units_column_accepted(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "ok.csv", _long(_qobs()).assign(units="mm/d"))
    assert read_simulations(path).sizes == {"basin": 4, "date": DATES.size}


def test_read_simulations_path_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_simulations(tmp_path / "missing.nc")
    (tmp_path / "sim.txt").write_text("x")
    with pytest.raises(BasinDataError, match=r"unknown format '\.txt'"):
        read_simulations(tmp_path / "sim.txt")


# --------------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------------
def test_compare_on_intersection_of_basins() -> None:
    qobs = _qobs()
    models = {
        "good": _sim(qobs, 1.0, 1),
        "bad": _sim(qobs, 0.5, 2).sel(basin=BASINS[1:]),  # covers 3 of 4 basins
        "mid": _sim(qobs, 0.9, 3),
    }
    per_basin, table = compare_with_benchmarks(qobs, models)
    common = BASINS[1:]
    assert table.attrs["n_common_basins"] == 3 and table.attrs["n_basins"] == 3
    assert table.attrs["basins_per_model"] == {"good": 4, "bad": 3, "mid": 4}
    assert list(table.index) == ["good", "bad", "mid"]
    assert set(per_basin.index.get_level_values("basin")) == set(common)
    for name, sim in models.items():
        expected = [nse(qobs.sel(basin=b).values, sim.sel(basin=b).values) for b in common]
        np.testing.assert_allclose(per_basin.loc[name].loc[common, "nse"], expected)
        assert table.loc[name, "nse_mean"] == pytest.approx(np.mean(expected))
        assert table.loc[name, "nse_median"] == pytest.approx(np.median(expected))
        assert table.loc[name, "n_nse_le_0"] == sum(v <= 0 for v in expected)
        fhv = [METRICS["fhv"](qobs.sel(basin=b).values, sim.sel(basin=b).values) for b in common]
        assert table.loc[name, "fhv_median"] == pytest.approx(np.median(fhv))
    scores = per_basin["nse"].unstack("model")
    for name in models:
        assert pd.isna(table.loc[name, f"beats_{name}"])
        for other in models:
            if other != name:
                assert table.loc[name, f"beats_{other}"] == (scores[name] > scores[other]).sum()
    assert table.loc["good", "beats_bad"] == 3 and table.loc["bad", "beats_good"] == 0


def test_compare_uses_same_steps_and_excludes_failed_basins() -> None:
    qobs = _qobs()
    gappy = _sim(qobs, 0.8, 4)
    gappy[0, :10] = np.nan  # first basin: 10 missing days
    gappy[3, :] = np.nan  # last basin: no simulation at all -> excluded for every model
    good = _sim(qobs, 1.0, 1)
    per_basin, table = compare_with_benchmarks(qobs, {"good": good, "gappy": gappy})
    assert table.attrs["n_common_basins"] == 4
    assert table.attrs["n_excluded"] == 1 and table.attrs["excluded_basins"] == [BASINS[3]]
    assert (table["n_basins"] == 3).all()
    assert per_basin.loc[("gappy", BASINS[3]), "status"] == "no valid simulations"
    assert per_basin.loc[("good", BASINS[3]), "status"] == "no valid simulations"
    assert not per_basin.loc[("good", BASINS[3]), "included"]
    # "good" is scored on the same 110 steps as "gappy" in the first basin
    assert per_basin.loc[("good", BASINS[0]), "n_valid"] == DATES.size - 10
    expected = nse(qobs.values[0, 10:], good.values[0, 10:])
    assert per_basin.loc[("good", BASINS[0]), "nse"] == pytest.approx(expected)


def test_compare_period_and_common_dates() -> None:
    qobs = _qobs()
    sim = _sim(qobs, 1.0, 1).isel(date=slice(5, None))
    _, table = compare_with_benchmarks(qobs, {"m": sim}, period=("1999-10-11", "1999-12-31"))
    assert table.attrs["n_dates"] == pd.date_range("1999-10-11", "1999-12-31").size
    part = slice("1999-10-11", "1999-12-31")
    expected = [nse(qobs.sel(basin=b, date=part).values, sim.sel(basin=b, date=part).values)
                for b in BASINS]
    assert table.loc["m", "nse_mean"] == pytest.approx(np.mean(expected))


def test_compare_errors() -> None:
    qobs = _qobs()
    with pytest.raises(ConfigError, match="at least one model"):
        compare_with_benchmarks(qobs, {})
    other = _sim(qobs, 1.0, 1).assign_coords(basin=["09999991", "09999992", "09999993",
                                                    "09999994"])
    with pytest.raises(NoValidDataError, match="0 basin"):
        compare_with_benchmarks(qobs, {"other": other})
    with pytest.raises(ValueError, match="dims"):
        compare_with_benchmarks(qobs, {"m": qobs.rename(basin="gauge")})


def test_each_statistic_uses_the_basins_where_its_metric_is_defined() -> None:
    """An intermittent basin (FLV undefined) stays in the NSE columns (Table 2 rule)."""
    qobs = _qobs()
    qobs[0, :60] = 0.0  # half of the days without flow: flat observed low segment, no FLV
    models = {"a": _sim(qobs, 1.0, 1), "b": _sim(qobs, 0.8, 2)}
    per_basin, table = compare_with_benchmarks(qobs, models)
    assert per_basin.loc[("a", BASINS[0]), "flv"] != per_basin.loc[("a", BASINS[0]), "flv"]
    assert table.attrs["n_basins"] == 4 and table.attrs["n_excluded"] == 0
    assert per_basin["included"].all()
    for name, sim in models.items():
        expected = [nse(qobs.sel(basin=b).values, sim.sel(basin=b).values) for b in BASINS]
        assert table.loc[name, "nse_mean"] == pytest.approx(np.mean(expected))
        assert table.loc[name, "nse_median"] == pytest.approx(np.median(expected))
        flv = [METRICS["flv"](qobs.sel(basin=b).values, sim.sel(basin=b).values)
               for b in BASINS[1:]]
        assert table.loc[name, "flv_median"] == pytest.approx(np.median(flv))
        fhv = [METRICS["fhv"](qobs.sel(basin=b).values, sim.sel(basin=b).values) for b in BASINS]
        assert table.loc[name, "fhv_median"] == pytest.approx(np.median(fhv))
    assert (table["n_basins"] == 4).all() and (table["n_nse"] == 4).all()
    assert (table["n_flv"] == 3).all() and (table["n_fhv"] == 4).all()
    assert table.loc["a", "beats_b"] + table.loc["b", "beats_a"] == 4
