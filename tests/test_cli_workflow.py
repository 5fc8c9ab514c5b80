"""The daily workflow from the command line: train -> evaluate -> predict -> fine-tune."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from ealstm.cli import main
from ealstm.data.scaling import Scaler
from ealstm.io import load_json
from ealstm.runs.checkpoint import list_checkpoints, load_checkpoint
from ealstm.training import loop
from tests.conftest import tiny_run_config

#: Validation scores the patched validation returns, epoch by epoch: best is epoch 2, and with
#: patience 2 training stops after epoch 4 (epochs 3 and 4 do not improve on it).
SCORES = [0.1, 0.5, 0.3, 0.4, 0.9, 0.95]


def _write_config(path: Path, raw: dict) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def validated_run(demo_camels, tmp_path_factory) -> Path:
    """A run trained with validation every epoch, patience 2 and the scores of SCORES."""
    tmp = tmp_path_factory.mktemp("workflow")
    raw = tiny_run_config(demo_camels, tmp / "runs", epochs=6, validate_every=1, patience=2)
    scores = iter(SCORES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(loop, "validation_median_nse", lambda *args: next(scores))
        assert main(["train", str(_write_config(tmp / "c.yml", raw)), "--no-progress"]) == 0
    return tmp / "runs" / "tiny"


def test_best_epoch_is_recorded_and_training_stops_early(validated_run):
    assert sorted(list_checkpoints(validated_run)) == [1, 2, 3, 4]  # stopped after epoch 4
    best = load_json(validated_run / "best_epoch.json")
    assert best["epoch"] == 2 and best["val_median_nse"] == pytest.approx(0.5)
    assert best["validations_since_best"] == 2


def test_evaluate_defaults_to_the_best_epoch_and_tags_other_epochs(validated_run, tmp_path,
                                                                    caplog):
    run = Path(shutil.copytree(validated_run, tmp_path / "run"))
    with caplog.at_level("INFO", logger="ealstm.runs.best_epoch"):
        assert main(["evaluate", str(run)]) == 0
    assert "using epoch 2" in caplog.text and "best validation epoch" in caplog.text
    default = xr.load_dataset(run / "predictions_test.nc")
    assert default.attrs["epoch"] == 2
    assert main(["evaluate", str(run), "--epoch", "1"]) == 0
    other = xr.load_dataset(run / "predictions_test_epoch001.nc")
    assert other.attrs["epoch"] == 1
    assert (run / "metrics_test_epoch001.csv").is_file()
    assert (run / "summary_test_epoch001.json").is_file()
    assert xr.load_dataset(run / "predictions_test.nc").equals(default)  # not overwritten
    assert not np.allclose(other["qsim"], default["qsim"])
    assert main(["evaluate", str(run), "--epoch", "2"]) == 0  # the default: no tag
    assert not (run / "predictions_test_epoch002.nc").exists()


def test_predict_equals_evaluate_on_the_test_period(validated_run, tmp_path):
    run = Path(shutil.copytree(validated_run, tmp_path / "run"))
    assert main(["evaluate", str(run)]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    args = ["predict", str(run), "--start", "1998-10-01", "--end", "1999-09-30"]
    assert main(args) == 0
    out = run / "predict" / "predictions_19981001_19990930.nc"
    predicted, evaluated = xr.load_dataset(out), xr.load_dataset(run / "predictions_test.nc")
    # Another date axis (the cache holds only the period and its warm-up), the same numbers.
    np.testing.assert_array_equal(predicted["qsim"].values, evaluated["qsim"].values)
    np.testing.assert_array_equal(predicted["qobs"].values, evaluated["qobs"].values)
    assert predicted.attrs["epoch"] == 2
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert after == before  # the run's own results are untouched


def test_predict_a_basin_without_discharge(validated_run, demo_camels, tmp_path, capsys):
    data = Path(shutil.copytree(demo_camels, tmp_path / "data"))
    basin = yaml.safe_load((validated_run / "config.yml").read_text())["data"]["basins"][1]
    for path in (data / "usgs_streamflow").glob(f"*/{basin}_streamflow_qc.txt"):
        path.unlink()
    common = ["predict", str(validated_run), "--start", "2002-01-01", "--end", "2002-06-30",
              "--data-dir", str(data)]
    assert main([*common, "--basins", basin, "--out", str(tmp_path / "alone.nc")]) == 0
    assert "no observations" in capsys.readouterr().out
    alone = xr.load_dataset(tmp_path / "alone.nc")
    assert "qobs" not in alone and alone["qsim"].shape == (1, 181)
    assert np.isfinite(alone["qsim"].values).all()
    gauged = tmp_path / "gauged.nc"
    assert main([*common[:6], "--basins", basin, "--out", str(gauged)]) == 0  # run's own data
    np.testing.assert_array_equal(alone["qsim"].values, xr.load_dataset(gauged)["qsim"].values)
    first = yaml.safe_load((validated_run / "config.yml").read_text())["data"]["basins"][0]
    assert main([*common, "--basins", first, basin, "--out", str(tmp_path / "both.nc")]) == 0
    both = xr.load_dataset(tmp_path / "both.nc")
    assert np.isfinite(both["qobs"].sel(basin=first)).all()
    assert np.isnan(both["qobs"].sel(basin=basin)).all()


def test_predict_default_names_keep_basin_selections_apart(validated_run, tmp_path):
    run = Path(shutil.copytree(validated_run, tmp_path / "run"))
    ids = yaml.safe_load((run / "config.yml").read_text())["data"]["basins"]
    common = ["predict", str(run), "--start", "2002-01-01", "--end", "2002-03-31"]
    for selection in ([ids[0]], [ids[1]], ids[:3], None):
        assert main([*common, *(["--basins", *selection] if selection else [])]) == 0
    names = sorted(p.name for p in (run / "predict").glob("*.nc"))
    assert len(names) == 4, names  # none overwrote another
    assert "predictions_20020101_20020331.nc" in names  # the run's own basins: no tag
    first = next(n for n in names if f"_{ids[0]}_" in n)
    assert xr.load_dataset(run / "predict" / first)["qsim"].basin.values.tolist() == [ids[0]]
    assert any("_3basins_" in n for n in names)
    assert main([*common, "--basins", ids[0]]) == 0  # the same selection: the same name
    assert len(list((run / "predict").glob("*.nc"))) == 4


def test_predict_outside_the_data_is_a_clear_error(validated_run, capsys):
    # The synthetic forcings start 1995-10-01; seq_length 10 needs 9 days before --start.
    args = ["predict", str(validated_run), "--start", "1995-10-05", "--end", "1996-03-31"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "1995-09-26..1996-03-31" in err and "--start >= 1995-10-10" in err
    assert main([*args[:3], "1995-10-10", *args[4:]]) == 0
    bad_out = ["--out", str(validated_run / "predictions_test.nc")]
    assert main([*args[:3], "2000-01-01", "--end", "2000-02-01", *bad_out]) == 2
    assert "run folder" in capsys.readouterr().err


def test_finetune_on_one_basin_starts_from_the_runs_weights(validated_run, demo_camels,
                                                            tmp_path):
    raw = tiny_run_config(demo_camels, tmp_path, name="local", n_basins=1, epochs=1,
                          learning_rate={1: 1e-30})
    config = _write_config(tmp_path / "local.yml", raw)
    assert main(["finetune", str(validated_run), str(config), "--no-progress"]) == 0
    new = tmp_path / "local"
    train_cfg = yaml.safe_load((new / "config.yml").read_text())["train"]
    assert train_cfg["init_from"] == str(validated_run.resolve()) and train_cfg["init_epoch"] == 2
    assert Scaler.from_dict(load_json(new / "scaler.json")).to_dict() == \
        Scaler.from_dict(load_json(validated_run / "scaler.json")).to_dict()
    source, tuned = load_checkpoint(validated_run, 2), load_checkpoint(new, 1)
    for key, value in source["model"].items():  # lr 1e-30: the weights are the source's
        torch.testing.assert_close(tuned["model"][key], value)
    steps = {int(s["step"]) for s in tuned["optimizer"]["state"].values()}
    assert steps == {int(np.ceil(365 / 64))}  # a fresh optimizer: one epoch of 365 samples


def test_finetune_with_another_architecture_is_refused(validated_run, demo_camels, tmp_path,
                                                       capsys):
    raw = tiny_run_config(demo_camels, tmp_path, name="other", n_basins=1,
                          model={"name": "ealstm", "hidden_size": 4})
    config = _write_config(tmp_path / "other.yml", raw)
    assert main(["finetune", str(validated_run), str(config)]) == 2
    assert "hidden_size: 8 there, 4 here" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()


def test_training_logs_one_tidy_line_per_epoch_without_redraws(demo_camels, tmp_path, caplog,
                                                               capsys):
    raw = tiny_run_config(demo_camels, tmp_path, n_basins=2, validate_every=1)
    with caplog.at_level("INFO", logger="ealstm.training.loop"):
        assert main(["train", str(_write_config(tmp_path / "c.yml", raw))]) == 0  # progress on
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    pattern = r"epoch [12]/2  lr 1\.0e-03  loss \d+\.\d{4}  val NSE -?\d+\.\d\d  \d+\.\d s"
    assert len(lines) == 2 and all(re.fullmatch(pattern, line) for line in lines)
    assert "\r" not in capsys.readouterr().err  # stderr is no terminal here: no tqdm bar


def test_a_run_that_stopped_early_is_not_resumed(validated_run, tmp_path, caplog):
    run = Path(shutil.copytree(validated_run, tmp_path / "tiny"))
    raw = yaml.safe_load((run / "config.yml").read_text())
    args = ["train", str(_write_config(run / "config.yml", {**raw, "runs_dir": str(tmp_path)})),
            "--resume"]
    with caplog.at_level("INFO", logger="ealstm.training.loop"):
        assert main(args) == 0
    assert "stopped early" in caplog.text
    assert sorted(list_checkpoints(run)) == [1, 2, 3, 4]


@pytest.mark.parametrize("command", ["predict", "finetune"])
def test_workflow_commands_have_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0 and "RUN_DIR" in capsys.readouterr().out.upper()


def test_finetune_into_the_source_run_folder_is_refused(validated_run, tmp_path, capsys):
    before = sorted(p.name for p in validated_run.iterdir())
    config = tmp_path / "same.yml"
    config.write_text((validated_run / "config.yml").read_text())
    assert main(["finetune", str(validated_run), str(config), "--no-progress"]) == 2
    assert "is the run being trained; give the new run another `name`" in \
        capsys.readouterr().err
    assert sorted(p.name for p in validated_run.iterdir()) == before
