"""Input-gate embedding analysis (paper sect. 3.4, Figs. 8-12)."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from sklearn.metrics import adjusted_rand_score, silhouette_score

from ealstm.analysis.clustering import (
    SIGNATURES,
    best_k,
    cluster_scores,
    usable_ks,
    variance_reduction,
)
from ealstm.analysis.embedding import (
    UMAP_MIN_BASINS,
    embedding_analysis,
    input_gate_embedding,
    umap_projection,
)
from ealstm.config import ModelConfig, parse_config
from ealstm.errors import ConfigError, NoValidDataError
from ealstm.evaluation.run import load_run
from ealstm.models import build_model
from ealstm.training.loop import train
from tests.conftest import tiny_run_config

EXPECTED_FILES = {
    "embedding.nc", "heatmap.png", "silhouette.csv", "silhouette.png", "variance_reduction.csv",
    "variance_reduction.png", "clusters.csv", "cluster_map_embedding.png", "cluster_map_raw.png",
    "umap.png",
}  # fmt: skip


def two_blobs(n_per_blob: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two tight, well-separated blobs in 3-D and their true labels."""
    rng = np.random.default_rng(seed)
    truth = np.repeat([0, 1], n_per_blob)
    points = truth[:, None] * 10.0 + rng.normal(0.0, 0.1, size=(2 * n_per_blob, 3))
    return points, truth


def train_single_threaded(raw_cfg: dict) -> Path:
    """Train with one torch thread (fast on shared cores), restoring the process-wide count."""
    threads = torch.get_num_threads()
    try:
        return train(parse_config({**raw_cfg, "train": {**raw_cfg["train"], "num_threads": 1}}),
                     progress=False)
    finally:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------- embedding (eq. 7)
def test_embedding_is_sigmoid_of_static_gate_computed_by_hand(tiny_ealstm_run):
    run = load_run(tiny_ealstm_run)
    embedding = input_gate_embedding(run)
    weight = run.model.static_gate.weight.detach().double().numpy()
    bias = run.model.static_gate.bias.detach().double().numpy()
    x_s = np.asarray(run.scaled.static, dtype=np.float64)
    expected = 1.0 / (1.0 + np.exp(-(x_s @ weight.T + bias)))
    assert embedding.dims == ("basin", "cell")
    assert embedding.shape == (len(run.scaled.basins), run.model.hidden_size)
    assert list(embedding["basin"].values) == list(run.scaled.basins)
    np.testing.assert_allclose(embedding.values, expected, rtol=0, atol=1e-6)


def test_embedding_of_a_model_without_input_gate_names_the_model(tiny_ealstm_run):
    run = load_run(tiny_ealstm_run)
    lstm_cfg = ModelConfig(name="lstm", hidden_size=8)
    lstm = build_model(lstm_cfg, len(run.scaled.dynamic_names), len(run.scaled.static_names))
    lstm_run = dataclasses.replace(run, model=lstm,
                                   cfg=run.cfg.model_copy(update={"model": lstm_cfg}))
    with pytest.raises(ConfigError, match="'lstm'.*no static input gate"):
        input_gate_embedding(lstm_run)


# --------------------------------------------------------------------------- clustering
def test_two_blobs_give_k2_with_high_mean_and_min_silhouette():
    points, truth = two_blobs()
    scores = cluster_scores(points, ks=range(2, 6), n_init=5, seed=0)
    assert list(scores.index) == [2, 3, 4, 5]
    assert {"silhouette_mean", "silhouette_min", "labels"} <= set(scores.columns)
    assert best_k(scores) == 2
    assert scores.loc[2, "silhouette_mean"] > 0.95 and scores.loc[2, "silhouette_min"] > 0.9
    assert (scores["silhouette_min"] <= scores["silhouette_mean"]).all()
    assert adjusted_rand_score(truth, scores.loc[2, "labels"]) == 1.0


def test_cluster_numbers_without_a_silhouette_are_dropped_with_a_note(caplog):
    points, _ = two_blobs(n_per_blob=3)
    with caplog.at_level(logging.INFO, logger="ealstm.analysis.clustering"):
        scores = cluster_scores(points, ks=[1, 2, 5, 6, 9], n_init=2)
    assert list(scores.index) == [2, 5]
    assert "dropped k=[1, 6, 9]" in caplog.text
    with pytest.raises(ConfigError, match="choose ks within 2..5"):
        usable_ks([6, 7], n_samples=6)
    with pytest.raises(ConfigError, match="at least 3 basins"):
        usable_ks([2], n_samples=2)


def test_duplicate_points_give_nan_silhouette_not_an_error():
    points = np.repeat([[0.0, 0.0], [1.0, 1.0]], 3, axis=0)
    scores = cluster_scores(points, ks=[2, 3], n_init=2)
    assert scores.loc[2, "silhouette_mean"] == pytest.approx(1.0)
    assert np.isnan(scores.loc[3, "silhouette_mean"]) and scores.loc[3, "n_clusters"] == 2
    assert best_k(scores) == 2
    identical = cluster_scores(np.zeros((5, 2)), ks=[2, 3], n_init=2)
    assert identical["silhouette_mean"].isna().all()
    with pytest.raises(NoValidDataError, match="no k has a defined silhouette"):
        best_k(identical)


# --------------------------------------------------------------------------- variance reduction
def test_variance_reduction_against_hand_computed_values():
    """Paper default: 1 - unweighted mean over clusters of Var_c / Var, both with ddof=1."""
    labels = np.array([0, 0, 1, 1])
    signatures = pd.DataFrame({
        "cluster_id": [0.0, 0.0, 1.0, 1.0],      # explained completely
        "within_only": [1.0, 2.0, 1.0, 2.0],     # Var = 1/3, Var_c = 1/2 each: 1 - 1.5 = -0.5
        "mixed": [1.0, 2.0, 3.0, 6.0],           # Var = 14/3, Var_c = 1/2 and 9/2: 13/28
    }, index=["a", "b", "c", "d"])  # fmt: skip
    result = variance_reduction(labels, signatures)
    assert list(result.index) == ["cluster_id", "within_only", "mixed"]
    assert result["cluster_id"] == pytest.approx(1.0)
    assert result["within_only"] == pytest.approx(-0.5)
    assert result["mixed"] == pytest.approx(13.0 / 28.0)


def test_eta2_variance_reduction_against_hand_computed_values():
    """Named option: size-weighted, ddof=0 -- 1 - SS_within / SS_total."""
    labels = np.array([0, 0, 1, 1])
    signatures = pd.DataFrame({"within_only": [1.0, 2.0, 1.0, 2.0],
                               "mixed": [1.0, 2.0, 3.0, 6.0]})  # SST = 14, SSW = 0.5 + 4.5
    result = variance_reduction(labels, signatures, method="eta2")
    assert result["within_only"] == pytest.approx(0.0)
    assert result["mixed"] == pytest.approx(1.0 - 5.0 / 14.0)
    with pytest.raises(ConfigError, match="variance reduction method"):
        variance_reduction(labels, signatures, method="weighted")


def test_paper_variance_reduction_weights_clusters_equally_and_skips_singletons():
    """Unequal clusters: [1, 2, 3] (Var 1) and [10, 12] (Var 2), total Var 25.3 (ddof 1)."""
    frame = pd.DataFrame({"s": [1.0, 2.0, 3.0, 10.0, 12.0]})
    labels = np.array([0, 0, 0, 1, 1])
    assert variance_reduction(labels, frame)["s"] == pytest.approx(1.0 - 1.5 / 25.3)
    assert variance_reduction(labels, frame, "eta2")["s"] == pytest.approx(1.0 - 4.0 / 101.2)
    # a singleton cluster has no sample variance and is left out of the mean (pandas skipna)
    single = pd.DataFrame({"s": [1.0, 3.0, 10.0]})  # total Var 67/3, Var_0 = 2
    assert variance_reduction([0, 0, 1], single)["s"] == pytest.approx(1.0 - 6.0 / 67.0)
    assert np.isnan(variance_reduction([0, 1, 2], single)["s"])  # only singletons


def test_variance_reduction_of_the_cluster_id_on_blobs_is_one():
    points, truth = two_blobs()
    labels = cluster_scores(points, ks=[2], n_init=5).loc[2, "labels"]
    signatures = pd.DataFrame({"id_like": truth + np.random.default_rng(1).normal(0, 1e-3, 20)})
    assert variance_reduction(labels, signatures)["id_like"] == pytest.approx(1.0, abs=1e-4)


def test_variance_reduction_handles_nan_explicitly_and_aligns_series_labels():
    signatures = pd.DataFrame({
        "one_nan": [0.0, 0.0, 1.0, np.nan],   # the NaN basin is left out: still fully explained
        "all_nan": [np.nan] * 4,              # undefined
        "constant": [3.0] * 4,                # zero total variance: undefined
    }, index=["a", "b", "c", "d"])  # fmt: skip
    labels = pd.Series([1, 0, 0, 1], index=["d", "a", "b", "c"])  # aligned by basin id
    result = variance_reduction(labels, signatures)
    assert result["one_nan"] == pytest.approx(1.0)
    assert np.isnan(result["all_nan"]) and np.isnan(result["constant"])
    with pytest.raises(ValueError, match="one per signature row"):
        variance_reduction([0, 1], signatures)


# --------------------------------------------------------------------------- driver
@pytest.mark.slow
def test_embedding_analysis_writes_every_artifact(tiny_ealstm_run, tmp_path):
    run_dir = Path(shutil.copytree(tiny_ealstm_run, tmp_path / "run"))
    result = embedding_analysis(run_dir, ks=(2, 3, 7), n_init=3, seed=0)
    out = run_dir / "analysis" / "embedding"
    assert result.output_dir == out
    assert set(p.name for p in out.iterdir()) == EXPECTED_FILES  # no temp files left
    assert set(result.files.values()) == {out / name for name in EXPECTED_FILES}
    assert any("k=[7] dropped" in note for note in result.notes)
    with xr.open_dataset(out / "embedding.nc") as saved:
        np.testing.assert_allclose(saved["input_gate"].values, result.embedding.values)
    silhouette = pd.read_csv(out / "silhouette.csv")
    assert sorted(zip(silhouette["features"], silhouette["k"], strict=True)) == [
        ("embedding", 2), ("embedding", 3), ("raw", 2), ("raw", 3)]
    clusters = pd.read_csv(out / "clusters.csv", dtype={"basin": str}, index_col="basin")
    assert list(clusters.index) == list(result.embedding["basin"].values)
    for name, k in result.best_k.items():
        assert clusters[f"{name}_k{k}"].nunique() == k
    reduction = pd.read_csv(out / "variance_reduction.csv")
    assert set(reduction["k"]) == set(result.best_k.values())
    assert list(reduction["signature"][: len(SIGNATURES)]) == list(SIGNATURES)
    values = reduction[["embedding", "raw"]].to_numpy()
    assert (values[np.isfinite(values)] <= 1.0 + 1e-12).all()  # the paper's can be negative


def test_umap_is_skipped_with_a_warning_when_there_are_too_few_basins(demo_camels, tmp_path,
                                                                      caplog):
    assert umap_projection(np.zeros((UMAP_MIN_BASINS - 1, 4)))[0] is None
    cfg = tiny_run_config(demo_camels, tmp_path, name="three", n_basins=3, epochs=1)
    run_dir = train_single_threaded(cfg)
    basins = cfg["data"]["basins"]
    signatures = pd.DataFrame({"q_mean": [1.0, 2.0, 4.0]}, index=[int(b) for b in basins])
    with caplog.at_level(logging.WARNING, logger="ealstm.analysis.embedding"):
        result = embedding_analysis(run_dir, ks=[2], n_init=2, signatures=signatures)
    assert "UMAP skipped: 3 basins" in caplog.text
    assert any(note.startswith("UMAP skipped") for note in result.notes)
    assert not (result.output_dir / "umap.png").exists() and "umap" not in result.files
    assert list(result.variance_reduction["signature"]) == ["q_mean"]


# --------------------------------------------------------------------------- synthetic truth
@pytest.mark.slow
def test_embedding_separates_generating_classes_at_least_as_well_as_raw_attributes(tmp_path):
    """On synthetic data with known behaviour classes, k-means on the learned embedding recovers
    the classes at least as well as k-means on the raw standardised attributes.

    ARI tolerance 0.05: one basin in a wrong cluster costs 0.25 ARI here (12 basins, 4 classes
    of 3), so the test fails if the embedding misplaces even one basin more than the raw
    attributes; the tolerance only absorbs rounding. Observed over 5 data x 3 training seeds
    (and 3-20 epochs): ARI = 1.0 for the embedding, the raw attributes *and* the untrained
    embedding -- the classes are well separated in attribute space, so ARI is at its ceiling
    and does not show learning by itself. The silhouette of the true classes does: trained
    embedding 0.60-0.71 vs raw attributes 0.48-0.51 and untrained embedding 0.41-0.52 after 5
    epochs; it shrinks with longer training (0.51-0.69 after 10 epochs, 0.54 after 20), as the
    model also learns within-class differences, but stayed above the raw attributes in all 13
    configurations tried.
    """
    from ealstm.data.synthetic.demo import generate_demo_data

    data = generate_demo_data(tmp_path / "data", n_basins=12, start="1997-10-01",
                              end="2001-09-30", seed=0)
    basins = (data / "basin_list.txt").read_text().split()
    raw_cfg = {
        "name": "classes", "runs_dir": str(tmp_path / "runs"),
        "data": {"data_dir": str(data), "basins": basins, "seq_length": 30,
                 "train_period": {"start": "1998-10-01", "end": "2000-09-30"},
                 "test_period": {"start": "2000-10-01", "end": "2001-09-30"},
                 "cache_dir": str(tmp_path / "cache")},
        "model": {"name": "ealstm", "hidden_size": 16, "dropout": 0.0},
        "train": {"epochs": 5, "batch_size": 128, "seed": 0, "learning_rate": {1: 1e-2}},
    }  # fmt: skip
    run = load_run(train_single_threaded(raw_cfg))
    truth = pd.read_csv(data / "demo_parameters.csv", dtype={"gauge_id": str},
                        index_col="gauge_id").loc[list(run.scaled.basins), "behaviour_class"]
    features = {"embedding": input_gate_embedding(run).values,
                "raw": np.asarray(run.scaled.static, dtype=np.float64)}
    k = truth.nunique()
    ari = {name: adjusted_rand_score(truth, cluster_scores(x, [k], 10, 0).loc[k, "labels"])
           for name, x in features.items()}
    class_silhouette = {name: silhouette_score(x, truth) for name, x in features.items()}
    print(f"ARI {ari}, silhouette of the true classes {class_silhouette}")
    assert ari["embedding"] >= ari["raw"] - 0.05
    assert class_silhouette["embedding"] >= class_silhouette["raw"]


def test_best_k_is_the_highest_mean_silhouette_not_the_minimum():
    # the mean picks k = 4; the highest minimum silhouette (and the lowest mean) would pick 5
    scores = pd.DataFrame({"silhouette_mean": [0.50, 0.60, 0.40],
                           "silhouette_min": [0.30, -0.10, 0.35]},
                          index=pd.Index([3, 4, 5], name="k"))
    assert best_k(scores) == 4
    tied = scores.assign(silhouette_mean=[0.60, 0.60, 0.40])
    assert best_k(tied) == 3  # ties: the smallest k
