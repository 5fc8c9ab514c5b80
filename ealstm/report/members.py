"""Census of an experiment's members and ensembles for the report: counts and problems."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ealstm.io import load_json
from ealstm.report.figures import ENSEMBLE, configuration_names, member_names, read_metrics
from ealstm.runs.paths import RunPaths


def _member_state(folder: Path, period: str) -> tuple[str, str] | None:
    """``(state, detail)`` of a member or ensemble folder; None when complete and fully scored."""
    if not folder.is_dir():
        return "missing", "folder absent"
    metrics = RunPaths(folder).metrics(period)
    if not metrics.is_file():
        return "failed", f"no {metrics.name} (failed or unfinished)"
    status = read_metrics(metrics)["status"].fillna("unknown").astype(str)
    bad = status[status != "ok"]
    if bad.empty:
        return None
    return "partial", "; ".join(f"{b}: {s}" for b, s in bad.items())


def _ensemble_size(folder: Path, period: str) -> int | None:
    """Members averaged by an ensemble (``n_members`` of its summary JSON; None if unknown)."""
    path = RunPaths(folder).summary(period)
    if not path.is_file():
        return None
    return int(load_json(path).get("n_members", 0)) or None


def _ensemble_state(folder: Path, period: str, n_seeds: int) -> tuple[str, str] | None:
    """As :func:`_member_state`, and "partial" when fewer members than seeds were averaged."""
    state = _member_state(folder, period)
    size = _ensemble_size(folder, period)
    if state is None and size is not None and size < n_seeds:
        return "partial", f"mean of {size} of {n_seeds} members"
    return state


@dataclass(frozen=True)
class MemberCensus:
    """Members and ensembles an experiment declares, and those that are not complete.

    ``n_members`` counts the member runs (configurations x seeds); there is one ensemble per
    configuration, so ``n_configurations`` also counts the ensembles; ``problems`` has one row
    (``configuration, member, state, detail``) per member or ensemble that is missing, failed
    or partial (some basins not scored, or an ensemble of fewer members than seeds).
    """

    n_members: int
    n_configurations: int
    problems: pd.DataFrame


def member_census(root: Path, experiment: Mapping[str, Any], period: str) -> MemberCensus:
    """Count the members and ensembles of an experiment and list the incomplete ones."""
    rows, n_members = [], 0
    configurations = configuration_names(root, experiment)
    for name in configurations:
        seeds = member_names(root, experiment, name)
        n_members += len(seeds)
        states = [(m, _member_state(root / name / m, period)) for m in seeds]
        states.append((ENSEMBLE, _ensemble_state(root / name / ENSEMBLE, period, len(seeds))))
        rows += [{"configuration": name, "member": m, "state": state[0], "detail": state[1]}
                 for m, state in states if state is not None]
    problems = pd.DataFrame(rows, columns=["configuration", "member", "state", "detail"])
    return MemberCensus(n_members, len(configurations), problems)
