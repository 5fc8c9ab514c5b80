"""Scale benchmark: data, training memory and evaluation time at the paper's size (531 basins).

The real CAMELS-US data set is not available offline, so a synthetic 531-basin CAMELS-US tree
stands in for it (:func:`ealstm.data.synthetic.demo.generate_demo_data`,
1988-10-01..2008-09-30; same
layout, file formats and sizes per basin as the NCAR download). Model: EA-LSTM, hidden 256,
5 dynamic + 27 static inputs, randomly initialised (timing and memory do not depend on the
weights). Three phases, each in a fresh child process so that its peak RSS is its own:

1. ``data``: cold parse of the 531 basins (maurer_extended, train 1999-10-01..2008-09-30,
   test 1989-10-01..1999-09-30, seq 270) plus the cache write (``build_cache(force=True)``),
   then the cached reload (``load_basin_arrays``; median of ``--reloads``) and the scaling
   (``prepare_data``).
2. ``train``: ``--batches`` training batches of ``--batch-size`` (after ``--warmup-batches``
   untimed ones), with the body of ``ealstm.training.loop._run_epoch`` (gather, forward, NSE*
   loss, backward, clip 1, Adam): (a) sequence-to-one, seq 270; (b) sequence-to-sequence,
   seq 635 / predict_last_n 365 (the index of ``_run_epoch``: every 365th window end per basin).
   Memory: the child's peak resident set, ``VmHWM`` of ``/proc/self/status`` (whole process:
   interpreter, torch, data arrays, model, optimizer, autograd graph, workspace), read after
   imports, after loading the data, after building the model and at the end; tracemalloc does
   not see torch's allocations, psutil is not installed, and ``ru_maxrss`` survives ``execve``
   (it would start at the parent's size).
3. ``eval``: ``ealstm.simulation.simulate.simulate`` (``torch.no_grad``, the model's eval path)
   over the 10-year test period of all basins with chunk 365 (warm-up 269), and with chunk 1
   (the paper's exact sequence-to-one) on ``--exact-basins`` basins, extrapolated linearly in
   the number of basins.

Usage::

    .venv/bin/python benchmarks/bench_scale.py             # synthetic data in a temp folder
    .venv/bin/python benchmarks/bench_scale.py --data-dir /tmp/camels531 --keep-data

Writes ``benchmarks/results/scale.json`` and ``scale.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _machine import cpu_name  # noqa: E402

from ealstm.config import RunConfig, parse_config  # noqa: E402
from ealstm.data.cache import build_cache, load_basin_arrays  # noqa: E402
from ealstm.data.prepare import prepare_data  # noqa: E402
from ealstm.data.synthetic.demo import generate_demo_data  # noqa: E402
from ealstm.data.windows import (  # noqa: E402
    SampleIndex,
    gather_batch,
    iterate_batches,
    nse_star_std,
    sample_index,
    thin_index,
)
from ealstm.models import EALSTM, build_model  # noqa: E402
from ealstm.simulation.chunked import model_steps  # noqa: E402
from ealstm.simulation.simulate import Simulation, simulate  # noqa: E402
from ealstm.training.losses import LOSSES  # noqa: E402

GEN_START, GEN_END = "1988-10-01", "2008-09-30"
TRAIN = {"start": "1999-10-01", "end": "2008-09-30"}
TEST = {"start": "1989-10-01", "end": "1999-09-30"}
SEQ, HIDDEN, N_DYNAMIC, N_STATIC = 270, 256, 5, 27
MODES = {"seq2one": (270, 1), "seq2seq": (635, 365)}  # mode -> (seq_length, predict_last_n)
MB, GB = 2**20, 2**30
PHASE_NAMES = ("data", "train", "eval", "probe")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="synthetic CAMELS-US root; generated there if it holds no data "
                             "(default: a temporary folder, deleted at the end)")
    parser.add_argument("--keep-data", action="store_true", help="keep a generated temp folder")
    parser.add_argument("--n-basins", type=int, default=531)
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--reloads", type=int, default=5, help="timed cache reloads")
    parser.add_argument("--batches", type=int, default=20, help="timed training batches per mode")
    parser.add_argument("--warmup-batches", type=int, default=1, help="untimed batches first")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--eval-batch-size", type=int, default=1024,
                        help="Simulation.batch_size (evaluation.batch_size of the configs)")
    parser.add_argument("--exact-basins", type=int, default=4,
                        help="basins simulated with chunk 1 for the extrapolation")
    parser.add_argument("--omp-wait-policy", choices=["passive", "unset"], default="passive",
                        help="OMP_WAIT_POLICY of the timed processes: passive (default; "
                             "idle OpenMP threads sleep instead of spinning, which keeps 2 "
                             "threads usable on cores shared with other jobs) or unset")
    parser.add_argument("--probe-steps", type=int, default=30,
                        help="steps of the thread/wait-policy probe")
    parser.add_argument("--eval-target-s", type=float, default=60.0)
    parser.add_argument("--memory-target-gb", type=float, default=4.0)
    parser.add_argument("--reload-target-s", type=float, default=1.0)
    parser.add_argument("--parse-target-s", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--phase", choices=list(PHASE_NAMES), help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=list(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--phase-out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --------------------------------------------------------------------------- helpers
def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def maxrss_mb() -> float:
    """Peak resident set of this process so far, in MiB.

    ``VmHWM`` of ``/proc/self/status`` (the high-water mark of this address space). Not
    ``ru_maxrss``: Linux keeps it across ``execve``, so a child started by a parent holding
    ~0.9 GB (after generating the data) would report the parent's size as its floor. Falls back
    to ``ru_maxrss`` (KiB) where ``/proc`` is missing.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_config(data_dir: Path, cache_dir: Path, seq_length: int = SEQ,
               predict_last_n: int = 1) -> RunConfig:
    """The paper's EA-LSTM / NSE* config on ``data_dir`` (seq and predict_last_n overridable)."""
    return parse_config({
        "name": "bench_scale", "runs_dir": str(cache_dir.parent / "runs"),
        "data": {"data_dir": str(data_dir), "forcings": "maurer_extended",
                 "basin_file": str(data_dir / "basin_list.txt"), "train_period": TRAIN,
                 "test_period": TEST, "seq_length": seq_length, "cache_dir": str(cache_dir)},
        "model": {"name": "ealstm", "use_static": True, "hidden_size": HIDDEN, "dropout": 0.4,
                  "initial_forget_bias": 5.0},
        "train": {"loss": "nse_star", "batch_size": 256, "clip_grad_norm": 1.0,
                  "predict_last_n": predict_last_n, "device": "cpu"},
    })


def years(period: dict) -> float:
    days = (dt.date.fromisoformat(period["end"]) - dt.date.fromisoformat(period["start"])).days
    return (days + 1) / 365.25


def timed(fn, *args, **kwargs) -> tuple[object, float]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


# --------------------------------------------------------------------------- phase: data
def phase_data(args: argparse.Namespace) -> dict:
    cfg = run_config(args.data_dir, args.cache_dir)
    load0, rss0 = loadavg(), maxrss_mb()
    path, cold_s = timed(build_cache, cfg.data, force=True)
    load1 = loadavg()
    reload_s = []
    for _ in range(args.reloads):
        arrays, seconds = timed(load_basin_arrays, cfg.data)
        reload_s.append(seconds)
    _, scale_s = timed(prepare_data, cfg)
    return {
        "n_basins": len(arrays.basins), "n_days": len(arrays.dates),
        "dates": [str(arrays.dates[0].date()), str(arrays.dates[-1].date())],
        "cold_parse_and_write_s": cold_s, "cold_s_per_basin": cold_s / len(arrays.basins),
        "reload_s": reload_s, "reload_median_s": statistics.median(reload_s),
        "prepare_data_s": scale_s,
        "array_mb": {"dynamic": arrays.dynamic.nbytes / MB, "target": arrays.target.nbytes / MB,
                     "static": arrays.static.nbytes / MB},
        "cache_file_mb": Path(path).stat().st_size / MB,
        "load_avg_cold": [load0, load1], "load_avg_end": loadavg(),
        "rss_mb": {"after_imports": rss0, "peak": maxrss_mb()},
    }


# --------------------------------------------------------------------------- phase: train
def full_batches(index: SampleIndex, n_last: int, batch_size: int,
                 seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Full batches of epochs 1, 2, ... as ``_run_epoch`` draws them (partial batches skipped).

    Sequence-to-sequence epochs hold only ~19 batches of 256 on 531 basins, so more batches
    than that come from the next epochs.
    """
    for epoch in itertools.count(1):
        rng = np.random.default_rng([seed, epoch])
        epoch_index = thin_index(index, n_last, rng)
        if len(epoch_index) < batch_size:
            raise ValueError(f"an epoch holds {len(epoch_index)} samples, less than one batch "
                             f"of {batch_size}; use more basins or a smaller --batch-size")
        for basin_idx, time_idx in iterate_batches(epoch_index, batch_size, True, rng):
            if len(basin_idx) == batch_size:
                yield basin_idx, time_idx


def train_batches(args: argparse.Namespace, seq_length: int, n_last: int) -> dict:
    """Run warm-up + timed batches exactly as ``_run_epoch`` does; seconds per timed batch."""
    cfg = run_config(args.data_dir, args.cache_dir)  # seq 270 arrays: same cache, windows fit
    rss = {"after_imports": maxrss_mb()}
    scaled, _ = prepare_data(cfg)
    rss["after_data"] = maxrss_mb()
    train_slice = scaled.time_slice(cfg.data.period("train"))
    index = sample_index(scaled.dynamic, scaled.target, seq_length, train_slice,
                         target_window=n_last)
    q_std = torch.tensor(nse_star_std(scaled, train_slice)["std_mm_day"].to_numpy(),
                         dtype=torch.float32)
    epoch_index = thin_index(index, n_last, np.random.default_rng([cfg.train.seed, 1]))
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model, len(scaled.dynamic_names), len(scaled.static_names))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr_at(1))
    model.train()
    loss_fn = LOSSES[cfg.train.loss]
    rss["after_model"] = maxrss_mb()
    n_total = args.warmup_batches + args.batches
    batches = full_batches(index, n_last, args.batch_size, cfg.train.seed)
    seconds, load0 = [], loadavg()
    for k, (basin_idx, time_idx) in enumerate(itertools.islice(batches, n_total)):
        start = time.perf_counter()
        batch = gather_batch(scaled, basin_idx, time_idx, seq_length, n_last,
                             target_period=train_slice)
        y_hat = model(batch.x_d, batch.x_s, predict_last_n=n_last)
        loss = loss_fn(y_hat, batch.y, q_std[batch.basin], cfg.train.nse_eps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.clip_grad_norm)
        optimizer.step()
        loss.item()
        if k >= args.warmup_batches:
            seconds.append(time.perf_counter() - start)
    rss["peak"] = maxrss_mb()
    return {"seconds": seconds, "rss_mb": rss, "load_avg": [load0, loadavg()],
            "n_samples_all_windows": len(index), "samples_per_epoch": len(epoch_index),
            "n_basins": len(scaled.basins)}


def phase_train(args: argparse.Namespace) -> dict:
    seq_length, n_last = MODES[args.mode]
    out = train_batches(args, seq_length, n_last)
    median = statistics.median(out["seconds"])
    epoch_s = out["samples_per_epoch"] * median / args.batch_size
    out.update({
        "mode": args.mode, "seq_length": seq_length, "predict_last_n": n_last,
        "batch_size": args.batch_size, "s_per_batch_median": median,
        "s_per_batch_mean": statistics.fmean(out["seconds"]),
        "batches_per_epoch": -(-out["samples_per_epoch"] // args.batch_size),
        "epoch_s": epoch_s,
        "s_per_basin_year": epoch_s / (out["n_basins"] * years(TRAIN)),
        "peak_rss_gb": out["rss_mb"]["peak"] * MB / GB,
        "training_delta_mb": out["rss_mb"]["peak"] - out["rss_mb"]["after_data"],
    })
    return out


# --------------------------------------------------------------------------- phase: eval
def time_simulation(model: torch.nn.Module, scaled, test_slice: slice, how: Simulation) -> dict:
    n_times = test_slice.stop - test_slice.start + how.warmup
    load0 = loadavg()
    sim, seconds = timed(simulate, model, scaled, test_slice, how)
    return {"seconds": seconds, "n_basins": len(scaled.basins), "n_days": sim.shape[1],
            "chunk": how.chunk, "warmup": how.warmup,
            "lstm_steps": model_steps(len(scaled.basins), n_times, how.warmup, how.chunk),
            "nan_fraction": float(np.isnan(sim).mean()), "load_avg": [load0, loadavg()]}


def phase_eval(args: argparse.Namespace) -> dict:
    cfg = run_config(args.data_dir, args.cache_dir)
    scaled, _ = prepare_data(cfg)
    test_slice = scaled.time_slice(cfg.data.period("test"))
    torch.manual_seed(0)
    model = build_model(cfg.model, len(scaled.dynamic_names), len(scaled.static_names)).eval()
    fast = time_simulation(model, scaled, test_slice,
                           Simulation(SEQ, 1, 365, args.eval_batch_size, True))
    rss_fast = maxrss_mb()
    step = max(1, len(scaled.basins) // args.exact_basins)
    subset = scaled.select(scaled.basins[::step][:args.exact_basins])
    exact = time_simulation(model, subset, test_slice,
                            Simulation(SEQ, 1, 1, args.eval_batch_size, True))
    exact["extrapolated_s"] = exact["seconds"] * len(scaled.basins) / exact["n_basins"]
    exact["extrapolated_lstm_steps"] = exact["lstm_steps"] * len(scaled.basins) // exact[
        "n_basins"]
    for entry in (fast, exact):
        entry["steps_per_s"] = entry["lstm_steps"] / entry["seconds"]
        entry["s_per_basin_year"] = entry["seconds"] / (entry["n_basins"] * years(TEST))
    return {"chunk365": fast, "chunk1": exact, "rss_mb": {"after_chunk365": rss_fast,
                                                          "peak": maxrss_mb()}}


# --------------------------------------------------------------------------- phase: probe
def phase_probe(args: argparse.Namespace) -> dict:
    """Milliseconds per no-grad EA-LSTM step at batch 436 (a chunk-365 evaluation batch).

    Run once per OpenMP wait policy, with 1 and ``--threads`` torch threads, to show how much
    of the evaluation and training time is contention with the other jobs on the cores.
    """
    torch.manual_seed(0)
    model = EALSTM(N_DYNAMIC, N_STATIC, HIDDEN).eval()
    x_d, x_s = torch.randn(436, args.probe_steps, N_DYNAMIC), torch.randn(436, N_STATIC)
    ms_per_step, load0 = {}, loadavg()
    with torch.no_grad():
        for threads in sorted({1, args.threads}):
            torch.set_num_threads(threads)
            model(x_d[:, :2], x_s)
            _, seconds = timed(model, x_d, x_s)
            ms_per_step[str(threads)] = 1000 * seconds / args.probe_steps
    return {"ms_per_step": ms_per_step, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "load_avg": [load0, loadavg()]}


PHASES = {"data": phase_data, "train": phase_train, "eval": phase_eval, "probe": phase_probe}


def child_main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    result = PHASES[args.phase](args)
    args.phase_out.write_text(json.dumps(result))


# --------------------------------------------------------------------------- parent
def ensure_data(args: argparse.Namespace, data_dir: Path) -> dict:
    """Generate the synthetic tree unless ``data_dir`` already holds ``n_basins`` basins."""
    basin_list = data_dir / "basin_list.txt"
    if basin_list.is_file() and len(basin_list.read_text().split()) == args.n_basins:
        return {"generated": False, "seconds": None, "load_avg": [loadavg(), loadavg()]}
    load0 = loadavg()
    _, seconds = timed(generate_demo_data, data_dir, n_basins=args.n_basins, start=GEN_START,
                       end=GEN_END, seed=args.seed)
    return {"generated": True, "seconds": seconds, "load_avg": [load0, loadavg()]}


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / MB


def child_env(policy: str) -> dict[str, str]:
    """Environment of a timed child: OMP_WAIT_POLICY=PASSIVE, or without OMP_WAIT_POLICY."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env


def run_phase(args: argparse.Namespace, phase: str, data_dir: Path, cache_dir: Path,
              mode: str | None = None, policy: str | None = None) -> dict:
    """Run one phase in a fresh Python process and return its JSON result."""
    policy = policy or args.omp_wait_policy
    out = cache_dir.parent / f"phase_{phase}_{mode or ''}_{policy}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", phase,
           "--data-dir", str(data_dir), "--cache-dir", str(cache_dir), "--phase-out", str(out),
           "--threads", str(args.threads), "--reloads", str(args.reloads),
           "--batches", str(args.batches), "--warmup-batches", str(args.warmup_batches),
           "--batch-size", str(args.batch_size), "--eval-batch-size", str(args.eval_batch_size),
           "--exact-basins", str(args.exact_basins), "--probe-steps", str(args.probe_steps)]
    if mode:
        cmd += ["--mode", mode]
    print(f"[bench_scale] phase {phase} {mode or ''} OMP_WAIT_POLICY {policy} "
          f"(load {loadavg()})", flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, timeout=900, env=child_env(policy))
    result = json.loads(out.read_text())
    result["phase_wall_s"] = time.perf_counter() - start
    return result


def machine_info() -> dict:
    cpu = cpu_name()
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_gb, 1),
            "torch": torch.__version__, "python": platform.python_version(),
            "date": dt.datetime.now().isoformat(timespec="seconds")}


def verdicts(args: argparse.Namespace, res: dict) -> dict:
    ev, data = res["evaluation"], res["data"]
    mem = {m: res["training"][m]["peak_rss_gb"] for m in MODES}
    return {
        "eval_10y_531_chunk365_under_target": ev["chunk365"]["seconds"] < args.eval_target_s,
        "eval_10y_531_chunk1_under_target": ev["chunk1"]["extrapolated_s"] < args.eval_target_s,
        **{f"train_{m}_peak_rss_under_target": gb < args.memory_target_gb
           for m, gb in mem.items()},
        "reload_under_target": data["reload_median_s"] < args.reload_target_s,
        "cold_parse_under_target": data["cold_parse_and_write_s"] < args.parse_target_s,
    }


def parent_main(args: argparse.Namespace) -> None:
    bench_start, load_start = time.perf_counter(), loadavg()
    temp = args.data_dir is None
    work = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    data_dir = (work / "camels_us") if temp else args.data_dir
    cache_dir = work / "cache"
    try:
        generation = ensure_data(args, data_dir)
        generation["size_mb"] = folder_mb(data_dir)
        res = {"generation": generation,
               "data": run_phase(args, "data", data_dir, cache_dir),
               "training": {m: run_phase(args, "train", data_dir, cache_dir, m) for m in MODES},
               "evaluation": run_phase(args, "eval", data_dir, cache_dir),
               "probe": {p: run_phase(args, "probe", data_dir, cache_dir, policy=p)
                         for p in ("unset", "passive")}}
    finally:
        shutil.rmtree(cache_dir.parent if not (temp and args.keep_data) else cache_dir,
                      ignore_errors=True)
    res["machine"] = {**machine_info(), "torch_threads": args.threads,
                      "omp_wait_policy": args.omp_wait_policy,
                      "load_avg_start": load_start, "load_avg_end": loadavg()}
    res["config"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                     if k not in ("phase", "mode", "cache_dir", "phase_out")}
    res["verdicts"] = verdicts(args, res)
    res["total_wall_s"] = time.perf_counter() - bench_start
    res["command"] = " ".join([".venv/bin/python benchmarks/bench_scale.py", *sys.argv[1:]])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(res, indent=2))
    (args.out / "scale.md").write_text(markdown(args, res))
    print(markdown(args, res))


# --------------------------------------------------------------------------- report
def load_text(pair: list[list[float]]) -> str:
    return f"load {pair[0][0]:.2f} -> {pair[1][0]:.2f}"


def ok(flag: bool) -> str:
    return "**PASS**" if flag else "**FAIL**"


def md_data(res: dict, args: argparse.Namespace) -> list[str]:
    gen, d = res["generation"], res["data"]
    gen_text = (f"{gen['seconds']:.1f} s ({load_text(gen['load_avg'])})" if gen["generated"]
                else "reused an existing folder (not timed)")
    arr = d["array_mb"]
    return [
        "## 1. Data", "",
        f"Synthetic tree: {d['n_basins']} basins, {GEN_START}..{GEN_END}, "
        f"{gen['size_mb']:.0f} MB on disk (maurer_extended + nldas forcings, streamflow, "
        f"attributes). Generation: {gen_text}.", "",
        "| what | value | includes | load avg (1 min) |", "|---|---|---|---|",
        f"| cold parse + cache write | {d['cold_parse_and_write_s']:.1f} s "
        f"({1000 * d['cold_s_per_basin']:.0f} ms/basin) | `build_cache(force=True)`: read "
        "forcing + streamflow text files, attributes, align on the date axis, write the netCDF "
        f"cache (files in the OS page cache: just generated) | {load_text(d['load_avg_cold'])} |",
        f"| cached reload, median of {len(d['reload_s'])} | {d['reload_median_s']:.3f} s "
        f"(min {min(d['reload_s']):.3f}, max {max(d['reload_s']):.3f}) | `load_basin_arrays`: "
        "open + load + check the netCDF cache | "
        f"{load_text([d['load_avg_cold'][1], d['load_avg_end']])} |",
        f"| reload + scaling | {d['prepare_data_s']:.3f} s | `prepare_data`: reload, fit the "
        "scaler on the train period, standardised copy | (same) |",
        f"| arrays | dynamic {arr['dynamic']:.1f} MB, target {arr['target']:.1f} MB, static "
        f"{arr['static']:.3f} MB; cache file {d['cache_file_mb']:.1f} MB | float32 "
        f"[{d['n_basins']} basins x {d['n_days']} days ({d['dates'][0]}..{d['dates'][1]}) x "
        "5 inputs], [basin x day], [basin x 27] | |",
        f"| peak RSS of the data process | {d['rss_mb']['peak']:.0f} MB | "
        f"whole process (after imports: {d['rss_mb']['after_imports']:.0f} MB) | |", "",
        f"Targets (the issue gives no number; thresholds of this script): cached reload < "
        f"{args.reload_target_s:g} s {ok(res['verdicts']['reload_under_target'])}; one-time cold "
        f"parse < {args.parse_target_s:g} s {ok(res['verdicts']['cold_parse_under_target'])}.", "",
    ]


def md_training(res: dict, args: argparse.Namespace) -> list[str]:
    lines = [
        "## 2. Training (EA-LSTM 256, NSE*, Adam, clip 1, dropout 0.4, batch "
        f"{args.batch_size}, {args.threads} torch threads)", "",
        f"{args.batches} timed batches after {args.warmup_batches} untimed, drawn as `_run_epoch` "
        "draws epochs 1, 2, ... (shuffled over all basins; full batches only: a seq2seq epoch "
        "holds only ~19 batches); each timed batch = gather windows + "
        "forward + loss + backward + clip + Adam step. Epoch = samples per epoch x median "
        "s/batch / batch size; per basin-year = epoch / (basins x 9 train years). Peak RSS = "
        "`VmHWM` (peak resident set) of a fresh process that loaded the cached arrays "
        "(`prepare_data`), built the model and ran the batches.", "",
        "| mode | median s/batch (mean) | samples/epoch (batches) | implied epoch | s per "
        "basin-year | peak RSS | RSS after data -> peak | load avg (1 min) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        t = res["training"][mode]
        lines.append(
            f"| {mode} (seq {t['seq_length']}, last {t['predict_last_n']}) | "
            f"{t['s_per_batch_median']:.3f} ({t['s_per_batch_mean']:.3f}) | "
            f"{t['samples_per_epoch']:,} ({t['batches_per_epoch']:,}) | "
            f"{t['epoch_s']:.0f} s = {t['epoch_s'] / 60:.1f} min | {t['s_per_basin_year']:.3f} | "
            f"{t['peak_rss_gb']:.2f} GB | {t['rss_mb']['after_data']:.0f} -> "
            f"{t['rss_mb']['peak']:.0f} MB (+{t['training_delta_mb']:.0f}) | "
            f"{load_text(t['load_avg'])} |")
    lines += ["", f"Target: peak memory of training on 531 basins < {args.memory_target_gb:g} GB: "
              + ", ".join(f"{m} {ok(res['verdicts'][f'train_{m}_peak_rss_under_target'])}"
                          for m in MODES) + ".", ""]
    return lines


def md_eval(res: dict, args: argparse.Namespace) -> list[str]:
    f, e = res["evaluation"]["chunk365"], res["evaluation"]["chunk1"]
    v = res["verdicts"]
    return [
        "## 3. Evaluation (10-year test period 1989-10-01..1999-09-30, all basins)", "",
        "`simulate` (`torch.no_grad`, the EA-LSTM's eval recurrence) of a randomly initialised "
        f"EA-LSTM (timing does not depend on training), `Simulation(270, 1, chunk, "
        f"{args.eval_batch_size})`; includes cutting the inputs, the NaN mask, all chunks and "
        "the copy to numpy; excludes reloading and scaling the data.", "",
        "| mode | basins timed | wall time | 531 basins | LSTM steps (531 basins) | steps/s | "
        "s per basin-year | load avg (1 min) |", "|---|---|---|---|---|---|---|---|",
        f"| chunk 365, warm-up 269 (fast) | {f['n_basins']} | {f['seconds']:.1f} s | "
        f"{f['seconds']:.1f} s (measured) | {f['lstm_steps']:,} | {f['steps_per_s']:,.0f} | "
        f"{f['s_per_basin_year']:.4f} | {load_text(f['load_avg'])} |",
        f"| chunk 1 (exact seq-to-one) | {e['n_basins']} | {e['seconds']:.1f} s | "
        f"{e['extrapolated_s']:.0f} s = {e['extrapolated_s'] / 60:.1f} min (x "
        f"{f['n_basins'] / e['n_basins']:.1f}, linear in basins) | "
        f"{e['extrapolated_lstm_steps']:,} | {e['steps_per_s']:,.0f} | "
        f"{e['s_per_basin_year']:.4f} | {load_text(e['load_avg'])} |", "",
        f"Peak RSS of the evaluation process: {res['evaluation']['rss_mb']['peak']:.0f} MB.", "",
        f"Target: 10 years x 531 basins < {args.eval_target_s:g} s: chunk 365 "
        f"{ok(v['eval_10y_531_chunk365_under_target'])}, chunk 1 "
        f"{ok(v['eval_10y_531_chunk1_under_target'])}.", "",
    ]


def md_probe(res: dict, args: argparse.Namespace) -> list[str]:
    lines = [
        "## 4. Contention probe", "",
        f"Milliseconds per no-grad EA-LSTM step at batch 436 ({args.probe_steps} steps, fresh "
        "process per OpenMP wait policy). With the policy unset, idle OpenMP threads spin; when "
        "other jobs occupy the cores, every parallel op then waits for a descheduled thread.", "",
        "| OMP_WAIT_POLICY | " + " | ".join(f"{t} thread(s)" for t in
                                          res["probe"]["passive"]["ms_per_step"]) +
        " | load avg (1 min) |",
        "|---|" + "---|" * (len(res["probe"]["passive"]["ms_per_step"]) + 1),
    ]
    for policy, p in res["probe"].items():
        cells = " | ".join(f"{v:.2f} ms" for v in p["ms_per_step"].values())
        lines.append(f"| {policy} | {cells} | {load_text(p['load_avg'])} |")
    return [*lines, ""]


def markdown(args: argparse.Namespace, res: dict) -> str:
    m = res["machine"]
    head = [
        "# Scale benchmark: 531 basins, EA-LSTM at the paper's size", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM, torch {m['torch']} "
        f"({m['torch_threads']} threads, OMP_WAIT_POLICY {m['omp_wait_policy']} in the timed "
        f"processes, see section 4), Python {m['python']}, {m['date']}. Load average "
        f"(1/5/15 min) {m['load_avg_start']} at start, {m['load_avg_end']} at end: the cores "
        "are shared with other jobs (a training run), so wall times are upper bounds of an idle "
        f"machine. Total benchmark wall time {res['total_wall_s']:.0f} s.", "",
        "Data: a synthetic CAMELS-US tree (`generate_demo_data`, same layout and file formats "
        "as the NCAR download) stands in for the real data set, which is not available offline. "
        "Each phase runs in a fresh Python process, so peak RSS values are per phase.", "",
    ]
    tail = [f"Reproduce: `{res['command']}`", ""]
    body = md_data(res, args) + md_training(res, args) + md_eval(res, args) + md_probe(res, args)
    return "\n".join(head + body + tail)


def main() -> None:
    args = parse_args()
    if args.phase:
        child_main(args)
    else:
        parent_main(args)


if __name__ == "__main__":
    main()
