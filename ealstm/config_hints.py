"""Hints for config errors: "did you mean" for unknown keys, neuralhydrology spellings, basin ids.

:func:`config_hint` is called by :func:`ealstm.config.validate_model` for every validation error
and returns an explanation, or ``None`` to keep pydantic's message. It knows three mistakes:

* a misspelt key: the closest keys of the same section (:func:`difflib.get_close_matches`), or
  the section where the key belongs (``data.hidden_size`` -> ``model.hidden_size``);
* a neuralhydrology key (:data:`NH_KEYS`): where ealstm keeps that setting, if anywhere;
* an unquoted basin id. YAML 1.1 (PyYAML) reads ``01013500`` as the *octal* number 268096 and
  ``1013500`` as a decimal number, while ``08023080`` (not octal) stays a string; the text is
  gone once the number is built, so no integer can be turned back into the id with certainty.
  ealstm therefore rejects every number in ``data.basins`` -- for CAMELS-US, Caravan and generic
  data alike -- with a message that names the key and asks to quote the ids.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel

#: neuralhydrology config key -> the ealstm key that holds that setting (``None``: no
#: equivalent, the text says why). Used for error hints and by ``ealstm config from-nh``.
NH_KEYS: dict[str, str | None] = {
    "experiment_name": "name", "run_dir": "runs_dir",
    "train_start_date": "data.train_period.start", "train_end_date": "data.train_period.end",
    "validation_start_date": "data.validation_period.start",
    "validation_end_date": "data.validation_period.end",
    "test_start_date": "data.test_period.start", "test_end_date": "data.test_period.end",
    "train_basin_file": "data.basin_file", "data_dir": "data.data_dir", "dataset": "data.dataset",
    "forcings": "data.forcings", "dynamic_inputs": "data.dynamic_inputs",
    "static_attributes": "data.static_attributes", "camels_attributes": "data.static_attributes",
    "target_variables": "data.target", "seq_length": "data.seq_length",
    "model": "model.name", "hidden_size": "model.hidden_size", "output_dropout": "model.dropout",
    "initial_forget_bias": "model.initial_forget_bias", "loss": "train.loss",
    "learning_rate": "train.learning_rate", "batch_size": "train.batch_size",
    "epochs": "train.epochs", "seed": "train.seed", "predict_last_n": "train.predict_last_n",
    "clip_gradient_norm": "train.clip_grad_norm", "device": "train.device",
    "validate_every": "train.validate_every",
    "validation_basin_file": None, "test_basin_file": None, "optimizer": None, "metrics": None,
}  # fmt: skip
_NH_NO_EQUIVALENT = {
    "validation_basin_file": "ealstm validates and tests the training basins (data.basin_file)",
    "test_basin_file": "ealstm tests the training basins (data.basin_file)",
    "optimizer": "ealstm always trains with Adam",
    "metrics": "ealstm evaluate always computes every metric",
}


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """Return the pydantic model inside ``annotation`` (``Period | None`` -> ``Period``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if (found := _model_of(arg)) is not None:
                return found
    return None


def section_model(model: type[BaseModel], path: tuple[str, ...]) -> type[BaseModel] | None:
    """Return the sub-model at ``path`` (``("data", "train_period")`` -> ``Period``), else None."""
    for part in path:
        field = model.model_fields.get(str(part))
        sub = _model_of(field.annotation) if field is not None else None
        if sub is None:
            return None
        model = sub
    return model


def all_keys(model: type[BaseModel], prefix: str = "") -> dict[str, str]:
    """Every key of ``model`` and its sub-models: leaf name -> dotted path (first one wins)."""
    keys: dict[str, str] = {}
    for name, field in model.model_fields.items():
        keys.setdefault(name, f"{prefix}{name}")
        sub = _model_of(field.annotation)
        if sub is not None:
            for leaf, path in all_keys(sub, f"{prefix}{name}.").items():
                keys.setdefault(leaf, path)
    return keys


def nh_hint(key: str) -> str | None:
    """Where ealstm keeps the setting of neuralhydrology's ``key`` (None: not an NH key)."""
    if key not in NH_KEYS:
        return None
    target = NH_KEYS[key]
    if target is None:
        return f"neuralhydrology key with no ealstm equivalent: {_NH_NO_EQUIVALENT[key]}"
    return (f"this is neuralhydrology's name; ealstm spells it `{target}` (convert a whole "
            "neuralhydrology config with `ealstm config from-nh`)")


def unknown_key_hint(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """Explain the unknown key at ``loc``: a close key of its section, its section, or NH's."""
    *parents, leaf = (str(p) for p in loc)
    here = ".".join(parents + [""])
    section = section_model(model, tuple(parents))
    fields = list(section.model_fields) if section is not None else []
    close = difflib.get_close_matches(leaf, fields, n=3, cutoff=0.6)
    elsewhere = all_keys(model).get(leaf)
    if close:
        hint = "did you mean " + " or ".join(f"`{here}{c}`" for c in close) + "?"
    elif elsewhere is not None and (parents or leaf not in fields):
        hint = f"it belongs in another section: `{elsewhere}`"
    else:
        hint = nh_hint(leaf) or "check its spelling and section; see configs/ for examples"
    return f"unknown key; {hint}"


def basin_id_hint(loc: tuple[Any, ...], value: Any) -> str | None:
    """Message for a number among the basin ids (see the module docstring), else None."""
    if "basins" not in [str(p) for p in loc] or isinstance(value, bool):
        return None
    if not isinstance(value, int | float):
        return None
    return (f"basin id {value!r} was read as a number: quote basin ids in YAML (e.g. "
            "'01013500'); unquoted, 01013500 is read as the octal number 268096 and the "
            "leading zero is lost")


def config_hint(model: type[BaseModel], err: dict[str, Any]) -> str | None:
    """Explanation of one pydantic error of ``model``, or None to keep pydantic's message."""
    loc = tuple(err.get("loc", ()))
    if err["type"] == "extra_forbidden":
        return unknown_key_hint(model, loc)
    if err["type"] in ("string_type", "str_type"):
        return basin_id_hint(loc, err.get("input"))
    return None
