"""Catchment attributes of the demo data set, in the columns of CAMELS attributes v2.0.

Used by :func:`ealstm.data.synthetic.demo.generate_demo_data` to fill the seven ``camels_*.txt``
files.
Climate indices and hydrological signatures are computed from the simulated series (simplified
definitions after Addor et al., 2017); soil, geology, vegetation and topography columns are
functions of the latent basin parameters plus modest noise, so that every static input of a
model carries information about the generating behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ealstm.data.synthetic.demo import DemoSimulation

#: The CAMELS period of the climate indices and hydrological signatures.
CLIMATE_PERIOD = ("1989-10-01", "2009-09-30")
_SEASONS = np.array(["djf", "djf", "mam", "mam", "mam", "jja", "jja", "jja", "son", "son", "son",
                     "djf"])  # fmt: skip


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
