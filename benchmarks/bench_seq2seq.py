"""Sequence-to-one (the paper) vs sequence-to-sequence training of the EA-LSTM, same seed.

Trains both ways on the real CAMELS-US sample in ../shared (configs/camels_sample_ealstm.yml),
evaluates the test period with `ealstm.evaluation.run.evaluate_run`, and reports for each arm:
median/mean test NSE, wall time (training and evaluation), training compute in LSTM steps
(samples x window length, summed over epochs: a machine-independent measure), and the training
time per epoch per basin-year.

    .venv/bin/python benchmarks/bench_seq2seq.py                       # both arms, paper budget
    .venv/bin/python benchmarks/bench_seq2seq.py --s2o-run runs/camels_sample_ealstm   # reuse

`--s2o-run` reuses a finished sequence-to-one run (e.g. the one `ealstm train
configs/camels_sample_ealstm.yml` wrote) instead of training it again.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import pandas as pd
import torch

from ealstm.config import load_config, load_run_config
from ealstm.evaluation.run import evaluate_run
from ealstm.io import save_json, write_text
from ealstm.training.loop import train

ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=ROOT / "configs" / "camels_sample_ealstm.yml")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "bench_seq2seq")
    p.add_argument("--s2o-run", type=Path, default=None, help="finished seq-to-one run to reuse")
    p.add_argument("--s2o-epochs", type=int, default=30)
    p.add_argument("--s2s-epochs", type=int, default=150)
    p.add_argument("--predict-last-n", type=int, default=365)
    p.add_argument("--s2s-batch-size", type=int, default=16)
    p.add_argument("--set", action="append", default=[], help="override for both arms")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "seq2seq")
    return p.parse_args()


def s2s_overrides(args: argparse.Namespace, seq_length: int) -> list[str]:
    """Window = the paper's 270-day warm-up + predict_last_n days; lr schedule over epochs."""
    e = args.s2s_epochs
    return [f"data.seq_length={seq_length - 1 + args.predict_last_n}",
            f"train.predict_last_n={args.predict_last_n}", f"train.epochs={e}",
            f"train.batch_size={args.s2s_batch_size}",
            f"train.learning_rate={{1: 0.001, {e // 3 + 1}: 0.0005, {2 * e // 3 + 1}: 0.0001}}"]


def run_arm(name: str, config: Path, overrides: list[str], runs_dir: Path) -> Path:
    cfg = load_config(config, [f"name={name}", f"runs_dir={runs_dir}", *overrides])
    run_dir = cfg.run_dir
    done = (run_dir / "checkpoints" / f"epoch_{cfg.train.epochs:03d}.pt").is_file()
    if not done:
        train(cfg, resume=(run_dir / "checkpoints").is_dir(), progress=False)
    return run_dir


def measure(run_dir: Path) -> dict:
    cfg = load_run_config(run_dir)
    start = time.perf_counter()
    result = evaluate_run(run_dir, "test")
    eval_s = time.perf_counter() - start
    log = pd.read_csv(run_dir / "train_log.csv")
    basin_years = _train_basin_years(cfg)
    return {
        "run_dir": str(run_dir), "seq_length": cfg.data.seq_length,
        "predict_last_n": cfg.train.predict_last_n, "epochs": int(log["epoch"].max()),
        "batch_size": cfg.train.batch_size,
        "train_seconds": float(log["seconds"].sum()),
        "train_lstm_steps": int((log["n_samples"] * cfg.data.seq_length).sum()),
        "gradient_steps": int((-(-log["n_samples"] // cfg.train.batch_size)).sum()),
        "seconds_per_epoch_per_basin_year": float(log["seconds"].mean() / basin_years),
        "eval_seconds": eval_s, "median_nse": result.summary["median"],
        "mean_nse": result.summary["mean"], "n_nse_le_0": result.summary["n_nse_le_0"],
        "n_basins": result.summary["n_basins"],
    }


def _train_basin_years(cfg) -> float:
    days = (cfg.data.train_period.end - cfg.data.train_period.start).days + 1
    from ealstm.data.cache import load_basin_arrays

    arrays = load_basin_arrays(cfg.data)
    train = arrays.target[:, arrays.time_slice(cfg.data.train_period)]
    with_data = int((~pd.isna(train)).any(axis=1).sum())
    return with_data * days / 365.25


def report(results: dict, args: argparse.Namespace) -> None:
    s2o, s2s = results["seq2one"], results["seq2seq"]
    results["ratios"] = {
        "train_compute_seq2one_over_seq2seq": s2o["train_lstm_steps"] / s2s["train_lstm_steps"],
        "train_time_seq2one_over_seq2seq": s2o["train_seconds"] / s2s["train_seconds"],
        "median_nse_seq2seq_minus_seq2one": s2s["median_nse"] - s2o["median_nse"],
    }
    results["machine"] = {"cores": os.cpu_count(), "torch": torch.__version__,
                          "python": platform.python_version(),
                          "load_average_end": os.getloadavg()[0],
                          "date": time.strftime("%Y-%m-%d %H:%M")}
    save_json(args.out.with_suffix(".json"), results)
    rows = ["| arm | window | last n | epochs | median NSE | mean NSE | train LSTM steps | "
            "train s | s/epoch/basin-year | eval s |", "|---" * 10 + "|"]
    for name, r in (("seq2one", s2o), ("seq2seq", s2s)):
        rows.append(f"| {name} | {r['seq_length']} | {r['predict_last_n']} | {r['epochs']} | "
                    f"{r['median_nse']:.3f} | {r['mean_nse']:.3f} | {r['train_lstm_steps']:.3g} |"
                    f" {r['train_seconds']:.0f} | {r['seconds_per_epoch_per_basin_year']:.3f} | "
                    f"{r['eval_seconds']:.1f} |")
    ratio = results["ratios"]
    text = (f"# Sequence-to-one vs sequence-to-sequence training (EA-LSTM, NSE*)\n\n"
            f"Real CAMELS-US sample (../shared), `{args.config.name}`, same seed; "
            f"machine: {results['machine']}.\n\n" + "\n".join(rows) +
            f"\n\n* training compute seq2one / seq2seq: "
            f"{ratio['train_compute_seq2one_over_seq2seq']:.1f}x (LSTM steps)\n"
            f"* training wall time seq2one / seq2seq: "
            f"{ratio['train_time_seq2one_over_seq2seq']:.1f}x (shared machine: noisy)\n"
            f"* median NSE seq2seq - seq2one: {ratio['median_nse_seq2seq_minus_seq2one']:+.3f}\n"
            f"\nReproduce: `.venv/bin/python benchmarks/bench_seq2seq.py`\n")
    write_text(args.out.with_suffix(".md"), text)
    print(text)


def main() -> None:
    args = parse_args()
    base = load_config(args.config, args.set)
    s2o_dir = args.s2o_run or run_arm("seq2one", args.config,
                                      [f"train.epochs={args.s2o_epochs}", *args.set],
                                      args.runs_dir)
    s2s_dir = run_arm("seq2seq", args.config, [*args.set, *s2s_overrides(args,
                                                                         base.data.seq_length)],
                      args.runs_dir)
    report({"seq2one": measure(Path(s2o_dir)), "seq2seq": measure(s2s_dir)}, args)
    print(json.dumps({"out": str(args.out)}))


if __name__ == "__main__":
    main()
