"""Run a trained model over a period and return observed and simulated discharge.

Prediction is sequence-to-one, as in training: the simulation of day ``t`` of a basin uses the
``seq_length`` days of inputs that end on ``t``. Days whose input window holds a missing value
get ``qsim = NaN`` (and are masked by the metrics); they are counted, never filled.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from torch import nn

from ealstm.config import Period
from ealstm.data.cache import BasinArrays
from ealstm.data.scaling import Scaler
from ealstm.data.windows import gather_batch, iterate_batches, sample_index


@torch.no_grad()
def simulate(model: nn.Module, scaled: BasinArrays, time_slice: slice, seq_length: int,
             batch_size: int, device: torch.device, use_static: bool) -> np.ndarray:
    """Model output (scaled target units) for every basin and day of ``time_slice``.

    Returns
    -------
    numpy.ndarray
        ``[basin, day]`` float32; NaN where the input window is incomplete.
    """
    index = sample_index(scaled.dynamic, scaled.target, seq_length, time_slice,
                         require_target=False)
    out = np.full((len(scaled.basins), time_slice.stop - time_slice.start), np.nan, np.float32)
    model.eval()
    for basin_idx, time_idx in iterate_batches(index, batch_size, shuffle=False):
        batch = gather_batch(scaled, basin_idx, time_idx, seq_length)
        x_s = batch.x_s.to(device) if use_static else None
        y_hat = model(batch.x_d.to(device), x_s)[:, -1]
        out[basin_idx, time_idx - time_slice.start] = y_hat.float().cpu().numpy()
    return out


def predict_period(model: nn.Module, scaled: BasinArrays, scaler: Scaler, period: Period,
                   seq_length: int, batch_size: int = 1024, device: torch.device | None = None,
                   use_static: bool = True) -> xr.Dataset:
    """Observed and simulated discharge in mm/day for ``period``.

    Returns
    -------
    xarray.Dataset
        ``qobs`` and ``qsim`` over ``basin`` x ``date``, in mm/day.
    """
    device = device or torch.device("cpu")
    time_slice = scaled.time_slice(period)
    sim = simulate(model, scaled, time_slice, seq_length, batch_size, device, use_static)
    qsim = scaler.unscale_target(sim)
    qobs = scaler.unscale_target(scaled.target[:, time_slice])
    coords = {"basin": list(scaled.basins), "date": scaled.dates[time_slice]}
    attrs = {"units": "mm/day"}
    return xr.Dataset(
        {"qobs": (("basin", "date"), qobs.astype(np.float32), attrs),
         "qsim": (("basin", "date"), qsim.astype(np.float32), attrs)},
        coords=coords,
        attrs={"period_start": str(period.start), "period_end": str(period.end)},
    )
