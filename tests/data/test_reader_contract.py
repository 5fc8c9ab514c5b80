"""One contract for every data-set reader in DATASETS (CAMELS-US, Caravan, generic).

Each reader is run on a small tree of its layout and must honour the interface that the cache,
training and the analyses rely on (:mod:`ealstm.data.readers.datasets`); the one-epoch training
run replaces the copies that test_caravan.py and test_generic.py used to hold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ealstm.config import DATASET_NAMES, DataConfig, parse_config
from ealstm.data.cache import load_basin_arrays
from ealstm.data.readers.camels_us import read_basin_list
from ealstm.data.readers.datasets import DATASETS, read_locations
from ealstm.errors import ConfigError, DataNotFoundError
from tests.data import test_caravan, test_generic

PERIODS = {"train_period": {"start": "2001-01-01", "end": "2001-12-31"},
           "test_period": {"start": "2000-03-01", "end": "2000-12-31"}}
CAMELS_PERIODS = {"train_period": {"start": "2000-10-01", "end": "2001-09-30"},
                  "test_period": {"start": "1998-10-01", "end": "1999-09-30"}}


def _raw_data(name: str, demo_camels: Path, tmp_path: Path) -> dict:
    """The ``data`` section of a run on a small tree of layout ``name``."""
    if name == "camels_us":
        return {"dataset": name, "data_dir": str(demo_camels), **CAMELS_PERIODS,
                "basins": read_basin_list(demo_camels / "basin_list.txt")[:2],
                "static_attributes": ["p_mean", "aridity", "area_gages2"]}
    if name == "caravan":
        root = test_caravan.make_caravan(tmp_path / "Caravan")
        return {"dataset": name, "data_dir": str(root), **PERIODS,
                "basins": ["camels_01022500", "lamah_1"],
                "dynamic_inputs": list(test_caravan.INPUTS),
                "static_attributes": list(test_caravan.ATTRS)}
    root = test_generic.make_generic(tmp_path / "generic")
    return {"dataset": name, "data_dir": str(root), **PERIODS,
            "basins": list(test_generic.BASINS), "dynamic_inputs": list(test_generic.INPUTS),
            "static_attributes": list(test_generic.ATTRS)}


@pytest.fixture(params=DATASET_NAMES)
def run_raw(request: pytest.FixtureRequest, demo_camels: Path, tmp_path: Path) -> dict:
    data = _raw_data(request.param, demo_camels, tmp_path)
    return {"name": f"{request.param}_tiny", "runs_dir": str(tmp_path / "runs"),
            "data": {**data, "seq_length": 10, "cache_dir": str(tmp_path / "cache")},
            "model": {"name": "ealstm", "hidden_size": 8},
            "train": {"epochs": 1, "batch_size": 64, "seed": 1, "device": "cpu",
                      "num_threads": 1}}


def test_registry_holds_every_configurable_name() -> None:
    assert tuple(DATASETS) == DATASET_NAMES
    assert all(reader.name == name for name, reader in DATASETS.items())


def test_reader_contract(run_raw: dict) -> None:
    cfg: DataConfig = parse_config(run_raw).data
    reader = DATASETS[cfg.dataset]
    basins = list(cfg.basins)
    assert set(basins) <= set(reader.list_basins(cfg))
    dynamic, target = reader.read_basin(cfg, basins[0])
    assert list(dynamic.columns) == list(cfg.dynamic_inputs)
    for index in (dynamic.index, target.index):  # each on the basin's own daily dates
        assert isinstance(index, pd.DatetimeIndex) and index.is_monotonic_increasing
        assert (np.diff(index.values).astype("timedelta64[D]") == np.timedelta64(1, "D")).all()
    assert np.nanmin(target.to_numpy()) >= 0.0  # discharge in mm/day
    again, _ = reader.read_basin(cfg, basins[0], require_target=False)
    pd.testing.assert_frame_equal(again, dynamic)
    statics = reader.read_statics(cfg, basins[::-1])
    assert list(statics.index) == basins[::-1]
    assert list(statics.columns) == list(cfg.static_attributes)
    first = cfg.static_attributes[0]
    attributes = reader.read_attributes(cfg, basins, [first])
    np.testing.assert_allclose(attributes.loc[basins, first].to_numpy(float),
                               statics.loc[basins, first].to_numpy(float))
    with pytest.raises(DataNotFoundError, match="nope"):
        reader.check_basins(cfg, [*basins, "nope"])
    assert str(cfg.data_dir) in reader.describe(cfg)


def test_locations_or_a_clear_error(run_raw: dict) -> None:
    cfg: DataConfig = parse_config(run_raw).data
    try:
        locations = read_locations(cfg, list(cfg.basins))
    except ConfigError as exc:
        assert cfg.dataset != "camels_us" and "gauge_lat and gauge_lon" in str(exc)
    else:
        assert list(locations.columns) == ["lat", "lon"]
        assert list(locations.index) == list(cfg.basins)


@pytest.mark.slow
def test_arrays_and_a_one_epoch_training_run(run_raw: dict) -> None:
    from ealstm.training.loop import train

    cfg = parse_config(run_raw)
    arrays = load_basin_arrays(cfg.data)
    assert arrays.basins == cfg.data.basins
    assert arrays.dynamic_names == cfg.data.dynamic_inputs
    run_dir = train(cfg, progress=False)
    assert (run_dir / "scaler.json").is_file()
    assert (run_dir / "checkpoints" / "epoch_001.pt").is_file()
    log = pd.read_csv(run_dir / "train_log.csv")
    assert len(log) == 1 and np.isfinite(log["train_loss"]).all()
