"""The experiment runner on tiny budgets: members, ensembles, skip/resume, parallel, errors."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from ealstm.errors import CheckpointError, ConfigError, EalstmError, ExperimentError
from ealstm.experiment import pool, runner
from ealstm.experiment.config import (
    PAPER_CONFIGURATIONS,
    ExperimentConfig,
    load_experiment_config,
    member_config,
)
from ealstm.experiment.ensemble import build_ensembles, collect_metrics
from ealstm.experiment.pool import Execution
from ealstm.experiment.runner import run_experiment
from ealstm.io import load_json
from ealstm.runs.checkpoint import list_checkpoints, load_checkpoint
from tests.conftest import tiny_run_config

CONFIGS = ("lstm_no_static_mse", "ealstm_nse")
SEEDS = [111, 222]
CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("experiment_cache")


def tiny_experiment(data_dir: Path, exp_dir: Path, cache: Path, configurations=CONFIGS,
                    seeds=SEEDS, epochs: int = 1) -> ExperimentConfig:
    base = tiny_run_config(data_dir, exp_dir, n_basins=2, model={"hidden_size": 8},
                           epochs=epochs, batch_size=64)
    for key in ("name", "runs_dir"):
        base.pop(key)
    base["train"].pop("seed")
    base["data"]["cache_dir"] = str(cache)
    return ExperimentConfig(name="tiny", experiment_dir=exp_dir, base=base, seeds=list(seeds),
                            configurations={c: PAPER_CONFIGURATIONS[c] for c in configurations})


@pytest.fixture(scope="module")
def finished(demo_camels, cache_dir, tmp_path_factory) -> ExperimentConfig:
    """2 configurations x 2 seeds, trained one after another with one torch thread."""
    exp = tiny_experiment(demo_camels, tmp_path_factory.mktemp("exp") / "tiny", cache_dir)
    assert run_experiment(exp, Execution(threads=1)) == exp.experiment_dir
    return exp


def qsim(run_dir: Path, period: str = "test") -> np.ndarray:
    return xr.load_dataset(run_dir / f"predictions_{period}.nc")["qsim"].values


def test_every_member_and_ensemble_is_written(finished):
    root = finished.experiment_dir
    for configuration in CONFIGS:
        for seed in SEEDS:
            member = root / configuration / f"seed{seed}"
            assert sorted(list_checkpoints(member)) == [1]
            assert load_json(member / "summary_test.json")["epoch"] == 1
        ensemble = root / configuration / "ensemble"
        for name in ("predictions_test.nc", "metrics_test.csv", "summary_test.json"):
            assert (ensemble / name).is_file()
    saved = load_experiment_config(root / "experiment.yml")
    assert saved == finished


def test_ensemble_is_the_mean_of_the_members(finished):
    folder = finished.experiment_dir / "ealstm_nse"
    members = np.stack([qsim(folder / f"seed{s}") for s in SEEDS])
    expected = members.astype(np.float64).mean(axis=0).astype(np.float32)
    ensemble = xr.load_dataset(folder / "ensemble" / "predictions_test.nc")
    np.testing.assert_array_equal(ensemble["qsim"].values, expected)
    assert not np.array_equal(members[0], members[1])  # the seeds differ
    member_obs = xr.load_dataset(folder / "seed111" / "predictions_test.nc")["qobs"].values
    np.testing.assert_array_equal(ensemble["qobs"].values, member_obs)
    summary = load_json(folder / "ensemble" / "summary_test.json")
    assert summary["seeds"] == SEEDS and summary["n_members"] == 2 and summary["n_basins"] == 2


def test_collect_metrics_is_a_long_table(finished):
    table = collect_metrics(finished.experiment_dir, "test")
    assert list(table.columns[:3]) == ["configuration", "member", "basin"]
    assert {"nse", "kge", "n_valid", "status"} <= set(table.columns)
    assert list(table["configuration"].unique()) == list(CONFIGS)
    assert list(table["member"].unique()) == ["seed111", "seed222", "ensemble"]
    assert len(table) == 2 * 3 * 2
    assert all(len(b) == 8 for b in table["basin"])


def test_rerun_skips_finished_members(finished, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a finished member was trained or evaluated again")

    monkeypatch.setattr(runner, "train", refuse)
    monkeypatch.setattr(runner, "evaluate_run", refuse)
    before = qsim(finished.experiment_dir / "ealstm_nse" / "ensemble")
    run_experiment(finished, Execution(threads=1))
    np.testing.assert_array_equal(qsim(finished.experiment_dir / "ealstm_nse" / "ensemble"),
                                  before)


def test_partially_trained_member_is_resumed_exactly(demo_camels, cache_dir, tmp_path,
                                                     monkeypatch):
    one = {"configurations": ("ealstm_nse",), "seeds": [111]}
    full = tiny_experiment(demo_camels, tmp_path / "full", cache_dir, epochs=2, **one)
    run_experiment(full, Execution(threads=1))
    # as if killed after epoch 1 of 2: train a 1-epoch version, then raise the epochs
    parted = tiny_experiment(demo_camels, tmp_path / "parted", cache_dir, epochs=1, **one)
    run_experiment(parted, Execution(threads=1))
    calls = []
    real_train = runner.train
    monkeypatch.setattr(runner, "train", lambda cfg, resume, progress: calls.append(resume)
                        or real_train(cfg, resume, progress))
    resumed = tiny_experiment(demo_camels, tmp_path / "parted", cache_dir, epochs=2, **one)
    run_experiment(resumed, Execution(threads=1))
    assert calls == [True]
    a = load_checkpoint(tmp_path / "full" / "ealstm_nse" / "seed111")
    b = load_checkpoint(tmp_path / "parted" / "ealstm_nse" / "seed111")
    assert a["epoch"] == b["epoch"] == 2
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    summary = load_json(tmp_path / "parted" / "ealstm_nse" / "seed111" / "summary_test.json")
    assert summary["epoch"] == 2


@pytest.mark.slow
def test_two_workers_give_bit_identical_members(finished, demo_camels, cache_dir, tmp_path):
    exp = tiny_experiment(demo_camels, tmp_path / "parallel", cache_dir)
    run_experiment(exp, Execution(workers=2, threads=1))
    for configuration in CONFIGS:
        for member in [f"seed{s}" for s in SEEDS] + ["ensemble"]:
            np.testing.assert_array_equal(
                qsim(exp.experiment_dir / configuration / member),
                qsim(finished.experiment_dir / configuration / member))


def test_failing_member_is_reported_and_the_others_finish(demo_camels, cache_dir, tmp_path,
                                                          monkeypatch):
    real_train = runner.train

    def flaky(cfg, resume, progress):
        if cfg.train.seed == 222:
            raise RuntimeError("out of memory")
        return real_train(cfg, resume, progress)

    monkeypatch.setattr(runner, "train", flaky)
    exp = tiny_experiment(demo_camels, tmp_path / "flaky", cache_dir,
                          configurations=("lstm_no_static_mse",))
    with pytest.raises(ExperimentError, match=r"lstm_no_static_mse/seed222: RuntimeError: out of"):
        run_experiment(exp, Execution(threads=1))
    folder = exp.experiment_dir / "lstm_no_static_mse"
    assert (folder / "seed111" / "metrics_test.csv").is_file()
    assert load_json(folder / "ensemble" / "summary_test.json")["seeds"] == [111]
    np.testing.assert_array_equal(qsim(folder / "ensemble"), qsim(folder / "seed111"))
    assert build_ensembles(exp.experiment_dir, "lstm_no_static_mse").summary["seeds"] == [111]


def _dies_for_seed_222(raw, *args):
    """Member task whose worker process dies hard (like SIGKILL / OOM) for seed 222."""
    if raw["train"]["seed"] == 222:
        os._exit(9)
    return runner._member_task(raw, *args)


@pytest.mark.slow
def test_dying_worker_fails_only_its_member_and_is_retried(finished, demo_camels, cache_dir,
                                                          tmp_path, monkeypatch):
    exp = tiny_experiment(demo_camels, tmp_path / "dying", cache_dir,
                          configurations=("lstm_no_static_mse",))
    monkeypatch.setattr(runner, "_member_task", _dies_for_seed_222)
    with pytest.raises(ExperimentError, match=r"lstm_no_static_mse/seed222: WorkerDiedError: "
                                              r".*exit code 9"):
        run_experiment(exp, Execution(workers=2, threads=1))
    folder = exp.experiment_dir / "lstm_no_static_mse"
    assert (folder / "seed111" / "metrics_test.csv").is_file()
    assert not runner.member_finished(member_config(exp, "lstm_no_static_mse", 222), exp.periods)
    monkeypatch.undo()
    run_experiment(exp, Execution(workers=2, threads=1))  # the rerun retries seed 222 only
    reference = finished.experiment_dir / "lstm_no_static_mse"
    for member in ("seed111", "seed222", "ensemble"):
        np.testing.assert_array_equal(qsim(folder / member), qsim(reference / member))


def test_bad_configuration_key_fails_before_training(demo_camels, cache_dir, tmp_path,
                                                     monkeypatch):
    monkeypatch.setattr(runner, "train", lambda *a, **k: pytest.fail("trained a member"))
    exp = tiny_experiment(demo_camels, tmp_path / "exp", cache_dir)
    raw = exp.to_dict()
    raw["experiment_dir"] = "exp"
    raw["configurations"]["ealstm_nse"]["model"]["hiden_size"] = 8
    path = tmp_path / "experiment.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"(?s)configuration 'ealstm_nse'.*model\.hiden_size"):
        load_experiment_config(path)
    bad = exp.model_copy(update={"configurations": raw["configurations"]})
    with pytest.raises(ConfigError, match="ealstm_nse"):
        run_experiment(bad)
    assert not exp.experiment_dir.exists()


def test_seed_in_base_and_unknown_override_are_rejected(demo_camels, cache_dir, tmp_path):
    raw = tiny_experiment(demo_camels, tmp_path / "exp", cache_dir).to_dict()
    raw["base"]["train"]["seed"] = 5
    path = tmp_path / "experiment.yml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match="base.train.seed"):
        load_experiment_config(path)
    with pytest.raises(ConfigError, match="model.hidden_sise"):
        load_experiment_config(path, ["base.train={epochs: 1}", "base.model.hidden_sise=4"])


def test_scheduler_without_dask_is_a_clear_error(finished, monkeypatch):
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("dask.distributed is installed")
    monkeypatch.setattr(runner, "train", lambda *a, **k: pytest.fail("trained a member"))
    with pytest.raises(ImportError, match=r"pip install 'ealstm\[cluster\]'") as info:
        run_experiment(finished, Execution(scheduler="tcp://localhost:8786"))
    assert isinstance(info.value, EalstmError)  # the CLI reports it like any other error


def test_dask_cluster_gives_the_same_members(finished, demo_camels, cache_dir, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    exp = tiny_experiment(demo_camels, tmp_path / "dask", cache_dir, configurations=CONFIGS[1:])
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        run_experiment(exp, Execution(threads=1, scheduler=cluster.scheduler_address))
    for member in ("seed111", "seed222", "ensemble"):
        np.testing.assert_array_equal(qsim(exp.experiment_dir / "ealstm_nse" / member),
                                      qsim(finished.experiment_dir / "ealstm_nse" / member))


def test_paper_config_has_six_configurations_and_eight_seeds(demo_camels):
    exp = load_experiment_config(CONFIGS_DIR / "experiment_paper.yml",
                                 [f"base.data.data_dir={demo_camels}"])
    assert list(exp.configurations) == list(PAPER_CONFIGURATIONS)
    assert exp.seeds == [111, 222, 333, 444, 555, 666, 777, 888]
    cfg = member_config(exp, "lstm_no_static_mse", 333)
    assert (cfg.model.name, cfg.model.use_static, cfg.train.loss) == ("lstm", False, "mse")
    assert cfg.run_dir == exp.experiment_dir / "lstm_no_static_mse" / "seed333"
    assert cfg.train.seed == 333 and cfg.model.hidden_size == 256
    assert cfg.data.seq_length == 270 and cfg.data.basin_file.is_file()
    ealstm = member_config(exp, "ealstm_nse", 111)
    assert (ealstm.model.name, ealstm.train.loss) == ("ealstm", "nse_star")


def test_sample_config_loads(shared_camels):
    exp = load_experiment_config(CONFIGS_DIR / "experiment_sample.yml")
    assert exp.base["data"]["data_dir"] == str(shared_camels.resolve())
    assert len(exp.configurations) == 6 and exp.seeds == [111, 222]
    assert member_config(exp, "ealstm_nse", 222).data.forcings == "nldas"


def test_unreachable_scheduler_is_a_config_error_after_a_short_timeout():
    seen = {}

    class RefusingClient:  # what dask.distributed.Client does when nobody listens
        def __init__(self, address, timeout):
            seen.update(address=address, timeout=timeout)
            raise OSError(f"Timed out trying to connect to {address} after {timeout} s")

    with pytest.raises(ConfigError, match=r"--scheduler tcp://10\.0\.0\.1:8786: no Dask "
                       r"scheduler answered within 5 s \(OSError: Timed out"):
        pool._connect(RefusingClient, "tcp://10.0.0.1:8786")
    assert seen == {"address": "tcp://10.0.0.1:8786", "timeout": pool.SCHEDULER_TIMEOUT_S}
    assert pool.SCHEDULER_TIMEOUT_S <= 5


def _drop_clip_attribute(path: Path) -> None:
    """Rewrite a predictions file as the code before the fidelity fixes wrote it."""
    ds = xr.load_dataset(path)
    del ds.attrs["clip_negative"]
    ds.to_netcdf(path)


def test_predictions_without_clip_attribute_are_evaluated_again(finished, demo_camels, cache_dir,
                                                                tmp_path, monkeypatch):
    exp = tiny_experiment(demo_camels, tmp_path / "old", cache_dir, configurations=CONFIGS[:1])
    run_experiment(exp, Execution(threads=1))
    member = exp.experiment_dir / CONFIGS[0] / "seed111"
    _drop_clip_attribute(member / "predictions_test.nc")
    assert not runner.member_finished(member_config(exp, CONFIGS[0], 111), exp.periods)
    evaluated = []
    real = runner.evaluate_run
    monkeypatch.setattr(runner, "evaluate_run",
                        lambda run_dir, period, epoch: evaluated.append(run_dir.name)
                        or real(run_dir, period, epoch=epoch))
    run_experiment(exp, Execution(threads=1))
    assert evaluated == ["seed111"]
    assert xr.load_dataset(member / "predictions_test.nc").attrs["clip_negative"] == 1


def test_ensemble_refuses_members_from_before_the_fidelity_fixes(finished, tmp_path):
    import shutil

    folder = tmp_path / CONFIGS[0]
    shutil.copytree(finished.experiment_dir / CONFIGS[0], folder)
    _drop_clip_attribute(folder / "seed222" / "predictions_test.nc")
    with pytest.raises(EalstmError, match=r"members \['seed222'\].*predate the fidelity fixes"):
        build_ensembles(tmp_path, CONFIGS[0], "test", SEEDS)
    assert build_ensembles(tmp_path, CONFIGS[0], "test").summary["seeds"] == [111]
    ds = xr.load_dataset(folder / "seed111" / "predictions_test.nc")
    ds.attrs["clip_negative"] = 0
    ds.to_netcdf(folder / "seed222" / "predictions_test.nc")
    with pytest.raises(EalstmError, match="differ in evaluation.clip_negative"):
        build_ensembles(tmp_path, CONFIGS[0], "test", SEEDS)


def test_member_trained_before_the_fidelity_fixes_is_not_reused(demo_camels, cache_dir, tmp_path):
    exp = tiny_experiment(demo_camels, tmp_path / "old", cache_dir, configurations=CONFIGS[:1],
                          seeds=[111])
    run_experiment(exp, Execution(threads=1))
    member = exp.experiment_dir / CONFIGS[0] / "seed111"
    (member / "nse_star_std.csv").unlink()  # as a member trained with the pre-fix NSE* weights
    with pytest.raises(CheckpointError, match=r"cannot reuse .*seed111.*pre-fix NSE. weights"):
        runner.run_member(member_config(exp, CONFIGS[0], 111), exp.periods)
