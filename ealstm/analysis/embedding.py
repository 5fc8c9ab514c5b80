"""The EA-LSTM's input-gate catchment embedding (paper sects. 2.6.3 and 3.4, Figs. 8-12).

Once trained, the input gate ``i = sigmoid(W_i x_s + b_i)`` (eq. 7) of a basin is fixed: it
embeds the static attributes ``x_s`` into the space of the cell states. :func:`embedding_analysis`
reproduces the paper's analysis of that embedding for one run:

* ``embedding.nc`` and ``heatmap.png`` -- gates x basins, basins by ascending gauge id (Fig. 8);
* ``silhouette.csv``/``.png`` -- k-means on the embedding vs on the raw standardised attributes,
  mean and minimum silhouette per ``k`` (Fig. 9);
* ``variance_reduction.csv``/``.png`` -- fractional reduction of variance of the 13 hydrological
  signatures by both clusterings, for the best ``k`` of each (Fig. 10);
* ``clusters.csv``, ``cluster_map_embedding.png``, ``cluster_map_raw.png`` -- cluster labels and
  their maps (Fig. 11);
* ``umap.png`` -- a seeded 2-D UMAP projection of the embedding coloured by attributes (Fig. 12;
  ``n_neighbors=10``, ``min_dist=0.1`` as the paper's notebook).

The mean ± std of the silhouettes over the seeds of an experiment configuration (Fig. 9) is
:func:`ealstm.analysis.embedding_members.member_silhouettes`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ealstm.analysis.clustering import (
    DEFAULT_KS,
    SIGNATURES,
    best_k,
    cluster_scores,
    signatures_of,
    silhouette_table,
    usable_ks,
    variance_reduction_table,
)
from ealstm.analysis.maps import align_labels, attribute_label, draw_basemap
from ealstm.analysis.signatures import run_signatures
from ealstm.data.readers.datasets import read_attributes, read_locations
from ealstm.errors import ConfigError
from ealstm.evaluation.run import TrainedRun, load_run
from ealstm.io import atomic_path, save_csv, save_netcdf

log = logging.getLogger(__name__)

#: Attributes that colour the UMAP panels (Fig. 12, the paper's six), where the run uses them.
UMAP_ATTRIBUTES = ("aridity", "elev_mean", "p_mean", "area_gages2", "frac_forest", "gvf_diff")
UMAP_N_COMPONENTS = 2
#: UMAP settings of the paper's embedding notebook (Fig. 12).
UMAP_N_NEIGHBORS = 10
UMAP_MIN_DIST = 0.1
#: UMAP needs ``n_neighbors >= 2`` and its spectral initialisation ``n > n_components + 1``.
UMAP_MIN_BASINS = UMAP_N_COMPONENTS + 2
#: The two feature sets that are clustered: input-gate embedding and raw standardised attributes.
FEATURE_SETS = ("embedding", "raw")


@dataclass(frozen=True)
class EmbeddingResult:
    """What :func:`embedding_analysis` computed and wrote.

    Attributes
    ----------
    output_dir
        ``run_dir/analysis/embedding``.
    embedding
        Input gate ``[basin, cell]`` (eq. 7).
    silhouette
        One row per feature set and ``k``: ``features, k, silhouette_mean, silhouette_min,
        inertia, n_clusters`` (Fig. 9).
    best_k
        ``{"embedding": k, "raw": k}``, the ``k`` of highest mean silhouette of each.
    variance_reduction
        ``k, signature, embedding, raw``: fractional variance reduction of each signature by
        both clusterings with ``k`` clusters, for every ``k`` in ``best_k`` (Fig. 10).
    clusters
        Indexed by basin: ``lat, lon`` and the labels ``embedding_k<k>``, ``raw_k<k>`` (Fig. 11).
    files
        Artifact name -> path of every file written.
    notes
        Human-readable remarks (dropped ``k``, skipped UMAP, ...).
    """

    output_dir: Path
    embedding: xr.DataArray
    silhouette: pd.DataFrame
    best_k: dict[str, int]
    variance_reduction: pd.DataFrame
    clusters: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def input_gate_embedding(run: TrainedRun) -> xr.DataArray:
    """Input gate ``i = sigmoid(W_i x_s + b_i)`` (eq. 7) of every basin of a run (Fig. 8).

    Parameters
    ----------
    run
        A loaded run (:func:`ealstm.evaluation.run.load_run`); ``run.scaled.static`` holds the
        standardised attributes the model was trained with.

    Returns
    -------
    xr.DataArray
        ``input_gate [basin, cell]`` (float32, in ``(0, 1)``), basins in the run's order.

    Raises
    ------
    ConfigError
        The run's model has no input gate (e.g. a standard LSTM).
    """
    gate = getattr(run.model, "input_gate", None)
    if not callable(gate):
        raise ConfigError(f"model {run.cfg.model.name!r} ({type(run.model).__name__}) of run "
                          f"{run.paths.root} has no static input gate (eq. 7): the embedding "
                          "analysis needs an EA-LSTM (model.name: ealstm)")
    dtype = next(run.model.parameters()).dtype
    x_s = torch.as_tensor(np.asarray(run.scaled.static), dtype=dtype, device=run.device)
    with torch.no_grad():
        values = gate(x_s).cpu().numpy().astype(np.float32)
    return xr.DataArray(
        values, dims=("basin", "cell"), name="input_gate",
        coords={"basin": list(run.scaled.basins), "cell": np.arange(values.shape[1])},
        attrs={"description": "EA-LSTM input gate sigmoid(W_i x_s + b_i), paper eq. 7",
               "model": run.cfg.model.name, "epoch": run.epoch, "run": str(run.paths.root)})


# --------------------------------------------------------------------------- inputs
def _normalise_ids(index: pd.Index) -> pd.Index:
    """Basin ids as strings; all-digit ids (USGS gauges) zero-padded to 8 characters."""
    ids = [str(b).strip() for b in index]
    return pd.Index([b.zfill(8) if b.isdigit() else b for b in ids], name="basin")


def load_signatures(run: TrainedRun,
                    signatures: pd.DataFrame | Sequence[str] | None = None) -> pd.DataFrame:
    """Hydrological signatures ``[basin, signature]`` of the run's basins (paper sect. 2.6.3).

    Parameters
    ----------
    run
        The loaded run.
    signatures
        ``None``: the 13 :data:`~ealstm.analysis.clustering.SIGNATURES` of ``camels_hydro.txt``
        in the run's attributes, or, for data sets without them (Caravan, generic), computed
        from the data set's discharge and precipitation
        (:func:`~ealstm.analysis.signatures.run_signatures`); a sequence of names: those
        attribute columns; a DataFrame
        indexed by gauge id: used as given (basins it lacks become NaN rows, logged).
    """
    basins = list(run.scaled.basins)
    if isinstance(signatures, pd.DataFrame):
        table = signatures.copy()
        table.index = _normalise_ids(table.index)
        missing = [b for b in basins if b not in table.index]
        if missing:
            log.warning("signatures lack basins %s: left out of the variance reduction", missing)
        return table.reindex(basins).apply(pd.to_numeric, errors="coerce")
    names = SIGNATURES if signatures is None else tuple(signatures)
    attributes = read_attributes(run.cfg.data, basins)
    if signatures is None and not set(names) <= set(attributes.columns):
        log.info("the %s attributes hold no camels_hydro signatures: computed from the "
                 "discharge and precipitation of the data set", run.cfg.data.dataset)
        table = run_signatures(run.cfg.data, basins, names)
    else:
        table = signatures_of(attributes, names)
    table.index = _normalise_ids(table.index)
    return table


def raw_attributes(run: TrainedRun) -> pd.DataFrame:
    """Return the static attributes in their original units ``[basin, attribute]``."""
    values = (np.asarray(run.scaled.static, dtype=np.float64) * run.scaler.static_std
              + run.scaler.static_mean)
    return pd.DataFrame(values, index=pd.Index(run.scaled.basins, name="basin"),
                        columns=list(run.scaled.static_names))


# --------------------------------------------------------------------------- tables
def _cluster_table(scores: dict[str, pd.DataFrame], ks: Sequence[int], basins: Sequence[str],
                   locations: pd.DataFrame) -> pd.DataFrame:
    """Basin-indexed ``lat, lon`` and labels ``<features>_k<k>`` for every ``k`` in ``ks``."""
    table = locations[["lat", "lon"]].copy()
    table.index = pd.Index(basins, name="basin")
    for name, s in scores.items():
        for k in ks:
            table[f"{name}_k{k}"] = s.loc[k, "labels"]
    return table


# --------------------------------------------------------------------------- figures
def save_figure(fig: Figure, path: Path) -> Path:
    """Write a matplotlib figure as PNG, atomically (temp file + ``os.replace``)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return Path(path)


def plot_heatmap(embedding: xr.DataArray) -> Figure:
    """Input-gate activations, cells (y) x basins by ascending gauge id (x) (Fig. 8)."""
    ordered = embedding.sortby("basin")
    n_basins, n_cells = ordered.shape
    fig = Figure(figsize=(min(4 + 0.02 * n_basins, 16), min(3 + 0.02 * n_cells, 8)),
                 layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(ordered.values.T, aspect="auto", cmap="viridis", vmin=0.0, vmax=1.0,
                      interpolation="nearest", origin="lower")
    if n_basins <= 30:
        ax.set_xticks(range(n_basins), ordered["basin"].values, rotation=90, fontsize=7)
    ax.set_xlabel("basin (ascending gauge id)")
    ax.set_ylabel("input gate cell")
    fig.colorbar(image, ax=ax, label="input gate activation (1 = open)")
    ax.set_title("EA-LSTM input-gate embedding (eq. 7)")
    return fig


def plot_silhouette(table: pd.DataFrame, best: dict[str, int]) -> Figure:
    """Mean and minimum silhouette over ``k``, embedding vs raw attributes (Fig. 9)."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    for ax, column in zip(axes, ("silhouette_mean", "silhouette_min"), strict=True):
        for name, part in table.groupby("features", sort=False):
            label = f"{name} (best k={best[name]})" if column == "silhouette_mean" else name
            ax.plot(part["k"], part[column], marker="o", label=label)
        ax.axhline(0.0, color="grey", linewidth=0.8)
        ax.set_xlabel("number of clusters k")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"{column.replace('_', ' ')} (-)")
        ax.legend()
    fig.suptitle("k-means silhouettes: input-gate embedding vs raw attributes")
    return fig


def plot_variance_reduction(table: pd.DataFrame) -> Figure:
    """Fractional variance reduction per signature, one panel per ``k`` (Fig. 10)."""
    ks = sorted(table["k"].unique())
    fig = Figure(figsize=(10, 3.5 * len(ks)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(ks), 1, squeeze=False)[:, 0])
    width = 0.8 / len(FEATURE_SETS)
    for ax, k in zip(axes, ks, strict=True):
        part = table[table["k"] == k]
        x = np.arange(len(part))
        for j, name in enumerate(FEATURE_SETS):
            ax.bar(x + (j - 0.5 * (len(FEATURE_SETS) - 1)) * width, part[name], width,
                   label=name)
        ax.set_xticks(x, part["signature"], rotation=45, ha="right")
        ax.set_ylim(top=1.0)  # the paper's definition can be negative
        ax.set_ylabel("fractional variance reduction (-)")
        ax.set_title(f"k = {k}")
        ax.legend()
    return fig


def plot_cluster_maps(clusters: pd.DataFrame, features: str, ks: Sequence[int],
                      reference: str | None = None) -> Figure:
    """Gauge locations coloured by k-means cluster, one panel per ``k`` (Fig. 11).

    Basins in the US are drawn over the state outlines (:func:`draw_basemap`). With
    ``reference`` (another feature set of ``clusters``), the clusters are renumbered to agree
    with that set's clusters of the same ``k`` (:func:`align_labels`), so that both maps give
    the same colour to the same group; the legend then shows the renumbered ids.
    """
    fig = Figure(figsize=(7 * len(ks), 4.2), layout="constrained")
    axes = fig.subplots(1, len(ks), squeeze=False)[0]
    for ax, k in zip(axes, ks, strict=True):
        labels = clusters[f"{features}_k{k}"].to_numpy()
        if reference is not None:
            labels = align_labels(labels, clusters[f"{reference}_k{k}"].to_numpy())
        draw_basemap(ax, clusters["lon"].to_numpy(), clusters["lat"].to_numpy())
        colours = colormaps["tab10" if labels.max() < 10 else "tab20"]
        for label in np.unique(labels):
            rows = clusters[labels == label]
            ax.scatter(rows["lon"], rows["lat"], s=20, color=colours(int(label) % colours.N),
                       edgecolors="0.2", linewidths=0.3, zorder=2,
                       label=f"cluster {label} ({len(rows)})")
        ax.set_title(f"{features}, k = {k}")
        ax.legend(fontsize=7, markerscale=0.8, loc="lower left", title="cluster (basins)",
                  title_fontsize=7)
    return fig


def umap_projection(features: np.ndarray, seed: int = 0) -> tuple[np.ndarray | None, str | None]:
    """Seeded 2-D UMAP projection of the embedding (Fig. 12), or ``(None, reason)``.

    ``n_neighbors = min(10, n - 1)`` and ``min_dist = 0.1`` (the paper's settings where there are
    enough basins); fewer than :data:`UMAP_MIN_BASINS` basins or a missing ``umap-learn`` skip
    the projection.
    """
    n = len(features)
    if n < UMAP_MIN_BASINS:
        return None, f"UMAP skipped: {n} basins, UMAP needs at least {UMAP_MIN_BASINS}"
    try:
        import umap
    except ImportError as exc:
        return None, f"UMAP skipped: umap-learn is not installed ({exc})"
    reducer = umap.UMAP(n_components=UMAP_N_COMPONENTS, n_neighbors=min(UMAP_N_NEIGHBORS, n - 1),
                        min_dist=UMAP_MIN_DIST, random_state=seed)
    with warnings.catch_warnings():  # "n_jobs overridden by setting random_state"
        warnings.simplefilter("ignore", UserWarning)
        return np.asarray(reducer.fit_transform(np.asarray(features, np.float64))), None


def plot_umap(projection: np.ndarray, attributes: pd.DataFrame) -> Figure:
    """UMAP projection coloured by each column of ``attributes`` (Fig. 12)."""
    n = attributes.shape[1]
    cols = min(n, 3)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.5 * cols, 4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, name in zip(axes, attributes.columns, strict=False):
        points = ax.scatter(projection[:, 0], projection[:, 1], c=attributes[name], s=14,
                            cmap="viridis")
        fig.colorbar(points, ax=ax, label=attribute_label(str(name)))
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle("UMAP of the input-gate embedding")
    return fig


def _umap_attributes(run: TrainedRun) -> pd.DataFrame:
    """Return the :data:`UMAP_ATTRIBUTES` the run uses (else its first three), raw units."""
    raw = raw_attributes(run)
    names = [a for a in UMAP_ATTRIBUTES if a in raw.columns] or list(raw.columns[:3])
    return raw[names]


# --------------------------------------------------------------------------- driver
def _write_outputs(out: Path, result: EmbeddingResult) -> dict[str, Path]:
    """Write the tables and the figures of Figs. 8-11; return name -> path."""
    ks = sorted(set(result.best_k.values()))
    embedding = result.embedding.to_dataset()
    embedding.attrs = dict(result.embedding.attrs)
    files = {
        "embedding": save_netcdf(out / "embedding.nc", embedding),
        "silhouette": save_csv(out / "silhouette.csv", result.silhouette, index=False),
        "variance_reduction": save_csv(out / "variance_reduction.csv",
                                       result.variance_reduction, index=False),
        "clusters": save_csv(out / "clusters.csv", result.clusters),
        "heatmap": save_figure(plot_heatmap(result.embedding), out / "heatmap.png"),
        "silhouette_plot": save_figure(plot_silhouette(result.silhouette, result.best_k),
                                       out / "silhouette.png"),
        "variance_reduction_plot": save_figure(plot_variance_reduction(result.variance_reduction),
                                               out / "variance_reduction.png"),
    }
    for name in FEATURE_SETS:
        reference = None if name == FEATURE_SETS[0] else FEATURE_SETS[0]
        figure = plot_cluster_maps(result.clusters, name, ks, reference)
        files[f"cluster_map_{name}"] = save_figure(figure, out / f"cluster_map_{name}.png")
    return files


def _cluster_both(run: TrainedRun, embedding: xr.DataArray, ks: Iterable[int], n_init: int,
                  seed: int) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """k-means scores of the embedding and the raw standardised attributes; notes on ``ks``."""
    requested = sorted({int(k) for k in ks})
    n = embedding.sizes["basin"]
    kept = usable_ks(requested, n)
    dropped = sorted(set(requested) - set(kept))
    notes = [f"k={dropped} dropped: silhouettes need 2 <= k <= n_basins - 1 = {n - 1}"] \
        if dropped else []
    features = {"embedding": embedding.values, "raw": np.asarray(run.scaled.static)}
    return {name: cluster_scores(x, kept, n_init, seed) for name, x in features.items()}, notes


def embedding_analysis(run_dir: Path, ks: Iterable[int] = DEFAULT_KS, n_init: int = 10,
                       seed: int = 0, signatures: pd.DataFrame | Sequence[str] | None = None,
                       epoch: int | None = None, device: str | None = None,
                       variance_method: str = "paper") -> EmbeddingResult:
    """Analyse the input-gate embedding of a trained EA-LSTM (paper sect. 3.4, Figs. 8-12).

    Parameters
    ----------
    run_dir
        Directory written by ``ealstm train`` (model ``ealstm``).
    ks
        Numbers of k-means clusters to score (Fig. 9: 3..14); ``k > n_basins - 1`` is dropped
        with a logged note.
    n_init, seed
        k-means restarts per ``k`` and random state (also UMAP's seed).
    signatures
        Hydrological signatures, see :func:`load_signatures` (default: the 13 of
        ``camels_hydro.txt``).
    epoch, device
        Checkpoint (default: best validation epoch, else last) and torch device (default:
        the run's).
    variance_method
        Definition of the variance reduction, see
        :func:`~ealstm.analysis.clustering.variance_reduction` (default the paper's).

    Returns
    -------
    EmbeddingResult
        Everything computed; the files are in ``run_dir/analysis/embedding/``.
    """
    run = load_run(Path(run_dir), epoch, device)
    out = run.paths.analysis("embedding")
    embedding = input_gate_embedding(run)
    scores, notes = _cluster_both(run, embedding, ks, n_init, seed)
    best = {name: best_k(s) for name, s in scores.items()}
    shown = sorted(set(best.values()))
    locations = read_locations(run.cfg.data, list(run.scaled.basins))
    clusters = _cluster_table(scores, shown, list(run.scaled.basins), locations)
    reduction = variance_reduction_table(clusters, load_signatures(run, signatures), shown,
                                         FEATURE_SETS, variance_method)
    result = EmbeddingResult(out, embedding, silhouette_table(scores), best, reduction,
                             clusters)
    files = _write_outputs(out, result)
    projection, reason = umap_projection(embedding.values, seed)
    if projection is None:
        log.warning("%s; umap.png not written", reason)
        notes.append(reason)
    else:
        files["umap"] = save_figure(plot_umap(projection, _umap_attributes(run)),
                                    out / "umap.png")
    log.info("embedding analysis of %s: best k %s, files in %s", run.paths.root, best, out)
    return EmbeddingResult(out, embedding, result.silhouette, best, reduction, clusters, files,
                           tuple(notes))
