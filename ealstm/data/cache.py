"""The arrays of a data config, cached as one netCDF file: parse once, read many times.

Parsing the raw files of a few hundred basins (:mod:`ealstm.data.assemble`) takes a while,
so the aligned arrays are written once to
``<cache_dir>/<dataset>_<key>.nc`` where ``key`` is a hash of the fields of
:class:`~ealstm.config.DataConfig` that change the arrays (data set, data folder, forcing
product, inputs, target, attributes, basins and the date axis). Training, evaluation and
analysis then read that file.

The cache file records the size and mtime of every raw file (:mod:`ealstm.data.raw_files`) and
has a SHA-256 sidecar (:func:`ealstm.io.atomic_checked_path`); a cache whose raw files changed,
or whose content does not match its checksum, is rebuilt with a WARNING. Two processes that
need the same missing cache file do not both parse: the second waits for the first (an
exclusive lock on ``.<file>.lock`` in the cache folder) and then reads the first one's file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ealstm.config import DataConfig
from ealstm.data import raw_files
from ealstm.data.arrays import COVERAGE_COLUMNS, BasinArrays
from ealstm.data.assemble import build_arrays, check_periods, date_axis, resolve_basins
from ealstm.data.readers.datasets import get_dataset
from ealstm.io import (
    atomic_checked_path,
    checksum_path,
    remove_orphan_tmp_files,
    verify_checksum,
)
from ealstm.locks import wait_lock

log = logging.getLogger(__name__)

#: Bump when the layout of the cache file changes; old files are then rebuilt, not misread.
CACHE_FORMAT_VERSION = 2  # 2: raw-file fingerprint + SHA-256 sidecar; frames pass data.validation
def load_basin_arrays(cfg: DataConfig, target_optional: bool = False) -> BasinArrays:
    """Load the arrays that ``cfg`` describes, from the cache if possible.

    Parameters
    ----------
    cfg
        Data configuration. The date axis runs from ``seq_length - 1`` days before the earliest
        period start to the latest period end, so that the first day of every period has a full
        input window.
    target_optional
        Accept basins without discharge (all-NaN target; for prediction, not training) and
        skip the period checks, which ask for observed discharge.

    Returns
    -------
    BasinArrays
        Raw (unscaled) arrays of the configured basins.

    Raises
    ------
    ConfigError
        If an input name is unknown, or a period holds no valid data in any basin.
    DataNotFoundError
        If a configured basin has no forcing (time-series) file.
    """
    arrays, _ = _load_or_build(cfg, force=False, target_optional=target_optional)
    if not target_optional:
        check_periods(arrays, cfg)
    return arrays


def build_cache(cfg: DataConfig, force: bool = False) -> Path:
    """Parse the raw files of ``cfg`` into its cache file (unless it is valid and not ``force``).

    Returns
    -------
    Path
        The cache file, ``<cache_dir>/camels_us_<key[:16]>.nc``.
    """
    arrays, path = _load_or_build(cfg, force=force)
    check_periods(arrays, cfg)
    return path


def _load_or_build(cfg: DataConfig, force: bool,
                   target_optional: bool = False) -> tuple[BasinArrays, Path]:
    """Arrays from the cache file of ``cfg``; parse and write it if missing, bad or ``force``.

    The raw files are fingerprinted once, before anything is parsed: the same fingerprint is
    checked against the cache file and recorded in a new one. Under the build lock the file is
    read again only if another process replaced it while this one waited.
    """
    basins = resolve_basins(cfg)
    dates = date_axis(cfg)
    key = cache_key(cfg, basins, dates, target_optional)
    path = cache_path(cfg, key)
    prints = raw_files.fingerprint(cfg.data_dir, exclude=path.parent)
    seen = _file_state(path)
    arrays = None if force else _read_if_valid(path, basins, dates, cfg, prints)
    if arrays is None:
        with wait_lock(path.with_name(f".{path.name}.lock")):  # one builder at a time
            if not force and _file_state(path) != seen:  # written by another builder meanwhile
                arrays = _read_if_valid(path, basins, dates, cfg, prints, quiet=True)
            if arrays is None:
                arrays = _build_and_write(cfg, basins, dates, key, path, prints, target_optional)
    return arrays, path


def _file_state(path: Path) -> tuple[tuple[int, int, int] | None, ...]:
    """Inode, size and mtime of the cache file and its sidecar (``None`` where missing).

    Files are replaced by atomic renames, so a rewritten file always has another state.
    """
    def state(file: Path) -> tuple[int, int, int] | None:
        try:
            info = file.stat()
        except FileNotFoundError:
            return None
        return (info.st_ino, info.st_size, info.st_mtime_ns)

    return state(path), state(checksum_path(path))


def _read_if_valid(path: Path, basins: tuple[str, ...], dates: pd.DatetimeIndex,
                   cfg: DataConfig, prints: raw_files.Fingerprint,
                   quiet: bool = False) -> BasinArrays | None:
    """Arrays of the cache file if it exists and is valid, else ``None`` (logged)."""
    if path.is_file():
        return _read_cache(path, basins, dates, cfg, prints, quiet)
    if not quiet:
        log.info("cache miss: no file %s", path)
    return None


def _build_and_write(cfg: DataConfig, basins: tuple[str, ...], dates: pd.DatetimeIndex,
                     key: str, path: Path, prints: raw_files.Fingerprint,
                     target_optional: bool = False) -> BasinArrays:
    """Parse the raw files and write the cache file with their fingerprint and a checksum.

    ``prints`` must be taken before parsing, so that a raw file changed meanwhile shows up as
    changed on the next load.
    """
    remove_orphan_tmp_files(path.parent, name=path.name)
    log.info("parsing %d basins of %s", len(basins), get_dataset(cfg).describe(cfg))
    arrays = build_arrays(cfg, basins, dates, target_optional)
    ds = arrays_to_dataset(arrays, key)
    ds.attrs["raw_files"] = raw_files.to_text(prints)
    with atomic_checked_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4")
    log.info("wrote cache file %s", path)
    return arrays


# --- configuration -> cache file ----------------------------------------------------------------


def cache_key(cfg: DataConfig, basins: Sequence[str], dates: pd.DatetimeIndex,
              target_optional: bool = False) -> str:
    """SHA-256 of the data-relevant fields of ``cfg`` and the cache format version.

    Arrays loaded with an optional target get their own key, so that a basin whose discharge
    is missing never reaches training through the cache.
    """
    fields = {
        "format_version": CACHE_FORMAT_VERSION,
        "dataset": cfg.dataset,
        "data_dir": str(Path(cfg.data_dir).expanduser().resolve()),
        "forcings": cfg.forcings if cfg.dataset == "camels_us" else None,  # ignored otherwise
        "dynamic_inputs": list(cfg.dynamic_inputs),
        "target": cfg.target,
        "static_attributes": list(cfg.static_attributes),
        "invalid_values": cfg.invalid_values,
        "basins": list(basins),
        "start": dates[0].date().isoformat(),
        "end": dates[-1].date().isoformat(),
    }
    if target_optional:  # only when set: the keys of existing cache files stay valid
        fields["target_optional"] = True
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()


def cache_dir(cfg: DataConfig) -> Path:
    """``cfg.cache_dir``, else ``$EALSTM_CACHE_DIR``, else ``~/.cache/ealstm``."""
    if cfg.cache_dir is not None:
        return Path(cfg.cache_dir).expanduser()
    env = os.environ.get("EALSTM_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ealstm"


def cache_path(cfg: DataConfig, key: str) -> Path:
    """Cache file of ``key``: ``<cache_dir>/<dataset>_<key[:16]>.nc``."""
    return cache_dir(cfg) / f"{cfg.dataset}_{key[:16]}.nc"


# --- arrays <-> netCDF -------------------------------------------------------------------------


def arrays_to_dataset(arrays: BasinArrays, key: str = "") -> xr.Dataset:
    """Store ``arrays`` as an xarray Dataset (the layout of the cache file)."""
    basin = np.array(arrays.basins, dtype=str)
    data_vars = {
        "dynamic": (("basin", "date", "dynamic_feature"), arrays.dynamic.astype(np.float32)),
        "target": (("basin", "date"), arrays.target.astype(np.float32)),
        "static": (("basin", "static_feature"), arrays.static.astype(np.float32)),
    }
    if arrays.coverage is not None:
        for column in COVERAGE_COLUMNS:
            values = pd.DatetimeIndex(arrays.coverage[column]).as_unit("ns").to_numpy()
            data_vars[column] = (("basin",), values)
    coords = {"basin": basin, "date": arrays.dates,
              "dynamic_feature": np.array(arrays.dynamic_names, dtype=str),
              "static_feature": np.array(arrays.static_names, dtype=str)}
    attrs = {"format_version": CACHE_FORMAT_VERSION, "cache_key": key}
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def dataset_to_arrays(ds: xr.Dataset) -> BasinArrays:
    """Inverse of :func:`arrays_to_dataset`; arrays are loaded into contiguous memory."""
    basins = tuple(str(b) for b in ds["basin"].values)
    coverage = None
    if all(column in ds for column in COVERAGE_COLUMNS):
        coverage = pd.DataFrame({c: pd.DatetimeIndex(ds[c].values) for c in COVERAGE_COLUMNS},
                                index=pd.Index(basins, name="basin"))
    return BasinArrays(
        basins=basins,
        dates=pd.DatetimeIndex(ds.indexes["date"], name="date").as_unit("ns"),
        dynamic=np.ascontiguousarray(ds["dynamic"].values, dtype=np.float32),
        target=np.ascontiguousarray(ds["target"].values, dtype=np.float32),
        static=np.ascontiguousarray(ds["static"].values, dtype=np.float32).reshape(
            len(basins), ds.sizes.get("static_feature", 0)),
        dynamic_names=tuple(str(n) for n in ds["dynamic_feature"].values),
        static_names=tuple(str(n) for n in ds["static_feature"].values)
        if "static_feature" in ds.coords else (),
        coverage=coverage)


class _StaleCache(ValueError):
    """The cache file is readable but was built for other raw files, names or dates."""


def _read_cache(path: Path, basins: tuple[str, ...], dates: pd.DatetimeIndex,
                cfg: DataConfig, prints: raw_files.Fingerprint,
                quiet: bool = False) -> BasinArrays | None:
    """Arrays from the cache file, or ``None`` (with a warning) if it is unreadable or stale.

    Stale: another format version, no or a mismatching SHA-256 sidecar, changed raw files, or
    other basins, names or dates than ``cfg``. ``quiet`` logs a stale file at INFO only (the
    second look, under the build lock, after the first one has warned).
    """
    try:
        arrays = _read_checked(path, (basins, tuple(cfg.dynamic_inputs),
                                      tuple(cfg.static_attributes)), dates, cfg, prints)
    except Exception as exc:  # any unreadable file is rebuilt, never trusted
        log.log(logging.INFO if quiet else logging.WARNING,
                "cache file %s is unreadable or stale (%s: %s); rebuilding it",
                path, type(exc).__name__, exc)
        return None
    log.info("cache hit: loaded %d basins from %s", len(arrays.basins), path)
    return arrays


def _read_checked(path: Path, expected: tuple, dates: pd.DatetimeIndex, cfg: DataConfig,
                  prints: raw_files.Fingerprint) -> BasinArrays:
    """Check the header (cheap) and then the SHA-256 of the whole file before loading arrays.

    A file that cannot even be opened or whose header cannot be read is checked against its
    sidecar first, so that a corrupt file is reported as corrupt. The file's state must be the
    same before and after the checksum: the checked bytes are the loaded ones.
    """
    before = _file_state(path)
    try:
        ds = xr.open_dataset(path, engine="netcdf4")
    except Exception:
        verify_checksum(path)  # IntegrityError names a corrupt file
        raise
    with ds:
        try:
            _check_header(ds, expected, dates, cfg, prints)
        except _StaleCache:
            raise
        except Exception:
            verify_checksum(path)
            raise
        if not verify_checksum(path):
            raise ValueError(f"it has no checksum file {path.name}.sha256")
        if _file_state(path) != before:
            raise _StaleCache("it was replaced while being read")
        return dataset_to_arrays(ds.load())


def _check_header(ds: xr.Dataset, expected: tuple, dates: pd.DatetimeIndex,
                  cfg: DataConfig, prints: raw_files.Fingerprint) -> None:
    """Raise :class:`_StaleCache` if format, raw files, basins, names or dates differ."""
    if int(ds.attrs.get("format_version", -1)) != CACHE_FORMAT_VERSION:
        raise _StaleCache(f"format version {ds.attrs.get('format_version')}")
    _check_raw_files(ds.attrs.get("raw_files"), cfg, prints)
    found = (tuple(str(b) for b in ds["basin"].values),
             tuple(str(n) for n in ds["dynamic_feature"].values),
             tuple(str(n) for n in ds["static_feature"].values)
             if "static_feature" in ds.coords else ())
    found_dates = pd.DatetimeIndex(ds.indexes["date"]).as_unit("ns")
    if found != expected or not found_dates.equals(dates):
        raise _StaleCache("its basins, names or dates differ from the config")


def _check_raw_files(recorded: str | None, cfg: DataConfig,
                     prints: raw_files.Fingerprint) -> None:
    """Raise :class:`_StaleCache` naming the raw files that changed since the cache was built."""
    found = raw_files.changes(recorded, prints)
    if found:
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        raise _StaleCache(f"raw files in {cfg.data_dir} changed since it was built: "
                          f"{'; '.join(found[:3])}{more}")
