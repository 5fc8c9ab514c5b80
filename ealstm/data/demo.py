"""Synthetic CAMELS-US data set: a stochastic weather generator driving a conceptual bucket model.

:func:`generate_demo_data` writes a folder with the layout and file formats of the NCAR
CAMELS-US download (``basin_mean_forcing``, ``usgs_streamflow``, ``camels_attributes_v2.0``) so
that every part of ``ealstm`` can be run offline and tested without the real 3 GB data set.

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
from scipy.signal import lfilter

from ealstm.io import atomic_write, save_json

#: Behaviour classes of the synthetic basins (the known truth of clustering analyses).
CLASSES = ("snow", "humid_flashy", "arid_intermittent", "groundwater")
#: Forcing products written (folder name -> tag in the file name); both hold the same data.
FORCING_PRODUCTS = {"maurer_extended": "maurer", "nldas": "nldas"}
#: The CAMELS period of the climate indices and hydrological signatures.
CLIMATE_PERIOD = ("1989-10-01", "2009-09-30")
FORCING_COLUMNS = ("dayl", "prcp", "srad", "swe", "tmax", "tmin", "vp")
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

_COMMON_RANGES: dict[str, tuple[float, float]] = {
    "t_sd": (2.5, 3.5), "gamma_shape": (0.6, 0.9), "wet_persistence": (0.45, 0.65),
    "t_snow": (-0.5, 1.0), "ddf": (2.5, 4.5), "lp": (0.6, 0.8), "gw_threshold": (0.0, 0.0),
    "deep_loss": (0.0, 0.0), "dew_depression": (0.5, 2.5),
}  # fmt: skip
_CLASS_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "snow": {
        "lat": (39.0, 48.5), "lon": (-121.5, -105.0), "elev": (1400.0, 2900.0),
        "continental": (1.5, 3.0), "p_mean": (2.4, 4.5), "wet_frac": (0.33, 0.48),
        "p_amp": (0.3, 0.7), "p_peak": (-30.0, 40.0), "dtr": (12.0, 16.0), "smax": (150.0, 300.0),
        "beta": (2.0, 4.0), "k_fast": (3.0, 6.0), "perc_max": (1.0, 2.5), "k_gw": (40.0, 90.0),
        "forest": (0.5, 0.9), "slope": (80.0, 200.0), "log_area": (3.7, 7.3),
    },
    "humid_flashy": {
        "lat": (30.0, 37.5), "lon": (-92.0, -76.0), "elev": (50.0, 500.0),
        "continental": (0.0, 1.0), "p_mean": (3.6, 5.2), "wet_frac": (0.28, 0.38),
        "p_amp": (0.05, 0.25), "p_peak": (150.0, 240.0), "dtr": (9.0, 12.0),
        "smax": (60.0, 130.0), "beta": (1.0, 1.8), "k_fast": (1.0, 1.8), "perc_max": (0.3, 0.8),
        "k_gw": (10.0, 25.0), "forest": (0.6, 0.95), "slope": (20.0, 80.0), "log_area": (3.0, 6.5),
    },
    "arid_intermittent": {
        "lat": (31.0, 38.0), "lon": (-114.0, -100.0), "elev": (400.0, 1500.0),
        "continental": (0.5, 1.5), "p_mean": (0.8, 1.8), "wet_frac": (0.10, 0.20),
        "p_amp": (0.4, 0.9), "p_peak": (200.0, 240.0), "dtr": (15.0, 19.0),
        "wet_persistence": (0.3, 0.45), "dew_depression": (4.0, 8.0), "smax": (100.0, 200.0),
        "beta": (3.0, 5.0), "k_fast": (1.0, 1.5), "perc_max": (0.1, 0.4), "k_gw": (20.0, 50.0),
        "gw_threshold": (15.0, 40.0), "deep_loss": (0.005, 0.02), "forest": (0.0, 0.15),
        "slope": (10.0, 50.0), "log_area": (4.0, 7.5),
    },
    "groundwater": {
        "lat": (40.0, 46.0), "lon": (-95.0, -80.0), "elev": (180.0, 500.0),
        "continental": (2.5, 3.5), "p_mean": (2.3, 3.2), "wet_frac": (0.30, 0.40),
        "p_amp": (0.2, 0.4), "p_peak": (150.0, 190.0), "dtr": (10.0, 13.0),
        "smax": (200.0, 350.0), "beta": (2.0, 3.5), "k_fast": (2.5, 4.0), "perc_max": (2.5, 4.5),
        "k_gw": (100.0, 220.0), "forest": (0.1, 0.5), "slope": (2.0, 15.0), "log_area": (4.5, 7.5),
    },
}  # fmt: skip
_HUCS = {
    "snow": ("17", "10", "14", "16", "18", "01"), "humid_flashy": ("03", "02", "06", "08"),
    "arid_intermittent": ("15", "13", "12", "11"), "groundwater": ("04", "05", "07", "09"),
}  # fmt: skip
_SEASONS = np.array(["djf", "djf", "mam", "mam", "mam", "jja", "jja", "jja", "son", "son", "son",
                     "djf"])  # fmt: skip


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
    params = _draw_basins(rng_par, n_basins)
    forcings, pet = _weather(rng_wx, params, dates)
    qsim = _run_bucket_model(forcings, pet, params)
    missing, first_obs = _streamflow_quirks(rng_quirk, n_basins, len(dates))
    params["streamflow_start"] = dates[first_obs].strftime("%Y-%m-%d")
    params["missing_days"] = missing.sum(axis=0)
    return DemoSimulation(tuple(params.index), dates, params, forcings, pet, qsim, missing,
                          first_obs)


# --------------------------------------------------------------------------- latent parameters
def _draw_basins(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Assign classes in equal shares and draw every parameter uniformly in its class range."""
    classes = np.array(CLASSES)[rng.permutation(np.arange(n) % len(CLASSES))]
    names = list(_COMMON_RANGES) + [k for k in _CLASS_RANGES["snow"] if k not in _COMMON_RANGES]
    frame = pd.DataFrame(index=pd.Index([f"9{i + 1:07d}" for i in range(n)], name="gauge_id"))
    frame["behaviour_class"] = classes
    rank = pd.Series(classes).groupby(classes).cumcount().to_numpy()
    frame["huc_02"] = [_HUCS[c][r % len(_HUCS[c])] for c, r in zip(classes, rank, strict=True)]
    for name in names:
        bounds = np.array([{**_COMMON_RANGES, **_CLASS_RANGES[c]}[name] for c in classes])
        frame[name] = bounds[:, 0] + rng.uniform(size=n) * (bounds[:, 1] - bounds[:, 0])
    frame["area_m2"] = np.round(np.exp(frame["log_area"]) * 1e6).astype(np.int64)
    frame["area_km2"] = frame["area_m2"] / 1e6
    frame["elev"] = frame["elev"].round()
    frame["t_annual"] = 36.0 - 0.6 * frame["lat"] - 4.5 * frame["elev"] / 1000.0
    frame["t_amp"] = 0.3 * frame["lat"] - 1.0 + frame["continental"]
    return frame.drop(columns="log_area")


# --------------------------------------------------------------------------- weather generator
def _seasonal(doy: np.ndarray, peak: np.ndarray) -> np.ndarray:
    """``cos`` of the annual cycle peaking on day-of-year ``peak``, ``[time, basin]``."""
    return np.cos(2.0 * np.pi * (doy[:, None] - np.asarray(peak)[None, :]) / 365.25)


def _precipitation(rng: np.random.Generator, par: pd.DataFrame,
                   doy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Markov-chain occurrence with gamma amounts; returns ``(prcp, wet)``, ``[time, basin]``."""
    season = _seasonal(doy, par["p_peak"].to_numpy())
    amp, p11 = par["p_amp"].to_numpy(), par["wet_persistence"].to_numpy()
    pi = np.clip(par["wet_frac"].to_numpy() * (1.0 + 0.5 * amp * season), 0.02, 0.9)
    p01 = np.clip(pi * (1.0 - p11) / (1.0 - pi), 0.0, 1.0)
    uniform = rng.uniform(size=pi.shape)
    wet = np.empty(pi.shape, dtype=bool)
    state = uniform[0] < pi[0]
    for t in range(pi.shape[0]):
        state = uniform[t] < np.where(state, p11, p01[t])
        wet[t] = state
    shape = par["gamma_shape"].to_numpy()
    mean_amount = par["p_mean"].to_numpy() * (1.0 + amp * season) / pi
    amounts = rng.gamma(shape[None, :], size=pi.shape) * mean_amount / shape
    return np.where(wet, amounts, 0.0), wet


def _temperature(rng: np.random.Generator, par: pd.DataFrame, doy: np.ndarray,
                 wet: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seasonal cycle + AR(1) anomaly; returns ``(tmax, tmin)`` in deg C, ``[time, basin]``."""
    phi = 0.75
    cycle = par["t_annual"].to_numpy() - par["t_amp"].to_numpy() * _seasonal(
        doy, np.full(len(par), 20.0))
    noise = rng.normal(size=wet.shape) * par["t_sd"].to_numpy() * np.sqrt(1.0 - phi**2)
    tmean = cycle + lfilter([1.0], [1.0, -phi], noise, axis=0) - 1.0 * wet
    dtr = par["dtr"].to_numpy() * (1.0 - 0.35 * wet) + rng.normal(0.0, 1.5, size=wet.shape)
    dtr = np.clip(dtr, 1.0, None)
    return tmean + dtr / 2.0, tmean - dtr / 2.0


def _solar(lat: np.ndarray, doy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FAO-56 extraterrestrial radiation (MJ m-2 d-1) and day length (s), ``[time, basin]``."""
    phi = np.deg2rad(lat)[None, :]
    angle = 2.0 * np.pi * doy[:, None] / 365.0
    dr = 1.0 + 0.033 * np.cos(angle)
    delta = 0.409 * np.sin(angle - 1.39)
    ws = np.arccos(np.clip(-np.tan(phi) * np.tan(delta), -1.0, 1.0))
    ra = 24.0 * 60.0 / np.pi * 0.082 * dr * (
        ws * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(ws))
    return ra, 24.0 / np.pi * ws * 3600.0


def _round2(x: np.ndarray) -> np.ndarray:
    """Round to the 2 decimals of the files (and turn -0.0 into 0.0)."""
    return np.round(x, 2) + 0.0


def _hargreaves(ra: np.ndarray, tmax: np.ndarray, tmin: np.ndarray) -> np.ndarray:
    """Hargreaves & Samani (1985) PET in mm/day from radiation (MJ m-2 d-1) and temperature."""
    tmean = (tmax + tmin) / 2.0
    dtr = np.clip(tmax - tmin, 0.0, None)
    return np.clip(0.0023 * 0.408 * ra * (tmean + 17.8) * np.sqrt(dtr), 0.0, None)


def _weather(rng: np.random.Generator, par: pd.DataFrame,
             dates: pd.DatetimeIndex) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Simulate the seven forcing columns (rounded as in the files) and Hargreaves PET."""
    doy = dates.day_of_year.to_numpy().astype(float)
    prcp, wet = _precipitation(rng, par, doy)
    tmax, tmin = _temperature(rng, par, doy, wet)
    ra, dayl = _solar(par["lat"].to_numpy(), doy)
    rs = np.minimum(0.16 * np.sqrt(tmax - tmin) * ra, 0.75 * ra)  # Hargreaves radiation
    dew = tmin - par["dew_depression"].to_numpy()
    vp = 610.8 * np.exp(17.27 * dew / (dew + 237.3))
    forcings = {"dayl": dayl, "prcp": prcp, "srad": rs * 1e6 / dayl,
                "swe": np.zeros_like(prcp), "tmax": tmax, "tmin": tmin, "vp": vp}
    forcings = {k: _round2(forcings[k]) for k in FORCING_COLUMNS}
    return forcings, _hargreaves(ra, forcings["tmax"], forcings["tmin"])


# --------------------------------------------------------------------------- bucket model
def _bucket_run(forcings: dict[str, np.ndarray], pet: np.ndarray, par: pd.DataFrame,
                state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run the bucket model from ``state`` = [snow, soil, fast, groundwater] x basin (mm)."""
    p = {k: par[k].to_numpy() for k in ("t_snow", "ddf", "smax", "beta", "lp", "perc_max",
                                        "k_fast", "k_gw", "gw_threshold", "deep_loss")}
    tmean = (forcings["tmax"] + forcings["tmin"]) / 2.0
    snow_frac = np.clip((p["t_snow"] + 1.0 - tmean) / 2.0, 0.0, 1.0)
    potential_melt = p["ddf"] * np.clip(tmean - p["t_snow"], 0.0, None)
    snow, soil, fast, gw = state.copy()
    q = np.empty_like(pet)
    for t in range(pet.shape[0]):
        snow = snow + forcings["prcp"][t] * snow_frac[t]
        melt = np.minimum(snow, potential_melt[t])
        snow = snow - melt
        inflow = forcings["prcp"][t] * (1.0 - snow_frac[t]) + melt
        runoff = inflow * (soil / p["smax"]) ** p["beta"]
        soil = soil + inflow - runoff
        overflow = np.clip(soil - p["smax"], 0.0, None)
        soil = soil - overflow
        soil = soil - np.minimum(soil, pet[t] * np.minimum(soil / (p["lp"] * p["smax"]), 1.0))
        perc = np.minimum(soil, p["perc_max"] * (soil / p["smax"]) ** 2)
        soil = soil - perc
        fast = fast + runoff + overflow
        q_fast = np.where(fast < 0.01, fast, fast / p["k_fast"])
        fast = fast - q_fast
        gw = gw + perc - p["deep_loss"] * gw
        q_base = np.clip(gw - p["gw_threshold"], 0.0, None) / p["k_gw"]
        gw = gw - q_base
        q[t] = q_fast + q_base
    return q, np.stack([snow, soil, fast, gw])


def _run_bucket_model(forcings: dict[str, np.ndarray], pet: np.ndarray,
                      par: pd.DataFrame) -> np.ndarray:
    """Discharge in mm/day ``[time, basin]``; states spun up on the first two years."""
    state = np.stack([np.zeros(len(par)), 0.5 * par["smax"].to_numpy(), np.zeros(len(par)),
                      par["gw_threshold"].to_numpy()])
    spin = min(730, pet.shape[0])
    _, state = _bucket_run({k: v[:spin] for k, v in forcings.items()}, pet[:spin], par, state)
    q, _ = _bucket_run(forcings, pet, par, state)
    return q


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


# --------------------------------------------------------------------------- attributes
def _window(dates: pd.DatetimeIndex) -> np.ndarray:
    """Boolean mask of the CAMELS climate period on ``dates`` (all days if they do not meet)."""
    mask = (dates >= CLIMATE_PERIOD[0]) & (dates <= CLIMATE_PERIOD[1])
    return mask if mask.any() else np.ones(len(dates), dtype=bool)


def _mean_run(mask: np.ndarray) -> float:
    """Mean length of the runs of consecutive True values (0.0 when there is none)."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return float(np.mean(ends - starts)) if starts.size else 0.0


def _timing(mask: np.ndarray, months: np.ndarray) -> str:
    """Season ('djf', 'mam', 'jja', 'son') in which most of the True days fall."""
    seasons = np.array(["djf", "mam", "jja", "son"])
    counts = [np.sum(mask & (_SEASONS[months - 1] == s)) for s in seasons]
    return str(seasons[int(np.argmax(counts))])


def _p_seasonality(p: np.ndarray, t: np.ndarray, day: np.ndarray) -> float:
    """Addor et al. (2017): ``delta_p * sign(delta_t) * cos(2 pi (s_p - s_t) / 365.25)``.

    Sine curves are fitted by least squares; ``delta_p`` is the precipitation amplitude relative
    to its mean, and the cosine of the phase difference is computed from the fitted coefficients.
    """
    omega = 2.0 * np.pi * day / 365.25
    design = np.column_stack([np.ones_like(omega), np.sin(omega), np.cos(omega)])
    (p0, p_sin, p_cos), *_ = np.linalg.lstsq(design, p, rcond=None)
    (_, t_sin, t_cos), *_ = np.linalg.lstsq(design, t, rcond=None)
    p_amp, t_amp = np.hypot(p_sin, p_cos), np.hypot(t_sin, t_cos)
    if p0 <= 0 or p_amp == 0 or t_amp == 0:
        return 0.0
    return float(p_amp / p0 * (p_sin * t_sin + p_cos * t_cos) / (p_amp * t_amp))


def _climate_row(p: np.ndarray, t: np.ndarray, pet: np.ndarray,
                 dates: pd.DatetimeIndex) -> dict[str, float | str]:
    """Climate indices of ``camels_clim.txt`` for one basin (daily series of its window)."""
    months, years = dates.month.to_numpy(), len(dates) / 365.25
    p_mean = float(p.mean())
    high, low = p >= 5.0 * p_mean, p < 1.0
    return {
        "p_mean": p_mean, "pet_mean": float(pet.mean()),
        "p_seasonality": _p_seasonality(p, t, np.arange(len(p), dtype=float)),
        "frac_snow": float(p[t < 0.0].sum() / p.sum()) if p.sum() > 0 else 0.0,
        "aridity": float(pet.mean() / p_mean) if p_mean > 0 else np.inf,
        "high_prec_freq": float(high.sum() / years), "high_prec_dur": _mean_run(high),
        "high_prec_timing": _timing(high, months), "low_prec_freq": float(low.sum() / years),
        "low_prec_dur": _mean_run(low), "low_prec_timing": _timing(low, months),
    }  # fmt: skip


def _baseflow_index(q: np.ndarray, alpha: float = 0.925) -> np.ndarray:
    """One forward pass of the Lyne-Hollick filter; BFI per basin from ``q [time, basin]``."""
    quick = np.zeros(q.shape[1])
    total_quick = np.zeros(q.shape[1])
    for t in range(1, q.shape[0]):
        quick = np.clip(alpha * quick + (1.0 + alpha) / 2.0 * (q[t] - q[t - 1]), 0.0, q[t])
        total_quick += quick
    total = q[1:].sum(axis=0)
    return np.where(total > 0, 1.0 - total_quick / np.where(total > 0, total, 1.0), np.nan)


def _water_year_stats(q: np.ndarray, p: np.ndarray,
                      dates: pd.DatetimeIndex) -> tuple[float, float]:
    """Streamflow elasticity (median over water years) and mean half-flow date (days)."""
    water_year = dates.year.to_numpy() + (dates.month.to_numpy() >= 10)
    elas, hfd = [], []
    years = [y for y in np.unique(water_year) if np.sum(water_year == y) >= 365]
    q_m = np.mean([q[water_year == y].mean() for y in years]) if years else 0.0
    p_m = np.mean([p[water_year == y].mean() for y in years]) if years else 0.0
    for y in years:
        qy, py = q[water_year == y], p[water_year == y]
        if q_m > 0 and p_m > 0 and abs(py.mean() - p_m) > 1e-3 * p_m:
            elas.append((qy.mean() - q_m) / q_m / ((py.mean() - p_m) / p_m))
        if qy.sum() > 0:
            hfd.append(np.searchsorted(np.cumsum(qy), 0.5 * qy.sum()) + 1)
    return (float(np.median(elas)) if elas else np.nan, float(np.mean(hfd)) if hfd else np.nan)


def _hydro_row(q: np.ndarray, p: np.ndarray, dates: pd.DatetimeIndex) -> dict[str, float]:
    """Simplified signatures of ``camels_hydro.txt`` for one complete discharge series."""
    years = len(q) / 365.25
    q_mean, median = float(q.mean()), float(np.median(q))
    q33, q66 = np.quantile(q, [0.67, 0.34])  # flows exceeded 33 % and 66 % of the time
    high, low = q > 9.0 * median, q < 0.2 * q_mean
    elas, hfd = _water_year_stats(q, p, dates)
    return {
        "q_mean": q_mean, "runoff_ratio": q_mean / float(p.mean()) if p.mean() > 0 else np.nan,
        "slope_fdc": float((np.log(q33) - np.log(q66)) / 0.33) if q66 > 0 else 0.0,
        "stream_elas": elas, "q5": float(np.quantile(q, 0.05)),
        "q95": float(np.quantile(q, 0.95)), "high_q_freq": float(high.sum() / years),
        "high_q_dur": _mean_run(high), "low_q_freq": float(low.sum() / years),
        "low_q_dur": _mean_run(low), "zero_q_freq": float(np.mean(q <= 0.0)), "hfd_mean": hfd,
    }  # fmt: skip


def _simulated_attributes(sim: DemoSimulation) -> pd.DataFrame:
    """Climate indices and hydrological signatures computed from the simulated series."""
    win = _window(sim.dates)
    dates = sim.dates[win]
    tmean = (sim.forcings["tmax"] + sim.forcings["tmin"])[win] / 2.0
    prcp, pet, q = sim.forcings["prcp"][win], sim.pet[win], sim.qsim[win]
    rows = [{**_climate_row(prcp[:, b], tmean[:, b], pet[:, b], dates),
             **_hydro_row(q[:, b], prcp[:, b], dates)} for b in range(len(sim.basins))]
    frame = pd.DataFrame(rows, index=sim.params.index)
    frame["baseflow_index"] = _baseflow_index(q)
    return frame


def _lognoise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Multiplicative noise with median 1."""
    return np.exp(rng.normal(0.0, sigma, size=n))


def _soil_attributes(rng: np.random.Generator, par: pd.DataFrame) -> pd.DataFrame:
    """Soil columns from the storage capacity, percolation and class (plus noise)."""
    n, cls = len(par), par["behaviour_class"].to_numpy()
    porosity = np.where(cls == "groundwater", 0.46, 0.42) + rng.normal(0, 0.015, n)
    smax, perc = par["smax"].to_numpy(), par["perc_max"].to_numpy()
    sand_range = {"snow": (35, 55), "humid_flashy": (15, 35), "arid_intermittent": (45, 70),
                  "groundwater": (50, 75)}
    clay_range = {"snow": (10, 20), "humid_flashy": (25, 40), "arid_intermittent": (8, 20),
                  "groundwater": (5, 15)}
    sand = np.array([rng.uniform(*sand_range[c]) for c in cls])
    clay = np.array([rng.uniform(*clay_range[c]) for c in cls])
    total = rng.uniform(90.0, 100.0, n)
    depth_range = {"snow": (0.5, 5), "humid_flashy": (1, 15), "arid_intermittent": (0.5, 3),
                   "groundwater": (20, 50)}
    return pd.DataFrame({
        "soil_depth_pelletier": [rng.uniform(*depth_range[c]) for c in cls],
        "soil_depth_statsgo": np.clip(smax / (porosity * 450.0) * _lognoise(rng, n, 0.1),
                                      0.4, 1.5),
        "soil_porosity": porosity,
        "soil_conductivity": 0.5 + 1.5 * perc * _lognoise(rng, n, 0.2),
        "max_water_content": smax / 1000.0 * 2.0 * _lognoise(rng, n, 0.1),
        "sand_frac": sand * total / 100.0, "silt_frac": (100.0 - sand - clay) * total / 100.0,
        "clay_frac": clay * total / 100.0, "water_frac": 0.0, "organic_frac": 0.0,
        "other_frac": 100.0 - total,
    }, index=par.index)  # fmt: skip


def _geol_attributes(rng: np.random.Generator, par: pd.DataFrame) -> pd.DataFrame:
    """Geology columns; the permeability follows the percolation capacity."""
    n, cls = len(par), par["behaviour_class"].to_numpy()
    perm = -16.0 + 1.2 * np.log(par["perc_max"].to_numpy() / 0.1) + rng.normal(0, 0.3, n)
    perm = np.clip(perm, -16.5, -10.9)
    carbonate = np.where(cls == "groundwater", rng.uniform(0.5, 1.0, n),
                         np.where(rng.uniform(size=n) < 0.7, 0.0, rng.uniform(0, 0.2, n)))
    rocks = {"snow": ("Metamorphics", "Acid plutonic rocks"),
             "humid_flashy": ("Siliciclastic sedimentary rocks", "Metamorphics"),
             "arid_intermittent": ("Unconsolidated sediments", "Basic volcanic rocks"),
             "groundwater": ("Carbonate sedimentary rocks", "Unconsolidated sediments")}
    first_frac = rng.uniform(0.5, 1.0, n)
    return pd.DataFrame({
        "geol_1st_class": [rocks[c][0] for c in cls], "glim_1st_class_frac": first_frac,
        "geol_2nd_class": [rocks[c][1] for c in cls],
        "glim_2nd_class_frac": (1.0 - first_frac) * rng.uniform(0.3, 1.0, n),
        "carbonate_rocks_frac": carbonate,
        "geol_porostiy": np.round(np.clip(0.05 + 0.04 * (perm + 16.0), 0.01, 0.28), 4),
        "geol_permeability": np.round(perm, 4),
    }, index=par.index)  # fmt: skip


def _vege_attributes(rng: np.random.Generator, par: pd.DataFrame) -> pd.DataFrame:
    """Vegetation columns from the forest fraction and class (crops in groundwater basins)."""
    n, cls = len(par), par["behaviour_class"].to_numpy()
    forest = np.clip(par["forest"].to_numpy() + rng.normal(0, 0.02, n), 0.0, 1.0)
    crops = (cls == "groundwater").astype(float)
    lai_max = 0.5 + 4.5 * forest * rng.uniform(0.85, 1.05, n) + 1.0 * crops
    cover = {"snow": "Evergreen Needleleaf Forest", "humid_flashy": "Deciduous Broadleaf Forest",
             "arid_intermittent": "Open Shrublands", "groundwater": "Croplands"}
    root_50, root_99 = rng.uniform(0.12, 0.25, n), rng.uniform(1.5, 3.1, n)
    root_50[0] = root_99[0] = np.nan  # as in the real file, a few basins have no root depth
    return pd.DataFrame({
        "frac_forest": np.round(forest, 4), "lai_max": lai_max,
        "lai_diff": lai_max * rng.uniform(0.55, 0.85, n),
        "gvf_max": np.clip(0.25 + 0.6 * forest + 0.2 * crops + rng.normal(0, 0.03, n), 0.18, 0.92),
        "gvf_diff": rng.uniform(0.1, 0.3, n) + 0.2 * (cls != "humid_flashy"),
        "dom_land_cover_frac": rng.uniform(0.4, 1.0, n),
        "dom_land_cover": [f"    {cover[c]}" for c in cls],
        "root_depth_50": root_50, "root_depth_99": root_99,
    }, index=par.index)  # fmt: skip


def _topo_name_attributes(rng: np.random.Generator, par: pd.DataFrame) -> pd.DataFrame:
    """Topography and gauge names (one of them with a latin-1 character)."""
    n = len(par)
    rivers = ("Cedar", "Fox", "Bear", "Willow", "Stony", "Otter", "Elk", "Sandy")
    names = [f"{rivers[i % len(rivers)]} Creek Synthetic {i + 1} near Demo Town" for i in range(n)]
    names[0] = "Rivière Synthétique near Demo Town"
    return pd.DataFrame({
        "gauge_lat": np.round(par["lat"].to_numpy() + rng.normal(0, 0.1, n), 5),
        "gauge_lon": np.round(par["lon"].to_numpy() + rng.normal(0, 0.1, n), 5),
        "elev_mean": np.round(par["elev"].to_numpy() * _lognoise(rng, n, 0.05), 2),
        "slope_mean": np.round(par["slope"].to_numpy(), 5),
        "area_gages2": np.round(par["area_km2"].to_numpy() * _lognoise(rng, n, 0.03), 2),
        "area_geospa_fabric": np.round(par["area_km2"].to_numpy() * _lognoise(rng, n, 0.04), 2),
        "huc_02": par["huc_02"].to_numpy(), "gauge_name": names,
    }, index=par.index)  # fmt: skip


def demo_attributes(sim: DemoSimulation, seed: int = 0) -> pd.DataFrame:
    """All columns of the seven attribute files for the simulated basins, index ``gauge_id``."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[3])
    par = sim.params
    parts = [_simulated_attributes(sim), _soil_attributes(rng, par), _geol_attributes(rng, par),
             _vege_attributes(rng, par), _topo_name_attributes(rng, par)]
    return pd.concat(parts, axis=1)


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
        "generator": "ealstm.data.demo.generate_demo_data", "seed": seed, "n_basins": n_basins,
        "start": str(start), "end": str(end), "behaviour_classes": list(CLASSES),
        "forcing_products": list(FORCING_PRODUCTS), "climate_period": list(CLIMATE_PERIOD),
        "late_start_basins": late,
        "missing_basins": [b for b, m in zip(sim.basins, sim.missing.any(axis=0), strict=True)
                           if m],
        "units": {"discharge_file": "cfs", "discharge_model": "mm/day", "area_m2": "m^2",
                  "smax": "mm", "k_fast": "days", "k_gw": "days", "ddf": "mm/degC/day"},
    })  # fmt: skip
