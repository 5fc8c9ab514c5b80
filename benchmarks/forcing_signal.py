"""How much of the day-to-day streamflow rise each precipitation product explains (issue 14).

The regional recipe stays far below the paper's NSE on the Caravan development set, whose only
forcings are ERA5-Land. This asks the data, without a model, whether ERA5-Land precipitation
carries less of the signal than a CAMELS product: for every basin that is both in the Caravan
set and in the NCAR sample with NLDAS forcings (`../shared`), the correlation between the daily
change of the observed discharge (the same USGS record in both) and each product's
precipitation, on the days both have, at the best lag of -1, 0 or +1 day (so that a different
day boundary cannot decide it). With ``--metrics`` (a run's per-basin metrics file), also the
median test NSE by quartile of snow fraction and aridity. Writes ``<out>.md`` and ``<out>.json``.

    .venv/bin/python benchmarks/forcing_signal.py --out benchmarks/results/forcing_signal \
        --metrics <run>/metrics_test.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _budget import md_table  # noqa: E402

from ealstm.data.readers import camels_us, caravan, generic  # noqa: E402
from ealstm.io import save_json, write_text  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
LAGS = (-1, 0, 1)


def rise_correlation(discharge: pd.Series, precipitation: pd.Series) -> tuple[float, int]:
    """Best correlation of the daily discharge change with precipitation over ``LAGS`` and its
    lag (``+1``: precipitation of the day before), on the days both are finite."""
    rise = discharge.diff()
    scores = {lag: rise.corr(precipitation.shift(lag)) for lag in LAGS}
    scores = {lag: r for lag, r in scores.items() if r == r}  # NaN: too few shared days
    if not scores:
        return float("nan"), 0
    lag = max(scores, key=lambda k: scores[k])
    return float(scores[lag]), lag


def basin_row(basin: str, start: str, end: str) -> dict:
    """Both products' rise correlations, their mutual correlation and mean of one basin."""
    nldas, _ = camels_us.read_forcings(SHARED / "camels_us", basin, "nldas")
    series = caravan.read_timeseries(SHARED / "caravan_camels_dev", f"camels_{basin}")
    both = pd.concat([nldas["prcp"].rename("nldas"),
                      series["total_precipitation_sum"].rename("era5_land"),
                      series["streamflow"].rename("q")], axis=1, join="inner").loc[start:end]
    both = both.dropna(subset=["nldas", "era5_land"]).asfreq("D")  # diff/shift by date
    used = both["q"].diff().notna() & both["nldas"].notna()
    row = {"basin": basin, "days": int(used.sum())}
    for product in ("nldas", "era5_land"):
        row[f"r_{product}"], row[f"lag_{product}"] = rise_correlation(both["q"], both[product])
        row[f"mean_p_{product}"] = float(both[product].mean())
    row["r_between"] = float(both["nldas"].corr(both["era5_land"]))
    return row


def common_basins() -> list[str]:
    """Basins in the Caravan development set that have an NLDAS forcing file in the sample."""
    dev = {b.removeprefix("camels_") for b in generic.read_basin_list(
        SHARED / "caravan_camels_dev" / "basins_dev_241.txt")}
    nldas = {p.name[:8] for p in (SHARED / "camels_us" / "basin_mean_forcing" / "nldas").rglob(
        "*_lump_nldas_forcing_leap.txt")}
    return sorted(dev & nldas)


def nse_by_climate(metrics: Path) -> dict[str, pd.DataFrame]:
    """Median NSE and basin count per quartile of ``frac_snow`` and ``aridity``."""
    nse = pd.read_csv(metrics, index_col=0)["nse"]
    attributes = caravan.read_attributes(SHARED / "caravan_camels_dev", list(nse.index))
    both = attributes[["frac_snow", "aridity"]].join(nse, how="inner")
    return {col: both.groupby(pd.qcut(both[col], 4, duplicates="drop"), observed=True)["nse"].agg(
        ["median", "count"]) for col in ("frac_snow", "aridity")}


def climate_text(groups: dict[str, pd.DataFrame], metrics: Path) -> str:
    rows = [[col, interval, f"{row['median']:.3f}", f"{row['count']:.0f}"]
            for col, frame in groups.items() for interval, row in frame.iterrows()]
    return (f"Median test NSE by quartile (`{metrics}`):\n\n"
            + md_table(["attribute", "quartile", "median NSE", "basins"], rows))


def markdown(table: pd.DataFrame, start: str, end: str) -> str:
    better = int((table["r_nldas"] > table["r_era5_land"]).sum())
    cols = ["basin", "days", "r_nldas", "lag_nldas", "r_era5_land", "lag_era5_land",
            "r_between", "mean_p_nldas", "mean_p_era5_land"]
    rows = [[f"{v:.2f}" if isinstance(v, float) else v for v in row]
            for row in table[cols].itertuples(index=False)]
    return "\n\n".join([
        "# Streamflow signal in the precipitation products (issue 14)",
        f"Basins of the Caravan development set that are also in the NCAR sample with NLDAS "
        f"forcings: {len(table)}. Days {start}..{end} where both products have a value (`days`: "
        "those with a discharge change too). `r_*`: "
        "correlation of the daily change of observed discharge with the product's "
        "precipitation, at the best lag of -1/0/+1 day (`lag_*`; +1 = the day before); "
        "`r_between`: correlation of the two precipitation series; `mean_p_*`: mm/day.",
        md_table(cols, rows),
        f"NLDAS explains the discharge rise better in {better} of {len(table)} basins "
        f"(median r {table['r_nldas'].median():.2f} against "
        f"{table['r_era5_land'].median():.2f} for ERA5-Land).",
        "Reproduce: `.venv/bin/python benchmarks/forcing_signal.py`"]) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--start", default="1993-10-01")
    p.add_argument("--end", default="2008-09-30")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/forcing_signal")
    p.add_argument("--metrics", type=Path, help="per-basin metrics CSV of a run on the dev set")
    args = p.parse_args(argv)
    if not SHARED.is_dir():
        raise SystemExit(f"forcing_signal: {SHARED} is absent")
    table = pd.DataFrame([basin_row(b, args.start, args.end) for b in common_basins()])
    save_json(args.out.with_suffix(".json"), {"start": args.start, "end": args.end,
                                               "basins": table.to_dict("records")})
    text = markdown(table, args.start, args.end)
    if args.metrics:
        groups = nse_by_climate(args.metrics)
        text = text.replace("Reproduce:", climate_text(groups, args.metrics) + "\n\nReproduce:")
        text = text.replace("forcing_signal.py`", f"forcing_signal.py --metrics {args.metrics}`")
    write_text(args.out.with_suffix(".md"), text)
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
