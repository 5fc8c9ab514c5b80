"""The offline demo: synthetic CAMELS-US data -> LSTM and EA-LSTM -> test-period metrics.

Runs without network and without ``../shared`` in a few minutes on two CPU cores. The models
are smaller than the paper's (hidden 64, 90-day windows) so that they train quickly; the
configs it writes show the same keys as the paper's configs in ``configs/``.

The learning-rate schedule (1e-2, then 3e-3 from the middle epoch; 10 epochs) was chosen on the
validation years 1999-10..2001-09 of the synthetic data (median NSE 0.72, against 0.16 for the
earlier 3e-3 -> 1e-3 over 6 epochs): the faithful NSE* weights of eq. 13 (raw-discharge s(b))
make the loss about 1/sigma^2 smaller than the earlier standardised-unit weights, so gradient
clipping rarely binds and the short demo budget needs the larger step.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd

from ealstm.config import load_config
from ealstm.data.synthetic.demo import generate_demo_data
from ealstm.evaluation.run import evaluate_run
from ealstm.io import save_csv, save_yaml
from ealstm.training.loop import train

DEMO_MODELS = {
    "lstm_no_static": {"name": "lstm", "use_static": False},
    "ealstm": {"name": "ealstm", "use_static": True},
}


def demo_config(name: str, model: dict[str, Any], out: Path, epochs: int) -> dict[str, Any]:
    """Raw config of one demo model (written next to the runs for the user to read)."""
    return {
        "name": name,
        "runs_dir": str(out / "runs"),
        "data": {
            "data_dir": str(out / "data"),
            "forcings": "maurer_extended",
            "basin_file": str(out / "data" / "basin_list.txt"),
            "train_period": {"start": "2001-10-01", "end": "2008-09-30"},
            "test_period": {"start": "1995-10-01", "end": "1999-09-30"},
            "seq_length": 90,
            "cache_dir": str(out / "cache"),
        },
        "model": {**model, "hidden_size": 64, "dropout": 0.4, "initial_forget_bias": 3.0},
        "train": {"loss": "nse_star", "epochs": epochs, "batch_size": 256, "seed": 111,
                  "learning_rate": {1: 1e-2, max(2, epochs // 2 + 1): 3e-3}},
    }


def run_demo(out: Path, epochs: int | None = None, n_basins: int | None = None,
             progress: bool = True) -> pd.DataFrame:
    """Generate data, train and evaluate the demo models; return the summary table."""
    out = Path(out).resolve()
    epochs = epochs or 10
    if not (out / "data" / "basin_list.txt").is_file():
        generate_demo_data(out / "data", n_basins=n_basins or 12, seed=0)
    rows = []
    for name, model in DEMO_MODELS.items():
        config_path = out / "configs" / f"{name}.yml"
        save_yaml(config_path, demo_config(name, model, out, epochs))
        cfg = load_config(config_path)
        start = time.perf_counter()
        resume = (cfg.run_dir / "checkpoints").is_dir()
        run_dir = cfg.run_dir if _done(cfg) else train(cfg, resume=resume, progress=progress)
        result = evaluate_run(run_dir, "test")
        s = result.summary
        rows.append({"model": name, "basins": s["n_basins"], "mean_nse": round(s["mean"], 3),
                     "median_nse": round(s["median"], 3), "n_nse_le_0": s["n_nse_le_0"],
                     "seconds": round(time.perf_counter() - start, 1)})
    table = pd.DataFrame(rows)
    save_csv(out / "summary_test.csv", table, index=False)
    return table


def _done(cfg: Any) -> bool:
    """Tell whether the run already holds the checkpoint of its last epoch."""
    return (cfg.run_dir / "checkpoints" / f"epoch_{cfg.train.epochs:03d}.pt").is_file()
