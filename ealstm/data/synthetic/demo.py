"""Synthetic CAMELS-US data set: a stochastic weather generator driving a conceptual bucket model.

:func:`generate_demo_data` writes a folder with the layout and file formats of the NCAR
CAMELS-US download (``basin_mean_forcing``, ``usgs_streamflow``, ``camels_attributes_v2.0``) so
that every part of ``ealstm`` can be run offline and tested without the real 3 GB data set.

The simulation is split over three modules: :mod:`ealstm.data.synthetic.demo_hydrology` (steps 1-3
below), :mod:`ealstm.data.synthetic.demo_attributes` (step 4) and this one, which adds the quirks
of the streamflow files and writes everything to disk.

Generating process, per basin (all vectorised over basins, one Python loop over days):

1. **Latent characteristics.** Each basin belongs to one of four behaviour classes
   (:data:`CLASSES`) that set ranges for location, elevation, climate and model parameters:

   * ``snow`` -- high, cold western basins with winter precipitation; a degree-day snow pack
     stores the winter precipitation and a spring/summer melt pulse dominates the hydrograph;
   * ``humid_flashy`` -- warm, wet south-eastern basins with a small, clay-rich soil store and
     fast runoff: a spiky hydrograph with little baseflow;
   * ``arid_intermittent`` -- dry south-western basins with high evaporative demand, a
     groundwater threshold and deep losses, so the river falls dry (exact zero flows);
   * ``groundwater`` -- permeable (carbonate, sandy) mid-western basins with strong percolation
     into a slow linear reservoir: a damped hydrograph with a high baseflow index.

2. **Weather.** Precipitation occurrence is a two-state Markov chain with a seasonal wet-day
   probability, amounts are gamma distributed; temperature is a seasonal cycle (by latitude,
   elevation and continentality) plus an AR(1) anomaly, cooler and with a smaller diurnal range
   on wet days; day length and extraterrestrial radiation follow FAO-56 from the latitude;
   ``srad`` follows Hargreaves' radiation formula (a function of ``tmax - tmin``), expressed as
   the daylight-average flux like the Daymet/Maurer products; ``vp`` is the saturation vapour
   pressure at a dew point below ``tmin``. ``swe`` is written as 0.0, as in the real Maurer and
   NLDAS files. Values are rounded to the files' 2 decimals before they drive the model.

3. **Bucket model.** Degree-day snow (rain/snow partition around a threshold temperature,
   melt factor), an HBV-type soil moisture store (runoff fraction ``(SM/Smax)**beta``, overflow,
   ET = PET * min(1, SM / (lp * Smax)) with Hargreaves PET, percolation ``perc_max (SM/Smax)**2``),
   a linear fast reservoir and a linear groundwater reservoir with a threshold and deep losses.
   Discharge (mm/day) is converted to cfs with the area of the forcing file header.

4. **Attributes.** Climate indices of ``camels_clim.txt`` are computed from the simulated weather
   of the CAMELS climate period 1989-10-01..2009-09-30 (the overlap with the generated period;
   all of it when they do not overlap) following Addor et al. (2017). The signatures of
   ``camels_hydro.txt`` are computed the same way from the complete simulated discharge (no gaps),
   with simplified definitions (one-pass Lyne-Hollick baseflow filter, water-year elasticity):
   approximate, but monotone in the generating behaviour. Soil, geology, vegetation and
   topography columns are functions of the latent parameters plus modest noise.

Quirks of the real data reproduced on purpose: about 1 % of the days are missing
(``-999.00 M``) in a few basins, one basin's streamflow file starts later than its forcings, and
``camels_name.txt`` is latin-1 encoded and holds a non-ASCII gauge name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ealstm.data.synthetic.demo_attributes import CLIMATE_PERIOD, demo_attributes
from ealstm.data.synthetic.demo_hydrology import (
    CLASSES,
    FORCING_COLUMNS,
    draw_basins,
    run_bucket_model,
    simulate_weather,
)
from ealstm.io import atomic_write, save_json

#: Forcing products written (folder name -> tag in the file name); both hold the same data.
FORCING_PRODUCTS = {"maurer_extended": "maurer", "nldas": "nldas"}
CFS_TO_M3S = 0.028316846592
#: Columns of the seven attribute files, in the order of the real CAMELS v2.0 files.
ATTRIBUTE_COLUMNS = {
    "clim": ("p_mean", "pet_mean", "p_seasonality", "frac_snow", "aridity", "high_prec_freq",
             "high_prec_dur", "high_prec_timing", "low_prec_freq", "low_prec_dur",
             "low_prec_timing"),
    "geol": ("geol_1st_class", "glim_1st_class_frac", "geol_2nd_class", "glim_2nd_class_frac",
             "carbonate_rocks_frac", "geol_porostiy", "geol_permeability"),
    "hydro": ("q_mean", "runoff_ratio", "slope_fdc", "baseflow_index", "stream_elas", "q5", "q95",
              "high_q_freq", "high_q_dur", "low_q_freq", "low_q_dur", "zero_q_freq", "hfd_mean"),
    "name": ("huc_02", "gauge_name"),
    "soil": ("soil_depth_pelletier", "soil_depth_statsgo", "soil_porosity", "soil_conductivity",
             "max_water_content", "sand_frac", "silt_frac", "clay_frac", "water_frac",
             "organic_frac", "other_frac"),
    "topo": ("gauge_lat", "gauge_lon", "elev_mean", "slope_mean", "area_gages2",
             "area_geospa_fabric"),
    "vege": ("frac_forest", "lai_max", "lai_diff", "gvf_max", "gvf_diff", "dom_land_cover_frac",
             "dom_land_cover", "root_depth_50", "root_depth_99"),
}  # fmt: skip


@dataclass(frozen=True)
class DemoSimulation:
    """Everything the generator simulated, before it is written to text files.

    Arrays are float64 ``[time, basin]`` on the daily axis ``dates``.

    Attributes
    ----------
    basins
        8-character basin ids.
    dates
        Daily DatetimeIndex named ``date``.
    params
        One row per basin (index ``gauge_id``): behaviour class, HUC, location, area and every
        weather-generator and bucket-model parameter.
    forcings
        ``dayl, prcp, srad, swe, tmax, tmin, vp`` as written to the forcing files (2 decimals).
    pet
        Hargreaves potential evapotranspiration, mm/day.
    qsim
        Simulated discharge, mm/day, complete (no gaps): the generator's internal series.
    missing
        True where the streamflow file says ``-999.00 M``.
    first_obs
        Index of the first day in each basin's streamflow file.
    """

    basins: tuple[str, ...]
    dates: pd.DatetimeIndex
    params: pd.DataFrame
    forcings: dict[str, np.ndarray]
    pet: np.ndarray
    qsim: np.ndarray
    missing: np.ndarray
    first_obs: np.ndarray

    @property
    def qobs(self) -> np.ndarray:
        """Discharge as published in the streamflow files, mm/day, NaN where not observed."""
        q = self.qsim.copy()
        q[self.missing] = np.nan
        for b, first in enumerate(self.first_obs):
            q[:first, b] = np.nan
        return q


def generate_demo_data(out_dir: Path, n_basins: int = 24, start: str = "1989-10-01",
                       end: str = "2010-09-30", seed: int = 0) -> Path:
    """Write a synthetic CAMELS-US tree in the official NCAR layout.

    Parameters
    ----------
    out_dir
        Root folder to create (the ``data_dir`` of a config). Existing files are overwritten.
    n_basins
        Number of basins; the behaviour classes (:data:`CLASSES`) are assigned in equal shares.
    start, end
        First and last day of the forcing and streamflow files (inclusive).
    seed
        Seed of :func:`numpy.random.default_rng`; the same seed gives byte-identical files.

    Returns
    -------
    Path
        ``out_dir``, holding ``basin_mean_forcing/{maurer_extended,nldas}/<huc>/``,
        ``usgs_streamflow/<huc>/``, ``camels_attributes_v2.0/camels_*.txt``, ``basin_list.txt``
        and the ground truth ``demo_parameters.csv`` / ``demo_parameters.json``.
    """
    out_dir = Path(out_dir)
    sim = simulate_demo(n_basins=n_basins, start=start, end=end, seed=seed)
    for b in range(len(sim.basins)):
        for product, tag in FORCING_PRODUCTS.items():
            _write_forcing_file(out_dir, sim, b, product, tag)
        _write_streamflow_file(out_dir, sim, b)
    attributes = demo_attributes(sim, seed=seed)
    for name, columns in ATTRIBUTE_COLUMNS.items():
        encoding = "latin-1" if name == "name" else "ascii"
        path = out_dir / "camels_attributes_v2.0" / f"camels_{name}.txt"
        _write_table(path, attributes[list(columns)], encoding)
    text = "".join(f"{basin}\n" for basin in sim.basins)
    atomic_write(out_dir / "basin_list.txt", lambda tmp: tmp.write_text(text, encoding="ascii"))
    _write_ground_truth(out_dir, sim, n_basins, start, end, seed)
    return out_dir


def simulate_demo(n_basins: int = 24, start: str = "1989-10-01", end: str = "2010-09-30",
                  seed: int = 0) -> DemoSimulation:
    """Draw basins, simulate their weather and discharge; no file is written.

    Same arguments as :func:`generate_demo_data`, which writes exactly this simulation.
    """
    if n_basins < 1:
        raise ValueError(f"n_basins must be at least 1, got {n_basins}")
    dates = pd.date_range(start, end, freq="D", name="date")
    if len(dates) < 2:
        raise ValueError(f"the period {start}..{end} must hold at least two days")
    rng_par, rng_wx, rng_quirk = (np.random.default_rng(s)
                                  for s in np.random.SeedSequence(seed).spawn(3))
    params = draw_basins(rng_par, n_basins)
    forcings, pet = simulate_weather(rng_wx, params, dates)
    qsim = run_bucket_model(forcings, pet, params)
    missing, first_obs = _streamflow_quirks(rng_quirk, n_basins, len(dates))
    params["streamflow_start"] = dates[first_obs].strftime("%Y-%m-%d")
    params["missing_days"] = missing.sum(axis=0)
    return DemoSimulation(tuple(params.index), dates, params, forcings, pet, qsim, missing,
                          first_obs)


# --------------------------------------------------------------------------- streamflow quirks
def _streamflow_quirks(rng: np.random.Generator, n: int,
                       n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Missing-day mask ``[time, basin]`` (~1 % in a few basins) and first observed day."""
    order = rng.permutation(n)
    first_obs = np.zeros(n, dtype=np.int64)
    first_obs[order[0]] = int(0.3 * n_days)
    missing = np.zeros((n_days, n), dtype=bool)
    for b in (order[1:1 + max(1, n // 8)] if n > 1 else order[:1]):
        gap = max(1, int(0.006 * n_days))
        gap_start = rng.integers(first_obs[b], max(first_obs[b] + 1, n_days - gap))
        missing[gap_start:gap_start + gap, b] = True
        scattered = rng.choice(np.arange(first_obs[b], n_days), size=max(1, int(0.004 * n_days)),
                               replace=False)
        missing[scattered, b] = True
    return missing, first_obs


# --------------------------------------------------------------------------- writers
def _write_text(path: Path, text: str, encoding: str = "ascii") -> None:
    """Write ``text`` atomically, encoded as ``encoding``."""
    atomic_write(path, lambda tmp: tmp.write_bytes(text.encode(encoding)))


def _forcing_text(sim: DemoSimulation, b: int, product: str) -> str:
    """Header and rows of one forcing file in the style of the real ``product`` files."""
    par = sim.params.iloc[b]
    header = f"{par['lat']:7.2f}\n{par['elev']:7.2f}\n{int(par['area_m2']):10d}\n"
    dates = sim.dates
    values = np.column_stack([dates.year, dates.month, dates.day]
                             + [sim.forcings[c][:, b] for c in FORCING_COLUMNS])
    if product == "nldas":  # "1980 01 01 12\t..." with a mixed-case header, 2 decimals
        header += ("Year Mnth Day Hr\tDayl(s)\tPRCP(mm/day)\tSRAD(W/m2)\tSWE(mm)\tTmax(C)\t"
                   "Tmin(C)\tVp(Pa)\n")
        fmt = "%d %02d %02d 12" + "\t%.2f" * len(FORCING_COLUMNS)
        return header + "\n".join(fmt % tuple(row) for row in values.tolist()) + "\n"
    header += ("Year\tMnth\tDay\tHr\tdayl(s)\tprcp(mm/day)\tsrad(W/m2)\tswe(mm)\ttmax(C)\t"
               "tmin(C)\tvp(Pa)\n")
    fmt = "%d\t%d\t%d\t12" + "\t%.2f" * len(FORCING_COLUMNS)
    body = "\n".join(fmt % tuple(row) for row in values.tolist()) + "\n"
    return header + re.sub(r"(\.\d)0(?=[\t\n])", r"\1", body)  # 0.00 -> 0.0 as in the file


def _write_forcing_file(root: Path, sim: DemoSimulation, b: int, product: str, tag: str) -> None:
    """Write ``basin_mean_forcing/<product>/<huc>/<id>_lump_<tag>_forcing_leap.txt``."""
    basin, huc = sim.basins[b], sim.params["huc_02"].iloc[b]
    path = root / "basin_mean_forcing" / product / huc / f"{basin}_lump_{tag}_forcing_leap.txt"
    _write_text(path, _forcing_text(sim, b, product))


def to_cfs(q_mm: np.ndarray, area_km2: float) -> np.ndarray:
    """Convert discharge from mm/day to cubic feet per second for a basin of ``area_km2``."""
    return np.asarray(q_mm) * area_km2 * 1e3 / 86400.0 / CFS_TO_M3S


def _write_streamflow_file(root: Path, sim: DemoSimulation, b: int) -> None:
    """Write ``usgs_streamflow/<huc>/<id>_streamflow_qc.txt`` (cfs, ``-999.00 M`` = missing)."""
    basin, par = sim.basins[b], sim.params.iloc[b]
    first = int(sim.first_obs[b])
    dates = sim.dates[first:]
    cfs = np.round(to_cfs(sim.qsim[first:, b], par["area_km2"]), 2) + 0.0
    missing = sim.missing[first:, b]
    cold = (sim.forcings["tmax"][first:, b] + sim.forcings["tmin"][first:, b]) / 2.0 < -5.0
    flags = np.where(missing, "M", np.where(cold, "A:e", "A"))  # ice-affected days: estimated
    cfs = np.where(missing, -999.0, cfs)
    rows = zip(dates.year, dates.month, dates.day, cfs.tolist(), flags.tolist(), strict=True)
    text = "".join(f"{basin} {y:4d} {m:02d} {d:02d} {q:8.2f} {f}\n" for y, m, d, q, f in rows)
    _write_text(root / "usgs_streamflow" / par["huc_02"] / f"{basin}_streamflow_qc.txt", text)


def _write_table(path: Path, frame: pd.DataFrame, encoding: str) -> None:
    """Write a ``;``-separated attribute file like CAMELS v2.0 (``NA`` for missing)."""
    text = frame.to_csv(sep=";", float_format="%.15g", na_rep="NA", lineterminator="\n")
    _write_text(path, text, encoding)


def _write_ground_truth(root: Path, sim: DemoSimulation, n_basins: int, start: str, end: str,
                        seed: int) -> None:
    """Write ``demo_parameters.csv`` (one row per basin) and ``demo_parameters.json``."""
    _write_text(root / "demo_parameters.csv",
                sim.params.to_csv(float_format="%.10g", lineterminator="\n"))
    late = [b for b, f in zip(sim.basins, sim.first_obs, strict=True) if f > 0]
    save_json(root / "demo_parameters.json", {
        "generator": "ealstm.data.synthetic.demo.generate_demo_data", "seed": seed,
        "n_basins": n_basins,
        "start": str(start), "end": str(end), "behaviour_classes": list(CLASSES),
        "forcing_products": list(FORCING_PRODUCTS), "climate_period": list(CLIMATE_PERIOD),
        "late_start_basins": late,
        "missing_basins": [b for b, m in zip(sim.basins, sim.missing.any(axis=0), strict=True)
                           if m],
        "units": {"discharge_file": "cfs", "discharge_model": "mm/day", "area_m2": "m^2",
                  "smax": "mm", "k_fast": "days", "k_gw": "days", "ddf": "mm/degC/day"},
    })  # fmt: skip
