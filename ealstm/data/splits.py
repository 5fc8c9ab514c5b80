"""Group k-fold splits over basins (paper Appendix B; prediction in ungauged basins).

A fold is a set of basins, never of time steps: every basin lies in exactly one fold, so a model
trained on the other folds has never seen any day of the held-out basins.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ealstm.errors import ConfigError


def basin_folds(basins: Sequence[str], k: int = 4, seed: int = 0) -> list[list[str]]:
    """Partition ``basins`` into ``k`` random folds of (almost) equal size.

    The basins are sorted first, so the folds depend only on the set of ids, ``k`` and ``seed``,
    not on the order of the basin list. Fold sizes differ by at most one.

    Parameters
    ----------
    basins
        Basin ids (str), without duplicates.
    k
        Number of folds, ``2 <= k <= len(basins)``.
    seed
        Seed of the random permutation.

    Returns
    -------
    list of list of str
        ``k`` folds, each sorted; together they hold every basin exactly once.

    Raises
    ------
    ConfigError
        If ``k`` is out of range or a basin is listed twice.
    """
    ids = sorted(str(b) for b in basins)
    duplicates = sorted({b for b in ids if ids.count(b) > 1})
    if duplicates:
        raise ConfigError(f"basins {duplicates} are listed more than once; folds need unique ids")
    if not 2 <= k <= len(ids):
        raise ConfigError(f"k = {k} folds need 2 <= k <= the number of basins ({len(ids)})")
    order = np.random.default_rng(seed).permutation(len(ids))
    return [sorted(ids[i] for i in order[fold::k]) for fold in range(k)]


def fold_split(folds: Sequence[Sequence[str]], fold: int) -> tuple[list[str], list[str]]:
    """Return ``(training basins, held-out basins)`` of split ``fold``.

    The held-out basins are ``folds[fold]``; the training basins are those of all other folds,
    sorted.
    """
    if not 0 <= fold < len(folds):
        raise ConfigError(f"fold {fold} does not exist; there are {len(folds)} folds")
    train = sorted(b for i, members in enumerate(folds) if i != fold for b in members)
    return train, list(folds[fold])


def fold_table(folds: Sequence[Sequence[str]]) -> pd.DataFrame:
    """Return the folds as a table with columns ``basin`` (str) and ``fold`` (int)."""
    return pd.DataFrame([(b, i) for i, members in enumerate(folds) for b in members],
                        columns=["basin", "fold"])
