"""OpenMP wait policies side by side: quiet-machine speed against a busy machine (issue 13).

PyTorch's CPU wheels use GNU OpenMP (libgomp). Between parallel regions its idle threads spin
``GOMP_SPINCOUNT`` times before they sleep: 0 with ``OMP_WAIT_POLICY=PASSIVE``, 300 000 when
the policy is unset, 30 billion with ``ACTIVE``. Spinning keeps a quiet machine fast (no wake-up
latency between the hundreds of small operations of a time step) and starves a busy one.
This script times an EA-LSTM training step (forward + backward, 256 cells, 3 dynamic + 27
static inputs) in a fresh process per condition, on the quiet machine and beside one busy
process (``_loaded.busy_process``: a one-thread numpy loop):

* ``passive``, ``unset``, ``active``: the three policies, N threads;
* ``spin<K>``: policy unset, ``GOMP_SPINCOUNT=K`` (a bounded spin), N threads;
* ``one_thread``: one thread (no barriers to wait at; what the thread calibration of
  ``ealstm train`` picks when a second thread does not pay).

Shapes: batch 16 x 544 days, loss on the last 365 (``configs/caravan_dev_seq2seq.yml``), and
batch 256 x 270, loss on the last day (the paper). Writes ``<out>.json`` and ``<out>.md``::

    .venv/bin/python benchmarks/bench_wait_policy.py --threads 2 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _budget import md_table  # noqa: E402
from _loaded import busy_process, median_step_seconds  # noqa: E402
from _machine import cpu_name  # noqa: E402

CONDITIONS = ("passive", "unset", "active", "spin10000", "spin100000", "one_thread")
SHAPES = {"batch 16 x 544 (last 365)": (16, 544, 365), "batch 256 x 270 (last 1)": (256, 270, 1)}
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def condition_env(condition: str) -> dict[str, str]:
    """Environment of a worker: the condition's wait policy and spin count, nothing inherited."""
    env = {k: v for k, v in os.environ.items() if k not in _THREAD_VARS}
    env["PYTHONPATH"] = str(ROOT)
    if condition in ("passive", "one_thread"):
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    elif condition == "active":
        env["OMP_WAIT_POLICY"] = "ACTIVE"
    elif condition.startswith("spin"):
        env["GOMP_SPINCOUNT"] = str(int(condition.removeprefix("spin")))
    elif condition != "unset":
        raise ValueError(f"unknown condition {condition!r}; choose from {CONDITIONS}")
    return env


def worker(shape: tuple[int, int, int], threads: int, repeats: int) -> dict:
    """Median seconds of ``repeats`` training steps after one warm-up step."""
    import torch

    from ealstm.models import EALSTM

    batch, seq, n_last = shape
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = EALSTM(3, 27, hidden_size=256)
    x_d, x_s = torch.randn(batch, seq, 3), torch.randn(batch, 27)
    return {"median_s": median_step_seconds(model, x_d, x_s, n_last, repeats),
            "threads": torch.get_num_threads()}


def run_condition(condition: str, shape: tuple[int, int, int], threads: int,
                  repeats: int) -> dict:
    """One condition in a fresh process (the policy is read when libgomp loads)."""
    n = 1 if condition == "one_thread" else threads
    cmd = [sys.executable, __file__, "--worker", ",".join(map(str, shape)), "--threads", str(n),
           "--repeats", str(repeats)]
    out = subprocess.run(cmd, env=condition_env(condition), capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(threads: int, repeats: int) -> dict:
    """Seconds per step of every condition and shape, quiet and loaded, and the slowdowns."""
    result: dict = {name: {c: {} for c in CONDITIONS} for name in SHAPES}
    result["load_average_before"] = os.getloadavg()[0]  # is the "quiet" phase quiet?
    for load in ("quiet", "loaded"):
        busy = busy_process() if load == "loaded" else None
        try:
            time.sleep(0.5 if busy else 0.0)
            for name, shape in SHAPES.items():
                for condition in CONDITIONS:
                    res = run_condition(condition, shape, threads, repeats)
                    result[name][condition][f"{load}_s"] = res["median_s"]
                    result[name][condition]["threads"] = res["threads"]
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    for per_shape in (result[name] for name in SHAPES):
        fastest_quiet = min(r["quiet_s"] for r in per_shape.values())
        for r in per_shape.values():
            r["slowdown"] = r["loaded_s"] / r["quiet_s"]
            r["quiet_vs_fastest"] = r["quiet_s"] / fastest_quiet
    return result


def markdown(result: dict, args: argparse.Namespace) -> str:
    head = ["condition", "threads", "quiet s/step", "quiet / fastest quiet", "loaded s/step",
            "slowdown (loaded / quiet)"]
    parts = ["# OpenMP wait policy: quiet machine against one busy process (issue 13)",
             f"{cpu_name()}, {os.cpu_count()} cores, {args.threads} threads (`one_thread`: 1), "
             f"EA-LSTM 256 cells, 3 dynamic + 27 static inputs, median of {args.repeats} steps "
             f"after one warm-up, each condition a fresh process; 1-min load average before "
             f"the quiet phase {result['load_average_before']:.2f}. "
             "`benchmarks/bench_wait_policy.py` says what each condition sets."]
    for name in SHAPES:
        per_shape = result[name]
        rows = [[c, r["threads"], f"{r['quiet_s']:.3f}", f"{r['quiet_vs_fastest']:.2f}x",
                 f"{r['loaded_s']:.3f}", f"{r['slowdown']:.2f}x"] for c, r in per_shape.items()]
        parts += [f"## {name}", md_table(head, rows)]
    parts.append("Reproduce: `.venv/bin/python benchmarks/bench_wait_policy.py --threads "
                 f"{args.threads} --repeats {args.repeats}`")
    return "\n\n".join(parts) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "wait_policy")
    args = p.parse_args()
    if args.worker:
        shape = tuple(int(v) for v in args.worker.split(","))
        print(json.dumps(worker(shape, args.threads, args.repeats)))
        return
    from ealstm.io import save_json, write_text

    result = measure(args.threads, args.repeats)
    save_json(args.out.with_suffix(".json"), {"threads": args.threads, "repeats": args.repeats,
                                              "result": result})
    write_text(args.out.with_suffix(".md"), markdown(result, args))
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
