"""The analyses on a run of the generic layout (no CAMELS-US files anywhere).

Locations, attributes, precipitation and the signatures come through the data-set reader
(:mod:`ealstm.data.readers.datasets`), so sensitivity, embedding (maps, clusters, variance
reduction of signatures computed from the series) and robustness work on any data set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ealstm.analysis.embedding import embedding_analysis
from ealstm.analysis.robustness import robustness
from ealstm.analysis.sensitivity import sensitivity
from ealstm.config import parse_config
from ealstm.data.readers.datasets import read_locations
from ealstm.training.loop import train

BASINS = [f"se{i}" for i in range(6)]  # ids that are no USGS gauge numbers
ATTRIBUTES = ["area", "elevation", "forest"]


def _write_tree(root: Path) -> Path:
    """Six basins in Sweden (outside CONUS): CSV series and an attribute table with coords."""
    dates = pd.date_range("1999-01-01", "2001-12-31", freq="D", name="date")
    (root / "time_series").mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i, basin in enumerate(BASINS):
        rain = rng.gamma(0.6, 4.0 + i, len(dates))
        frame = pd.DataFrame({
            "prcp": rain, "temp": 5 + 9 * np.sin(2 * np.pi * dates.day_of_year / 365.25),
            "qobs": pd.Series(rain).rolling(3 + i, min_periods=1).mean().to_numpy() * 0.4},
            index=dates)
        frame.reset_index().to_csv(root / "time_series" / f"{basin}.csv", index=False)
    pd.DataFrame({"basin": BASINS, "area": 50.0 + 40 * np.arange(6),
                  "elevation": 100.0 + 150 * np.arange(6), "forest": np.linspace(0.1, 0.9, 6),
                  "gauge_lat": 57.0 + 0.5 * np.arange(6),
                  "gauge_lon": 14.0 + 0.3 * np.arange(6)}).to_csv(root / "attributes.csv",
                                                                 index=False)
    return root


@pytest.fixture(scope="module")
def generic_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("generic_run")
    root = _write_tree(tmp / "data")
    raw = {
        "name": "generic", "runs_dir": str(tmp / "runs"),
        "data": {"dataset": "generic", "data_dir": str(root), "basins": BASINS,
                 "dynamic_inputs": ["prcp", "temp"], "static_attributes": ATTRIBUTES,
                 "seq_length": 10, "cache_dir": str(tmp / "cache"),
                 "train_period": {"start": "2000-01-01", "end": "2000-12-31"},
                 "validation_period": {"start": "1999-02-01", "end": "1999-12-31"},
                 "test_period": {"start": "2001-01-01", "end": "2001-12-31"}},
        "model": {"name": "ealstm", "hidden_size": 8},
        "train": {"epochs": 1, "batch_size": 64, "seed": 1, "device": "cpu", "num_threads": 1},
    }
    return train(parse_config(raw), progress=False)


def test_locations_come_from_the_generic_attributes(generic_run: Path) -> None:
    cfg = parse_config(__import__("yaml").safe_load((generic_run / "config.yml").read_text()))
    locations = read_locations(cfg.data, BASINS[:2])
    assert list(locations.index) == BASINS[:2]
    np.testing.assert_allclose(locations.to_numpy(), [[57.0, 14.0], [57.5, 14.3]])


@pytest.mark.slow
def test_sensitivity_embedding_and_robustness_run_on_a_generic_run(generic_run: Path) -> None:
    result = sensitivity(generic_run, period="test")
    assert result.files["map"].is_file() and (result.output_dir.parent.parent == generic_run)
    most = result.most_sensitive
    assert {"lat", "lon"} <= set(most.columns) and set(most.index) == set(BASINS)
    assert result.map_background == "lonlat-frame"  # Sweden: no CONUS outline

    emb = embedding_analysis(generic_run, ks=(2, 3), n_init=2)
    assert set(emb.clusters.index) == set(BASINS)
    np.testing.assert_allclose(emb.clusters.loc["se1", ["lat", "lon"]].to_numpy(float),
                               [57.5, 14.3])
    assert {"q_mean", "runoff_ratio"} <= set(emb.variance_reduction["signature"])
    values = emb.variance_reduction.drop(columns=["k", "signature"]).to_numpy(float)
    assert np.isfinite(values).any()

    noisy = robustness(generic_run, sigmas=(0.1,), n_draws=2)
    assert noisy.output_dir.is_relative_to(generic_run) and len(noisy.summary) >= 1
