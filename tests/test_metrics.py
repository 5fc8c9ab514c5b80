"""Tests of ealstm.metrics: hand values, identities, invariances over the registry."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ealstm.errors import ConfigError, NoValidDataError
from ealstm.metrics import (
    FLOW_EPS,
    METRICS,
    alpha_nse,
    beta_nse,
    calculate_metrics,
    evaluate_basins,
    fhv,
    flv,
    fms,
    kge,
    nse,
    summarize,
)

OBS4 = [1.0, 2.0, 3.0, 4.0]
IDENTITY = {
    "nse": 1.0,
    "kge": 1.0,
    "alpha_nse": 1.0,
    "beta_nse": 0.0,
    "fhv": 0.0,
    "fms": 0.0,
    "flv": 0.0,
}


def _pair(n: int = 365, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Positive, skewed, different obs/sim series long enough for every FDC segment."""
    rng = np.random.default_rng(seed)
    obs = rng.lognormal(mean=0.0, sigma=1.0, size=n)
    sim = 0.8 * obs**1.2 + rng.lognormal(mean=-1.0, sigma=0.5, size=n)
    return obs, sim


# ---------------------------------------------------------------- hand-computed values
def test_nse_hand_value():
    # obs=[1,2,3,4], mean 2.5: sum (obs-mean)^2 = 2.25+0.25+0.25+2.25 = 5
    # sim=[1,2,3,5]: sum (sim-obs)^2 = 1  ->  NSE = 1 - 1/5 = 0.8
    assert nse(OBS4, [1.0, 2.0, 3.0, 5.0]) == pytest.approx(0.8)


def test_alpha_nse_hand_value():
    # sim = 2*obs -> sigma_s = 2 sigma_o -> alpha = 2
    assert alpha_nse(OBS4, [2.0, 4.0, 6.0, 8.0]) == pytest.approx(2.0)


def test_beta_nse_hand_value_uses_population_std():
    # obs mean 2.5, population std sqrt(5/4); sim=[2,3,4,5] mean 3.5
    # beta = (3.5 - 2.5) / sqrt(1.25) = 0.894427...   (ddof=1 would give 1/sqrt(5/3) = 0.7746)
    assert beta_nse(OBS4, [2.0, 3.0, 4.0, 5.0]) == pytest.approx(1.0 / math.sqrt(1.25))


def test_kge_hand_value_scaled():
    # sim = 2*obs: r = 1, alpha = 2, beta = 5/2.5 = 2 -> KGE = 1 - sqrt(0 + 1 + 1) = 1 - sqrt(2)
    assert kge(OBS4, [2.0, 4.0, 6.0, 8.0]) == pytest.approx(1.0 - math.sqrt(2.0))


def test_kge_hand_value_correlation_term():
    # sim=[1,3,2,4]: same mean and std as obs -> alpha = beta = 1
    # anomalies o=[-1.5,-.5,.5,1.5], s=[-1.5,.5,-.5,1.5]: cov sum = 2.25-.25-.25+2.25 = 4,
    # sums of squares 5 and 5 -> r = 4/5 = 0.8 -> KGE = 1 - sqrt(0.04) = 0.8
    assert kge(OBS4, [1.0, 3.0, 2.0, 4.0]) == pytest.approx(0.8)


def test_fhv_hand_value_sorts_each_series():
    # fraction 0.5 of 4 steps -> H = 2. FDC obs [4,3,2,1] -> top [4,3], sum 7
    # sim=[2,1,5,3] -> FDC [5,3,2,1] -> top [5,3], sum 8  ->  FHV = 100*(8-7)/7
    # (time-aligned pairing would use obs at sim's top steps and give something else)
    assert fhv(OBS4, [2.0, 1.0, 5.0, 3.0], fraction=0.5) == pytest.approx(100.0 / 7.0)


def test_fhv_default_two_percent():
    # n=100 -> H = round(2.0) = 2: obs top [100, 99] sum 199; sim top [150, 99] sum 249
    # -> FHV = 100 * (249 - 199) / 199 = 100 * 50 / 199
    obs = np.arange(1.0, 101.0)
    sim = obs.copy()
    sim[-1] = 150.0
    assert fhv(obs, sim) == pytest.approx(100.0 * 50.0 / 199.0)


@pytest.mark.parametrize(("n", "n_high"), [(26, 1), (74, 1), (75, 2), (125, 2), (126, 3)])
def test_fhv_segment_rounding_half_to_even(n, n_high):
    # the top n_high flows of sim are raised by 10, everything else equal:
    # FHV = 100 * 10 n_high / (sum of the n_high largest obs)
    obs = np.arange(1.0, n + 1.0)
    sim = obs.copy()
    sim[-n_high:] += 10.0
    expected = 100.0 * 10.0 * n_high / obs[-n_high:].sum()
    assert fhv(obs, sim) == pytest.approx(expected)


def test_fhv_too_few_steps_for_top_segment():
    # 0.02 * 25 = 0.5 rounds (half to even) to 0 flows
    obs = np.arange(1.0, 26.0)
    with pytest.raises(NoValidDataError, match="round to zero"):
        fhv(obs, obs)


def test_fms_hand_value():
    # n=10 -> indices round(0.2*10)=2 and round(0.7*10)=7 of the descending FDC
    # obs FDC [10..1]: entries 8 and 3 -> slope ln8 - ln3 = L
    # sim = obs^2 (shuffled in time): entries 64 and 9 -> slope 2L -> FMS = 100 (2L - L)/L = 100
    obs = np.arange(1.0, 11.0)
    sim = np.random.default_rng(1).permutation(obs**2)
    assert fms(obs, sim) == pytest.approx(100.0)


def test_fms_replaces_non_positive_flows_by_epsilon():
    # sim FDC [10,9,8,7,6,5,-1,-1,-1,-1]: entry 7 is -1 -> 1e-6, then + 1e-6 -> log(2e-6)
    # FMS = 100 * ((ln(8+e) - ln(2e)) - (ln(8+e) - ln(3+e))) / (ln(8+e) - ln(3+e))
    obs = np.arange(1.0, 11.0)
    sim = np.where(obs <= 4.0, -1.0, obs)
    e = 1e-6
    slope_obs = math.log(8.0 + e) - math.log(3.0 + e)
    expected = 100.0 * ((math.log(8.0 + e) - math.log(2 * e)) - slope_obs) / slope_obs
    assert FLOW_EPS == e
    assert fms(obs, sim) == pytest.approx(expected, rel=1e-12)


def test_flv_hand_value():
    # n=10, L = round(0.3*10) = 3 lowest flows
    # obs: [3,2,1] -> logs minus min: ln3 + ln2 + 0 = ln6
    # sim = obs^2: [9,4,1] -> ln9 + ln4 = 2 ln6  ->  FLV = -100 (2 ln6 - ln6) / ln6 = -100
    obs = np.arange(1.0, 11.0)
    assert flv(obs, obs**2) == pytest.approx(-100.0)


def test_flv_replaces_zero_flows_by_epsilon():
    # obs low segment [3,2,1]; sim low segment [3,2,0] -> [3,2,1e-6]; logs of q + 1e-6:
    # spread_sim = ln(3+e) + ln(2+e) - 2 ln(2e), spread_obs = ln(3+e) + ln(2+e) - 2 ln(1+e)
    obs = np.arange(1.0, 11.0)
    sim = obs.copy()
    sim[0] = 0.0
    e = 1e-6
    spread_obs = math.log(3.0 + e) + math.log(2.0 + e) - 2.0 * math.log(1.0 + e)
    spread_sim = math.log(3.0 + e) + math.log(2.0 + e) - 2.0 * math.log(2.0 * e)
    expected = -100.0 * (spread_sim - spread_obs) / spread_obs
    assert flv(obs, sim) == pytest.approx(expected, rel=1e-12)


def _paper_fms(obs, sim, m1=0.2, m2=0.7):
    """Direct transcription of the paper code's ``calc_fdc_fms`` (papercode/metrics.py)."""
    obs, sim = np.array(obs, dtype=float), np.array(sim, dtype=float)
    sim[sim == 0] = 1e-6
    obs[obs == 0] = 1e-6
    obs, sim = -np.sort(-obs), -np.sort(-sim)
    qsm1 = np.log(sim[np.round(m1 * len(sim)).astype(int)] + 1e-6)
    qsm2 = np.log(sim[np.round(m2 * len(sim)).astype(int)] + 1e-6)
    qom1 = np.log(obs[np.round(m1 * len(obs)).astype(int)] + 1e-6)
    qom2 = np.log(obs[np.round(m2 * len(obs)).astype(int)] + 1e-6)
    return 100 * ((qsm1 - qsm2) - (qom1 - qom2)) / (qom1 - qom2 + 1e-6)


def _paper_flv(obs, sim, l=0.7):  # noqa: E741 - the paper code's name
    """Direct transcription of the paper code's ``calc_fdc_flv`` (papercode/metrics.py)."""
    obs, sim = np.array(obs, dtype=float), np.array(sim, dtype=float)
    sim[sim == 0] = 1e-6
    obs[obs == 0] = 1e-6
    obs, sim = -np.sort(-obs), -np.sort(-sim)
    obs = np.log(obs[np.round(l * len(obs)).astype(int):] + 1e-6)
    sim = np.log(sim[np.round(l * len(sim)).astype(int):] + 1e-6)
    qsl, qol = np.sum(sim - sim.min()), np.sum(obs - obs.min())
    return -100 * (qsl - qol) / (qol + 1e-6)


@pytest.mark.parametrize(("bias", "noise", "zeros"),
                         [(0.0, 1.5, (1, 299)), (-0.5, 2.0, (301, 999))])
def test_fms_and_flv_match_the_paper_code_with_clipped_zero_simulations(bias, noise, zeros):
    # clipped simulations with exact zeros: some of the 300 lowest flows (FLV mixes zeros and
    # flows), or more than 300 (the FMS point at exceedance 0.7 is a zero). n = 1000, where the
    # paper code's FLV segment n - round(0.7 n) equals round(0.3 n)
    rng = np.random.default_rng(4)
    obs = rng.gamma(0.8, 2.0, 1000) + 0.01
    sim = np.maximum(obs + rng.normal(bias, noise, 1000), 0.0)
    assert zeros[0] <= (sim == 0.0).sum() <= zeros[1]
    # only the paper code's 1e-6 in the denominator differs: relative 1e-6 at most
    assert fms(obs, sim) == pytest.approx(_paper_fms(obs, sim), rel=2e-6)
    assert flv(obs, sim) == pytest.approx(_paper_flv(obs, sim), rel=2e-6)


# ---------------------------------------------------------------- identities and invariances
@pytest.mark.parametrize("name", sorted(METRICS))
def test_identity(name):
    q, _ = _pair()
    assert METRICS[name](q, q) == pytest.approx(IDENTITY[name], abs=1e-12)


def test_identity_table_covers_registry():
    assert set(IDENTITY) == set(METRICS)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_swapping_obs_and_sim_changes_result(name):
    obs, sim = _pair()
    assert METRICS[name](obs, sim) != pytest.approx(METRICS[name](sim, obs), rel=1e-3)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_nan_masking_equals_dropping(name):
    obs, sim = _pair(n=400)
    obs_nan, sim_nan = obs.copy(), sim.copy()
    obs_nan[[3, 50, 51, 200]] = np.nan
    sim_nan[[7, 50, 300]] = np.nan
    keep = ~(np.isnan(obs_nan) | np.isnan(sim_nan))
    assert keep.sum() == 400 - 6
    assert METRICS[name](obs_nan, sim_nan) == pytest.approx(METRICS[name](obs[keep], sim[keep]))


@pytest.mark.parametrize("name", sorted(METRICS))
def test_shape_mismatch_names_both_shapes(name):
    with pytest.raises(ValueError, match=r"obs of shape \(3,\) and sim of shape \(4,\)"):
        METRICS[name]([1.0, 2.0, 3.0], OBS4)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_two_dimensional_input_is_rejected(name):
    q = np.ones((4, 2))
    with pytest.raises(ValueError, match="1-D"):
        METRICS[name](q, q)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_all_nan_raises(name):
    obs = np.full(50, np.nan)
    with pytest.raises(NoValidDataError, match="only 0 of 50"):
        METRICS[name](obs, np.ones(50))


@pytest.mark.parametrize("name", sorted(METRICS))
def test_single_valid_step_raises(name):
    with pytest.raises(NoValidDataError, match="only 1 of 3"):
        METRICS[name]([1.0, np.nan, 3.0], [1.0, 2.0, np.nan])


@pytest.mark.parametrize("metric", [nse, alpha_nse, beta_nse, kge])
def test_constant_obs_raises_for_nse_type(metric):
    # [0.1]*3 has a float64 std of ~1e-17, not exactly 0: the check must still catch it
    with pytest.raises(NoValidDataError, match="constant"):
        metric([0.1, 0.1, 0.1], [0.1, 0.2, 0.3])


def test_kge_constant_sim_raises():
    with pytest.raises(NoValidDataError, match="sim is constant"):
        kge(OBS4, [2.0, 2.0, 2.0, 2.0])


def test_fms_flat_obs_segment_raises():
    obs = np.r_[np.full(8, 1.0), 5.0, 6.0]  # FDC entries 2 and 7 both 1.0
    with pytest.raises(NoValidDataError, match="flat"):
        fms(obs, np.arange(1.0, 11.0))


def test_flv_all_zero_low_flows_raises():
    obs = np.r_[np.zeros(4), np.arange(1.0, 7.0)]  # lowest 3 flows are all 0 -> 1e-6
    with pytest.raises(NoValidDataError, match="flat"):
        flv(obs, np.arange(1.0, 11.0))


@pytest.mark.parametrize(
    ("metric", "kwargs"),
    [
        (fhv, {"fraction": 0.0}),
        (fhv, {"fraction": 1.0}),
        (flv, {"fraction": 1.5}),
        (fms, {"lower": 0.7, "upper": 0.2}),
        (fms, {"lower": 0.0, "upper": 0.5}),
    ],
)
def test_invalid_segment_bounds(metric, kwargs):
    with pytest.raises(ValueError):
        metric(OBS4, OBS4, **kwargs)


def test_cross_check_against_direct_numpy():
    obs, sim = _pair(n=1000, seed=3)
    nse_ref = 1.0 - np.sum((sim - obs) ** 2) / np.sum((obs - obs.mean()) ** 2)
    r = np.corrcoef(obs, sim)[0, 1]
    alpha, beta = np.std(sim) / np.std(obs), np.mean(sim) / np.mean(obs)
    kge_ref = 1.0 - np.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2)
    assert nse(obs, sim) == pytest.approx(nse_ref, rel=1e-10)
    assert kge(obs, sim) == pytest.approx(kge_ref, rel=1e-10)
    assert alpha_nse(obs, sim) == pytest.approx(alpha, rel=1e-10)


def test_float32_and_xarray_inputs_give_float():
    obs, sim = _pair()
    da_obs = xr.DataArray(obs.astype(np.float32), dims="date")
    value = nse(da_obs, sim.astype(np.float32))
    assert isinstance(value, float)
    assert value == pytest.approx(nse(obs, sim), rel=1e-5)


# ---------------------------------------------------------------- calculate_metrics
def test_calculate_metrics_defaults_to_all_in_registry_order():
    obs, sim = _pair()
    values = calculate_metrics(obs, sim)
    assert list(values) == list(METRICS)
    for name, value in values.items():
        assert value == METRICS[name](obs, sim)


def test_calculate_metrics_subset_keeps_requested_order():
    obs, sim = _pair()
    assert list(calculate_metrics(obs, sim, ["kge", "nse"])) == ["kge", "nse"]


def test_calculate_metrics_unknown_name_lists_choices():
    with pytest.raises(ConfigError, match=r"\['r2'\].*alpha_nse.*nse"):
        calculate_metrics(OBS4, OBS4, ["nse", "r2"])


def test_calculate_metrics_invalid_errors_value():
    with pytest.raises(ConfigError, match="errors"):
        calculate_metrics(OBS4, OBS4, ["nse"], errors="ignore")


def test_calculate_metrics_raise_names_the_metric():
    obs, sim = np.full(100, 2.0), np.linspace(1.0, 3.0, 100)  # FHV defined, NSE not
    with pytest.raises(NoValidDataError, match=r"^nse: obs is constant"):
        calculate_metrics(obs, sim, ["fhv", "nse"])


def test_calculate_metrics_nan_records_only_failed_metrics():
    obs, sim = np.full(100, 2.0), np.linspace(1.0, 3.0, 100)
    values = calculate_metrics(obs, sim, ["nse", "fhv"], errors="nan")
    assert math.isnan(values["nse"])
    # FHV is defined for constant obs: top 2 flows 2.0+2.0 = 4 vs sim top 3.0 + (3 - 2/99)
    assert values["fhv"] == pytest.approx(100.0 * (6.0 - 2.0 / 99.0 - 4.0) / 4.0)


def test_calculate_metrics_nan_mode_still_raises_on_shape_errors():
    with pytest.raises(ValueError, match="shape"):
        calculate_metrics([1.0, 2.0], OBS4, errors="nan")


# ---------------------------------------------------------------- summarize
def test_summarize_hand_values():
    # valid [0.5, -0.2, 0.0, 0.9]: mean 1.2/4 = 0.3, median (0.0+0.5)/2 = 0.25,
    # NSE <= 0: -0.2 and 0.0 -> 2
    result = summarize([0.5, -0.2, 0.0, np.nan, 0.9])
    assert result == {
        "mean": pytest.approx(0.3),
        "median": pytest.approx(0.25),
        "n_nse_le_0": 2,
        "n_basins": 4,
        "n_invalid": 1,
    }
    assert isinstance(result["n_basins"], int) and isinstance(result["mean"], float)


def test_summarize_all_nan_raises():
    with pytest.raises(NoValidDataError, match="none of the 2 basins"):
        summarize([np.nan, np.nan])


def test_summarize_accepts_series():
    assert summarize(pd.Series([1.0, 0.0]))["n_nse_le_0"] == 1


# ---------------------------------------------------------------- evaluate_basins
BASINS = ["01022500", "01031500", "01047000", "01052500"]


def _basin_arrays() -> tuple[xr.DataArray, xr.DataArray]:
    dates = pd.date_range("2000-01-01", periods=200, freq="D", name="date")
    obs = np.empty((4, 200))
    sim = np.empty((4, 200))
    obs[0], sim[0] = _pair(n=200, seed=10)
    obs[1], sim[1] = np.nan, 1.0  # no observations at all
    obs[2], sim[2] = 2.0, np.linspace(1, 3, 200)  # constant obs: NSE-type undefined
    obs[3], sim[3] = _pair(n=200, seed=11)
    sim[3, :150] = np.nan  # 50 valid steps left
    coords = {"basin": BASINS, "date": dates}
    return (
        xr.DataArray(obs, dims=("basin", "date"), coords=coords),
        xr.DataArray(sim, dims=("basin", "date"), coords=coords),
    )


def test_evaluate_basins_table():
    qobs, qsim = _basin_arrays()
    table = evaluate_basins(qobs, qsim)
    assert list(table.index) == BASINS and table.index.name == "basin"
    assert list(table.columns) == [*METRICS, "n_valid", "status"]
    assert table["n_valid"].tolist() == [200, 0, 200, 50]
    assert table.loc["01022500", "status"] == "ok"
    assert table.loc["01031500", "status"] == "no valid observations"
    assert table.loc["01031500", list(METRICS)].isna().all()
    assert table.loc["01052500", "status"] == "ok"
    expected = calculate_metrics(qobs.values[3], qsim.values[3])
    assert table.loc["01052500", list(METRICS)].tolist() == pytest.approx(list(expected.values()))


def test_evaluate_basins_partial_failure_is_reported():
    qobs, qsim = _basin_arrays()
    row = evaluate_basins(qobs, qsim).loc["01047000"]
    assert row["status"].startswith("nse: obs is constant")
    assert "kge:" in row["status"] and "fhv:" not in row["status"]
    assert math.isnan(row["nse"]) and np.isfinite(row["fhv"])


def test_evaluate_basins_nan_only_where_status_not_ok():
    table = evaluate_basins(*_basin_arrays())
    ok = table["status"] == "ok"
    assert np.isfinite(table.loc[ok, list(METRICS)].to_numpy(dtype=float)).all()
    assert table.loc[~ok, list(METRICS)].isna().any(axis=1).all()


def test_evaluate_basins_no_simulations_status():
    qobs, qsim = _basin_arrays()
    qsim[0] = np.nan
    assert evaluate_basins(qobs, qsim, ["nse"]).loc["01022500", "status"] == "no valid simulations"


def test_evaluate_basins_accepts_transposed_sim():
    qobs, qsim = _basin_arrays()
    a = evaluate_basins(qobs, qsim, ["nse", "kge"])
    b = evaluate_basins(qobs, qsim.transpose("date", "basin"), ["nse", "kge"])
    pd.testing.assert_frame_equal(a, b)


def test_evaluate_basins_mismatched_dates_raise():
    qobs, qsim = _basin_arrays()
    qsim = qsim.assign_coords(date=qsim["date"] + pd.Timedelta(days=1))
    with pytest.raises(ValueError, match="same basin and date"):
        evaluate_basins(qobs, qsim)


def test_evaluate_basins_wrong_dims_raise():
    qobs, qsim = _basin_arrays()
    with pytest.raises(ValueError, match="qsim must have dims"):
        evaluate_basins(qobs, qsim.rename(date="time"))


def test_evaluate_basins_unknown_metric():
    with pytest.raises(ConfigError):
        evaluate_basins(*_basin_arrays(), metrics=["rmse"])
