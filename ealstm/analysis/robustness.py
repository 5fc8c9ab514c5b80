"""Robustness of a trained model to noisy static inputs (paper sections 2.6.2 and 3.3, Fig. 6).

Catchment attributes are uncertain, so the paper forces (does not retrain) each trained model
with perturbed statics: Gaussian noise ``N(0, sigma)`` is added to the *standardised* static
inputs ``x_s`` of each basin, for ``sigma = 0.1, ..., 1.0`` and 50 noise vectors per basin and
sigma (531 x 10 x 50 = 265,500 evaluations), and the NSE of each simulation is computed.
``sigma = 0`` (the unperturbed attributes) is the reference.

:func:`robustness` writes into ``<run>/analysis/robustness/``:

* ``nse.nc`` -- NSE ``[sigma, draw, basin]`` (``sigma = 0`` first; its draws are identical);
* ``summary.csv`` -- per sigma: valid count, mean, median and the 1st, 5th, 25th, 75th and
  95th percentile of the NSE pooled over basins and draws;
* ``nse_vs_sigma.png`` -- boxplots vs sigma (median line, mean marker, box 25-75 %, whiskers
  5-95 %): left the NSE as the paper's Fig. 6, axis floor -1 (values below are counted in the
  title); right the change of each basin's NSE, :func:`delta_nse`;
* ``meta.json`` -- settings and cost (wall time, simulated basin-days, LSTM steps).

Cost. All draws of a basin (and several basins when they fit) share one call of
:func:`~ealstm.simulation.chunked.simulate_chunked`, driven exactly as the run's evaluation
(:class:`~ealstm.simulation.simulate.Simulation`): the training warm-up before every predicted
day and, by default, the run's evaluation chunk, so that sigma = 0 reproduces the NSE of
``ealstm evaluate``. For a sequence-to-one model that is ``chunk = 1`` (exact, ``seq_length``
LSTM steps per simulated day); a larger ``chunk`` is far cheaper (``chunk = seq_length``: about
2 steps per day) but lets the state run longer than in training, which changes the NSE
(``meta.json`` records the mode; compare its sigma = 0 row with the evaluation).

As in the evaluation (and the paper's code), negative simulated discharge is set to 0 before
the NSE unless the run's ``evaluation.clip_negative`` is ``false``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ealstm.errors import ConfigError
from ealstm.evaluation.run import TrainedRun, load_run
from ealstm.io import atomic_path, save_csv, save_json, save_netcdf
from ealstm.progress import track
from ealstm.simulation.chunked import (
    DEFAULT_BATCH_STEPS,
    invalid_days,
    model_steps,
    period_inputs,
    simulate_chunked,
)
from ealstm.simulation.simulate import Simulation, resolve_chunk, to_discharge

log = logging.getLogger(__name__)

#: Noise levels of the paper (section 2.6.2), in units of the attributes' standard deviation.
DEFAULT_SIGMAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: Percentiles of the summary table (section 3.3 quotes the 1st and 5th).
PERCENTILES = (1, 5, 25, 75, 95)
#: Target number of simulated rows (basin x draw) per call of ``simulate_chunked``.
ROWS_PER_PASS = 512


@dataclass(frozen=True)
class RobustnessResult:
    """NSE under noisy statics, its summary, the simulation mode and what it cost.

    Attributes
    ----------
    nse
        NSE ``[sigma, draw, basin]``; ``sigma`` starts with the 0 reference.
    summary
        Index ``sigma``; columns ``n, mean, median, p01, p05, p25, p75, p95``.
    mode, chunk, warmup
        ``"seq-to-one"`` (``chunk = 1``) or ``"chunked"``, and the chunking used.
    wall_time_s, simulate_time_s
        Seconds for the whole call and for the simulations alone.
    n_basin_days
        Simulated (basin, draw, day) triples of the period.
    n_model_steps
        Recurrent steps run (``~ n_basin_days * (warmup + chunk) / chunk``).
    files
        ``nse``, ``summary``, ``plot`` and ``meta`` paths.
    output_dir
        ``<run>/analysis/robustness``.
    """

    nse: xr.DataArray
    summary: pd.DataFrame
    mode: str
    chunk: int
    warmup: int
    wall_time_s: float
    simulate_time_s: float
    n_basin_days: int
    n_model_steps: int
    files: dict[str, Path]
    output_dir: Path


def nse_rows(obs: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """NSE of many simulations of one basin, as :func:`ealstm.metrics.nse`.

    Parameters
    ----------
    obs
        Observed discharge ``[time]``.
    sim
        Simulated discharge ``[row, time]`` in the same units.

    Returns
    -------
    numpy.ndarray
        float64 ``[row]``; steps where obs or sim is NaN are dropped per row; NaN where fewer
        than 2 steps remain or the remaining obs are constant.
    """
    obs = np.asarray(obs, dtype=np.float64)[None, :]
    sim = np.asarray(sim, dtype=np.float64)
    valid = ~(np.isnan(obs) | np.isnan(sim))
    count = valid.sum(axis=1)
    o = np.where(valid, obs, 0.0)
    mean = o.sum(axis=1) / np.maximum(count, 1)
    denominator = np.where(valid, (obs - mean[:, None]) ** 2, 0.0).sum(axis=1)
    numerator = np.where(valid, (sim - obs) ** 2, 0.0).sum(axis=1)
    defined = (count >= 2) & (denominator > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(defined, 1.0 - numerator / denominator, np.nan)


def perturbed_statics(x_s: np.ndarray, sigmas: Sequence[float], n_draws: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Stack the unperturbed statics of one basin and its noisy draws.

    Parameters
    ----------
    x_s
        Standardised statics of the basin ``[attribute]``.
    sigmas
        Positive noise levels (the 0 reference is the first row anyway).
    n_draws
        Noise vectors per sigma.
    rng
        The basin's own generator: draws do not depend on which basins run together.

    Returns
    -------
    numpy.ndarray
        float32 ``[1 + n_sigma * n_draws, attribute]``: row 0 is ``x_s``, row
        ``1 + i * n_draws + k`` is ``x_s + sigma_i * z_ik`` with ``z_ik ~ N(0, I)``.
    """
    noise = rng.standard_normal((len(sigmas), n_draws, x_s.shape[0]))
    noisy = x_s[None, None, :] + np.asarray(sigmas, dtype=np.float64)[:, None, None] * noise
    return np.concatenate([x_s[None, :], noisy.reshape(-1, x_s.shape[0])]).astype(np.float32)


def _check_args(run: TrainedRun, sigmas: Sequence[float], n_draws: int) -> tuple[float, ...]:
    """Validate the run (it must have statics) and the noise settings; return sorted sigmas."""
    if not run.cfg.model.use_static:
        raise ConfigError(
            f"run {run.paths.root} was trained without static inputs (model.name: "
            f"{run.cfg.model.name}, model.use_static: false), so there are no catchment "
            "attributes to perturb; analyse an EA-LSTM or an LSTM trained with statics")
    levels = sorted({float(s) for s in sigmas} - {0.0})
    if not levels or any(not np.isfinite(s) or s < 0 for s in levels):
        raise ConfigError(f"sigmas must be positive, finite noise levels, got {list(sigmas)}")
    if n_draws < 1:
        raise ConfigError(f"n_draws must be at least 1, got {n_draws}")
    return tuple(levels)


def _basin_groups(n_basins: int, rows_per_basin: int) -> list[np.ndarray]:
    """Basins simulated together: about :data:`ROWS_PER_PASS` rows per pass, at least one."""
    per_pass = max(1, ROWS_PER_PASS // rows_per_basin)
    return [np.arange(i, min(i + per_pass, n_basins)) for i in range(0, n_basins, per_pass)]


def _simulate_group(run: TrainedRun, x_d: torch.Tensor, x_s: np.ndarray, warmup: int,
                    chunk: int, batch_steps: int) -> np.ndarray:
    """Discharge in mm/day ``[row, day]`` of rows sharing their basin's inputs ``x_d``."""
    sim = simulate_chunked(run.model, x_d, torch.from_numpy(x_s), warmup, chunk, batch_steps)
    return to_discharge(run.scaler, sim[:, warmup:].cpu().numpy(),
                        run.cfg.evaluation.clip_negative)


def _nse_array(run: TrainedRun, period: str, sigmas: tuple[float, ...], n_draws: int,
               seed: int, chunk: int, batch_steps: int) -> np.ndarray:
    """NSE ``[1 + n_sigma, n_draws, basin]`` of every draw (sigma 0 broadcast over draws)."""
    scaled, warmup = run.scaled, Simulation.of(run.cfg).warmup
    time_slice = scaled.time_slice(run.cfg.data.period(period))
    x_d = period_inputs(scaled.dynamic, time_slice, warmup)
    obs = scaled.observed[:, time_slice]
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(x_d.shape[0])]
    rows = 1 + len(sigmas) * n_draws
    nse = np.full((1 + len(sigmas), n_draws, x_d.shape[0]), np.nan)
    groups = _basin_groups(x_d.shape[0], rows)
    for group in track(groups, len(groups), f"robustness {period} (basin groups)"):
        x_s = np.concatenate([perturbed_statics(scaled.static[b], sigmas, n_draws, rngs[b])
                              for b in group])
        inputs = (x_d[group].expand(rows, -1, -1) if len(group) == 1  # a view, no copy
                  else x_d[group].repeat_interleave(rows, dim=0))
        q = _simulate_group(run, inputs, x_s, warmup, chunk, batch_steps)
        for k, b in enumerate(group):
            scores = nse_rows(obs[b], q[k * rows:(k + 1) * rows])
            nse[0, :, b] = scores[0]
            nse[1:, :, b] = scores[1:].reshape(len(sigmas), n_draws)
    return nse


def summarize_nse(nse: xr.DataArray) -> pd.DataFrame:
    """Per-sigma statistics of NSE pooled over basins and draws (NaN ignored).

    Returns
    -------
    pandas.DataFrame
        Index ``sigma``; columns ``n, mean, median, p01, p05, p25, p75, p95``.
    """
    rows = []
    for sigma in nse["sigma"].values:
        values = nse.sel(sigma=sigma).values.ravel()
        values = values[~np.isnan(values)]
        row = {"sigma": float(sigma), "n": int(values.size)}
        stats = ([np.mean(values), np.median(values), *np.percentile(values, PERCENTILES)]
                 if values.size else [np.nan] * (2 + len(PERCENTILES)))
        names = ["mean", "median", *(f"p{p:02d}" for p in PERCENTILES)]
        rows.append(row | {n: float(v) for n, v in zip(names, stats, strict=True)})
    return pd.DataFrame(rows).set_index("sigma")


def save_png(fig: Figure, path: Path, dpi: int = 150) -> Path:
    """Write a matplotlib figure as PNG, atomically (temp file + ``os.replace``)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return Path(path)


#: Lowest NSE shown by the left panel of :func:`plot_nse_vs_sigma`; lower values are counted.
NSE_AXIS_FLOOR = -1.0


def delta_nse(nse: xr.DataArray) -> xr.DataArray:
    """Per-basin change of NSE by the noise: median over draws of NSE(sigma) - NSE(0).

    Differences are taken per basin and draw before the median, so a basin with a very low NSE
    contributes its *change*, not its level; ``sigma = 0`` gives 0 (NaN where NSE is NaN).
    """
    reference = nse.sel(sigma=0.0).median("draw")
    return (nse - reference).median("draw").rename("delta_nse")


def _boxes(ax: Axes, data: list[np.ndarray], sigmas: np.ndarray) -> None:
    ax.boxplot(data, whis=(5, 95), showmeans=True, flierprops={"markersize": 3, "alpha": 0.4})
    ax.set_xticks(range(1, len(data) + 1), [f"{s:g}" for s in sigmas])
    ax.axhline(0.0, color="0.7", lw=0.8, zorder=0)
    ax.set_xlabel(r"noise $\sigma$ added to the standardised static inputs (std)")
    ax.grid(axis="y", alpha=0.3)


def plot_nse_vs_sigma(nse: xr.DataArray, summary: pd.DataFrame, path: Path) -> Path:
    """NSE and per-basin change of NSE vs sigma (the paper's Fig. 6, and its differences).

    Left: NSE pooled over basins and draws (each evaluation counts): median line, mean
    marker, box 25th-75th and whiskers 5th-95th percentile, circles beyond. The NSE has no lower
    bound and one poor basin (NSE -90) would squash every box, so the axis stops at the lowest
    whisker or at :data:`NSE_AXIS_FLOOR`, whichever is higher, and the title counts the values
    below the floor. Right: the change of each
    basin's NSE, :func:`delta_nse`, whose spread the noise alone explains.
    """
    sigmas = nse["sigma"].values
    pooled = [v[~np.isnan(v)] for v in (nse.sel(sigma=s).values.ravel() for s in sigmas)]
    delta = delta_nse(nse)
    per_basin = [v[~np.isnan(v)] for v in (delta.sel(sigma=s).values for s in sigmas)]
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    _boxes(left, pooled, sigmas)
    whiskers = [float(np.percentile(v, 5)) for v in pooled if v.size]
    low = max(min(whiskers, default=0.0), NSE_AXIS_FLOOR)
    left.set_ylim(min(low, 0.0) - 0.05, 1.02)
    below = sum(int((v < NSE_AXIS_FLOOR).sum()) for v in pooled)
    left.set(ylabel="NSE (-)", title=f"NSE ({nse.sizes['basin']} basins x {nse.sizes['draw']} "
             f"draws); {below} values below {NSE_AXIS_FLOOR:g} not shown")
    left.legend(handles=[Line2D([], [], color="C1", label="median"),
                         Line2D([], [], color="C2", marker="^", ls="", label="mean")],
                loc="lower left", fontsize=8)
    _boxes(right, per_basin, sigmas)
    right.set(ylabel=r"$\Delta$NSE = NSE($\sigma$) - NSE(0) (-)",
              title="change of NSE per basin (median over draws)")
    left.title.set_fontsize(9)
    right.title.set_fontsize(9)
    return save_png(fig, path)


def _nse_dataarray(values: np.ndarray, sigmas: tuple[float, ...], basins: Sequence[str],
                   attrs: dict) -> xr.DataArray:
    """Wrap the NSE array with its ``sigma``, ``draw`` and ``basin`` coordinates."""
    return xr.DataArray(values.astype(np.float64), dims=("sigma", "draw", "basin"),
                        coords={"sigma": np.array((0.0, *sigmas)),
                                "draw": np.arange(values.shape[1]), "basin": list(basins)},
                        name="nse", attrs=attrs)


def robustness(run_dir: Path, sigmas: Sequence[float] = DEFAULT_SIGMAS, n_draws: int = 50,
               period: str = "test", seed: int = 0, chunk: int | None = None,
               epoch: int | None = None, device: str | None = None,
               batch_steps: int = DEFAULT_BATCH_STEPS) -> RobustnessResult:
    """NSE of a trained run forced with noisy static inputs (section 2.6.2, Fig. 6).

    Parameters
    ----------
    run_dir
        Directory written by ``ealstm train``; outputs go to ``analysis/robustness/`` in it.
    sigmas
        Positive noise levels; the 0 reference is always added.
    n_draws
        Noise vectors per basin and sigma (paper: 50).
    period
        ``train``, ``validation`` or ``test``.
    seed
        Seed of the noise; each basin draws from its own child of ``SeedSequence(seed)``.
    chunk
        Predicted days per simulated sequence; ``None``: ``seq_length``; 1: exact seq-to-one.
    epoch, device
        Checkpoint (default: best validation epoch, else last) and torch device (default:
        the run's).
    batch_steps
        Sequence steps per forward pass (memory bound).

    Raises
    ------
    ConfigError
        The run has no static inputs, or invalid ``sigmas`` / ``n_draws`` / ``chunk``.
    """
    start = time.perf_counter()
    run = load_run(Path(run_dir), epoch, device)
    levels = _check_args(run, sigmas, n_draws)
    chunk = resolve_chunk(chunk, run.cfg)
    sim_start = time.perf_counter()
    values = _nse_array(run, period, levels, n_draws, seed, chunk, batch_steps)
    simulate_time = time.perf_counter() - sim_start
    meta = _meta(run, period, levels, n_draws, seed, chunk, simulate_time)
    nse = _nse_dataarray(values, levels, run.scaled.basins, {
        "period": period, "seed": seed, "mode": meta["mode"], "chunk": chunk})
    summary = summarize_nse(nse)
    files = _write(run, nse, summary, meta | {"wall_time_s": time.perf_counter() - start})
    return RobustnessResult(nse, summary, meta["mode"], chunk, meta["warmup"],
                            time.perf_counter() - start, simulate_time,
                            meta["n_simulated_basin_days"], meta["n_model_steps"], files,
                            files["meta"].parent)


def _meta(run: TrainedRun, period: str, sigmas: tuple[float, ...], n_draws: int, seed: int,
          chunk: int, simulate_time: float) -> dict:
    """Collect the settings and cost of the analysis for ``meta.json``."""
    seq_length, warmup = run.cfg.data.seq_length, Simulation.of(run.cfg).warmup
    time_slice = run.scaled.time_slice(run.cfg.data.period(period))
    n_days = len(run.scaled.dates[time_slice])
    n_rows = len(run.scaled.basins) * (1 + len(sigmas) * n_draws)
    x_d = period_inputs(run.scaled.dynamic, time_slice, warmup)
    masked = invalid_days(x_d, None, warmup, chunk)[:, warmup:]
    return {
        "analysis": "robustness", "paper": "Kratzert et al. 2019, sections 2.6.2 and 3.3",
        "run": str(run.paths.root), "epoch": run.epoch, "model": run.cfg.model.name,
        "period": period, "sigmas": [0.0, *sigmas], "n_draws": n_draws, "seed": seed,
        "mode": "seq-to-one" if chunk == 1 else "chunked", "chunk": chunk,
        "warmup": warmup, "seq_length": seq_length,
        "n_basins": len(run.scaled.basins), "n_days": n_days, "n_simulations": n_rows,
        "n_simulated_basin_days": n_rows * n_days,
        "n_masked_basin_days": int(masked.sum()) * (1 + len(sigmas) * n_draws),
        "n_model_steps": model_steps(n_rows, n_days + warmup, warmup, chunk),
        "simulate_time_s": simulate_time, "device": str(run.device),
        "torch_threads": torch.get_num_threads(),
    }


def _write(run: TrainedRun, nse: xr.DataArray, summary: pd.DataFrame,
           meta: dict) -> dict[str, Path]:
    """Write ``nse.nc``, ``summary.csv``, ``nse_vs_sigma.png`` and ``meta.json`` atomically."""
    out = run.paths.analysis("robustness")
    files = {"nse": out / "nse.nc", "summary": out / "summary.csv",
             "plot": out / "nse_vs_sigma.png", "meta": out / "meta.json"}
    save_netcdf(files["nse"], nse.to_dataset())
    save_csv(files["summary"], summary)
    plot_nse_vs_sigma(nse, summary, files["plot"])
    save_json(files["meta"], meta)
    return files
