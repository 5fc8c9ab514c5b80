"""Experiment configuration: one base run config, overrides per configuration, and seeds.

An experiment YAML file looks like this (see ``configs/experiment_paper.yml``)::

    name: paper
    experiment_dir: ../experiments/paper   # relative paths are relative to this file
    base:                                  # a run config without `name` and `runs_dir`
      data: {data_dir: ../data/camels_us, forcings: maurer_extended, ...}
      model: {hidden_size: 256, dropout: 0.4}
      train: {epochs: 30, batch_size: 256}
    configurations:                        # optional; default: the paper's six
      ealstm_nse: {model: {name: ealstm, use_static: true}, train: {loss: nse_star}}
    seeds: [111, 222]                      # optional; default: 111, 222, ..., 888
    periods: [test]                        # periods every member is evaluated on

The run config of member ``(configuration, seed)`` is ``base`` merged with the overrides of
``configuration`` section by section (a key inside ``model``, ``train``, ... replaces the base's
value whole: a ``learning_rate`` schedule is replaced, not merged), with
``runs_dir = experiment_dir / configuration``, ``name = f"seed{seed}"`` and
``train.seed = seed``. Seeds come only from ``seeds``: ``train.seed`` in ``base`` or in a
configuration is an error.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from ealstm.config import (
    RunConfig,
    _Frozen,
    _resolve_paths,
    expand_config,
    parse_config,
    parse_overrides,
    read_yaml_mapping,
    validate_model,
)
from ealstm.errors import ConfigError
from ealstm.runs.paths import RESERVED_NAMES

_LSTM_NO_STATIC = {"name": "lstm", "use_static": False}
_LSTM_STATIC = {"name": "lstm", "use_static": True}
_EALSTM = {"name": "ealstm", "use_static": True}
#: The six configurations of the paper (sect. 3.1): three model types x two losses.
PAPER_CONFIGURATIONS: dict[str, dict[str, Any]] = {
    f"{model}_{short}": {"model": dict(spec), "train": {"loss": loss}}
    for model, spec in (("lstm_no_static", _LSTM_NO_STATIC), ("lstm_static", _LSTM_STATIC),
                        ("ealstm", _EALSTM))
    for short, loss in (("mse", "mse"), ("nse", "nse_star"))
}
#: The paper's eight random seeds.
PAPER_SEEDS = (111, 222, 333, 444, 555, 666, 777, 888)
#: Folders of an experiment directory that are not configurations.
_NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


class ExperimentConfig(_Frozen):
    """Configurations x seeds of one experiment; saved as ``experiment.yml`` in its folder."""

    name: str = Field(pattern=_NAME_PATTERN)
    experiment_dir: Path
    base: dict[str, Any]
    configurations: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: copy.deepcopy(PAPER_CONFIGURATIONS))
    seeds: list[int] = Field(default_factory=lambda: list(PAPER_SEEDS))
    periods: list[Literal["train", "validation", "test"]] = Field(default_factory=lambda: ["test"])

    @field_validator("base")
    @classmethod
    def _base_has_no_member_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in ("name", "runs_dir"):
            if key in value:
                raise ValueError(f"`base.{key}` is set per member (runs_dir = experiment_dir/"
                                 "<configuration>, name = seed<seed>); remove it")
        _reject_seed(value, "base")
        return value

    @field_validator("configurations")
    @classmethod
    def _valid_configurations(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict]:
        if not value:
            raise ValueError("the experiment has no configuration")
        for name, overrides in value.items():
            if name in RESERVED_NAMES or not _valid_name(name):
                raise ValueError(f"configuration name {name!r} must match {_NAME_PATTERN} and "
                                 f"not be one of {RESERVED_NAMES}")
            for key in ("name", "runs_dir"):
                if key in overrides:
                    raise ValueError(f"configurations.{name}.{key} is set per member; remove it")
            _reject_seed(overrides, f"configurations.{name}")
        return value

    @field_validator("seeds", "periods")
    @classmethod
    def _unique_and_not_empty(cls, value: list) -> list:
        if not value:
            raise ValueError("give at least one value")
        if len(set(value)) != len(value):
            raise ValueError(f"values repeat: {value}")
        return value

    def to_dict(self) -> dict[str, Any]:
        """Plain, YAML-safe representation (paths as strings)."""
        return self.model_dump(mode="json")


def _valid_name(name: str) -> bool:
    return re.fullmatch(_NAME_PATTERN, name) is not None


def _reject_seed(raw: dict[str, Any], where: str) -> None:
    train = raw.get("train")
    if isinstance(train, dict) and "seed" in train:
        raise ValueError(f"{where}.train.seed: the seeds of an experiment come from `seeds:`; "
                         "remove train.seed")


def section_keys(overrides: dict[str, Any]) -> dict[str, Any]:
    """``{section: {key: value}}`` -> ``{"section.key": value}``: merged one section deep."""
    return {f"{section}.{key}" if isinstance(values, dict) else section: value
            for section, values in overrides.items()
            for key, value in (values.items() if isinstance(values, dict) else [(None, values)])}


def member_raw(exp: ExperimentConfig, configuration: str, seed: int) -> dict[str, Any]:
    """Return the raw (unvalidated) run config of member ``(configuration, seed)``."""
    if configuration not in exp.configurations:
        raise ConfigError(f"experiment {exp.name!r} has no configuration {configuration!r}; "
                          f"choose from {list(exp.configurations)}")
    raw = expand_config(exp.base, section_keys(exp.configurations[configuration]))
    raw["train"] = {**(raw.get("train") or {}), "seed": seed}
    return {"name": f"seed{seed}", "runs_dir": str(exp.experiment_dir / configuration), **raw}


def member_config(exp: ExperimentConfig, configuration: str, seed: int) -> RunConfig:
    """Return the validated run config of member ``(configuration, seed)``.

    Raises
    ------
    ConfigError
        Naming the configuration, the seed and every bad key.
    """
    source = (f"of experiment {exp.name!r}, configuration {configuration!r} (base + "
              f"configurations.{configuration}), seed {seed}")
    cfg = parse_config(member_raw(exp, configuration, seed), source=source)
    for period in exp.periods:
        try:
            cfg.data.period(period)
        except ConfigError as exc:
            raise ConfigError(f"invalid config {source}: periods lists {period!r} but "
                              f"{exc}") from None
    return cfg


def validate_members(exp: ExperimentConfig) -> dict[tuple[str, int], RunConfig]:
    """Validate every member's run config; raise one error listing all bad configurations.

    Returns
    -------
    dict
        ``(configuration, seed) -> RunConfig`` in configuration-then-seed order.
    """
    members: dict[tuple[str, int], RunConfig] = {}
    errors = []
    for configuration in exp.configurations:
        try:
            for seed in exp.seeds:
                members[configuration, seed] = member_config(exp, configuration, seed)
        except ConfigError as exc:  # one message per configuration, not one per seed
            errors.append(str(exc))
    if errors:
        raise ConfigError("\n".join(errors))
    return members


def parse_experiment(raw: dict[str, Any], source: str = "<dict>") -> ExperimentConfig:
    """Validate a raw experiment dict; errors become one :class:`ConfigError`."""
    return validate_model(ExperimentConfig, raw, source, "experiment config")


def _resolve_experiment_paths(raw: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Make ``experiment_dir`` and the data paths of ``base`` and configurations absolute."""
    raw = dict(raw)
    if raw.get("experiment_dir") is not None:
        raw["experiment_dir"] = str((folder / Path(raw["experiment_dir"]).expanduser()).resolve())
    if isinstance(raw.get("base"), dict):
        raw["base"] = _resolve_paths(raw["base"], folder)
    if isinstance(raw.get("configurations"), dict):
        raw["configurations"] = {name: _resolve_paths(over, folder) if isinstance(over, dict)
                                 else over for name, over in raw["configurations"].items()}
    return raw


def load_experiment_config(path: Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read, override and validate an experiment YAML file, including every member's config.

    Parameters
    ----------
    path
        YAML file; relative paths inside it are relative to the file's folder.
    overrides
        ``key.sub=value`` strings (``--set``), e.g. ``base.train.epochs=3``, ``seeds=[111]`` or
        ``configurations.ealstm_nse.model.hidden_size=64``; applied after the paper's default
        configurations are filled in.

    Raises
    ------
    ConfigError
        If the file or any member config is invalid; raised before anything is trained.
    """
    path = Path(path)
    raw = read_yaml_mapping(path, "experiment config")
    raw.setdefault("configurations", copy.deepcopy(PAPER_CONFIGURATIONS))
    raw = _resolve_experiment_paths(raw, path.parent.resolve())
    raw = expand_config(raw, parse_overrides(overrides or []))
    exp = parse_experiment(raw, source=str(path))
    validate_members(exp)
    return exp
