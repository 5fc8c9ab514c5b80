"""Atomic writes and small readers/writers for the artifacts of a run.

Every artifact is written to a temporary file ``.<name>.<random>.tmp`` in the target folder and
then moved into place with :func:`os.replace`, so that a killed process never leaves a
half-written file behind, at most an orphan ``.tmp`` file, which
:func:`remove_orphan_tmp_files` deletes (at run start, before a cache build).

Checkpoints and cache files also get a SHA-256 sidecar ``<name>.sha256`` (``sha256sum`` format,
written atomically right after the file, :func:`atomic_checked_path`), verified on load by
:func:`verify_checksum`: one flipped byte is then an :class:`~ealstm.errors.IntegrityError`
naming the file instead of silently wrong weights or data.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr
import yaml

from ealstm.errors import FileFormatError, IntegrityError, StorageError

log = logging.getLogger(__name__)

#: errno -> plain words for :class:`StorageError` messages.
_OS_REASONS = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded",
               errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied"}


def os_reason(exc: OSError) -> str:
    """Plain words for an ``OSError`` ("disk full" for ENOSPC), else its own message."""
    return _OS_REASONS.get(exc.errno or 0, exc.strerror or str(exc) or type(exc).__name__)


def storage_error(path: Path, exc: OSError) -> StorageError:
    """One-line :class:`StorageError` for a failed write of ``path`` ("disk full" for ENOSPC)."""
    reason = os_reason(exc)
    error = StorageError(f"cannot write {path}: {reason}; free space or choose a writable "
                         "folder (runs_dir, data.cache_dir)")
    error.errno, error.filename = exc.errno, str(path)
    return error


#: Free space (bytes) below which a failed write without an errno counts as "disk full".
_FULL_BELOW = 1 << 20


def disk_full(folder: Path, exc: BaseException) -> bool:
    """Whether a failed write into ``folder`` was caused by a full disk.

    torch (``PytorchStreamWriter failed writing file ...`` / ``unexpected pos ...``) and netCDF4
    (``NetCDF: HDF error``) raise a ``RuntimeError`` without an errno when the disk fills up,
    so the exception chain is searched for ENOSPC/EDQUOT first, then the free space of
    ``folder`` is measured (less than 1 MiB left for unprivileged users counts as full).
    """
    link: BaseException | None = exc
    while link is not None:
        if isinstance(link, OSError) and link.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "no space left on device" in str(link).lower():
            return True
        link = link.__cause__ or link.__context__
    free = _free_bytes(folder)
    return free is not None and free < _FULL_BELOW


def _free_bytes(folder: Path) -> int | None:
    """Bytes an unprivileged user may still write in ``folder``; ``None`` if unknown."""
    try:
        stats = os.statvfs(folder)
    except (OSError, AttributeError):  # no statvfs on Windows
        return None
    return stats.f_bavail * stats.f_frsize


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only on success.

    Raises
    ------
    StorageError
        The folder or file cannot be written (disk full, read-only, no permission); a
        ``RuntimeError`` of the writer (torch, netCDF4) on a full disk too (:func:`disk_full`).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise storage_error(path, exc) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts are meant to be shared
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except (OSError, RuntimeError) as exc:
        if isinstance(exc, StorageError):
            raise
        if isinstance(exc, OSError) and exc.errno in _OS_REASONS:
            raise storage_error(path, exc) from exc
        if disk_full(path.parent, exc):  # checked before the temporary file is deleted
            raise storage_error(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))) from exc
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def load_json(path: Path) -> Any:
    """Read a JSON file.

    Raises
    ------
    FileFormatError
        The file is not UTF-8 or not valid JSON (e.g. a corrupt ``scaler.json``).
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"{path} is corrupt ({exc}); restore or delete it") from None


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and impossible dates (YAML's default: last wins)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            value = super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"invalid date {node.value!r} ({exc})", node.start_mark) from None
        if getattr(value, "hour", 0) or getattr(value, "minute", 0) or getattr(value, "second", 0):
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} has a time of day; give a date YYYY-MM-DD",
                node.start_mark)
        return value


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp",
                              _StrictLoader.construct_yaml_timestamp)


def parse_yaml(text: str, source: str = "<string>") -> Any:
    """Parse YAML strictly: duplicate keys, impossible dates and times of day are errors.

    Raises
    ------
    FileFormatError
        One line naming ``source``, the line and column and the problem.
    """
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(exc.problem or exc.context or exc).split())
        raise FileFormatError(f"{source}{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise FileFormatError(f"{source}: invalid YAML: {' '.join(str(exc).split())}") from None


def load_yaml(path: Path) -> Any:
    """Read a YAML file with :func:`parse_yaml`; a file that is not UTF-8 raises too.

    Raises
    ------
    FileFormatError
        Not UTF-8 (the byte offset is named) or invalid YAML.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start:exc.start + 1]
        raise FileFormatError(f"{path} is not UTF-8 text (byte {exc.start}: {bad!r}); save it "
                              "as UTF-8") from None
    return parse_yaml(text, str(path))


def save_yaml(path: Path, data: Any) -> Path:
    """Write ``data`` as YAML, atomically, keeping key order."""
    return write_text(path, yaml.safe_dump(data, sort_keys=False))


def save_csv(path: Path, frame: pd.DataFrame, **kwargs: Any) -> Path:
    """Write a DataFrame as CSV, atomically."""
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, **kwargs))


def save_netcdf(path: Path, dataset: xr.Dataset) -> Path:
    """Write an xarray Dataset as netCDF4, atomically."""
    return atomic_write(path, lambda tmp: dataset.to_netcdf(tmp, engine="netcdf4"))


# --- orphan temporary files -------------------------------------------------------------------


def remove_orphan_tmp_files(*folders: Path, name: str | None = None) -> list[Path]:
    """Delete the ``.tmp`` files that killed atomic writes left in ``folders``.

    Call it only while no other process writes there (holding the folder's lock). With ``name``
    only the temporary files of that target file (``.<name>.*.tmp``) are removed.
    """
    pattern = f".{name}.*.tmp" if name else ".*.tmp"
    removed = [p for folder in folders if Path(folder).is_dir()
               for p in sorted(Path(folder).glob(pattern)) if p.is_file()]
    for path in removed:
        path.unlink(missing_ok=True)
        log.info("removed %s, left by an interrupted write", path)
    return removed


# --- SHA-256 sidecars -------------------------------------------------------------------------


def checksum_path(path: Path) -> Path:
    """Sidecar ``<path>.sha256`` that holds the SHA-256 of ``path``."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's content, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def atomic_checked_path(path: Path) -> Iterator[Path]:
    """Like :func:`atomic_path`, then write the SHA-256 sidecar of the new file atomically.

    A process killed between the two moves leaves the new file with no (or the previous)
    sidecar: never a half-written file, at worst a file that :func:`verify_checksum` rejects.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        yield tmp
        digest = sha256_file(tmp)
    write_text(checksum_path(path), f"{digest}  {path.name}\n")


def verify_checksum(path: Path) -> bool:
    """Check ``path`` against its sidecar; ``False`` when there is no sidecar (older files).

    Raises
    ------
    IntegrityError
        The content does not match the sidecar (or the sidecar is unreadable); names both files.
    """
    sidecar = checksum_path(path)
    if not sidecar.is_file():
        return False
    recorded = sidecar.read_text(encoding="utf-8").split()
    actual = sha256_file(path)
    if not recorded or recorded[0].lower() != actual:
        expected = recorded[0][:16] if recorded else "nothing"
        raise IntegrityError(f"{path} is corrupt or was changed: its SHA-256 {actual[:16]}... "
                             f"does not match {expected}... recorded in {sidecar}")
    return True
