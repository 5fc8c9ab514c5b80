"""Pure readers of the Caravan layout (Kratzert et al. 2023, Scientific Data 10, 61).

The layout is that of the Caravan Zenodo release and of Caravan-style extensions::

    <data_dir>/timeseries/netcdf/<source>/<gauge_id>.nc    dimension ``date``
    <data_dir>/timeseries/csv/<source>/<gauge_id>.csv      ``date`` column + one per variable
    <data_dir>/attributes/<source>/attributes_*.csv        e.g. attributes_caravan_<source>.csv,
                                                           attributes_hydroatlas_<source>.csv,
                                                           attributes_other_<source>.csv

Gauge ids are ``<source>_<id>`` (``camels_01022500``, ``lamah_123``); ``<source>`` is the part
before the first underscore and names the sub-folders. Variables keep their Caravan names
(``total_precipitation_sum``, ``temperature_2m_mean``, ``potential_evaporation_sum``, ...);
``streamflow`` is already in mm/day. When both a netCDF and a CSV file exist the netCDF file is
read. All ``attributes_*.csv`` files of a source are merged on ``gauge_id``, extra files included.
Every function reads files and returns pandas objects; nothing is cached or written here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ealstm.data.readers.generic import (
    read_attribute_table,
    read_timeseries_file,
    select_attributes,
)
from ealstm.errors import BasinDataError, ConfigError, DataNotFoundError

TIMESERIES_FOLDER = "timeseries"
ATTRIBUTES_FOLDER = "attributes"
#: Sub-folders of ``timeseries`` with their file suffix, in order of preference.
FORMATS = (("netcdf", ".nc"), ("csv", ".csv"))


def source_of(basin: str) -> str:
    """Source (sub-data set) of a Caravan gauge id: the part before the first underscore.

    Raises
    ------
    ConfigError
        The id has no ``<source>_`` prefix.
    """
    source, sep, rest = str(basin).partition("_")
    if not sep or not source or not rest:
        raise ConfigError(f"{basin!r} is not a Caravan gauge id of the form <source>_<id> (e.g. "
                          "camels_01022500); fix data.basins or data.basin_file")
    return source


def timeseries_paths(data_dir: Path, basin: str) -> list[Path]:
    """Candidate files of one gauge, netCDF first: ``timeseries/{netcdf,csv}/<source>/...``."""
    root = Path(data_dir) / TIMESERIES_FOLDER
    source = source_of(basin)
    return [root / folder / source / f"{basin}{suffix}" for folder, suffix in FORMATS]


def read_timeseries(data_dir: Path, basin: str) -> pd.DataFrame:
    """Read the daily time series of one Caravan gauge.

    Parameters
    ----------
    data_dir : Path
        Root of Caravan (holds ``timeseries`` and ``attributes``).
    basin : str
        Caravan gauge id, e.g. ``"camels_01022500"``.

    Returns
    -------
    pd.DataFrame
        float64 columns named as in the file (``total_precipitation_sum``, ``streamflow``, ...)
        on a consecutive daily ``DatetimeIndex`` ``date``.

    Raises
    ------
    ConfigError
        The id has no ``<source>_`` prefix.
    DataNotFoundError
        Neither a netCDF nor a CSV file exists (the message names the gauge and both paths).
    BasinDataError
        Unreadable file, invalid or duplicate dates, sub-daily data.
    """
    tried = timeseries_paths(data_dir, basin)
    for path in tried:
        if path.is_file():
            return read_timeseries_file(path)
    raise DataNotFoundError(f"no time-series file for basin {basin}: tried "
                            f"{', '.join(str(p) for p in tried)}; check data.data_dir and the "
                            "gauge id")


def _attribute_files(data_dir: Path, source: str, basins: Sequence[str]) -> list[Path]:
    """List the ``attributes_*.csv`` files of one source (``basins`` only name it in errors)."""
    folder = Path(data_dir) / ATTRIBUTES_FOLDER / source
    files = sorted(folder.glob("attributes_*.csv"))
    if not files:
        which = f" (needed for basins {list(basins)[:5]})" if basins else ""
        raise DataNotFoundError(f"no attributes_*.csv files in {folder}{which}; check "
                                "data.data_dir or set data.static_attributes: []")
    return files


def _merge_columns(merged: pd.DataFrame, frame: pd.DataFrame, names: str) -> pd.DataFrame:
    """Outer-join ``frame`` onto ``merged``; a column in both must agree where both have it."""
    shared = [c for c in frame.columns if c in merged.columns]
    common = merged.index.intersection(frame.index)
    for column in shared:
        a, b = merged.loc[common, column], frame.loc[common, column]
        if not ((a == b) | (a.isna() & b.isna())).all():
            raise BasinDataError(f"attribute files {names} give different values of {column!r}; "
                                 "remove the column from one of them")
    out = merged.join(frame.drop(columns=shared), how="outer")
    for column in shared:
        out[column] = out[column].combine_first(frame[column])
    return out


def read_source_attributes(data_dir: Path, source: str,
                           basins: Sequence[str] = ()) -> pd.DataFrame:
    """All ``attributes_*.csv`` files of one source, merged on ``gauge_id``.

    Raises
    ------
    DataNotFoundError
        The source has no attribute file.
    BasinDataError
        Unparsable file, or two files with different values of the same column.
    """
    files = _attribute_files(data_dir, source, basins)
    names = str([f.name for f in files])
    merged = read_attribute_table(files[0], index_columns=("gauge_id",))
    for path in files[1:]:
        merged = _merge_columns(merged, read_attribute_table(path, ("gauge_id",)), names)
    return merged.rename_axis("gauge_id")


def _sources_to_read(data_dir: Path, basins: Sequence[str] | None) -> dict[str, list[str]]:
    """Map each source to read onto its requested gauges (every source folder if ``None``)."""
    if basins is None:
        folder = Path(data_dir) / ATTRIBUTES_FOLDER
        if not folder.is_dir():
            raise DataNotFoundError(f"attribute folder {folder} does not exist; check "
                                    "data.data_dir")
        return {d.name: [] for d in sorted(folder.iterdir()) if d.is_dir()}
    by_source: dict[str, list[str]] = {}
    for basin in basins:
        by_source.setdefault(source_of(basin), []).append(str(basin))
    return by_source


def read_attributes(data_dir: Path, basins: Sequence[str] | None = None,
                    columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read and merge the Caravan attribute files.

    Parameters
    ----------
    data_dir : Path
        Root of Caravan (holds ``attributes/<source>/attributes_*.csv``).
    basins : sequence of str, optional
        Keep only these gauges, in this order; only their sources are read. With ``columns``
        given, a NaN among the selected values raises.
    columns : sequence of str, optional
        Keep only these numeric attributes, in this order (``data.static_attributes``).

    Returns
    -------
    pd.DataFrame
        ``[basin, attribute]`` indexed by ``gauge_id``; sources lacking a column hold NaN.

    Raises
    ------
    DataNotFoundError
        No attribute files for a needed source.
    ConfigError
        Unknown (close matches suggested), repeated or non-numeric attribute, bad gauge id.
    BasinDataError
        Unparsable file, unknown gauge, or NaN in a selected value of a selected gauge.
    """
    by_source = _sources_to_read(data_dir, basins)
    frames = [read_source_attributes(data_dir, s, b) for s, b in sorted(by_source.items())]
    if not frames:
        raise DataNotFoundError(f"no source folders in {Path(data_dir) / ATTRIBUTES_FOLDER}")
    merged = pd.concat(frames, axis=0).rename_axis("gauge_id")
    if merged.index.duplicated().any():
        raise BasinDataError(f"gauge ids {list(merged.index[merged.index.duplicated()][:5])} "
                             "appear in the attribute files of more than one source")
    sources = ",".join(sorted(by_source))
    where = f"{Path(data_dir) / ATTRIBUTES_FOLDER}/{{{sources}}}/attributes_*.csv"
    return select_attributes(merged, basins, columns, where)


def available_basins(data_dir: Path) -> list[str]:
    """Sorted ids of the gauges with a netCDF or CSV time-series file.

    Raises
    ------
    DataNotFoundError
        ``<data_dir>/timeseries`` does not exist.
    """
    root = Path(data_dir) / TIMESERIES_FOLDER
    if not root.is_dir():
        raise DataNotFoundError(f"time-series folder {root} does not exist; check data.data_dir "
                                "(Caravan layout: timeseries/{netcdf,csv}/<source>/<gauge>.nc)")
    files = [p for folder, suffix in FORMATS for p in (root / folder).glob(f"*/*{suffix}")]
    # a gauge file counts only in the folder of its own source (where read_timeseries looks)
    return sorted({p.stem for p in files if p.stem.partition("_")[0] == p.parent.name
                   and p.stem.partition("_")[2] and p.is_file()})
