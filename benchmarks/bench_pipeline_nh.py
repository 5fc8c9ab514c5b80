"""Whole-pipeline comparison of ealstm and neuralhydrology 1.13 on the real CAMELS-US sample.

Both libraries get the same data (19 NLDAS basins with 1993-2013 records, 5 forcings, the 27
static attributes of the paper, QObs in mm/day), the same periods (train 2003-10-01..2013-09-30,
test 1994-10-01..2003-09-30) and the same model (EA-LSTM, 256 cells, 270 days, batch 256, NSE*
loss, Adam, dropout 0.4, gradient clipping 1). Everything runs in ONE process and the two
libraries take turns, so that load changes from other jobs on the machine hit both.

Stages and what each timing includes:

1. data (``--repeats`` interleaved rounds)

   * ``ealstm_cold_load``: ``load_basin_arrays`` into an empty cache folder: parse the text
     files, align them on one date axis, write the netCDF cache;
   * ``ealstm_cached_load``: the same call when the cache file exists (read the netCDF);
   * ``ealstm_prep``: what training adds on top: ``Scaler.fit`` + ``transform``, the sample
     index and the per-basin target std (``ealstm_*_ready`` = load + prep, the equivalent of
     NH's dataset constructor);
   * ``nh_cold``: ``CamelsUS(cfg, is_train=True, period="train")``: read attributes, parse
     the text files, build the xarray dataset, per-basin std, normalisation, lookup table
     (numba-validated samples), dump of the scaler YAML;
   * ``nh_cached``: the same with ``train_data_file`` = the ``train_data.p`` NH wrote with
     ``save_train_data: True`` (NH's only cached path: it skips the text parsing, not the
     normalisation or the lookup table);
   * ``nh_first_build_save`` (once, before the rounds): the first NH build in the process, with
     ``save_train_data: True``; it includes numba's JIT compile of ``_validate_samples``.

2. training: the epoch is run in blocks of ``--block`` batches, alternating between the two
   libraries (``--max-batches`` caps the batches per library, default: a full epoch):

   * ``ealstm``: ``ealstm.training.loop._run_epoch`` (the loop ``train`` runs: gather, forward,
     NSE*, backward, clip, Adam step) over a random subset of ``block x 256`` training samples;
   * ``nh``: ``BaseTrainer._train_epoch`` of neuralhydrology (its DataLoader over ``CamelsUS``
     with ``collate_fn``, ``num_workers=0``, forward, NSE loss, backward, clip, Adam step) with
     ``max_updates_per_epoch = block``. The trainer is NH's own (``BaseTrainer``,
     ``initialize_training``); only its dataset is handed over pre-built from stage 1.

   Seconds per batch are medians over blocks; seconds per epoch = that median x the batches of a
   full epoch (measured sum of the blocks as well).

3. evaluation of the test period (``--eval-repeats`` rounds), models from stage 2:

   * ``ealstm_eval_chunk1``: ``predict_period`` with ``Simulation(chunk=1)`` (one 270-day
     window per day, the paper's evaluation) + ``evaluate_basins`` (7 metrics);
   * ``ealstm_eval_chunk<seq>``: the same with ``chunk = seq_length`` (the fast mode);
   * ``ealstm_test_data``: ``prepare_data`` with the training scaler (cached netCDF + scaling):
     the data part of ``load_run``;
   * ``nh_test_data``: ``tester._get_dataset(basin)`` for every basin: NH's tester builds one
     dataset per basin from the text files on every ``evaluate`` call;
   * ``nh_tester_cached``: ``RegressionTester.evaluate`` (DataLoader over all seq-to-one test
     samples, batch 256, forward, rescaling, xarray assembly, the same 7 metrics) with those
     datasets pre-filled into ``tester.cached_datasets``; a plain ``evaluate`` costs about
     ``nh_test_data + nh_tester_cached``.

RSS: before every timed call the kernel's peak-RSS mark of the process is reset
(``/proc/self/clear_refs``), so each measurement gets the peak resident memory of the process
while it ran. It is the whole process (about 0.4 GB of imports, and the data of the other
library that is still alive), so compare peaks of the same stage, not absolute values. The
array bytes each library keeps for the training data are reported separately.

neuralhydrology must be installed without dependencies so torch is kept::

    .venv/bin/pip install --no-deps neuralhydrology==1.13.0 ruamel.yaml

``tensorboard`` (only imported by NH's ``Logger``; ``log_tensorboard`` is off) is replaced by a
stand-in if missing, as is ``numba`` (a real install is needed for NH's data pipeline timings
to be meaningful; the stand-in runs ``_validate_samples`` in pure Python). NH's git-hash lookup
in its ``Logger`` is disabled (no git call).

Torch runs with ``--threads 1`` by default: on the 2 shared cores, with other jobs running, a
2-thread training step took 40-60 s instead of about 1 s (OpenMP threads waiting on each other).

Usage (about 12 minutes on 2 busy cores; leave out ``--max-batches`` for a full epoch)::

    .venv/bin/python benchmarks/bench_pipeline_nh.py --repeats 3 --max-batches 136 --block 17

Writes ``benchmarks/results/pipeline_nh.json`` and ``pipeline_nh.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import logging
import math
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _machine import cpu_name  # noqa: E402

from ealstm.config import PAPER_ATTRIBUTES, RunConfig, parse_config  # noqa: E402
from ealstm.data.arrays import BasinArrays  # noqa: E402
from ealstm.data.cache import load_basin_arrays  # noqa: E402
from ealstm.data.prepare import prepare_data  # noqa: E402
from ealstm.data.scaling import Scaler  # noqa: E402
from ealstm.data.windows import SampleIndex, nse_star_std, sample_index  # noqa: E402
from ealstm.evaluation.predict import predict_period  # noqa: E402
from ealstm.metrics import evaluate_basins  # noqa: E402
from ealstm.models import build_model  # noqa: E402
from ealstm.simulation.simulate import Simulation  # noqa: E402
from ealstm.training.loop import _run_epoch  # noqa: E402

#: The 19 NLDAS basins of the sample with 1993-2013 records (the 3 short ones are left out).
LONG_BASINS = (
    "01013500", "01022500", "01333000", "02046000", "03010655", "03439000", "04015330",
    "05057200", "05291000", "06221400", "07057500", "07291000", "08023080", "08267500",
    "09035900", "09386900", "10234500", "10259000", "12010000",
)  # fmt: skip
EALSTM_INPUTS = ("prcp", "srad", "tmax", "tmin", "vp")
NH_INPUTS = ("PRCP(mm/day)", "SRAD(W/m2)", "Tmax(C)", "Tmin(C)", "Vp(Pa)")
NH_METRICS = ("NSE", "Alpha-NSE", "Beta-NSE", "FHV", "FMS", "FLV", "KGE")
TRAIN, TEST = ("2003-10-01", "2013-09-30"), ("1994-10-01", "2003-09-30")
log = logging.getLogger("bench_pipeline_nh")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the data stage")
    parser.add_argument("--max-batches", type=int, default=None,
                        help="training batches per library (default: one full epoch)")
    parser.add_argument("--block", type=int, default=20, help="batches per alternating block")
    parser.add_argument("--eval-repeats", type=int, default=1, help="rounds of the eval stage")
    parser.add_argument("--eval-basins", type=int, default=None,
                        help="evaluate only the first N basins (default: all 19)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: with 2 threads on the oversubscribed shared "
                             "cores a training step took 40-60 s instead of 1 s)")
    parser.add_argument("--data-dir", type=Path,
                        default=ROOT.parent / "shared" / "data" / "camels_us")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    return parser.parse_args()


# --- bookkeeping --------------------------------------------------------------------------------


class Recorder:
    """Seconds and peak RSS per named measurement; RSS and load average after each stage."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}
        self.peak_mb: dict[str, float] = {}
        self.stages: dict[str, dict] = {}
        self._stage_peak = 0.0

    def timed(self, name: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn``, record its seconds and the process's peak RSS while it ran."""
        reset_peak_rss()
        start = time.perf_counter()
        out = fn()
        self.add(name, time.perf_counter() - start)
        peak = memory_mb()["peak_rss_mb"]
        self.peak_mb[name] = max(self.peak_mb.get(name, 0.0), peak)
        self._stage_peak = max(self._stage_peak, peak)
        return out

    def add(self, name: str, seconds: float) -> None:
        self.times.setdefault(name, []).append(seconds)
        log.info("%s: %.3f s", name, seconds)

    def end_stage(self, name: str) -> None:
        """RSS now, the highest peak of the stage's measurements, the 1-min load average."""
        now = memory_mb()
        self.stages[name] = {"rss_mb": now["rss_mb"],
                             "peak_rss_mb": self._stage_peak or now["peak_rss_mb"],
                             "load_avg_1min": round(os.getloadavg()[0], 2)}
        self._stage_peak = 0.0


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark of this process (``VmHWM``; Linux >= 4.0), if allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def memory_mb() -> dict[str, float]:
    """Current RSS and peak RSS since the last reset (``VmHWM``) of this process in MB."""
    values = {"rss_mb": float("nan"), "peak_rss_mb": float("nan")}
    keys = {"VmRSS:": "rss_mb", "VmHWM:": "peak_rss_mb"}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key = line.split(":", 1)[0] + ":"
            if key in keys:
                values[keys[key]] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        values["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return values


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- neuralhydrology import ---------------------------------------------------------------------


def register_stand_ins() -> list[str]:
    """Stand-ins for NH imports that are missing here; returns what was replaced."""
    replaced = []
    try:
        import numba  # noqa: F401
    except ModuleNotFoundError:
        stub = types.ModuleType("numba")
        stub.njit = lambda *a, **k: a[0] if a and callable(a[0]) else (lambda f: f)
        stub.prange = range
        stub.NumbaPendingDeprecationWarning = DeprecationWarning
        sys.modules["numba"] = stub
        replaced.append("numba (pure-Python _validate_samples: NH data timings too slow)")
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ModuleNotFoundError:
        stub = types.ModuleType("torch.utils.tensorboard")
        stub.SummaryWriter = object
        sys.modules["torch.utils.tensorboard"] = stub
        replaced.append("tensorboard (SummaryWriter never used: log_tensorboard is off)")
    return replaced


def import_nh() -> tuple[types.SimpleNamespace | None, str]:
    """neuralhydrology's classes (or None) and a note on versions and stand-ins."""
    replaced = register_stand_ins()
    try:
        from neuralhydrology.datasetzoo.camelsus import CamelsUS
        from neuralhydrology.evaluation import get_tester
        from neuralhydrology.training import logger as nh_logger
        from neuralhydrology.training.basetrainer import BaseTrainer
        from neuralhydrology.utils.config import Config
        from neuralhydrology.utils.errors import NoEvaluationDataError
    except Exception as exc:  # any import failure: report it, time ealstm alone
        return None, f"neuralhydrology not importable: {type(exc).__name__}: {exc}"
    nh_logger.get_git_hash = lambda: None  # no git subprocess from the benchmark
    version = importlib.metadata.version("neuralhydrology")
    note = f"neuralhydrology {version}"
    if replaced:
        note += "; stand-ins for missing modules: " + ", ".join(replaced)
    return types.SimpleNamespace(CamelsUS=CamelsUS, get_tester=get_tester, Config=Config,
                                 BaseTrainer=BaseTrainer,
                                 NoEvaluationDataError=NoEvaluationDataError), note


# --- configurations -----------------------------------------------------------------------------


def ealstm_config(data_dir: Path, runs_dir: Path, cache_dir: Path) -> RunConfig:
    return parse_config({
        "name": "bench_pipeline", "runs_dir": str(runs_dir),
        "data": {"data_dir": str(data_dir), "forcings": "nldas",
                 "dynamic_inputs": list(EALSTM_INPUTS), "static_attributes": list(PAPER_ATTRIBUTES),
                 "basins": list(LONG_BASINS), "seq_length": 270, "cache_dir": str(cache_dir),
                 "train_period": {"start": TRAIN[0], "end": TRAIN[1]},
                 "test_period": {"start": TEST[0], "end": TEST[1]}},
        "model": {"name": "ealstm", "hidden_size": 256, "dropout": 0.4,
                  "initial_forget_bias": 5.0},
        "train": {"loss": "nse_star", "batch_size": 256, "learning_rate": {1: 1e-3},
                  "clip_grad_norm": 1.0, "seed": 111, "device": "cpu"},
    })


def nh_date(iso: str) -> str:
    return dt.date.fromisoformat(iso).strftime("%d/%m/%Y")


def nh_config_dict(data_dir: Path, tmp: Path, eval_basins: int) -> dict:
    """NH config with the same settings; basin files written into ``tmp``."""
    (tmp / "basins_train.txt").write_text("\n".join(LONG_BASINS) + "\n")
    (tmp / "basins_test.txt").write_text("\n".join(LONG_BASINS[:eval_basins]) + "\n")
    periods = {"train": TRAIN, "validation": TEST, "test": TEST}
    dates = {f"{p}_{k}_date": nh_date(v[i]) for p, v in periods.items()
             for i, k in enumerate(("start", "end"))}
    return {
        "experiment_name": "bench_pipeline_nh", "run_dir": tmp / "nh_runs",
        "train_basin_file": tmp / "basins_train.txt",
        "validation_basin_file": tmp / "basins_test.txt",
        "test_basin_file": tmp / "basins_test.txt", **dates,
        "dataset": "camels_us", "data_dir": data_dir, "forcings": ["nldas"],
        "dynamic_inputs": list(NH_INPUTS), "target_variables": ["QObs(mm/d)"],
        "static_attributes": list(PAPER_ATTRIBUTES),
        "model": "ealstm", "head": "regression", "output_activation": "linear",
        "hidden_size": 256, "initial_forget_bias": 5.0, "output_dropout": 0.4,
        "seq_length": 270, "predict_last_n": 1, "batch_size": 256, "loss": "NSE",
        "optimizer": "Adam", "learning_rate": {0: 1e-3}, "epochs": 1, "clip_gradient_norm": 1.0,
        "num_workers": 0, "device": "cpu", "seed": 111, "verbose": 0, "log_interval": 5,
        "log_tensorboard": False, "log_n_figures": 0, "save_weights_every": 1,
        "metrics": list(NH_METRICS), "validate_every": None,
    }


# --- stage 1: data ------------------------------------------------------------------------------


@dataclass
class EalstmData:
    """Standardised arrays, scaler, training index and per-basin target std."""

    scaled: BasinArrays
    scaler: Scaler
    index: SampleIndex
    q_std: torch.Tensor


def ealstm_prep(arrays: BasinArrays, cfg: RunConfig) -> EalstmData:
    """What training adds to the loaded arrays: scaling, sample index, target std."""
    scaler = Scaler.fit(arrays, cfg.data.train_period)
    scaled = scaler.transform(arrays)
    train_slice = scaled.time_slice(cfg.data.train_period)
    index = sample_index(scaled.dynamic, scaled.target, cfg.data.seq_length, train_slice)
    q_std = torch.tensor(nse_star_std(scaled, train_slice)["std_mm_day"].to_numpy(),
                         dtype=torch.float32)
    return EalstmData(scaled, scaler, index, q_std)


def ealstm_load_round(rec: Recorder, cfg: RunConfig, cached: bool) -> EalstmData:
    kind = "cached" if cached else "cold"
    arrays = rec.timed(f"ealstm_{kind}_load", lambda: load_basin_arrays(cfg.data))
    data = rec.timed("ealstm_prep", lambda: ealstm_prep(arrays, cfg))
    rec.add(f"ealstm_{kind}_ready", rec.times[f"ealstm_{kind}_load"][-1]
            + rec.times["ealstm_prep"][-1])
    return data


def bench_data(rec: Recorder, args: argparse.Namespace, tmp: Path, nh_cfgs: dict | None,
               nh: types.SimpleNamespace | None) -> tuple[EalstmData, RunConfig, Any]:
    """Interleaved rounds: ealstm cold, NH cold, ealstm cached, NH cached."""
    nh_ds = None
    if nh is not None:
        nh_ds = rec.timed("nh_first_build_save",
                          lambda: nh.CamelsUS(nh_cfgs["save"], is_train=True, period="train"))
    for r in range(args.repeats):
        cfg = ealstm_config(args.data_dir, tmp / "runs", tmp / f"ealstm_cache_{r}")
        data = ealstm_load_round(rec, cfg, cached=False)
        if nh is not None:
            nh_ds = rec.timed("nh_cold", lambda: nh.CamelsUS(nh_cfgs["cold"], is_train=True,
                                                               period="train"))
        data = ealstm_load_round(rec, cfg, cached=True)
        if nh is not None:
            rec.timed("nh_cached", lambda: nh.CamelsUS(nh_cfgs["cached"], is_train=True,
                                                         period="train"))
    return data, cfg, nh_ds


def ealstm_bytes(data: EalstmData) -> int:
    s = data.scaled
    return int(s.dynamic.nbytes + s.target.nbytes + s.static.nbytes + data.index.basin.nbytes
               + data.index.time.nbytes)


def nh_bytes(ds: Any) -> int:
    """Bytes of the tensors and date arrays an NH dataset keeps (lookup-table dict not counted)."""
    total = 0
    for per_freq in ds._x_d.values():
        total += sum(t.numel() * t.element_size() for f in per_freq.values() for t in f.values())
    for per_freq in ds._y.values():
        total += sum(t.numel() * t.element_size() for t in per_freq.values())
    for per_freq in ds._dates.values():
        total += sum(a.nbytes for a in per_freq.values())
    return int(total)


# --- stage 2: training --------------------------------------------------------------------------


BlockFn = Callable[[int, int], int]


def ealstm_block_fn(cfg: RunConfig, data: EalstmData) -> tuple[BlockFn, int]:
    """``run(n_batches, epoch)`` on a random subset of the training samples; full epoch size."""
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model, len(data.scaled.dynamic_names), len(data.scaled.static_names))
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr_at(1))
    rng = np.random.default_rng(0)
    bs = cfg.train.batch_size

    def run(n_batches: int, epoch: int) -> int:
        chosen = rng.choice(len(data.index), size=min(n_batches * bs, len(data.index)),
                            replace=False)
        sub = SampleIndex(data.index.basin[chosen], data.index.time[chosen], 0, 0)
        _run_epoch(model, optimizer, data.scaled, sub, data.q_std, cfg, epoch,
                   torch.device("cpu"), progress=False)
        return math.ceil(len(sub) / bs)

    run.model = model
    return run, math.ceil(len(data.index) / bs)


def nh_block_fn(trainer: Any, nh_ds: Any) -> tuple[BlockFn, int]:
    """``run(n_batches, epoch)`` = NH's ``_train_epoch`` stopped after ``n_batches`` updates."""
    trainer._get_dataset = lambda: nh_ds
    trainer.initialize_training()

    def run(n_batches: int, epoch: int) -> int:
        trainer._max_updates_per_epoch = n_batches
        trainer._train_epoch(epoch=epoch)
        return min(n_batches, len(trainer.loader))

    return run, len(trainer.loader)


def bench_training(rec: Recorder, args: argparse.Namespace,
                   runners: dict[str, tuple[BlockFn, int]]) -> dict:
    """Alternate blocks of batches between the libraries; per-batch medians, epoch estimates."""
    for run, _ in runners.values():  # untimed warm-up: first-step allocations
        run(2, 1)
    n_target = {name: min(args.max_batches or total, total) for name, (_, total) in
                runners.items()}
    done = dict.fromkeys(runners, 0)
    epoch = 2
    while any(done[n] < n_target[n] for n in runners):
        for name, (run, _) in runners.items():
            size = min(args.block, n_target[name] - done[name])
            if size <= 0:
                continue
            n = rec.timed(f"train_{name}_block", lambda: run(size, epoch))  # noqa: B023
            rec.add(f"train_{name}_per_batch", rec.times[f"train_{name}_block"][-1] / n)
            done[name] += n
        epoch += 1
    return {name: {"batches_timed": done[name], "batches_per_epoch": total,
                   "seconds_timed": sum(rec.times[f"train_{name}_block"]),
                   "per_batch_median_s": median(rec.times[f"train_{name}_per_batch"]),
                   "epoch_estimate_s": median(rec.times[f"train_{name}_per_batch"]) * total}
            for name, (_, total) in runners.items()}


# --- stage 3: evaluation ------------------------------------------------------------------------


def ealstm_eval_fn(cfg: RunConfig, data: EalstmData, model: torch.nn.Module, chunk: int,
                   n_basins: int) -> Callable[[], dict]:
    scaled = data.scaled.select(data.scaled.basins[:n_basins])
    how = Simulation(cfg.data.seq_length, 1, chunk, cfg.evaluation.batch_size, True)

    def run() -> dict:
        preds = predict_period(model, scaled, data.scaler, cfg.data.test_period, how,
                               torch.device("cpu"))
        table = evaluate_basins(preds["qobs"], preds["qsim"])
        return {"n_predicted": int(np.isfinite(preds["qsim"].values).sum()),
                "median_nse": float(table["nse"].median())}

    return run


def nh_test_datasets(nh: types.SimpleNamespace, tester: Any) -> dict:
    out = {}
    for basin in tester.basins:
        try:
            out[basin] = tester._get_dataset(basin)
        except nh.NoEvaluationDataError:
            continue
    return out


def nh_eval_fn(tester: Any, model: torch.nn.Module) -> Callable[[], dict]:
    def run() -> dict:
        results = tester.evaluate(save_results=False, metrics=list(NH_METRICS), model=model)
        n_pred, nses = 0, []
        for per_freq in results.values():
            res = next(iter(per_freq.values()))  # the one frequency, daily
            n_pred += int(np.isfinite(res["xr"]["QObs(mm/d)_sim"].values).sum())
            nses.append(res.get("NSE", float("nan")))
        return {"n_predicted": n_pred, "median_nse": float(np.nanmedian(nses))}

    return run


def bench_eval(rec: Recorder, args: argparse.Namespace, cfg: RunConfig, data: EalstmData,
               model: torch.nn.Module, nh: types.SimpleNamespace | None, nh_cfg: Any,
               nh_trainer: Any) -> dict:
    """Interleaved rounds: ealstm chunk 1, NH tester, ealstm chunk seq, data parts."""
    n_basins = args.eval_basins or len(LONG_BASINS)
    seq = cfg.data.seq_length
    runs = {"ealstm_eval_chunk1": ealstm_eval_fn(cfg, data, model, 1, n_basins),
            f"ealstm_eval_chunk{seq}": ealstm_eval_fn(cfg, data, model, seq, n_basins)}
    tester = None
    if nh is not None:
        tester = nh.get_tester(nh_cfg, run_dir=nh_trainer.cfg.run_dir, period="test",
                               init_model=False)
        tester.cached_datasets = rec.timed("nh_test_data", lambda: nh_test_datasets(nh, tester))
        runs = {"ealstm_eval_chunk1": runs["ealstm_eval_chunk1"],
                "nh_tester_cached": nh_eval_fn(tester, nh_trainer.model),
                f"ealstm_eval_chunk{seq}": runs[f"ealstm_eval_chunk{seq}"]}
    checks = {}
    for r in range(args.eval_repeats):
        for name, run in runs.items():
            checks[name] = rec.timed(name, run)
        rec.timed("ealstm_test_data", lambda: prepare_data(cfg, data.scaler))
        if tester is not None and r > 0:
            rec.timed("nh_test_data", lambda: nh_test_datasets(nh, tester))
    return checks


# --- report -------------------------------------------------------------------------------------


def machine_info(load_at_start: float) -> dict:
    cpu = cpu_name()
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "numpy": np.__version__, "pandas": importlib.metadata.version("pandas"),
            "date": dt.datetime.now().isoformat(timespec="seconds"),
            "load_avg_start": load_at_start, "load_avg_end": list(os.getloadavg())}


#: (stage, ealstm measurement, NH measurement) pairs whose median ratio NH / ealstm is reported.
PAIRS = (
    ("data: cold (text -> ready to train)", "ealstm_cold_ready", "nh_cold"),
    ("data: cached (cache -> ready to train)", "ealstm_cached_ready", "nh_cached"),
    ("train: s/batch", "train_ealstm_per_batch", "train_nh_per_batch"),
    ("eval: test data", "ealstm_test_data", "nh_test_data"),
    ("eval: chunk 1 (paper) vs NH tester", "ealstm_eval_chunk1", "nh_tester_cached"),
    ("eval: chunk 270 (fast) vs NH tester", "ealstm_eval_chunk270", "nh_tester_cached"),
)


def summarize(times: dict[str, list[float]]) -> dict:
    medians = {name: median(values) for name, values in times.items()}
    ratios = {}
    for label, ours, theirs in PAIRS:
        if ours in medians and theirs in medians:
            ratios[label] = {"ealstm": ours, "nh": theirs, "ealstm_s": medians[ours],
                             "nh_s": medians[theirs], "nh/ealstm": medians[theirs] / medians[ours]}
    return {"median_s": medians, "first_s": {n: v[0] for n, v in times.items()},
            "n": {n: len(v) for n, v in times.items()}, "ratios": ratios}


def write_markdown(path: Path, result: dict) -> None:
    m, s, tr = result["machine"], result["summary"], result["training"]
    lines = [
        "# Whole pipeline: ealstm vs neuralhydrology 1.13 (CAMELS-US sample, NLDAS, 19 basins)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['threads']} torch threads, torch "
        f"{m['torch']}, numpy {m['numpy']}, pandas {m['pandas']}, {m['date']}. Load average "
        f"(1/5/15 min) at start {fmt_load(m['load_avg_start'])}, at end "
        f"{fmt_load(m['load_avg_end'])}: other jobs share the 2 cores, so absolute times are "
        "inflated; both libraries ran interleaved in one process, compare the ratios.", "",
        f"neuralhydrology: {result['nh_note']}", "",
        f"Settings: {json.dumps(result['config'])}; training samples "
        f"{json.dumps(result['train_samples'])}.", "",
        "EA-LSTM 256 cells, seq 270, batch 256, NSE* loss, Adam, dropout 0.4, clip 1; train "
        "2003-10-01..2013-09-30, test 1994-10-01..2003-09-30. What each number includes: see "
        "the docstring of `benchmarks/bench_pipeline_nh.py`.", "",
        "## Ratios (median seconds; > 1: ealstm is faster)", "",
        "| stage | ealstm s | NH s | NH / ealstm |", "|---|---|---|---|",
    ]
    for label, r in s["ratios"].items():
        lines.append(f"| {label} | {r['ealstm_s']:.3f} | {r['nh_s']:.3f} | {r['nh/ealstm']:.2f} |")
    lines += ["", "## Training epoch", "", "| library | batches timed | s/batch (median) | "
              "batches/epoch | epoch estimate s |", "|---|---|---|---|---|"]
    for name, t in tr.items():
        lines.append(f"| {name} | {t['batches_timed']} | {t['per_batch_median_s']:.3f} | "
                     f"{t['batches_per_epoch']} | {t['epoch_estimate_s']:.0f} |")
    lines += ["", "## All measurements (seconds)", "", "| measurement | n | median | first |",
              "|---|---|---|---|"]
    for name, med in s["median_s"].items():
        lines.append(f"| {name} | {s['n'][name]} | {med:.3f} | {s['first_s'][name]:.3f} |")
    lines += ["", "## Peak RSS of the process during each measurement (MB, max over repeats)", ""]
    lines += ["| measurement | peak RSS MB |", "|---|---|"]
    lines += [f"| {name} | {peak:.0f} |" for name, peak in result["peak_rss_mb"].items()]
    lines += ["", "## Memory and load after each stage", "",
              "| stage | RSS MB now | highest peak in stage MB | load 1 min |", "|---|---|---|---|"]
    for stage, st in result["stages"].items():
        lines.append(f"| {stage} | {st['rss_mb']} | {st['peak_rss_mb']} | "
                     f"{st['load_avg_1min']:.2f} |")
    lines += ["", f"Training-data bytes kept: {json.dumps(result['data_bytes'])}", "",
              f"Evaluation checks (random-ish models, for counts only): "
              f"`{json.dumps(result['eval_checks'])}`", ""]
    lines += [f"* {c}" for c in result["caveats"]]
    lines += ["", f"Reproduce: `{result['command']}`", ""]
    path.write_text("\n".join(lines))


def fmt_load(load: list[float]) -> str:
    return "/".join(f"{v:.2f}" for v in load)


CAVEATS = [
    "Models are trained only for the timed batches; evaluation cost does not depend on the "
    "weights, the NSE values in the checks are meaningless.",
    "ealstm's training blocks draw random subsets of the index; NH's blocks are its full "
    "shuffled DataLoader stopped after `block` updates: the same work per batch as an epoch.",
    "NH's tester evaluates all seq-to-one test samples in batches of 256 (its config "
    "batch_size); ealstm's chunk=1 evaluation packs windows into batches of 1024 sequences.",
    "Peak RSS is per measurement but of the whole process: both libraries live in it.",
]


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    load_at_start = list(os.getloadavg())
    torch.set_num_threads(args.threads)
    nh, nh_note = import_nh()
    rec = Recorder()
    rec.end_stage("start")
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_nh_") as tmp_name:
        tmp = Path(tmp_name)
        nh_cfgs, trainer = (None, None)
        if nh is not None:
            nh_cfgs, trainer = nh_setup(nh, args, tmp)
        data, cfg, nh_ds = bench_data(rec, args, tmp, nh_cfgs, nh)
        data_bytes = {"ealstm": ealstm_bytes(data)}
        samples = {"ealstm_train": len(data.index)}
        if nh_ds is not None:
            data_bytes["nh_tensors"] = nh_bytes(nh_ds)
            samples["nh_train"] = len(nh_ds)
        rec.end_stage("data")
        runners = {"ealstm": ealstm_block_fn(cfg, data)}
        if nh is not None:
            runners["nh"] = nh_block_fn(trainer, nh_ds)
        training = bench_training(rec, args, runners)
        rec.end_stage("training")
        checks = bench_eval(rec, args, cfg, data, runners["ealstm"][0].model, nh,
                            nh_cfgs["cold"] if nh_cfgs else None, trainer)
        rec.end_stage("evaluation")
    result = {
        "machine": machine_info(load_at_start), "nh_note": nh_note,
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "summary": summarize(rec.times), "training": training, "stages": rec.stages,
        "peak_rss_mb": rec.peak_mb,
        "data_bytes": data_bytes, "train_samples": samples, "eval_checks": checks,
        "times_s": rec.times,
        "caveats": CAVEATS,
        "command": ".venv/bin/python benchmarks/bench_pipeline_nh.py " + " ".join(sys.argv[1:]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "pipeline_nh.json").write_text(json.dumps(result, indent=2))
    write_markdown(args.out / "pipeline_nh.md", result)
    print(json.dumps({"ratios": result["summary"]["ratios"], "training": training,
                      "stages": rec.stages, "nh": nh_note}, indent=2))


def nh_setup(nh: types.SimpleNamespace, args: argparse.Namespace, tmp: Path) -> tuple[dict, Any]:
    """NH's trainer (creates its run folder) and the three dataset configs sharing it."""
    base = nh_config_dict(args.data_dir, tmp, args.eval_basins or len(LONG_BASINS))
    trainer = nh.BaseTrainer(nh.Config(dict(base)))
    train_dir = trainer.cfg.train_dir
    cfgs = {"cold": trainer.cfg,
            "save": nh.Config({**base, "train_dir": train_dir, "save_train_data": True}),
            "cached": nh.Config({**base, "train_dir": train_dir,
                                 "train_data_file": train_dir / "train_data.p"})}
    return cfgs, trainer


if __name__ == "__main__":
    main()
