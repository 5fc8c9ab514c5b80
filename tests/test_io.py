import errno
import os
import stat
from pathlib import Path

import pytest
import xarray as xr

from ealstm import io
from ealstm.errors import FileFormatError, StorageError
from ealstm.io import atomic_path, atomic_write, load_json, parse_yaml, save_json
from ealstm.runs import checkpoint


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.json"
    save_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert load_json(target) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_write_uses_normal_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        save_json(tmp_path / "x.json", [1])
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == 0o644


# --- issue 10: failed writes and corrupt files are one clear error ------------------------------


@pytest.mark.parametrize(("code", "words"), [(errno.ENOSPC, "disk full"),
                                             (errno.EROFS, "read-only file system"),
                                             (errno.EACCES, "permission denied")])
def test_failed_write_is_a_storage_error_without_partial_file(tmp_path, code, words):
    def full_disk(tmp):
        tmp.write_text("partial")
        raise OSError(code, os.strerror(code))

    target = tmp_path / "out.json"
    with pytest.raises(StorageError) as info:
        atomic_write(target, full_disk)
    assert str(info.value).startswith(f"cannot write {target}: {words};")
    assert info.value.errno == code and isinstance(info.value, OSError)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_a_storage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match=f"cannot write {blocker / 'sub' / 'a.json'}"):
        save_json(blocker / "sub" / "a.json", {})


@pytest.mark.parametrize("content", [b'{"mean": [1, 2', b"\xff\xfe{}"])
def test_corrupt_json_is_a_file_format_error(tmp_path, content):
    path = tmp_path / "scaler.json"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=f"{path} is corrupt"):
        load_json(path)


def test_yaml_merge_keys_still_work_and_duplicates_do_not():
    assert parse_yaml("a: &x {k: 1}\nb:\n  <<: *x\n  j: 2\n") == {"a": {"k": 1},
                                                                 "b": {"k": 1, "j": 2}}
    with pytest.raises(FileFormatError, match="line 2, column 1: invalid YAML: duplicate key 'a'"):
        parse_yaml("a: 1\na: 2\n", "x.yml")


# --- issue 10: torch and netCDF4 report a full disk as a RuntimeError without errno --------------

#: What torch.save and netCDF4 raise on a full disk (seen on a full 256 KiB tmpfs).
TORCH_FULL = ("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing "
              "file data/0: file write failed")
NETCDF_FULL = "NetCDF: HDF error"


def _fail_with(exc):
    def writer(tmp):
        tmp.write_bytes(b"partial")
        raise exc
    return writer


@pytest.mark.parametrize("exc", [RuntimeError(TORCH_FULL), RuntimeError(NETCDF_FULL),
                                 OSError(-101, NETCDF_FULL)])
def test_writer_runtime_error_on_a_full_disk_is_disk_full(tmp_path, monkeypatch, exc):
    monkeypatch.setattr(io, "_free_bytes", lambda folder: 0)
    target = tmp_path / "epoch_001.pt"
    with pytest.raises(StorageError, match=f"cannot write {target}: disk full;") as info:
        atomic_write(target, _fail_with(exc))
    assert info.value.errno == errno.ENOSPC and info.value.__cause__ is exc
    assert list(tmp_path.iterdir()) == []


def test_enospc_in_the_exception_chain_is_disk_full_whatever_the_free_space(tmp_path):
    try:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    except OSError as cause:
        exc = RuntimeError(TORCH_FULL)
        exc.__cause__ = cause
    with pytest.raises(StorageError, match="disk full"):
        atomic_write(tmp_path / "a.pt", _fail_with(exc))
    assert list(tmp_path.iterdir()) == []


def test_writer_runtime_error_with_free_space_stays_itself(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "_free_bytes", lambda folder: 10 << 30)
    with pytest.raises(RuntimeError, match="NetCDF: HDF error") as info:
        atomic_write(tmp_path / "a.nc", _fail_with(RuntimeError(NETCDF_FULL)))
    assert not isinstance(info.value, StorageError)
    assert list(tmp_path.iterdir()) == []


def test_disk_full_reads_the_free_space_of_the_folder(tmp_path):
    assert io._free_bytes(tmp_path) > 0
    assert io._free_bytes(tmp_path / "missing") is None


def test_checkpoint_and_netcdf_saves_on_a_full_disk_are_disk_full(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "_free_bytes", lambda folder: 4096)

    def torch_save(obj, tmp):
        Path(tmp).write_bytes(b"PK partial zip")
        raise RuntimeError(TORCH_FULL)

    def to_netcdf(self, tmp, **kwargs):
        Path(tmp).write_bytes(b"\x89HDF partial")
        raise RuntimeError(NETCDF_FULL)

    monkeypatch.setattr(checkpoint.torch, "save", torch_save)
    monkeypatch.setattr(xr.Dataset, "to_netcdf", to_netcdf)
    with pytest.raises(StorageError, match=r"epoch_001\.pt: disk full"):
        checkpoint.save_checkpoint(tmp_path / "run", 1, {"w": 1})
    with pytest.raises(StorageError, match=r"x\.nc: disk full"):
        io.save_netcdf(tmp_path / "x.nc", xr.Dataset({"a": ("t", [1.0])}))
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []
    assert checkpoint.list_checkpoints(tmp_path / "run") == {}
