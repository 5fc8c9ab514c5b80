from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from ealstm.config import PAPER_ATTRIBUTES, load_config, parse_config
from ealstm.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _raw(tmp_path: Path, **sections) -> dict:
    raw = {
        "name": "t",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"data_dir": str(tmp_path),
                 "train_period": {"start": "2000-01-01", "end": "2000-12-31"},
                 "test_period": {"start": "2001-01-01", "end": "2001-12-31"}},
    }
    for key, value in sections.items():
        raw.setdefault(key, {}).update(value)
    return raw


def test_defaults_are_the_papers(tmp_path):
    cfg = parse_config(_raw(tmp_path))
    assert len(PAPER_ATTRIBUTES) == 27 and len(set(PAPER_ATTRIBUTES)) == 27
    assert cfg.model.hidden_size == 256 and cfg.model.dropout == 0.4
    assert cfg.data.seq_length == 270 and cfg.data.forcings == "maurer_extended"
    assert cfg.train.batch_size == 256 and cfg.train.epochs == 30
    assert [cfg.train.lr_at(e) for e in (1, 10, 11, 20, 21, 30)] == [1e-3, 1e-3, 5e-4, 5e-4,
                                                                      1e-4, 1e-4]


def test_optimisation_defaults_are_the_papers_code(tmp_path):
    """main.py of the paper's code: clip norm 1, forget-gate bias 5, NSE* with eps 0.1,
    sequence-to-one, one layer, the five Maurer inputs and seed 111 for the first member."""
    cfg = parse_config(_raw(tmp_path))
    assert cfg.train.clip_grad_norm == 1.0 and cfg.model.initial_forget_bias == 5.0
    assert (cfg.train.loss, cfg.train.nse_eps) == ("nse_star", 0.1)
    assert cfg.train.predict_last_n == 1 and cfg.model.num_layers == 1
    assert cfg.data.dynamic_inputs == ("prcp", "srad", "tmax", "tmin", "vp")
    assert cfg.train.seed == 111


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"train": {"epoch": 3}}, "train.epoch"),
        ({"train": {"batch_size": "many"}}, "train.batch_size"),
        ({"model": {"name": "transformer"}}, "model.name"),
        ({"data": {"forcings": "era5"}}, "data.forcings"),
        ({"data": {"data_dir": "/nonexistent/camels"}}, "data.data_dir"),
        ({"data": {"train_period": {"start": "2001-01-01", "end": "2000-01-01"}}},
         "data.train_period"),
        ({"model": {"name": "ealstm", "use_static": False}}, "model"),
    ],
)
def test_bad_values_name_the_key(tmp_path, change, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_config(_raw(tmp_path, **change))


def test_unknown_model_lists_choices(tmp_path):
    with pytest.raises(ConfigError, match="ealstm"):
        parse_config(_raw(tmp_path, model={"name": "gru"}))


def test_relative_paths_resolve_against_config_file_and_overrides(tmp_path):
    (tmp_path / "data").mkdir()
    raw = _raw(tmp_path)
    raw["data"]["data_dir"] = "data"
    raw["runs_dir"] = "runs"
    path = tmp_path / "sub" / "c.yml"
    path.parent.mkdir()
    raw["data"]["data_dir"] = "../data"
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path, ["train.epochs=2", "model.hidden_size=8"])
    assert cfg.data.data_dir == tmp_path / "data"
    assert cfg.run_dir == tmp_path / "sub" / "runs" / "t"
    assert cfg.train.epochs == 2 and cfg.model.hidden_size == 8


def test_override_syntax_error(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(_raw(tmp_path)))
    with pytest.raises(ConfigError, match="key.sub=value"):
        load_config(path, ["train.epochs"])


def test_config_is_frozen(tmp_path):
    cfg = parse_config(_raw(tmp_path))
    with pytest.raises(ValidationError):
        cfg.train.epochs = 3


RUN_CONFIGS = sorted(p.name for p in CONFIGS.glob("*.yml")
                     if not p.name.startswith(("experiment_", "search_")))  # tested elsewhere


@pytest.mark.parametrize("name", RUN_CONFIGS)
def test_shipped_configs_validate(name, tmp_path, shared_camels):
    overrides = [] if name.startswith("camels_sample") else [f"data.data_dir={shared_camels}"]
    cfg = load_config(CONFIGS / name, overrides)
    if not name.startswith("camels_sample"):
        assert cfg.data.basin_file.name == "basins_531.txt"
        assert cfg.data.forcings == "maurer_extended" and cfg.train.epochs == 30
    assert cfg.data.static_attributes == PAPER_ATTRIBUTES


def test_paper_basin_list_matches_shared(shared_camels):
    shipped = (CONFIGS / "basins_531.txt").read_text().split()
    assert shipped == (shared_camels / "basin_list_531.txt").read_text().split()
    assert len(shipped) == 531


def test_paper_configs_use_the_papers_periods():
    """Sect. 2.6: calibration 1999-10-01..2008-09-30, evaluation 1989-10-01..1999-09-30."""
    periods = {"train_period": {"start": "1999-10-01", "end": "2008-09-30"},
               "test_period": {"start": "1989-10-01", "end": "1999-09-30"}}
    experiment = yaml.safe_load((CONFIGS / "experiment_paper.yml").read_text())
    for name in ("ealstm_nse.yml", "lstm_static_mse.yml"):
        data = yaml.safe_load((CONFIGS / name).read_text())["data"]
        for raw in (data, experiment["base"]["data"]):
            for key, value in periods.items():
                assert {k: str(v) for k, v in raw[key].items()} == value
