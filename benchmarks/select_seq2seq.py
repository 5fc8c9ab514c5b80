"""Choose the sequence-to-sequence setting for `bench_seq2seq.py` on a validation period.

Every candidate (warm-up, predict_last_n, batch size, peak learning rate) gets the same training
compute: ``1 / ratio`` of the sequence-to-one reference run's LSTM steps (samples x window
length, summed over epochs), converted into a number of epochs on the full training period. The
candidates are trained on the first years of the training period and ranked by the median NSE of
the last years (the validation period), so that the test period stays unseen until the chosen
setting is run by `bench_seq2seq.py`.

    .venv/bin/python benchmarks/select_seq2seq.py --s2o-run runs/camels_sample_ealstm \
        --workers 2 --out benchmarks/results/select_seq2seq
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ealstm.config import load_config, load_run_config
from ealstm.data.cache import load_basin_arrays
from ealstm.evaluation.run import evaluate_run
from ealstm.io import save_json, write_text
from ealstm.report.markdown import markdown_table
from ealstm.training.loop import train

ROOT = Path(__file__).resolve().parents[1]
#: Training years used for fitting during the selection; the rest of the period validates.
SELECT_TRAIN_END, VALID_START = "2010-09-30", "2010-10-01"


@dataclass(frozen=True)
class Candidate:
    """One sequence-to-sequence setting; the window is ``warmup + predict_last_n`` days."""

    warmup: int
    predict_last_n: int
    batch_size: int
    lr: float

    @property
    def name(self) -> str:
        return f"w{self.warmup}_n{self.predict_last_n}_b{self.batch_size}_lr{self.lr:g}"

    @property
    def window(self) -> int:
        return self.warmup + self.predict_last_n

    @classmethod
    def parse(cls, name: str) -> Candidate:
        """Inverse of :attr:`name`, e.g. ``w269_n365_b4_lr0.001``."""
        match = re.fullmatch(r"w(\d+)_n(\d+)_b(\d+)_lr([0-9.e-]+)", name)
        if match is None:
            raise argparse.ArgumentTypeError(f"candidate {name!r} is not w<warmup>_n<last "
                                             f"n>_b<batch>_lr<peak lr>, e.g. w269_n365_b4_lr0.001")
        w, n, b, lr = match.groups()
        return cls(int(w), int(n), int(b), float(lr))


#: Warm-up 269 = the paper's 270-day input window before the first predicted day.
CANDIDATES = (
    Candidate(269, 90, 8, 1e-3), Candidate(269, 90, 4, 1e-3), Candidate(269, 90, 16, 2e-3),
    Candidate(269, 30, 8, 1e-3), Candidate(179, 90, 8, 1e-3), Candidate(269, 365, 4, 1e-3),
)


def lr_schedule(epochs: int, lr: float) -> dict[int, float]:
    """Peak ``lr`` for 60 % of the epochs, half of it to 85 %, a tenth for the rest."""
    return {1: lr, max(2, round(0.6 * epochs) + 1): lr / 2,
            max(3, round(0.85 * epochs) + 1): lr / 10}


def windows_per_epoch(cfg, predict_last_n: int) -> int:
    """Training windows of one epoch on the full training period (each day once)."""
    arrays = load_basin_arrays(cfg.data)
    target = arrays.target[:, arrays.time_slice(cfg.data.train_period)]
    days = np.isfinite(target).sum(axis=1)
    return int(np.ceil(days / predict_last_n).sum())


def epochs_for_budget(cfg, cand: Candidate, budget: float) -> int:
    """The most epochs whose LSTM steps stay within ``budget`` on the full training period."""
    return max(1, math.floor(budget / (windows_per_epoch(cfg, cand.predict_last_n) * cand.window)))


def overrides(cand: Candidate, epochs: int) -> list[str]:
    """`--set` strings that turn the sequence-to-one config into the candidate."""
    schedule = ", ".join(f"{k}: {v:g}" for k, v in lr_schedule(epochs, cand.lr).items())
    return [f"data.seq_length={cand.window}", f"train.predict_last_n={cand.predict_last_n}",
            f"train.epochs={epochs}", f"train.batch_size={cand.batch_size}",
            f"train.learning_rate={{{schedule}}}"]


def selection_split() -> list[str]:
    """Fit on the training period up to SELECT_TRAIN_END, validate on the rest of it."""
    return [f"data.train_period.end={SELECT_TRAIN_END}",
            f"data.validation_period={{start: {VALID_START}, end: 2013-09-30}}",
            "evaluation.periods=[validation]"]


def run_candidate(config: Path, cand: Candidate, epochs: int, runs_dir: Path,
                  threads: int) -> dict:
    """Train one candidate on the selection split and score the validation period."""
    torch.set_num_threads(threads)
    cfg = load_config(config, [f"name={cand.name}", f"runs_dir={runs_dir}",
                               *overrides(cand, epochs), *selection_split()])
    start = time.perf_counter()
    done = (cfg.run_dir / "checkpoints" / f"epoch_{epochs:03d}.pt").is_file()
    if not done:
        train(cfg, resume=(cfg.run_dir / "checkpoints").is_dir(), progress=False)
    result = evaluate_run(cfg.run_dir, "validation")
    log = pd.read_csv(cfg.run_dir / "train_log.csv")
    return {**asdict(cand), "name": cand.name, "epochs": epochs, **training_cost(cfg.run_dir),
            "wall_seconds": time.perf_counter() - start,
            "final_train_loss": float(log["train_loss"].iloc[-1]),
            "median_nse_validation": result.summary["median"],
            "mean_nse_validation": result.summary["mean"]}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=ROOT / "configs" / "camels_sample_ealstm.yml")
    ref = p.add_mutually_exclusive_group(required=True)
    ref.add_argument("--s2o-run", type=Path, help="the seq-to-one reference run")
    ref.add_argument("--s2o-steps", type=float,
                     help="its LSTM steps instead (epochs x training samples x window), so the "
                          "selection can run while the reference is still training")
    p.add_argument("--ratio", type=float, default=20.0, help="compute reduction to hold")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "select_seq2seq")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    p.add_argument("--candidates", nargs="+", type=Candidate.parse, default=list(CANDIDATES),
                   help="settings to compare, e.g. w269_n365_b4_lr0.001 (default: CANDIDATES)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "select_seq2seq")
    return p.parse_args()


def training_cost(run_dir: Path) -> dict[str, float]:
    """LSTM steps (samples x window), gradient steps and seconds a run trained for."""
    cfg = load_run_config(run_dir)
    log = pd.read_csv(run_dir / "train_log.csv")
    return {"train_lstm_steps": int((log["n_samples"] * cfg.data.seq_length).sum()),
            "gradient_steps": int((-(-log["n_samples"] // cfg.train.batch_size)).sum()),
            "train_seconds": float(log["seconds"].sum())}


def reference_steps(run_dir: Path) -> int:
    """LSTM steps the sequence-to-one reference run trained for."""
    return training_cost(run_dir)["train_lstm_steps"]


def report(rows: list[dict], budget: float, args: argparse.Namespace) -> None:
    table = pd.DataFrame(rows).sort_values("median_nse_validation", ascending=False)
    save_json(args.out.with_suffix(".json"), {"budget_lstm_steps": budget, "ratio": args.ratio,
                                              "candidates": table.to_dict("records")})
    cols = ["name", "epochs", "gradient_steps", "final_train_loss", "median_nse_validation",
            "mean_nse_validation", "train_seconds"]
    text = (f"# Selecting the sequence-to-sequence setting (validation period)\n\n"
            f"Fit {args.config.name}'s training period up to {SELECT_TRAIN_END}, validate on "
            f"{VALID_START}..2013-09-30 (the test period is not used). Every candidate gets "
            f"{budget:.3g} LSTM steps on the full training period (the seq-to-one reference / "
            f"{args.ratio:g}).\n\n" + markdown_table(table[cols], index=False) +
            f"\n\nChosen: `{table.iloc[0]['name']}`.\n\nReproduce: `.venv/bin/python "
            f"benchmarks/select_seq2seq.py {_reference_arg(args)} --ratio {args.ratio:g} "
            f"--workers {args.workers} --threads {args.threads} --runs-dir "
            f"{_relative(args.runs_dir)} --candidates {' '.join(table['name'])} --out "
            f"{_relative(args.out)}`\n")
    write_text(args.out.with_suffix(".md"), text)
    print(text)


def _reference_arg(args: argparse.Namespace) -> str:
    if args.s2o_run is None:
        return f"--s2o-steps {args.s2o_steps:.6g}"
    return f"--s2o-run {args.s2o_run}"


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main() -> None:
    args = parse_args()
    base = load_config(args.config)
    steps = args.s2o_steps if args.s2o_run is None else reference_steps(args.s2o_run)
    budget = steps / args.ratio
    cands = args.candidates
    epochs = [epochs_for_budget(base, c, budget) for c in cands]
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(run_candidate, args.config, c, e, args.runs_dir, args.threads)
                   for c, e in zip(cands, epochs, strict=True)]
        rows = [f.result() for f in futures]
    report(rows, budget, args)
    print(json.dumps({"out": str(args.out)}))


if __name__ == "__main__":
    main()
