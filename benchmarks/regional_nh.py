"""neuralhydrology 1.13 side by side with `regional_dev.py` at the same wall-time budget (issue 14).

The same basins, periods, machine, threads and budget as ``regional_dev.py``; the NH config is
translated from the same recipe of ``configs/caravan_dev_candidates.yml`` (resolved through
ealstm's config, so the window, predict_last_n, batch, hidden size, dropout, forget-gate bias,
gradient clipping, seed, epochs and learning-rate schedule are the recipe's), with NH's
EA-LSTM (``model: ealstm``), its NSE loss (= NSE*, per-basin std) and its Caravan loader
(``dataset: caravan``). ealstm's schedule ``{1: a, k: b}`` is NH's ``{0: a, k: b}`` (NH sets
key 0 before the first epoch and key k at the start of epoch k).

neuralhydrology is NOT in the project's venv; install it into a separate one::

    python -m venv /tmp/nh-venv
    /tmp/nh-venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
    /tmp/nh-venv/bin/pip install neuralhydrology==1.13.0

and run this script with the project's Python (it only starts ``nh-run`` of that venv)::

    export PYTHONPATH=$PWD OMP_NUM_THREADS=1
    .venv/bin/python benchmarks/regional_nh.py --nh-python /tmp/nh-venv/bin/python \
        --recipes paper s2s_b16_step --threads 2 --cpus 0 1 --out benchmarks/results/regional_nh

then pass ``--nh-result benchmarks/results/regional_nh.json`` to ``regional_dev.py``.
``--dry-run`` writes the NH configs and the data mirror without running NH.

Data: NH's ``Caravan`` dataset reads ``timeseries/netcdf/<source>/<gauge_id>.nc``
(``load_caravan_timeseries(..., filetype="netcdf")``), while the development set ships CSV
only, so the script writes a mirror once (``<runs-dir>/caravan``: the attributes linked, every
CSV converted to netCDF with a ``date`` dimension; its time is reported, not charged).

Timing: training (``nh-run train``) runs in a child stopped once the budget is spent; NH does
not validate during training (``validate_every`` empty), so the learning curve is scored
afterwards (``nh-run evaluate --period validation`` every ``--curve-every`` epochs and at the
mark epochs), outside the budget. Test median/mean NSE at each mark use the last epoch whose
``model_epochNNN.pt`` was written before it; NH evaluates every day as the last day of a
``seq_length`` window (ealstm's ``evaluation.chunk: 1``).
"""

from __future__ import annotations

import argparse
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
from ealstm.io import save_csv, save_json, write_text  # noqa: E402


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


def nh_schedule(schedule: dict[int, float]) -> dict[int, float]:
    """ealstm's 1-based schedule as NH's (key 0 = the rate of the first epoch)."""
    return {(0 if epoch == 1 else epoch): rate for epoch, rate in schedule.items()}


def nh_config(cfg: RunConfig, basin_file: Path, mirror: Path, run_dir: Path) -> dict:
    """The NH config equivalent to an ealstm run config (selection periods)."""
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
        "num_workers": 0, "device": "cpu", "validate_every": None, "metrics": ["NSE"],
        "save_weights_every": 1, "log_interval": 50, "log_tensorboard": False,
        "log_n_figures": 0, "save_validation_results": False,
    }


def nh_run_dir(parent: Path, name: str) -> Path | None:
    """The folder ``nh-run train`` made (``<experiment_name>_<ddmm_HHMMSS>``)."""
    found = sorted(parent.glob(f"{name}_*"))
    return found[-1] if found else None


def nh_curve(run_dir: Path, start: float) -> pd.DataFrame:
    """Epochs whose weights were written, with their wall seconds since the start."""
    rows = [{"epoch": int(p.stem.removeprefix("model_epoch")), "wall_s": p.stat().st_mtime
             - start} for p in run_dir.glob("model_epoch*.pt")]
    curve = pd.DataFrame(rows, columns=["epoch", "wall_s"]).sort_values("epoch")
    return curve.assign(budget_s=curve["wall_s"])


def nh_score(nh_run: Path, run_dir: Path, epoch: int, period: str, env: dict) -> dict:
    """``nh-run evaluate`` of one epoch and period; median/mean NSE over the basins."""
    metrics = run_dir / period / f"model_epoch{epoch:03d}" / f"{period}_metrics.csv"
    if not metrics.is_file():
        subprocess.run([str(nh_run), "evaluate", "--run-dir", str(run_dir), "--epoch",
                        str(epoch), "--period", period], check=True, env=env)
    return {"epoch": epoch, **median_mean(pd.read_csv(metrics, index_col=0)["NSE"])}


def score_recipe(nh_run: Path, run_dir: Path, curve: pd.DataFrame, args, env) -> dict:
    """Validation curve, test at the marks and train at the last mark (outside the budget)."""
    marks = {f"{m:g}": epoch_at(curve, m * 60) for m in args.marks}
    every = set(curve["epoch"][curve["epoch"] % args.curve_every == 0]) | set(marks.values())
    val = {e: nh_score(nh_run, run_dir, e, "validation", env)["median"]
           for e in sorted(e for e in every if e is not None)}
    curve = curve.assign(val_median_nse=curve["epoch"].map(val))
    test = {m: {"epoch": None} if e is None else nh_score(nh_run, run_dir, e, "test", env)
            for m, e in marks.items()}
    last = marks[f"{max(args.marks):g}"]
    train = None if last is None else nh_score(nh_run, run_dir, last, "train", env)
    return {"curve": curve.to_dict("records"), "marks": test, "train": train}


def run_recipe(recipe, args, mirror: Path, basin_file: Path) -> dict:
    """Write the NH config, train under the budget, score; returns the recipe's result."""
    cfg = load_config(recipe.config, selection_overrides(recipe, args, args.basin_override))
    parent = args.runs_dir / "nh_runs"
    parent.mkdir(parents=True, exist_ok=True)
    config_path = args.runs_dir / f"nh_{recipe.name}.yml"
    write_text(config_path, yaml.safe_dump(nh_config(cfg, basin_file, mirror, parent),
                                           sort_keys=False))
    if args.dry_run:
        return {"config": str(config_path)}
    nh_run, env = Path(args.nh_python).parent / "nh-run", child_env(args.threads)
    env.pop("PYTHONPATH")  # NH's venv, not this worktree
    run = run_with_budget([str(nh_run), "train", "--config-file", str(config_path)],
                          args.budget_min * 60, args.runs_dir / f"nh_{recipe.name}.train.log",
                          env=env, cpus=args.cpus)
    run_dir = nh_run_dir(parent, cfg.name)
    if run_dir is None:
        raise SystemExit(f"regional_nh: nh-run made no run folder; see the log of {recipe.name}")
    scores = score_recipe(nh_run, run_dir, nh_curve(run_dir, run.start), args, env)
    return {"config": str(config_path), "run_dir": str(run_dir), "wall_s": round(run.seconds),
            "stopped_by_budget": run.stopped, "returncode": run.returncode,
            "peak_rss_mb": round(run.peak_rss_mb, 1), **scores}


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
    p.add_argument("--dry-run", action="store_true", help="write configs and mirror only")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "regional_nh")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "regional_nh")
    args = p.parse_args()
    args.runs_dir = args.runs_dir.resolve()
    if not args.dry_run and (args.nh_python is None or not args.nh_python.is_file()):
        p.error("--nh-python must name the python of a venv with neuralhydrology==1.13.0 "
                "(see this script's docstring), or pass --dry-run")
    return args


def main() -> None:
    args = parse_args()
    recipes = load_recipes(args.candidates, args.recipes)
    cfg = load_config(recipes[0].config)
    basins = Path(cfg.data.basin_file).read_text().split()[: args.basins or None]
    basin_file = args.runs_dir / "basins.txt"
    basin_file.parent.mkdir(parents=True, exist_ok=True)
    basin_file.write_text("\n".join(basins) + "\n")
    args.basin_override = [f"data.basin_file={basin_file}"]
    mirror_s = write_mirror(Path(cfg.data.data_dir), basins, args.runs_dir / "caravan")
    results = {r.name: run_recipe(r, args, args.runs_dir / "caravan", basin_file)
               for r in recipes}
    curves = [pd.DataFrame(r.get("curve", [])).assign(recipe=n) for n, r in results.items()]
    save_csv(args.out.with_name(args.out.name + "_curves.csv"), pd.concat(curves), index=False)
    save_json(args.out.with_suffix(".json"), {
        "neuralhydrology": "1.13.0", "budget_min": args.budget_min, "marks_min": args.marks,
        "threads": args.threads, "basins": len(basins), "netcdf_mirror_s": round(mirror_s, 1),
        "tested": results, "dry_run": args.dry_run})


if __name__ == "__main__":
    main()
