"""Synthetic hydrology of the demo data set: basin parameters, weather and a bucket model.

The physics behind :func:`ealstm.data.synthetic.demo.simulate_demo`, kept apart from the file
writers so
that the generating process can be read (and changed) in one place: :func:`draw_basins` draws
each basin's latent parameters from the range of its behaviour class (:data:`CLASSES`),
:func:`simulate_weather` turns them into daily forcings with a stochastic weather generator,
and :func:`run_bucket_model` routes the forcings through degree-day snow, an HBV-type soil store
and two linear reservoirs to discharge. The steps are described in
:mod:`ealstm.data.synthetic.demo`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

#: Behaviour classes of the synthetic basins (the known truth of clustering analyses).
CLASSES = ("snow", "humid_flashy", "arid_intermittent", "groundwater")
#: Forcing columns, in the order of the CAMELS-US forcing files.
FORCING_COLUMNS = ("dayl", "prcp", "srad", "swe", "tmax", "tmin", "vp")

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


# --------------------------------------------------------------------------- latent parameters
def draw_basins(rng: np.random.Generator, n: int) -> pd.DataFrame:
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


def simulate_weather(rng: np.random.Generator, par: pd.DataFrame,
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


def run_bucket_model(forcings: dict[str, np.ndarray], pet: np.ndarray,
                      par: pd.DataFrame) -> np.ndarray:
    """Discharge in mm/day ``[time, basin]``; states spun up on the first two years."""
    state = np.stack([np.zeros(len(par)), 0.5 * par["smax"].to_numpy(), np.zeros(len(par)),
                      par["gw_threshold"].to_numpy()])
    spin = min(730, pet.shape[0])
    _, state = _bucket_run({k: v[:spin] for k, v in forcings.items()}, pet[:spin], par, state)
    q, _ = _bucket_run(forcings, pet, par, state)
    return q

