"""Shared fixtures: the real CAMELS-US sample in ../shared (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    """Tiny test models run faster, and steadier on a shared 2-core CI box, on one thread."""
    import torch

    torch.set_num_threads(1)


SHARED_CAMELS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "camels_us"


@pytest.fixture(scope="session")
def shared_camels() -> Path:
    """Root of the real CAMELS-US subset in ``../shared/data/camels_us``."""
    if not SHARED_CAMELS.is_dir():
        pytest.skip(f"real CAMELS-US sample not found at {SHARED_CAMELS} (../shared is absent)")
    return SHARED_CAMELS


@pytest.fixture(scope="session")
def demo_camels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic CAMELS-US tree (4 basins, 1995-2003) written once per session."""
    from ealstm.data.synthetic.demo import generate_demo_data

    out = tmp_path_factory.mktemp("demo_camels")
    return generate_demo_data(out, n_basins=4, start="1995-10-01", end="2003-09-30", seed=0)


def tiny_run_config(data_dir: Path, runs_dir: Path, name: str = "tiny", n_basins: int = 4,
                    model: dict | None = None, **train: object) -> dict:
    """Raw config of a seconds-long run on the synthetic tree (seq 10, hidden 8)."""
    from ealstm.data.readers.camels_us import read_basin_list

    basins = read_basin_list(data_dir / "basin_list.txt")[:n_basins]
    return {
        "name": name,
        "runs_dir": str(runs_dir),
        "data": {"data_dir": str(data_dir), "basins": basins, "forcings": "maurer_extended",
                 "train_period": {"start": "2000-10-01", "end": "2001-09-30"},
                 "validation_period": {"start": "1999-10-01", "end": "2000-09-30"},
                 "test_period": {"start": "1998-10-01", "end": "1999-09-30"},
                 "seq_length": 10, "cache_dir": str(runs_dir / "cache")},
        "model": model or {"name": "ealstm", "hidden_size": 8, "dropout": 0.4},
        "train": {"epochs": 2, "batch_size": 64, "seed": 7, **train},
    }


@pytest.fixture(scope="session")
def tiny_ealstm_run(demo_camels: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run directory of an EA-LSTM trained for 2 epochs on the 4 synthetic basins.

    Shared by the analysis tests: treat it as read-only (write into ``tmp_path`` copies).
    """
    from ealstm.config import parse_config
    from ealstm.training.loop import train

    runs = tmp_path_factory.mktemp("tiny_runs")
    return train(parse_config(tiny_run_config(demo_camels, runs)), progress=False)
