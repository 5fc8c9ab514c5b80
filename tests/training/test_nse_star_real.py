"""NSE* weights of a run on the real CAMELS-US sample, checked against the raw files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ealstm.config import parse_config
from ealstm.data.cache import load_basin_arrays
from ealstm.evaluation.run import evaluate_run
from ealstm.training.loop import train

BASINS = ["01022500", "08023080", "09386900"]  # the last two have zero-flow days in 2003-04
TRAIN = ("2003-10-01", "2004-09-30")
CFS_TO_MM_DAY = 0.3048 ** 3 * 86400 * 1000  # / area in m^2


def _raw_discharge_mm_day(root: Path, basin: str) -> pd.Series:
    """Read one basin's discharge with pandas alone (not with the library's readers)."""
    forcing = next((root / "basin_mean_forcing" / "nldas").rglob(f"{basin}_*.txt"))
    area_m2 = float(forcing.read_text().splitlines()[2])
    flow = next((root / "usgs_streamflow").rglob(f"{basin}_streamflow_qc.txt"))
    table = pd.read_csv(flow, sep=r"\s+", header=None,
                        names=["basin", "year", "month", "day", "q_cfs", "flag"],
                        dtype={"basin": str, "flag": str})
    dates = pd.to_datetime(table[["year", "month", "day"]])
    q = table["q_cfs"].where((table["q_cfs"] >= 0) & ~table["flag"].str.startswith("M"))
    return pd.Series((q * CFS_TO_MM_DAY / area_m2).to_numpy(), index=dates)


@pytest.mark.slow
def test_nse_star_std_csv_is_the_raw_std_from_the_camels_files(shared_camels, tmp_path):
    cfg = parse_config({
        "name": "real", "runs_dir": str(tmp_path),
        "data": {"data_dir": str(shared_camels), "forcings": "nldas", "basins": BASINS,
                 "dynamic_inputs": ["prcp", "srad", "tmax", "tmin", "vp"],
                 "train_period": {"start": TRAIN[0], "end": TRAIN[1]},
                 "test_period": {"start": TRAIN[0], "end": TRAIN[1]},
                 "seq_length": 10, "cache_dir": str(tmp_path / "cache"),
                 "allow_period_overlap": True},  # scored on its training year on purpose
        "model": {"name": "ealstm", "hidden_size": 4},
        "train": {"epochs": 1, "batch_size": 256, "loss": "nse_star"},
    })
    run_dir = train(cfg, progress=False)
    table = pd.read_csv(run_dir / "nse_star_std.csv", dtype={"basin": str}).set_index("basin")
    for basin in BASINS:
        q = _raw_discharge_mm_day(shared_camels, basin).loc[TRAIN[0]:TRAIN[1]].dropna()
        assert table.loc[basin, "n_days"] == len(q)
        # float32 cache values vs float64 from the text files
        assert table.loc[basin, "std_mm_day"] == pytest.approx(np.std(q.to_numpy()), rel=1e-6)
    # observations are stored as observed: zero flow stays exactly 0
    ds = xr.open_dataset(evaluate_run(run_dir, "test").predictions)
    cached = load_basin_arrays(cfg.data)
    period = cached.time_slice(cfg.data.test_period)
    assert np.array_equal(ds["qobs"].values, cached.target[:, period], equal_nan=True)
    for basin in BASINS[1:]:
        q = _raw_discharge_mm_day(shared_camels, basin).loc[TRAIN[0]:TRAIN[1]]
        stored = ds["qobs"].sel(basin=basin).to_series()
        zero = q.index[q == 0.0]
        assert len(zero) > 0 and (stored.loc[zero] == 0.0).all()
        np.testing.assert_allclose(stored.to_numpy(), q.reindex(stored.index).to_numpy(),
                                   rtol=1e-6)
