"""Selection, test-at-time-mark scoring and result files of `regional_dev.py` (issue 14)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
from pathlib import Path

import pandas as pd
from _budget import (
    PAPER_TRAIN,
    SELECT_TRAIN,
    TEST,
    VALIDATION,
    epoch_at,
    fmt,
    goal_rows,
    md_table,
    median_mean,
)
from _machine import cpu_name
from _selection import TIE_ALPHA, Selection, curve_of, score_at_budget, seconds_per_epoch

from ealstm.evaluation.run import evaluate_run
from ealstm.io import atomic_write, save_csv, save_json, write_text


def evaluate_marks(result: dict, run_dir: Path, marks: list[float], threads: int,
                   train: bool = True) -> dict:
    """Test median/mean NSE of the last epoch before each mark; train NSE at the last mark
    (only with ``train``: scoring the paper protocol's training years day by day at one
    thread takes about as long as one of its epochs).

    Marks that fall on the same epoch share one evaluation.
    """
    import torch

    torch.set_num_threads(threads)
    curve, scored = curve_of(result), {}

    def score(epoch: int, period: str) -> dict:
        if (epoch, period) not in scored:
            evaluation = evaluate_run(run_dir, period, epoch=epoch)
            scored[epoch, period] = {"epoch": epoch, **median_mean(evaluation.table["nse"]),
                                     "predictions": str(evaluation.predictions)}
        return scored[epoch, period]

    epochs = {f"{m:g}": epoch_at(curve, m * 60) if len(curve) else None for m in marks}
    last = epochs[f"{max(marks):g}"]
    return {"marks": {m: {"epoch": None} if e is None else score(e, "test")
                      for m, e in epochs.items()},
            "train": None if last is None or not train else score(last, "train")}


def ensemble_marks(members: dict[str, dict], folder: Path) -> dict:
    """NSE of the mean of the members' discharge (the paper's ensemble) at each mark and on the
    training period, each member at its own epoch for the mark (its checkpoint at that time).

    ``members``: name -> :func:`evaluate_marks` result. A mark (or the training period) where a
    member has no scored epoch has no ensemble score.
    """
    import xarray as xr

    from ealstm.evaluation.run import save_evaluation
    from ealstm.experiment.ensemble import check_clip_settings, ensemble_dataset

    names = list(members)

    def score(scores: list[dict | None], period: str, tag: str) -> dict | None:
        if any(s is None or s.get("epoch") is None for s in scores):
            return None
        stale = [n for n, s in zip(names, scores, strict=True) if not s.get("predictions")]
        if stale:
            raise SystemExit(f"regional_dev: the {period} scores of {stale} name no predictions "
                             "file (scored by an older regional_dev); delete their "
                             "marks_result.json and run again")
        data = {n: xr.load_dataset(s["predictions"]) for n, s in zip(names, scores, strict=True)}
        check_clip_settings(folder, period, data)
        data = ensemble_dataset(list(data.values()), names, "ensemble", period)
        table = save_evaluation(data, folder, period, tag, members=names).table
        return {"epoch": "+".join(str(s["epoch"]) for s in scores), **median_mean(table["nse"])}

    first = next(iter(members.values()))
    marks = {m: score([t["marks"][m] for t in members.values()], "test", f"_at{m}min")
             or {"epoch": None} for m in first["marks"]}
    return {"marks": marks, "members": names,
            "train": score([t.get("train") for t in members.values()], "train", "")}


def _all_curves(results: dict[str, dict]) -> pd.DataFrame:
    frames = [curve_of(r).assign(recipe=name) for name, r in results.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plot_curves(curves: pd.DataFrame, marks: list[float], path: Path) -> None:
    """Validation median NSE against budget minutes, one line per recipe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, group in curves.groupby("recipe", sort=False):
        if "val_median_nse" in group:
            ax.plot(group["budget_s"] / 60, group["val_median_nse"], marker="o", ms=3, label=name)
    for mark in marks:
        ax.axvline(mark, color="grey", lw=0.5, ls=":")
    ax.set(xlabel="wall time charged to the budget (min)", ylabel="validation median NSE",
           title="Learning curves (validation 2006-10-01..2008-09-30)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)


def machine() -> dict:
    """CPU, cores, load and library versions of this machine."""
    import torch

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "load_average": os.getloadavg(),
            "torch": torch.__version__, "python": platform.python_version(),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def machine_text(info: dict) -> str:
    """One line about the machine: CPU, cores, torch, load average at the end, date."""
    load = ", ".join(f"{v:.1f}" for v in info["load_average"])
    return (f"{info['cpu']}, {info['cores']} cores, torch {info['torch']}, Python "
            f"{info['python']}, load average at the end {load}, {info['date']}")


def _candidate_rows(results: dict[str, dict], budget_s: float,
                    selection: Selection) -> list[list[str]]:
    rows = []
    for name, r in results.items():
        curve = curve_of(r)
        epoch, score = score_at_budget(r, budget_s)
        validated = "val_median_nse" in curve and curve["val_median_nse"].notna().any()
        best = curve.loc[curve["val_median_nse"].idxmax()] if validated else None
        chosen = selection.table.loc[name] if name in selection.table.index else None
        p = "-" if chosen is None else ("leader" if name == selection.leader
                                         else fmt(chosen["p_vs_leader"], ".3f"))
        parameters = "-" if chosen is None else fmt(chosen["parameters"], ".0f")
        rows.append([name, r["planned_epochs"], r["epochs_done"], r["stopped_by_budget"],
                     fmt(score), epoch or "-",
                     "-" if best is None else f"{best['val_median_nse']:.3f} ({best['epoch']:.0f})",
                     p, parameters, fmt(seconds_per_epoch(r), ".1f"), fmt(r["peak_rss_mb"], ".0f"),
                     f"{r['cache']['seconds']:.1f} ({'built' if r['cache']['built'] else 'read'})"])
    return rows


def _test_rows(tested: dict[str, dict], nh: dict | None) -> list[list[str]]:
    arms = {f"ealstm {name}": t for name, t in tested.items()}
    arms.update({f"neuralhydrology {name}": t for name, t in (nh or {}).get("tested", {}).items()
                 if "marks" in t})  # a --dry-run result has no scores
    rows = []
    for arm, t in arms.items():
        for mark, s in t["marks"].items():
            rows.append([arm, mark, s["epoch"] or "-", fmt(s.get("median")), fmt(s.get("mean"))])
        train = t.get("train") or {}
        rows.append([arm, "train period", train.get("epoch", "-"), fmt(train.get("median")),
                     fmt(train.get("mean"))])
    return rows


def _ensemble_goals(args: argparse.Namespace, results: dict, tested: dict) -> list[str]:
    """Goal table of the ``--ensemble`` arm: its members ran side by side, so their peak RSS
    adds up (the machine held both)."""
    if not args.ensemble:
        return []
    scores = tested["ensemble of " + " + ".join(args.ensemble)]
    last = scores["marks"][f"{max(args.marks):g}"]
    train = scores.get("train") or {}
    members = [results[name] for name in args.ensemble]
    built = [r["cache"]["seconds"] for r in members if r["cache"]["built"]]  # read: no build
    goals = goal_rows(last.get("median"), train.get("median"),
                      sum(r["peak_rss_mb"] for r in members), max(built, default=None),
                      max(args.marks))
    return [f"## Goals (ensemble of {', '.join(args.ensemble)}, {max(args.marks):g}-min mark; "
            "peak RSS summed over the members)", md_table(["goal", "value", "met"], goals)]


def scored_names(args: argparse.Namespace, chosen: str) -> list[str]:
    """Recipes scored on the test period: the chosen one, ``--test`` and ``--ensemble``."""
    extra = [*args.test, *args.ensemble]
    return [f"the chosen {chosen}", *dict.fromkeys(n for n in extra if n != chosen)]


def refit_text(args: argparse.Namespace) -> str:
    """A sentence naming the refits among the recipes (empty when there are none)."""
    refits = args.refits  # set by regional_dev.main from the candidates
    if not refits:
        return ""
    return (f"Refits ({', '.join(refits)}): fitted on the paper's whole training period "
            f"{PAPER_TRAIN[0]}..{PAPER_TRAIN[1]} without validation, never candidates of the "
            "choice. ")


def markdown(args: argparse.Namespace, results: dict, selection: Selection, tested: dict,
             nh: dict | None, info: dict) -> str:
    budget_s, chosen = args.budget_min * 60, selection.chosen
    last = tested[chosen]["marks"][f"{max(args.marks):g}"]
    train = tested[chosen].get("train") or {}
    goals = goal_rows(last.get("median"), train.get("median"), results[chosen]["peak_rss_mb"],
                      results[chosen]["cache"]["seconds"], max(args.marks))
    head = ["recipe", "planned epochs", "epochs done", "stopped by budget", "val median NSE at "
            "budget", "epoch", "best val (epoch)", "p vs leader", "parameters", "s/epoch",
            "peak RSS MB", "cache s"]
    return "\n\n".join([
        "# Regional recipe at a fixed wall-time budget (issue 14)",
        f"Caravan CAMELS-US development set (`../shared/data/caravan_camels_dev`), budget "
        f"{args.budget_min:g} min per recipe, {args.threads} threads, CPUs {args.cpus or 'any'}"
        f"{f', first {args.basins} basins' if args.basins else ''}; {machine_text(info)}.",
        f"Selection: fit {SELECT_TRAIN[0]}..{SELECT_TRAIN[1]}, validation {VALIDATION[0]}.."
        f"{VALIDATION[1]} (carved from the paper's training years); test {TEST[0]}..{TEST[1]} "
        f"scored only for {', '.join(scored_names(args, chosen))}. "
        f"{refit_text(args)}Validation time is "
        f"{'charged to' if args.count_validation else 'not charged to'} the budget; "
        "ealstm's cache is built (column cache s) before its clock starts, neuralhydrology "
        "(`regional_nh.py`) prepares its data inside its budget.",
        *(["## How the runs were made", args.notes.read_text().strip()]
          if args.notes else []),
        "## Candidates (validation)", md_table(head, _candidate_rows(results, budget_s, selection)),
        f"Chosen: **{chosen}** ({selection.reason()}). Tie rule: the leader (best validation "
        "median NSE at the end of the budget) is compared with each other candidate basin by "
        "basin (one-sided paired Wilcoxon signed-rank test that the leader is better, column p "
        f"vs leader); p >= {TIE_ALPHA} is a tie, and the smallest tied recipe wins (fewest "
        "parameters, then fewest seconds per epoch). "
        f"Learning curves: `{args.out.name}_curves.csv`, `{args.out.name}_curves.png`.",
        "## Test median / mean NSE at the time marks (minutes)",
        md_table(["arm", "mark", "epoch", "median NSE", "mean NSE"], _test_rows(tested, nh)),
        f"## Goals (chosen recipe, {max(args.marks):g}-min mark)",
        md_table(["goal", "value", "met"], goals),
        *_ensemble_goals(args, results, tested),
        "Reproduce: `" + " ".join(["python", *sys.argv]) + "`"]) + "\n"


def write_outputs(args: argparse.Namespace, results: dict, selection: Selection,
                  tested: dict, nh: dict | None) -> None:
    """``<out>.json``, ``<out>.md``, ``<out>_curves.csv`` and ``<out>_curves.png``."""
    out = Path(args.out)
    curves = _all_curves(results)
    save_csv(out.with_name(out.name + "_curves.csv"), curves, index=False)
    plot_curves(curves, args.marks, out.with_name(out.name + "_curves.png"))
    info = machine()
    save_json(out.with_suffix(".json"), {
        "machine": info, "budget_min": args.budget_min, "marks_min": args.marks,
        "threads": args.threads, "basins": args.basins, "chosen": selection.chosen,
        "leader": selection.leader,
        "selection": selection.table.reset_index(names="recipe").to_dict("records"),
        "count_validation": args.count_validation, "results": results, "tested": tested,
        "nh": nh})
    write_text(out.with_suffix(".md"), markdown(args, results, selection, tested, nh, info))
