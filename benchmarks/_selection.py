"""The choice of `regional_dev.py` (issue 14): best validation median NSE, with a tie rule.

Two validation years cannot separate candidates whose medians differ by less than ~0.01, so the
leader is compared with every other candidate basin by basin with the one-sided paired Wilcoxon
signed-rank test (the paper's test for comparing models): is the leader better? Candidates it is
not shown to beat (p >= ``TIE_ALPHA``, including one better basin by basin despite a lower
median) are tied with it, and among tied candidates the smallest wins:
fewest parameters, then fewest seconds per epoch (the one-standard-error rule's "simplest model
within the noise of the best").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

TIE_ALPHA = 0.05


def curve_of(result: dict) -> pd.DataFrame:
    """The learning curve of one recipe's result (empty frame if no epoch finished)."""
    curve = pd.DataFrame(result["curve"])
    if curve.empty:
        return pd.DataFrame(columns=["epoch", "budget_s", "wall_s", "val_median_nse"])
    return curve


def score_at_budget(result: dict, budget_s: float) -> tuple[int | None, float]:
    """Epoch and validation median NSE of the last validated epoch within the budget."""
    curve = curve_of(result)
    if "val_median_nse" not in curve:
        return None, float("nan")
    valid = curve[(curve["budget_s"] <= budget_s) & curve["val_median_nse"].notna()]
    if valid.empty:
        return None, float("nan")
    last = valid.iloc[-1]
    return int(last["epoch"]), float(last["val_median_nse"])


def seconds_per_epoch(result: dict) -> float:
    """Median wall seconds between consecutive epochs (NaN with fewer than two epochs)."""
    curve = curve_of(result)
    if len(curve) < 2 or "wall_s" not in curve:
        return float("nan")
    return float(curve["wall_s"].diff().median())


@dataclass
class Selection:
    """The chosen recipe, the validation leader and one row per validated candidate."""

    chosen: str
    leader: str
    table: pd.DataFrame  # index: recipe; epoch, val_median, p_vs_leader, tied, parameters, s_epoch

    def reason(self) -> str:
        """One sentence on why ``chosen`` was chosen."""
        if self.chosen == self.leader:
            tied = [n for n in self.table.index[self.table["tied"]] if n != self.leader]
            return ("best validation median NSE at the end of the budget"
                    + (f"; tied with {', '.join(tied)} and no larger" if tied else
                       ("; separated from every other candidate"
                        if self.table["p_vs_leader"].notna().any() else "")))
        return (f"tied with the validation leader {self.leader} (one-sided paired Wilcoxon over "
                f"basins, p >= {TIE_ALPHA}) and the smallest of the tied recipes (fewest "
                "parameters, then fewest seconds per epoch)")


def choose(results: dict[str, dict], budget_s: float,
           basin_nse: Callable[[str, int], pd.Series] | None = None,
           parameters: Callable[[str, int], int] | None = None) -> Selection:
    """Choose among the recipes that validated an epoch within the budget (refits never do).

    Without ``basin_nse`` (recipe, epoch -> per-basin validation NSE) the leader is chosen;
    with it, the tie rule of this module applies, and ``parameters`` (recipe, epoch -> count)
    breaks ties before seconds per epoch.
    """
    scored = {name: score_at_budget(r, budget_s) for name, r in results.items()}
    scored = {name: (epoch, score) for name, (epoch, score) in scored.items() if score == score}
    if not scored:
        raise SystemExit("regional_dev: no recipe finished a validated epoch within the budget")
    table = pd.DataFrame({"epoch": [e for e, _ in scored.values()],
                          "val_median": [s for _, s in scored.values()]}, index=list(scored))
    table["s_epoch"] = [seconds_per_epoch(results[n]) for n in table.index]
    leader = str(table["val_median"].idxmax())
    table["p_vs_leader"] = np.nan
    table["tied"] = table.index == leader
    table["parameters"] = np.nan
    if basin_nse is None or len(table) == 1:
        return Selection(leader, leader, table)
    best = basin_nse(leader, int(table.loc[leader, "epoch"]))
    for name in table.index.drop(leader):
        p = paired_p_value(best, basin_nse(name, int(table.loc[name, "epoch"])))
        table.loc[name, ["p_vs_leader", "tied"]] = [p, bool(p >= TIE_ALPHA)]  # NaN: not tied
    if parameters is not None:
        table["parameters"] = [parameters(n, int(table.loc[n, "epoch"])) for n in table.index]
    tied = table[table["tied"]].sort_values(["parameters", "s_epoch"], na_position="last",
                                            kind="stable")
    return Selection(str(tied.index[0]), leader, table)


def paired_p_value(a: pd.Series, b: pd.Series) -> float:
    """One-sided Wilcoxon signed-rank p-value that ``a`` beats ``b`` basin by basin, on the
    basins both scored.

    Identical scores give 1.0 (nothing separates them); no shared basin gives NaN (a run
    without finite scores, e.g. a diverged one, is never tied with the leader).
    """
    from scipy.stats import wilcoxon

    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
    if len(both) == 0:
        return float("nan")
    if (both["a"] == both["b"]).all():
        return 1.0
    return float(wilcoxon(both["a"], both["b"], alternative="greater").pvalue)


def validation_basin_nse(run_dir: Path, epoch: int) -> pd.Series:
    """Per-basin validation NSE of a run at ``epoch``, kept next to the run
    (``val_nse_epochNNN.csv``) so that ``--skip-done`` reads it instead of predicting again."""
    from ealstm.evaluation.run import evaluate_run
    from ealstm.io import save_csv

    kept = Path(run_dir) / f"val_nse_epoch{epoch:03d}.csv"
    if kept.is_file():  # basin ids as text: numeric ids keep their leading zeros
        frame = pd.read_csv(kept, dtype=str)
        return frame.set_index(frame.columns[0])["nse"].astype(float)
    nse = evaluate_run(run_dir, "validation", epoch=epoch).table["nse"]
    save_csv(kept, nse.to_frame())
    return nse


def parameter_count(run_dir: Path, epoch: int) -> int:
    """Number of weights in a run's checkpoint of ``epoch`` (its model state)."""
    from ealstm.runs.checkpoint import load_checkpoint

    return int(sum(t.numel() for t in load_checkpoint(run_dir, epoch)["model"].values()))
