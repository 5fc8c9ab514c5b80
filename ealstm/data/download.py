"""Download, verify and unpack the public data sets that ``ealstm`` trains on.

Three layers, each usable on its own:

* :func:`download_file` streams one URL to ``<dest>.part`` (resuming an interrupted download
  with an HTTP ``Range`` request), verifies its SHA-256 and renames it onto ``dest``.
* :func:`extract_archive` unpacks a zip or tar(.gz/.xz) archive after checking every member:
  no absolute path, no ``..``, no link or member path that resolves outside the target folder.
* :func:`download_dataset` fetches every file of a :data:`SOURCES` entry, unpacks the archives,
  arranges the folders into the layout that the loaders expect and returns the ``data_dir`` to
  put into a config.

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
import hashlib
import http.client
import logging
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from tqdm.auto import tqdm

from ealstm import __version__
from ealstm.errors import ConfigError, DataNotFoundError, EalstmError
from ealstm.io import load_json, save_json

log = logging.getLogger(__name__)

MIB = 1 << 20
#: Folder of ``dest_dir`` that keeps the downloaded archives.
DOWNLOADS_FOLDER = "downloads"
#: Record of the installed files inside a ``data_dir``.
STATE_FILE = ".ealstm-download.json"
_USER_AGENT = f"ealstm/{__version__} (Python urllib)"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-\d+/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
_HAS_DATA_FILTER = hasattr(tarfile, "data_filter")  # Python >= 3.12, 3.11.4, 3.10.12
_MAX_LINK_DEPTH = 40
_MAX_ROOT_DEPTH = 4


class DownloadError(EalstmError, OSError):
    """A download or an archive failed; the message names the URL / file / member and the fix.

    Raised for an unreachable URL, a truncated transfer, a wrong checksum, or an unsafe or
    corrupt archive.
    """


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


# --------------------------------------------------------------------------------------------
# download_file
# --------------------------------------------------------------------------------------------

def download_file(url: str, dest: Path, sha256: str | None = None, progress: bool = True,
                  chunk_size: int = MIB, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest``, resumably, and verify its SHA-256.

    Bytes are streamed to ``<dest>.part``. If that file exists (an interrupted earlier call),
    the download resumes with ``Range: bytes=<size>-``; a server that ignores the range (status
    200) makes it restart from byte 0. Only a complete, verified file is renamed onto ``dest``.

    Parameters
    ----------
    url, dest : str, Path
        What to download and where to. An existing ``dest`` that has the expected ``sha256``
        is returned without any request.
    sha256 : str, optional
        Expected SHA-256 (hex). ``None``: the digest is computed, logged, and not verified.
    progress, chunk_size, timeout : bool, int, float
        tqdm progress bar; bytes per read (1 MiB); seconds to wait to connect and per read.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    DownloadError
        Unreachable URL or HTTP error; transfer cut short (the ``.part`` file is kept: rerun to
        resume); checksum mismatch (the ``.part`` file is deleted).
    """
    dest = Path(dest)
    expected = _normalise_digest(sha256, f"sha256 of {url}") if sha256 else None
    if expected and dest.is_file() and _sha256_of(dest).hexdigest() == expected:
        log.info("%s is already complete (sha256 verified)", dest)
        return dest
    _fetch(url, dest, expected, progress, chunk_size, timeout)
    return dest


def _fetch(url: str, dest: Path, expected: str | None, progress: bool, chunk_size: int = MIB,
           timeout: float = 60.0) -> str:
    """Download to ``<dest>.part``, verify, rename onto ``dest``; return the SHA-256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    response, offset = _open(url, part, timeout)
    if response is None:  # 416: the part file already holds the whole file
        digest = _sha256_of(part).hexdigest()
    else:
        with response:
            digest = _stream(response, part, offset, url, progress, chunk_size)
    _verify(url, part, digest, expected)
    part.replace(dest)
    return digest


def _open(url: str, part: Path, timeout: float) -> tuple[Any, int]:
    """Open ``url``, asking for the bytes after those already in ``part``.

    Returns ``(response, offset)`` where ``offset`` is where the body starts in the file (0 when
    the server ignored the range), or ``(None, size)`` when ``part`` is already complete.
    """
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            return _unsatisfiable_range(url, part, offset, exc.headers, timeout)
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}; check the "
                            "URL or try again later") from exc
    except (URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot reach {url}: {reason}; check the network connection "
                            "(and proxy settings), then rerun") from exc
    return _resume_offset(url, part, offset, response, timeout)


def _unsatisfiable_range(url: str, part: Path, offset: int, headers: Any,
                         timeout: float) -> tuple[Any, int]:
    """Handle HTTP 416: ``part`` is complete when the remote size equals its size."""
    match = _UNSATISFIED_RANGE.match(headers.get("Content-Range", "") if headers else "")
    if match and int(match.group(1)) == offset:
        log.info("%s: %s already holds all %d bytes", url, part, offset)
        return None, offset
    log.warning("%s: %s does not fit the remote file; downloading from the start", url, part)
    part.unlink()
    return _open(url, part, timeout)


def _resume_offset(url: str, part: Path, offset: int, response: Any,
                   timeout: float) -> tuple[Any, int]:
    """Check that the server resumed where asked; restart from 0 when it did not."""
    if response.status not in (200, 206):
        response.close()
        raise DownloadError(f"download of {url} failed: unexpected HTTP status "
                            f"{response.status}")
    if not offset:
        return response, 0
    if response.status == 200:
        log.info("%s: the server does not support resuming; restarting from byte 0", url)
        return response, 0
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if match is None or int(match.group(1)) != offset:
        log.warning("%s: the server resumed at the wrong byte; restarting from byte 0", url)
        response.close()
        part.unlink()
        return _open(url, part, timeout)
    log.info("%s: resuming after %d bytes already in %s", url, offset, part)
    return response, offset


def _stream(response: Any, part: Path, offset: int, url: str, progress: bool,
            chunk_size: int) -> str:
    """Append the response body to ``part`` (or overwrite it when ``offset`` is 0)."""
    length = _content_length(response)
    _check_free_space(part.parent, length, f"downloading {url}")
    hasher = _sha256_of(part) if offset else hashlib.sha256()
    received = 0
    total = None if length is None else offset + length
    with open(part, "ab" if offset else "wb") as handle, \
            tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                 desc=part.name[: -len(".part")], disable=not progress, leave=False) as bar:
        try:
            while chunk := response.read(chunk_size):
                handle.write(chunk)
                hasher.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as exc:
            raise DownloadError(f"download of {url} was interrupted after {offset + received} "
                                f"bytes ({exc}); they are kept in {part}: rerun the same "
                                "command to resume") from exc
    if length is not None and received < length:
        raise DownloadError(f"download of {url} is truncated: got {offset + received} of "
                            f"{total} bytes (Content-Length); they are kept in {part}: rerun "
                            "the same command to resume")
    return hasher.hexdigest()


def _content_length(response: Any) -> int | None:
    """Return the Content-Length header as an int, or ``None`` when absent or malformed."""
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _verify(url: str, part: Path, digest: str, expected: str | None) -> None:
    """Compare ``digest`` with ``expected``; delete ``part`` and raise on a mismatch."""
    if expected is None:
        _warn_unverified(url, digest)
        return
    if digest != expected:
        part.unlink(missing_ok=True)
        raise DownloadError(f"checksum mismatch for {url}: expected sha256 {expected}, got "
                            f"{digest}; the corrupt download was deleted, rerun to download it "
                            "again (or check the expected digest)")
    log.info("%s: sha256 %s verified", url, digest)


def _warn_unverified(url: str, digest: str) -> None:
    """Report the computed digest of a file that has no official checksum."""
    log.warning("sha256 of %s is %s: NOT verified (no official checksum is registered); pass "
                "the publisher's digest with --sha256 FILENAME=DIGEST to verify it", url, digest)


def _sha256_of(path: Path) -> Any:
    """``hashlib.sha256`` object fed with the bytes of ``path``."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(MIB):
            hasher.update(chunk)
    return hasher


def _normalise_digest(value: str, what: str) -> str:
    """Lower-case hex SHA-256 or ``ConfigError`` naming ``what``."""
    digest = str(value).strip().lower()
    if not _HEX64.match(digest):
        raise ConfigError(f"{what}: {value!r} is not a SHA-256 digest (64 hexadecimal "
                          "characters)")
    return digest


def _check_free_space(folder: Path, needed: int | None, what: str) -> None:
    """Raise ``DownloadError`` when ``folder``'s file system has less than ``needed`` bytes."""
    if not needed:
        return
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise DownloadError(f"{what} needs {needed / 1e9:.2f} GB but only {free / 1e9:.2f} GB "
                            f"are free in {folder}; free some space or choose another folder")


# --------------------------------------------------------------------------------------------
# extract_archive
# --------------------------------------------------------------------------------------------

def extract_archive(archive: Path, dest_dir: Path) -> list[Path]:
    """Safely unpack a zip or tar (``.tar``, ``.tar.gz``, ``.tar.xz``, ...) archive.

    Every member is checked before anything is written: absolute paths, ``..`` components,
    device files, symbolic or hard links pointing outside ``dest_dir`` (also through other links
    of the archive), and members that resolve outside ``dest_dir`` (through links already on
    disk) are rejected. Symbolic links in zip archives are rejected altogether. Tar archives are
    then extracted with ``filter="data"`` where Python provides it.

    Parameters
    ----------
    archive : Path
        The archive; its type is detected from its content, not its name.
    dest_dir : Path
        Target folder, created if needed.

    Returns
    -------
    list of Path
        Paths of the extracted members, in archive order.

    Raises
    ------
    DownloadError
        Unsafe member (the message names it), corrupt archive, not an archive, or not enough
        free disk space.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise DataNotFoundError(f"archive {archive} does not exist")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    dest = dest.resolve()
    if zipfile.is_zipfile(archive):
        return _extract_zip(archive, dest)
    if tarfile.is_tarfile(archive):
        return _extract_tar(archive, dest)
    raise DownloadError(f"{archive} is neither a zip nor a tar archive; delete it and download "
                        "it again")


def _member_target(name: str, dest: Path, archive: Path) -> Path:
    """Path that member ``name`` would be written to; raise if it is absolute or escapes."""
    if not name or "\x00" in name:
        raise DownloadError(f"{archive}: member {name!r} has an empty or invalid name; refusing "
                            "to extract the archive")
    if name.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(name):
        raise DownloadError(f"{archive}: member {name!r} has an absolute path; refusing to "
                            "extract the archive")
    if ".." in re.split(r"[/\\]", name):
        raise DownloadError(f"{archive}: member {name!r} contains a '..' component; refusing to "
                            "extract the archive")
    target = (dest / name).resolve()
    if not target.is_relative_to(dest):
        raise DownloadError(f"{archive}: member {name!r} resolves to {target}, outside {dest}; "
                            "refusing to extract the archive")
    return target


def _extract_zip(archive: Path, dest: Path) -> list[Path]:
    """Check all zip members, then extract them."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _member_target(info.filename, dest, archive)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise DownloadError(f"{archive}: member {info.filename!r} is a symbolic "
                                        "link; ealstm does not extract links from zip archives")
            _check_free_space(dest, sum(i.file_size for i in infos), f"extracting {archive}")
            return [Path(zf.extract(info, dest)) for info in infos]
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DownloadError(f"{archive} is corrupt ({exc}); delete it and download it "
                            "again") from exc


def _extract_tar(archive: Path, dest: Path) -> list[Path]:
    """Check all tar members, then extract them (``filter="data"`` where available)."""
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            _check_tar_members(members, dest, archive)
            size = sum(m.size for m in members if m.isreg())
            _check_free_space(dest, size, f"extracting {archive}")
            _extract_tar_members(tar, members, dest, archive)
    except (tarfile.ReadError, tarfile.CompressionError, tarfile.ExtractError, zlib.error,
            EOFError) as exc:
        raise DownloadError(f"{archive} is corrupt or truncated ({exc}); delete it and download "
                            "it again") from exc
    return [dest / _normalise_name(m.name) for m in members if _normalise_name(m.name)]


def _extract_tar_members(tar: tarfile.TarFile, members: list[tarfile.TarInfo], dest: Path,
                         archive: Path) -> None:
    """Extract checked members; Python's ``data`` filter re-checks each one on the way."""
    if _HAS_DATA_FILTER:
        try:
            tar.extractall(dest, members=members, filter="data")
        except tarfile.FilterError as exc:
            member = getattr(exc, "tarinfo", None)
            name = member.name if member is not None else "?"
            raise DownloadError(f"{archive}: member {name!r} rejected ({exc}); refusing to "
                                "extract the archive") from exc
        return
    for member in members:  # older Python: re-check against the links extracted so far
        _member_target(member.name, dest, archive)
        tar.extract(member, dest)


def _check_tar_members(members: list[tarfile.TarInfo], dest: Path, archive: Path) -> None:
    """Reject special files, escaping paths and escaping links, before extracting anything."""
    links = {_normalise_name(m.name): m.linkname for m in members if m.issym()}
    for member in members:
        name = member.name
        _member_target(name, dest, archive)
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise DownloadError(f"{archive}: member {name!r} is a device, FIFO or other special "
                                "file; refusing to extract the archive")
        parent = _normalise_name(name).split("/")[:-1]
        if _resolve_in_archive(parent, links) is None:
            raise DownloadError(f"{archive}: member {name!r} is written through a link that "
                                "points outside the target folder; refusing to extract")
        if member.issym() or member.islnk():
            _check_link(member, parent, links, dest, archive)


def _check_link(member: tarfile.TarInfo, parent: list[str], links: Mapping[str, str],
                dest: Path, archive: Path) -> None:
    """Reject a symbolic or hard link whose target lies outside ``dest``."""
    kind = "symbolic link" if member.issym() else "hard link"
    target = member.linkname
    base = parent if member.issym() else []  # hard links are relative to the archive root
    escapes = (not target or target.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(target)
               or _resolve_in_archive(base + re.split(r"[/\\]", target), links) is None)
    if not escapes:
        on_disk = (dest.joinpath(*base) / target).resolve()
        escapes = not on_disk.is_relative_to(dest)
    if escapes:
        raise DownloadError(f"{archive}: member {member.name!r} is a {kind} to {target!r}, "
                            "outside the target folder; refusing to extract the archive")


def _normalise_name(name: str) -> str:
    """``"./a//b/"`` -> ``"a/b"``: the archive-relative path of a member."""
    return "/".join(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


def _resolve_in_archive(parts: list[str], links: Mapping[str, str],
                        depth: int = 0) -> list[str] | None:
    """Resolve path components against the archive's own symbolic links.

    Returns the resolved components relative to the archive root, or ``None`` when the path
    leaves the root (or the links loop).
    """
    if depth > _MAX_LINK_DEPTH:
        return None
    out: list[str] = []
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                return None
            out.pop()
            continue
        out.append(part)
        target = links.get("/".join(out))
        if target is not None:
            if target.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(target):
                return None
            resolved = _resolve_in_archive(out[:-1] + re.split(r"[/\\]", target), links,
                                           depth + 1)
            if resolved is None:
                return None
            out = resolved
    return out


# --------------------------------------------------------------------------------------------
# download_dataset
# --------------------------------------------------------------------------------------------

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
    return {k: _normalise_digest(v, f"sha256 of {k}") if v else None
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
        return _obtain(spec.url, data_dir / spec.dest / spec.filename, expected, progress)
    archive = downloads / spec.filename
    digest = _obtain(spec.url, archive, expected, progress)
    _install_archive(archive, spec, data_dir / spec.dest, downloads)
    if not keep_archives:
        archive.unlink()
    return digest


def _obtain(url: str, path: Path, expected: str | None, progress: bool) -> str:
    """Reuse ``path`` if complete (and matching ``expected``), else download it."""
    if path.is_file():
        digest = _sha256_of(path).hexdigest()
        if expected is None or digest == expected:
            log.info("%s already downloaded", path)
            if expected is None:
                _warn_unverified(url, digest)
            return digest
        log.warning("%s does not have the expected sha256 (%s != %s); downloading it again",
                    path, digest, expected)
        path.unlink()
    return _fetch(url, path, expected, progress)


def _install_archive(archive: Path, spec: RemoteFile, target: Path, work_dir: Path) -> None:
    """Unpack ``archive`` to a scratch folder, move the marked folder's contents to ``target``.

    Entries of ``target`` with the same names are replaced.
    """
    scratch = work_dir / f".extract-{spec.filename}"
    shutil.rmtree(scratch, ignore_errors=True)
    log.info("unpacking %s", archive)
    extract_archive(archive, scratch)
    root = _find_root(scratch, spec.markers, archive)
    target.mkdir(parents=True, exist_ok=True)
    for child in sorted(root.iterdir()):
        destination = target / child.name
        if destination.is_dir() and not destination.is_symlink():
            shutil.rmtree(destination)
        elif destination.exists() or destination.is_symlink():
            destination.unlink()
        shutil.move(str(child), str(destination))
    shutil.rmtree(scratch, ignore_errors=True)


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
