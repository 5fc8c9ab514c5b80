"""Wilcoxon signed-rank test and Cohen's d, checked against hand calculations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from ealstm.errors import NoValidDataError
from ealstm.evaluation.stats import (
    COMPARISON_COLUMNS,
    cohens_d,
    compare_configurations,
    paired_values,
    wilcoxon_test,
)

# Six pairs without ties or zero differences.
#   a     = [1.0,  0.5, 0.5, 0.7,  0.5, 0.7]
#   b     = [0.5,  0.6, 0.2, 0.1,  0.7, 0.3]
#   d=a-b = [0.5, -0.1, 0.3, 0.6, -0.2, 0.4]
#   |d| ranks:  0.1 -> 1, 0.2 -> 2, 0.3 -> 3, 0.4 -> 4, 0.5 -> 5, 0.6 -> 6
#   signed ranks: [+5, -1, +3, +6, -2, +4]
#   W+ = 5 + 3 + 6 + 4 = 18,  W- = 1 + 2 = 3,  W+ + W- = 6 * 7 / 2 = 21,  T = min = 3
#   Exact null: each of the 2^6 = 64 sign patterns is equally likely. Subsets of {1..6}
#   with rank sum <= 3: {}, {1}, {2}, {3}, {1,2} -> 5, so P(W+ <= 3) = 5/64 and by symmetry
#   the two-sided p = 2 * 5/64 = 10/64 = 0.15625.
A = np.array([1.0, 0.5, 0.5, 0.7, 0.5, 0.7])
B = np.array([0.5, 0.6, 0.2, 0.1, 0.7, 0.3])

# Cohen's d by hand (ddof = 1):
#   mean a = 3.9 / 6 = 0.65,  mean b = 2.4 / 6 = 0.40,  difference 0.25
#   a - mean: [0.35, -0.15, -0.15, 0.05, -0.15, 0.05] -> squares sum 0.1225 + 3 * 0.0225
#             + 2 * 0.0025 = 0.195 -> s_a^2 = 0.195 / 5 = 0.039
#   b - mean: [0.1, 0.2, -0.2, -0.3, 0.3, -0.1] -> squares sum 0.01 + 0.04 + 0.04 + 0.09
#             + 0.09 + 0.01 = 0.28 -> s_b^2 = 0.28 / 5 = 0.056
#   s_p = sqrt((0.039 + 0.056) / 2) = sqrt(0.0475),  d = 0.25 / sqrt(0.0475) = 1.14708...
D_BY_HAND = 0.25 / math.sqrt(0.0475)
# ddof = 0 (the paper's code): s_a^2 = 0.195 / 6, s_b^2 = 0.28 / 6 -> s_p = sqrt(0.475 / 12)
D_BY_HAND_DDOF0 = 0.25 / math.sqrt(0.475 / 12)


def exact_two_sided_p(diffs: np.ndarray) -> float:
    """Enumerate all 2^n sign patterns of the ranks of |d| (no ties, no zeros)."""
    ranks = np.argsort(np.argsort(np.abs(diffs))) + 1
    w_plus = ranks[diffs > 0].sum()
    t_obs = min(w_plus, ranks.sum() - w_plus)
    n_extreme = 0
    for signs in itertools.product((0, 1), repeat=diffs.size):
        w = int(np.dot(signs, ranks))
        n_extreme += min(w, ranks.sum() - w) <= t_obs
    return n_extreme / 2**diffs.size


def test_wilcoxon_matches_hand_calculation() -> None:
    result = wilcoxon_test(A, B)
    assert result.statistic == 3.0
    assert result.n == 6
    assert exact_two_sided_p(A - B) == pytest.approx(10 / 64)
    assert result.p_value == pytest.approx(10 / 64)
    # symmetric in the order of the samples
    assert wilcoxon_test(B, A) == result


def test_wilcoxon_drops_nan_pairs_and_aligns_series() -> None:
    a = np.append(A, np.nan)
    b = np.append(B, 0.3)
    result = wilcoxon_test(a, b)
    assert (result.statistic, result.n) == (3.0, 6)
    assert result.p_value == pytest.approx(10 / 64)
    basins = [f"0100000{i}" for i in range(6)]
    sa = pd.Series(A, index=basins)
    sb = pd.Series(B, index=basins).iloc[::-1]  # other order: aligned on the index
    sb["09999999"] = 0.1  # missing in sa -> a dropped pair
    x, y, n_dropped = paired_values(sa, sb)
    assert n_dropped == 1 and x.size == 6
    assert wilcoxon_test(sa, sb).p_value == pytest.approx(10 / 64)


def test_wilcoxon_normal_approximation_for_large_n() -> None:
    # 60 distinct differences d_i = i + 0.5 (i = 0..59) with the first 20 negative:
    # W- = 1 + ... + 20 = 210, W+ = 60 * 61 / 2 - 210 = 1620, T = 210.
    # z = (T - n(n+1)/4) / sqrt(n(n+1)(2n+1)/24) = (210 - 915) / sqrt(73205)
    d = np.arange(60) + 0.5
    d[:20] *= -1
    result = wilcoxon_test(d, np.zeros(60))
    z = (210 - 915) / math.sqrt(60 * 61 * 121 / 24)
    assert result.statistic == 210.0
    assert result.p_value == pytest.approx(2 * norm.cdf(z), rel=1e-9)


def test_wilcoxon_identical_and_empty() -> None:
    same = wilcoxon_test(A, A.copy())
    assert (same.statistic, same.p_value, same.n) == (0.0, 1.0, 6)
    with pytest.raises(NoValidDataError, match="no pair"):
        wilcoxon_test([np.nan, 1.0], [1.0, np.nan])
    with pytest.raises(ValueError, match="same length"):
        wilcoxon_test([1.0, 2.0], [1.0])


def test_cohens_d_matches_hand_calculation() -> None:
    assert D_BY_HAND == pytest.approx(1.14708, abs=1e-5)
    assert cohens_d(A, B) == pytest.approx(D_BY_HAND, rel=1e-12)
    assert cohens_d(B, A) == pytest.approx(-D_BY_HAND, rel=1e-12)
    assert cohens_d(A, B, ddof=0) == pytest.approx(D_BY_HAND_DDOF0, rel=1e-12)
    # NaN pairs are dropped from both samples
    assert cohens_d(np.append(A, 5.0), np.append(B, np.nan)) == pytest.approx(D_BY_HAND)


def test_cohens_d_undefined() -> None:
    with pytest.raises(NoValidDataError, match="pooled std is zero"):
        cohens_d([1.0, 1.0, 1.0], [2.0, 2.0, 2.0])
    with pytest.raises(NoValidDataError, match="at least 2"):
        cohens_d([1.0, np.nan], [2.0, 3.0])


def test_compare_configurations_all_pairs() -> None:
    basins = [f"0200000{i}" for i in range(6)]
    nse = {
        "lstm": pd.Series(B, index=basins),
        "ealstm": pd.Series(A, index=basins),
        "const": pd.Series(np.full(6, 0.5), index=basins),
    }
    table = compare_configurations(nse)
    assert list(table.columns) == list(COMPARISON_COLUMNS)
    pairs = list(zip(table["config_a"], table["config_b"], strict=True))
    assert pairs == [("lstm", "ealstm"), ("lstm", "const"), ("ealstm", "const")]
    first = table.iloc[0]
    assert (first["n"], first["n_dropped"]) == (6, 0)
    assert first["wilcoxon_statistic"] == 3.0
    assert first["p_value"] == pytest.approx(10 / 64)
    assert first["cohens_d"] == pytest.approx(-D_BY_HAND)
    assert (first["mean_a"], first["mean_b"]) == (pytest.approx(0.4), pytest.approx(0.65))
    for _, row in table.iterrows():
        expected = cohens_d(nse[row["config_a"]], nse[row["config_b"]])
        assert row["cohens_d"] == pytest.approx(expected)


def test_compare_configurations_undefined_pair_is_nan() -> None:
    nse = {"x": pd.Series([0.5, 0.5]), "y": pd.Series([0.5, 0.5])}
    row = compare_configurations(nse).iloc[0]
    assert row["p_value"] == 1.0
    assert math.isnan(row["cohens_d"])


def test_wilcoxon_drops_zero_differences_as_the_paper_code() -> None:
    # scipy's default zero_method="wilcox" (paper code): the zero difference is dropped before
    # ranking. d = [0, 1, 2, 3, 4, -5] -> ranks of |1..5| = 1..5, W- = 5, W+ = 10, T = 5.
    # Exact null over the 2^5 sign patterns: subsets of {1..5} with sum <= 5 are {}, {1}, {2},
    # {3}, {4}, {5}, {1,2}, {1,3}, {1,4}, {2,3} -> 10, two-sided p = 2 * 10/32 = 0.625.
    # ("pratt" ranks the zero too: T = 6, p = 0.5.)
    a = np.array([0.5, 1.1, 2.2, 3.3, 4.4, 0.0])
    b = np.array([0.5, 0.1, 0.2, 0.3, 0.4, 5.0])
    result = wilcoxon_test(a, b)
    assert result.statistic == 5.0
    assert result.p_value == pytest.approx(0.625)
    assert exact_two_sided_p((a - b)[1:]) == pytest.approx(0.625)
