"""Paper-fidelity of the embedding analysis: k range, silhouettes over seeds, UMAP settings."""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ealstm.analysis.clustering import DEFAULT_KS, cluster_scores
from ealstm.analysis.embedding import input_gate_embedding, umap_projection
from ealstm.analysis.embedding_members import (
    MEMBER_COLUMNS,
    member_silhouettes,
    silhouette_over_members,
)
from ealstm.cli import build_parser, main
from ealstm.errors import ConfigError
from ealstm.evaluation.run import load_run


def test_default_cluster_numbers_are_the_papers_3_to_14():
    assert list(DEFAULT_KS) == list(range(3, 15))
    args = build_parser().parse_args(["analyze", "embedding", "run"])
    assert (args.k_min, args.k_max, args.variance_method) == (3, 14, "paper")


def test_silhouette_over_members_by_hand():
    a = pd.DataFrame({"silhouette_mean": [0.5, 0.3], "silhouette_min": [0.1, -0.1]},
                     index=pd.Index([3, 4], name="k"))
    b = pd.DataFrame({"silhouette_mean": [0.7, np.nan], "silhouette_min": [0.3, np.nan]},
                     index=pd.Index([3, 4], name="k"))
    table = silhouette_over_members({"seed1": a, "seed2": b})
    assert list(table.columns) == list(MEMBER_COLUMNS)
    assert table.loc[3, "silhouette_mean"] == pytest.approx(0.6)
    assert table.loc[3, "silhouette_mean_std"] == pytest.approx(0.1)  # np.std, ddof 0
    assert table.loc[3, "silhouette_min"] == pytest.approx(0.2)
    assert table.loc[3, "silhouette_min_std"] == pytest.approx(0.1)
    assert table.loc[4, "silhouette_mean"] == pytest.approx(0.3)  # NaN member left out
    assert table.loc[4, "silhouette_mean_std"] == pytest.approx(0.0)
    assert list(table["n_members"]) == [2, 1]
    with pytest.raises(ConfigError, match="different k"):
        silhouette_over_members({"seed1": a, "seed2": b.iloc[:1]})
    with pytest.raises(ConfigError, match="at least one member"):
        silhouette_over_members({})


def test_member_silhouettes_of_a_configuration_folder(tiny_ealstm_run, tmp_path):
    config_dir = tmp_path / "exp" / "ealstm_nse"
    for label in ("seed111", "seed222"):
        shutil.copytree(tiny_ealstm_run, config_dir / label)
    result = member_silhouettes(config_dir, ks=[2, 3], n_init=2)
    run = load_run(tiny_ealstm_run)
    single = cluster_scores(input_gate_embedding(run).values, [2, 3], 2, 0)
    raw = cluster_scores(np.asarray(run.scaled.static), [2, 3], 2, 0)
    emb = result.table[result.table["features"] == "embedding"].set_index("k")
    np.testing.assert_allclose(emb["silhouette_mean"], single["silhouette_mean"])
    np.testing.assert_allclose(emb["silhouette_mean_std"], 0.0, atol=1e-12)  # identical copies
    assert list(emb["n_members"]) == [2, 2]
    raw_rows = result.table[result.table["features"] == "raw"].set_index("k")
    np.testing.assert_allclose(raw_rows["silhouette_mean"], raw["silhouette_mean"])
    assert sorted(result.per_member["member"].unique()) == ["seed111", "seed222"]
    assert {p.name for p in result.files.values()} == {
        "silhouette_members.csv", "silhouette_per_member.csv", "silhouette_members.png"}
    assert all(p.parent == config_dir / "analysis" / "embedding" for p in result.files.values())
    assert main(["analyze", "embedding", str(config_dir), "--k-min", "2", "--k-max", "3",
                 "--n-init", "2"]) == 0
    with pytest.raises(ConfigError, match="seed\\*/ run directories"):
        member_silhouettes(tmp_path / "exp")


def test_umap_uses_the_papers_n_neighbors_and_min_dist(monkeypatch):
    seen = {}

    class FakeUMAP:
        def __init__(self, **kwargs):
            seen.update(kwargs)

        def fit_transform(self, x):
            return np.zeros((len(x), 2))

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=FakeUMAP))
    projection, reason = umap_projection(np.random.default_rng(0).random((30, 5)), seed=3)
    assert reason is None and projection.shape == (30, 2)
    assert seen == {"n_components": 2, "n_neighbors": 10, "min_dist": 0.1, "random_state": 3}


def test_embedding_cli_error_for_a_folder_without_members(tmp_path: Path, capsys):
    assert main(["analyze", "embedding", str(tmp_path)]) == 2
    assert "seed*/ run directories" in capsys.readouterr().err
