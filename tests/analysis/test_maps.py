"""Shared map frames and the figures of the embedding analysis (layout, outlines, colours)."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine

from ealstm.analysis import embedding as emb
from ealstm.analysis.maps import align_labels, attribute_label, draw_basemap, in_conus


@pytest.mark.parametrize("labels, reference, expected", [
    ([1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]),  # swapped numbering
    ([2, 0, 1, 1], [0, 1, 2, 2], [0, 1, 2, 2]),  # a cyclic permutation
    ([0, 0, 0, 1], [0, 0, 1, 1], [0, 0, 0, 1]),  # already the best match
    ([0, 1, 2, 2], [1, 1, 0, 0], [1, 2, 0, 0]),  # 3 clusters against 2: the extra one gets 2
])
def test_align_labels_renumbers_without_regrouping(labels, reference, expected):
    out = align_labels(np.array(labels), np.array(reference))
    assert out.tolist() == expected
    # same partition: equal labels stay equal, different ones stay different
    same = np.equal.outer(labels, labels)
    assert (np.equal.outer(out, out) == same).all()


def test_basemap_uses_state_outlines_only_inside_the_us():
    ax = Figure().subplots()
    assert draw_basemap(ax, np.array([-100.0, -80.0]), np.array([40.0, 35.0])) == "us-states"
    assert any(isinstance(c, LineCollection) for c in ax.collections)
    ax = Figure().subplots()
    assert draw_basemap(ax, np.array([8.0, 10.0]), np.array([47.0, 46.0])) == "lonlat-frame"
    assert not ax.collections and ax.get_xlim() == (7.0, 11.0)
    assert not in_conus(np.array([]), np.array([]))


def test_attribute_label_has_units():
    assert attribute_label("area_gages2") == "area_gages2 (km²)"
    assert attribute_label("my_column") == "my_column"


def _clusters() -> pd.DataFrame:
    return pd.DataFrame({"lat": [34.0, 40.0, 45.0, 36.0], "lon": [-77.0, -120.0, -83.0, -111.0],
                         "embedding_k2": [1, 1, 0, 0], "raw_k2": [0, 0, 1, 1]},
                        index=pd.Index(["a", "b", "c", "d"], name="basin"))


def test_cluster_maps_have_outlines_and_the_reference_colours():
    clusters = _clusters()
    colours = {}
    for features, reference in (("embedding", None), ("raw", "embedding")):
        fig = emb.plot_cluster_maps(clusters, features, [2], reference)
        assert isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)
        ax = fig.axes[0]
        assert isinstance(ax.collections[0], LineCollection)  # state outlines first
        colours[features] = {tuple(p.get_offsets()[0]): tuple(p.get_facecolor()[0])
                             for p in ax.collections[1:]}
    # raw's clusters are numbered the other way round, but drawn in the same colours
    assert colours["raw"] == colours["embedding"]


def test_embedding_figures_use_constrained_layout_and_units():
    table = pd.DataFrame({"k": [2, 2, 3, 3], "signature": ["q_mean", "runoff_ratio"] * 2,
                          "embedding": [0.5, 0.2, 0.6, 0.3], "raw": [0.4, 0.1, 0.5, 0.2]})
    silhouette = pd.DataFrame({"features": ["embedding"] * 2 + ["raw"] * 2, "k": [2, 3] * 2,
                               "silhouette_mean": [0.3, 0.2, 0.2, 0.1],
                               "silhouette_min": [0.1, 0.0, 0.0, -0.1]})
    for fig in (emb.plot_variance_reduction(table),
                emb.plot_silhouette(silhouette, {"embedding": 2, "raw": 2})):
        assert isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)
        FigureCanvasAgg(fig).draw()  # lay out (without it: panels overlap), then check
        boxes = [ax.get_tightbbox() for ax in fig.axes]
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    umap = emb.plot_umap(np.arange(8.0).reshape(4, 2),
                         pd.DataFrame({"elev_mean": [1.0, 2, 3, 4], "aridity": [1.0, 2, 3, 4]}))
    assert {ax.get_ylabel() for ax in umap.axes} >= {"elev_mean (m)", "aridity (-)"}
