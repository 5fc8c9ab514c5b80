"""``--suite small`` of bench_ealstm_speed.py: all shapes side by side, then the loaded mode."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import bench_ealstm_speed as bench
import torch
from _loaded import loaded_mode

LOADED_SHAPE = (16, 544, 365)
RATIOS = ("nn_lstm/ealstm", "lstm_model/ealstm", "nh_ealstm/ealstm")
GOALS = ("Goals (issue 13): batch 4 x 544 `nn_lstm/ealstm` >= 1.0x; batch 256 x 270 "
         "`nn_lstm/ealstm` >= 1.5x; one busy competing process slows the batch-16 run by < 1.5x "
         "(`policy` slowdown).")
CUDA_GRAPH_NOTE = (
    "CUDA-graph capture of the hand-written loop was not built: no GPU was available to "
    "measure it, and on a GPU `implementation: auto` runs the EA-LSTM through cuDNN's fused "
    "LSTM kernel (the masked-weight path), which removes the per-step launches a graph would "
    "batch.")


def time_shapes(args: argparse.Namespace) -> tuple[dict, str]:
    """Median and min seconds per step of every competitor at every shape of SMALL_SHAPES."""
    rows, note = {}, ""
    for batch, seq, n_last in bench.SMALL_SHAPES:
        steps, note = bench.build_steps(args, batch, seq, n_last, small=True)
        finite = bench.check_grads(steps)
        times = bench.time_interleaved(steps, args.repeats, args.warmup)
        median = {name: statistics.median(v) for name, v in times.items()}
        rows[f"{batch}x{seq} (last {n_last})"] = {
            "median_s": median, "min_s": {n: min(v) for n, v in times.items()},
            "finite_grads": finite, "times_s": times,
            "ratios": {f"{name}/ealstm": t / median["ealstm"] for name, t in median.items()
                       if name != "ealstm"}}
        print(f"{batch}x{seq}: " + ", ".join(f"{k} {v:.3f}" for k, v in median.items()),
              flush=True)
    return rows, note


def run_small(args: argparse.Namespace) -> None:
    """Time every shape, then the loaded mode; write ealstm_speed_small.json and .md."""
    load_at_start = os.getloadavg()[0]
    torch.set_num_threads(args.threads)
    rows, nh_note = time_shapes(args)
    loaded = loaded_mode(Path(bench.__file__), LOADED_SHAPE, args.loaded_threads,
                         args.loaded_repeats, args.hidden)
    result = {"machine": bench.machine_info(load_at_start, args.device),
              "config": {k: v for k, v in vars(args).items()
                         if k not in ("out", "worker", "worker_shape")},
              "nh_note": nh_note, "shapes": rows, "loaded": loaded,
              "wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
              "command": command()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ealstm_speed_small.json").write_text(json.dumps(result, indent=2))
    (args.out / "ealstm_speed_small.md").write_text("\n".join(markdown(result)))
    print(json.dumps({k: v["ratios"] for k, v in rows.items()}, indent=2))
    print(json.dumps(loaded, indent=2))


def command() -> str:
    """The command line of this run, with the wait policy it ran under."""
    policy = os.environ.get("OMP_WAIT_POLICY")
    return ((f"OMP_WAIT_POLICY={policy} " if policy else "")
            + ".venv/bin/python benchmarks/bench_ealstm_speed.py " + " ".join(sys.argv[1:]))


def markdown(result: dict) -> list[str]:
    """The results file: per-shape table, ratios, loaded-machine table, how to reproduce."""
    m, rows = result["machine"], result["shapes"]
    names = list(next(iter(rows.values()))["median_s"])
    lines = [
        "# EA-LSTM training-step speed at small and paper batches (forward + backward)", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {result['config']['threads']} torch threads, "
        f"torch {m['torch']}, {m['date']} (1-min load average {m['load_avg_1min_start']:.2f} at "
        f"start, {m['load_avg_1min_end']:.2f} at end; other jobs share this machine). "
        f"OMP_WAIT_POLICY={result['wait_policy']}; "
        f"{result['config']['repeats']} interleaved repeats per shape after warm-up; "
        f"{result['config']['hidden']} cells, 5 dynamic + 27 static inputs.", "",
        "Models: `ealstm` (`implementation: auto`), `ealstm_loop` (hand-written BPTT), "
        "`ealstm_kernel` (one masked `torch._VF.lstm` call), `nn_lstm` (`torch.nn.LSTM(32, "
        "hidden)` on the concatenated inputs, no head), `lstm_model` (`ealstm.models.LSTM` with "
        "statics: the same `nn.LSTM` plus the dropout and head the EA-LSTM has), `nh_ealstm` "
        "(neuralhydrology 1.13 `EALSTM`); "
        "loss: sum of the predicted (last) days.", "",
        "Median seconds per training step:", "",
        "| batch x days | " + " | ".join(names) + " | " + " | ".join(RATIOS) + " |",
        "|---" * (len(names) + len(RATIOS) + 1) + "|",
    ]
    for shape, row in rows.items():
        ratios = row["ratios"]
        lines.append(f"| {shape} | " + " | ".join(f"{row['median_s'][n]:.3f}" for n in names)
                     + " | " + " | ".join(f"{ratios[r]:.2f}x" if r in ratios else "-"
                                         for r in RATIOS) + " |")
    lines += ["", "Ratios > 1: `ealstm` is faster. " + GOALS, ""]
    lines += loaded_markdown(result["loaded"])
    lines += ["", CUDA_GRAPH_NOTE, "", f"neuralhydrology: {result['nh_note']}", "",
              f"Reproduce: `{result['command']}`", ""]
    return lines


def loaded_markdown(loaded: dict) -> list[str]:
    """Table of the loaded-machine mode (batch 16 x 544, `implementation: auto`)."""
    lines = [
        "Loaded machine: EA-LSTM batch 16 x 544 (last 365), `implementation: auto`, quiet vs "
        "beside one busy numpy process; each condition a fresh process with N = "
        "`--loaded-threads` threads (`benchmarks/_loaded.py`: `old_default` = wait policy unset, "
        "N threads; `passive` = PASSIVE, N threads; `policy` = PASSIVE + per-run thread "
        "calibration, as `ealstm train` now does):", "",
        "| condition | quiet s/step | threads | loaded s/step | threads | slowdown |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in loaded.items():
        lines.append(f"| {name} | {r['quiet_s']:.3f} | {r['quiet_threads']} | "
                     f"{r['loaded_s']:.3f} | {r['loaded_threads']} | {r['slowdown']:.2f}x |")
    return lines
