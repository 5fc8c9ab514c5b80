"""Silhouettes of the input-gate embedding over the seeds of a configuration (paper Fig. 9).

Fig. 9 of the paper shows, for the EA-LSTM embedding, the mean silhouette (and the minimum) at
each number of clusters ``k`` as the mean over the eight seeds with error bars of their standard
deviation; the raw standardised catchment attributes are clustered once. The paper's notebook
runs ``clusterutils.get_silhouette_scores`` (``k = 3..14``, k-means with ``random_state=0``)
on every seed's embedding and plots ``np.mean`` and ``np.std`` (``ddof=0``) of the results.
:func:`member_silhouettes` does the same for an experiment configuration folder whose members
are ``seed*/`` run directories (as written by ``ealstm experiment``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ealstm.analysis.clustering import DEFAULT_KS, best_k, cluster_scores, usable_ks
from ealstm.analysis.embedding import input_gate_embedding, save_figure
from ealstm.errors import ConfigError
from ealstm.evaluation.run import load_run
from ealstm.io import save_csv
from ealstm.runs.paths import ExperimentPaths, RunPaths

log = logging.getLogger(__name__)

#: ``ddof`` of the standard deviation over members (``np.std`` in the paper's notebook).
MEMBER_STD_DDOF = 0
#: Columns of :func:`silhouette_over_members`.
MEMBER_COLUMNS = ("silhouette_mean", "silhouette_mean_std", "silhouette_min",
                  "silhouette_min_std", "n_members")


@dataclass(frozen=True)
class MemberSilhouettes:
    """What :func:`member_silhouettes` computed and wrote.

    Attributes
    ----------
    output_dir
        ``<configuration>/analysis/embedding``.
    table
        Long table ``features, k`` + :data:`MEMBER_COLUMNS` (``features``: ``embedding`` over the
        members, ``raw`` the attributes clustered once, std NaN).
    per_member
        ``member, k, silhouette_mean, silhouette_min`` of every member's embedding.
    best_k
        ``{"embedding": k, "raw": k}``: the ``k`` of the highest (member-mean) mean silhouette.
    files
        Artifact name -> path.
    """

    output_dir: Path
    table: pd.DataFrame
    per_member: pd.DataFrame
    best_k: dict[str, int]
    files: dict[str, Path]


def silhouette_over_members(scores: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean and std over members (seeds) of their :func:`cluster_scores` silhouettes (Fig. 9).

    Parameters
    ----------
    scores
        Member name -> :func:`~ealstm.analysis.clustering.cluster_scores` of that member's
        features, all over the same ``k``.

    Returns
    -------
    pd.DataFrame
        Indexed by ``k``; columns :data:`MEMBER_COLUMNS`: mean and population std (``ddof=0``)
        over the members of the mean and of the minimum silhouette, and ``n_members`` (members
        with a defined silhouette at that ``k``; undefined ones are left out of mean and std).

    Raises
    ------
    ConfigError
        No member, or members scored over different ``k``.
    """
    if not scores:
        raise ConfigError("silhouette_over_members needs at least one member")
    ks = {name: list(s.index) for name, s in scores.items()}
    if len({tuple(k) for k in ks.values()}) > 1:
        raise ConfigError(f"members were clustered over different k: {ks}")
    out = {}
    for column in ("silhouette_mean", "silhouette_min"):
        values = pd.concat({n: s[column] for n, s in scores.items()}, axis=1).astype(np.float64)
        out[column] = values.mean(axis=1)
        out[f"{column}_std"] = values.std(axis=1, ddof=MEMBER_STD_DDOF)
    out["n_members"] = values.notna().sum(axis=1)  # the minimum is defined where the mean is
    return pd.DataFrame(out)[list(MEMBER_COLUMNS)].rename_axis("k")


def find_members(config_dir: Path) -> list[Path]:
    """Run directories ``seed*/`` (with a ``config.yml``) of a configuration, sorted by name.

    Raises
    ------
    ConfigError
        ``config_dir`` holds no such member.
    """
    config_dir = Path(config_dir)
    seeds = ExperimentPaths(config_dir.parent).seeds(config_dir.name)
    members = [p for p in seeds.values() if RunPaths(p).config.is_file()]
    if not members:
        raise ConfigError(f"{config_dir}: neither a run directory (config.yml) nor a "
                          "configuration folder with seed*/ run directories")
    return members


def plot_member_silhouettes(table: pd.DataFrame, best: Mapping[str, int]) -> Figure:
    """Mean and minimum silhouette over ``k``, member mean ± std as error bars (Fig. 9)."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    for ax, column in zip(axes, ("silhouette_mean", "silhouette_min"), strict=True):
        for name, part in table.groupby("features", sort=False):
            label = f"{name} (best k={best[name]})" if column == "silhouette_mean" else name
            ax.errorbar(part["k"], part[column], yerr=part[f"{column}_std"], marker="o",
                        capsize=3, label=label)
        ax.set_xlabel("number of clusters k")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(column.replace("_", " "))
        ax.legend()
    fig.suptitle("k-means silhouettes: embedding (mean ± std over seeds) vs raw attributes")
    return fig


def member_silhouettes(config_dir: Path, ks: Iterable[int] = DEFAULT_KS, n_init: int = 10,
                       seed: int = 0, epoch: int | None = None,
                       device: str | None = None) -> MemberSilhouettes:
    """Silhouettes of every member's embedding and their mean ± std (paper Fig. 9).

    Parameters
    ----------
    config_dir
        Configuration folder of an experiment with ``seed*/`` EA-LSTM run directories.
    ks, n_init, seed
        As :func:`~ealstm.analysis.clustering.cluster_scores` (default ``k = 3..14``).
    epoch, device
        Checkpoint (default: last) and torch device of every member.

    Returns
    -------
    MemberSilhouettes
        The tables; ``silhouette_members.csv``, ``silhouette_per_member.csv`` and
        ``silhouette_members.png`` are written to ``config_dir/analysis/embedding/``.
    """
    members = find_members(config_dir)
    scores, raw = {}, None
    for path in members:
        run = load_run(path, epoch, device)
        embedding = input_gate_embedding(run)
        kept = usable_ks(ks, embedding.sizes["basin"])
        scores[path.name] = cluster_scores(embedding.values, kept, n_init, seed)
        if raw is None:  # the standardised attributes are the same for every member
            raw = cluster_scores(np.asarray(run.scaled.static), kept, n_init, seed)
    table = _long_table(silhouette_over_members(scores), raw)
    per_member = pd.concat({n: s[["silhouette_mean", "silhouette_min"]]
                            for n, s in scores.items()}, names=["member", "k"]).reset_index()
    best = {name: best_k(part.set_index("k"))
            for name, part in table.groupby("features", sort=False)}
    out = ExperimentPaths(Path(config_dir).parent).analysis(Path(config_dir).name, "embedding")
    files = {"silhouette_members": save_csv(out / "silhouette_members.csv", table, index=False),
             "silhouette_per_member": save_csv(out / "silhouette_per_member.csv", per_member,
                                               index=False),
             "silhouette_members_plot": save_figure(plot_member_silhouettes(table, best),
                                                    out / "silhouette_members.png")}
    log.info("silhouettes of %d members of %s: best k %s", len(members), config_dir, best)
    return MemberSilhouettes(out, table, per_member, best, files)


def _long_table(members: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    """``features, k`` + :data:`MEMBER_COLUMNS` of the members and the raw attributes."""
    raw_part = raw[["silhouette_mean", "silhouette_min"]].assign(
        silhouette_mean_std=np.nan, silhouette_min_std=np.nan, n_members=1)
    parts = [members.reset_index().assign(features="embedding"),
             raw_part.reset_index().assign(features="raw")]
    return pd.concat(parts, ignore_index=True)[["features", "k", *MEMBER_COLUMNS]]
