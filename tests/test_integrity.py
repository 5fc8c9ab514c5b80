"""Checksums of checkpoints and cache files, raw-file fingerprints, orphan temporary files."""

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ealstm.config import parse_config
from ealstm.data import raw_files
from ealstm.data.assemble import date_axis
from ealstm.data.cache import cache_key, cache_path, load_basin_arrays
from ealstm.errors import CheckpointError, IntegrityError
from ealstm.io import atomic_checked_path, checksum_path, sha256_file, verify_checksum
from ealstm.runs.checkpoint import checkpoint_path, load_checkpoint
from ealstm.training.loop import train
from tests.conftest import tiny_run_config


def _flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_checked_write_records_sha256_in_sha256sum_format(tmp_path):
    target = tmp_path / "x.bin"
    with atomic_checked_path(target) as tmp:
        tmp.write_bytes(b"abc")
    line = checksum_path(target).read_text()
    assert line == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  x.bin\n"
    assert verify_checksum(target) is True
    _flip_byte(target, 0)
    with pytest.raises(IntegrityError, match=f"{target} is corrupt.*{target.name}.sha256"):
        verify_checksum(target)
    assert verify_checksum(tmp_path / "no_sidecar") is False


@pytest.fixture()
def run_copy(tiny_ealstm_run, tmp_path) -> Path:
    """A writable copy of the 2-epoch tiny run."""
    return Path(shutil.copytree(tiny_ealstm_run, tmp_path / "run"))


def test_checkpoint_with_a_flipped_byte_is_refused_naming_the_previous_epoch(run_copy):
    path = checkpoint_path(run_copy, 2)
    assert sha256_file(path) == checksum_path(path).read_text().split()[0]
    _flip_byte(path)
    with pytest.raises(CheckpointError, match=r"epoch_002\.pt is corrupt.*epoch 1 with --resume"):
        load_checkpoint(run_copy)
    assert load_checkpoint(run_copy, epoch=1)["epoch"] == 1  # the previous one still loads


def test_checkpoint_without_sidecar_loads_with_a_warning(run_copy, caplog):
    checksum_path(checkpoint_path(run_copy, 2)).unlink()
    with caplog.at_level(logging.WARNING, logger="ealstm.runs.checkpoint"):
        assert load_checkpoint(run_copy)["epoch"] == 2
    assert "no SHA-256 sidecar" in caplog.text


def test_run_start_removes_orphan_tmp_files_of_its_own_writes(demo_camels, tmp_path):
    cfg = parse_config(tiny_run_config(demo_camels, tmp_path, epochs=1))
    train(cfg, progress=False)
    run = cfg.run_dir
    orphans = [run / "checkpoints" / ".epoch_002.pt.k1ll3d.tmp", run / ".train_log.csv.x.tmp",
               run / ".scaler.json.y.tmp"]
    foreign = run / ".predictions_test.nc.z.tmp"  # an `ealstm evaluate` may be writing it
    for path in [*orphans, foreign]:
        path.write_bytes(b"half")
    resumed = parse_config(tiny_run_config(demo_camels, tmp_path, epochs=2))
    train(resumed, resume=True, progress=False)
    assert [p for p in orphans if p.exists()] == [] and foreign.exists()


# --- cache ------------------------------------------------------------------------------------


@pytest.fixture()
def data_copy(demo_camels, tmp_path) -> Path:
    return Path(shutil.copytree(demo_camels, tmp_path / "data"))


def _data_cfg(data_dir: Path, tmp_path: Path):
    return parse_config(tiny_run_config(data_dir, tmp_path, n_basins=2)).data


def _cache_file(cfg) -> Path:
    return cache_path(cfg, cache_key(cfg, tuple(cfg.basins), date_axis(cfg)))


def test_cache_with_a_flipped_byte_is_rebuilt_with_a_warning(data_copy, tmp_path, caplog):
    cfg = _data_cfg(data_copy, tmp_path)
    good = load_basin_arrays(cfg)
    path = _cache_file(cfg)
    _flip_byte(path)
    with caplog.at_level(logging.WARNING, logger="ealstm.data.cache"):
        again = load_basin_arrays(cfg)
    assert f"cache file {path}" in caplog.text and "does not match" in caplog.text
    np.testing.assert_array_equal(again.target, good.target)
    np.testing.assert_array_equal(again.dynamic, good.dynamic)
    assert verify_checksum(path)  # the rebuilt file has a matching sidecar


def test_changed_raw_file_invalidates_the_cache(data_copy, tmp_path, caplog):
    cfg = _data_cfg(data_copy, tmp_path)
    before = load_basin_arrays(cfg)
    flow = sorted((data_copy / "usgs_streamflow").glob(f"*/{cfg.basins[0]}_streamflow_qc.txt"))[0]
    text = flow.read_text()
    day = f"{cfg.basins[0]} 2001 01 15 "
    line = next(line for line in text.splitlines() if line.startswith(day))
    flow.write_text(text.replace(line, f"{day}  -999.00 M"))  # now a missing day
    with caplog.at_level(logging.WARNING, logger="ealstm.data.cache"):
        after = load_basin_arrays(cfg)
    assert f"changed {flow.relative_to(data_copy).as_posix()}" in caplog.text
    i = before.dates.get_loc("2001-01-15")
    assert np.isfinite(before.target[0, i]) and np.isnan(after.target[0, i])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ealstm.data.cache"):
        load_basin_arrays(cfg)  # the rebuilt file is valid again
    assert caplog.text == ""


def _count_calls(monkeypatch, module, name: str) -> list:
    calls, real = [], getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append(a) or real(*a, **k))
    return calls


def test_each_load_fingerprints_once_and_hashes_only_a_fresh_file(data_copy, tmp_path,
                                                                  monkeypatch):
    """A build fingerprints the raw files once; a stale file is rejected before the SHA-256."""
    from ealstm.data import cache

    cfg = _data_cfg(data_copy, tmp_path)
    prints = _count_calls(monkeypatch, raw_files, "fingerprint")
    hashes = _count_calls(monkeypatch, cache, "verify_checksum")
    load_basin_arrays(cfg)  # miss: fingerprint, build, no re-read under the lock
    assert (len(prints), len(hashes)) == (1, 0)
    load_basin_arrays(cfg)  # hit: fingerprint and SHA-256 once each
    assert (len(prints), len(hashes)) == (2, 1)
    flow = sorted((data_copy / "usgs_streamflow").glob(f"*/{cfg.basins[0]}_streamflow_qc.txt"))
    os.utime(flow[0], ns=(1, 1))  # stale: rebuilt without hashing the old file
    load_basin_arrays(cfg)
    assert (len(prints), len(hashes)) == (3, 1)


def test_touched_raw_file_and_new_file_are_changes(data_copy, tmp_path):
    before = raw_files.fingerprint(data_copy)
    attributes = next((data_copy / "camels_attributes_v2.0").glob("camels_*.txt"))
    os.utime(attributes, ns=(0, 123))
    (data_copy / "extra.txt").write_text("x")
    (data_copy / ".hidden").write_text("ignored")
    found = raw_files.changes(raw_files.to_text(before), raw_files.fingerprint(data_copy))
    assert found == [f"changed {attributes.relative_to(data_copy).as_posix()}", "new extra.txt"]
    cache_inside = data_copy / "cache"
    cache_inside.mkdir()
    (cache_inside / "camels_us_x.nc").write_text("x")
    assert "cache/camels_us_x.nc" not in raw_files.fingerprint(data_copy, exclude=cache_inside)


def test_cache_build_removes_its_orphan_tmp_files(data_copy, tmp_path):
    cfg = _data_cfg(data_copy, tmp_path)
    path = _cache_file(cfg)
    path.parent.mkdir(parents=True)
    orphan = path.parent / f".{path.name}.abc123.tmp"
    orphan.write_bytes(b"half a netCDF")
    other = path.parent / ".camels_us_0000000000000000.nc.def.tmp"  # another build's file
    other.write_bytes(b"busy")
    load_basin_arrays(cfg)
    assert not orphan.exists() and other.exists()
