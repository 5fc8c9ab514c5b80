"""Self-contained HTML report of an experiment (``<experiment_dir>/report/report.html``).

One file, readable offline: figures are embedded as base64 PNG data URIs, the CSS is inline,
and there is no script, link, font or other reference to the network (a Content-Security-Policy
forbids any load but ``data:`` images). Sections: summary, provenance, the tables of
``tables/*.csv`` (Table 2, significance tests, Table 3, others), figures, analyses of member
runs and the members that are missing or failed.
"""

from __future__ import annotations

import base64
import html
import importlib.metadata
import platform
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ealstm import __version__
from ealstm.io import write_text
from ealstm.report.columns import column_label
from ealstm.report.figures import (
    ENSEMBLE,
    best_configuration,
    choose_basins,
    collect_nse,
    configuration_names,
    experiment_figures,
    load_experiment,
)
from ealstm.report.members import member_census

#: Known tables of ``tables/`` by file-name prefix, in report order, with their headings.
TABLE_TITLES = {
    "table2": "Table 2: evaluation results of the single models and ensemble means",
    "significance": "Significance tests (paired Wilcoxon test, Cohen's d)",
    "table3": "Table 3: comparison with the benchmark models",
    "table3_per_basin": "Table 3, per basin: metrics of every model on the common basins",
    "table3_significance": "Table 3: Wilcoxon test and Cohen's d against the benchmark models",
}
FIGURE_CAPTIONS = {
    "nse_cdf": "Empirical CDF of the per-basin NSE of every configuration (paper Fig. 3): "
               "ensemble mean solid, one single model (first seed) dashed; the x axis is clipped "
               "to [0, 1] and each legend entry counts the basins below 0.",
    "nse_cdf_benchmarks": "CDF of the per-basin NSE of the best configuration and the benchmark "
                          "models on their common basins, from tables/table3_per_basin.csv "
                          "(paper Figs. 4-5).",
}
ANALYSES = ("robustness", "sensitivity", "embedding")
KEY_CSVS = ("ranking.csv", "summary.csv")
#: Rows shown of a CSV of an analysis / of ``tables/`` (the files hold all of them).
MAX_ROWS = 20
MAX_TABLE_ROWS = 60
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;
 color:#1d1d1f;background:#fafafa;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:1.5rem 2rem 4rem;background:#fff}
h1{margin-top:.5rem;border-bottom:3px solid #1b7837;padding-bottom:.3rem}
h2{margin-top:2.2rem;border-bottom:1px solid #ccc;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.88rem}
th,td{border:1px solid #d0d0d0;padding:.25rem .55rem;text-align:left}
th{background:#eef3ee}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr:nth-child(even) td{background:#f7f7f7}
figure{margin:1rem 0 1.6rem}figure img{max-width:100%;height:auto;border:1px solid #e2e2e2}
figcaption{font-size:.88rem;color:#444}dt{font-weight:600}dd{margin:0 0 .4rem 1.2rem}
pre{background:#f4f4f4;padding:.6rem;overflow-x:auto;font-size:.82rem}
.note{color:#555;font-size:.88rem}.ok{color:#1b7837}.bad{color:#b00020}
nav a{margin-right:1rem}
.wide{max-width:100%;overflow-x:auto}th{white-space:normal;min-width:4.5rem;vertical-align:bottom}
"""
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: object) -> str:
    """One ``<td>``: text escaped, numbers right-aligned, floats with 4 significant digits."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "<td></td>"
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return f"<td class='num'>{value}</td>"
    if isinstance(value, (float, np.floating)):
        return f"<td class='num'>{value:.4g}</td>"
    return f"<td>{_esc(value)}</td>"


def _table(frame: pd.DataFrame) -> str:
    """Render ``frame`` (its columns, not its index) as an HTML table.

    Headers are :func:`~ealstm.report.columns.column_label` (machine name as tooltip); the
    table scrolls sideways inside its ``div.wide`` when wider than the page.
    """
    head = "".join(f"<th title='{_esc(c)}'>{_esc(column_label(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>"
                   for row in frame.itertuples(index=False, name=None))
    return (f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody>"
            "</table></div>")


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"basin": str, "gauge_id": str})


def _csv_block(path: Path, root: Path, max_rows: int = MAX_ROWS) -> str:
    """Render a CSV as a table, its first ``max_rows`` rows when longer."""
    frame = _read_csv(path)
    note = f" (first {max_rows} of {len(frame)} rows)" if len(frame) > max_rows else ""
    rel = path.relative_to(root).as_posix()
    return f"<p class='note'>{_esc(rel)}{note}</p>{_table(frame.head(max_rows))}"


def _img(path: Path, alt: str, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f"<figure><img src=\"data:image/png;base64,{data}\" alt=\"{_esc(alt)}\">"
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _data_section(experiment: Mapping[str, Any]) -> Mapping[str, Any]:
    for key in ("base", "base_config", "config"):
        section = experiment.get(key)
        if isinstance(section, Mapping) and isinstance(section.get("data"), Mapping):
            return section["data"]
    return experiment.get("data") or {}


def _basin_list(data: Mapping[str, Any], curves: Mapping[str, pd.Series]) -> list[str]:
    if data.get("basins"):
        return [str(b) for b in data["basins"]]
    basin_file = Path(str(data.get("basin_file", "")))
    if data.get("basin_file") and basin_file.is_file():
        return basin_file.read_text(encoding="utf-8").split()
    return sorted({str(b) for series in curves.values() for b in series.index})


def _installed(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _versions(experiment: Mapping[str, Any]) -> str:
    """Versions of this environment, and those the experiment recorded (if it did)."""
    found = {"ealstm": __version__, "torch": _installed("torch"), "numpy": np.__version__,
             "python": platform.python_version()}
    text = ", ".join(f"{k} {v}" for k, v in found.items()) + " (environment of this report)"
    recorded = experiment.get("versions")
    if isinstance(recorded, Mapping):
        pairs = ", ".join(f"{k} {v}" for k, v in recorded.items())
        text += f"; recorded by the experiment: {pairs}"
    return text


def _definitions(items: Mapping[str, str]) -> str:
    rows = "".join(f"<dt>{_esc(k)}</dt><dd>{v}</dd>" for k, v in items.items())
    return f"<dl>{rows}</dl>"


def _provenance(root: Path, experiment: Mapping[str, Any], period: str,
                curves: Mapping[str, pd.Series]) -> str:
    data = _data_section(experiment)
    periods = {k: v for k, v in data.items() if str(k).endswith("_period")}
    period_text = "; ".join(f"{k}: {v.get('start')} to {v.get('end')}" if isinstance(v, Mapping)
                            else f"{k}: {v}" for k, v in periods.items())
    basins = _basin_list(data, curves)
    configs = experiment.get("configurations") or configuration_names(root, experiment)
    items = {
        "data set": _esc(data.get("dataset", "CAMELS-US")),
        "data_dir": _esc(data.get("data_dir", "unknown")),
        "forcings": _esc(data.get("forcings", "unknown")),
        "periods": _esc(period_text or "unknown") + f" (report: <b>{_esc(period)}</b>)",
        "basins": f"<details><summary>{len(basins)} basins</summary><p>"
                  f"{_esc(', '.join(basins))}</p></details>",
        "configurations": _esc(", ".join(map(str, configs))),
        "seeds": _esc(", ".join(map(str, experiment.get("seeds") or [])) or "unknown"),
        "versions": _esc(_versions(experiment)),
        "report date": _esc(datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
    }
    dump = yaml.safe_dump(dict(experiment), sort_keys=False) if experiment else "(absent)"
    return (f"{_definitions(items)}<details><summary>experiment.yml</summary>"
            f"<pre>{_esc(dump)}</pre></details>")


def _summary(experiment: Mapping[str, Any], period: str, curves: Mapping[str, pd.Series]) -> str:
    rows = []
    for label, values in curves.items():
        valid = values.dropna()
        rows.append({"model": label, "basins": len(valid), "mean NSE": valid.mean(),
                     "median NSE": valid.median(), "NSE <= 0": int((valid <= 0).sum())})
    if not rows:
        return f"<p class='bad'>No metrics_{_esc(period)}.csv found: nothing to summarise.</p>"
    best = best_configuration(curves)
    text = (f"<p>Experiment <b>{_esc(experiment.get('name', 'unnamed'))}</b>, "
            f"{_esc(period)} period. Best configuration by median NSE: <b>{_esc(best)}</b>.</p>")
    return text + _table(pd.DataFrame(rows))


def _table_key(stem: str) -> str | None:
    """Longest key of :data:`TABLE_TITLES` that ``stem`` starts with."""
    keys = [k for k in TABLE_TITLES if stem.startswith(k)]
    return max(keys, key=len) if keys else None


def _tables(root: Path) -> str:
    folder = root / "tables"
    stems = sorted({p.stem for p in folder.glob("*") if p.suffix in (".csv", ".md")})
    order = list(TABLE_TITLES)
    stems.sort(key=lambda s: order.index(_table_key(s)) if _table_key(s) else len(order))
    parts = []
    for stem in stems:
        key = _table_key(stem)
        csv, md = folder / f"{stem}.csv", folder / f"{stem}.md"
        body = (_csv_block(csv, root, MAX_TABLE_ROWS) if csv.is_file() else
                f"<p class='note'>tables/{_esc(md.name)}</p>"
                f"<pre>{_esc(md.read_text(encoding='utf-8'))}</pre>")
        parts.append(f"<h3>{_esc(TABLE_TITLES[key] if key else stem)}</h3>{body}")
    return "".join(parts) or "<p class='note'>No tables/*.csv or *.md found.</p>"


def _figures(figures: Mapping[str, Path], curves: Mapping[str, pd.Series]) -> str:
    best = best_configuration(curves)
    own = [v for k, v in curves.items() if k.split(" (")[0] == best]
    nse = curves.get(f"{best} ({ENSEMBLE})", own[0] if own else pd.Series(dtype=float))
    roles: dict[str, list[str]] = {}
    for role, basin in choose_basins(nse).items():
        roles.setdefault(basin, []).append(role)
    parts = []
    for key, path in figures.items():
        caption = FIGURE_CAPTIONS.get(key, "")
        if key.startswith("hydrograph_"):
            basin = key.removeprefix("hydrograph_")
            role = "/".join(roles.get(basin, [])) or "chosen"
            whole = f"{nse[basin]:.3f}" if basin in nse.index else "n/a"
            caption = (f"Hydrograph of basin {basin} ({role} basin of {best}, "
                       f"whole-period NSE {whole}); the title gives the NSE of the days shown.")
        parts.append(_img(path, key, caption))
    return "".join(parts) or "<p class='note'>No figures: no metrics of this period.</p>"


def _analyses(root: Path) -> str:
    parts = []
    for folder in sorted(root.glob("*/*/analysis/*")):
        if not folder.is_dir() or folder.name not in ANALYSES:
            continue
        name = folder.relative_to(root).as_posix()
        csvs = sorted(folder.glob("*.csv"), key=lambda p: (p.name not in KEY_CSVS, p.name))
        pngs = [_img(p, p.stem, p.relative_to(root).as_posix())
                for p in sorted(folder.glob("*.png"))]
        parts.append(f"<h3>{_esc(name)}</h3>{''.join(pngs)}"
                     f"{''.join(_csv_block(p, root) for p in csvs)}")
    return "".join(parts) or "<p class='note'>No analyses of member runs found.</p>"


def _members(root: Path, experiment: Mapping[str, Any], period: str) -> str:
    """State of every member and ensemble; members and ensembles are counted apart."""
    census = member_census(root, experiment, period)
    counts = (f"{census.n_members} members ({census.n_configurations} configurations) and "
              f"{census.n_configurations} ensembles")  # one per configuration
    if census.problems.empty:
        return f"<p class='ok'>All {counts} are complete.</p>"
    bad_members = int((census.problems["member"] != ENSEMBLE).sum())
    bad_ensembles = len(census.problems) - bad_members
    return (f"<p>{bad_members} of {census.n_members} members and {bad_ensembles} of "
            f"{census.n_configurations} ensembles are missing, failed or partial:</p>"
            f"{_table(census.problems)}")


def _page(title: str, sections: Sequence[tuple[str, str, str]]) -> str:
    nav = "".join(f"<a href='#{sid}'>{_esc(head)}</a>" for sid, head, _ in sections)
    body = "".join(f"<section id='{sid}'><h2>{_esc(head)}</h2>{content}</section>"
                   for sid, head, content in sections)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_esc(title)}</title><style>{CSS}</style></head>\n<body><main>"
            f"<h1>{_esc(title)}</h1><nav>{nav}</nav>{body}"
            f"<p class='note'>Kratzert, F. et al. (2019): Towards learning universal, regional, "
            f"and local hydrological behaviors via machine learning applied to large-sample "
            f"datasets, Hydrol. Earth Syst. Sci. 23, 5089-5110.</p></main></body></html>\n")


def build_report(experiment_dir: Path, period: str = "test",
                 basins: Sequence[str] | None = None) -> Path:
    """Write the self-contained HTML report of an experiment.

    Parameters
    ----------
    experiment_dir
        Folder written by ``ealstm experiment`` (layout in ``docs/architecture.md``).
    period
        Evaluation period to report.
    basins
        Basins to draw hydrographs of; default: best, median and worst of the best ensemble.

    Returns
    -------
    pathlib.Path
        ``<experiment_dir>/report/report.html`` (written atomically; figures are also kept as
        PNG files in ``report/figures/``).
    """
    root = Path(experiment_dir)
    experiment = load_experiment(root)
    curves = collect_nse(root, period, experiment)
    figures = experiment_figures(root, period, basins)
    sections = [
        ("summary", "Summary", _summary(experiment, period, curves)),
        ("provenance", "Provenance", _provenance(root, experiment, period, curves)),
        ("tables", "Tables", _tables(root)),
        ("figures", "Figures", _figures(figures, curves)),
        ("analyses", "Analyses of member runs", _analyses(root)),
        ("members", "Missing or failed members", _members(root, experiment, period)),
    ]
    title = f"ealstm experiment report: {experiment.get('name', root.name)}"
    return write_text(root / "report" / "report.html", _page(title, sections))
