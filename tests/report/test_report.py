"""Figures and the self-contained HTML report of a fake experiment directory."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml
from matplotlib.figure import Figure
from matplotlib.image import imread

from ealstm.errors import ConfigError
from ealstm.io import save_csv, save_netcdf
from ealstm.metrics import evaluate_basins
from ealstm.report.figures import (
    experiment_figures,
    load_benchmark_nse,
    plot_hydrograph,
    plot_nse_cdf,
)
from ealstm.report.html import build_report

BASINS = ["01022500", "01547700", "02064000"]
CONFIGS = {"lstm_static_nse": 0.6, "ealstm_nse": 0.3}  # noise level of qsim
SEEDS = [111, 222]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# CDF + best/median/worst hydrographs + the member's analysis/sensitivity/map.png
N_IMAGES = 5


def _predictions(noise: float, rng: np.random.Generator) -> xr.Dataset:
    dates = pd.date_range("2000-01-01", periods=60, freq="D", name="date")
    days = np.arange(60)
    qobs = np.stack([2 + np.sin(days / (5 + i)) + 0.2 * i for i in range(len(BASINS))])
    scale = noise * np.array([0.5, 1.0, 2.5])[:, None]  # one good, one median, one bad basin
    qsim = qobs + scale * rng.standard_normal(qobs.shape)
    attrs = {"units": "mm/day"}
    return xr.Dataset({"qobs": (("basin", "date"), qobs.astype(np.float32), attrs),
                       "qsim": (("basin", "date"), qsim.astype(np.float32), attrs)},
                      coords={"basin": BASINS, "date": dates})


def _write_member(folder: Path, predictions: xr.Dataset) -> None:
    save_netcdf(folder / "predictions_test.nc", predictions)
    save_csv(folder / "metrics_test.csv", evaluate_basins(predictions["qobs"], predictions["qsim"]))


def _write_tables(root: Path) -> None:
    table2 = pd.DataFrame({"model": ["ealstm_nse", "lstm_static_nse <w/o> & co"],
                           "mean": [0.71, 0.66], "median": [0.74, 0.73], "n_nse_le_0": [2, 6]})
    save_csv(root / "tables" / "table2.csv", table2, index=False)
    markdown = "| model | mean |\n|---|---|\n| ealstm_nse | 0.71 |\n"
    (root / "tables" / "table2.md").write_text(markdown)
    sig = pd.DataFrame({"a": ["ealstm_nse"], "b": ["lstm_static_nse"], "p_value": [1.9e-4]})
    save_csv(root / "tables" / "significance.csv", sig, index=False)


def _write_analysis(member: Path) -> None:
    folder = member / "analysis" / "sensitivity"
    folder.mkdir(parents=True)
    fig = Figure(figsize=(3, 2))
    fig.subplots().bar(["aridity", "frac_snow"], [0.8, 0.3])
    fig.savefig(folder / "map.png", format="png")
    ranking = pd.DataFrame({"feature": ["aridity", "frac_snow"], "mu_star": [0.8, 0.3]})
    ranking.to_csv(folder / "ranking.csv", index=False)


@pytest.fixture()
def experiment_dir(tmp_path: Path) -> Path:
    """2 configurations x 2 seeds + ensembles, 3 basins x 60 days, tables and one analysis."""
    root = tmp_path / "paper_exp"
    rng = np.random.default_rng(0)
    experiment = {"name": "paper_exp", "base": {"data": {
        "data_dir": "/data/camels_us", "forcings": "maurer_extended", "basins": BASINS,
        "train_period": {"start": "1999-10-01", "end": "2008-09-30"},
        "test_period": {"start": "2000-01-01", "end": "2000-02-29"}}},
        "configurations": {name: {"model": {"name": name.split("_")[0]}} for name in CONFIGS},
        "seeds": SEEDS}
    root.mkdir()
    (root / "experiment.yml").write_text(yaml.safe_dump(experiment, sort_keys=False))
    for name, noise in CONFIGS.items():
        members = [_predictions(noise, rng) for _ in SEEDS]
        for seed, predictions in zip(SEEDS, members, strict=True):
            _write_member(root / name / f"seed{seed}", predictions)
        ensemble = members[0].copy(data={**{k: v.values for k, v in members[0].items()},
                                         "qsim": sum(m["qsim"].values for m in members) / 2})
        _write_member(root / name / "ensemble", ensemble)
    _write_tables(root)
    _write_analysis(root / "ealstm_nse" / "seed111")
    return root


class _Tags(HTMLParser):
    """Collect start tags and their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(text: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(text)
    return parser.tags


# ------------------------------------------------------------------------------------ figures
def test_plot_nse_cdf_styles_and_clipping() -> None:
    nse = {"ealstm_nse (seed111)": pd.Series([0.9, 0.5, -2.0]),
           "ealstm_nse (ensemble)": pd.Series([0.95, 0.6, 0.1]),
           "benchmark": pd.Series([0.4, np.nan, -0.5])}
    ax = plot_nse_cdf(nse, "test").axes[0]
    styles = {line.get_label().split(":")[0]: line.get_linestyle() for line in ax.get_lines()}
    assert styles == {"ealstm_nse (seed111)": "--", "ealstm_nse (ensemble)": "-", "benchmark": "-"}
    assert ax.get_xlim() == (0.0, 1.0)
    labels = [line.get_label() for line in ax.get_lines()]
    assert "1 of 3 below 0" in labels[0] and "1 of 2 below 0" in labels[2]


def test_plot_hydrograph_title_and_unknown_basin() -> None:
    predictions = _predictions(0.0, np.random.default_rng(0))
    fig = plot_hydrograph(predictions, BASINS[1], period=("2000-01-10", "2000-01-31"))
    ax = fig.axes[0]
    assert "NSE 1.000" in ax.get_title() and "2000-01-10 to 2000-01-31" in ax.get_title()
    assert ax.get_ylabel() == "discharge (mm/day)"
    with pytest.raises(KeyError, match="99999999"):
        plot_hydrograph(predictions, "99999999")


def test_experiment_figures_writes_pngs(experiment_dir: Path) -> None:
    figures = experiment_figures(experiment_dir)
    assert list(figures)[0] == "nse_cdf"
    # ealstm_nse has less noise -> best configuration; its best/median/worst basins in order
    assert [k for k in figures if k.startswith("hydrograph_")] == [
        f"hydrograph_{b}" for b in BASINS]
    for path in figures.values():
        assert path.parent == experiment_dir / "report" / "figures"
        assert path.read_bytes()[:8] == PNG_MAGIC
    assert not list((experiment_dir / "report" / "figures").glob("*.tmp"))
    chosen = experiment_figures(experiment_dir, basins=[BASINS[2]])
    assert list(chosen) == ["nse_cdf", f"hydrograph_{BASINS[2]}"]


def test_benchmark_cdf_from_table3_per_basin(experiment_dir: Path) -> None:
    assert "nse_cdf_benchmarks" not in experiment_figures(experiment_dir)
    models = ["ealstm_nse seed111", "ealstm_nse ensemble", "lstm_static_nse ensemble", "SAC-SMA"]
    per_basin = pd.DataFrame({"model": np.repeat(models, 3), "basin": BASINS * 4,
                              "nse": np.linspace(-0.2, 0.9, 12), "status": "ok",
                              "included": [True, True, False] * 4})
    save_csv(experiment_dir / "tables" / "table3_per_basin.csv", per_basin, index=False)
    nse = load_benchmark_nse(experiment_dir)
    assert list(nse) == models and list(nse["SAC-SMA"].index) == BASINS[:2]  # included only
    figures = experiment_figures(experiment_dir)
    assert list(figures)[:2] == ["nse_cdf", "nse_cdf_benchmarks"]
    assert figures["nse_cdf_benchmarks"].read_bytes()[:8] == PNG_MAGIC
    text = build_report(experiment_dir).read_text(encoding="utf-8")
    assert "Table 3, per basin" in text and "tables/table3_per_basin.csv" in text


# ------------------------------------------------------------------------------------- report
def test_report_is_self_contained(experiment_dir: Path) -> None:
    path = build_report(experiment_dir)
    assert path == experiment_dir / "report" / "report.html"
    text = path.read_text(encoding="utf-8")
    tags = _tags(text)
    images = [attrs["src"] or "" for tag, attrs in tags if tag == "img"]
    assert len(images) == N_IMAGES
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_MAGIC
    for tag, attrs in tags:
        assert tag not in ("script", "link", "iframe", "object", "embed")
        for key in ("src", "href"):
            value = (attrs.get(key) or "").strip().lower()
            assert not value.startswith(("http://", "https://", "//")), (tag, key, value)
    assert "http://" not in text and "https://" not in text


def test_report_contents(experiment_dir: Path) -> None:
    text = build_report(experiment_dir).read_text(encoding="utf-8")
    tables = [attrs for tag, attrs in _tags(text) if tag == "table"]
    assert len(tables) >= 4  # summary, Table 2, significance, analysis ranking
    assert "Table 2" in text and "Significance tests" in text
    assert "lstm_static_nse &lt;w/o&gt; &amp; co" in text and "<w/o>" not in text
    assert "0.0001900" not in text and "0.00019" in text
    assert "<details><summary>3 basins</summary>" in text and all(b in text for b in BASINS)
    assert "maurer_extended" in text and "/data/camels_us" in text and "111, 222" in text
    assert "ealstm 0.1.0" in text and "torch " in text and "numpy " in text
    assert "ealstm_nse/seed111/analysis/sensitivity" in text and "mu_star" in text
    assert "All 4 members (2 configurations) and 2 ensembles are complete." in text


def test_report_lists_missing_and_failed_members(experiment_dir: Path) -> None:
    shutil.rmtree(experiment_dir / "lstm_static_nse" / "seed222")
    (experiment_dir / "ealstm_nse" / "seed222" / "metrics_test.csv").unlink()
    text = build_report(experiment_dir).read_text(encoding="utf-8")
    section = text.split("id='members'")[1]
    assert "missing" in section and "failed" in section
    assert "folder absent" in section and "no metrics_test.csv (failed or unfinished)" in section
    assert "2 of 4 members and 0 of 2 ensembles are missing, failed or partial" in section


def test_report_without_metrics(tmp_path: Path) -> None:
    text = build_report(tmp_path).read_text(encoding="utf-8")
    assert "No metrics_test.csv found" in text and "<img" not in text


# ------------------------------------------------------------------------- rendered (Chromium)
def _chromium() -> str:
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return str(shutil.which(name))
    pytest.skip("no chromium binary found (install Debian's `chromium` or set $CHROMIUM)")


def _run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", f"--user-data-dir={tmp_path / 'chromium_profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def test_rendered_screenshot_is_not_blank(experiment_dir: Path, tmp_path: Path) -> None:
    report = build_report(experiment_dir)
    shot = tmp_path / "report.png"
    result = _run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000",
                           report.as_uri())
    assert shot.is_file(), result.stderr[-2000:]
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels.std() > 0.05 and (pixels.mean(axis=-1) < 0.9).mean() > 0.01
    if os.environ.get("EALSTM_REPORT_SCREENSHOT"):  # a copy for a person to look at
        shutil.copyfile(shot, os.environ["EALSTM_REPORT_SCREENSHOT"])


def test_rendered_dom_holds_tables_and_images(experiment_dir: Path, tmp_path: Path) -> None:
    report = build_report(experiment_dir)
    result = _run_chromium(tmp_path, "--dump-dom", report.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    tags = _tags(result.stdout)
    assert sum(tag == "table" for tag, _ in tags) >= 4
    images = [attrs["src"] or "" for tag, attrs in tags if tag == "img"]
    assert len(images) == N_IMAGES and all(s.startswith("data:image/png;base64,") for s in images)
    assert "Table 2" in result.stdout and "Missing or failed members" in result.stdout


def test_unknown_hydrograph_basin_is_a_config_error(experiment_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"--basins: \['99999999'\] are not in .*predictions_"
                       r"test\.nc \(3 basins, e\.g\."):
        experiment_figures(experiment_dir, basins=[BASINS[0], "99999999"])
# ------------------------------------------------------------------ tables, counts, stale files
def test_column_labels_are_human() -> None:
    from ealstm.report.columns import column_label

    assert column_label("single_nse_median_std") == "single model: median NSE, std over seeds"
    assert column_label("ensemble_n_nse_le_0") == "ensemble: basins with NSE ≤ 0"
    assert column_label("alpha_nse_median") == "median α-NSE"
    assert column_label("beats_VIC") == "basins where it beats VIC"
    assert column_label("p_value") == "p-value" and column_label("gauge_id") == "gauge id"


def test_wide_tables_scroll_with_readable_headers(experiment_dir: Path) -> None:
    wide = pd.DataFrame({"model": ["a"], **{f"ensemble_nse_median_{i}": [0.5] for i in range(3)},
                         "single_nse_mean_std": [0.01]})
    save_csv(experiment_dir / "tables" / "table2.csv", wide, index=False)
    text = build_report(experiment_dir).read_text(encoding="utf-8")
    assert ".wide{max-width:100%;overflow-x:auto}" in text
    tables = text.count("<table>")
    assert tables >= 4 and text.count("<div class='wide'><table>") == tables
    assert ("<th title='single_nse_mean_std'>single model: mean NSE, std over seeds</th>"
            in text)


def test_partial_ensemble_is_reported(experiment_dir: Path) -> None:
    folder = experiment_dir / "ealstm_nse" / "ensemble"
    (folder / "summary_test.json").write_text('{"n_members": 1}')
    section = build_report(experiment_dir).read_text(encoding="utf-8").split("id='members'")[1]
    assert "0 of 4 members and 1 of 2 ensembles are missing, failed or partial" in section
    assert "mean of 1 of 2 members" in section


def test_regenerated_report_drops_stale_figures(experiment_dir: Path) -> None:
    build_report(experiment_dir, basins=[BASINS[0]])
    figures = experiment_dir / "report" / "figures"
    assert (figures / f"hydrograph_{BASINS[0]}.png").is_file()
    build_report(experiment_dir, basins=[BASINS[1]])
    assert sorted(p.name for p in figures.glob("*.png")) == [
        f"hydrograph_{BASINS[1]}.png", "nse_cdf.png"]
    build_report(experiment_dir, period="validation")  # no metrics: no figure at all
    assert not list(figures.glob("*.png"))
