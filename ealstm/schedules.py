"""Learning-rate schedules by name, expanded to the per-epoch mapping ``train.learning_rate``.

``train.lr_schedule: {kind: one_cycle, peak: 3e-3}`` in a config is expanded with
:func:`lr_schedule` over ``train.epochs``, so a schedule that is defined by the planned epochs
(warm-up share, decay steps, cosine end) stays a two-line setting instead of one rate per epoch.
"""

from __future__ import annotations

import math

SCHEDULE_KINDS = ("constant", "step", "cosine", "one_cycle")


def _share(epochs: int, percent: int) -> int:
    """``percent`` % of ``epochs`` rounded half up (integer arithmetic: no float ties)."""
    return (epochs * percent + 50) // 100


def _warmup_rate(epoch: int, warmup: int, start: float, peak: float) -> float:
    """Linear ramp from ``start`` (before epoch 1) to ``peak`` (reached at epoch ``warmup``)."""
    return start + (peak - start) * epoch / warmup


def _decay_rate(kind: str, epoch: int, epochs: int, warmup: int, peak: float,
                final_div: float) -> float:
    """Rate of a post-warm-up ``epoch``.

    Constant, step (/2 after 60 %, /10 after 85 % of the planned epochs) or cosine from
    ``peak`` (first epoch after warm-up) to ``peak / final_div`` (last planned epoch).
    """
    if kind == "constant":
        return peak
    if kind == "step":
        if epoch <= _share(epochs, 60):
            return peak
        return peak / 2 if epoch <= _share(epochs, 85) else peak / 10
    span = max(epochs - warmup - 1, 1)
    t = min((epoch - warmup - 1) / span, 1.0)
    end = peak / final_div
    return end + (peak - end) * (1 + math.cos(math.pi * t)) / 2


def lr_schedule(kind: str, epochs: int, peak: float, warmup: int | None = None,
                div: float = 25.0, final_div: float = 1e3) -> dict[int, float]:
    """Learning rate per epoch (1-based), listing only the epochs where it changes.

    Parameters
    ----------
    kind
        ``constant``, ``step``, ``cosine`` or ``one_cycle`` (warm-up from ``peak / div`` over
        30 % of the epochs unless ``warmup`` is given, then cosine to ``peak / final_div``).
    epochs
        Planned epochs: the schedule is stretched over them, so a run stopped by the budget
        before the end never reaches the low rates (choose epochs that fit the budget).
    peak
        Largest rate.
    warmup
        Epochs of linear warm-up (epoch ``warmup`` reaches ``peak``; from 0 for ``constant``,
        ``step`` and ``cosine``). Default 0, or 30 % of the epochs for ``one_cycle``.
    """
    if kind not in SCHEDULE_KINDS:
        raise ValueError(f"unknown schedule kind {kind!r}; choose from {SCHEDULE_KINDS}")
    if epochs < 1 or not peak > 0:
        raise ValueError(f"schedule needs epochs >= 1 and peak > 0, got {epochs}, {peak}")
    if warmup is None:
        warmup = _share(epochs, 30) if kind == "one_cycle" else 0
    start = peak / div if kind == "one_cycle" else 0.0
    rates = [_warmup_rate(e, warmup, start, peak) if e <= warmup
             else _decay_rate(kind, e, epochs, warmup, peak, final_div)
             for e in range(1, epochs + 1)]
    schedule, previous = {}, None
    for epoch, rate in enumerate(rates, start=1):
        rate = float(f"{rate:.4g}")
        if rate != previous:
            schedule[epoch] = previous = rate
    return schedule
