"""The CLI as a user drives it: real CAMELS-US basins from ../shared, and clear errors."""

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
import yaml

from ealstm.cli import main
from tests.conftest import tiny_run_config

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "camels_sample_ealstm.yml"


@pytest.mark.slow
def test_train_and_evaluate_real_basins(shared_camels, tmp_path, capsys):
    overrides = [
        f"runs_dir={tmp_path}", f"data.data_dir={shared_camels}",
        f"data.cache_dir={tmp_path / 'cache'}",
        "data.basins=['01022500', '08023080', '06221400']",
        "data.train_period={start: 2003-10-01, end: 2004-09-30}",
        "data.test_period={start: 2000-10-01, end: 2001-09-30}",
        "data.seq_length=30", "model.hidden_size=16", "train.epochs=1", "train.batch_size=128",
    ]
    args = ["train", str(CONFIG), "--no-progress", "--evaluate"]
    assert main(args + [x for o in overrides for x in ("--set", o)]) == 0
    run_dir = tmp_path / "camels_sample_ealstm"
    out = capsys.readouterr().out
    assert "median NSE" in out
    metrics = pd.read_csv(run_dir / "metrics_test.csv", dtype={"basin": str}).set_index("basin")
    assert set(metrics.index) == {"01022500", "08023080", "06221400"}
    # 06221400's record starts 2002-06-30: no test observations, reported as such.
    assert metrics.loc["06221400", "status"] != "ok"
    assert metrics.loc["01022500", "status"] == "ok"
    ds = xr.open_dataset(run_dir / "predictions_test.nc")
    assert ds["qobs"].attrs["units"] == "mm/day"
    assert main(["evaluate", str(run_dir), "--period", "test"]) == 0


def test_bad_config_exits_2_with_key(tmp_path, capsys):
    bad = tmp_path / "bad.yml"
    bad.write_text("name: x\ndata: {data_dir: /nonexistent}\ntrain: {epochz: 1}\n")
    assert main(["train", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "train.epochz" in err and "data.data_dir" in err


def test_evaluate_missing_run_exits_2(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope")]) == 2
    assert "config.yml" in capsys.readouterr().err


HELP_COMMANDS = [
    [], ["train"], ["evaluate"], ["demo"], ["data", "synthetic"], ["data", "download"],
    ["experiment"], ["report"], ["analyze", "robustness"], ["analyze", "sensitivity"],
    ["analyze", "embedding"], ["tune"], ["ungauged"], ["plot", "hydrograph"], ["plot", "map"],
    ["config", "from-nh"],
]


@pytest.mark.parametrize("command", HELP_COMMANDS)
def test_help_everywhere(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*command, "--help"])
    assert exc.value.code == 0
    assert "usage: ealstm" in capsys.readouterr().out


def test_analyze_commands_write_into_the_run(tiny_ealstm_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_ealstm_run, run)
    assert main(["analyze", "robustness", str(run), "--sigmas", "0.5", "1.0", "--draws", "3"]) == 0
    assert main(["analyze", "sensitivity", str(run)]) == 0
    assert main(["analyze", "embedding", str(run), "--k-max", "3", "--n-init", "2"]) == 0
    for name in ("robustness/summary.csv", "sensitivity/ranking.csv", "embedding/silhouette.csv"):
        assert (run / "analysis" / name).is_file(), name
    assert "robustness:" in capsys.readouterr().out


def test_analyze_lstm_without_statics_is_a_clear_error(demo_camels, tmp_path, capsys):
    from ealstm.config import parse_config
    from ealstm.training.loop import train

    raw = tiny_run_config(demo_camels, tmp_path, epochs=1,
                          model={"name": "lstm", "use_static": False, "hidden_size": 8})
    run = train(parse_config(raw), progress=False)
    assert main(["analyze", "sensitivity", str(run)]) == 2
    assert "static" in capsys.readouterr().err


@pytest.mark.slow
def test_tune_and_ungauged_from_the_command_line(demo_camels, tmp_path, capsys):
    base = tiny_run_config(demo_camels, tmp_path / "unused", n_basins=4, epochs=1)
    base = {key: base[key] for key in ("data", "model", "train")}
    search = {"name": "tiny", "search_dir": str(tmp_path / "search"), "base": base, "k": 2,
              "grid": {"model.hidden_size": [4, 8]}}
    path = tmp_path / "search.yml"
    path.write_text(yaml.safe_dump(search))
    assert main(["tune", str(path), "--no-progress"]) == 0
    best = tmp_path / "search" / "best_config.yml"
    assert best.is_file() and "best:" in capsys.readouterr().out
    out = tmp_path / "pub"
    assert main(["ungauged", str(best), "--k", "2", "--out", str(out), "--no-progress"]) == 0
    assert (out / "metrics_test.csv").is_file()
    assert "ungauged (2-fold)" in capsys.readouterr().out


# --- issue 10: every bad input is one line on stderr and exit code 2, never a traceback ---------


def _one_line_error(capsys, *words: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("ealstm: error: "), err
    assert len(err.strip().splitlines()) == 1 or "invalid config" in err, err
    for word in words:
        assert word in err, (word, err)
    return err


def test_duplicate_yaml_key_exits_2(demo_camels, tmp_path, capsys):
    path = tmp_path / "dup.yml"
    path.write_text(yaml.safe_dump(tiny_run_config(demo_camels, tmp_path)) + "name: other\n")
    assert main(["train", str(path)]) == 2
    _one_line_error(capsys, str(path), "duplicate key 'name'")


def test_overlapping_periods_exit_2(demo_camels, tmp_path, capsys):
    path = tmp_path / "run.yml"
    path.write_text(yaml.safe_dump(tiny_run_config(demo_camels, tmp_path)))
    assert main(["train", str(path), "--set",
                 "data.test_period={start: 2001-01-01, end: 2001-12-31}"]) == 2
    _one_line_error(capsys, "data.test_period", "overlaps data.train_period",
                    "allow_period_overlap")


def test_cuda_without_cuda_exits_2(demo_camels, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    path = tmp_path / "run.yml"
    path.write_text(yaml.safe_dump(tiny_run_config(demo_camels, tmp_path, device="cuda")))
    assert main(["train", str(path), "--no-progress"]) == 2
    _one_line_error(capsys, "train.device 'cuda': no cuda device on this machine")


def test_unwritable_runs_dir_exits_2(demo_camels, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the runs folder should be")
    path = tmp_path / "run.yml"
    path.write_text(yaml.safe_dump(tiny_run_config(demo_camels, blocker / "runs")))
    assert main(["train", str(path), "--no-progress"]) == 2
    _one_line_error(capsys, str(blocker))


def test_full_disk_during_checkpoint_save_exits_2(demo_camels, tmp_path, capsys, monkeypatch):
    def torch_save(obj, tmp):  # what torch.save raises on a full disk: no errno
        Path(tmp).write_bytes(b"PK partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter "
                           "failed writing file data/0: file write failed")

    monkeypatch.setattr("ealstm.runs.checkpoint.torch.save", torch_save)
    monkeypatch.setattr("ealstm.io._free_bytes", lambda folder: 0)
    path = tmp_path / "run.yml"
    path.write_text(yaml.safe_dump(tiny_run_config(demo_camels, tmp_path / "runs")))
    assert main(["train", str(path), "--no-progress"]) == 2
    _one_line_error(capsys, "epoch_001.pt: disk full")
    assert not list((tmp_path / "runs").rglob("*.tmp"))


def test_full_disk_during_netcdf_save_exits_2(tiny_ealstm_run, tmp_path, capsys, monkeypatch):
    def to_netcdf(self, tmp, **kwargs):  # what netCDF4 raises on a full disk
        Path(tmp).write_bytes(b"\x89HDF partial")
        raise RuntimeError("NetCDF: HDF error")

    run = tmp_path / "run"
    shutil.copytree(tiny_ealstm_run, run)
    before = sorted(p.name for p in run.iterdir())
    monkeypatch.setattr(xr.Dataset, "to_netcdf", to_netcdf)
    monkeypatch.setattr("ealstm.io._free_bytes", lambda folder: 0)
    assert main(["evaluate", str(run)]) == 2
    _one_line_error(capsys, ".nc: disk full")
    assert not [name for name in os.listdir(run) if name not in before and name.endswith(".tmp")]


@pytest.mark.parametrize(("name", "content", "words"),
                         [("scaler.json", '{"dynamic": [', "scaler.json is corrupt"),
                          ("config.yml", "name: [unclosed\n", "config.yml, line 2")])
def test_corrupt_run_file_exits_2(tiny_ealstm_run, tmp_path, capsys, name, content, words):
    run = tmp_path / "run"
    shutil.copytree(tiny_ealstm_run, run)
    (run / name).write_text(content)
    assert main(["evaluate", str(run)]) == 2
    _one_line_error(capsys, words)
