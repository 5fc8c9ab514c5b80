"""Fingerprint of the raw files of a data folder: size and mtime of every file.

The cache file (:mod:`ealstm.data.cache`) records the fingerprint of ``data.data_dir`` at the
time it was built and is rebuilt when it differs: a replaced, edited, added or removed raw file
then never goes on feeding stale arrays into training. Every non-hidden file below the data
folder counts (a superset of the files a reader opens, so no read file is missed); hidden
entries (``.ealstm-download.json``, ``.lock``, ...) and a cache folder inside it do not. Keep
run folders outside the data folder: their files would count as raw files and every run would
invalidate the cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

Fingerprint = dict[str, list[int]]  # relative path -> [size in bytes, mtime in ns]


def fingerprint(data_dir: Path, exclude: Path | None = None) -> Fingerprint:
    """Return ``relative path -> [size, mtime_ns]`` of every non-hidden file under ``data_dir``.

    Parameters
    ----------
    data_dir
        Raw data folder (links are followed, as the readers follow them).
    exclude
        A folder to skip, e.g. the cache folder when it lies inside ``data_dir``.
    """
    root = Path(data_dir).expanduser().resolve()
    skip = Path(exclude).expanduser().resolve() if exclude is not None else None
    found: Fingerprint = {}
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (skip is None or Path(folder, d).resolve() != skip))
        if skip is not None and Path(folder).resolve() == skip:
            continue  # the cache folder is the data folder itself
        for name in sorted(f for f in files if not f.startswith(".")):
            path = Path(folder, name)
            info = path.stat()
            found[path.relative_to(root).as_posix()] = [info.st_size, info.st_mtime_ns]
    return found


def to_text(prints: Fingerprint) -> str:
    """Compact JSON of a fingerprint (stored as a netCDF attribute of the cache file)."""
    return json.dumps(prints, sort_keys=True, separators=(",", ":"))


def changes(recorded: str | None, current: Fingerprint) -> list[str]:
    """Describe how ``current`` differs from the ``recorded`` JSON (empty list: unchanged)."""
    if not recorded:
        return ["no record of the raw files"]
    old = json.loads(recorded)
    changed = sorted(p for p in current.keys() & old.keys() if list(old[p]) != current[p])
    added = sorted(current.keys() - old.keys())
    removed = sorted(old.keys() - current.keys())
    return ([f"changed {p}" for p in changed] + [f"new {p}" for p in added]
            + [f"removed {p}" for p in removed])
