"""Model registry: one dict, one builder. Adding a model is one file plus one line here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from ealstm.errors import ConfigError
from ealstm.models.ealstm import EALSTM
from ealstm.models.lstm import LSTM

if TYPE_CHECKING:
    from ealstm.config import ModelConfig

__all__ = ["EALSTM", "LSTM", "MODELS", "build_model"]

MODELS: dict[str, type[nn.Module]] = {"lstm": LSTM, "ealstm": EALSTM}


def build_model(cfg: ModelConfig, n_dynamic: int, n_static: int) -> nn.Module:
    """Build the network a :class:`~ealstm.config.ModelConfig` describes.

    Parameters
    ----------
    cfg
        Model section of the run config.
    n_dynamic
        Number of dynamic inputs per time step.
    n_static
        Number of static attributes available; ignored (0) for an LSTM with
        ``use_static=False``.

    Returns
    -------
    nn.Module
        ``model(x_d [batch, time, n_dynamic], x_s [batch, n_static], predict_last_n)``
        returning ``[batch, predict_last_n]``.

    Raises
    ------
    ConfigError
        If ``cfg.name`` is not a key of :data:`MODELS` (the message lists the choices).
    """
    if cfg.name not in MODELS:
        raise ConfigError(f"unknown model {cfg.name!r}; choose from {sorted(MODELS)}")
    if not cfg.use_static:
        n_static = 0
    extra = {"implementation": cfg.implementation} if cfg.name == "ealstm" else {}
    return MODELS[cfg.name](
        n_dynamic=n_dynamic,
        n_static=n_static,
        hidden_size=cfg.hidden_size,
        num_layers=cfg.num_layers,
        dropout=cfg.dropout,
        initial_forget_bias=cfg.initial_forget_bias,
        **extra,
    )
