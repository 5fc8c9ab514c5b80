import os
import stat

import pytest

from ealstm.io import atomic_path, load_json, save_json


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
