"""Validated run configuration: YAML file -> frozen pydantic models.

Each stage receives only its own sub-config (``DataConfig``, ``ModelConfig``, ``TrainConfig``,
``EvalConfig``); nothing mutates a config after loading. Relative paths in a YAML file are
resolved against the folder that holds the file, so a config works from any working directory.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ealstm.errors import ConfigError, FileFormatError
from ealstm.io import load_yaml, parse_yaml
from ealstm.schedules import SCHEDULE_KINDS, lr_schedule

FORCING_PRODUCTS = ("daymet", "maurer", "maurer_extended", "nldas", "nldas_extended")
DEFAULT_DYNAMIC_INPUTS = ("prcp", "srad", "tmax", "tmin", "vp")
#: The 27 static attributes of the paper's Table A1, spelled as CAMELS v2.0 columns
#: (the paper's ``forest_frac``/``carb_rocks_frac``/``frac_snow_daily`` are ``frac_forest``,
#: ``carbonate_rocks_frac`` and ``frac_snow`` in the attribute files).
PAPER_ATTRIBUTES = (
    "p_mean", "pet_mean", "aridity", "p_seasonality", "frac_snow", "high_prec_freq",
    "high_prec_dur", "low_prec_freq", "low_prec_dur", "elev_mean", "slope_mean", "area_gages2",
    "frac_forest", "lai_max", "lai_diff", "gvf_max", "gvf_diff", "soil_depth_pelletier",
    "soil_depth_statsgo", "soil_porosity", "soil_conductivity", "max_water_content", "sand_frac",
    "silt_frac", "clay_frac", "carbonate_rocks_frac", "geol_permeability",
)  # fmt: skip
PERIOD_NAMES = ("train", "validation", "test")
_Model = TypeVar("_Model", bound=BaseModel)
#: The names of the registries, validated here and keyed by them there (the one list each):
#: readers in :data:`ealstm.data.readers.datasets.DATASETS`, losses in
#: :data:`ealstm.training.losses.LOSSES`.
DATASET_NAMES = ("camels_us", "caravan", "generic")
LOSS_NAMES = ("mse", "nse_star")
#: Target column of each data set when ``data.target`` is not given (all in mm/day).
DEFAULT_TARGETS = {"camels_us": "qobs", "caravan": "streamflow", "generic": "qobs"}


def _scalar_types(annotation: Any) -> set[Any]:
    """Return the plain types of an annotation, looking through ``X | None`` and ``Union``."""
    if get_origin(annotation) in (Union, types.UnionType):
        return set().union(*(_scalar_types(a) for a in get_args(annotation)))
    return {annotation}


def _bool_as_number(value: Any, annotation: Any) -> bool:
    """Whether ``value`` holds a boolean where ``annotation`` wants a number.

    Looks into lists and dicts too (``seeds: [true]``, ``learning_rate: {1: true}``).
    """
    if isinstance(value, bool):
        kinds = _scalar_types(annotation)
        return bool(kinds & {int, float}) and bool not in kinds
    for kind in _scalar_types(annotation):
        args = get_args(kind)
        if get_origin(kind) in (list, tuple, set) and isinstance(value, (list, tuple)) and args:
            if any(_bool_as_number(item, args[0]) for item in value):
                return True
        elif get_origin(kind) is dict and isinstance(value, dict) and len(args) == 2:
            if any(_bool_as_number(key, args[0]) or _bool_as_number(item, args[1])
                   for key, item in value.items()):
                return True
    return False


class _Frozen(BaseModel):
    """Frozen config model with no unknown keys; the base of every config model of ealstm."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: ValidationInfo) -> Any:
        """Reject ``true``/``false`` for a number (pydantic's lax mode reads ``true`` as 1)."""
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _bool_as_number(value, field.annotation):
            raise ValueError("expected a number, got a boolean (true/false)"
                             if not isinstance(value, bool) else
                             f"expected a number, got the boolean {str(value).lower()}")
        return value


class Period(_Frozen):
    """A closed date range ``[start, end]`` of daily time steps."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError(f"end {self.end} lies before start {self.start}")
        return self


class DataConfig(_Frozen):
    """Where the data is and which part of it a run uses.

    ``dataset`` picks the reader (:data:`ealstm.data.readers.datasets.DATASETS`):

    * ``camels_us``: the NCAR CAMELS-US layout; ``forcings`` picks the forcing product and
      ``target`` can only be ``qobs`` (USGS discharge converted to mm/day).
    * ``caravan``: the Caravan layout (Kratzert et al. 2023); ``basins`` are Caravan gauge ids
      such as ``camels_01022500`` whose prefix names the source folder. ``target`` defaults to
      ``streamflow`` (mm/day). ``forcings`` is ignored.
    * ``generic``: ``<data_dir>/time_series/<basin>.nc|csv`` plus ``<data_dir>/attributes.csv``;
      ``target`` defaults to ``qobs`` and must be a column of the time-series files in mm/day.
      ``forcings`` is ignored.

    ``target`` left out (or null) means the data set's default (:data:`DEFAULT_TARGETS`).
    The defaults of ``dynamic_inputs`` and ``static_attributes`` are CAMELS-US names, so a
    ``caravan`` or ``generic`` config must list both (``static_attributes: []`` for none).
    Basin ids are zero-padded to 8 characters only for ``camels_us``.
    """

    dataset: Literal[DATASET_NAMES] = "camels_us"  # type: ignore[valid-type]
    data_dir: Path
    forcings: Literal[FORCING_PRODUCTS] = "maurer_extended"  # type: ignore[valid-type]
    dynamic_inputs: tuple[str, ...] = DEFAULT_DYNAMIC_INPUTS
    static_attributes: tuple[str, ...] = PAPER_ATTRIBUTES
    target: str = DEFAULT_TARGETS["camels_us"]
    basins: tuple[str, ...] | None = None
    basin_file: Path | None = None
    train_period: Period
    validation_period: Period | None = None
    test_period: Period
    seq_length: int = Field(270, ge=1)
    cache_dir: Path | None = None
    #: What an impossible value in a time series (negative precipitation or discharge, inf,
    #: beyond the bounds of :mod:`ealstm.data.validation`) does: raise, or become missing.
    invalid_values: Literal["error", "mask"] = "error"
    #: Allow the test or validation period to overlap the training period (a leak, off).
    allow_period_overlap: bool = False

    @model_validator(mode="before")
    @classmethod
    def _default_target(cls, data: Any) -> Any:
        """Fill a missing or null ``target`` with the default of the configured data set."""
        if isinstance(data, dict) and data.get("target") is None:
            dataset = data.get("dataset", "camels_us")
            if dataset in DEFAULT_TARGETS:
                data = {**data, "target": DEFAULT_TARGETS[dataset]}
        return data

    @field_validator("data_dir")
    @classmethod
    def _data_dir_exists(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"folder {value} does not exist; point data.data_dir at a CAMELS-US "
                             "root (download it with `ealstm data download`) or run `ealstm demo`")
        return value

    @field_validator("basin_file")
    @classmethod
    def _basin_file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value

    @field_validator("basins")
    @classmethod
    def _basins_are_ids(cls, value: tuple[str, ...] | None,
                        info: ValidationInfo) -> tuple[str, ...] | None:
        if value is not None:
            pad = info.data.get("dataset", "camels_us") == "camels_us"
            value = tuple(str(b).zfill(8) if pad else str(b).strip() for b in value)
            if not value:
                raise ValueError("the basin list is empty")
        return value

    @model_validator(mode="after")
    def _one_basin_source(self) -> DataConfig:
        if self.basins is not None and self.basin_file is not None:
            raise ValueError("give either `basins` or `basin_file`, not both")
        return self

    @model_validator(mode="after")
    def _inputs_named_for_dataset(self) -> DataConfig:
        if self.dataset == "camels_us":
            return self
        missing = [f"data.{key}" for key in ("dynamic_inputs", "static_attributes")
                   if key not in self.model_fields_set]
        if missing:
            raise ValueError(f"dataset {self.dataset!r} needs {' and '.join(missing)} listed "
                             "explicitly: the defaults are CAMELS-US names (use "
                             "static_attributes: [] for a model without attributes)")
        return self

    @model_validator(mode="after")
    def _valid_target(self) -> DataConfig:
        if not self.target.strip():
            raise ValueError("data.target is empty; name the discharge column (mm/day)")
        if self.dataset == "camels_us" and self.target != "qobs":
            raise ValueError(f"data.target {self.target!r}: camels_us provides only 'qobs' "
                             "(USGS discharge in mm/day)")
        if self.target in self.dynamic_inputs:
            raise ValueError(f"data.target {self.target!r} is also in data.dynamic_inputs; the "
                             "model would see the value it has to predict")
        return self

    @model_validator(mode="after")
    def _periods_disjoint(self) -> DataConfig:
        """Test and validation days must not be training days unless explicitly allowed."""
        if self.allow_period_overlap:
            return self
        train = self.train_period
        for name in ("validation", "test"):
            other = getattr(self, f"{name}_period")
            if other is not None and other.start <= train.end and train.start <= other.end:
                raise ValueError(
                    f"data.{name}_period {other.start}..{other.end} overlaps data.train_period "
                    f"{train.start}..{train.end}: scores on it would include training days; "
                    "choose disjoint periods or set data.allow_period_overlap: true")
        return self

    def period(self, name: str) -> Period:
        """Return the period called ``name`` (train, validation or test)."""
        if name not in PERIOD_NAMES:
            raise ConfigError(f"unknown period {name!r}; choose from {PERIOD_NAMES}")
        period = getattr(self, f"{name}_period")
        if period is None:
            raise ConfigError(f"data.{name}_period is not set in this config")
        return period


class ModelConfig(_Frozen):
    """Architecture of the network (paper section 2.2 and Appendix B)."""

    name: str = "ealstm"
    use_static: bool = True
    hidden_size: int = Field(256, ge=1)
    num_layers: int = Field(1, ge=1, le=4)
    dropout: float = Field(0.4, ge=0.0, lt=1.0)
    initial_forget_bias: float = 5.0
    #: EA-LSTM time loop: ``auto`` picks per batch shape and device (the LSTM kernel on GPUs
    #: and small CPU batches, the hand-written loop otherwise); ``loop`` or ``kernel`` force
    #: one. Both compute eqs. 7-12 exactly and share one parameter format.
    implementation: Literal["auto", "loop", "kernel"] = "auto"

    @field_validator("name")
    @classmethod
    def _known_model(cls, value: str) -> str:
        from ealstm.models import MODELS

        if value not in MODELS:
            raise ValueError(f"unknown model {value!r}; choose from {sorted(MODELS)}")
        return value

    @model_validator(mode="after")
    def _ealstm_needs_statics(self) -> ModelConfig:
        if self.name == "ealstm" and not self.use_static:
            raise ValueError("the EA-LSTM's input gate is computed from static attributes; "
                             "use name: lstm for a model without statics")
        return self

    @model_validator(mode="after")
    def _implementation_is_ealstms(self) -> ModelConfig:
        if self.name != "ealstm" and self.implementation != "auto":
            raise ValueError(f"model.implementation {self.implementation!r} applies only to "
                             f"name: ealstm; model {self.name!r} always runs nn.LSTM's kernel")
        return self


class LRSchedule(_Frozen):
    """A named learning-rate schedule over the planned epochs (:mod:`ealstm.schedules`)."""

    kind: Literal[SCHEDULE_KINDS]  # type: ignore[valid-type]
    peak: float = Field(gt=0.0)
    #: Epochs of linear warm-up; default 0, or 30 % of the epochs for ``one_cycle``.
    warmup: int | None = Field(None, ge=0)
    #: ``one_cycle`` only: the warm-up starts at ``peak / div``.
    div: float = Field(25.0, gt=0.0)
    #: ``cosine`` and ``one_cycle``: the last epoch's rate is ``peak / final_div``.
    final_div: float = Field(1e3, gt=0.0)


class TrainConfig(_Frozen):
    """Optimisation settings; the defaults are those of the paper's code."""

    loss: Literal[LOSS_NAMES] = "nse_star"  # type: ignore[valid-type]
    nse_eps: float = Field(0.1, gt=0.0)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(256, ge=1)
    learning_rate: dict[int, float] = Field(default_factory=lambda: {1: 1e-3, 11: 5e-4, 21: 1e-4})
    #: Instead of ``learning_rate``: a named schedule, expanded into ``learning_rate`` over
    #: ``epochs`` when the config is read (a run's saved config holds the expanded rates).
    lr_schedule: LRSchedule | None = Field(None, exclude=True)
    clip_grad_norm: float | None = Field(1.0, gt=0.0)
    seed: int = 111
    predict_last_n: int = Field(1, ge=1)
    validate_every: int | None = Field(None, ge=1)
    #: Early stopping: stop after this many validations without a better median NSE.
    patience: int | None = Field(None, ge=1)
    device: str = "auto"
    num_threads: int | None = Field(None, ge=1)
    #: Fine-tuning: start from the weights and scaler of this run directory (``ealstm finetune``).
    init_from: Path | None = None
    #: Checkpoint epoch of ``init_from`` (resolved and recorded when the run starts).
    init_epoch: int | None = Field(None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _expand_lr_schedule(cls, data: Any) -> Any:
        """Expand ``lr_schedule`` into ``learning_rate``.

        An invalid schedule or epoch count is left to the field validation, which reports it at
        its key.
        """
        if not isinstance(data, Mapping) or data.get("lr_schedule") is None:
            return data
        if data.get("learning_rate") is not None:
            raise ValueError("set train.learning_rate or train.lr_schedule, not both (--set "
                             "train.lr_schedule=null keeps the rates, --set "
                             "train.learning_rate=null the named schedule)")
        epochs = data.get("epochs", cls.model_fields["epochs"].default)
        try:
            schedule = LRSchedule.model_validate(data["lr_schedule"])
        except ValidationError:
            schedule = None
        counted = isinstance(epochs, int) and not isinstance(epochs, bool) and epochs >= 1
        if schedule is None or not counted:
            return {k: v for k, v in data.items() if k != "learning_rate"}
        if schedule.warmup is not None and schedule.warmup >= epochs:
            raise ValueError(f"train.lr_schedule.warmup ({schedule.warmup}) must be smaller "
                             f"than train.epochs ({epochs})")
        rates = lr_schedule(schedule.kind, epochs, schedule.peak, schedule.warmup, schedule.div,
                            schedule.final_div)
        return {**data, "lr_schedule": schedule, "learning_rate": rates}

    @model_validator(mode="after")
    def _patience_needs_validation(self) -> TrainConfig:
        if self.patience is not None and self.validate_every is None:
            raise ValueError("train.patience counts validations: set train.validate_every too")
        return self

    @field_validator("learning_rate")
    @classmethod
    def _schedule_starts_at_one(cls, value: dict[int, float]) -> dict[int, float]:
        if 1 not in value:
            raise ValueError("the schedule must give a rate for epoch 1, e.g. {1: 0.001}")
        if not all(math.isfinite(rate) and rate > 0 for rate in value.values()):
            raise ValueError(f"learning rates must be finite and positive, got {value}")
        return dict(sorted(value.items()))

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
            raise ValueError(f"unknown device {value!r}; choose auto, cpu, cuda, cuda:N or mps")
        return value

    def lr_at(self, epoch: int) -> float:
        """Learning rate of ``epoch`` (1-based): the last schedule entry at or before it."""
        return [rate for start, rate in self.learning_rate.items() if start <= epoch][-1]


class EvalConfig(_Frozen):
    """What ``ealstm evaluate`` does by default."""

    periods: tuple[Literal["train", "validation", "test"], ...] = ("test",)
    batch_size: int = Field(1024, ge=1)
    #: Predicted days per evaluation sequence; default ``train.predict_last_n``. 1 is the
    #: paper's sequence-to-one evaluation; larger chunks are faster and still keep the
    #: training warm-up before every predicted day.
    chunk: int | None = Field(None, ge=1)
    #: Set simulated discharge below 0 to 0 before scoring (also in the robustness
    #: experiment), as the paper's code does; ``false`` keeps the model's raw output.
    clip_negative: bool = True


class RunConfig(_Frozen):
    """Everything one training run needs; saved as ``config.yml`` in the run directory."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    runs_dir: Path = Path("runs")
    data: DataConfig
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    evaluation: EvalConfig = EvalConfig()

    @model_validator(mode="after")
    def _prediction_fits_window(self) -> RunConfig:
        if self.train.predict_last_n > self.data.seq_length:
            raise ValueError(f"train.predict_last_n ({self.train.predict_last_n}) must not exceed "
                             f"data.seq_length ({self.data.seq_length}), the whole window")
        return self

    @property
    def run_dir(self) -> Path:
        """The run directory, ``runs_dir / name``."""
        return self.runs_dir / self.name

    def to_dict(self) -> dict[str, Any]:
        """Plain, YAML-safe representation (paths and dates as strings)."""
        return self.model_dump(mode="json")


#: Config keys that hold paths (in any section); relative ones are made absolute on loading.
PATH_KEYS = ("runs_dir", "data_dir", "basin_file", "cache_dir", "init_from")


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Return a copy of ``raw`` with its relative paths (:data:`PATH_KEYS`) made absolute."""
    return {key: _resolve_value(str(key), value, base) for key, value in raw.items()}


def _resolve_value(leaf: str, value: Any, base: Path) -> Any:
    """Resolve ``value`` of the key ``leaf`` against ``base`` if it is a path (or a section)."""
    if isinstance(value, dict):
        return _resolve_paths(value, base)
    if leaf in PATH_KEYS and isinstance(value, str):
        return str((base / Path(value).expanduser()).resolve())
    return value


def expand_config(base: Mapping[str, Any],
                  overrides: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Return a copy of the raw config ``base`` with each dotted key of ``overrides`` set.

    The one way a config is derived from another: ``--set`` on the command line
    (:func:`parse_overrides`), an experiment's configurations and a search's grid points.
    Missing sections are created; pairs are applied in order, so a later key wins.

    Raises
    ------
    ConfigError
        A key runs through a value that is not a section (``model.name.x``).
    """
    raw = copy.deepcopy(dict(base))
    pairs = overrides.items() if isinstance(overrides, Mapping) else overrides
    for key, value in pairs:
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r}: {part!r} is not a section")
        node[leaf] = copy.deepcopy(value)
    return raw


def parse_overrides(items: Iterable[str]) -> list[tuple[str, Any]]:
    """Parse ``key.sub=value`` strings (values as YAML) into ``(dotted key, value)`` pairs.

    Relative paths (:data:`PATH_KEYS`, also inside a section value such as
    ``data={data_dir: d, ...}``) are made absolute against the current directory, since they are
    typed on the command line, while paths in a config file are relative to the file (see
    :func:`load_config`).
    """
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key.sub=value")
        try:
            pairs.append((key, _resolve_value(key.split(".")[-1],
                                              parse_yaml(value, f"override {item!r}"),
                                              Path.cwd())))
        except FileFormatError as exc:
            raise ConfigError(str(exc)) from None
    return pairs


def validate_model(model: type[_Model], raw: dict[str, Any], source: str = "<dict>",
                   what: str = "config") -> _Model:
    """Validate ``raw`` as ``model``; errors become one :class:`ConfigError` naming every key."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in err['loc']) or '<root>'}: {_explain(err, model)}"
                 for err in exc.errors()]
        raise ConfigError(f"invalid {what} {source}:\n" + "\n".join(lines)) from None


def parse_config(raw: dict[str, Any], source: str = "<dict>") -> RunConfig:
    """Validate a raw run-config dict; errors become one :class:`ConfigError`."""
    return validate_model(RunConfig, raw, source)


def _explain(err: dict[str, Any], model: type[BaseModel]) -> str:
    from ealstm.config_hints import config_hint

    hint = config_hint(model, err)
    if hint is not None:
        return hint
    if err["type"] == "missing":
        return "required key is missing"
    return str(err["msg"]).removeprefix("Value error, ")


def read_yaml_mapping(path: Path, what: str = "config") -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; errors name the file and the kind of config."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} file {path} does not exist")
    try:
        raw = load_yaml(path) or {}
    except FileFormatError as exc:
        raise ConfigError(f"{what} file {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{what} file {path} must hold a mapping at the top level")
    return raw


def load_config(path: Path, overrides: list[str] | None = None,
                values: Mapping[str, Any] | None = None) -> RunConfig:
    """Read, override and validate a YAML run config.

    Parameters
    ----------
    path
        YAML file. Relative paths inside it are relative to the file's folder.
    overrides
        ``key.sub=value`` strings applied before validation (``--set`` on the CLI).
    values
        Dotted keys set after ``overrides``, values taken as given (not parsed as YAML), so
        that a program can set a path that YAML would misread (`` #``, ``: ``).
    """
    path = Path(path)
    raw = read_yaml_mapping(path, "config")
    raw = _resolve_paths(raw, path.parent.resolve())
    raw = expand_config(raw, parse_overrides(overrides or []))  # CLI paths: against cwd
    raw = expand_config(raw, values or {})
    return parse_config(raw, source=str(path))


def load_run_config(run_dir: Path) -> RunConfig:
    """Load the resolved ``config.yml`` that ``ealstm train`` saved in a run directory."""
    path = Path(run_dir) / "config.yml"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a run directory: {path.name} is missing")
    return parse_config(read_yaml_mapping(path, "run config"), source=str(path))
