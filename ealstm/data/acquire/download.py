"""Download, verify and unpack the public data sets that ``ealstm`` trains on.

Three layers, each usable on its own:

* :func:`ealstm.data.acquire.fetch.download_file` streams one URL to ``<dest>.part`` (resuming an
  interrupted download with an HTTP ``Range`` request), verifies its SHA-256 and renames it onto
  ``dest``.
* :func:`ealstm.data.acquire.archives.extract_archive` unpacks a zip or tar(.gz/.xz) archive after
  checking every member: no absolute path, no ``..``, no link or member path that resolves
  outside the target folder.
* :func:`download_dataset` (this module) fetches every file of a :data:`SOURCES` entry, unpacks
  the archives, arranges the folders into the layout that the loaders expect and returns the
  ``data_dir`` to put into a config.

Layout on disk (``dest_dir`` is the folder you pass)::

    <dest_dir>/downloads/<archive>            archives (kept unless keep_archives=False)
    <dest_dir>/<source.folder>/               the data_dir, e.g. <dest_dir>/camels_us
    <dest_dir>/<source.folder>/.ealstm-download.json   what was installed, with its SHA-256

CAMELS-US (Newman et al. 2015; Addor et al. 2017) is published by NCAR/UCAR, Caravan
(Kratzert et al. 2023) on Zenodo. NCAR publishes no checksum: the SHA-256 of what was downloaded
is then logged with a warning that it was not verified; pass an official digest with
``sha256={filename: digest}`` (CLI: ``--sha256 FILENAME=DIGEST``) to have it checked.
"""

from __future__ import annotations

import difflib
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ealstm.data.acquire.archives import check_links_confined, extract_archive
from ealstm.data.acquire.fetch import (
    DownloadError,
    fetch_file,
    normalise_digest,
    sha256_of,
    warn_unverified,
)
from ealstm.errors import ConfigError
from ealstm.io import load_json, save_json

log = logging.getLogger(__name__)

#: Folder of ``dest_dir`` that keeps the downloaded archives.
DOWNLOADS_FOLDER = "downloads"
#: Record of the installed files inside a ``data_dir``.
STATE_FILE = ".ealstm-download.json"
_MAX_ROOT_DEPTH = 4


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set.

    Attributes
    ----------
    filename : str
        Name on disk (also the key of ``sha256`` overrides).
    url : str
        Where to download it from.
    sha256 : str or None
        Official SHA-256 (lower-case hex); ``None`` where none is published.
    size : str
        Approximate download size, for messages only.
    extract : bool
        ``True`` for an archive to unpack, ``False`` for a file used as it is.
    markers : tuple of str
        Archives only: entries that the folder to install must contain. The shallowest folder
        of the unpacked tree that holds all of them is the one whose contents are installed.
    dest : str
        Folder, relative to the ``data_dir``, that receives the file or the archive's contents.
    """

    filename: str
    url: str
    sha256: str | None = None
    size: str = ""
    extract: bool = False
    markers: tuple[str, ...] = ()
    dest: str = "."


@dataclass(frozen=True)
class DataSource:
    """A downloadable data set: its files and how they map onto the ``data_dir`` layout."""

    name: str
    description: str
    folder: str
    files: tuple[RemoteFile, ...]
    required: tuple[str, ...]
    layout: str
    homepage: str
    citation: str
    license: str


_GDEX = "https://gdex.ucar.edu/dataset/camels/file"
_CAMELS_ATTRIBUTE_FILES = tuple(
    RemoteFile(f"camels_{kind}.txt", f"{_GDEX}/camels_{kind}.txt", size="<1 MB",
               dest="camels_attributes_v2.0")
    for kind in ("clim", "geol", "hydro", "name", "soil", "topo", "vege")
)

#: Registry of the data sets that :func:`download_dataset` knows.
SOURCES: dict[str, DataSource] = {
    "camels-us": DataSource(
        name="camels-us",
        description="CAMELS-US: 671 basins, daily Daymet/Maurer/NLDAS forcings and USGS "
                    "streamflow 1980-2014 (v1.2), catchment attributes v2.0",
        folder="camels_us",
        files=(
            RemoteFile("basin_timeseries_v1p2_metForcing_obsFlow.zip",
                       f"{_GDEX}/basin_timeseries_v1p2_metForcing_obsFlow.zip",
                       size="3.3 GB (about 15 GB unpacked)", extract=True,
                       markers=("basin_mean_forcing", "usgs_streamflow")),
            *_CAMELS_ATTRIBUTE_FILES,
        ),
        required=("basin_mean_forcing", "usgs_streamflow", "camels_attributes_v2.0"),
        layout="basin_timeseries_v1p2_metForcing_obsFlow.zip unpacks to "
               "basin_dataset_public_v1p2/ (next to an empty basin_dataset_public/); the "
               "contents of basin_dataset_public_v1p2/ (basin_mean_forcing/, usgs_streamflow/, "
               "...) become <data_dir>/. NCAR distributes the attributes v2.0 as single files: "
               "camels_{clim,geol,hydro,name,soil,topo,vege}.txt go to "
               "<data_dir>/camels_attributes_v2.0/.",
        homepage="https://gdex.ucar.edu/dataset/camels.html",
        citation="Newman et al. (2015), HESS 19, 209-223, doi:10.5065/D6MW2F4D; Addor et al. "
                 "(2017), HESS 21, 5293-5313, doi:10.5065/D6G73C3Q",
        license="UCAR/NCAR terms of use (https://www.ucar.edu/terms-of-use)",
    ),
    "caravan": DataSource(
        name="caravan",
        description="Caravan v1.2: 6830 basins worldwide, ERA5-Land forcings, HydroATLAS "
                    "attributes, streamflow (csv and netCDF)",
        folder="caravan",
        files=(
            RemoteFile("Caravan.zip", "https://zenodo.org/records/7944025/files/Caravan.zip"
                       "?download=1", size="12.5 GB", extract=True,
                       markers=("attributes", "timeseries")),
        ),
        required=("attributes", "timeseries"),
        layout="Caravan.zip unpacks to Caravan/{attributes,timeseries,shapefiles,licenses,code}/;"
               " the contents of Caravan/ become <data_dir>/.",
        homepage="https://github.com/kratzert/Caravan (data: doi:10.5281/zenodo.7944025)",
        citation="Kratzert et al. (2023), Scientific Data 10, 61, "
                 "doi:10.1038/s41597-023-01975-w",
        license="CC-BY-4.0 (per-source licenses in Caravan/licenses/)",
    ),
}



def get_source(name: str) -> DataSource:
    """Return ``SOURCES[name]`` or raise ``ConfigError`` listing the choices."""
    if name not in SOURCES:
        close = difflib.get_close_matches(str(name), list(SOURCES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown data set {name!r}{hint}; choose from {sorted(SOURCES)}")
    return SOURCES[name]


def download_dataset(name: str, dest_dir: Path, progress: bool = True, *,
                     sha256: Mapping[str, str] | None = None,
                     keep_archives: bool = True) -> Path:
    """Download, verify, unpack and arrange a data set of :data:`SOURCES`.

    Files already installed (recorded in ``<data_dir>/.ealstm-download.json`` with their
    SHA-256, matching the expected digest if one is known) are skipped; an archive already in
    ``<dest_dir>/downloads`` is re-hashed and reused; an interrupted download resumes.

    Parameters
    ----------
    name : str
        Key of :data:`SOURCES` (``"camels-us"``, ``"caravan"``).
    dest_dir : Path
        Folder that receives ``downloads/`` and the data set folder.
    progress : bool
        Show progress bars.
    sha256 : mapping of str to str, optional
        Expected digests by file name, overriding or supplying the registry's (CLI form:
        :func:`parse_sha256_args`).
    keep_archives : bool
        Keep the archives after unpacking, so that a later call can re-verify them.

    Returns
    -------
    Path
        The ``data_dir`` to put into a config: ``<dest_dir>/<source.folder>``. Raises
        ``ConfigError`` (unknown name, bad ``sha256``) or :class:`DownloadError`.
    """
    source = get_source(name)
    expected = _expected_digests(source, sha256 or {})
    data_dir = Path(dest_dir).expanduser() / source.folder
    for spec in source.files:
        _ensure(source, spec, data_dir, expected[spec.filename], progress, keep_archives)
    _check_layout(source, data_dir)
    log.info("%s is ready in %s (set data.data_dir to this folder)", source.name, data_dir)
    return data_dir


def _ensure(source: DataSource, spec: RemoteFile, data_dir: Path, expected: str | None,
            progress: bool, keep_archives: bool) -> None:
    """Install ``spec`` unless already installed; record it in the state file."""
    state = _load_state(data_dir)
    if _is_installed(spec, data_dir, state, expected):
        log.info("%s: %s already installed; skipping", source.name, spec.filename)
        return
    downloads = data_dir.parent / DOWNLOADS_FOLDER
    digest = _install(spec, data_dir, downloads, expected, progress, keep_archives)
    state[spec.filename] = {"url": spec.url, "sha256": digest, "verified": expected is not None}
    save_json(data_dir / STATE_FILE, {"source": source.name, "files": state})


def parse_sha256_args(values: Sequence[str], name: str) -> dict[str, str]:
    """Turn ``--sha256`` values into the ``sha256`` mapping of :func:`download_dataset`.

    Each value is ``FILENAME=DIGEST``, or a bare ``DIGEST`` when the data set has exactly one
    archive (it then applies to that archive, e.g. the CAMELS-US time-series zip).
    """
    source = get_source(name)
    archives = [f.filename for f in source.files if f.extract]
    result: dict[str, str] = {}
    for value in values:
        filename, sep, digest = str(value).rpartition("=")
        if not sep:
            if len(archives) != 1:
                raise ConfigError(f"--sha256 {value!r}: {name} has several files; write "
                                  f"FILENAME=DIGEST with FILENAME one of "
                                  f"{[f.filename for f in source.files]}")
            filename = archives[0]
        result[filename.strip()] = digest
    return result


def format_sources() -> str:
    """Human-readable list of :data:`SOURCES` (for ``ealstm download --list``)."""
    lines = []
    for source in SOURCES.values():
        lines += [f"{source.name}: {source.description}",
                  f"  data_dir: <dest_dir>/{source.folder}    homepage: {source.homepage}",
                  f"  license: {source.license}", f"  cite: {source.citation}"]
        for spec in source.files:
            check = "sha256 " + spec.sha256[:12] + "..." if spec.sha256 else "no official sha256"
            lines.append(f"  - {spec.filename} ({spec.size}; {check}) {spec.url}")
    return "\n".join(lines)


def _expected_digests(source: DataSource, overrides: Mapping[str, str]) -> dict[str, str | None]:
    """Return the expected SHA-256 per file name: the registry's, updated with overrides."""
    names = [f.filename for f in source.files]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ConfigError(f"sha256 given for {unknown}, which are not files of {source.name}; "
                          f"choose from {names}")
    expected = {f.filename: f.sha256 for f in source.files}
    expected.update(overrides)
    return {k: normalise_digest(v, f"sha256 of {k}") if v else None
            for k, v in expected.items()}


def _load_state(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Installed files recorded in ``data_dir``; empty when none or unreadable."""
    path = data_dir / STATE_FILE
    if not path.is_file():
        return {}
    try:
        files = load_json(path).get("files", {})
    except (ValueError, AttributeError, OSError) as exc:
        log.warning("ignoring unreadable %s (%s); files will be checked again", path, exc)
        return {}
    return files if isinstance(files, dict) else {}


def _is_installed(spec: RemoteFile, data_dir: Path, state: Mapping[str, Any],
                  expected: str | None) -> bool:
    """Whether ``spec`` was installed from the same URL, with the expected digest if known."""
    record = state.get(spec.filename)
    if not isinstance(record, dict) or record.get("url") != spec.url:
        return False
    if expected is not None and record.get("sha256") != expected:
        return False
    target = data_dir / spec.dest
    if spec.extract:
        return all((target / marker).exists() for marker in spec.markers)
    return (target / spec.filename).is_file()


def _install(spec: RemoteFile, data_dir: Path, downloads: Path, expected: str | None,
             progress: bool, keep_archives: bool) -> str:
    """Download ``spec`` (reusing a verified local copy) and install it; return its digest."""
    if not spec.extract:
        path = _check_confined(data_dir / spec.dest / spec.filename, data_dir)
        return _obtain(spec.url, path, expected, progress)
    archive = downloads / spec.filename
    digest = _obtain(spec.url, archive, expected, progress)
    _install_archive(archive, spec, data_dir, downloads)
    if not keep_archives:
        archive.unlink()
    return digest


def _obtain(url: str, path: Path, expected: str | None, progress: bool) -> str:
    """Reuse ``path`` if complete (and matching ``expected``), else download it."""
    if path.is_file():
        digest = sha256_of(path).hexdigest()
        if expected is None or digest == expected:
            log.info("%s already downloaded", path)
            if expected is None:
                warn_unverified(url, digest)
            return digest
        log.warning("%s does not have the expected sha256 (%s != %s); downloading it again",
                    path, digest, expected)
        path.unlink()
    return fetch_file(url, path, expected, progress)


def _install_archive(archive: Path, spec: RemoteFile, data_dir: Path, work_dir: Path) -> None:
    """Unpack ``archive`` to a scratch folder, move the marked folder's contents to the target.

    The target is ``data_dir / spec.dest``; entries with the same names are replaced (a link
    there is replaced, never followed). Links of the archive and the target itself are checked
    against the data folder first.
    """
    target = _check_confined(data_dir / spec.dest, data_dir)
    scratch = work_dir / f".extract-{spec.filename}"
    shutil.rmtree(scratch, ignore_errors=True)
    log.info("unpacking %s", archive)
    try:
        extract_archive(archive, scratch)
        root = _find_root(scratch, spec.markers, archive)
        check_links_confined(root, scratch, archive)
        target.mkdir(parents=True, exist_ok=True)
        for child in sorted(root.iterdir()):
            destination = target / child.name
            if destination.is_dir() and not destination.is_symlink():
                shutil.rmtree(destination)
            elif destination.exists() or destination.is_symlink():
                destination.unlink()
            shutil.move(str(child), str(destination))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _check_confined(path: Path, data_dir: Path) -> Path:
    """Return ``path``; raise if it resolves outside ``data_dir`` through a link on disk.

    Such a link can only have been planted (e.g. by an archive unpacked by an older version);
    writing through it would put files outside the data folder.
    """
    real, root = Path(os.path.realpath(path)), Path(os.path.realpath(data_dir))
    if not real.is_relative_to(root):
        raise DownloadError(f"{path} resolves to {real}, outside the data folder {data_dir} (a "
                            "symbolic link left there?); remove the link and download again")
    return path


def _find_root(tree: Path, markers: Sequence[str], archive: Path) -> Path:
    """Shallowest folder of ``tree`` (breadth first) that contains every marker."""
    level = [tree]
    for _ in range(_MAX_ROOT_DEPTH + 1):
        for folder in level:
            if all((folder / marker).exists() for marker in markers):
                return folder
        level = sorted(p for f in level for p in f.iterdir() if p.is_dir() and not p.is_symlink())
    top = sorted(p.name for p in tree.iterdir())
    raise DownloadError(f"{archive}: no folder holding {list(markers)} in the unpacked archive "
                        f"(top level: {top}); the published layout may have changed")


def _check_layout(source: DataSource, data_dir: Path) -> None:
    """Raise ``DownloadError`` when a folder that the loaders need is missing."""
    missing = [entry for entry in source.required if not (data_dir / entry).exists()]
    if missing:
        found = sorted(p.name for p in data_dir.iterdir()) if data_dir.is_dir() else []
        raise DownloadError(f"{source.name}: {data_dir} lacks {missing} after unpacking (found "
                            f"{found}); expected layout: {source.layout}")
