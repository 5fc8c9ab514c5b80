"""SIGKILL during checkpoint and cache writes, then resume: nothing partial, same result.

A child process trains the tiny synthetic run and kills itself (SIGKILL, as the out-of-memory
killer would) at a drawn point: while a checkpoint or the cache file is half written, just
before an atomic move, or between a file's move and its SHA-256 sidecar. The next child resumes
from whatever is on disk. After every kill no file under its final name may be partial or fail
its checksum, and the finished run must equal an uninterrupted run bit for bit.
"""

import multiprocessing
import os
import random
import signal
from pathlib import Path

import pandas as pd
import pytest
import torch

from ealstm.config import parse_config
from ealstm.io import checksum_path, verify_checksum
from ealstm.runs.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from ealstm.training.loop import train
from tests.conftest import tiny_run_config

EPOCHS = 4

def _child(config: dict, mode: str, k: int) -> None:
    """Train (resuming if a checkpoint exists) and SIGKILL this process at the ``k``-th event."""
    import xarray as xr

    torch.set_num_threads(1)
    calls = {"n": 0}

    def due() -> bool:
        calls["n"] += 1
        return calls["n"] == k

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def half_written(real):
        def write(obj, path, *args, **kwargs):
            real(obj, path, *args, **kwargs)
            if due():
                os.truncate(path, os.path.getsize(path) // 2)
                die()
        return write

    real_replace = os.replace

    def replace(src, dst):
        if mode == "before_replace" and due():
            die()
        real_replace(src, dst)
        if mode == "after_replace" and due():
            die()

    os.replace = replace
    if mode == "mid_checkpoint":
        torch.save = half_written(torch.save)
    if mode == "mid_cache":
        xr.Dataset.to_netcdf = half_written(xr.Dataset.to_netcdf)
    cfg = parse_config(config)
    train(cfg, resume=latest_checkpoint(cfg.run_dir) is not None, progress=False)


def _attempt(config: dict, mode: str, k: int) -> bool:
    """Run the child in a forked process; return whether it was killed (else it finished)."""
    child = multiprocessing.get_context("fork").Process(target=_child, args=(config, mode, k))
    child.start()
    child.join()
    assert child.exitcode in (0, -signal.SIGKILL), f"the child failed ({child.exitcode})"
    return child.exitcode == -signal.SIGKILL


def _assert_equal(a, b) -> None:
    """Nested dicts/lists of tensors and numbers are equal, tensors bit for bit."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            _assert_equal(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_equal(x, y)
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    else:
        assert a == b


def _assert_nothing_partial(run_dir: Path, cache_dir: Path) -> None:
    """Every file under its final name is complete: loadable, and matching its sidecar."""
    for epoch, path in list_checkpoints(run_dir).items():
        if checksum_path(path).is_file():
            assert verify_checksum(path)
        assert torch.load(path, weights_only=True)["epoch"] == epoch
    for path in cache_dir.glob("*.nc"):
        if checksum_path(path).is_file():
            assert verify_checksum(path)


@pytest.mark.slow
def test_sigkill_during_writes_then_resume_is_bit_identical(demo_camels, tmp_path):
    reference = train(parse_config(tiny_run_config(demo_camels, tmp_path / "ref",
                                                   epochs=EPOCHS)), progress=False)
    raw = tiny_run_config(demo_camels, tmp_path / "faulty", epochs=EPOCHS)
    cfg = parse_config(raw)
    rng = random.Random(2026)
    plan = [("mid_cache", 1), ("after_replace", 2), ("before_replace", rng.randint(3, 5)),
            ("mid_checkpoint", rng.randint(1, 2)), ("after_replace", rng.randint(3, 5)),
            ("before_replace", rng.randint(2, 5)), ("mid_checkpoint", 1)]
    kills = 0
    for mode, k in plan:
        kills += _attempt(raw, mode, k)
        _assert_nothing_partial(cfg.run_dir, Path(raw["data"]["cache_dir"]))
    assert kills >= 5  # the plan really interrupted the run that often
    assert not _attempt(raw, "none", 0)  # the final resume runs to the end
    a, b = load_checkpoint(reference), load_checkpoint(cfg.run_dir)
    assert a["epoch"] == b["epoch"] == EPOCHS
    _assert_equal(a["model"], b["model"])
    _assert_equal(a["optimizer"], b["optimizer"])
    logs = [pd.read_csv(run / "train_log.csv") for run in (reference, cfg.run_dir)]
    pd.testing.assert_series_equal(logs[0]["train_loss"], logs[1]["train_loss"])
    assert not list(cfg.run_dir.rglob(".*.tmp"))
