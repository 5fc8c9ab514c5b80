from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from ealstm.config import PAPER_ATTRIBUTES, load_config, parse_config, validate_model
from ealstm.errors import ConfigError
from ealstm.experiment.config import parse_experiment
from ealstm.experiment.search import SearchConfig

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


RUN_CONFIGS = sorted(p.name for p in CONFIGS.glob("*.yml")  # others tested elsewhere:
                     if not p.name.startswith(("experiment_", "search_", "caravan_dev_")))


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
# --- issue 10: bad input is one clear error -----------------------------------------------------


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"train": {"epochs": True}}, "train.epochs", "got the boolean true"),
        ({"train": {"batch_size": False}}, "train.batch_size", "got the boolean false"),
        ({"data": {"seq_length": True}}, "data.seq_length", "boolean"),
        ({"train": {"learning_rate": {1: float("inf")}}}, "train.learning_rate",
         "finite and positive"),
        ({"train": {"learning_rate": {1: float("nan")}}}, "train.learning_rate",
         "finite and positive"),
        ({"train": {"learning_rate": {1: 0.0}}}, "train.learning_rate", "finite and positive"),
        ({"train": {"device": "gpu"}}, "train.device", "unknown device 'gpu'"),
        ({"data": {"invalid_values": "ignore"}}, "data.invalid_values", "'error' or 'mask'"),
    ],
)
def test_issue10_bad_values_name_the_key(tmp_path, change, key, words):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as info:
        parse_config(_raw(tmp_path, **change))
    assert words in str(info.value)


def test_booleans_stay_valid_where_a_boolean_is_meant(tmp_path):
    cfg = parse_config(_raw(tmp_path, model={"name": "lstm", "use_static": False},
                            train={"device": "cuda:1", "clip_grad_norm": None}))
    assert cfg.model.use_static is False and cfg.train.device == "cuda:1"


@pytest.mark.parametrize("name", ["validation", "test"])
def test_period_overlapping_train_is_an_error_unless_allowed(tmp_path, name):
    overlap = {f"{name}_period": {"start": "2000-12-01", "end": "2001-03-31"}}
    with pytest.raises(ConfigError, match=rf"data\.{name}_period 2000-12-01\.\.2001-03-31 "
                       r"overlaps data\.train_period 2000-01-01\.\.2000-12-31") as info:
        parse_config(_raw(tmp_path, data=overlap))
    assert "allow_period_overlap" in str(info.value)
    cfg = parse_config(_raw(tmp_path, data={**overlap, "allow_period_overlap": True}))
    assert cfg.data.allow_period_overlap


def test_adjacent_periods_do_not_overlap(tmp_path):
    cfg = parse_config(_raw(tmp_path, data={"test_period": {"start": "2001-01-01",
                                                           "end": "2001-02-01"}}))
    assert cfg.data.test_period.start.isoformat() == "2001-01-01"


def _write(tmp_path: Path, text: str | bytes) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    path = tmp_path / "run.yml"
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


BASE = ("name: t\ndata:\n  data_dir: data\n  train_period: {start: 2000-01-01, end: 2000-12-31}\n"
        "  test_period: {start: 2001-01-01, end: 2001-12-31}\n")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (BASE + "train: {epochs: 3\n", "line 7, column 1: invalid YAML: expected ',' or '}'"),
        (BASE + "train:\n  epochs: 3\n  epochs: 5\n", "line 8, column 3: invalid YAML: "
         "duplicate key 'epochs'"),
        (BASE.replace("2000-12-31", "2000-02-30"), "line 4, column 42: invalid YAML: invalid "
         "date '2000-02-30' (day is out of range for month)"),
        (BASE.replace("end: 2000-12-31", "end: 2000-12-31 12:00:00"), "has a time of day"),
        (BASE.encode() + b"# caf\xe9\n", f"is not UTF-8 text (byte {len(BASE) + 5}: b'\\xe9')"),
    ],
)
def test_unreadable_yaml_is_one_config_error_naming_the_file(tmp_path, text, words):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and words in message, message
    assert "\n" not in message


def test_override_with_bad_yaml_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="override 'train.epochs=\\[1'"):
        load_config(_write(tmp_path, BASE), ["train.epochs=[1"])


def test_shipped_configs_keep_disjoint_periods():
    for path in sorted(CONFIGS.glob("*.yml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        data = raw.get("data") or (raw.get("base") or {}).get("data") or {}
        train, test = data.get("train_period"), data.get("test_period")
        if train and test:
            assert test["end"] < train["start"] or train["end"] < test["start"], path


def test_expand_config_sets_dotted_keys_on_a_copy_in_order():
    from ealstm.config import expand_config, parse_overrides

    base = {"model": {"hidden_size": 8, "dropout": 0.1}, "train": None}
    pairs = [("model.hidden_size", 16), ("train.epochs", 2), ("model", {"name": "lstm"}),
             ("model.dropout", 0.5)]
    out = expand_config(base, pairs)
    assert out == {"model": {"name": "lstm", "dropout": 0.5}, "train": {"epochs": 2}}
    assert base == {"model": {"hidden_size": 8, "dropout": 0.1}, "train": None}  # untouched
    assert parse_overrides(["model.hidden_size=16", "data.seq_length=[1, 2]"]) == [
        ("model.hidden_size", 16), ("data.seq_length", [1, 2])]
    with pytest.raises(ConfigError, match="'model.hidden_size.x': 'hidden_size' is not a section"):
        expand_config(base, {"model.hidden_size.x": 1})


def test_section_keys_merge_one_section_deep():
    from ealstm.experiment.config import section_keys

    assert section_keys({"model": {"name": "lstm", "use_static": False}, "name": "x"}) == {
        "model.name": "lstm", "model.use_static": False, "name": "x"}


# --- issue 10: booleans are no numbers in the experiment and search configs either ---------------


def _experiment(tmp_path, **change):
    return {"name": "exp", "experiment_dir": str(tmp_path / "exp"), "base": {}, **change}


def _search(tmp_path, **change):
    return {"name": "s", "search_dir": str(tmp_path / "s"), "base": {}, **change}


@pytest.mark.parametrize(("change", "key", "words"),
                         [({"seeds": [True]}, "seeds", "got a boolean"),
                          ({"seeds": [111, False]}, "seeds", "got a boolean")])
def test_experiment_config_rejects_booleans_for_numbers(tmp_path, change, key, words):
    with pytest.raises(ConfigError, match=rf"\n  {key}: expected a number, {words}"):
        parse_experiment(_experiment(tmp_path, **change), source="exp.yml")


@pytest.mark.parametrize(("change", "key", "words"),
                         [({"k": True}, "k", "got the boolean true"),
                          ({"fold_seed": False}, "fold_seed", "got the boolean false")])
def test_search_config_rejects_booleans_for_numbers(tmp_path, change, key, words):
    with pytest.raises(ConfigError, match=rf"\n  {key}: expected a number, {words}"):
        validate_model(SearchConfig, _search(tmp_path, **change), "s.yml", "search config")


def test_booleans_stay_valid_in_grids_and_numbers_in_seeds(tmp_path):
    grid = {"model.use_static": [True, False]}
    search = validate_model(SearchConfig, _search(tmp_path, grid=grid, k=2), "s.yml")
    assert search.grid == grid and search.k == 2
    assert parse_experiment(_experiment(tmp_path, seeds=[1, 0])).seeds == [1, 0]


def test_learning_rate_schedule_rejects_booleans(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.learning_rate: expected a number"):
        parse_config(_raw(tmp_path, train={"learning_rate": {1: True}}))


def test_init_from_set_on_the_command_line_is_resolved_against_the_cwd(tmp_path, monkeypatch):
    config = tmp_path / "cfg" / "run.yml"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump(_raw(tmp_path)))
    monkeypatch.chdir(tmp_path)
    cfg = load_config(config, ["train.init_from=rel/run"])
    assert Path(cfg.train.init_from) == (tmp_path / "rel" / "run").resolve()
    in_file = _raw(tmp_path, train={"init_from": "../old run #1: x"})
    config.write_text(yaml.safe_dump(in_file))
    assert Path(load_config(config).train.init_from) == (tmp_path / "old run #1: x").resolve()


def test_values_are_set_as_given_after_the_overrides(tmp_path):
    config = tmp_path / "run.yml"
    config.write_text(yaml.safe_dump(_raw(tmp_path)))
    odd = str(tmp_path / "a run #2: regional")
    cfg = load_config(config, ["train.init_from=elsewhere"], {"train.init_from": odd})
    assert str(cfg.train.init_from) == odd
