"""How many CPU threads a training run uses, measured on the run's own batch shape.

With more threads than free cores, every OpenMP parallel region waits for its slowest thread, so
one competing busy process can make a multi-threaded step several times slower, while a single
thread keeps its core. Small (overhead-bound) batches gain little from a second thread anyway.
:func:`calibrate_threads` therefore times a few training steps of a copy of the model on a
synthetic batch of the run's shape with 1 and with N threads (N: torch's thread count when the
run started, which callers such as the experiment runner use as a cap) and keeps the fewest
threads within :data:`MARGIN` of the fastest.
The training loop measures this once when a run starts (a few steps, seconds at the paper's
size) and keeps the count for the whole run, stored in each checkpoint: float sums depend on the
thread count, so a resumed run continues with it and stays bit-identical. ``train.num_threads``
overrides.

The OpenMP wait policy can only be set before torch starts its thread pool: the command-line
entry point sets ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep instead of spinning on a
shared core) unless the user set it (:func:`ealstm.runtime_env.set_omp_wait_policy`).
"""

from __future__ import annotations

import copy
import logging
import os
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)

#: More threads must be at least this much faster to be chosen (ties go to fewer threads,
#: which a competing process slows the least).
MARGIN = 1.15


def candidate_threads(available: int) -> list[int]:
    """Thread counts to try: 1 and ``available`` (just ``[1]`` when only one is available)."""
    return sorted({1, max(1, available)})


def pick_threads(seconds: dict[int, float], margin: float = MARGIN) -> int:
    """Return the fewest threads whose step time is within ``margin`` of the fastest.

    Parameters
    ----------
    seconds
        Measured seconds per step for each thread count.
    margin
        Factor by which more threads must be faster to be worth their exposure to contention.
    """
    if not seconds:
        raise ValueError("no timings to choose a thread count from")
    best = min(seconds.values())
    return min(n for n, s in seconds.items() if s <= best * margin)


def time_threads(step: Callable[[], None], candidates: list[int], repeats: int = 2
                 ) -> dict[int, float]:
    """Median seconds of ``step()`` per thread count, candidates interleaved, after a warm-up."""
    step()  # first touch of buffers and weights, not part of any candidate's time
    times: dict[int, list[float]] = {n: [] for n in candidates}
    for _ in range(repeats):
        for n in candidates:
            torch.set_num_threads(n)
            start = time.perf_counter()
            step()
            times[n].append(time.perf_counter() - start)
    return {n: statistics.median(t) for n, t in times.items()}


def training_step(model: nn.Module, batch: int, seq_length: int, predict_last_n: int
                  ) -> Callable[[], None]:
    """Return a forward + backward step of a copy of ``model`` on a random batch of that shape."""
    clone = copy.deepcopy(model).train()
    device = next(clone.parameters()).device
    gen = torch.Generator().manual_seed(0)
    x_d = torch.randn(batch, seq_length, clone.n_dynamic, generator=gen).to(device)
    x_s = torch.randn(batch, max(1, clone.n_static), generator=gen).to(device)

    def step() -> None:
        clone.zero_grad(set_to_none=True)
        clone(x_d, x_s if clone.n_static else None, predict_last_n).sum().backward()

    return step


def calibrate_threads(model: nn.Module, batch: int, seq_length: int, predict_last_n: int,
                      available: int | None = None, repeats: int = 2) -> int:
    """Set and return the fastest thread count for training ``model`` at this batch shape.

    Uses a copy of the model and its own random inputs, and leaves torch's random state as it
    was, so the run's results do not depend on whether the calibration ran. ``available`` is
    the most threads to use (default: torch's current thread count).
    """
    candidates = candidate_threads(available or torch.get_num_threads())
    if len(candidates) == 1:
        torch.set_num_threads(candidates[0])
        return candidates[0]
    with torch.random.fork_rng(devices=[]):
        seconds = time_threads(training_step(model, batch, seq_length, predict_last_n),
                               candidates, repeats)
    chosen = pick_threads(seconds)
    torch.set_num_threads(chosen)
    log.info("CPU threads: %d (s/step %s at batch %d x %d; OMP_WAIT_POLICY=%s; set "
             "train.num_threads to fix it)", chosen,
             {n: round(s, 4) for n, s in seconds.items()}, batch, seq_length,
             os.environ.get("OMP_WAIT_POLICY", "unset"))
    return chosen
