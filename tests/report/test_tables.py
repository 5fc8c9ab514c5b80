"""Tables 2 and 3 and the significance table on small experiment directories written here."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import xarray as xr
import yaml

from ealstm.errors import BasinDataError, DataNotFoundError
from ealstm.evaluation.stats import cohens_d, wilcoxon_test
from ealstm.metrics import METRICS, evaluate_basins, nse
from ealstm.report.benchmark_table import (
    benchmark_comparison,
    benchmark_significance,
    benchmark_table,
)
from ealstm.report.experiment_results import find_configurations
from ealstm.report.markdown import markdown_table
from ealstm.report.tables import TABLE2_COLUMNS, significance_table, table2, write_tables

BASINS = ["01013500", "01022500", "01030500", "01031500"]
BROKEN = "05000000"  # fails in one member -> excluded from every table
SEEDS = (111, 222, 333)

# Per-seed NSE of the four basins and the ensemble NSE, chosen for hand arithmetic below.
NSE = {
    "ealstm_nse": {111: [0.8, 0.6, -0.2, 0.4], 222: [0.7, 0.5, 0.0, 0.6],
                   333: [0.9, 0.4, 0.1, 0.2], "ensemble": [0.85, 0.65, 0.05, 0.5]},
    "lstm_static_nse": {111: [0.5, 0.3, -0.5, 0.1], 222: [0.6, 0.2, -0.4, -0.1],
                        333: [0.4, 0.4, -0.3, 0.3], "ensemble": [0.55, 0.35, -0.2, 0.2]},
}


def _metrics_frame(values: list[float], broken_ok: bool) -> pd.DataFrame:
    frame = pd.DataFrame({"nse": [*values, -10.0 if broken_ok else np.nan]},
                         index=pd.Index([*BASINS, BROKEN], name="basin"))
    for name in METRICS:
        if name != "nse":
            frame[name] = 0.5
    frame["n_valid"] = 365
    frame["status"] = "ok" if broken_ok else ["ok"] * 4 + ["no valid observations"]
    return frame


@pytest.fixture
def hand_experiment(tmp_path: Path) -> Path:
    """2 configurations x 3 seeds x 4 (+1 broken) basins of metrics CSVs with known NSE."""
    exp = tmp_path / "exp"
    for config, runs in NSE.items():
        for run, values in runs.items():
            run_dir = exp / config / (f"seed{run}" if run != "ensemble" else "ensemble")
            run_dir.mkdir(parents=True)
            broken_ok = not (config == "lstm_static_nse" and run == 222)
            _metrics_frame(values, broken_ok).to_csv(run_dir / "metrics_test.csv")
    (exp / "tables").mkdir()  # not a configuration
    (exp / "experiment.yml").write_text(
        yaml.safe_dump({"configurations": {"ealstm_nse": {}, "lstm_static_nse": {}}}))
    return exp


# --------------------------------------------------------------------------------------------
# Table 2
# --------------------------------------------------------------------------------------------
def test_table2_by_hand(hand_experiment: Path) -> None:
    table = table2(hand_experiment)
    assert list(table.columns) == list(TABLE2_COLUMNS)
    assert list(table.index) == ["lstm_static_nse", "ealstm_nse"]  # the paper's row order
    ea = table.loc["ealstm_nse"]
    # per seed (basin BROKEN excluded): means 1.6/4 = 0.40, 1.8/4 = 0.45, 1.6/4 = 0.40
    #   -> mean 1.25/3 = 0.41667; deviations -1/60, 2/60, -1/60
    #   -> population std sqrt((1 + 4 + 1)/3600 / 3) = sqrt(1/1800) = 0.023570
    assert ea["single_nse_mean"] == pytest.approx(1.25 / 3)
    assert ea["single_nse_mean_std"] == pytest.approx(math.sqrt(1 / 1800))
    # medians (0.4+0.6)/2 = 0.5, (0.5+0.6)/2 = 0.55, (0.2+0.4)/2 = 0.3 -> mean 0.45,
    #   deviations 0.05, 0.1, -0.15 -> std sqrt(0.035/3) = 0.10801
    assert ea["single_nse_median"] == pytest.approx(0.45)
    assert ea["single_nse_median_std"] == pytest.approx(math.sqrt(0.035 / 3))
    # NSE <= 0: 1 (-0.2), 1 (0.0 counts), 0 -> mean 2/3, std sqrt((1/9+1/9+4/9)/3) = sqrt(2/9)
    assert ea["single_n_nse_le_0"] == pytest.approx(2 / 3)
    assert ea["single_n_nse_le_0_std"] == pytest.approx(math.sqrt(2 / 9))
    # ensemble [0.85, 0.65, 0.05, 0.5]: mean 2.05/4, median (0.5+0.65)/2, no NSE <= 0
    assert ea["ensemble_nse_mean"] == pytest.approx(0.5125)
    assert ea["ensemble_nse_median"] == pytest.approx(0.575)
    assert ea["ensemble_n_nse_le_0"] == 0
    lstm = table.loc["lstm_static_nse"]
    # seeds: means 0.4/4, 0.3/4, 0.8/4 = 0.1, 0.075, 0.2; medians 0.2, 0.05, 0.35; #<=0 1, 2, 1
    assert lstm["single_nse_mean"] == pytest.approx(0.375 / 3)
    assert lstm["single_nse_mean_std"] == pytest.approx(np.std([0.1, 0.075, 0.2]))
    assert lstm["single_nse_median"] == pytest.approx(0.2)
    assert lstm["single_n_nse_le_0"] == pytest.approx(4 / 3)
    assert lstm["ensemble_nse_mean"] == pytest.approx(0.225)
    assert lstm["ensemble_n_nse_le_0"] == 1
    assert (table["n_seeds"] == 3).all() and (table["n_basins"] == 4).all()
    assert (table["n_excluded"] == 1).all() and table.attrs["excluded_basins"] == [BROKEN]


def test_table2_errors(tmp_path: Path, hand_experiment: Path) -> None:
    with pytest.raises(DataNotFoundError, match="does not exist"):
        table2(tmp_path / "nowhere")
    with pytest.raises(DataNotFoundError, match="metrics_validation.csv"):
        table2(hand_experiment, period="validation")
    path = hand_experiment / "ealstm_nse" / "seed111" / "metrics_test.csv"
    pd.read_csv(path).drop(columns="status").to_csv(path, index=False)
    with pytest.raises(BasinDataError, match=r"seed111.*missing column\(s\) \['status'\]"):
        table2(hand_experiment)


def test_missing_ensemble_leaves_columns_empty(hand_experiment: Path) -> None:
    (hand_experiment / "ealstm_nse" / "ensemble" / "metrics_test.csv").unlink()
    table = table2(hand_experiment)
    assert math.isnan(table.loc["ealstm_nse", "ensemble_nse_mean"])
    assert table.loc["lstm_static_nse", "ensemble_nse_mean"] == pytest.approx(0.225)
    assert set(significance_table(hand_experiment)["kind"]) == {"single"}


# --------------------------------------------------------------------------------------------
# significance
# --------------------------------------------------------------------------------------------
def test_significance_table(hand_experiment: Path) -> None:
    table = significance_table(hand_experiment)
    assert list(table["kind"]) == ["single", "ensemble"]
    assert (table["config_a"] == "lstm_static_nse").all()
    assert (table["config_b"] == "ealstm_nse").all() and (table["n"] == 4).all()
    # single: per-basin NSE averaged over the three seeds
    lstm = [(0.5 + 0.6 + 0.4) / 3, (0.3 + 0.2 + 0.4) / 3, (-0.5 - 0.4 - 0.3) / 3, 0.3 / 3]
    ea = [(0.8 + 0.7 + 0.9) / 3, (0.6 + 0.5 + 0.4) / 3, (-0.2 + 0.0 + 0.1) / 3, 1.2 / 3]
    single = table.iloc[0]
    assert single["mean_a"] == pytest.approx(np.mean(lstm))
    assert single["p_value"] == pytest.approx(wilcoxon_test(lstm, ea).p_value)
    assert single["cohens_d"] == pytest.approx(cohens_d(lstm, ea))
    # ensemble: every lstm_static_nse NSE is below the ealstm_nse one -> W+ = 0, T = 0, d < 0
    ensemble = table.iloc[1]
    assert ensemble["wilcoxon_statistic"] == 0.0
    assert ensemble["cohens_d"] == pytest.approx(
        cohens_d(NSE["lstm_static_nse"]["ensemble"], NSE["ealstm_nse"]["ensemble"]))
    assert ensemble["cohens_d"] < 0


# --------------------------------------------------------------------------------------------
# markdown
# --------------------------------------------------------------------------------------------
def test_markdown_table_format() -> None:
    frame = pd.DataFrame({"value": [0.12345, np.nan], "count": [3, 4], "note": ["a|b", "c"]},
                         index=pd.Index(["x", "y"], name="model"))
    assert markdown_table(frame) == (
        "| model | value | count | note |\n"
        "| --- | ---: | ---: | --- |\n"
        "| x | 0.123 | 3 | a\\|b |\n"
        "| y |  | 4 | c |\n"
    )
    assert markdown_table(frame, index=False, float_format=".1f").splitlines()[2] == (
        "| 0.1 | 3 | a\\|b |")


# --------------------------------------------------------------------------------------------
# Table 3 and writing
# --------------------------------------------------------------------------------------------
DATES = pd.date_range("1999-10-01", periods=200, freq="D", name="date")


def _dataset(qobs: np.ndarray, qsim: np.ndarray) -> xr.Dataset:
    coords = {"basin": BASINS, "date": DATES}
    return xr.Dataset({"qobs": (("basin", "date"), qobs, {"units": "mm/day"}),
                       "qsim": (("basin", "date"), qsim, {"units": "mm/day"})}, coords=coords)


def _write_run(run_dir: Path, ds: xr.Dataset) -> None:
    run_dir.mkdir(parents=True)
    ds.to_netcdf(run_dir / "predictions_test.nc")
    evaluate_basins(ds["qobs"], ds["qsim"]).to_csv(run_dir / "metrics_test.csv")


@pytest.fixture
def pred_experiment(tmp_path: Path) -> tuple[Path, dict[str, Path], np.ndarray]:
    """Experiment with predictions (2 configs x 3 seeds + ensembles) and two benchmark files."""
    rng = np.random.default_rng(1)
    t = np.arange(DATES.size)
    qobs = np.stack([2 + np.sin(t / (4 + i)) + rng.random(t.size) for i in range(4)])
    exp = tmp_path / "exp"
    for k, config in enumerate(("ealstm_nse", "lstm_static_nse")):
        sims = [qobs + rng.normal(0, 0.3 + 0.3 * k, qobs.shape) for _ in SEEDS]
        for seed, sim in zip(SEEDS, sims, strict=True):
            _write_run(exp / config / f"seed{seed}", _dataset(qobs, sim))
        _write_run(exp / config / "ensemble", _dataset(qobs, np.mean(sims, axis=0)))
    bench = _dataset(qobs, 0.8 * qobs + rng.normal(0, 0.4, qobs.shape))
    csv = bench["qsim"].isel(basin=slice(0, 3)).to_series().reset_index()  # 3 of 4 basins
    csv.to_csv(tmp_path / "hbv.csv", index=False)
    bench[["qsim"]].assign(qsim=bench["qsim"] * 1.1).to_netcdf(tmp_path / "vic.nc")
    return exp, {"hbv": tmp_path / "hbv.csv", "vic": tmp_path / "vic.nc"}, qobs


def _seed_nse(exp: Path, config: str, seed: int, basins: list[str]) -> list[float]:
    ds = xr.open_dataset(exp / config / f"seed{seed}" / "predictions_test.nc")
    return [nse(ds["qobs"].sel(basin=b).values, ds["qsim"].sel(basin=b).values) for b in basins]


def test_benchmark_table(pred_experiment: tuple[Path, dict[str, Path], np.ndarray]) -> None:
    exp, benchmarks, _ = pred_experiment
    table = benchmark_table(exp, benchmarks)
    assert list(table.index) == ["lstm_static_nse single", "lstm_static_nse ensemble",
                                 "ealstm_nse single", "ealstm_nse ensemble", "hbv", "vic"]
    common = BASINS[:3]  # hbv covers only these
    assert (table["n_basins"] == 3).all() and table.attrs["n_common_basins"] == 3
    per_seed = [np.mean(_seed_nse(exp, "ealstm_nse", s, common)) for s in SEEDS]
    row = table.loc["ealstm_nse single"]
    assert row["nse_mean"] == pytest.approx(np.mean(per_seed))
    assert row["nse_mean_std"] == pytest.approx(np.std(per_seed))
    assert math.isnan(table.loc["hbv", "nse_mean_std"])
    assert math.isnan(row["beats_ealstm_nse single"])
    assert {"fhv_median", "fhv_median_std", "beats_vic"} <= set(table.columns)
    assert (table["n_flv"] == 3).all() and "n_flv_std" not in table.columns
    # beats of a benchmark against a single model: mean over seeds of the basin counts
    per_basin, _ = benchmark_comparison(exp, benchmarks)
    hbv = per_basin.loc["hbv"].loc[common, "nse"]
    counts = [(hbv.to_numpy() > np.array(_seed_nse(exp, "ealstm_nse", s, common))).sum()
              for s in SEEDS]
    assert table.loc["hbv", "beats_ealstm_nse single"] == pytest.approx(np.mean(counts))
    ens = per_basin.loc["ealstm_nse ensemble"].loc[common, "nse"]
    assert table.loc["ealstm_nse ensemble", "beats_hbv"] == (ens > hbv).sum()


def test_benchmark_significance_by_hand(pred_experiment) -> None:
    """Wilcoxon p (scipy, exact) and Cohen's d (pooled sample std) computed independently."""
    exp, benchmarks, _ = pred_experiment
    per_basin, table = benchmark_comparison(exp, benchmarks)
    sig = benchmark_significance(per_basin, table).set_index(["kind", "config_a", "config_b"])
    assert len(sig) == 2 * 2 * 2  # single/ensemble x 2 configurations x 2 benchmarks
    common = BASINS[:3]
    single = np.mean([_seed_nse(exp, "ealstm_nse", s, common) for s in SEEDS], axis=0)
    hbv = per_basin.loc["hbv"].loc[common, "nse"].to_numpy(np.float64)
    row = sig.loc[("single", "ealstm_nse", "hbv")]
    assert row["n"] == 3 and row["n_dropped"] == 0
    assert row["p_value"] == pytest.approx(scipy.stats.wilcoxon(single, hbv).pvalue)
    pooled = np.sqrt((np.var(single, ddof=1) + np.var(hbv, ddof=1)) / 2)
    assert row["cohens_d"] == pytest.approx((single.mean() - hbv.mean()) / pooled)
    ens = per_basin.loc["ealstm_nse ensemble"].loc[common, "nse"].to_numpy(np.float64)
    vic = per_basin.loc["vic"].loc[common, "nse"].to_numpy(np.float64)
    row = sig.loc[("ensemble", "ealstm_nse", "vic")]
    assert row["n"] == 3 and row["mean_a"] == pytest.approx(ens.mean())
    assert row["p_value"] == pytest.approx(scipy.stats.wilcoxon(ens, vic).pvalue)


def test_benchmark_table_uses_experiment_basins(pred_experiment) -> None:
    exp, benchmarks, _ = pred_experiment
    path = exp / "lstm_static_nse" / "seed222" / "metrics_test.csv"
    metrics = pd.read_csv(path, dtype={"basin": str}).set_index("basin")
    metrics.loc[BASINS[0], ["status", "nse"]] = ["nse: obs is constant", np.nan]
    metrics.to_csv(path)
    table = benchmark_table(exp, benchmarks, configurations=["ealstm_nse"], single=False)
    assert list(table.index) == ["ealstm_nse ensemble", "hbv", "vic"]
    # ealstm_nse alone has no failure: the 3 basins of hbv
    assert (table["n_basins"] == 3).all() and table.attrs["n_excluded_experiment"] == 0
    # with lstm_static_nse, BASINS[0] is excluded everywhere (and BASINS[3] is not in hbv)
    table = benchmark_table(exp, benchmarks, single=False)
    assert (table["n_basins"] == 2).all() and table.attrs["n_excluded_experiment"] == 1
    assert list(table.index) == ["lstm_static_nse ensemble", "ealstm_nse ensemble", "hbv", "vic"]


def test_write_tables(pred_experiment) -> None:
    exp, benchmarks, _ = pred_experiment
    paths = write_tables(exp, benchmarks=benchmarks)
    names = [p.name for p in paths]
    assert names == ["table2.csv", "table2.md", "significance.csv", "significance.md",
                     "table3.csv", "table3.md", "table3_per_basin.csv",
                     "table3_significance.csv", "table3_significance.md"]
    assert sorted(p.name for p in (exp / "tables").iterdir()) == sorted(names)  # no temp files
    written = pd.read_csv(exp / "tables" / "table2.csv", index_col="configuration")
    pd.testing.assert_frame_equal(written, table2(exp), check_dtype=False)
    md = (exp / "tables" / "table2.md").read_text()
    assert md.startswith("## Table 2") and "4 basins; none excluded" in md
    row = next(line for line in md.splitlines() if line.startswith("| ealstm_nse |"))
    t2 = table2(exp).loc["ealstm_nse"]
    assert f"{t2['single_nse_mean']:.3f} ± {t2['single_nse_mean_std']:.3f}" in row
    sig = (exp / "tables" / "significance.md").read_text()
    assert "| single | lstm_static_nse | ealstm_nse | 4 | 0 |" in sig  # the paper's order
    assert "| ensemble | lstm_static_nse | ealstm_nse | 4 | 0 |" in sig
    t3 = (exp / "tables" / "table3.md").read_text()
    assert "3 basins covered" in t3 and "| hbv |" in t3 and " ± " in t3
    assert "flv (median, n=3)" in t3  # basins of each median in its header
    sig3 = (exp / "tables" / "table3_significance.md").read_text()
    assert "| single | ealstm_nse | hbv | 3 | 0 |" in sig3  # the 3 basins hbv covers
    assert "| ensemble | lstm_static_nse | vic | 3 | 0 |" in sig3
    assert find_configurations(exp) == ["lstm_static_nse", "ealstm_nse"]
    assert [p.name for p in write_tables(exp)] == names[:4]


def test_benchmark_significance_uses_the_table3_basins_only() -> None:
    # basin b5 has NSE for the configuration and hbv, but not for vic: it is not one of the
    # Table 3 basins (`included`), so the configuration-vs-hbv pair leaves it out too (paper: all
    # tests on the 447 basins)
    basins = [f"b{i}" for i in range(6)]
    rng = np.random.default_rng(0)
    nse_of = {"cfg ensemble": rng.uniform(0.5, 0.9, 6), "hbv": rng.uniform(0.2, 0.8, 6),
              "vic": np.r_[rng.uniform(0.2, 0.8, 5), np.nan]}
    index = pd.MultiIndex.from_product([list(nse_of), basins], names=["model", "basin"])
    included = np.tile([True] * 5 + [False], 3)
    per_basin = pd.DataFrame({"nse": np.concatenate(list(nse_of.values())),
                              "included": included}, index=index)
    table = pd.DataFrame(index=pd.Index(list(nse_of), name="model"))
    table.attrs = {"members": {}, "configurations": ["cfg"], "benchmarks": ["hbv", "vic"]}
    sig = benchmark_significance(per_basin, table).set_index(["kind", "config_a", "config_b"])
    for bench in ("hbv", "vic"):
        row = sig.loc[("ensemble", "cfg", bench)]
        a, b = nse_of["cfg ensemble"][:5], nse_of[bench][:5]
        assert row["n"] == 5
        assert row["p_value"] == pytest.approx(scipy.stats.wilcoxon(a, b).pvalue)
        assert row["cohens_d"] == pytest.approx(cohens_d(a, b))
