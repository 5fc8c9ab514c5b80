"""Observed and simulated discharge of a run over a period, as stored by the evaluation.

The simulation itself (:class:`~ealstm.simulation.simulate.Simulation`,
:func:`~ealstm.simulation.simulate.simulate`, :func:`~ealstm.simulation.simulate.to_discharge`)
is the simulation stage, shared with the training loop's validation; this module turns it into
the predictions file of a period and says whether a stored file follows the current rules.
``qobs`` is the discharge exactly as read (``BasinArrays.observed``), not the target scaled
back; ``qsim`` is clipped at 0 mm/day unless ``evaluation.clip_negative`` is false.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch import nn

from ealstm.config import Period
from ealstm.data.arrays import BasinArrays
from ealstm.data.scaling import Scaler
from ealstm.simulation.simulate import Simulation, simulate, to_discharge


def predict_period(model: nn.Module, scaled: BasinArrays, scaler: Scaler, period: Period,
                   how: Simulation, device: torch.device | None = None,
                   progress: bool = False) -> xr.Dataset:
    """Observed and simulated discharge in mm/day for ``period`` (``progress``: see simulate).

    Returns
    -------
    xarray.Dataset
        ``qobs`` (as read, bit for bit) and ``qsim`` over ``basin`` x ``date``, in mm/day.
    """
    time_slice = scaled.time_slice(period)
    qsim = to_discharge(scaler, simulate(model, scaled, time_slice, how, device, progress),
                        how.clip_negative)
    qobs = scaled.observed[:, time_slice]
    coords = {"basin": list(scaled.basins), "date": scaled.dates[time_slice]}
    attrs = {"units": "mm/day"}
    return xr.Dataset(
        {"qobs": (("basin", "date"), qobs.astype(np.float32), attrs),
         "qsim": (("basin", "date"), qsim.astype(np.float32), attrs)},
        coords=coords,
        attrs={"period_start": str(period.start), "period_end": str(period.end),
               "warmup_days": how.warmup, "chunk_days": how.chunk,
               "clip_negative": int(how.clip_negative)},
    )


#: Attribute of every predictions file written since negative simulations are clipped.
CLIP_ATTRIBUTE = "clip_negative"


def clip_setting(path: Path) -> int | None:
    """Return the ``clip_negative`` attribute of a predictions file, ``None`` if it has none.

    Files without it were written before the paper-fidelity fixes (``qsim`` not clipped at 0,
    ``qobs`` round-tripped through the scaler); callers treat them as not evaluated.
    """
    with xr.open_dataset(path) as ds:
        value = ds.attrs.get(CLIP_ATTRIBUTE)
    return None if value is None else int(value)


def is_current_prediction(path: Path) -> bool:
    """Whether ``path`` is a predictions file written with the current evaluation rules."""
    return path.is_file() and clip_setting(path) is not None
