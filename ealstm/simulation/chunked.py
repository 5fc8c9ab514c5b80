"""Long-sequence simulation in chunks: seq-to-one accuracy control at a fraction of the cost.

Sequence-to-one prediction (paper section 2.6, the way the model is trained) runs one sequence
of ``seq_length`` steps per predicted day, i.e. ``seq_length`` LSTM steps per day. For the
analyses that simulate a basin many times (section 2.6.2: 531 basins x 10 sigmas x 50 draws)
that is the dominant cost. :func:`simulate_chunked` cuts the time axis into chunks of ``chunk``
predicted days; each chunk is one sequence of ``warmup + chunk`` steps that starts from a zero
state ``h = c = 0`` (eqs. 11-12), reads the ``warmup`` days before the chunk as inputs only and
predicts every day of the chunk (``predict_last_n = chunk``). The cost is then
``(warmup + chunk) / chunk`` steps per day instead of ``warmup + 1``.

With ``warmup = seq_length - 1`` and ``chunk = 1`` every sequence is exactly the seq-to-one
window of its day, so the result equals :func:`ealstm.simulation.simulate.simulate`. With larger
chunks day ``j`` of a chunk sees ``warmup + j`` days of history: at least as much as in
training, so the difference is the (small) effect of the longer memory.

Missing inputs are never fed to the model: non-finite inputs are replaced by 0 before the
forward pass and every day whose sequence (from the chunk's first warmup day up to the day
itself) holds a non-finite input gets NaN. Outputs before the gap are kept: the recurrence is
causal, so they never saw the replaced values. :func:`invalid_days` gives that mask and the
number of masked days is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from ealstm.progress import track

log = logging.getLogger(__name__)

#: Default budget of sequence steps (sequences x length) per forward pass: 485 sequences of
#: 270 + 270 steps, about 135 MB of EA-LSTM hidden states at 256 units (an ``nn.LSTM`` keeps
#: all ``[batch, time, hidden]`` outputs: twice that). Larger batches gained nothing on CPU.
DEFAULT_BATCH_STEPS = 2**18


def chunk_plan(n_times: int, warmup: int, chunk: int) -> list[tuple[torch.Tensor, int]]:
    """First predicted day of every chunk, grouped by chunk length.

    Parameters
    ----------
    n_times
        Length ``T`` of the time axis.
    warmup
        Input-only days before each chunk (``>= 0``); days ``0 .. warmup - 1`` are not predicted.
    chunk
        Predicted days per chunk (``>= 1``).

    Returns
    -------
    list of (torch.Tensor, int)
        ``(starts, n_pred)`` pairs: int64 ``[n_chunks]`` first predicted days of the chunks of
        ``n_pred`` days. The full chunks come first, then (if ``T - warmup`` is not a multiple
        of ``chunk``) one shorter last chunk. Empty if ``T <= warmup``.
    """
    _check_plan_args(warmup, chunk)
    starts = torch.arange(warmup, n_times, chunk, dtype=torch.int64)
    if starts.numel() == 0:
        return []
    n_last = n_times - int(starts[-1])
    if n_last == chunk:
        return [(starts, chunk)]
    groups = [(starts[:-1], chunk)] if starts.numel() > 1 else []
    return [*groups, (starts[-1:], n_last)]


def _check_plan_args(warmup: int, chunk: int) -> None:
    """Validate ``warmup >= 0`` and ``chunk >= 1``."""
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0 days, got {warmup}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1 predicted day, got {chunk}")


def gather_windows(x_d: torch.Tensor, rows: torch.Tensor, starts: torch.Tensor, warmup: int,
                   n_pred: int) -> torch.Tensor:
    """Cut the chunk sequences ``x_d[rows[k], starts[k] - warmup : starts[k] + n_pred]``.

    Parameters
    ----------
    x_d
        Dynamic inputs ``[batch, time, feature]`` (an expanded view is fine: nothing is copied
        but the gathered windows).
    rows, starts
        int64 ``[n]`` row of ``x_d`` and first predicted day of each sequence.
    warmup, n_pred
        Input-only days and predicted days of each sequence.

    Returns
    -------
    torch.Tensor
        ``[n, warmup + n_pred, feature]`` contiguous windows.
    """
    offsets = torch.arange(-warmup, n_pred, dtype=torch.int64, device=starts.device)
    return x_d[rows[:, None], starts[:, None] + offsets]


def invalid_days(x_d: torch.Tensor, x_s: torch.Tensor | None, warmup: int,
                 chunk: int) -> torch.Tensor:
    """Days that :func:`simulate_chunked` sets to NaN.

    Day ``t >= warmup`` of chunk start ``s`` is invalid when any input in
    ``x_d[b, s - warmup : t + 1]`` is non-finite, or any of ``x_s[b]``; the first ``warmup``
    days are always invalid (not predicted). With ``chunk = 1`` this is the seq-to-one rule of
    :func:`ealstm.data.windows.sample_index` for ``seq_length = warmup + 1``.

    Returns
    -------
    torch.Tensor
        bool ``[batch, time]``.
    """
    _check_plan_args(warmup, chunk)
    n_rows, n_times, _ = x_d.shape
    bad = (~torch.isfinite(x_d).all(dim=2)).to(torch.int64)
    n_bad = torch.nn.functional.pad(torch.cumsum(bad, dim=1), (1, 0))  # [B, T + 1]
    t = torch.arange(n_times, device=x_d.device)
    first = (t - warmup).clamp(min=0) // chunk * chunk  # first input day of t's sequence
    invalid = (n_bad[:, t + 1] - n_bad[:, first]) > 0
    invalid |= (t < warmup)[None, :]
    if x_s is not None:
        invalid |= ~torch.isfinite(x_s).all(dim=1, keepdim=True).to(x_d.device)
    return invalid


def sequence_batches(n_rows: int, plan: list[tuple[torch.Tensor, int]], warmup: int,
                     batch_steps: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """Yield ``(rows, starts, n_pred)`` of at most ``batch_steps // (warmup + n_pred)`` sequences.

    Every row is combined with every chunk start of ``plan`` (rows x chunks sequences), so the
    draws or basins of one call share a forward pass.
    """
    for starts, n_pred in plan:
        rows = torch.arange(n_rows, dtype=torch.int64).repeat_interleave(starts.numel())
        all_starts = starts.repeat(n_rows)
        size = max(1, batch_steps // (warmup + n_pred))
        for i in range(0, rows.numel(), size):
            yield rows[i:i + size], all_starts[i:i + size], n_pred


def count_batches(n_rows: int, plan: list[tuple[torch.Tensor, int]], warmup: int,
                  batch_steps: int) -> int:
    """Count the batches :func:`sequence_batches` yields (for progress reporting)."""
    return sum(-(-n_rows * int(starts.numel()) // max(1, batch_steps // (warmup + n_pred)))
               for starts, n_pred in plan)


def _model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter (CPU for a model without parameters)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def clean_inputs(x_d: torch.Tensor, x_s: torch.Tensor | None,
                  device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Move the inputs to ``device``, replacing non-finite values by 0 (their days are masked)."""
    x_d = x_d.to(device)
    if not bool(torch.isfinite(x_d).all()):
        x_d = torch.where(torch.isfinite(x_d), x_d, torch.zeros((), dtype=x_d.dtype,
                                                                device=device))
    if x_s is not None:
        x_s = x_s.to(device)
        x_s = torch.where(torch.isfinite(x_s), x_s, torch.zeros((), dtype=x_s.dtype,
                                                                device=device))
    return x_d, x_s


#: ``fn(windows [N, warmup + n, F], statics [N, S] | None, n) -> [N, n, ...]``: one batch.
ChunkFn = Callable[[torch.Tensor, torch.Tensor | None, int], torch.Tensor]


def map_chunks(fn: ChunkFn, x_d: torch.Tensor, x_s: torch.Tensor | None, warmup: int,
               chunk: int, batch_steps: int, device: torch.device, tail: tuple[int, ...] = (),
               progress: bool = False, invalid: torch.Tensor | None = None) -> torch.Tensor:
    """Apply ``fn`` to the chunk sequences of every row and day: the one chunked-simulation loop.

    Cuts the series into the sequences of :func:`chunk_plan` (``warmup`` input-only days, then
    ``n <= chunk`` predicted days), batches them by :func:`sequence_batches` and writes what
    ``fn`` returns for the predicted days. :func:`simulate_chunked` passes the model's forward,
    :func:`ealstm.analysis.sensitivity.day_gradients` the gradients of each predicted day.
    ``invalid`` is :func:`invalid_days` of the inputs if the caller has it already (it scans the
    whole input tensor, so it is computed once).

    Returns
    -------
    torch.Tensor
        ``[batch, time, *tail]`` on ``x_d``'s device and dtype; NaN for the first ``warmup``
        days and where :func:`invalid_days` is true.
    """
    n_rows, n_times, _ = x_d.shape
    if invalid is None:
        invalid = invalid_days(x_d, x_s, warmup, chunk)
    inputs, statics = clean_inputs(x_d, x_s, device)
    out = torch.full((n_rows, n_times, *tail), float("nan"), dtype=x_d.dtype, device=device)
    plan = chunk_plan(n_times, warmup, chunk)
    batches = track(sequence_batches(n_rows, plan, warmup, batch_steps),
                    count_batches(n_rows, plan, warmup, batch_steps), "simulate", progress)
    for rows, starts, n_pred in batches:
        rows, starts = rows.to(device), starts.to(device)
        windows = gather_windows(inputs, rows, starts, warmup, n_pred)
        values = fn(windows, None if statics is None else statics[rows], n_pred)
        days = starts[:, None] + torch.arange(n_pred, device=device)
        out[rows[:, None], days] = values.to(out.dtype)
    out[invalid.to(out.device)] = float("nan")
    return out.to(x_d.device)


@torch.no_grad()
def simulate_chunked(model: nn.Module, x_d: torch.Tensor, x_s: torch.Tensor | None, warmup: int,
                     chunk: int, batch_steps: int = DEFAULT_BATCH_STEPS,
                     progress: bool = False) -> torch.Tensor:
    """Simulate every day of a long input series in chunks of ``chunk`` days.

    Parameters
    ----------
    model
        Model with ``forward(x_d [B, T, F], x_s [B, S] | None, predict_last_n) -> [B, n]``;
        put in eval mode (dropout off).
    x_d
        Standardised dynamic inputs ``[batch, time, feature]``; rows are basins and/or draws
        (pass ``x.expand(n_draws, -1, -1)`` to share one basin's inputs without copying).
    x_s
        Standardised static inputs ``[batch, attribute]``, or ``None`` for a model without.
    warmup
        Input-only days before each chunk; ``seq_length - 1`` reproduces seq-to-one.
    chunk
        Predicted days per sequence; 1 is exact seq-to-one, larger is cheaper (see module).
    batch_steps
        Budget of sequence steps per forward pass (bounds memory).
    progress
        Report progress over the batches (:func:`ealstm.progress.track`).

    Returns
    -------
    torch.Tensor
        ``[batch, time]`` outputs (scaled target units) on ``x_d``'s device and dtype; NaN for
        the first ``warmup`` days and where :func:`invalid_days` is true.
    """
    if x_d.dim() != 3:
        raise ValueError(f"x_d must be [batch, time, feature], got shape {list(x_d.shape)}")
    model.eval()
    invalid = invalid_days(x_d, x_s, warmup, chunk)
    out = map_chunks(model, x_d, x_s, warmup, chunk, batch_steps, _model_device(model),
                     progress=progress, invalid=invalid)
    _report_masked(invalid, warmup)
    return out


def _report_masked(invalid: torch.Tensor, warmup: int) -> None:
    """Log how many predicted days were masked for non-finite inputs."""
    n_masked = int(invalid[:, warmup:].sum())
    if n_masked:
        log.warning("%d of %d simulated days set to NaN: their input sequence holds non-finite "
                    "values", n_masked, invalid[:, warmup:].numel())


def model_steps(n_rows: int, n_times: int, warmup: int, chunk: int) -> int:
    """Count the recurrent steps :func:`simulate_chunked` runs (its cost, in LSTM steps)."""
    return n_rows * sum(int(s.numel()) * (warmup + n) for s, n in chunk_plan(n_times, warmup,
                                                                              chunk))


def period_inputs(dynamic: np.ndarray, time_slice: slice, warmup: int) -> torch.Tensor:
    """Cut the inputs of a period plus its ``warmup`` preceding days, as a float32 tensor.

    Parameters
    ----------
    dynamic
        Standardised inputs ``[basin, time, feature]`` (e.g. ``BasinArrays.dynamic``).
    time_slice
        The period on the array's time axis (step 1).
    warmup
        Days before the period to include; days before the array start are NaN, so their
        predictions are masked exactly as :func:`~ealstm.data.windows.sample_index` drops them.

    Returns
    -------
    torch.Tensor
        ``[basin, warmup + n_days, feature]``; day ``j`` of the period is index ``warmup + j``.
    """
    start, stop, _ = time_slice.indices(dynamic.shape[1])
    first = start - warmup
    values = dynamic[:, max(first, 0):stop]
    if first < 0:
        pad = np.full((dynamic.shape[0], -first, dynamic.shape[2]), np.nan, dtype=values.dtype)
        values = np.concatenate([pad, values], axis=1)
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
