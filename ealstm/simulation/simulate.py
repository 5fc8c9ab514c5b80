"""Run a trained model over a period: the simulation stage, shared by training and evaluation.

Every predicted day sees at least the warm-up the model was trained with
(``seq_length - predict_last_n`` input days before the first predicted day of a window). The
period is cut into chunks of ``chunk`` predicted days, each run as one sequence from a zero
state (:func:`ealstm.simulation.chunked.simulate_chunked`). With ``chunk = 1`` and a
sequence-to-one model this is exactly the paper's evaluation (one 270-day window per day);
larger chunks cost ~``(warmup + chunk) / chunk`` steps per day instead of ``seq_length``.
Days whose input sequence holds a missing value get ``qsim = NaN`` (masked by the metrics);
they are counted, never filled.

Negative simulations are set to 0 mm/day before they are stored and scored, as the paper's code
does (``evaluation.clip_negative``, default ``true``; ``false`` keeps the raw output;
:func:`to_discharge`).

The training loop's per-epoch validation and the evaluation
(:func:`ealstm.evaluation.predict.predict_period`) both simulate through this module, so the
stage sits between models and training and imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ealstm.config import RunConfig
from ealstm.data.arrays import BasinArrays
from ealstm.data.scaling import Scaler
from ealstm.errors import ConfigError
from ealstm.simulation.chunked import period_inputs, simulate_chunked


@dataclass(frozen=True)
class Simulation:
    """How a run's model is driven over a period.

    Attributes
    ----------
    seq_length, predict_last_n
        Training window and the number of its last days in the loss; their difference is the
        warm-up every predicted day keeps.
    chunk
        Predicted days per sequence (1: sequence-to-one).
    batch_size
        Sequences per forward pass at ``seq_length`` steps (scaled for other lengths).
    use_static
        Feed the static attributes to the model.
    clip_negative
        Set simulated discharge below 0 mm/day to 0 (:func:`to_discharge`).
    """

    seq_length: int
    predict_last_n: int = 1
    chunk: int = 1
    batch_size: int = 1024
    use_static: bool = True
    clip_negative: bool = True

    @classmethod
    def of(cls, cfg: RunConfig) -> Simulation:
        """Build a run's settings: its window and evaluation chunk (default: predict_last_n)."""
        n_last = cfg.train.predict_last_n
        return cls(cfg.data.seq_length, n_last, cfg.evaluation.chunk or n_last,
                   cfg.evaluation.batch_size, cfg.model.use_static,
                   cfg.evaluation.clip_negative)

    @property
    def warmup(self) -> int:
        """Input-only days before the first predicted day of every sequence."""
        return self.seq_length - self.predict_last_n


@torch.no_grad()
def simulate(model: nn.Module, scaled: BasinArrays, time_slice: slice, how: Simulation,
             device: torch.device | None = None, progress: bool = False) -> np.ndarray:
    """Model output (scaled target units) for every basin and day of ``time_slice``.

    ``progress`` reports progress over the forward passes (a bar on a terminal, else log lines).

    Returns
    -------
    numpy.ndarray
        ``[basin, day]`` float32; NaN where the input sequence is incomplete.
    """
    device = device or torch.device("cpu")
    x_d = period_inputs(scaled.dynamic, time_slice, how.warmup).to(device)
    x_s = torch.from_numpy(np.ascontiguousarray(scaled.static)).to(device) \
        if how.use_static else None
    model.eval()
    out = simulate_chunked(model, x_d, x_s, how.warmup, how.chunk,
                           batch_steps=how.batch_size * how.seq_length, progress=progress)
    return out[:, how.warmup:].float().cpu().numpy()


def resolve_chunk(chunk: int | None, cfg: RunConfig) -> int:
    """Return ``chunk``, defaulting to the run's evaluation chunk: one default for all users.

    ``None`` -> ``evaluation.chunk`` or else ``train.predict_last_n`` (1 = exact seq-to-one for
    the paper's models), so that the analyses see the simulation ``ealstm evaluate`` scores.

    Raises
    ------
    ConfigError
        ``chunk < 1``.
    """
    chunk = Simulation.of(cfg).chunk if chunk is None else int(chunk)
    if chunk < 1:
        raise ConfigError(f"chunk must be >= 1 predicted day (1 = exact seq-to-one), got {chunk}")
    return chunk


def to_discharge(scaler: Scaler, out: np.ndarray, clip_negative: bool) -> np.ndarray:
    """Model output (scaled units) -> simulated discharge in mm/day, float32.

    With ``clip_negative`` values below 0 become 0 (the paper's code does this before scoring);
    NaN stays NaN.
    """
    qsim = scaler.unscale_target(out)
    return np.maximum(qsim, np.float32(0.0)) if clip_negative else qsim
