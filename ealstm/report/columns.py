"""Human-readable headers for the column names of the tables of ``tables/`` and the analyses.

The CSV files keep their machine names (``single_nse_median_std``); the HTML report shows
:func:`column_label` (``single model: median NSE, std over seeds``) and keeps the machine name
as the header's tooltip.
"""

from __future__ import annotations

import re

#: Whole names with a fixed label.
LABELS = {
    "n_nse_le_0": "basins with NSE ≤ 0", "n_seeds": "seeds", "n_basins": "basins",
    "n_excluded": "basins excluded", "n_dropped": "basins dropped", "n": "basins",
    "p_value": "p-value", "cohens_d": "Cohen's d", "wilcoxon_statistic": "Wilcoxon T",
    "config_a": "configuration A", "config_b": "configuration B", "mean_a": "mean NSE of A",
    "mean_b": "mean NSE of B", "mu_star": "μ*", "kind": "kind",
}  # fmt: skip
#: Metric names as written in the paper.
METRICS = {"nse": "NSE", "alpha_nse": "α-NSE", "beta_nse": "β-NSE", "fhv": "FHV", "fms": "FMS",
           "flv": "FLV", "kge": "KGE"}
_PREFIXES = {"single_": "single model: ", "ensemble_": "ensemble: "}
_STATS = ("mean", "median")


def _core(name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    if name in METRICS:
        return METRICS[name]
    for stat in _STATS:
        for metric, label in METRICS.items():
            if name in (f"{metric}_{stat}", f"{stat}_{metric}"):
                return f"{stat} {label}"
    return name.replace("_", " ")


def column_label(name: object) -> str:
    """Readable header of a table column (``ensemble_nse_median`` -> ``ensemble: median NSE``).

    Known prefixes (``single_``, ``ensemble_``), the ``_std`` suffix (std over seeds),
    ``beats_<model>`` and the metric names of the paper are spelled out; any other name only
    loses its underscores.
    """
    text = str(name)
    prefix = next((label for p, label in _PREFIXES.items() if text.startswith(p)), "")
    text = text.removeprefix("single_").removeprefix("ensemble_") if prefix else text
    std = text.endswith("_std")
    text = text.removesuffix("_std")
    if match := re.fullmatch(r"beats_(.+)", text):
        core = f"basins where it beats {match.group(1)}"
    else:
        core = _core(text)
    return prefix + core + (", std over seeds" if std else "")
