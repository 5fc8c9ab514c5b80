"""``ealstm plot``: hydrograph with inverted precipitation bars and metric maps of one run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from ealstm.cli import main
from ealstm.config import DataConfig, load_run_config
from ealstm.data.readers.camels_us import read_forcings, read_gauge_locations
from ealstm.data.readers.datasets import read_locations
from ealstm.errors import ConfigError
from ealstm.report.run_plots import hydrograph_figure, map_figure, precipitation


@pytest.fixture(scope="module")
def evaluated_run(tiny_ealstm_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny run (the fixture is read-only), not yet evaluated."""
    run = tmp_path_factory.mktemp("plot_runs") / "tiny"
    shutil.copytree(tiny_ealstm_run, run)
    return run


def test_plot_cli_end_to_end(evaluated_run, capsys):
    run = evaluated_run
    basin = load_run_config(run).data.basins[0]
    assert main(["plot", "hydrograph", str(run), "--basin", basin]) == 2
    err = capsys.readouterr().err
    assert f"run `ealstm evaluate {run} --period test` first" in err
    assert "Traceback" not in err
    assert main(["plot", "map", str(run), "--metric", "NSE"]) == 2
    err = capsys.readouterr().err
    assert f"metrics_test.csv does not exist: run `ealstm evaluate {run} --period test`" in err
    assert main(["evaluate", str(run), "--period", "test"]) == 0
    assert main(["plot", "hydrograph", str(run), "--basin", basin, "--log"]) == 0
    assert main(["plot", "map", str(run), "--metric", "NSE"]) == 0
    assert main(["plot", "map", str(run), "--metric", "fhv", "--out", str(run / "x.png")]) == 0
    for name in (f"plots/hydrograph_{basin}_test.png", "plots/map_nse_test.png", "x.png"):
        image = imread(run / name)
        assert image.shape[0] > 200 and image.shape[1] > 400
    assert not list((run / "plots").glob(".*tmp"))  # atomic writes leave no temp file
    assert main(["plot", "hydrograph", str(run), "--basin", basin[:-1]]) == 2
    assert f"basin '{basin[:-1]}' is not in" in capsys.readouterr().err
    assert main(["plot", "map", str(run), "--metric", "rmse"]) == 2
    assert "unknown metric 'rmse'" in capsys.readouterr().err


def test_hydrograph_draws_the_data_with_inverted_precipitation(tiny_ealstm_run):
    cfg = load_run_config(tiny_ealstm_run)
    basin = cfg.data.basins[1]
    precip = precipitation(cfg.data, basin)
    forcing, _ = read_forcings(cfg.data.data_dir, basin, cfg.data.forcings)
    dates = pd.date_range("1999-01-01", periods=60, freq="D")
    assert np.allclose(precip.loc[dates], forcing.loc[dates, "prcp"])
    obs = pd.Series(np.linspace(1.0, 2.0, 60), index=dates)
    sim = pd.Series(np.linspace(2.0, 3.0, 60), index=dates)
    fig = hydrograph_figure(obs, sim, precip, "t", log=True)
    top, ax = fig.axes
    assert top.get_ylim()[0] > top.get_ylim()[1] == 0  # bars hang down from the top
    heights = [bar.get_height() for bar in top.patches]
    assert np.allclose(heights, forcing.loc[dates, "prcp"])
    lines = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    assert np.allclose(lines["observed"], obs) and np.allclose(lines["simulated"], sim)
    assert ax.get_yscale() == "log"
    assert len(hydrograph_figure(obs, sim, None, "t").axes) == 1


def test_map_places_each_basin_at_its_gauge(tiny_ealstm_run):
    cfg = load_run_config(tiny_ealstm_run)
    basins = list(cfg.data.basins)
    values = pd.Series([0.9, 0.5, -3.0, 0.1], index=basins)
    locations = read_locations(cfg.data, basins)
    topo = read_gauge_locations(cfg.data.data_dir, basins)
    fig = map_figure(values, locations, "nse", "t")
    ax, bar = fig.axes
    points = ax.collections[-1]
    assert np.allclose(points.get_offsets(), topo[["lon", "lat"]].to_numpy())
    assert np.allclose(points.get_array(), values)
    assert points.get_clim() == (0.0, 1.0) and bar.get_ylabel() == "NSE (-)"
    assert len(ax.collections) == 2  # state outlines + points


def _generic(tmp_path: Path, columns: str, row: str) -> DataConfig:
    (tmp_path / "time_series").mkdir(exist_ok=True)
    (tmp_path / "attributes.csv").write_text(f"basin,{columns}\nb1,{row}\n")
    return DataConfig(dataset="generic", data_dir=tmp_path, dynamic_inputs=("p",),
                      static_attributes=(), train_period={"start": "2000-01-01",
                                                          "end": "2000-12-31"},
                      test_period={"start": "2001-01-01", "end": "2001-12-31"})


def test_generic_coordinates_and_clear_error_without_them(tmp_path):
    cfg = _generic(tmp_path, "area,gauge_lat,gauge_lon", "10,47.5,8.25")
    assert read_locations(cfg, ["b1"]).loc["b1"].tolist() == [47.5, 8.25]
    cfg = _generic(tmp_path, "area", "10")
    with pytest.raises(ConfigError, match="no gauge coordinates .* gauge_lat and gauge_lon"):
        read_locations(cfg, ["b1"])
