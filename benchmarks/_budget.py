"""Wall-time budget helpers shared by `regional_dev.py` and `regional_nh.py` (issue 14).

* :func:`schedule_text`: a schedule of :func:`ealstm.schedules.lr_schedule` (the ``{epoch: lr}``
  mapping that both ealstm's ``train.learning_rate``, from epoch 1, and neuralhydrology's
  ``learning_rate``, key 0 = first epoch, take) as ``--set`` text.
* :func:`run_with_budget`: runs a training command in a child process and stops it once the
  budget is spent; returns the child's own peak RSS (``os.wait4``) and its start time.
* :func:`epoch_at`: the last epoch finished before a time mark (the checkpoint a user would
  have after that much wall time).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

#: Paper periods (Kratzert et al. 2019) and the validation period carved from the training
#: years for selection: the model is fitted on SELECT_TRAIN and scored on VALIDATION.
PAPER_TRAIN = ("1999-10-01", "2008-09-30")
SELECT_TRAIN = ("1999-10-01", "2006-09-30")
VALIDATION = ("2006-10-01", "2008-09-30")
TEST = ("1989-10-01", "1999-09-30")


def schedule_text(schedule: dict[int, float]) -> str:
    """YAML flow mapping of a schedule, for ``--set train.learning_rate=...``."""
    return "{" + ", ".join(f"{k}: {v:g}" for k, v in schedule.items()) + "}"


@dataclass(frozen=True)
class BudgetRun:
    """Outcome of one budgeted child process."""

    start: float  #: ``time.time()`` when the child was started
    seconds: float  #: wall time until it exited
    stopped: bool  #: stopped by the budget (else it finished its planned epochs or failed)
    returncode: int
    peak_rss_mb: float  #: the child's own peak resident memory


def _pin(cpus: Sequence[int] | None) -> Callable[[], None] | None:
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, set(cpus))


def run_with_budget(cmd: Sequence[str], budget_s: float, log_path: Path,
                    spent: Callable[[float], float] = lambda elapsed: elapsed,
                    env: dict | None = None, cpus: Sequence[int] | None = None,
                    poll_s: float = 1.0, grace_s: float = 30.0) -> BudgetRun:
    """Run ``cmd`` and stop it (SIGTERM, SIGKILL after ``grace_s``) once the budget is spent.

    ``spent(elapsed)`` turns the wall time since the start into budget seconds (e.g. minus the
    time spent validating). The child is reaped with ``os.wait4`` so that its peak RSS is its
    own, not the maximum over every child this process has had.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        start = time.time()
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=_pin(cpus))
        stopped_at = None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            now = time.time()
            if stopped_at is None and spent(now - start) >= budget_s:
                proc.send_signal(signal.SIGTERM)
                stopped_at = now
            elif stopped_at is not None and now - stopped_at > grace_s:
                proc.kill()
            time.sleep(poll_s)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return BudgetRun(start, time.time() - start, stopped_at is not None, proc.returncode,
                     usage.ru_maxrss / 1024)


def epoch_at(curve: pd.DataFrame, mark_s: float, column: str = "budget_s") -> int | None:
    """Last epoch of ``curve`` finished at or before ``mark_s`` budget seconds (None: none)."""
    done = curve.loc[curve[column] <= mark_s, "epoch"]
    return int(done.max()) if len(done) else None


def median_mean(nse: pd.Series) -> dict[str, float]:
    """Median and mean NSE over the basins that have a score."""
    nse = pd.to_numeric(nse, errors="coerce").dropna()
    return {"median": float(nse.median()), "mean": float(nse.mean()), "n_basins": len(nse)}


def goal_rows(test_median: float | None, train_median: float | None, peak_rss_mb: float | None,
              cache_s: float | None, mark_min: float = 60.0) -> list[list[str]]:
    """Issue 14's goals against the measured values: [goal, value, met]."""
    def row(goal: str, value: float | None, ok: Callable[[float], bool], fmt: str) -> list[str]:
        if value is None or not math.isfinite(value):
            return [goal, "n/a", "n/a"]
        return [goal, format(value, fmt), "yes" if ok(value) else "NO"]

    gap = (train_median - test_median if None not in (train_median, test_median) else None)
    return [row(f"test median NSE >= 0.60 at {mark_min:g} min", test_median,
                lambda v: v >= 0.60, ".3f"),
            row("train median >= test median + 0.05", gap, lambda v: v >= 0.05, "+.3f"),
            row("peak RSS < 4 GB (MB)", peak_rss_mb, lambda v: v < 4096, ".0f"),
            row("cache build < 30 s (s)", cache_s, lambda v: v < 30, ".1f")]


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float | None, spec: str = ".3f") -> str:
    """``value`` formatted, or ``-`` when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)
