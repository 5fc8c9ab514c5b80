"""Pure parsers of the official NCAR CAMELS-US layout.

The layout is that of the ``basin_dataset_public_v1p2`` and ``camels_attributes_v2.0``
downloads (Newman et al. 2015; Addor et al. 2017)::

    <data_dir>/basin_mean_forcing/<product>/<huc>/<basin>_lump_<tag>_forcing_leap.txt
    <data_dir>/usgs_streamflow/<huc>/<basin>_streamflow_qc.txt
    <data_dir>/camels_attributes_v2.0/camels_{clim,geol,hydro,name,soil,topo,vege}.txt

Every function reads files and returns pandas objects; nothing is cached or written here.
Errors name the file, basin, column or config key concerned (see :mod:`ealstm.errors`).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ealstm.data import validation
from ealstm.data.readers import generic
from ealstm.errors import BasinDataError, ConfigError, DataNotFoundError

#: Forcing product (folder under ``basin_mean_forcing``) -> tag in the file names.
FORCING_TAGS = {
    "daymet": "cida",
    "maurer": "maurer",
    "maurer_extended": "maurer",
    "nldas": "nldas",
    "nldas_extended": "nldas",
}
#: Names of the paper's Table A1 that are spelled differently in the CAMELS v2.0 files.
ATTRIBUTE_ALIASES = {
    "forest_frac": "frac_forest",
    "carb_rocks_frac": "carbonate_rocks_frac",
    "frac_snow_daily": "frac_snow",
}
ATTRIBUTES_FOLDER = "camels_attributes_v2.0"
_DATE_COLUMNS = ("year", "mnth", "day", "hr")
#: Largest accepted ratio between the forcing-header area and the closer of the attribute areas
#: ``area_gages2`` / ``area_geospa_fabric``. Real CAMELS-US has a basin (05057200) at 0.48;
#: a header in km^2 instead of m^2 is off by 1e6.
AREA_TOLERANCE_FACTOR = 3.0
_AREA_COLUMNS = ("area_gages2", "area_geospa_fabric")
_CFS_TO_M3S = 0.3048**3
_SECONDS_PER_DAY = 86400.0


def _forcing_tag(product: str) -> str:
    """Return the file-name tag of a forcing product or raise ``ConfigError``."""
    if product not in FORCING_TAGS:
        raise ConfigError(f"unknown forcing product {product!r} (data.forcings); "
                          f"choose from {sorted(FORCING_TAGS)}")
    return FORCING_TAGS[product]


def _basin_id(basin: str | int) -> str:
    """Return a basin id as the 8-character zero-padded string used by CAMELS."""
    return str(basin).strip().zfill(8)


def _normalise_column(name: str) -> str:
    """``"PRCP(mm/day)"`` -> ``"prcp"``: drop the unit in parentheses, strip, lower-case."""
    return re.sub(r"\(.*?\)", "", str(name)).strip().lower()


def _find_one(folder: Path, pattern: str, what: str) -> Path:
    """Return the single file matching ``folder/*/pattern`` (one sub-folder per HUC-02)."""
    matches = sorted(folder.glob(f"*/{pattern}"))
    if not matches:
        raise DataNotFoundError(f"no file for {what}: searched {folder}/*/{pattern}; check "
                                "data.data_dir and the basin id, or download the data set")
    if len(matches) > 1:
        raise BasinDataError(f"{len(matches)} files for {what}: {[str(m) for m in matches]}; "
                             "keep only one")
    return matches[0]


def _read_table(path: Path, **kwargs: object) -> pd.DataFrame:
    """``pd.read_csv`` that turns parse failures into ``BasinDataError`` naming the file."""
    try:
        frame = pd.read_csv(path, **kwargs)
    except (ValueError, pd.errors.ParserError) as exc:  # EmptyDataError is a ValueError
        raise BasinDataError(f"cannot parse {path}: {exc}") from exc
    if frame.empty:
        raise BasinDataError(f"{path} holds no data rows")
    return frame


def _daily_index(year: pd.Series, month: pd.Series, day: pd.Series, path: Path,
                 allow_gaps: bool) -> pd.DatetimeIndex:
    """Build the ``date`` index; raise on invalid or duplicate dates and (optionally) gaps."""
    try:
        dates = pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": day}))
    except (ValueError, TypeError) as exc:
        raise BasinDataError(f"{path}: invalid date in the Year/Month/Day columns ({exc})") from exc
    index = pd.DatetimeIndex(dates, name="date")
    duplicated = index[index.duplicated()]
    if len(duplicated):
        raise BasinDataError(f"{path}: duplicate dates {[str(d.date()) for d in duplicated[:5]]}")
    if not allow_gaps:
        steps = np.diff(index.values)
        bad = np.flatnonzero(steps != np.timedelta64(1, "D"))
        if bad.size:
            i = int(bad[0])
            raise BasinDataError(f"{path}: dates are not consecutive days: {index[i].date()} is "
                                 f"followed by {index[i + 1].date()}")
    return index


def _read_area_km2(path: Path) -> float:
    """Basin area from the third header line of a forcing file (m^2) in km^2."""
    with open(path, encoding="latin-1") as handle:
        header = [handle.readline() for _ in range(3)]
    try:
        area_m2 = float(header[2])
    except ValueError as exc:
        raise BasinDataError(f"{path}: third header line {header[2].strip()!r} is not the basin "
                             "area in m^2") from exc
    if not np.isfinite(area_m2) or area_m2 <= 0:
        raise BasinDataError(f"{path}: basin area {area_m2} m^2 in the header is not positive")
    return area_m2 / 1e6


def read_forcings(data_dir: Path, basin: str, product: str) -> tuple[pd.DataFrame, float]:
    """Read the basin-mean meteorological forcings of one basin.

    Parameters
    ----------
    data_dir : Path
        Root of the CAMELS-US data (holds ``basin_mean_forcing``).
    basin : str
        8-digit USGS gauge id, e.g. ``"01022500"``.
    product : str
        One of ``daymet, maurer, maurer_extended, nldas, nldas_extended``.

    Returns
    -------
    forcings : pd.DataFrame
        Float columns named as the file header, lower-cased without unit (``dayl, prcp, srad,
        swe, tmax, tmin, vp``), indexed by a consecutive daily ``DatetimeIndex`` ``date``.
    area_km2 : float
        Basin area from the file header (m^2 / 1e6).

    Raises
    ------
    ConfigError
        Unknown product.
    DataNotFoundError
        No forcing file for this basin and product.
    BasinDataError
        Unparsable file, duplicate dates or gaps in the daily record.
    """
    basin = _basin_id(basin)
    tag = _forcing_tag(product)
    folder = Path(data_dir) / "basin_mean_forcing" / product
    path = _find_one(folder, f"{basin}_lump_{tag}_forcing_leap.txt",
                     f"basin {basin}, forcing product {product}")
    return _parse_forcing_file(path), _read_area_km2(path)


def _parse_forcing_file(path: Path) -> pd.DataFrame:
    """Parse the table below the 3-line header of a forcing file (see :func:`read_forcings`)."""
    # headers mix spaces and tabs; no NA strings, so that a short row fails the float cast
    frame = _read_table(path, sep=r"\s+", skiprows=3, keep_default_na=False, na_values=[])
    frame.columns = [_normalise_column(c) for c in frame.columns]
    if frame.columns.duplicated().any() or not {"year", "mnth", "day"} <= set(frame.columns):
        raise BasinDataError(f"{path}: header {list(frame.columns)} needs Year, Mnth, Day and "
                             "unique variable names")
    index = _daily_index(frame["year"], frame["mnth"], frame["day"], path, allow_gaps=False)
    values = frame.drop(columns=[c for c in _DATE_COLUMNS if c in frame.columns])
    try:
        values = values.astype("float64")
    except ValueError as exc:
        raise BasinDataError(f"{path}: missing or non-numeric forcing values ({exc})") from exc
    values.index = index
    values.columns.name = None
    values.attrs["source"] = str(path)
    return values


@functools.lru_cache(maxsize=8)
def _topo_areas(path: str, mtime_ns: int) -> pd.DataFrame:
    """Return the area columns of ``camels_topo.txt`` (cached per file version)."""
    frame = _read_attribute_file(Path(path))
    return frame[[c for c in _AREA_COLUMNS if c in frame.columns]].apply(
        pd.to_numeric, errors="coerce")


def check_forcing_area(data_dir: Path, basin: str, area_km2: float, source: Path | str) -> None:
    """Compare a forcing-header area with the attribute areas of ``camels_topo.txt``.

    The header area converts discharge from cfs to mm/day, so a wrong unit (km^2 written where
    m^2 belongs) scales the target of the basin by 1e6. Skipped when the topo file or the basin
    is absent (the attributes are optional for a model without statics).

    Raises
    ------
    BasinDataError
        The header area differs from both attribute areas by more than
        :data:`AREA_TOLERANCE_FACTOR`; names both values and the file.
    """
    topo = Path(data_dir) / ATTRIBUTES_FOLDER / "camels_topo.txt"
    if not topo.is_file():
        return
    areas = _topo_areas(str(topo), topo.stat().st_mtime_ns)
    basin = _basin_id(basin)
    if basin not in areas.index:
        return
    known = {c: float(v) for c, v in areas.loc[basin].items() if np.isfinite(v) and v > 0}
    ratios = [max(area_km2 / v, v / area_km2) for v in known.values()]
    if ratios and min(ratios) > AREA_TOLERANCE_FACTOR:
        given = ", ".join(f"{c} {v:g} km^2" for c, v in known.items())
        raise BasinDataError(
            f"{source}: basin {basin}: forcing-header area {area_km2 * 1e6:g} m^2 "
            f"({area_km2:g} km^2) differs from {topo.name} ({given}) by more than a factor "
            f"{AREA_TOLERANCE_FACTOR:g}; the third header line must be the area in m^2")


def read_streamflow(data_dir: Path, basin: str, area_km2: float) -> pd.Series:
    """Read observed discharge and convert it from ft^3/s to mm/day.

    ``q [mm/day] = q [cfs] * 0.3048^3 * 86400 / (area_km2 * 1e6) * 1000``. The sentinels
    ``-999``/``-9999`` and values flagged ``M...`` are missing (NaN); other negative values are
    kept for :mod:`ealstm.data.validation` to reject. Days absent from the file between its
    first and last date become NaN too.

    Parameters
    ----------
    data_dir : Path
        Root of the CAMELS-US data (holds ``usgs_streamflow``).
    basin : str
        8-digit USGS gauge id.
    area_km2 : float
        Basin area in km^2, normally the one returned by :func:`read_forcings`.

    Returns
    -------
    pd.Series
        ``qobs`` in mm/day on a daily ``DatetimeIndex`` ``date``.

    Raises
    ------
    DataNotFoundError
        No streamflow file for this basin.
    BasinDataError
        Unparsable file, wrong gauge id, duplicate dates or non-positive area.
    """
    basin = _basin_id(basin)
    if not np.isfinite(area_km2) or area_km2 <= 0:
        raise BasinDataError(f"basin {basin}: area {area_km2} km^2 must be positive")
    path = _find_one(Path(data_dir) / "usgs_streamflow", f"{basin}_streamflow_qc.txt",
                     f"basin {basin}, USGS streamflow")
    q_cfs = _parse_streamflow_file(path, basin)
    qobs = q_cfs * _CFS_TO_M3S * _SECONDS_PER_DAY / (area_km2 * 1e6) * 1000.0
    full = pd.date_range(qobs.index[0], qobs.index[-1], freq="D", name="date")
    qobs = qobs.reindex(full).rename("qobs")
    qobs.attrs["source"] = str(path)
    return qobs


def _parse_streamflow_file(path: Path, basin: str) -> pd.Series:
    """Discharge in cfs on sorted dates; sentinels (``-999``) and flag ``M...`` become NaN."""
    frame = _read_table(path, sep=r"\s+", header=None,
                        names=["gauge", "year", "month", "day", "q", "flag"],
                        dtype={"gauge": str, "flag": str}, keep_default_na=False, na_values=[])
    gauges = set(frame["gauge"].map(_basin_id))
    if gauges != {basin}:
        raise BasinDataError(f"{path}: gauge column holds {sorted(gauges)[:5]}, not {basin}")
    index = _daily_index(frame["year"], frame["month"], frame["day"], path, allow_gaps=True)
    try:
        q = pd.Series(frame["q"].astype("float64").to_numpy(), index=index)
    except (ValueError, TypeError) as exc:
        raise BasinDataError(f"{path}: missing or non-numeric discharge ({exc})") from exc
    # sentinels must go before the cfs -> mm/day conversion; other negative values are kept
    # so that ealstm.data.validation rejects them
    sentinel = q.isin(validation.SENTINELS).to_numpy()
    missing = sentinel | frame["flag"].fillna("").str.startswith("M").to_numpy()
    q[missing] = np.nan
    return q.sort_index()


def _read_attribute_file(path: Path) -> pd.DataFrame:
    """One ``;``-separated attribute file indexed by ``gauge_id`` (UTF-8, else latin-1)."""
    options = {"sep": ";", "dtype": {"gauge_id": str, "huc_02": str}}
    try:
        frame = _read_table(path, encoding="utf-8", **options)
    except BasinDataError as exc:
        if not isinstance(exc.__cause__, UnicodeDecodeError):
            raise
        frame = _read_table(path, encoding="latin-1", **options)
    if "gauge_id" not in frame.columns:
        raise BasinDataError(f"{path}: no gauge_id column in header {list(frame.columns)}")
    frame.index = pd.Index(frame.pop("gauge_id").map(_basin_id), name="gauge_id")
    if frame.index.duplicated().any():
        raise BasinDataError(f"{path}: duplicate gauge ids "
                             f"{list(frame.index[frame.index.duplicated()][:5])}")
    for column in frame.columns[frame.dtypes.map(pd.api.types.is_string_dtype)]:
        frame[column] = frame[column].str.strip()
    return frame


def _attribute_files(data_dir: Path) -> list[Path]:
    """List the ``camels_*.txt`` files of the attribute folder (the readme is skipped)."""
    folder = Path(data_dir) / ATTRIBUTES_FOLDER
    files = sorted(folder.glob("camels_*.txt"))
    if not files:
        raise DataNotFoundError(f"no camels_*.txt attribute files in {folder}; check "
                                "data.data_dir or download camels_attributes_v2.0")
    return files


def _select_columns(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Keep ``columns`` (numeric, known); errors name ``data.static_attributes``."""
    columns = list(columns)
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        hints = []
        for name in unknown:
            close = [ATTRIBUTE_ALIASES[name]] if name in ATTRIBUTE_ALIASES else []
            close += difflib.get_close_matches(name, [str(c) for c in frame.columns], n=3)
            hints.append(f"{name} (did you mean {', '.join(dict.fromkeys(close))}?)"
                         if close else name)
        raise ConfigError(f"data.static_attributes: unknown CAMELS attribute(s) "
                          f"{'; '.join(hints)}")
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise ConfigError(f"data.static_attributes lists {duplicated} more than once")
    text = [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise ConfigError(f"data.static_attributes: {text} are not numeric attributes; "
                          "remove them or choose numeric columns")
    return frame[columns]


def _select_basins(frame: pd.DataFrame, basins: Sequence[str], check_nan: bool,
                   source: str) -> pd.DataFrame:
    """Rows of ``basins`` in the given order; unknown basins / NaNs raise ``BasinDataError``."""
    ids = [_basin_id(b) for b in basins]
    unknown = [b for b in ids if b not in frame.index]
    if unknown:
        raise BasinDataError(f"basin(s) {unknown} are not in {source}; check the basin list")
    selected = frame.loc[ids]
    if check_nan and selected.isna().to_numpy().any():
        pairs = selected.isna().stack()
        pairs = [f"{b}: {c}" for b, c in pairs[pairs].index[:10]]
        raise BasinDataError(f"missing attribute values in {source} for basin: column {pairs}; "
                             "drop these basins or attributes")
    return selected


def read_attributes(data_dir: Path, basins: Sequence[str] | None = None,
                    columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read and merge all CAMELS static attribute files.

    Parameters
    ----------
    data_dir : Path
        Root of the CAMELS-US data (holds ``camels_attributes_v2.0``).
    basins : sequence of str, optional
        Keep only these basins, in this order. With ``columns`` given, a NaN among the selected
        values raises.
    columns : sequence of str, optional
        Keep only these (numeric) attributes, in this order (``data.static_attributes``).

    Returns
    -------
    pd.DataFrame
        ``[basin, attribute]``, indexed by the 8-character ``gauge_id`` string.

    Raises
    ------
    DataNotFoundError
        No attribute files.
    ConfigError
        Unknown or non-numeric attribute names (with close matches as suggestions).
    BasinDataError
        Unknown basins, or NaN in a selected attribute of a selected basin.
    """
    files = _attribute_files(data_dir)
    frames = [_read_attribute_file(path) for path in files]
    merged = pd.concat(frames, axis=1, join="outer").sort_index()
    if merged.columns.duplicated().any():
        raise BasinDataError(f"attribute files {[f.name for f in files]} repeat columns "
                             f"{sorted(set(merged.columns[merged.columns.duplicated()]))}")
    if columns is not None:
        merged = _select_columns(merged, columns)
    if basins is not None:
        merged = _select_basins(merged, basins, check_nan=columns is not None,
                                source=str(files[0].parent))
    return merged


def read_gauge_locations(data_dir: Path, basins: Sequence[str] | None = None) -> pd.DataFrame:
    """Gauge coordinates and area from ``camels_topo.txt``.

    Parameters
    ----------
    data_dir : Path
        Root of the CAMELS-US data.
    basins : sequence of str, optional
        Keep only these basins, in this order.

    Returns
    -------
    pd.DataFrame
        Columns ``lat, lon`` (degrees) and ``area_gages2`` (km^2), indexed by ``gauge_id``.
    """
    path = Path(data_dir) / ATTRIBUTES_FOLDER / "camels_topo.txt"
    if not path.is_file():
        raise DataNotFoundError(f"{path} does not exist; check data.data_dir")
    topo = _read_attribute_file(path).rename(columns={"gauge_lat": "lat", "gauge_lon": "lon"})
    missing = {"lat", "lon", "area_gages2"} - set(topo.columns)
    if missing:
        raise BasinDataError(f"{path}: columns {sorted(missing)} are missing")
    topo = topo[["lat", "lon", "area_gages2"]]
    if basins is not None:
        topo = _select_basins(topo, basins, check_nan=False, source=str(path))
    return topo


def read_basin_list(path: Path) -> list[str]:
    """Read a basin list: one gauge id per line, blank lines and ``#`` comments ignored.

    Parameters
    ----------
    path : Path
        Text file such as ``basin_list_531.txt``.

    Returns
    -------
    list of str
        Ids zero-padded to 8 characters, in file order.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    BasinDataError
        A line is not a gauge id, an id is repeated, or the list is empty.
    """
    return generic.read_basin_list(path, normalise=_usgs_id)


def _usgs_id(entry: str) -> str:
    """Zero-pad a USGS gauge id to 8 digits; raise ``ValueError`` for anything else."""
    if not entry.isdigit() or len(entry) > 8:
        raise ValueError(f"{entry!r} is not a USGS gauge id")
    return entry.zfill(8)


def available_basins(data_dir: Path, product: str) -> list[str]:
    """Sorted ids of the basins that have a forcing file of ``product``.

    Parameters
    ----------
    data_dir : Path
        Root of the CAMELS-US data.
    product : str
        Forcing product, as in :func:`read_forcings`.

    Returns
    -------
    list of str
        Sorted 8-character basin ids.
    """
    tag = _forcing_tag(product)
    folder = Path(data_dir) / "basin_mean_forcing" / product
    if not folder.is_dir():
        raise DataNotFoundError(f"forcing folder {folder} does not exist; check data.data_dir "
                                "and data.forcings")
    suffix = f"_lump_{tag}_forcing_leap.txt"
    return sorted({p.name[: -len(suffix)] for p in folder.glob(f"*/*{suffix}")})


#: Basin area that turns USGS ft^3/s into mm/day for the signatures: CAMELS used ``gages2``.
AREA_SOURCES = ("gages2", "geospa_fabric", "forcing")


def signature_series(data_dir: Path, basins: Sequence[str], product: str,
                     area: str = "gages2") -> dict[str, tuple[pd.Series, pd.Series]]:
    """Discharge (mm/day) and precipitation of each basin, for the hydrological signatures.

    ``area`` picks the basin area of the unit conversion: the ``camels_topo.txt`` column
    ``area_gages2`` (what ``camels_hydro.txt`` used), ``area_geospa_fabric``, or the
    forcing-file header (what :func:`read_streamflow` and the model target use).

    Raises
    ------
    ConfigError
        Unknown ``area``.
    """
    if area not in AREA_SOURCES:
        raise ConfigError(f"area must be one of {AREA_SOURCES}, got {area!r}")
    basins = [str(b).strip().zfill(8) for b in basins]
    areas = None if area == "forcing" else read_attributes(data_dir, basins, [f"area_{area}"])
    series = {}
    for basin in basins:
        forcings, header_area = read_forcings(data_dir, basin, product)
        qobs = read_streamflow(data_dir, basin, header_area)
        if areas is not None:
            qobs = qobs * (header_area / float(areas.loc[basin, f"area_{area}"]))
        series[basin] = (qobs, forcings["prcp"])
    return series
