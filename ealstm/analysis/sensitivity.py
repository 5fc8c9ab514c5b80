r"""Sensitivity of the simulated discharge to the static inputs: the explicit Morris method.

Paper sections 2.6.2 and 3.3, eqs. 14-15, Table 4 and Fig. 7. The method of Morris estimates
elementary effects :math:`EE_i = (f(x + \Delta_i e_i) - f(x)) / \Delta_i` (eq. 14); a neural
network is differentiable, so the limit :math:`EE_i = \partial f / \partial x_i` (eq. 15) is
computed exactly by back-propagation, with no sampling and no finite differences. Because the
model predicts one day at a time, there is one gradient per static input and *day*;
:func:`sensitivity` writes into ``<run>/analysis/sensitivity/``:

* ``gradients.csv`` -- basins x attributes: mean over the period's days of
  :math:`|\partial Q_{sim}[t] / \partial x_{s,i}|`, in mm/day per standard deviation of the
  attribute (gradients are taken w.r.t. the *standardised* statics);
* ``ranking.csv`` -- Table 4: per basin the gradients are min-max normalised to [0, 1] over the
  attributes, then averaged over basins; columns ``rank, attribute, label, score``;
* ``most_sensitive.csv`` and ``map.png`` -- the attribute with the largest gradient of each
  basin, on a lon/lat map of the conterminous US with state outlines (Fig. 7);
* ``meta.json`` -- settings and cost.

State outlines come from ``us_states_conus.json`` in this package: U.S. Census Bureau
cartographic boundaries 2017 (public domain) via the ``us-atlas`` 3.0.1 TopoJSON, simplified to
0.03 degree. Without that file the map falls back to a plain lon/lat frame.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from torch import nn

from ealstm.analysis.maps import draw_basemap
from ealstm.analysis.robustness import save_png
from ealstm.data.readers.datasets import read_locations
from ealstm.errors import ConfigError
from ealstm.evaluation.run import TrainedRun, load_run
from ealstm.io import save_csv, save_json
from ealstm.progress import track
from ealstm.simulation.chunked import map_chunks, period_inputs
from ealstm.simulation.simulate import resolve_chunk

log = logging.getLogger(__name__)

#: Sequence steps per forward/backward pass; the backward pass keeps every step's state, so
#: this is smaller than for simulation (about 340 MB at 256 hidden units).
DEFAULT_GRADIENT_BATCH_STEPS = 2**16
#: Names of the static attributes in the paper's Table 4.
ATTRIBUTE_LABELS = {
    "p_mean": "Mean precipitation", "aridity": "Aridity", "area_gages2": "Area",
    "elev_mean": "Mean elevation", "high_prec_dur": "High precip. duration",
    "frac_snow": "Fraction of snow", "high_prec_freq": "High precip. frequency",
    "slope_mean": "Mean slope", "geol_permeability": "Geological permeability",
    "carbonate_rocks_frac": "Frac. carbonate sedimentary rock", "clay_frac": "Clay fraction",
    "pet_mean": "Mean PET", "low_prec_freq": "Low precip. frequency",
    "soil_depth_pelletier": "Soil depth to bedrock", "p_seasonality": "Precip. seasonality",
    "frac_forest": "Frac. of Forest", "sand_frac": "Sand fraction",
    "soil_conductivity": "Saturated hyd. conductivity", "low_prec_dur": "Low precip. duration",
    "gvf_max": "Max. green veg. frac. (GVF)", "gvf_diff": "Annual GVF diff.",
    "lai_diff": "Annual leaf area index (LAI) diff.", "soil_porosity": "Volumetric porosity",
    "soil_depth_statsgo": "Soil depth", "lai_max": "Max. LAI", "silt_frac": "Silt fraction",
    "max_water_content": "Max. water content",
}


@dataclass(frozen=True)
class SensitivityResult:
    """Gradient sensitivities of a run, their Table-4 ranking and what they cost.

    Attributes
    ----------
    gradients
        Index ``basin``, one column per attribute: mean absolute gradient (mm/day per std).
    ranking
        Columns ``rank, attribute, label, score``, sorted by ``score`` (descending).
    most_sensitive
        Index ``basin``: ``lat, lon, attribute`` with the largest gradient.
    mode, chunk, warmup
        ``"seq-to-one"`` (``chunk = 1``, the paper's definition) or ``"chunked"``.
    n_gradient_days
        Basin-days with a gradient (valid input windows).
    wall_time_s, gradient_time_s
        Seconds for the whole call and for the gradients alone.
    map_background
        ``"us-states"`` or ``"lonlat-frame"``.
    files
        ``gradients``, ``ranking``, ``most_sensitive``, ``map`` and ``meta`` paths.
    output_dir
        ``<run>/analysis/sensitivity``.
    """

    gradients: pd.DataFrame
    ranking: pd.DataFrame
    most_sensitive: pd.DataFrame
    mode: str
    chunk: int
    warmup: int
    n_gradient_days: int
    wall_time_s: float
    gradient_time_s: float
    map_background: str
    files: dict[str, Path]
    output_dir: Path


@contextmanager
def _frozen_parameters(model: nn.Module) -> Iterator[None]:
    """Switch off parameter gradients (only input gradients are needed), then restore them."""
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)


def output_gradients(model: nn.Module, x_d: torch.Tensor, x_s: torch.Tensor,
                     predict_last_n: int = 1, max_copies: int | None = None) -> torch.Tensor:
    """Exact gradients of each sequence's predictions w.r.t. its own static inputs (eq. 15).

    Parameters
    ----------
    model
        Model ``forward(x_d [N, T, F], x_s [N, S], predict_last_n) -> [N, n]``; it is put in
        eval mode.
    x_d, x_s
        Standardised inputs ``[N, T, F]`` and ``[N, S]``.
    predict_last_n
        Predicted final steps ``n`` per sequence.
    max_copies
        Copies of each sequence per forward/backward pass (bounds memory; default ``n``).

    Returns
    -------
    torch.Tensor
        ``[N, n, S]``: ``d y[k, j] / d x_s[k]``, in scaled target units per std of ``x_s``.
    """
    model.eval()
    n = predict_last_n
    size = max(1, min(max_copies or n, n))
    return torch.cat([_step_gradients(model, x_d, x_s, n, first, min(first + size, n))
                      for first in range(0, n, size)], dim=1)


def _step_gradients(model: nn.Module, x_d: torch.Tensor, x_s: torch.Tensor, n: int,
                    first: int, stop: int) -> torch.Tensor:
    """Gradients ``[N, stop - first, S]`` of the outputs ``first .. stop - 1`` (one pass).

    In eval mode the samples of a batch are independent (no batch statistics, dropout off,
    every sequence starts from its own zero state), so y[k] depends on leaf[k] only and
    d(sum_k y[k]) / d leaf[k] = d y[k] / d leaf[k]. Each sequence is repeated once per output,
    with its own copy of the statics, and copy i keeps only output ``first + i``: one backward
    pass gives every (sample, step) gradient. (One backward pass per output instead made
    ``--chunk 365`` hundreds of times slower than ``--chunk 1``.)
    """
    g = stop - first
    leaf = x_s.detach().repeat_interleave(g, dim=0).requires_grad_(True)
    with torch.enable_grad(), _frozen_parameters(model):
        y = model(x_d.repeat_interleave(g, dim=0) if g > 1 else x_d, leaf, n)
        picked = y.reshape(-1, g, n)[:, :, first:stop].diagonal(dim1=1, dim2=2)  # copy i, i
        (grads,) = torch.autograd.grad(picked.sum(), leaf)
    return grads.reshape(-1, g, x_s.shape[1])


def day_gradients(model: nn.Module, x_d: torch.Tensor, x_s: torch.Tensor, warmup: int,
                  chunk: int = 1,
                  batch_steps: int = DEFAULT_GRADIENT_BATCH_STEPS) -> torch.Tensor:
    """Gradient of every simulated day w.r.t. the statics, for the sequences of the simulation.

    The days and their sequences are those of
    :func:`~ealstm.simulation.chunked.simulate_chunked`: with ``warmup = seq_length - 1`` and
    ``chunk = 1`` each day's own seq-to-one window (the paper). Reverse mode needs one
    backward pass per predicted position: :func:`output_gradients` repeats each chunk sequence
    ``chunk`` times, so ``chunk > 1`` costs about ``(warmup + chunk) / (warmup + 1)`` times the
    work of ``chunk = 1`` (``batch_steps`` is divided by ``chunk`` to bound memory).

    Parameters
    ----------
    model
        Trained model (eval mode is set).
    x_d
        Standardised inputs ``[B, T, F]``.
    x_s
        Standardised statics ``[B, S]``.
    warmup, chunk, batch_steps
        As in :func:`~ealstm.simulation.chunked.simulate_chunked`.

    Returns
    -------
    torch.Tensor
        ``[B, T, S]`` on ``x_d``'s device; NaN where the day is not simulated (first
        ``warmup`` days, non-finite inputs in its sequence).
    """
    def gradients(windows: torch.Tensor, statics: torch.Tensor | None, n_pred: int) -> torch.Tensor:
        return output_gradients(model, windows, statics, n_pred,
                                max(1, batch_steps // (warmup + n_pred)))

    return map_chunks(gradients, x_d, x_s, warmup, chunk, max(1, batch_steps // chunk),
                      next(model.parameters()).device, tail=(x_s.shape[1],))


def basin_sensitivities(run: TrainedRun, period: str, chunk: int,
                        batch_steps: int) -> tuple[pd.DataFrame, int]:
    """Mean absolute gradient per basin and attribute, in mm/day per std of the attribute.

    Returns
    -------
    tuple[pandas.DataFrame, int]
        Index ``basin``, columns the attributes; and the number of basin-days used.
    """
    scaled, warmup = run.scaled, run.cfg.data.seq_length - 1
    x_d = period_inputs(scaled.dynamic, scaled.time_slice(run.cfg.data.period(period)), warmup)
    x_s = torch.from_numpy(np.ascontiguousarray(scaled.static, dtype=np.float32))
    table = np.full(scaled.static.shape, np.nan)
    n_days = 0
    basins = track(range(len(scaled.basins)), len(scaled.basins), f"sensitivity {period}")
    for b in basins:
        grads = day_gradients(run.model, x_d[b:b + 1], x_s[b:b + 1], warmup, chunk,
                              batch_steps)[0, warmup:].double().abs().cpu().numpy()
        valid = ~np.isnan(grads).any(axis=1)
        n_days += int(valid.sum())
        if valid.any():
            table[b] = grads[valid].mean(axis=0) * run.scaler.target_std
        else:
            log.warning("basin %s has no valid input window in %s", scaled.basins[b], period)
    frame = pd.DataFrame(table, index=pd.Index(scaled.basins, name="basin"),
                         columns=list(scaled.static_names))
    return frame, n_days


def rank_attributes(gradients: pd.DataFrame) -> pd.DataFrame:
    """Table 4: per-basin min-max normalisation over attributes, averaged over basins.

    Basins without gradients, or whose gradients are all equal, have no normalised values
    and are left out of the average.

    Returns
    -------
    pandas.DataFrame
        Columns ``rank`` (1 = most sensitive), ``attribute``, ``label`` (paper wording where
        known) and ``score`` in [0, 1], sorted by ``score`` descending.
    """
    values = gradients.to_numpy(dtype=np.float64)
    low, high = values.min(axis=1, keepdims=True), values.max(axis=1, keepdims=True)
    span = high - low
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.where(span > 0, (values - low) / span, np.nan)
    usable = ~np.isnan(normalised).all(axis=1)
    if not usable.any():
        raise ValueError("no basin has gradients that differ between attributes")
    score = normalised[usable].mean(axis=0)
    order = np.argsort(-score, kind="stable")
    attributes = [str(gradients.columns[i]) for i in order]
    return pd.DataFrame({"rank": np.arange(1, len(order) + 1), "attribute": attributes,
                         "label": [ATTRIBUTE_LABELS.get(a, a) for a in attributes],
                         "score": score[order]})


def plot_sensitivity_map(most: pd.DataFrame, ranking: pd.DataFrame, path: Path) -> str:
    """Map of the most sensitive attribute per basin (Fig. 7); return the background used.

    Attributes are coloured in ranking order; the legend lists those that occur with their
    number of basins.
    """
    fig = Figure(figsize=(11, 5.5))
    ax = fig.subplots()
    background = draw_basemap(ax, most["lon"].to_numpy(), most["lat"].to_numpy())
    present = [a for a in ranking["attribute"] if (most["attribute"] == a).any()]
    for k, attribute in enumerate(present):
        rows = most[most["attribute"] == attribute]
        ax.scatter(rows["lon"], rows["lat"], s=24, color=_color(k, len(present)), edgecolors="0.2",
                   linewidths=0.3, zorder=2,
                   label=f"{ATTRIBUTE_LABELS.get(attribute, attribute)} ({len(rows)})")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False,
              title="most sensitive attribute")
    ax.set_title(f"Most sensitive static attribute per basin ({len(most)} basins)")
    save_png(fig, path)
    return background


def _color(k: int, n: int) -> tuple[float, ...]:
    """Pick colour ``k`` of ``n``: tab20's strong hues, then its light ones; a cmap if > 20."""
    if n > 20:
        return colormaps["gist_ncar"](k / n)
    return colormaps["tab20"](2 * k % 20 + 2 * k // 20)


def _locations(run: TrainedRun, gradients: pd.DataFrame) -> pd.DataFrame:
    """``lat, lon, attribute`` of each basin with gradients (camels_topo coordinates)."""
    valid = gradients.dropna(how="all")
    locations = read_locations(run.cfg.data, list(valid.index))
    most = locations[["lat", "lon"]].copy()
    most["attribute"] = valid.idxmax(axis=1).to_numpy()
    most.index.name = "basin"
    return most


def _require_statics(run: TrainedRun) -> None:
    """Raise a ConfigError for a model without static inputs."""
    if not run.cfg.model.use_static:
        raise ConfigError(
            f"run {run.paths.root} was trained without static inputs (model.name: "
            f"{run.cfg.model.name}, model.use_static: false): there are no static inputs to "
            "take gradients with respect to; analyse an EA-LSTM or an LSTM trained with statics")


def sensitivity(run_dir: Path, period: str = "test", chunk: int | None = None,
                epoch: int | None = None, device: str | None = None,
                batch_steps: int = DEFAULT_GRADIENT_BATCH_STEPS) -> SensitivityResult:
    """Explicit Morris sensitivities of a run to its static inputs (eq. 15, Table 4, Fig. 7).

    Parameters
    ----------
    run_dir
        Directory written by ``ealstm train``; outputs go to ``analysis/sensitivity/`` in it.
    period
        ``train``, ``validation`` or ``test``.
    chunk
        ``None``: the run's evaluation chunk (:func:`~ealstm.simulation.simulate.resolve_chunk`;
        1 for the paper's seq-to-one models). 1: gradient of each day's seq-to-one prediction
        (the paper). ``> 1``:
        gradients of the chunked simulation's days (about ``(warmup + chunk) / (warmup + 1)``
        times the cost of 1: no cheaper in reverse mode).
    epoch, device
        Checkpoint (default: best validation epoch, else last) and torch device (default:
        the run's).
    batch_steps
        Sequence steps per forward/backward pass (memory bound).

    Raises
    ------
    ConfigError
        The run has no static inputs, or ``chunk < 1``.
    """
    start = time.perf_counter()
    run = load_run(Path(run_dir), epoch, device)
    _require_statics(run)
    chunk = resolve_chunk(chunk, run.cfg)
    gradient_start = time.perf_counter()
    gradients, n_days = basin_sensitivities(run, period, chunk, batch_steps)
    gradient_time = time.perf_counter() - gradient_start
    ranking = rank_attributes(gradients)
    most = _locations(run, gradients)
    out = run.paths.analysis("sensitivity")
    files = {"gradients": out / "gradients.csv", "ranking": out / "ranking.csv",
             "most_sensitive": out / "most_sensitive.csv", "map": out / "map.png",
             "meta": out / "meta.json"}
    save_csv(files["gradients"], gradients)
    save_csv(files["ranking"], ranking, index=False)
    save_csv(files["most_sensitive"], most)
    background = plot_sensitivity_map(most, ranking, files["map"])
    meta = _meta(run, period, chunk, n_days, gradient_time, background)
    save_json(files["meta"], meta | {"wall_time_s": time.perf_counter() - start})
    return SensitivityResult(gradients, ranking, most, meta["mode"], chunk, meta["warmup"],
                             n_days, time.perf_counter() - start, gradient_time, background,
                             files, out)


def _meta(run: TrainedRun, period: str, chunk: int, n_days: int, gradient_time: float,
          background: str) -> dict:
    """Collect the settings and cost of the analysis for ``meta.json``."""
    n_period_days = len(run.scaled.dates[run.scaled.time_slice(run.cfg.data.period(period))])
    return {
        "analysis": "sensitivity", "paper": "Kratzert et al. 2019, sections 2.6.2 and 3.3",
        "run": str(run.paths.root), "epoch": run.epoch, "model": run.cfg.model.name,
        "period": period, "mode": "seq-to-one" if chunk == 1 else "chunked", "chunk": chunk,
        "warmup": run.cfg.data.seq_length - 1, "seq_length": run.cfg.data.seq_length,
        "n_basins": len(run.scaled.basins), "n_gradient_days": n_days,
        "n_masked_days": len(run.scaled.basins) * n_period_days - n_days,
        "gradient_units": "mm/day per standard deviation of the attribute",
        "gradient_time_s": gradient_time, "device": str(run.device),
        "torch_threads": torch.get_num_threads(), "map_background": background,
    }
