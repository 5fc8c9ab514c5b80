"""neuralhydrology 1.13 side by side with `regional_dev.py` at the same wall-time budget (issue 14).

The same basins, periods, machine, threads and budget as ``regional_dev.py``; the NH config is
translated from the same recipe of ``configs/caravan_dev_candidates.yml`` (resolved through
ealstm's config, so the window, predict_last_n, batch, hidden size, dropout, forget-gate bias,
gradient clipping, seed, epochs and learning-rate schedule are the recipe's), with NH's
EA-LSTM (``model: ealstm``), its NSE loss (= NSE*, per-basin std) and its Caravan loader
(``dataset: caravan``). ealstm's schedule ``{1: a, k: b}`` is NH's ``{0: a, k: b}`` (NH sets
key 0 before the first epoch and key k at the start of epoch k). Epochs: with
``predict_last_n = n > 1`` an ealstm epoch visits every n-th day of each basin, an NH epoch every
day (n times the windows; issue 14 estimated ~15 h per such epoch on 2 cores), so NH's
``max_updates_per_epoch`` is set to the updates of an ealstm epoch (106 for s2s_b16_step on the
241 basins); planned epochs and schedules then mean the same gradient steps. Sequence-to-one
recipes are not capped.

neuralhydrology is NOT in the project's venv; install it into a separate one (only PyPI is
reachable: torch 2.13.0 is the local CPU wheel; pinning it again keeps pip from replacing it;
this resolved to pandas 3.1.1, numpy 2.4.6, xarray 2026.9.0)::

    python3 -m venv /tmp/nh-venv
    /tmp/nh-venv/bin/pip install torch==2.13.0
    /tmp/nh-venv/bin/pip install neuralhydrology==1.13.0 torch==2.13.0

and run this script with the project's Python (it only starts NH in that venv), one recipe and
60 minutes per call, e.g.::

    export PYTHONPATH=$PWD OMP_NUM_THREADS=1
    .venv/bin/python benchmarks/regional_nh.py --nh-python /tmp/nh-venv/bin/python \
        --recipes s2s_b16_step --threads 2 --cpus 0 1 --curve-every 1000 --no-train-score \
        --eval-seq-length 180 --out benchmarks/results/regional_nh

then pass ``--nh-result benchmarks/results/regional_nh.json`` to ``regional_dev.py``.
``--dry-run`` writes the NH configs and the data mirror without running NH; ``--skip-done``
scores a recipe trained before (``<runs-dir>/nh_<recipe>.budget.json``) without training it
again, reading back the epochs already scored (e.g. to add marks or the training period later).

Smoke run (5 basins, tiny model, 2-minute budget, ~3.5 min in all; do not commit its output)::

    .venv/bin/python benchmarks/regional_nh.py --nh-python /tmp/nh-venv/bin/python --basins 5 \
        --budget-min 2 --marks 0.5 1 2 --recipes paper s2s_b16_step --set model.hidden_size=8 \
        --threads 1 --runs-dir /tmp/nh_smoke --out /tmp/nh_smoke/regional_nh

Data: NH's ``Caravan`` dataset reads ``timeseries/netcdf/<source>/<gauge_id>.nc``
(``load_caravan_timeseries(..., filetype="netcdf")``), while the development set ships CSV
only, so the script writes a mirror once (``<runs-dir>/caravan``: the attributes linked, every
CSV converted to netCDF with a ``date`` dimension; its time is reported, not charged). NH loads
the data inside its budget.

Timing: training (``nh-run train``) runs in a child stopped once the budget is spent; NH does
not validate during training (``validate_every`` empty), so the learning curve is scored
afterwards, outside the budget, with NH's tester (as ``nh-run evaluate``, one process per
period, batch ``--eval-batch``): validation every ``--curve-every`` epochs, at the mark epochs
and at the last epoch. Test median/mean NSE at each mark use the last epoch whose
``model_epochNNN.pt`` was written before it (a file written after the budget stopped NH is
ignored); the training period is scored at the last mark (unless ``--no-train-score``).

Scoring cost: NH scores every day as the last day of its own ``seq_length`` window (for
sequence-to-one ealstm's ``evaluation.chunk: 1``; for sequence-to-sequence ealstm scores chunks
of ``predict_last_n`` days after a warm-up of at least ``seq_length - predict_last_n`` days:
``predict_last_n`` times fewer LSTM steps). NH's EA-LSTM, hidden 256, 1 thread on the busy
2-core machine: 2.5 ms per scored day with 270-day windows, 5.5 ms with 544 days, i.e. per
scored epoch on the 241 basins ~7 / 16 min (validation), 37 / 81 min (test), 26 / 56 min
(training period). To bound it: ``--curve-every 1000`` (validation only at the marks and the
last epoch), ``--no-train-score``, and ``--eval-seq-length 180`` (every day after the 179-day
warm-up that ealstm's chunks guarantee at least: 3x cheaper for 544-day windows; its metrics
files end in ``_seq180``, the result JSON says ``eval_seq_length``).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import xarray as xr
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _budget import (  # noqa: E402
    SELECT_TRAIN,
    TEST,
    VALIDATION,
    epoch_at,
    median_mean,
    run_with_budget,
)
from regional_dev import ROOT, child_env, load_recipes, selection_overrides  # noqa: E402

from ealstm.config import RunConfig, load_config  # noqa: E402
from ealstm.io import load_json, save_csv, save_json, write_text  # noqa: E402


def nh_date(iso: str) -> str:
    """ISO date -> NH's ``DD/MM/YYYY``."""
    return pd.Timestamp(iso).strftime("%d/%m/%Y")


def write_mirror(data_dir: Path, basins: list[str], mirror: Path) -> float:
    """Caravan layout with netCDF time series for NH; returns the seconds it took."""
    start = time.perf_counter()
    (mirror / "timeseries").mkdir(parents=True, exist_ok=True)
    links = {"attributes": data_dir / "attributes", "timeseries/csv": data_dir / "timeseries/csv"}
    for name, source in links.items():  # csv too, for NH versions that read it
        if not (mirror / name).exists():
            (mirror / name).symlink_to(source)
    for basin in basins:
        source = basin.split("_")[0]
        target = mirror / "timeseries" / "netcdf" / source / f"{basin}.nc"
        if target.is_file():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        frame = pd.read_csv(data_dir / "timeseries" / "csv" / source / f"{basin}.csv",
                            parse_dates=["date"]).set_index("date")
        tmp = target.with_name(f".{target.name}.tmp")
        xr.Dataset.from_dataframe(frame).to_netcdf(tmp)
        tmp.replace(target)
    return time.perf_counter() - start


def read_targets(data_dir: Path, basins: list[str], target: str) -> dict[str, pd.Series]:
    """The target series of every basin (to size NH's epochs like ealstm's)."""
    return {b: pd.read_csv(data_dir / "timeseries" / "csv" / b.split("_")[0] / f"{b}.csv",
                           usecols=["date", target], parse_dates=["date"],
                           index_col="date")[target] for b in basins}


def nh_schedule(schedule: dict[int, float]) -> dict[int, float]:
    """ealstm's 1-based schedule as NH's (key 0 = the rate of the first epoch)."""
    return {(0 if epoch == 1 else epoch): rate for epoch, rate in schedule.items()}


def epoch_updates(targets: dict[str, pd.Series], cfg: RunConfig) -> int | None:
    """Updates of one ealstm epoch, for NH's ``max_updates_per_epoch`` (None: sequence-to-one).

    With ``predict_last_n = n > 1`` ealstm visits every n-th sample day of each basin per epoch
    (``thin_index``), NH every day; a sample day is one whose last n days (within the training
    period) hold an observed target. Without the cap an NH epoch would be ~n times longer.
    """
    n = cfg.train.predict_last_n
    if n <= 1:
        return None
    windows = 0.0
    for series in targets.values():
        observed = series.loc[SELECT_TRAIN[0]:SELECT_TRAIN[1]].notna().astype(int)
        windows += (observed.rolling(n, min_periods=1).sum() > 0).sum() / n
    return max(1, math.ceil(windows / cfg.train.batch_size))


def nh_config(cfg: RunConfig, basin_file: Path, mirror: Path, run_dir: Path,
              n_basins: int, updates: int | None) -> dict:
    """The NH config equivalent to an ealstm run config (selection periods).

    ``validate_n_random_basins`` must name every basin: NH's default (0) makes
    ``nh-run evaluate --period validation`` score no basin at all (an empty metrics file).
    """
    periods = {"train": SELECT_TRAIN, "validation": VALIDATION, "test": TEST}
    dates = {f"{p}_{k}_date": nh_date(v[i]) for p, v in periods.items()
             for i, k in enumerate(("start", "end"))}
    return {
        "experiment_name": cfg.name, "run_dir": str(run_dir),
        "train_basin_file": str(basin_file), "validation_basin_file": str(basin_file),
        "test_basin_file": str(basin_file), **dates,
        "dataset": "caravan", "data_dir": str(mirror),
        "dynamic_inputs": list(cfg.data.dynamic_inputs), "target_variables": [cfg.data.target],
        "static_attributes": list(cfg.data.static_attributes),
        "clip_targets_to_zero": [cfg.data.target],  # ealstm's evaluation.clip_negative
        "model": "ealstm", "head": "regression", "output_activation": "linear",
        "hidden_size": cfg.model.hidden_size, "initial_forget_bias":
        cfg.model.initial_forget_bias, "output_dropout": cfg.model.dropout,
        "seq_length": cfg.data.seq_length, "predict_last_n": cfg.train.predict_last_n,
        "batch_size": cfg.train.batch_size, "epochs": cfg.train.epochs,
        "loss": "NSE" if cfg.train.loss == "nse_star" else "MSE", "optimizer": "Adam",
        "learning_rate": nh_schedule(cfg.train.learning_rate),
        "clip_gradient_norm": cfg.train.clip_grad_norm, "seed": cfg.train.seed,
        "max_updates_per_epoch": updates, "num_workers": 0, "device": "cpu",
        "validate_every": None, "validate_n_random_basins": n_basins, "metrics": ["NSE"],
        "save_weights_every": 1, "log_interval": 50, "log_tensorboard": False,
        "log_n_figures": 0, "save_validation_results": False,
    }


def nh_run_dir(parent: Path, name: str, before: set[Path]) -> Path:
    """The folder this ``nh-run train`` made (``<experiment_name>_<ddmm_HHMMSS>``).

    Folders of earlier runs (``before``) are left out: sorting names would pick
    ``s2s_b16_step_t1_*`` for ``s2s_b16_step`` and mixes months (``ddmm``).
    """
    found = sorted(p for p in set(parent.glob(f"{name}_*")) - before
                   if p.name[len(name) + 1:].replace("_", "").isdigit())
    if len(found) != 1:
        raise SystemExit(f"regional_nh: expected one new NH run folder {parent}/{name}_*, "
                         f"found {[p.name for p in found]}; see nh_{name}.train.log")
    return found[0]


def nh_curve(run_dir: Path, start: float, stopped_s: float | None) -> pd.DataFrame:
    """Epochs whose weights were written, with their wall seconds since the start.

    A file written after the budget stopped the run (``stopped_s``) may be cut off: left out.
    """
    rows = [{"epoch": int(p.stem.removeprefix("model_epoch")), "wall_s": p.stat().st_mtime
             - start} for p in run_dir.glob("model_epoch*.pt")]
    curve = pd.DataFrame(rows, columns=["epoch", "wall_s"]).sort_values("epoch")
    if stopped_s is not None:
        curve = curve[curve["wall_s"] < stopped_s]
    return curve.assign(budget_s=curve["wall_s"]).reset_index(drop=True)


#: ``nh-run evaluate`` of several epochs in one process (NH's start-up and data loading once),
#: with config changes as JSON: another batch size (the scores do not depend on it: eval mode;
#: NH's EA-LSTM steps through time in Python, so a training batch of 16 makes evaluation slow)
#: and, with ``--eval-seq-length``, shorter windows.
EVALUATE = """import json, sys
from pathlib import Path
from neuralhydrology.evaluation import get_tester
from neuralhydrology.utils.config import Config
run_dir, period = Path(sys.argv[1]), sys.argv[2]
cfg = Config(run_dir / "config.yml")
cfg.update_config(json.loads(sys.argv[3]))
tester = get_tester(cfg=cfg, run_dir=run_dir, period=period, init_model=True)
for epoch in sys.argv[4:]:
    tester.evaluate(epoch=int(epoch), save_results=True, metrics=cfg.metrics)
"""


def eval_changes(args) -> tuple[dict, str]:
    """Config changes of NH's evaluation and the suffix of its metrics files."""
    if not args.eval_seq_length:
        return {"batch_size": args.eval_batch}, ""
    return ({"batch_size": args.eval_batch, "seq_length": args.eval_seq_length,
             "predict_last_n": 1}, f"_seq{args.eval_seq_length}")


def nh_scores(run_dir: Path, period: str, epochs: set[int], args, env: dict) -> dict:
    """NH's evaluation of ``epochs`` on ``period``: ``{epoch: median/mean NSE over basins}``."""
    changes, suffix = eval_changes(args)

    def path(epoch: int, end: str = suffix) -> Path:
        return run_dir / period / f"model_epoch{epoch:03d}" / f"{period}_metrics{end}.csv"

    todo = [e for e in sorted(epochs) if not path(e).is_file()]
    if todo:
        with open(run_dir / f"evaluate_{period}.log", "a") as log:
            subprocess.run([str(args.nh_python), "-c", EVALUATE, str(run_dir), period,
                            json.dumps(changes), *map(str, todo)], check=True, env=env,
                           stdout=log, stderr=subprocess.STDOUT)
        for epoch in todo:  # NH writes <period>_metrics.csv whatever the windows
            path(epoch, "").replace(path(epoch))
    scores = {}
    for epoch in sorted(epochs):
        table = pd.read_csv(path(epoch), index_col=0)
        if "NSE" not in table or table.empty:
            raise SystemExit(f"regional_nh: {path(epoch)} scores no basin (columns "
                             f"{list(table)}); see {run_dir / f'evaluate_{period}.log'}")
        scores[int(epoch)] = {"epoch": int(epoch), **median_mean(table["NSE"])}
    return scores


def score_recipe(run_dir: Path, curve: pd.DataFrame, args, env) -> dict:
    """Validation curve, test at the marks and train at the last mark (outside the budget)."""
    start = time.perf_counter()
    marks = {f"{m:g}": epoch_at(curve, m * 60) for m in args.marks}
    every = set(curve["epoch"][curve["epoch"] % args.curve_every == 0]) | set(marks.values())
    every |= set(curve["epoch"].tail(1))  # the last epoch within the budget
    val = nh_scores(run_dir, "validation", every - {None}, args, env)
    curve = curve.assign(val_median_nse=curve["epoch"].map({e: s["median"]
                                                            for e, s in val.items()}))
    test = nh_scores(run_dir, "test", set(marks.values()) - {None}, args, env)
    last = marks[f"{max(args.marks):g}"]
    train = (None if last is None or not args.train_score
             else nh_scores(run_dir, "train", {last}, args, env)[last])
    return {"curve": curve.to_dict("records"), "train": train,
            "marks": {m: test.get(e, {"epoch": None}) for m, e in marks.items()},
            "eval_s": round(time.perf_counter() - start, 1)}


def train_nh(name: str, config_path: Path, parent: Path, args, env: dict) -> dict:
    """``nh-run train`` under the budget; the run folder, its timing and its epoch curve."""
    before = set(parent.glob(f"{name}_*"))
    budget_s = args.budget_min * 60
    log = args.runs_dir / f"nh_{name}.train.log"
    run = run_with_budget([str(Path(args.nh_python).parent / "nh-run"), "train",
                           "--config-file", str(config_path)], budget_s, log, env=env,
                          cpus=args.cpus)
    run_dir = nh_run_dir(parent, name, before)
    curve = nh_curve(run_dir, run.start, budget_s if run.stopped else None)
    if not run.stopped and run.returncode != 0:
        print(f"regional_nh: {name} failed (exit {run.returncode}); see {log}", file=sys.stderr)
    return {"run_dir": str(run_dir), "wall_s": round(run.seconds),
            "stopped_by_budget": run.stopped, "returncode": run.returncode,
            "peak_rss_mb": round(run.peak_rss_mb, 1),
            "epochs_done": int(curve["epoch"].max()) if len(curve) else 0,
            "curve": curve.to_dict("records")}


def run_recipe(recipe, args, mirror: Path, targets: dict[str, pd.Series]) -> dict:
    """Write the NH config, train under the budget, score; returns the recipe's result.

    The training result is kept in ``<runs-dir>/nh_<recipe>.budget.json``: with
    ``--skip-done`` a recipe trained before is only scored (epochs already scored are read back).
    """
    cfg = load_config(recipe.config, selection_overrides(recipe, args, args.basin_override))
    parent = args.runs_dir / "nh_runs"
    parent.mkdir(parents=True, exist_ok=True)
    config_path = args.runs_dir / f"nh_{recipe.name}.yml"
    updates = epoch_updates(targets, cfg)
    planned = {"config": str(config_path), "planned_epochs": cfg.train.epochs,
               "max_updates_per_epoch": updates}
    done = args.runs_dir / f"nh_{recipe.name}.budget.json"
    env = child_env(args.threads)
    env.pop("PYTHONPATH")  # NH's venv, not this worktree
    if args.skip_done and done.is_file() and not args.dry_run:
        trained = load_json(done)
    else:
        write_text(config_path, yaml.safe_dump(nh_config(cfg, args.basin_file, mirror, parent,
                                                         len(targets), updates), sort_keys=False))
        if args.dry_run:
            return planned
        trained = train_nh(cfg.name, config_path, parent, args, env)
        save_json(done, trained)
    curve = pd.DataFrame(trained["curve"], columns=["epoch", "wall_s", "budget_s"])
    return {**planned, **trained, **score_recipe(Path(trained["run_dir"]), curve, args, env)}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nh-python", type=Path, help="python of the venv with neuralhydrology")
    p.add_argument("--candidates", type=Path,
                   default=ROOT / "configs" / "caravan_dev_candidates.yml")
    p.add_argument("--recipes", nargs="+", default=["paper"], help="candidates to translate")
    p.add_argument("--budget-min", type=float, default=60.0)
    p.add_argument("--marks", nargs="+", type=float, default=[15.0, 30.0, 60.0])
    p.add_argument("--curve-every", type=int, default=5, help="validation curve stride (epochs)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cpus", nargs="+", type=int)
    p.add_argument("--basins", type=int, help="only the first N basins (smoke runs)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="ealstm override applied before translating, as in regional_dev.py")
    p.add_argument("--eval-batch", type=int, default=256,
                   help="batch size of NH's evaluations (not of its training)")
    p.add_argument("--eval-seq-length", type=int, help="score every day with windows of this "
                   "length instead of the recipe's (cheaper for sequence-to-sequence recipes)")
    p.add_argument("--no-train-score", dest="train_score", action="store_false",
                   help="do not score the training period (NH's most costly evaluation)")
    p.add_argument("--skip-done", action="store_true",
                   help="score recipes trained before (nh_<recipe>.budget.json) without training")
    p.add_argument("--dry-run", action="store_true", help="write configs and mirror only")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "regional_nh")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "regional_nh")
    args = p.parse_args()
    args.runs_dir = args.runs_dir.resolve()
    if max(args.marks) > args.budget_min:
        p.error(f"marks {args.marks} go beyond the budget of {args.budget_min} min")
    if not args.dry_run and (args.nh_python is None or not args.nh_python.is_file()):
        p.error("--nh-python must name the python of a venv with neuralhydrology==1.13.0 "
                "(see this script's docstring), or pass --dry-run")
    return args


def main() -> None:
    args = parse_args()
    recipes = load_recipes(args.candidates, args.recipes)
    cfg = load_config(recipes[0].config)
    basins = Path(cfg.data.basin_file).read_text().split()[: args.basins or None]
    args.basin_file = args.runs_dir / "basins.txt"
    args.basin_file.parent.mkdir(parents=True, exist_ok=True)
    args.basin_file.write_text("\n".join(basins) + "\n")
    args.basin_override = [f"data.basin_file={args.basin_file}"]
    mirror_s = write_mirror(Path(cfg.data.data_dir), basins, args.runs_dir / "caravan")
    targets = read_targets(Path(cfg.data.data_dir), basins, cfg.data.target)
    results = {r.name: run_recipe(r, args, args.runs_dir / "caravan", targets)
               for r in recipes}
    curves = [pd.DataFrame(r.get("curve", [])).assign(recipe=n) for n, r in results.items()]
    save_csv(args.out.with_name(args.out.name + "_curves.csv"), pd.concat(curves), index=False)
    save_json(args.out.with_suffix(".json"), {
        "neuralhydrology": "1.13.0", "budget_min": args.budget_min, "marks_min": args.marks,
        "threads": args.threads, "basins": len(basins), "netcdf_mirror_s": round(mirror_s, 1),
        "eval_seq_length": args.eval_seq_length,
        "tested": results, "dry_run": args.dry_run})


if __name__ == "__main__":
    main()
