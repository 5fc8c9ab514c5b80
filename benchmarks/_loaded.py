"""Loaded-machine mode of bench_ealstm_speed.py: a training run beside one busy process.

Each condition runs in a fresh Python process, because the OpenMP wait policy is read when
torch loads its OpenMP runtime:

* ``old_default``: ``OMP_WAIT_POLICY`` unset, N torch threads (what a run did before);
* ``passive``: ``OMP_WAIT_POLICY=PASSIVE`` (as the ``ealstm`` CLI now sets), N threads;
* ``policy``: ``PASSIVE`` and :func:`ealstm.training.threads.calibrate_threads` (what
  ``ealstm train`` now does without ``train.num_threads``).

Every condition is timed on the quiet machine and beside one competing process (a numpy
matrix-product loop on one core); the slowdown is loaded / quiet time per step.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

CONDITIONS = ("old_default", "passive", "policy")
BUSY_CODE = ("import numpy as np\na = np.random.rand(400, 400)\nwhile True:\n    a = a @ a\n"
             "    a /= np.abs(a).max()\n")
_ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def busy_process() -> subprocess.Popen:
    """Start the competing process: a single-threaded numpy loop that never sleeps."""
    return subprocess.Popen([sys.executable, "-c", BUSY_CODE], env={**os.environ, **_ONE_THREAD})


def worker_env(condition: str) -> dict[str, str]:
    """Environment of a worker: no thread-count variables, the condition's wait policy."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")}
    if condition != "old_default":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def run_worker(script: Path, condition: str, shape: tuple[int, int, int], threads: int,
               repeats: int, hidden: int) -> dict:
    """Time one condition in a fresh process; returns its JSON line."""
    cmd = [sys.executable, str(script), "--worker", condition, "--threads", str(threads),
           "--repeats", str(repeats), "--hidden", str(hidden),
           "--worker-shape", ",".join(map(str, shape))]
    out = subprocess.run(cmd, env=worker_env(condition), capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def loaded_mode(script: Path, shape: tuple[int, int, int], threads: int, repeats: int,
                hidden: int) -> dict:
    """All conditions, quiet and beside one busy process; seconds per step and slowdowns."""
    result: dict[str, dict] = {c: {} for c in CONDITIONS}
    for load in ("quiet", "loaded"):
        busy = busy_process() if load == "loaded" else None
        try:
            time.sleep(0.5 if busy else 0.0)
            for condition in CONDITIONS:
                res = run_worker(script, condition, shape, threads, repeats, hidden)
                result[condition][f"{load}_s"] = res["median_s"]
                result[condition][f"{load}_threads"] = res["threads"]
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    for res in result.values():
        res["slowdown"] = res["loaded_s"] / res["quiet_s"]
    return result


def median_step_seconds(model, x_d, x_s, n_last: int, repeats: int) -> float:  # noqa: ANN001
    """Median seconds of ``repeats`` training steps (forward + backward of ``model``'s summed
    output on the last ``n_last`` days) after one warm-up step."""
    times = []
    for k in range(repeats + 1):
        start = time.perf_counter()
        model.zero_grad(set_to_none=True)
        model(x_d, x_s, n_last).sum().backward()
        if k:  # the first step is a warm-up
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def worker_main(condition: str, shape: tuple[int, int, int], threads: int, repeats: int,
                hidden: int) -> None:
    """Time ``repeats`` EA-LSTM training steps under ``condition``; print one JSON line."""
    import torch

    from ealstm.models import EALSTM
    from ealstm.training.threads import calibrate_threads

    batch, seq, n_last = shape
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = EALSTM(5, 27, hidden_size=hidden)
    if condition == "policy":
        calibrate_threads(model, batch, seq, n_last)
    x_d, x_s = torch.randn(batch, seq, 5), torch.randn(batch, 27)
    print(json.dumps({"condition": condition,
                      "median_s": median_step_seconds(model, x_d, x_s, n_last, repeats),
                      "threads": torch.get_num_threads(),
                      "wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset")}))
