"""Map frames and attribute units shared by the figures that place basins on a map.

:func:`draw_basemap` draws the CONUS frame with the state outlines (:func:`draw_conus`) when
every gauge lies in the conterminous US and a plain lon/lat frame otherwise (Caravan, generic);
the sensitivity, embedding and report maps all use it.
"""

from __future__ import annotations

import json
import math
from importlib import resources

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection

#: Lon/lat extent of the CONUS map frame.
CONUS_EXTENT = (-125.0, -66.5, 24.0, 50.0)
#: Resource with the state outlines (see :mod:`ealstm.analysis.sensitivity`).
STATES_RESOURCE = "us_states_conus.json"

#: Units of the CAMELS-US attributes (Addor et al. 2017), for axis and colour-bar labels.
ATTRIBUTE_UNITS = {
    "p_mean": "mm/day", "pet_mean": "mm/day", "aridity": "-", "p_seasonality": "-",
    "frac_snow": "-", "high_prec_freq": "days/yr", "high_prec_dur": "days",
    "low_prec_freq": "days/yr", "low_prec_dur": "days", "elev_mean": "m", "slope_mean": "m/km",
    "area_gages2": "km²", "frac_forest": "-", "lai_max": "-", "lai_diff": "-", "gvf_max": "-",
    "gvf_diff": "-", "soil_depth_pelletier": "m", "soil_depth_statsgo": "m",
    "soil_porosity": "-", "soil_conductivity": "cm/h", "max_water_content": "m",
    "sand_frac": "%", "silt_frac": "%", "clay_frac": "%", "carbonate_rocks_frac": "-",
    "geol_permeability": "log10(m²)",
}  # fmt: skip


def attribute_label(name: str) -> str:
    """``name (unit)`` for a CAMELS-US attribute, ``name`` for others (unit unknown)."""
    unit = ATTRIBUTE_UNITS.get(name)
    return f"{name} ({unit})" if unit else name


def in_conus(lon: np.ndarray, lat: np.ndarray) -> bool:
    """Return whether every gauge lies inside :data:`CONUS_EXTENT` (False for none)."""
    lon, lat = np.asarray(lon, np.float64), np.asarray(lat, np.float64)
    west, east, south, north = CONUS_EXTENT
    inside = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    return bool(lon.size) and bool(inside.all())


def draw_basemap(ax: Axes, lon: np.ndarray, lat: np.ndarray) -> str:
    """Draw the map frame for gauges at ``lon, lat``; return which frame.

    Returns
    -------
    str
        ``"us-states"`` (or ``"lonlat-frame"`` without the outlines resource) from
        :func:`draw_conus` when :func:`in_conus`; otherwise
        ``"lonlat-frame"``: the gauges' extent plus 1 degree, aspect true at their mean latitude.
    """
    if in_conus(lon, lat):
        return draw_conus(ax)
    lon, lat = np.asarray(lon, np.float64), np.asarray(lat, np.float64)
    if lon.size:
        ax.set_xlim(np.nanmin(lon) - 1.0, np.nanmax(lon) + 1.0)
        ax.set_ylim(np.nanmin(lat) - 1.0, np.nanmax(lat) + 1.0)
        ax.set_aspect(1.0 / max(math.cos(math.radians(float(np.nanmean(lat)))), 0.1))
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.grid(alpha=0.3)
    return "lonlat-frame"


def align_labels(labels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Renumber cluster ``labels`` so that they agree with ``reference`` where they can.

    k-means numbers its clusters arbitrarily, so two maps of the same basins would colour the
    same group differently. The permutation that maximises the number of basins with equal
    labels (Hungarian method on the contingency table) is applied; labels without a partner
    get the numbers left over. Only the numbering changes, never the grouping.
    """
    from scipy.optimize import linear_sum_assignment

    labels, reference = np.asarray(labels, np.int64), np.asarray(reference, np.int64)
    ours, theirs = np.unique(labels), np.unique(reference)
    table = np.array([[np.sum((labels == a) & (reference == b)) for b in theirs] for a in ours])
    rows, cols = linear_sum_assignment(-table)
    mapping = {int(ours[r]): int(theirs[c]) for r, c in zip(rows, cols, strict=True)}
    free = iter(sorted(set(range(len(ours) + len(theirs))) - set(mapping.values())))
    mapping |= {int(a): next(free) for a in ours if int(a) not in mapping}
    return np.array([mapping[int(a)] for a in labels], dtype=np.int64)


def state_outlines() -> list[np.ndarray] | None:
    """Polylines ``[n, 2]`` (lon, lat) of the CONUS state outlines; None without the resource."""
    try:
        text = resources.files("ealstm.analysis").joinpath(STATES_RESOURCE).read_text("utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        return None
    return [np.asarray(line, dtype=np.float64).reshape(-1, 2)
            for line in json.loads(text)["lines"]]


def draw_conus(ax: Axes) -> str:
    """Draw the CONUS map frame (state outlines if available) on ``ax``; return which."""
    lines = state_outlines()
    if lines is not None:
        ax.add_collection(LineCollection(lines, colors="0.55", linewidths=0.5, zorder=1))
    west, east, south, north = CONUS_EXTENT
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    ax.set_aspect(1.0 / math.cos(math.radians((south + north) / 2)))
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    return "us-states" if lines is not None else "lonlat-frame"
