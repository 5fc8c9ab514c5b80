"""Hydrological signatures: hand-computed values and the published CAMELS values of 01022500."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ealstm.analysis.baseflow import lyne_hollick_baseflow
from ealstm.analysis.flow_signatures import slope_fdc_log
from ealstm.analysis.signatures import (
    CAMELS_PERIOD,
    SIGNATURES,
    basin_signatures,
    compute_signatures,
)
from ealstm.data.readers.camels_us import (
    read_attributes,
    read_basin_list,
    read_forcings,
    signature_series,
)
from ealstm.errors import BasinDataError, ConfigError, NoValidDataError

CAMELS_HYDRO_COLUMNS = (
    "q_mean", "runoff_ratio", "slope_fdc", "baseflow_index", "stream_elas", "q5", "q95",
    "high_q_freq", "high_q_dur", "low_q_freq", "low_q_dur", "zero_q_freq", "hfd_mean",
)  # fmt: skip


def series(values: list[float] | np.ndarray, start: str = "2000-10-01") -> pd.Series:
    """Daily series from ``start``."""
    values = np.asarray(values, dtype=np.float64)
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D"))


def sig(name: str, q: pd.Series, p: pd.Series | None = None) -> float:
    """Call a registry function directly (no missing-data tolerance)."""
    return SIGNATURES[name](q, p)


def test_registry_has_the_13_camels_signatures_in_file_order() -> None:
    assert tuple(SIGNATURES) == CAMELS_HYDRO_COLUMNS


# --------------------------------------------------------------------------- hand-computed


def test_q_mean_drops_missing_days() -> None:
    # (1 + 2 + 3 + 4) / 4 = 2.5; the NaN day is dropped
    assert sig("q_mean", series([1, 2, 3, np.nan, 4])) == pytest.approx(2.5)


def test_runoff_ratio_uses_days_where_both_are_valid() -> None:
    # joint valid days 0 and 1: mean Q = (1 + 2) / 2 = 1.5, mean P = (2 + 4) / 2 = 3 -> 0.5
    q, p = series([1, 2, 3, np.nan]), series([2, 4, np.nan, 6])
    assert sig("runoff_ratio", q, p) == pytest.approx(0.5)


def test_slope_fdc_is_the_mean_normalised_linear_slope() -> None:
    # q = 1..101: Q33 = 1 + 0.33 * 100 = 34, Q66 = 67, mean = 51
    # slope_fdc = (67 - 34) / (51 * 0.33) = 33 / 16.83 = 100 / 51 = 1.96078...
    q = series(np.arange(1.0, 102.0))
    assert sig("slope_fdc", q) == pytest.approx(100 / 51)
    # the log form of Sawicz et al.: (ln 67 - ln 34) / 0.33 = 2.05596...
    assert slope_fdc_log(q) == pytest.approx(math.log(67 / 34) / 0.33)


def test_slope_fdc_zero_when_two_thirds_of_days_do_not_flow() -> None:
    # 8 zeros, then 1, 2 (n = 10): Q33 = Q66 = 0 (positions 2.97 and 5.94) -> slope 0 (as in CAMELS)
    q = series([0] * 8 + [1, 2])
    assert sig("slope_fdc", q) == 0.0
    with pytest.raises(NoValidDataError, match="33rd"):
        slope_fdc_log(q)


def test_slope_fdc_undefined_without_flow() -> None:
    with pytest.raises(NoValidDataError, match="mean discharge is zero"):
        sig("slope_fdc", series([0.0] * 5))


def test_q5_q95_are_linear_quantiles() -> None:
    # q = 0, 10, 20, 30, 40 (n = 5): Q5 at position 0.05 * 4 = 0.2 -> 0 + 0.2 * 10 = 2
    #                                 Q95 at position 0.95 * 4 = 3.8 -> 30 + 0.8 * 10 = 38
    q = series([0, 10, 20, 30, 40])
    assert sig("q5", q) == pytest.approx(2.0)
    assert sig("q95", q) == pytest.approx(38.0)


def test_high_flow_frequency_and_duration() -> None:
    # median 1 -> high flow > 9: days 3, 4 (run of 2) and 7 (run of 1)
    # freq = 3 / 10 * 365.25 = 109.575 days/year; dur = (2 + 1) / 2 = 1.5 days
    q = series([1, 1, 1, 10, 10, 1, 1, 20, 1, 1])
    assert sig("high_q_freq", q) == pytest.approx(109.575)
    assert sig("high_q_dur", q) == pytest.approx(1.5)


def test_spells_continue_across_missing_days_as_in_camels() -> None:
    # same valid days as above with a NaN between the two 10s: still one run of 2 days
    q = series([1, 1, 1, 10, np.nan, 10, 1, 1, 20, 1, 1])
    assert sig("high_q_freq", q) == pytest.approx(109.575)
    assert sig("high_q_dur", q) == pytest.approx(1.5)


def test_low_flow_frequency_and_duration() -> None:
    # sum = 0+0+9+9+0.8+9+9+9+0+5 = 50.8, mean 5.08 -> low flow <= 1.016: days 0, 1 | 4 | 8
    # freq = 4 / 10 * 365.25 = 146.1 days/year; dur = (2 + 1 + 1) / 3 = 4/3 days
    q = series([0, 0, 9, 9, 0.8, 9, 9, 9, 0, 5])
    assert sig("low_q_freq", q) == pytest.approx(146.1)
    assert sig("low_q_dur", q) == pytest.approx(4 / 3)


def test_low_flow_threshold_is_inclusive() -> None:
    # mean (1 + 9) / 2 = 5 -> threshold 0.2 * 5 = 1; q = 1 counts (<=): 1/2 * 365.25 = 182.625
    q = series([1, 9])
    assert sig("low_q_freq", q) == pytest.approx(182.625)
    assert sig("low_q_dur", q) == pytest.approx(1.0)


def test_no_high_or_low_flow_gives_zero_frequency_and_duration() -> None:
    # constant flow: nothing > 9 * 1, nothing <= 0.2 * 1 -> 0 and 0, as in camels_hydro.txt
    q = series([1.0] * 20)
    assert [sig(n, q) for n in ("high_q_freq", "high_q_dur", "low_q_freq", "low_q_dur")] == [0] * 4


def test_zero_q_freq_is_a_fraction_of_valid_days() -> None:
    # 2 zero days among 4 valid ones -> 0.5 (a fraction, like camels_hydro.txt, not percent)
    assert sig("zero_q_freq", series([0, 0, 1, 2, np.nan])) == pytest.approx(0.5)


def test_hfd_mean_on_two_water_years() -> None:
    # WY1993 (1992-10-01.., 365 days) q = 1: cumsum(d) = d > 182.5 first at d = 183
    # WY1994 (365 days): 10 on day 1 and day 101, else 0 (one NaN on day 50):
    #   total 20, cumsum > 10 first on day 101 (calendar day: the NaN does not shift it)
    # WY1995: only 30 days -> too short, skipped; mean = (183 + 101) / 2 = 142
    wy1994 = np.zeros(365)
    wy1994[[0, 100]] = 10.0
    wy1994[49] = np.nan
    q = series(np.concatenate([np.ones(365), wy1994, np.full(30, 50.0)]), start="1992-10-01")
    assert sig("hfd_mean", q) == pytest.approx(142.0)


def test_hfd_mean_skips_years_without_flow() -> None:
    q = series(np.zeros(365), start="1992-10-01")
    with pytest.raises(NoValidDataError, match="half-flow"):
        sig("hfd_mean", q)


def test_stream_elas_median_of_annual_anomaly_ratios() -> None:
    # WY1993..WY1995 (365 days each), constant within a year:
    #   Q = 1, 5, 3 -> mean 3, dQ/Q = -2/3, 2/3, 0
    #   P = 2.5, 4, 2.5 -> mean 3, dP/P = -1/6, 1/3, -1/6
    #   ratios 4, 2, 0 -> median 2
    # plus 10 days of WY1996 (Q = 100, P = 0): too short a year, ignored (also in the means)
    q = series(np.repeat([1.0, 5.0, 3.0, 100.0], [365, 365, 365, 10]), start="1992-10-01")
    p = series(np.repeat([2.5, 4.0, 2.5, 0.0], [365, 365, 365, 10]), start="1992-10-01")
    assert sig("stream_elas", q, p) == pytest.approx(2.0)


def test_stream_elas_needs_two_years() -> None:
    q = series(np.ones(365), start="1992-10-01")
    with pytest.raises(NoValidDataError, match="two water years"):
        sig("stream_elas", q, q)


def test_lyne_hollick_filter_by_hand() -> None:
    # q = 1, 3, 2; alpha 0.5 (c = (1 + alpha) / 2 = 0.75), 1 reflected value -> x = 3, 1, 3, 2, 3
    # forward  f = 3, 0, 1.5, 0, 0.75            -> b = 0, 1, 1.5, 2, 2.25 (b = x - f where f > 0)
    # backward from b[4] = 2.25: f = 2.25, 0.9375, 0.09375, -0.328125, -0.9140625 (reversed)
    #                                       -> b = 0, 1, 1.40625, 1.0625, 0
    # forward  f = 0, 0.75, 0.6796875, 0.08203125, -0.755859375
    #                                       -> b = 0, 0.25, 0.7265625, 0.98046875, 0
    # cut the reflected ends: 0.25, 0.7265625, 0.98046875
    base = lyne_hollick_baseflow(np.array([1.0, 3.0, 2.0]), alpha=0.5, passes=3, n_reflect=1)
    np.testing.assert_allclose(base, [0.25, 0.7265625, 0.98046875], rtol=1e-12)


def _ladson_bfi_reference(q: np.ndarray, a: float = 0.925, n: int = 30) -> float:
    """Loop transcription of Ladson's BFI.R (3 passes), segments weighted by length."""
    def one_pass(x: np.ndarray) -> np.ndarray:
        f = np.empty_like(x)
        f[0] = x[0]
        for i in range(1, len(x)):
            f[i] = a * f[i - 1] + 0.5 * (1 + a) * (x[i] - x[i - 1])
        return np.where(f > 0, x - f, x)

    values, weights, start = [], [], 0
    isna = np.append(np.isnan(q), True)
    for i in range(len(isna)):
        if isna[i]:
            seg = q[start:i]
            if len(seg) > n:
                x = np.concatenate([seg[n:0:-1], seg, seg[len(seg) - 2:len(seg) - n - 2:-1]])
                b = one_pass(x)
                b = one_pass(b[::-1])[::-1]
                b = one_pass(b)[n:-n]
                values.append(np.clip(b, 0, None).sum() / seg.sum())
                weights.append(len(seg))
            start = i + 1
    return float(np.average(values, weights=weights))


def test_baseflow_index_matches_a_loop_reference_with_gaps() -> None:
    rng = np.random.default_rng(0)
    q = np.exp(rng.normal(0.0, 1.0, 400)).cumsum() % 7 + 0.1
    q[[120, 121, 250]] = np.nan  # segments 120 (used), 128 (used), 149 (used) days
    q[380] = np.nan  # last segment 19 days: too short, left out
    assert sig("baseflow_index", series(q)) == pytest.approx(_ladson_bfi_reference(q), rel=1e-12)


def test_baseflow_index_needs_a_long_gap_free_segment() -> None:
    with pytest.raises(NoValidDataError, match="gap-free"):
        sig("baseflow_index", series([1.0] * 30))


# --------------------------------------------------------------------------- driver


def test_compute_signatures_all_by_default_and_names_subset() -> None:
    q = series(np.linspace(1.0, 3.0, 800), start="1992-10-01")
    p = q * 2 + np.sin(np.arange(800.0))
    values = compute_signatures(q, p)
    assert list(values) == list(CAMELS_HYDRO_COLUMNS)
    assert all(np.isfinite(v) for v in values.values())
    assert compute_signatures(q, p, ["q95", "q_mean"]) == {
        "q95": values["q95"], "q_mean": values["q_mean"]}


def test_missing_tolerance_raises_or_gives_nan(caplog: pytest.LogCaptureFixture) -> None:
    q = series(np.linspace(1.0, 3.0, 100))
    q.iloc[40:50] = np.nan  # 10 % missing > 5.02 %; gap-free segments of 40 and 50 days
    with pytest.raises(NoValidDataError, match="q_mean: 10 of 100 days"):
        compute_signatures(q, q, ["q_mean"])
    with caplog.at_level(logging.WARNING):
        values = compute_signatures(q, q, ["q_mean", "baseflow_index"], errors="nan")
    assert math.isnan(values["q_mean"]) and "q_mean" in caplog.text
    assert 0 < values["baseflow_index"] < 1  # exempt, as in CAMELS
    assert compute_signatures(q, q, ["q_mean"], max_missing=0.1)["q_mean"] == pytest.approx(
        np.nanmean(q))


def test_absent_days_count_as_missing() -> None:
    q = series(np.ones(100)).drop(pd.date_range("2000-10-11", periods=10, freq="D"))
    with pytest.raises(NoValidDataError, match="10 of 100 days"):
        compute_signatures(q, None, ["q_mean"])


def test_precipitation_signatures_without_precipitation() -> None:
    values = compute_signatures(series([1.0] * 40), None, ["runoff_ratio", "q_mean"], errors="nan")
    assert math.isnan(values["runoff_ratio"]) and values["q_mean"] == 1.0
    with pytest.raises(NoValidDataError, match="runoff_ratio: .*needs precipitation"):
        compute_signatures(series([1.0] * 40), None, ["runoff_ratio"])


def test_all_nan_discharge_raises_with_the_signature_name() -> None:
    with pytest.raises(NoValidDataError, match="q_mean"):
        compute_signatures(series([np.nan] * 5), None, ["q_mean"], max_missing=1.0)


@pytest.mark.parametrize("kwargs", [{"names": ["q50"]}, {"errors": "ignore"},
                                    {"max_missing": 1.5}])
def test_invalid_options(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        compute_signatures(series([1.0] * 5), None, **kwargs)


def test_input_must_be_a_daily_dated_series() -> None:
    with pytest.raises(BasinDataError, match="DatetimeIndex"):
        compute_signatures(pd.Series([1.0, 2.0]), None)
    hourly = pd.Series([1.0, 2.0], index=pd.date_range("2000-01-01", periods=2, freq="h"))
    with pytest.raises(BasinDataError, match="daily"):
        compute_signatures(hourly, None)
    twice = pd.Series([1.0, 2.0], index=pd.DatetimeIndex(["2000-01-01"] * 2))
    with pytest.raises(BasinDataError, match="duplicate"):
        compute_signatures(twice, None)


def test_basin_signatures_on_the_synthetic_tree(demo_camels: Path) -> None:
    basins = read_basin_list(demo_camels / "basin_list.txt")
    series = signature_series(demo_camels, basins, "maurer_extended", area="forcing")
    table = basin_signatures(series, ("1995-10-01", "2003-09-30"), max_missing=1.0)
    assert list(table.index) == basins and table.index.name == "gauge_id"
    assert list(table.columns) == [*CAMELS_HYDRO_COLUMNS, "status"]
    assert (table["status"] == "ok").all()
    assert np.isfinite(table[list(CAMELS_HYDRO_COLUMNS)].to_numpy()).all()


# --------------------------------------------------------------------------- real data

BASIN = "01022500"
#: Relative tolerance per signature against camels_hydro.txt for 01022500, with discharge from
#: usgs_streamflow over area_gages2 (as CAMELS) and NLDAS precipitation over CAMELS_PERIOD.
#: Measured relative differences are in the comments.
AGREEMENT = {
    "q_mean": 1e-9,  # 1.2e-15: same discharge, same area, same mean
    # +13.6 % (0.6845 vs 0.6023): CAMELS divides by Daymet P; NLDAS P is 12 % lower here
    "runoff_ratio": 0.20,
    "slope_fdc": 1e-9,  # 2.5e-15: (Q66 - Q33) / (0.33 mean Q); the log form gives 2.84 (+60 %)
    "baseflow_index": 1e-9,  # 4.0e-16: the Ladson filter reproduced exactly
    # -24.4 % (1.288 vs 1.703): annual P anomalies of NLDAS differ from Daymet's, and the
    # elasticity is a ratio of anomalies (median over 20 years), so it is very sensitive to them
    "stream_elas": 0.30,
    "q5": 1e-9,  # 9.5e-16
    "q95": 1e-9,  # 3.7e-16
    "high_q_freq": 1e-9,  # 0: 78 days in 20 years = 3.9 days/year
    "high_q_dur": 1e-9,  # 1.6e-15: 78 days in 34 events
    "low_q_freq": 1e-9,  # 2.2e-16: 1303 days in 20 years = 65.15 days/year
    "low_q_dur": 1e-9,  # 2.1e-15: 1303 days in 76 events
    "zero_q_freq": 0.0,  # exactly 0 (never dry); compared absolutely below
    "hfd_mean": 1e-9,  # 0: 3325 / 20 = 166.25
}


@pytest.fixture(scope="module")
def camels_01022500(shared_camels: Path) -> tuple[pd.Series, pd.Series]:
    """Our signatures and the published ``camels_hydro.txt`` row of 01022500."""
    ours = basin_signatures(signature_series(shared_camels, [BASIN], "nldas"),
                            CAMELS_PERIOD).loc[BASIN]
    published = read_attributes(shared_camels, [BASIN]).loc[BASIN]
    return ours, published


def test_agreement_table_covers_every_signature() -> None:
    assert tuple(AGREEMENT) == CAMELS_HYDRO_COLUMNS


@pytest.mark.parametrize("name", CAMELS_HYDRO_COLUMNS)
def test_published_camels_signature_of_01022500(name: str, camels_01022500: tuple) -> None:
    ours, published = camels_01022500
    assert ours["status"] == "ok"
    assert ours[name] == pytest.approx(float(published[name]), rel=AGREEMENT[name], abs=1e-12)


def test_precipitation_signatures_with_nldas_are_pinned(camels_01022500: tuple) -> None:
    # our values with NLDAS P (regression values for the two loose rows of AGREEMENT)
    ours, _ = camels_01022500
    assert ours["runoff_ratio"] == pytest.approx(0.6844651743, rel=1e-8)
    assert ours["stream_elas"] == pytest.approx(1.2876297309, rel=1e-8)


def test_area_choice_scales_only_the_flow_magnitudes(shared_camels: Path,
                                                     camels_01022500: tuple) -> None:
    ours, published = camels_01022500
    header = basin_signatures(signature_series(shared_camels, [BASIN], "nldas", area="forcing"),
                              CAMELS_PERIOD).loc[BASIN]
    _, header_area = read_forcings(shared_camels, BASIN, "nldas")
    scale = float(published["area_gages2"]) / header_area  # 573.6 / 587.676 km^2
    for name in ("q_mean", "q5", "q95", "runoff_ratio"):
        assert header[name] == pytest.approx(ours[name] * scale, rel=1e-12)
    for name in ("slope_fdc", "baseflow_index", "high_q_dur", "low_q_freq", "hfd_mean"):
        assert header[name] == pytest.approx(ours[name], rel=1e-12)


def test_short_record_basin_is_reported(shared_camels: Path) -> None:
    # 01547700 has discharge for 2000..2003 only: > 5.02 % missing in the CAMELS period
    table = basin_signatures(signature_series(shared_camels, ["01547700"], "nldas"), errors="nan")
    row = table.loc["01547700"]
    assert math.isnan(row["q_mean"]) and "miss discharge" in row["status"]
    assert 0 < row["baseflow_index"] < 1  # exempt from the tolerance, as in camels_hydro.txt
    with pytest.raises(NoValidDataError, match="basin 01547700, signature q_mean"):
        basin_signatures(signature_series(shared_camels, ["01547700"], "nldas"))
