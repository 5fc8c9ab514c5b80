"""Config ergonomics: hints for unknown keys, unquoted basin ids, --set paths, from-nh."""

from pathlib import Path

import pytest
import yaml

from ealstm.cli import main
from ealstm.config import load_config, parse_config
from ealstm.config_nh import convert_nh_config
from ealstm.errors import ConfigError


def _raw(tmp_path: Path) -> dict:
    return {"name": "t", "runs_dir": str(tmp_path / "runs"),
            "data": {"data_dir": str(tmp_path),
                     "train_period": {"start": "2000-01-01", "end": "2000-12-31"},
                     "test_period": {"start": "2001-01-01", "end": "2001-12-31"}}}


def _error(raw: dict) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_config(raw)
    return str(exc.value)


@pytest.mark.parametrize("section, key, expected", [
    ("data", "seq_lenght", "did you mean `data.seq_length`?"),
    ("train", "batchsize", "did you mean `train.batch_size`?"),
    ("model", "hiden_size", "did you mean `model.hidden_size`?"),
    ("data", "hidden_size", "it belongs in another section: `model.hidden_size`"),
    (None, "learning_rate", "it belongs in another section: `train.learning_rate`"),
    (None, "experiment_name", "neuralhydrology's name; ealstm spells it `name`"),
    (None, "train_start_date", "ealstm spells it `data.train_period.start`"),
    (None, "output_dropout", "ealstm spells it `model.dropout`"),
    (None, "target_variables", "ealstm spells it `data.target`"),
    (None, "train_basin_file", "ealstm spells it `data.basin_file`"),
    (None, "optimizer", "always trains with Adam"),
])
def test_unknown_key_gets_a_hint(tmp_path, section, key, expected):
    raw = _raw(tmp_path)
    (raw.setdefault(section, {}) if section else raw)[key] = 1
    message = _error(raw)
    where = f"{section}.{key}" if section else key
    line = next(x for x in message.splitlines() if x.strip().startswith(f"{where}:"))
    assert line.strip().startswith(f"{where}: unknown key; ") and expected in line


def test_nested_typo_names_the_full_path(tmp_path):
    raw = _raw(tmp_path)
    raw["data"]["train_period"]["strat"] = "2000-01-01"
    assert "data.train_period.strat: unknown key; did you mean `data.train_period.start`?" in (
        _error(raw))


@pytest.mark.parametrize("dataset", ["camels_us", "generic"])
def test_unquoted_basin_ids_are_rejected_with_quote_hint(tmp_path, dataset):
    # YAML 1.1 reads 01013500 as octal 268096 and 1013500 as decimal: neither is recoverable
    # with certainty, so both are rejected whatever the data set.
    text = yaml.safe_dump(_raw(tmp_path)).replace("data:\n", f"data:\n  dataset: {dataset}\n"
                                                  "  basins: [01013500, 1013500, '01022500']\n"
                                                  "  dynamic_inputs: [p]\n"
                                                  "  static_attributes: []\n")
    path = tmp_path / "c.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    message = str(exc.value)
    assert "data.basins.0: basin id 268096 was read as a number: quote basin ids" in message
    assert "data.basins.1: basin id 1013500" in message
    assert "basins.2" not in message


def test_quoted_basin_ids_keep_their_zeros(tmp_path):
    raw = _raw(tmp_path)
    raw["data"]["basins"] = ["01013500"]
    assert parse_config(raw).data.basins == ("01013500",)


def test_set_paths_are_relative_to_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "work" / "data").mkdir(parents=True)
    raw = _raw(tmp_path)
    raw["runs_dir"] = "runs"  # in the file: relative to the file
    path = tmp_path / "conf" / "c.yml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path / "work")
    cfg = load_config(path, ["data.data_dir=data", "data.cache_dir=cache"])
    assert cfg.data.data_dir == tmp_path / "work" / "data"
    assert cfg.data.cache_dir == tmp_path / "work" / "cache"
    assert cfg.runs_dir == tmp_path / "conf" / "runs"
    cfg = load_config(path, ["runs_dir=out", "data={data_dir: data, train_period: "
                             "{start: 2000-01-01, end: 2000-12-31}, test_period: "
                             "{start: 2001-01-01, end: 2001-12-31}}"])
    assert cfg.runs_dir == tmp_path / "work" / "out"
    assert cfg.data.data_dir == tmp_path / "work" / "data"


NH_CONFIG = """
experiment_name: nh run
run_dir: runs
train_basin_file: basins.txt
validation_basin_file: basins.txt
test_basin_file: other.txt
train_start_date: '01/10/2000'
train_end_date: '30/09/2001'
validation_start_date: '01/10/1999'
validation_end_date: '30/09/2000'
test_start_date: '01/10/1998'
test_end_date: '30/09/1999'
model: cudalstm
hidden_size: 8
initial_forget_bias: 3
output_dropout: 0.25
optimizer: Adam
loss: NSE
learning_rate: {0: 1e-3, 30: 5e-4}
batch_size: 64
epochs: 2
clip_gradient_norm: 1
seq_length: 10
predict_last_n: 1
dataset: camels_us
data_dir: DATA
forcings: [maurer_extended]
dynamic_inputs: [PRCP(mm/day), SRAD(W/m2), Tmax(C), Tmin(C), Vp(Pa)]
target_variables: [QObs(mm/d)]
static_attributes: [elev_mean, p_mean]
log_tensorboard: True
seed: 3
"""


def test_from_nh_converts_every_mappable_key(demo_camels, tmp_path):
    basins = (demo_camels / "basin_list.txt").read_text().split()[:2]
    (tmp_path / "basins.txt").write_text("\n".join(basins) + "\n")
    nh = yaml.safe_load(NH_CONFIG.replace("DATA", str(demo_camels)))
    raw, unmapped = convert_nh_config(nh, cwd=tmp_path)
    assert raw["data"]["train_period"] == {"start": "2000-10-01", "end": "2001-09-30"}
    assert raw["data"]["basin_file"] == str(tmp_path / "basins.txt")
    assert raw["data"]["dynamic_inputs"] == ["prcp", "srad", "tmax", "tmin", "vp"]
    assert raw["data"]["target"] == "qobs" and raw["data"]["forcings"] == "maurer_extended"
    assert raw["model"] == {"name": "lstm", "use_static": True, "hidden_size": 8,
                            "initial_forget_bias": 3, "dropout": 0.25}
    # NH sets key 0 before epoch 1 and key k at the start of epoch k.
    assert raw["train"]["learning_rate"] == {1: 1e-3, 30: 5e-4}
    assert raw["train"]["loss"] == "nse_star" and raw["train"]["clip_grad_norm"] == 1
    assert raw["name"] == "nh_run" and raw["runs_dir"] == str(tmp_path / "runs")
    assert set(unmapped) == {"test_basin_file: 'other.txt'", "optimizer: 'Adam'",
                             "log_tensorboard: True"}


def test_from_nh_cli_writes_a_config_that_validates(demo_camels, tmp_path, monkeypatch, capsys):
    basins = (demo_camels / "basin_list.txt").read_text().split()[:2]
    (tmp_path / "basins.txt").write_text("\n".join(basins) + "\n")
    nh_path = tmp_path / "nh.yml"
    nh_path.write_text(NH_CONFIG.replace("DATA", str(demo_camels)).replace("loss: NSE",
                                                                             "loss: RMSE"))
    monkeypatch.chdir(tmp_path)
    assert main(["config", "from-nh", "nh.yml", "--out", "sub/ealstm.yml"]) == 0
    text = (tmp_path / "sub" / "ealstm.yml").read_text()
    assert "#   loss: 'RMSE'  -- ealstm has no loss 'RMSE'" in text
    assert "#   optimizer: 'Adam'  -- ealstm always trains with Adam" in text
    cfg = load_config(tmp_path / "sub" / "ealstm.yml")
    assert cfg.data.basin_file == tmp_path / "basins.txt"
    assert cfg.train.lr_at(29) == 1e-3 and cfg.train.lr_at(30) == 5e-4
    assert cfg.train.loss == "nse_star"  # RMSE not mapped: ealstm's default stays
    assert main(["config", "from-nh", "nh.yml"]) == 0
    assert "name: nh_run" in capsys.readouterr().out


def test_from_nh_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["config", "from-nh", str(tmp_path / "nope.yml")]) == 2
    assert "neuralhydrology config file" in capsys.readouterr().err
