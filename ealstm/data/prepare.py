"""Config -> standardised :class:`~ealstm.data.arrays.BasinArrays`: the first step of every stage.

Training fits the scaler on the train period; evaluation, the studies and the analyses pass the
scaler saved with the run so that they see exactly the inputs the model was trained on.
"""

from __future__ import annotations

from ealstm.config import RunConfig
from ealstm.data.arrays import BasinArrays
from ealstm.data.cache import load_basin_arrays
from ealstm.data.scaling import Scaler


def prepare_data(cfg: RunConfig, scaler: Scaler | None = None) -> tuple[BasinArrays, Scaler]:
    """Load the basin arrays and standardise them (fitting the scaler on the train period)."""
    arrays = load_basin_arrays(cfg.data)
    scaler = scaler or Scaler.fit(arrays, cfg.data.train_period)
    return scaler.transform(arrays), scaler
