"""Atomic writes and small readers/writers for the artifacts of a run.

Every artifact is written to a temporary file in the target folder and then moved into place
with :func:`os.replace`, so that a killed process never leaves a half-written file behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr
import yaml


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; artifacts are meant to be shared
    try:
        yield tmp_path
        os.replace(tmp_path, path)
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
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save_yaml(path: Path, data: Any) -> Path:
    """Write ``data`` as YAML, atomically, keeping key order."""
    return write_text(path, yaml.safe_dump(data, sort_keys=False))


def save_csv(path: Path, frame: pd.DataFrame, **kwargs: Any) -> Path:
    """Write a DataFrame as CSV, atomically."""
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, **kwargs))


def save_netcdf(path: Path, dataset: xr.Dataset) -> Path:
    """Write an xarray Dataset as netCDF4, atomically."""
    return atomic_write(path, lambda tmp: dataset.to_netcdf(tmp, engine="netcdf4"))
