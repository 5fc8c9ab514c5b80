"""Sequence-to-one (the paper) vs sequence-to-sequence training of the EA-LSTM, same seed.

Trains both ways on the real CAMELS-US sample in ../shared (configs/camels_sample_ealstm.yml),
evaluates the test period with `ealstm.evaluation.run.evaluate_run`, and reports for each arm:
median/mean test NSE, wall time (training and evaluation), training compute in LSTM steps
(samples x window length, summed over epochs: a machine-independent measure), and the training
time per epoch per basin-year.

    .venv/bin/python benchmarks/bench_seq2seq.py                       # both arms, paper budget
    .venv/bin/python benchmarks/bench_seq2seq.py --s2o-run runs/camels_sample_ealstm   # reuse

`--s2o-run` reuses a finished sequence-to-one run (e.g. the one `ealstm train
configs/camels_sample_ealstm.yml` wrote) instead of training it again; `--s2s-run` likewise a
finished sequence-to-sequence run (e.g. of `configs/camels_sample_ealstm_seq2seq.yml`), which
must have the candidate's window, last n, batch, epochs, learning rates and the same seed.
The sequence-to-sequence arm (`--s2s`, chosen on a validation period by `select_seq2seq.py`)
trains for the most epochs whose compute stays within the sequence-to-one run's divided by
`--ratio` (default 20).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from ealstm.config import load_config, load_run_config
from ealstm.evaluation.run import evaluate_run
from ealstm.io import save_json, write_text
from ealstm.training.loop import train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from select_seq2seq import (  # noqa: E402
    Candidate,
    epochs_for_budget,
    overrides,
    reference_steps,
    training_cost,
)

ROOT = Path(__file__).resolve().parents[1]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=ROOT / "configs" / "camels_sample_ealstm.yml")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "bench_seq2seq")
    p.add_argument("--s2o-run", type=Path, default=None, help="finished seq-to-one run to reuse")
    p.add_argument("--s2s-run", type=Path, default=None,
                   help="finished seq-to-seq run of the --s2s setting to reuse")
    p.add_argument("--s2o-epochs", type=int, default=30)
    p.add_argument("--s2s", type=Candidate.parse, default=Candidate.parse("w269_n365_b4_lr0.001"),
                   help="seq-to-seq setting w<warm-up>_n<last n>_b<batch>_lr<peak lr> "
                        "(chosen by select_seq2seq.py on the validation period)")
    p.add_argument("--ratio", type=float, default=20.0,
                   help="seq-to-seq epochs = the most within seq2one compute / ratio")
    p.add_argument("--set", action="append", default=[], help="override for both arms")
    p.add_argument("--note", default="", help="text for the results file (e.g. where runs ran)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "seq2seq")
    return p.parse_args()


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
        **training_cost(run_dir),
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


def check_same_setting(run_dir: Path, expected) -> None:
    """Refuse to report a reused run under a setting it was not trained with."""
    cfg = load_run_config(run_dir)
    keys = [("data", "seq_length"), ("train", "predict_last_n"), ("train", "batch_size"),
            ("train", "epochs"), ("train", "learning_rate"), ("train", "seed"),
            ("train", "loss"), ("model", "hidden_size")]
    differ = [f"{a}.{b}" for a, b in keys
              if getattr(getattr(cfg, a), b) != getattr(getattr(expected, a), b)]
    if differ:
        raise SystemExit(f"bench_seq2seq: {run_dir} differs from the --s2s setting in {differ}")


def _argv() -> str:
    """This call's arguments without ``--note``, quoted for a shell."""
    argv, skip = [], False
    for arg in sys.argv[1:]:
        if skip or arg == "--note" or arg.startswith("--note="):
            skip = arg == "--note"
            continue
        argv.append(arg)
    return shlex.join(argv)


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
    rows = ["| arm | window | last n | batch | epochs | gradient steps | median NSE | mean NSE | "
            "train LSTM steps | train s | s/epoch/basin-year | eval s |", "|---" * 12 + "|"]
    for name, r in (("seq2one", s2o), ("seq2seq", s2s)):
        rows.append(f"| {name} | {r['seq_length']} | {r['predict_last_n']} | "
                    f"{r['batch_size']} | {r['epochs']} | {r['gradient_steps']} | "
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
            + (f"\n{args.note}\n" if args.note else "")
            + f"\nReproduce: `.venv/bin/python benchmarks/bench_seq2seq.py {_argv()}`\n")
    write_text(args.out.with_suffix(".md"), text)
    print(text)


def main() -> None:
    args = parse_args()
    base = load_config(args.config, args.set)
    s2o_dir = args.s2o_run or run_arm("seq2one", args.config,
                                      [f"train.epochs={args.s2o_epochs}", *args.set],
                                      args.runs_dir)
    epochs = epochs_for_budget(base, args.s2s, reference_steps(Path(s2o_dir)) / args.ratio)
    s2s_overrides = [*args.set, *overrides(args.s2s, epochs)]
    if args.s2s_run is not None:
        check_same_setting(args.s2s_run, load_config(args.config, s2s_overrides))
    s2s_dir = args.s2s_run or run_arm("seq2seq", args.config, s2s_overrides, args.runs_dir)
    report({"seq2one": measure(Path(s2o_dir)), "seq2seq": measure(s2s_dir)}, args)
    print(json.dumps({"out": str(args.out)}))


if __name__ == "__main__":
    main()
