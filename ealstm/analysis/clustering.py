r"""k-means clustering, silhouette scores and variance reduction of signatures (paper sect. 3.4).

The paper clusters basins with k-means (Euclidean distance) once on the EA-LSTM input-gate
embedding and once on the raw (standardised) catchment attributes, chooses the number of clusters
``k`` by the highest mean silhouette value among ``k = 3..14`` (Fig. 9, the range of the paper's
``papercode/clusterutils.get_silhouette_scores``), and asks how much of the variance of 13
hydrological signatures the cluster groupings explain (Fig. 10). The paper's code
(``clusterutils.get_variance_reduction`` and the embedding notebook) computes, per signature,

.. math::

    \mathrm{FRV}_s = 1 - \frac{1}{C} \sum_{c=1}^{C} \frac{\mathrm{Var}_c(s)}{\mathrm{Var}(s)}

the *unweighted* mean over the ``C`` clusters of the within-cluster variance relative to the
total variance, both sample variances (``ddof=1``, pandas' ``var``); a cluster with fewer than
two values has no variance and is left out of the mean (pandas skips its NaN). This is the
default (``method="paper"``). Because small clusters count as much as large ones it can be
negative. ``method="eta2"`` is the size-weighted variant with population variances,

.. math::

    \eta^2_s = 1 - \frac{\sum_c \frac{n_c}{n} \operatorname{Var}_c(s)}{\operatorname{Var}(s)}
             = 1 - \frac{\sum_c \sum_{i \in c} (s_i - \bar s_c)^2}{\sum_i (s_i - \bar s)^2}
             \in [0, 1],

the between-cluster share of the total sum of squares (correlation ratio).

For the embedding, Fig. 9 shows the mean silhouette ± its standard deviation over the eight
seeds of the EA-LSTM: :mod:`ealstm.analysis.embedding_members`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_samples

from ealstm.analysis.signatures import SIGNATURES as SIGNATURE_FUNCTIONS
from ealstm.errors import ConfigError, NoValidDataError

log = logging.getLogger(__name__)

#: The 13 hydrological signatures of the paper's sect. 2.6.3 / Fig. 10 (``camels_hydro.txt``).
SIGNATURES = tuple(SIGNATURE_FUNCTIONS)
#: Default range of cluster numbers of Fig. 9: 3..14 as ``clusterutils.get_silhouette_scores``.
DEFAULT_KS = range(3, 15)
#: Definitions of the fractional variance reduction (module docstring); the first is the default.
VARIANCE_REDUCTION_METHODS = ("paper", "eta2")



def usable_ks(ks: Iterable[int], n_samples: int) -> list[int]:
    """Keep the cluster numbers for which a silhouette value exists: ``2 <= k <= n - 1``.

    Parameters
    ----------
    ks
        Requested numbers of clusters.
    n_samples
        Number of points (basins) to cluster.

    Returns
    -------
    list of int
        Sorted, unique usable ``k``; the dropped ones are logged.

    Raises
    ------
    ConfigError
        No requested ``k`` is usable.
    """
    requested = sorted({int(k) for k in ks})
    kept = [k for k in requested if 2 <= k <= n_samples - 1]
    dropped = sorted(set(requested) - set(kept))
    if dropped:
        log.info("k-means: dropped k=%s (silhouettes need 2 <= k <= n_basins - 1 = %d)",
                 dropped, n_samples - 1)
    if n_samples < 3:
        raise ConfigError(f"a cluster analysis needs at least 3 basins, got {n_samples}")
    if not kept:
        raise ConfigError(f"no usable number of clusters in ks={requested} for {n_samples} "
                          f"basins: choose ks within 2..{n_samples - 1}")
    return kept


def _as_features(features: ArrayLike) -> np.ndarray:
    """``float64 [n, d]`` copy of ``features``; NaN or a wrong shape raise."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be [n_samples, n_features], got shape {x.shape}")
    if not np.isfinite(x).all():
        raise NoValidDataError(f"features hold {int((~np.isfinite(x)).sum())} non-finite values; "
                               "k-means needs complete data")
    return x


def _kmeans_row(x: np.ndarray, k: int, n_init: int, seed: int) -> dict:
    """Fit k-means for one ``k`` and score it with per-sample silhouettes."""
    with warnings.catch_warnings():  # duplicate points: fewer distinct clusters than k
        warnings.simplefilter("ignore", ConvergenceWarning)
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x)
    labels = km.labels_.astype(np.int64)
    n_found = len(np.unique(labels))
    if n_found == k:
        s = silhouette_samples(x, labels)
        mean, low = float(s.mean()), float(s.min())
    else:  # the silhouette of this k does not exist (it would be that of n_found clusters)
        log.warning("k-means with k=%d found only %d distinct clusters (duplicate points): "
                    "silhouette set to NaN", k, n_found)
        mean = low = float("nan")
    return {"k": k, "silhouette_mean": mean, "silhouette_min": low,
            "inertia": float(km.inertia_), "n_clusters": n_found, "labels": labels}


def cluster_scores(features: ArrayLike, ks: Iterable[int] = DEFAULT_KS, n_init: int = 10,
                   seed: int = 0) -> pd.DataFrame:
    """k-means clusterings and their silhouette scores for several ``k`` (paper Fig. 9).

    Parameters
    ----------
    features
        Points to cluster ``[n_samples, n_features]`` (basins x embedding cells or attributes).
    ks
        Numbers of clusters to try; those outside ``2..n_samples - 1`` are dropped (logged).
    n_init
        k-means restarts per ``k``; the one with the lowest inertia is kept.
    seed
        Random state of :class:`sklearn.cluster.KMeans`.

    Returns
    -------
    pd.DataFrame
        Indexed by ``k``; columns ``silhouette_mean`` (mean silhouette over samples, the
        paper's criterion for ``k``), ``silhouette_min`` (the paper's "minimum silhouette",
        the smallest per-sample value), ``inertia``, ``n_clusters`` (distinct labels found)
        and ``labels`` (``int64 [n_samples]`` array per row). Silhouettes are NaN when k-means
        found fewer than ``k`` distinct clusters (duplicate points).
    """
    if n_init < 1:
        raise ConfigError(f"n_init must be >= 1, got {n_init}")
    x = _as_features(features)
    rows = [_kmeans_row(x, k, n_init, seed) for k in usable_ks(ks, len(x))]
    return pd.DataFrame(rows).set_index("k")


def best_k(scores: pd.DataFrame) -> int:
    """``k`` with the highest mean silhouette (ties: the smallest ``k``), as in paper sect. 3.4.

    Raises
    ------
    NoValidDataError
        Every mean silhouette is NaN.
    """
    mean = scores["silhouette_mean"]
    if mean.isna().all():
        raise NoValidDataError("no k has a defined silhouette: the points are (nearly) identical")
    return int(mean[mean == mean.max()].index.min())


def _labels_for(labels: ArrayLike | pd.Series, index: pd.Index) -> np.ndarray:
    """Cluster labels aligned with ``index`` (a Series by its index, else by position)."""
    if isinstance(labels, pd.Series):
        missing = index.difference(labels.index)
        if len(missing):
            raise ValueError(f"labels lack the signature rows {list(missing[:5])}")
        return labels.reindex(index).to_numpy()
    values = np.asarray(labels)
    if values.shape != (len(index),):
        raise ValueError(f"labels must be one per signature row ({len(index)}), got shape "
                         f"{values.shape}")
    return values


def _eta_squared(x: np.ndarray, g: np.ndarray) -> float:
    """``1 - SS_within / SS_total`` (size-weighted, population variances); NaN if undefined."""
    ss_total = float(((x - x.mean()) ** 2).sum())
    if ss_total <= 0.0:
        return float("nan")
    cluster_mean = pd.Series(x).groupby(g).transform("mean").to_numpy()
    return 1.0 - float(((x - cluster_mean) ** 2).sum()) / ss_total


def _paper_reduction(x: np.ndarray, g: np.ndarray) -> float:
    """``1 - mean_c Var_c / Var`` (unweighted over clusters, ``ddof=1``); NaN if undefined.

    Clusters with fewer than two values have no sample variance and are skipped, as pandas'
    ``mean`` skips their NaN in the paper's notebook.
    """
    total = float(np.var(x, ddof=1))
    if total <= 0.0:
        return float("nan")
    within = pd.Series(x).groupby(g).var(ddof=1).dropna()
    if within.empty:
        return float("nan")
    return 1.0 - float((within / total).mean())


def _fraction_explained(values: np.ndarray, labels: np.ndarray, method: str) -> float:
    """Variance reduction of one signature over its finite ``values``; NaN if undefined."""
    ok = np.isfinite(values)
    x, g = values[ok], labels[ok]
    if len(x) < 2:
        return float("nan")
    return _paper_reduction(x, g) if method == "paper" else _eta_squared(x, g)


def variance_reduction(labels: ArrayLike | pd.Series, signatures: pd.DataFrame,
                       method: str = "paper") -> pd.Series:
    r"""Fractional reduction of the variance of each signature by a clustering (paper Fig. 10).

    ``method="paper"`` (default): ``1 - mean_c Var_c(s) / Var(s)``, the unweighted mean over
    clusters with sample variances, as the paper's code; ``method="eta2"``: ``1 - sum_c (n_c /
    n) Var_c(s) / Var(s)`` with population variances (see the module docstring). ``1`` means
    the clusters explain the signature completely.

    Parameters
    ----------
    labels
        Cluster label per basin: a Series indexed like ``signatures`` or an array in the order
        of its rows.
    signatures
        ``[basin, signature]`` numeric table (e.g. the :data:`SIGNATURES` of
        ``camels_hydro.txt``).
    method
        One of :data:`VARIANCE_REDUCTION_METHODS`.

    Returns
    -------
    pd.Series
        One value per signature column (name ``variance_reduction``). NaN handling: basins whose
        value of a signature is NaN are left out of that signature only; the result is NaN when
        fewer than 2 values remain, they are all equal (zero total variance) or (``"paper"``)
        no cluster holds two of them.

    Raises
    ------
    ConfigError
        Unknown ``method``.
    """
    if method not in VARIANCE_REDUCTION_METHODS:
        raise ConfigError(f"variance reduction method must be one of "
                          f"{list(VARIANCE_REDUCTION_METHODS)}, got {method!r}")
    numeric = signatures.apply(pd.to_numeric, errors="coerce")
    text = [c for c in signatures.columns
            if numeric[c].isna().sum() > signatures[c].isna().sum()]
    if text:
        raise ValueError(f"signature columns {text} are not numeric")
    groups = _labels_for(labels, signatures.index)
    values = {c: _fraction_explained(numeric[c].to_numpy(np.float64), groups, method)
              for c in numeric.columns}
    return pd.Series(values, name="variance_reduction", dtype=np.float64)


def signatures_of(table: pd.DataFrame, names: Sequence[str] = SIGNATURES) -> pd.DataFrame:
    """Select the signature columns ``names`` from an attribute table; missing ones raise."""
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise ConfigError(f"hydrological signatures {missing} are not in the attribute table "
                          "(camels_hydro.txt); pass the signatures explicitly")
    return table[list(names)].apply(pd.to_numeric, errors="coerce")


def silhouette_table(scores: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Stack the :func:`cluster_scores` of several feature sets into one long table.

    Columns ``features, k, silhouette_mean, silhouette_min, inertia, n_clusters`` (Fig. 9).
    """
    parts = [s.drop(columns="labels").reset_index().assign(features=name)
             for name, s in scores.items()]
    table = pd.concat(parts, ignore_index=True)
    return table[["features", "k", "silhouette_mean", "silhouette_min", "inertia", "n_clusters"]]


def variance_reduction_table(labels: pd.DataFrame, signatures: pd.DataFrame, ks: Sequence[int],
                             feature_sets: Sequence[str], method: str = "paper") -> pd.DataFrame:
    """Variance reduction of every signature by every clustering (paper Fig. 10).

    Parameters
    ----------
    labels
        Basin-indexed cluster labels in columns ``<feature set>_k<k>``.
    signatures
        ``[basin, signature]`` table (see :func:`variance_reduction`).
    ks, feature_sets
        The ``k`` and feature-set names whose label columns are used.
    method
        Definition of :func:`variance_reduction` (default the paper's).

    Returns
    -------
    pd.DataFrame
        Columns ``k, signature`` and one column of :func:`variance_reduction` per feature set.
    """
    parts = []
    for k in ks:
        part = pd.DataFrame({name: variance_reduction(labels[f"{name}_k{k}"], signatures, method)
                             for name in feature_sets})
        parts.append(part.rename_axis("signature").reset_index().assign(k=k))
    return pd.concat(parts, ignore_index=True)[["k", "signature", *feature_sets]]
