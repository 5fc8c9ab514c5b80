"""Ensemble of members built from hand-made predictions files: each file is read once."""

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ealstm.experiment.ensemble import build_ensembles


def _member(folder: Path, qsim: np.ndarray, qobs: np.ndarray) -> None:
    """Write a member's predictions (current rules: clip_negative set) and a metrics file."""
    folder.mkdir(parents=True)
    dates = pd.date_range("2000-01-01", periods=qsim.shape[1], name="date")
    ds = xr.Dataset({"qobs": (("basin", "date"), qobs), "qsim": (("basin", "date"), qsim)},
                    coords={"basin": ["01", "02"], "date": dates},
                    attrs={"clip_negative": 1})
    ds.to_netcdf(folder / "predictions_test.nc")
    (folder / "metrics_test.csv").write_text("basin,nse\n01,0.5\n02,0.5\n")


def test_ensemble_reads_each_member_once_and_is_the_mean(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    qobs = rng.uniform(0.1, 2.0, (2, 6)).astype(np.float32)
    sims = {1: rng.uniform(0.1, 2.0, (2, 6)).astype(np.float32),
            2: rng.uniform(0.1, 2.0, (2, 6)).astype(np.float32)}
    for seed, qsim in sims.items():
        _member(tmp_path / "cfg" / f"seed{seed}", qsim, qobs)
    opened: list[str] = []
    real = xr.backends.api.open_dataset

    def counting(path, *args, **kwargs):
        opened.append(Path(path).parent.name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(xr.backends.api, "open_dataset", counting)
    monkeypatch.setattr(xr, "open_dataset", counting)
    evaluation = build_ensembles(tmp_path, "cfg", "test")
    assert sorted(opened) == ["seed1", "seed2"]
    assert evaluation.summary["seeds"] == [1, 2]
    mean = xr.load_dataset(tmp_path / "cfg" / "ensemble" / "predictions_test.nc")["qsim"].values
    expected = (sims[1].astype(np.float64) + sims[2]) / 2
    np.testing.assert_allclose(mean, expected.astype(np.float32), rtol=0, atol=0)
