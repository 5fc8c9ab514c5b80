"""Time one training step (forward + backward) of ealstm's EA-LSTM against two competitors.

Competitors, timed interleaved in one process at the paper's size (batch 256, 270 days,
256 cells, 5 dynamic + 27 static inputs):

* ``ealstm``: :class:`ealstm.models.EALSTM`, loss ``model(x_d, x_s).sum()`` (last day);
* ``ealstm_cold``: the same, but its buffer workspace cleared after every step (the cost of a
  first step, or of a workspace that cannot be reused);
* ``nn_lstm``: ``torch.nn.LSTM(32, 256, batch_first=True)`` on the 32 concatenated inputs,
  loss ``output.sum()``;
* ``nh_ealstm``: neuralhydrology 1.13's ``EALSTM`` (if importable), loss on ``y_hat`` of the
  last day. Install it without dependencies so torch is kept::

      .venv/bin/pip install --no-deps neuralhydrology==1.13.0 ruamel.yaml

  Its model code does not use numba; if numba is missing, a no-op stand-in is registered
  only so that ``neuralhydrology.modelzoo`` imports.

Usage::

    .venv/bin/python benchmarks/bench_ealstm_speed.py --repeats 5

Writes ``benchmarks/results/ealstm_speed.json`` and ``ealstm_speed.md``; with ``--device cuda``,
``ealstm_speed_cuda.json`` and ``ealstm_speed_cuda.md`` (run on a GPU machine).

``--suite small`` times, side by side in one run, the training step at batch 2 x 634 and 4, 16
and 32 x 544 days (loss on the last 365) and 256 x 270 (last day) for ``ealstm`` (``auto``),
``ealstm_loop``, ``ealstm_kernel``, ``nn_lstm``, ``lstm_model`` (:class:`ealstm.models.LSTM`
with statics: ``nn.LSTM`` plus the same output dropout and head as the EA-LSTM) and
``nh_ealstm``, then the loaded-machine mode
of ``_loaded.py`` at batch 16 x 544, and writes ``ealstm_speed_small.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _loaded import worker_main  # noqa: E402
from _machine import cpu_name  # noqa: E402

from ealstm.models import EALSTM, LSTM  # noqa: E402

N_DYNAMIC, N_STATIC = 5, 27
Step = Callable[[], list[torch.Tensor]]
#: (batch, days, days in the loss) of ``--suite small``: the shipped seq-to-seq config's batch
#: (2 x 634), issue 13's batches 4, 16 and 32 x 544, and the paper's sequence-to-one batch.
SMALL_SHAPES = ((2, 634, 365), (4, 544, 365), (16, 544, 365), (32, 544, 365), (256, 270, 1))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per model")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seq", type=int, default=270)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--suite", choices=["paper", "small"], default="paper")
    parser.add_argument("--loaded-repeats", type=int, default=5,
                        help="timed steps per condition of the loaded-machine mode")
    parser.add_argument("--loaded-threads", type=int, default=os.cpu_count(),
                        help="N of the loaded-machine mode (torch's default: all cores)")
    parser.add_argument("--worker", choices=["old_default", "passive", "policy"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--worker-shape", help=argparse.SUPPRESS)
    return parser.parse_args()


def step_fn(model: torch.nn.Module, forward: Callable[[], torch.Tensor],
            after: Callable[[], None] | None = None) -> Step:
    """One training step: zero grads, forward, scalar loss, backward; returns the grads.

    On a GPU the step waits for its kernels, so that the wall clock measures the whole step.
    """

    def step() -> list[torch.Tensor]:
        model.zero_grad(set_to_none=True)
        forward().backward()
        if after is not None:
            after()
        grads = [p.grad for p in model.parameters()]
        if grads and grads[0].is_cuda:
            torch.cuda.synchronize()
        return grads

    return step


def import_nh_ealstm() -> tuple[type | None, type | None, str]:
    """Import neuralhydrology's EALSTM and Config; returns (EALSTM, Config, note)."""
    note = "neuralhydrology imported"
    try:
        import numba  # noqa: F401
    except ModuleNotFoundError:
        stub = types.ModuleType("numba")
        stub.njit = lambda *a, **k: a[0] if a and callable(a[0]) else (lambda f: f)
        stub.prange = range
        sys.modules["numba"] = stub
        note = "neuralhydrology imported (numba absent: no-op stand-in, unused by EALSTM)"
    try:
        from neuralhydrology.modelzoo.ealstm import EALSTM as NHEALSTM
        from neuralhydrology.utils.config import Config
    except Exception as exc:  # any import failure: report it, time the rest
        return None, None, f"neuralhydrology not importable: {type(exc).__name__}: {exc}"
    return NHEALSTM, Config, f"{note}, version {importlib.metadata.version('neuralhydrology')}"


def ealstm_step(hidden: int, x_d: torch.Tensor, x_s: torch.Tensor, n_last: int,
                implementation: str = "auto", cold: bool = False) -> Step:
    """Training step of this library's EA-LSTM (loss on the last ``n_last`` days)."""
    model = EALSTM(N_DYNAMIC, N_STATIC, hidden_size=hidden,
                   implementation=implementation).to(x_d.device)
    return step_fn(model, lambda: model(x_d, x_s, n_last).sum(),
                   model.workspace.clear if cold else None)


def build_steps(args: argparse.Namespace, batch: int, seq: int, n_last: int,
                small: bool = False) -> tuple[dict[str, Step], str]:
    """All competitors as step functions on the same random batch of ``[batch, seq]``."""
    gen, dev = torch.Generator().manual_seed(0), torch.device(args.device)
    x_d = torch.randn(batch, seq, N_DYNAMIC, generator=gen).to(dev)
    x_s = torch.randn(batch, N_STATIC, generator=gen).to(dev)
    torch.manual_seed(0)
    steps = {"ealstm": ealstm_step(args.hidden, x_d, x_s, n_last)}
    if small:
        steps["ealstm_loop"] = ealstm_step(args.hidden, x_d, x_s, n_last, "loop")
        steps["ealstm_kernel"] = ealstm_step(args.hidden, x_d, x_s, n_last, "kernel")
    else:
        steps["ealstm_cold"] = ealstm_step(args.hidden, x_d, x_s, n_last, cold=True)
    lstm = torch.nn.LSTM(N_DYNAMIC + N_STATIC, args.hidden, batch_first=True).to(dev)
    x_cat = torch.cat([x_d, x_s[:, None].expand(-1, seq, -1)], dim=-1).contiguous()
    first = seq - n_last if small else 0  # the paper suite keeps its loss on all outputs
    steps["nn_lstm"] = step_fn(lstm, lambda: lstm(x_cat)[0][:, first:].sum())
    if small:  # this library's LSTM with statics: nn.LSTM + the same dropout and head as ours
        baseline = LSTM(N_DYNAMIC, N_STATIC, hidden_size=args.hidden).to(dev)
        steps["lstm_model"] = step_fn(baseline, lambda: baseline(x_d, x_s, n_last).sum())
    nh_cls, config_cls, note = import_nh_ealstm()
    if nh_cls is not None:
        dyn = [f"x{k}" for k in range(N_DYNAMIC)]
        cfg = config_cls({
            "model": "ealstm", "hidden_size": args.hidden, "output_dropout": 0.4,
            "initial_forget_bias": 5.0, "dynamic_inputs": dyn,
            "static_attributes": [f"s{k}" for k in range(N_STATIC)],
            "target_variables": ["qobs"], "head": "regression", "seq_length": seq,
            "predict_last_n": n_last,
        })
        nh = nh_cls(cfg).to(dev)
        data = {"x_d": {name: x_d[..., k: k + 1] for k, name in enumerate(dyn)}, "x_s": x_s}
        steps["nh_ealstm"] = step_fn(nh, lambda: nh(data)["y_hat"][:, -n_last:].sum())
    return steps, note


def check_grads(steps: dict[str, Step]) -> dict[str, bool]:
    """Warm-up step of every model; True when every parameter got a finite gradient."""
    ok = {}
    for name, step in steps.items():
        grads = step()
        ok[name] = all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    return ok


def time_interleaved(steps: dict[str, Step], repeats: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per step, the models taking turns so that load changes hit all of them."""
    for _ in range(warmup - 1):
        for step in steps.values():
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return times


def machine_info(load_at_start: float, device: str) -> dict:
    cpu = cpu_name()
    if torch.device(device).type == "cuda":
        cpu += f" + {torch.cuda.get_device_name()} ({device}; TF32 matmuls off: torch default)"
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "date": dt.datetime.now().isoformat(timespec="seconds"),
            "load_avg_1min_start": load_at_start, "load_avg_1min_end": os.getloadavg()[0]}


def summarize(times: dict[str, list[float]]) -> dict:
    median = {name: statistics.median(v) for name, v in times.items()}
    ours = median["ealstm"]
    ratios = {f"{name}/ealstm": t / ours for name, t in median.items() if name != "ealstm"}
    return {"median_s": median, "min_s": {n: min(v) for n, v in times.items()}, "ratios": ratios}


def write_markdown(path: Path, result: dict) -> None:
    m, s = result["machine"], result["summary"]
    lines = [
        "# EA-LSTM training-step speed (forward + backward)", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['threads']} torch threads, "
        f"torch {m['torch']}, {m['date']} (1-min load average {m['load_avg_1min_start']:.2f} at "
        f"start, {m['load_avg_1min_end']:.2f} at end; other jobs share this machine).",
        f"Batch {result['config']['batch']}, {result['config']['seq']} steps, "
        f"{result['config']['hidden']} cells, {N_DYNAMIC} dynamic + {N_STATIC} static inputs; "
        f"{result['config']['repeats']} interleaved repeats after warm-up.", "",
        "Rows: `ealstm` (this library, loss on the last day), `ealstm_cold` (same, buffer "
        "workspace cleared after every step), `nn_lstm` (`torch.nn.LSTM(32, 256)`, loss "
        "`output.sum()`), `nh_ealstm` (neuralhydrology 1.13 `EALSTM`, loss on the last day).", "",
        "| model | median s/batch | min s/batch | finite grads |", "|---|---|---|---|",
    ]
    for name, med in s["median_s"].items():
        lines.append(f"| {name} | {med:.3f} | {s['min_s'][name]:.3f} | "
                     f"{result['finite_grads'][name]} |")
    lines += ["", "Ratios of medians (> 1: ealstm is faster):", ""]
    lines += [f"* {k}: {v:.2f}x" for k, v in s["ratios"].items()]
    lines += ["", f"neuralhydrology: {result['nh_note']}", "",
              f"Reproduce: `{result['command']}`", ""]
    path.write_text("\n".join(lines))


def main() -> None:
    args = parse_args()
    if args.worker:
        shape = tuple(int(v) for v in args.worker_shape.split(","))
        worker_main(args.worker, shape, args.threads, args.repeats, args.hidden)
        return
    if args.suite == "small":
        from _small_report import run_small

        run_small(args)
        return
    load_at_start = os.getloadavg()[0]
    torch.set_num_threads(args.threads)
    steps, nh_note = build_steps(args, args.batch, args.seq, 1)
    finite = check_grads(steps)
    times = time_interleaved(steps, args.repeats, args.warmup)
    result = {
        "machine": machine_info(load_at_start, args.device),
        "config": {k: v for k, v in vars(args).items() if k != "out"},
        "nh_note": nh_note, "finite_grads": finite, "times_s": times,
        "summary": summarize(times),
        "command": ".venv/bin/python benchmarks/bench_ealstm_speed.py " + " ".join(sys.argv[1:]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "ealstm_speed" + ("" if args.device == "cpu" else "_" + args.device.split(":")[0])
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2))
    write_markdown(args.out / f"{stem}.md", result)
    print(json.dumps({"summary": result["summary"], "finite_grads": finite, "nh": nh_note},
                     indent=2))


if __name__ == "__main__":
    main()
