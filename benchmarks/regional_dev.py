"""Choose a regional training recipe at a fixed wall-time budget (issue 14).

Every candidate of ``configs/caravan_dev_candidates.yml`` (or ``--recipes`` of it) is trained
in its own child process (``python -m ealstm train``) on the training years up to 2006-09-30
and validated every epoch on 2006-10-01..2008-09-30 (carved from the paper's training period,
so the test period 1989-10-01..1999-09-30 is never used to choose). The child is stopped once
the budget is spent; by default the time the library spends on its per-epoch validation is not
charged to the budget (``--count-validation`` charges it). Each candidate's learning-rate
schedule is defined by its *planned* epochs (``ealstm.schedules.lr_schedule``), so plan epochs
that fit.
A candidate with ``periods: paper`` is a *refit*: a chosen recipe fitted on the paper's whole
training period 1999-10-01..2008-09-30 without validation, which never takes part in the choice.

Recorded per candidate: validation median NSE, learning rate and loss after every epoch with
the wall time at which the epoch's checkpoint was written (``<out>_curves.csv`` and ``.png``),
the child's peak RSS (``os.wait4``), and the cache build time and peak RSS of one
``load_basin_arrays`` in a child, into an empty cache folder, before the clock starts.

The chosen recipe is the one with the best validation median NSE of the last epoch finished
within the budget. For it and every ``--test`` and ``--ensemble`` recipe (e.g. ``paper``, the
refits) the test period is scored with ``evaluate_run(run, "test", epoch=N)`` where N is the
last epoch finished before each time mark (``--marks``, default 15 30 60 minutes), and for the
chosen recipe, the refits and the ``--ensemble`` members the training period with the epoch of
the last mark (train median NSE). ``--ensemble A B`` also scores the mean of A's and B's
discharge at each mark (the paper's ensemble; e.g. two seeds trained side by side, one core
each). ``--nh-result`` adds the rows of ``regional_nh.py``.

    export PYTHONPATH=$PWD OMP_NUM_THREADS=1
    .venv/bin/python benchmarks/regional_dev.py --threads 2 --cpus 0 1 --test paper \
        --nh-result benchmarks/results/regional_nh.json --out benchmarks/results/regional_dev

Smoke run (5 basins, tiny model, 2 minutes; do not commit its output):

    .venv/bin/python benchmarks/regional_dev.py --basins 5 --budget-min 2 --marks 0.5 1 2 \
        --recipes paper s2s_b16_step --set model.hidden_size=8 --test paper \
        --runs-dir /tmp/regional_smoke --out /tmp/regional_smoke/regional_dev
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _budget import (  # noqa: E402
    PAPER_TRAIN,
    SELECT_TRAIN,
    VALIDATION,
    BudgetRun,
    run_with_budget,
    schedule_text,
)
from _regional_report import (  # noqa: E402
    ensemble_marks,
    evaluate_marks,
    write_outputs,
)
from _selection import choose, parameter_count, validation_basin_nse  # noqa: E402

from ealstm.config import load_config  # noqa: E402
from ealstm.io import load_json, save_json  # noqa: E402
from ealstm.schedules import lr_schedule  # noqa: E402


@dataclass(frozen=True)
class Recipe:
    """One candidate: a base config, ``--set`` overrides, planned epochs and an LR schedule."""

    name: str
    config: Path
    epochs: int
    overrides: tuple[str, ...] = ()
    schedule: dict = field(default_factory=dict)
    #: fitted on the paper's whole training period without validation: the final fit of a
    #: recipe chosen on validation, scored on the test period but never a choice candidate
    refit: bool = False

    def lr_overrides(self) -> list[str]:
        """``train.learning_rate`` from the schedule, replacing a named ``train.lr_schedule`` of
        the config (none: keep the config's own)."""
        if not self.schedule or self.schedule.get("kind") == "config":
            return []
        params = {k: v for k, v in self.schedule.items() if k != "kind"}
        rates = lr_schedule(self.schedule["kind"], self.epochs, **params)
        return ["train.lr_schedule=null", f"train.learning_rate={schedule_text(rates)}"]


def load_recipes(path: Path, names: list[str] | None) -> list[Recipe]:
    """Recipes of a candidates file, optionally only ``names`` (in that order)."""
    raw = yaml.safe_load(path.read_text())
    recipes = {}
    for item in raw["candidates"]:
        sets = tuple(f"{k}={v}" for k, v in (item.get("set") or {}).items())
        schedule = item.get("schedule") or {}
        schedule = {"kind": schedule} if isinstance(schedule, str) else dict(schedule)
        periods = item.get("periods", "select")
        if periods not in ("select", "paper"):
            raise SystemExit(f"regional_dev: {path}: candidate {item['name']}: periods must be "
                             f"'select' or 'paper', got {periods!r}")
        recipes[item["name"]] = Recipe(item["name"], (path.parent / item["config"]).resolve(),
                                       int(item["epochs"]), sets, schedule, periods == "paper")
    unknown = sorted(set(names or []) - set(recipes))
    if unknown:
        raise SystemExit(f"regional_dev: unknown recipes {unknown} in {path}; "
                         f"choose from {sorted(recipes)}")
    return [recipes[n] for n in names] if names else list(recipes.values())


def selection_overrides(recipe: Recipe, args: argparse.Namespace, extra: list[str]) -> list[str]:
    """Everything ``ealstm train`` gets on top of the recipe's config: the selection periods
    (fit, validation every epoch), or for a refit the paper's training period alone."""
    if recipe.refit:
        periods = [f"data.train_period.start={PAPER_TRAIN[0]}",
                   f"data.train_period.end={PAPER_TRAIN[1]}", "data.validation_period=null"]
    else:
        periods = ["train.validate_every=1", f"data.train_period.start={SELECT_TRAIN[0]}",
                   f"data.train_period.end={SELECT_TRAIN[1]}",
                   f"data.validation_period={{start: {VALIDATION[0]}, end: {VALIDATION[1]}}}"]
    return [f"name={recipe.name}", f"runs_dir={args.runs_dir}",
            f"data.cache_dir={args.runs_dir / 'cache'}", f"train.epochs={recipe.epochs}",
            *periods, *recipe.overrides, *recipe.lr_overrides(), *extra, *args.set]


def child_env(threads: int) -> dict:
    """Environment of the children: this worktree's ealstm, ``threads`` OpenMP threads."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads)}


def cache_child(config: str, overrides: list[str]) -> None:
    """Child mode: one ``load_basin_arrays``; prints seconds and whether it built the cache."""
    from ealstm.data.cache import load_basin_arrays

    cfg = load_config(Path(config), overrides)
    folder = Path(cfg.data.cache_dir)
    before = set(folder.glob("*.nc")) if folder.is_dir() else set()
    start = time.perf_counter()
    load_basin_arrays(cfg.data)
    seconds = time.perf_counter() - start
    built = bool(set(folder.glob("*.nc")) - before)
    print(json.dumps({"seconds": round(seconds, 3), "built": built}))


def measure_cache(recipe: Recipe, overrides: list[str], args: argparse.Namespace) -> dict:
    """Build (or load) the recipe's cache in a child before its clock starts."""
    log = args.runs_dir / f"{recipe.name}.cache.log"
    cmd = [sys.executable, __file__, "--cache-child", str(recipe.config), *overrides]
    run = run_with_budget(cmd, float("inf"), log, env=child_env(args.threads), cpus=args.cpus)
    if run.returncode != 0:
        raise SystemExit(f"regional_dev: cache build of {recipe.name} failed, see {log}")
    result = json.loads(log.read_text().strip().splitlines()[-1])
    return {**result, "peak_rss_mb": round(run.peak_rss_mb, 1)}


def validation_seconds(run_dir: Path) -> float:
    """Seconds the run spent in its per-epoch validation so far (``train_log.csv``)."""
    try:
        log = pd.read_csv(run_dir / "train_log.csv")
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0.0
    return float(log.get("val_seconds", pd.Series(dtype=float)).fillna(0).sum())


def learning_curve(run_dir: Path, start: float, count_validation: bool) -> pd.DataFrame:
    """One row per finished epoch: log values, wall seconds and budget seconds at its end.

    The end of an epoch is the modification time of its checkpoint (written after its
    validation); an epoch logged without a checkpoint (stopped while writing) is left out.
    """
    log = pd.read_csv(run_dir / "train_log.csv")
    if "val_seconds" not in log:
        log["val_seconds"] = 0.0
    log["val_seconds"] = log["val_seconds"].fillna(0.0)
    ckpt = [run_dir / "checkpoints" / f"epoch_{e:03d}.pt" for e in log["epoch"]]
    log = log[[p.is_file() for p in ckpt]].copy()
    log["wall_s"] = [(p.stat().st_mtime - start) for p in ckpt if p.is_file()]
    charged = 0.0 if count_validation else log["val_seconds"].cumsum()
    log["budget_s"] = log["wall_s"] - charged
    return log


def train_recipe(recipe: Recipe, args: argparse.Namespace) -> dict:
    """Cache, then budgeted training of one recipe; the result is kept in its run folder."""
    run_dir = args.runs_dir / recipe.name
    done = run_dir / "budget_result.json"
    if done.is_file() and args.skip_done:
        return load_json(done)
    if run_dir.exists():
        raise SystemExit(f"regional_dev: {run_dir} exists; delete it or pass --skip-done")
    overrides = selection_overrides(recipe, args, args.basin_override)
    cache = measure_cache(recipe, overrides, args)
    cmd = [sys.executable, "-m", "ealstm", "train", str(recipe.config)]
    cmd += [arg for o in overrides for arg in ("--set", o)]
    spent = ((lambda e: e) if args.count_validation
             else (lambda e: e - validation_seconds(run_dir)))
    run: BudgetRun = run_with_budget(cmd, args.budget_min * 60, args.runs_dir /
                                     f"{recipe.name}.train.log", spent,
                                     env=child_env(args.threads), cpus=args.cpus)
    curve = learning_curve(run_dir, run.start, args.count_validation)
    result = {"name": recipe.name, "config": str(recipe.config), "overrides": overrides,
              "planned_epochs": recipe.epochs, "epochs_done": int(curve["epoch"].max())
              if len(curve) else 0, "stopped_by_budget": run.stopped,
              "returncode": run.returncode, "wall_s": round(run.seconds, 1),
              "peak_rss_mb": round(run.peak_rss_mb, 1), "cache": cache,
              "curve": curve.to_dict("records")}
    if not run.stopped and run.returncode != 0:
        print(f"regional_dev: {recipe.name} failed (exit {run.returncode}); see "
              f"{args.runs_dir / (recipe.name + '.train.log')}", file=sys.stderr)
    save_json(done, result)
    return result


def test_recipe(result: dict, args: argparse.Namespace, train: bool) -> dict:
    """Test NSE at the marks (and, with ``train``, train NSE at the last mark: the goal is the
    gap of the chosen recipe, its refits and ensemble), kept in the run folder for
    ``--skip-done``; an ``--ensemble`` member's kept scores must name their predictions files.
    """
    run_dir = args.runs_dir / result["name"]
    path = run_dir / "marks_result.json"
    if args.skip_done and path.is_file():
        kept = load_json(path)
        ensemble_ready = all(s.get("predictions") for s in _scores(kept["tested"]))
        if (kept["marks_min"] == args.marks and (kept["tested"]["train"] or not train)
                and (ensemble_ready or result["name"] not in args.ensemble)):
            return kept["tested"]
    tested = evaluate_marks(result, run_dir, args.marks, args.threads, train)
    save_json(path, {"marks_min": args.marks, "tested": tested})
    return tested


def _scores(tested: dict) -> list[dict]:
    """The scored marks and training period of a test result (those with an epoch)."""
    scores = [*tested["marks"].values(), tested.get("train") or {}]
    return [s for s in scores if s.get("epoch") is not None]


def basin_override(args: argparse.Namespace, recipe: Recipe) -> list[str]:
    """With ``--basins N``: a basin file with the first N basins of the recipe's list."""
    if not args.basins:
        return []
    cfg = load_config(recipe.config)
    basins = Path(cfg.data.basin_file).read_text().split()[: args.basins]
    path = args.runs_dir / f"basins_first{args.basins}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(basins) + "\n")
    return [f"data.basin_file={path}"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--candidates", type=Path,
                   default=ROOT / "configs" / "caravan_dev_candidates.yml")
    p.add_argument("--recipes", nargs="+", help="names of the candidates to run (default all)")
    p.add_argument("--budget-min", type=float, default=60.0, help="wall-time budget per recipe")
    p.add_argument("--marks", nargs="+", type=float, default=[15.0, 30.0, 60.0],
                   help="minutes at which the test period is scored")
    p.add_argument("--threads", type=int, default=2, help="OMP threads of each child")
    p.add_argument("--cpus", nargs="+", type=int, help="pin the children to these CPUs")
    p.add_argument("--basins", type=int, help="only the first N basins (smoke runs)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override for every recipe, e.g. --set model.hidden_size=8")
    p.add_argument("--test", nargs="*", default=[], help="recipes scored on the test period "
                   "besides the chosen one, e.g. paper")
    p.add_argument("--count-validation", action="store_true",
                   help="charge the in-training validation time to the budget")
    p.add_argument("--skip-done", action="store_true", help="reuse finished recipes' results")
    p.add_argument("--train-only", action="store_true", help="train (and validate) the recipes, "
                   "then stop: no choice, no test scoring (run recipes side by side in separate "
                   "processes, then once more with --skip-done to choose and score)")
    p.add_argument("--ensemble", nargs="+", default=[], metavar="RECIPE",
                   help="score the mean of these recipes' discharge at each mark (e.g. two "
                   "seeds of a refit trained side by side, one core each); they are scored "
                   "on the test period too")
    p.add_argument("--nh-result", type=Path, help="regional_nh.py's JSON, for the side-by-side")
    p.add_argument("--notes", type=Path, help="markdown added to the report under 'How the "
                   "runs were made' (e.g. the --train-only commands run side by side)")
    p.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "regional_dev")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "regional_dev")
    args = p.parse_args(argv)
    args.runs_dir = args.runs_dir.resolve()
    if max(args.marks) > args.budget_min:
        p.error(f"marks {args.marks} go beyond the budget of {args.budget_min} min")
    return args


def main(argv: list[str] | None = None) -> None:
    if sys.argv[1:2] == ["--cache-child"]:
        return cache_child(sys.argv[2], sys.argv[3:])
    args = parse_args(argv)
    recipes = load_recipes(args.candidates, args.recipes)
    args.basin_override = basin_override(args, recipes[0])
    unknown = sorted(set(args.ensemble) - {r.name for r in recipes})
    if unknown:
        raise SystemExit(f"regional_dev: --ensemble {unknown} are not among --recipes")
    for recipe in recipes:  # fail on a bad config before hours of training
        load_config(recipe.config, selection_overrides(recipe, args, args.basin_override))
    results = {r.name: train_recipe(r, args) for r in recipes}
    if args.train_only:
        return
    import torch

    torch.set_num_threads(args.threads)
    selection = choose(results, args.budget_min * 60,
                       basin_nse=lambda name, epoch: validation_basin_nse(args.runs_dir / name,
                                                                          epoch),
                       parameters=lambda name, epoch: parameter_count(args.runs_dir / name, epoch))
    chosen = selection.chosen
    args.refits = [r.name for r in recipes if r.refit]
    with_train = {chosen, *args.refits, *args.ensemble}  # the goal's train-test gap
    tested = {name: test_recipe(results[name], args, train=name in with_train)
              for name in dict.fromkeys([chosen, *args.test, *args.ensemble]) if name in results}
    if args.ensemble:
        members = {name: tested[name] for name in args.ensemble}
        tested["ensemble of " + " + ".join(args.ensemble)] = ensemble_marks(
            members, args.runs_dir / ("ensemble_" + "_".join(args.ensemble)))
    nh = load_json(args.nh_result) if args.nh_result else None
    write_outputs(args, results, selection, tested, nh)


if __name__ == "__main__":
    main()
