"""Convert a neuralhydrology run config into an ealstm run config (``ealstm config from-nh``).

neuralhydrology (Kratzert et al. 2022) keeps every setting at the top level of one YAML file;
ealstm groups them in sections (:data:`ealstm.config_hints.NH_KEYS` maps one onto the other).
The conversion also translates the values that are spelt differently:

* dates ``dd/mm/YYYY`` -> ISO dates of ``data.<name>_period``;
* ``model: cudalstm | lstm | customlstm`` -> ``model.name: lstm`` (with statics if the config
  lists static attributes), ``ealstm`` -> ``ealstm``;
* ``loss: NSE | MSE`` -> ``train.loss: nse_star | mse``;
* ``learning_rate: {epoch: lr}`` (neuralhydrology sets the rate of key 0 before the first epoch
  and the rate of key ``k`` at the start of epoch ``k``) -> the same schedule from epoch 1;
* CAMELS-US forcing columns ``PRCP(mm/day)`` -> ``prcp`` and target ``QObs(mm/d)`` -> ``qobs``;
* paths (``data_dir``, ``train_basin_file``, ``run_dir``): neuralhydrology reads them relative
  to the current directory, so they are written absolute.

Every key that cannot be mapped is listed in a comment at the top of the written file, with
its value and the reason.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import yaml

from ealstm.config import expand_config, read_yaml_mapping
from ealstm.config_hints import _NH_NO_EQUIVALENT, NH_KEYS
from ealstm.errors import ConfigError
from ealstm.io import write_text

_MODELS = {"ealstm": "ealstm", "cudalstm": "lstm", "lstm": "lstm", "customlstm": "lstm"}
_LOSSES = {"nse": "nse_star", "mse": "mse"}
_DATASETS = {"camels_us": "camels_us", "caravan": "caravan", "generic": "generic"}
_PATHS = ("data_dir", "train_basin_file", "run_dir")


class _Unmapped(ValueError):
    """A key whose value has no ealstm equivalent (the message says why)."""


def _date(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        raise _Unmapped("several periods; ealstm takes one date range per period")
    try:
        return dt.datetime.strptime(str(value), "%d/%m/%Y").date().isoformat()
    except ValueError:
        raise _Unmapped("not a dd/mm/YYYY date") from None


def _column(name: Any) -> str:
    """``PRCP(mm/day)`` -> ``prcp`` (CAMELS-US spelling in ealstm); other names unchanged."""
    return re.sub(r"\(.*\)$", "", str(name)).strip().lower()


def _single(value: Any, what: str) -> Any:
    if isinstance(value, list):
        if len(value) != 1:
            raise _Unmapped(f"ealstm takes one {what}")
        return value[0]
    return value


def _plain_list(value: Any, what: str) -> list:
    if not isinstance(value, list):
        raise _Unmapped(f"ealstm takes one list of {what} (no per-frequency mapping)")
    return value


def _choice(table: dict[str, str], what: str) -> Any:
    def convert(value: Any) -> str:
        if str(value).lower() not in table:
            raise _Unmapped(f"ealstm has no {what} {value!r} (choose from {sorted(table)})")
        return table[str(value).lower()]
    return convert


def _schedule(value: Any) -> dict[int, float]:
    if not isinstance(value, dict):
        return {1: float(value)}
    return {max(int(epoch), 1): float(rate) for epoch, rate in sorted(value.items())}


_CONVERT = {
    "model": _choice(_MODELS, "model"), "loss": _choice(_LOSSES, "loss"),
    "dataset": _choice(_DATASETS, "data set"), "learning_rate": _schedule,
    "forcings": lambda v: _single(v, "forcing product"),
    "dynamic_inputs": lambda v: [_column(c) for c in _plain_list(v, "dynamic inputs")],
    "target_variables": lambda v: _column(_single(v, "target")),
    "experiment_name": lambda v: re.sub(r"[^A-Za-z0-9_.-]", "_", str(v)),
}  # fmt: skip


def _convert_value(key: str, value: Any, cwd: Path) -> Any:
    if key.endswith(("_start_date", "_end_date")):
        return _date(value)
    if key in _PATHS:
        return str((cwd / Path(str(value)).expanduser()).resolve())
    return _CONVERT.get(key, lambda v: v)(value)


def convert_nh_config(nh: dict[str, Any], cwd: Path | None = None
                      ) -> tuple[dict[str, Any], dict[str, str]]:
    """Translate a neuralhydrology config mapping into a raw ealstm config.

    Parameters
    ----------
    nh
        The neuralhydrology YAML mapping.
    cwd
        Folder neuralhydrology's relative paths are relative to (default: the current one).

    Returns
    -------
    raw, unmapped
        The ealstm config (not validated: the data may not be on this machine) and
        ``"key: value" -> reason`` for every key left out.
    """
    cwd = Path.cwd() if cwd is None else Path(cwd)
    pairs: list[tuple[str, Any]] = []
    unmapped: dict[str, str] = {}
    for key, value in nh.items():
        target = NH_KEYS.get(key)
        if value is None or (key == "initial_forget_bias" and not value):
            continue
        if key != "train_basin_file" and value == nh.get("train_basin_file"):
            continue  # the same basins in every period: ealstm's only case
        if target is None:
            unmapped[f"{key}: {value!r}"] = _NH_NO_EQUIVALENT.get(key, "no ealstm equivalent")
            continue
        try:
            pairs.append((target, _convert_value(key, value, cwd)))
        except _Unmapped as exc:
            unmapped[f"{key}: {value!r}"] = str(exc)
    out = expand_config({}, pairs)
    _fix_model(out, nh)
    return out, unmapped


def _fix_model(out: dict[str, Any], nh: dict[str, Any]) -> None:
    """Merge NH's two attribute lists; give an LSTM statics when the NH config lists any."""
    if nh.get("camels_attributes") and nh.get("static_attributes"):
        out["data"]["static_attributes"] = list(nh["static_attributes"]) + list(
            nh["camels_attributes"])
    statics = out.get("data", {}).get("static_attributes")
    if out.get("model", {}).get("name") == "lstm":
        out["model"]["use_static"] = bool(statics)


def nh_config_text(nh_path: Path, cwd: Path | None = None) -> str:
    """Return the ealstm config (YAML text) converted from the neuralhydrology file ``nh_path``."""
    raw, unmapped = convert_nh_config(read_yaml_mapping(nh_path, "neuralhydrology config"), cwd)
    lines = [f"# ealstm run config converted from the neuralhydrology config {nh_path}"]
    if unmapped:
        lines.append("# not converted (no ealstm equivalent):")
        lines += [f"#   {key}  -- {reason}" for key, reason in unmapped.items()]
    if "data" not in raw or "data_dir" not in raw.get("data", {}):
        lines.append("# data.data_dir is required: set it before training")
    body = yaml.safe_dump(raw, sort_keys=False, default_flow_style=None)
    return "\n".join(lines) + "\n" + body


def write_nh_conversion(nh_path: Path, out: Path | None = None) -> tuple[str, Path | None]:
    """Convert ``nh_path``; write the text to ``out`` atomically when given, return it."""
    text = nh_config_text(Path(nh_path))
    if out is not None:
        if Path(out).resolve() == Path(nh_path).resolve():
            raise ConfigError(f"--out {out} is the neuralhydrology config itself; choose another")
        write_text(Path(out), text)
    return text, out
