import errno
import os
import stat

import pytest

from ealstm.errors import FileFormatError, StorageError
from ealstm.io import atomic_path, atomic_write, load_json, parse_yaml, save_json


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
