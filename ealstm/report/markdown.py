"""GitHub-flavoured Markdown of the report tables (``tables/*.md`` of an experiment).

:func:`markdown_table` renders any data frame without the optional ``tabulate`` dependency (also
used by ``benchmarks/select_seq2seq.py``); :func:`table2_markdown`,
:func:`significance_markdown` and :func:`table3_markdown` lay out the frames of
:mod:`ealstm.report.tables` and :mod:`ealstm.report.benchmark_table` as printed in the paper
(``mean ± std`` over seeds). Rendering only: the numbers are computed in those modules, and
their CSV files keep full precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ealstm.evaluation.benchmarks import BENCHMARK_METRICS

__all__ = ["markdown_table", "significance_markdown", "table2_markdown", "table3_markdown"]


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _cell(value: Any, float_format: str) -> str:
    """Markdown cell text: empty for missing, floats formatted, ``|`` escaped."""
    if _is_missing(value):
        return ""
    if isinstance(value, (float, np.floating)):
        text = format(float(value), float_format)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, index: bool = True, float_format: str = ".3f") -> str:
    """Render ``frame`` as a GitHub-flavoured Markdown table (no ``tabulate`` needed).

    Parameters
    ----------
    frame : pd.DataFrame
        Table to render; cells that are already strings are written unchanged.
    index : bool, default True
        Write the index as the first column, headed by the index name.
    float_format : str, default ".3f"
        :func:`format` spec of float cells; missing values (NaN, None, ``pd.NA``) are empty.

    Returns
    -------
    str
        Header line, alignment line (numeric columns right-aligned) and one line per row,
        ending with a newline.
    """
    data = frame.reset_index() if index else frame
    headers = [_cell(c, "") or " " for c in data.columns]
    if index and frame.index.name is None:
        headers[0] = " "
    align = ["---:" if pd.api.types.is_numeric_dtype(data[c]) else "---" for c in data.columns]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    for row in data.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, float_format) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _pm(value: Any, std: Any, spec: str) -> str:
    """``"value ± std"``; only ``value`` where ``std`` is missing; empty if both are."""
    if _is_missing(value):
        return ""
    if _is_missing(std):
        return format(float(value), spec)
    return f"{float(value):{spec}} ± {float(std):{spec}}"


def _excluded_note(excluded: Sequence[str], n_basins: int) -> str:
    shown = ", ".join(excluded[:20]) + (", ..." if len(excluded) > 20 else "")
    note = f"{n_basins} basins"
    return note + (f"; {len(excluded)} excluded (no NSE in some run): {shown}"
                   if excluded else "; none excluded")


def table2_markdown(table: pd.DataFrame) -> str:
    """Markdown of :func:`~ealstm.report.tables.table2`: ``mean ± std`` over seeds, as in the paper.

    Parameters
    ----------
    table : pd.DataFrame
        Output of :func:`~ealstm.report.tables.table2`.

    Returns
    -------
    str
        Heading, a note on the basins and the table.
    """
    shown = pd.DataFrame(index=table.index)
    for column, label, spec in (("single_nse_mean", "mean NSE", ".3f"),
                                ("single_nse_median", "median NSE", ".3f"),
                                ("single_n_nse_le_0", "NSE <= 0", ".1f")):
        shown[f"single: {label}"] = [_pm(v, s, spec) for v, s in
                                     zip(table[column], table[f"{column}_std"], strict=True)]
    for column, label, spec in (("ensemble_nse_mean", "mean NSE", ".3f"),
                                ("ensemble_nse_median", "median NSE", ".3f"),
                                ("ensemble_n_nse_le_0", "NSE <= 0", ".0f")):
        shown[f"ensemble: {label}"] = [_pm(v, None, spec) for v in table[column]]
    shown["seeds"] = table["n_seeds"].astype(str)
    n_basins = int(table["n_basins"].iloc[0]) if len(table) else 0
    note = _excluded_note(table.attrs.get("excluded_basins", []), n_basins)
    return (f"## Table 2: single models and ensemble means ({table.attrs.get('period', '')})\n\n"
            f"Single models: mean ± population std over seeds. {note}.\n\n"
            + markdown_table(shown))


def significance_markdown(table: pd.DataFrame) -> str:
    """Markdown of :func:`~ealstm.report.tables.significance_table` (p in scientific notation)."""
    shown = table.copy()
    shown["p_value"] = [_pm(p, None, ".2e") for p in table["p_value"]]
    shown["wilcoxon_statistic"] = [_pm(t, None, ".1f") for t in table["wilcoxon_statistic"]]
    note = _excluded_note(table.attrs.get("excluded_basins", []), table.attrs.get("n_basins", 0))
    return ("## Paired Wilcoxon signed-rank tests and Cohen's d "
            f"({table.attrs.get('period', '')})\n\n"
            "single: per-basin NSE averaged over seeds; ensemble: NSE of the ensemble mean. "
            f"d > 0: config_a better. {note}.\n\n" + markdown_table(shown, index=False))


def benchmark_significance_markdown(table: pd.DataFrame) -> str:
    """Markdown of :func:`~ealstm.report.benchmark_table.benchmark_significance`."""
    shown = table.copy()
    shown["p_value"] = [_pm(p, None, ".2e") for p in table["p_value"]]
    shown["wilcoxon_statistic"] = [_pm(t, None, ".1f") for t in table["wilcoxon_statistic"]]
    return ("## Table 3: Wilcoxon signed-rank tests and Cohen's d against the benchmark models "
            f"({table.attrs.get('period', '')})\n\n"
            "single: per-basin NSE averaged over seeds; ensemble: NSE of the ensemble mean; "
            "n: common basins where both NSE are defined. d > 0: config_a (the experiment's "
            "configuration) better.\n\n" + markdown_table(shown, index=False))


def _median_label(table: pd.DataFrame, metric: str) -> str:
    """Column header ``"<metric> (median, n=<basins>)"``; without the count for old tables."""
    column = f"n_{metric}"
    if column not in table.columns or not len(table):
        return f"{metric} (median)"
    return f"{metric} (median, n={int(table[column].iloc[0])})"


def table3_markdown(table: pd.DataFrame) -> str:
    """Markdown of Table 3: ``mean ± std`` over seeds for single models.

    Parameters
    ----------
    table : pd.DataFrame
        Output of :func:`~ealstm.report.benchmark_table.benchmark_table`.

    Returns
    -------
    str
        Heading, a note on the basins and the table.
    """
    shown = pd.DataFrame(index=table.index)
    shown["basins"] = table["n_basins"].map(lambda v: f"{v:.0f}")
    for column, label, spec in (("nse_mean", "mean NSE", ".3f"),
                                ("nse_median", "median NSE", ".3f"),
                                ("n_nse_le_0", "NSE <= 0", ".1f"),
                                *((f"{m}_median", _median_label(table, m), ".2f")
                                  for m in BENCHMARK_METRICS)):
        pairs = zip(table[column], table[f"{column}_std"], strict=True)
        shown[label] = [_pm(v, s, spec) for v, s in pairs]
    for column in (c for c in table.columns if c.startswith("beats_")):
        shown[f"> {column.removeprefix('beats_')}"] = [_pm(v, None, ".1f") for v in table[column]]
    attrs = table.attrs
    return (f"## Table 3: comparison with benchmark models ({attrs.get('period', '')})\n\n"
            f"{attrs.get('n_basins', '?')} basins covered by every model with an NSE for each; "
            "every other median over the basins where its metric is defined for every model "
            "(n in its header) "
            f"({attrs.get('n_excluded', 0)} of {attrs.get('n_common_basins', '?')} common "
            "basins excluded). Single models: mean ± population std over seeds. "
            "\"> X\": number of basins where the row's NSE is higher than X's.\n\n"
            + markdown_table(shown))
