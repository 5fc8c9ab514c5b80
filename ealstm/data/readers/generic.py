"""Pure readers of a generic per-basin layout, and helpers shared with the Caravan reader.

The layout is the smallest one that can describe any lumped data set::

    <data_dir>/time_series/<basin>.nc     netCDF with a dimension ``date`` (one variable each)
    <data_dir>/time_series/<basin>.csv    or CSV with a ``date`` column + one column per variable
    <data_dir>/attributes.csv             one row per basin; first column ``basin`` or ``gauge_id``

When a basin has both a ``.nc`` and a ``.csv`` file the netCDF file is read. Basin ids are the
file stems, used as they are (no zero padding). Variables are selected by column name
(``data.dynamic_inputs``, ``data.target``, ``data.static_attributes``); the target must be
discharge in mm/day. Every function reads files and returns pandas objects; nothing is cached.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import xarray as xr

from ealstm.errors import BasinDataError, ConfigError, DataNotFoundError

TIME_SERIES_FOLDER = "time_series"
ATTRIBUTES_FILE = "attributes.csv"
#: Accepted names of the first column of an attribute table.
INDEX_COLUMNS = ("basin", "gauge_id")
#: Suffixes of time-series files, in order of preference.
SUFFIXES = (".nc", ".csv")


# --- helpers shared with caravan.py ------------------------------------------------------------


def _hint(name: str, choices: Sequence[str]) -> str:
    """``name`` plus up to three close matches among ``choices``."""
    close = difflib.get_close_matches(name, [str(c) for c in choices], n=3)
    return f"{name} (did you mean {', '.join(close)}?)" if close else name


def select_series(frame: pd.DataFrame, names: Sequence[str], key: str) -> pd.DataFrame:
    """Columns ``names`` of a time-series frame; unknown names raise naming the config ``key``.

    Parameters
    ----------
    frame : pd.DataFrame
        Output of :func:`read_timeseries_file` (its ``attrs["source"]`` names the file).
    names : sequence of str
        Column names, e.g. ``cfg.dynamic_inputs`` or ``[cfg.target]``.
    key : str
        Config key for the error message, e.g. ``"data.dynamic_inputs"``.

    Raises
    ------
    ConfigError
        A name is not a numeric column of the file (close matches are suggested).
    """
    names = list(names)
    unknown = [n for n in names if n not in frame.columns]
    if unknown:
        source = frame.attrs.get("source", "the time-series file")
        text = [n for n in unknown if n in frame.attrs.get("text_columns", ())]
        raise ConfigError(
            f"{key}: {'; '.join(_hint(n, frame.columns) for n in unknown)} not among the numeric "
            f"columns of {source}" + (f" ({text} hold text)" if text else "")
            + f"; available columns: {list(frame.columns)}")
    return frame[names]


def _daily_frame(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Sort a frame on its dates and reindex it onto consecutive days (gaps become NaN)."""
    index = pd.DatetimeIndex(frame.index, name="date")
    if index.hasnans:
        raise BasinDataError(f"{path}: the date column holds empty or invalid dates")
    if index.tz is not None:
        index = index.tz_localize(None)
    if (index != index.normalize()).any():
        raise BasinDataError(f"{path}: dates carry times of day; only daily data can be read")
    if index.duplicated().any():
        raise BasinDataError(f"{path}: duplicate dates "
                             f"{[str(d.date()) for d in index[index.duplicated()][:5]]}")
    frame = frame.set_axis(index.as_unit("ns")).sort_index()
    full = pd.date_range(frame.index[0], frame.index[-1], freq="D", name="date").as_unit("ns")
    return frame.reindex(full)


def _numeric_columns(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Keep the numeric columns as float64; record the text ones in ``attrs``."""
    numeric, text = {}, []
    for column in frame.columns:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            converted = pd.to_numeric(values, errors="coerce")
            if converted.isna().sum() > values.isna().sum():
                text.append(str(column))
                continue
            values = converted
        numeric[str(column)] = values.astype("float64")  # inf: ealstm.data.validation rejects it
    out = pd.DataFrame(numeric, index=frame.index)
    out.attrs = {"source": str(path), "text_columns": text}
    return out


def _read_csv_timeseries(path: Path) -> pd.DataFrame:
    """CSV with a ``date`` column -> frame indexed by the parsed dates."""
    try:
        frame = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BasinDataError(f"cannot parse {path}: {exc}") from exc
    if "date" not in frame.columns:
        raise BasinDataError(f"{path}: no 'date' column in header {list(frame.columns)[:10]}")
    try:
        dates = pd.to_datetime(frame.pop("date"))
    except (ValueError, TypeError) as exc:
        raise BasinDataError(f"{path}: invalid value in the date column ({exc})") from exc
    return frame.set_axis(pd.DatetimeIndex(dates, name="date"))


def _read_netcdf_timeseries(path: Path) -> pd.DataFrame:
    """Read a netCDF file with a ``date`` dimension: its one-dimensional variables."""
    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            if "date" not in ds.dims:
                raise BasinDataError(f"{path}: no 'date' dimension (dimensions: {dict(ds.sizes)})")
            names = [name for name, var in ds.data_vars.items() if var.dims == ("date",)]
            frame = ds[names].load().to_dataframe()
    except (OSError, ValueError, TypeError) as exc:
        if isinstance(exc, BasinDataError):
            raise
        raise BasinDataError(f"cannot read {path} as netCDF: {exc}") from exc
    if not pd.api.types.is_datetime64_any_dtype(frame.index):
        raise BasinDataError(f"{path}: the date coordinate does not decode to dates "
                             "(give it CF 'units' such as 'days since 1970-01-01')")
    return frame[[c for c in frame.columns if c != "date"]]


def read_timeseries_file(path: Path) -> pd.DataFrame:
    """Read one basin's time-series file (``.nc`` or ``.csv``).

    Parameters
    ----------
    path : Path
        netCDF file with a dimension ``date``, or CSV file with a ``date`` column.

    Returns
    -------
    pd.DataFrame
        float64 columns on a consecutive daily ``DatetimeIndex`` ``date`` (gaps are NaN).
        Text columns are dropped and listed in ``attrs["text_columns"]``; ``attrs["source"]``
        holds the path.

    Raises
    ------
    BasinDataError
        Unreadable file, no dates, duplicate dates or sub-daily time steps.
    """
    path = Path(path)
    reader = _read_netcdf_timeseries if path.suffix == ".nc" else _read_csv_timeseries
    frame = reader(path)
    if frame.empty:
        raise BasinDataError(f"{path} holds no time steps")
    return _numeric_columns(_daily_frame(frame, path), path)


def read_attribute_table(path: Path, index_columns: Sequence[str] = INDEX_COLUMNS,
                         sep: str = ",") -> pd.DataFrame:
    """Read an attribute table indexed by its first column (basin ids as strings).

    Raises
    ------
    BasinDataError
        Unparsable file, first column not one of ``index_columns``, or repeated basin ids.
    """
    try:
        header = pd.read_csv(path, sep=sep, nrows=0, encoding="utf-8").columns
        if len(header) == 0 or header[0] not in index_columns:
            raise BasinDataError(f"{path}: the first column is {list(header[:1])}, expected one "
                                 f"of {list(index_columns)}")
        frame = pd.read_csv(path, sep=sep, dtype={header[0]: str}, encoding="utf-8")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        if isinstance(exc, BasinDataError):
            raise
        raise BasinDataError(f"cannot parse {path}: {exc}") from exc
    ids = frame.pop(header[0]).astype(str).str.strip()
    frame.index = pd.Index(ids, name="basin")
    if frame.index.duplicated().any():
        raise BasinDataError(f"{path}: duplicate basin ids "
                             f"{list(frame.index[frame.index.duplicated()][:5])}")
    return frame


def select_attributes(frame: pd.DataFrame, basins: Sequence[str] | None,
                      columns: Sequence[str] | None, source: str) -> pd.DataFrame:
    """Rows ``basins`` and columns ``columns`` (both optional, in the given order).

    Raises
    ------
    ConfigError
        Unknown, repeated or non-numeric attribute (names ``data.static_attributes``).
    BasinDataError
        A basin is not in the table, or (with ``columns``) a selected value is NaN.
    """
    if columns is not None:
        columns = list(columns)
        unknown = [c for c in columns if c not in frame.columns]
        if unknown:
            raise ConfigError(f"data.static_attributes: unknown attribute(s) "
                              f"{'; '.join(_hint(c, frame.columns) for c in unknown)} in {source}")
        repeated = sorted(c for c, n in Counter(columns).items() if n > 1)
        if repeated:
            raise ConfigError(f"data.static_attributes lists {repeated} more than once")
        text = [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c])]
        if text:
            raise ConfigError(f"data.static_attributes: {text} are not numeric attributes in "
                              f"{source}; remove them or choose numeric columns")
        frame = frame[columns].astype("float64")
    if basins is None:
        return frame
    ids = [str(b) for b in basins]
    missing = [b for b in ids if b not in frame.index]
    if missing:
        raise BasinDataError(f"basin(s) {missing} are not in {source}; add them or remove them "
                             "from the basin list")
    selected = frame.loc[ids]
    if columns is not None and selected.isna().to_numpy().any():
        pairs = selected.isna().stack()
        pairs = [f"basin {b}: column {c}" for b, c in pairs[pairs].index[:10]]
        raise BasinDataError(f"missing attribute values in {source} ({'; '.join(pairs)}); "
                             "drop these basins or attributes")
    return selected


def read_basin_list(path: Path, normalise: Callable[[str], str] | None = None) -> list[str]:
    """Read a basin list: one id per line, blank lines and ``#`` comments ignored.

    Parameters
    ----------
    path
        Text file with one basin id per line.
    normalise
        Maps each id to its canonical form (e.g. zero-padded USGS ids) or raises ``ValueError``;
        default: ids are used as they are.

    Raises
    ------
    DataNotFoundError
        The file does not exist.
    BasinDataError
        A line holds more than one id or an invalid one, an id is repeated, or the list is empty.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"basin list {path} does not exist; check data.basin_file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BasinDataError(f"basin list {path} is not UTF-8 text (byte {exc.start}); save it "
                             "as UTF-8") from None
    ids = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if len(entry.split()) > 1:
            raise BasinDataError(f"{path}, line {number}: {entry!r} is not a single basin id")
        if entry:
            try:
                ids.append(normalise(entry) if normalise else entry)
            except ValueError as exc:
                raise BasinDataError(f"{path}, line {number}: {exc}") from None
    repeated = sorted(b for b, n in Counter(ids).items() if n > 1)
    if repeated:
        raise BasinDataError(f"{path}: basin(s) {repeated} are listed more than once")
    if not ids:
        raise BasinDataError(f"{path} lists no basin")
    return ids


def find_timeseries_file(folder: Path, basin: str) -> Path:
    """``folder/<basin>.nc`` or, failing that, ``folder/<basin>.csv``.

    Raises
    ------
    DataNotFoundError
        Neither file exists; the message names the basin and both paths tried.
    """
    tried = [Path(folder) / f"{basin}{suffix}" for suffix in SUFFIXES]
    for path in tried:
        if path.is_file():
            return path
    raise DataNotFoundError(f"no time-series file for basin {basin}: tried "
                            f"{', '.join(str(p) for p in tried)}; check data.data_dir and the "
                            "basin id")


# --- the generic layout ------------------------------------------------------------------------


def read_timeseries(data_dir: Path, basin: str) -> pd.DataFrame:
    """Read the time series of one basin from ``<data_dir>/time_series/<basin>.nc|csv``.

    Parameters
    ----------
    data_dir : Path
        Root of the data set.
    basin : str
        Basin id, the stem of its file.

    Returns
    -------
    pd.DataFrame
        float64 columns (one per variable) on a consecutive daily ``DatetimeIndex`` ``date``.

    Raises
    ------
    DataNotFoundError
        No file for this basin (the message names the paths tried).
    BasinDataError
        Unreadable file, invalid or duplicate dates, sub-daily data.
    """
    path = find_timeseries_file(Path(data_dir) / TIME_SERIES_FOLDER, str(basin))
    return read_timeseries_file(path)


def read_attributes(data_dir: Path, basins: Sequence[str] | None = None,
                    columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read ``<data_dir>/attributes.csv`` (comma-separated, first column ``basin``/``gauge_id``).

    Parameters
    ----------
    data_dir : Path
        Root of the data set.
    basins : sequence of str, optional
        Keep only these basins, in this order. With ``columns`` given, a NaN raises.
    columns : sequence of str, optional
        Keep only these numeric attributes, in this order (``data.static_attributes``).

    Returns
    -------
    pd.DataFrame
        ``[basin, attribute]`` indexed by the basin id string (index name ``basin``).

    Raises
    ------
    DataNotFoundError
        No attribute file.
    ConfigError
        Unknown (close matches suggested), repeated or non-numeric attribute.
    BasinDataError
        Unparsable file, unknown basin, or NaN in a selected value of a selected basin.
    """
    path = Path(data_dir) / ATTRIBUTES_FILE
    if not path.is_file():
        which = f" (needed for basins {list(basins)[:5]})" if basins is not None else ""
        raise DataNotFoundError(f"attribute file {path} does not exist{which}; check "
                                "data.data_dir or set data.static_attributes: []")
    return select_attributes(read_attribute_table(path), basins, columns, str(path))


def available_basins(data_dir: Path) -> list[str]:
    """Sorted ids of the basins with a ``.nc`` or ``.csv`` file in ``<data_dir>/time_series``.

    Raises
    ------
    DataNotFoundError
        The ``time_series`` folder does not exist.
    """
    folder = Path(data_dir) / TIME_SERIES_FOLDER
    if not folder.is_dir():
        raise DataNotFoundError(f"time-series folder {folder} does not exist; check "
                                "data.data_dir (generic layout: time_series/<basin>.nc|csv)")
    return sorted({p.stem for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file()})
