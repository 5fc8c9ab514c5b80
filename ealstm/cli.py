"""Command-line interface: one subcommand per stage, each a thin call into the library."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ealstm import __version__
from ealstm.cli_tools import add_config_parsers, add_plot_parsers
from ealstm.cli_workflow import add_workflow_parsers
from ealstm.errors import ConfigError, EalstmError
from ealstm.runtime_env import set_omp_wait_policy


def _cmd_train(args: argparse.Namespace) -> int:
    from ealstm.config import load_config
    from ealstm.evaluation.run import evaluate_run
    from ealstm.training.loop import train

    cfg = load_config(args.config, args.set)
    run_dir = train(cfg, resume=args.resume, progress=not args.no_progress)
    print(f"trained: {run_dir}")
    if args.evaluate:
        for period in cfg.evaluation.periods:
            _print_evaluation(evaluate_run(run_dir, period))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ealstm.evaluation.run import evaluate_run

    _print_evaluation(evaluate_run(args.run_dir, args.period, args.epoch, args.device))
    return 0


def _print_evaluation(result: object) -> None:
    s = result.summary  # type: ignore[attr-defined]
    print(f"{s['period']}: {s['n_basins']} basins, mean NSE {s['mean']:.3f}, "
          f"median NSE {s['median']:.3f}, NSE <= 0 in {s['n_nse_le_0']} basins")
    print(f"  predictions: {result.predictions}\n  metrics:     {result.metrics}")  # type: ignore[attr-defined]


def _cmd_demo(args: argparse.Namespace) -> int:
    from ealstm.quickstart import run_demo

    table = run_demo(args.out, epochs=args.epochs, n_basins=args.basins,
                     progress=not args.no_progress)
    print(table.to_string(index=False))
    return 0


def _cmd_experiment(args: argparse.Namespace) -> int:
    from ealstm.experiment.config import load_experiment_config
    from ealstm.experiment.runner import run_experiment

    exp = load_experiment_config(args.config, args.set)
    root = run_experiment(exp, _execution(args))
    print(f"experiment: {root}")
    if not args.no_report:
        _write_report(root, exp.periods[0], {})
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    benchmarks = dict(_key_value(item, "--benchmark") for item in args.benchmark)
    _write_report(args.experiment_dir, args.period, benchmarks, args.basins)
    return 0


def _write_report(root: Path, period: str, benchmarks: dict[str, Path],
                  basins: list[str] | None = None) -> None:
    from ealstm.report.html import build_report
    from ealstm.report.tables import write_tables

    for path in write_tables(root, period, benchmarks or None):
        print(f"table:  {path}")
    print(f"report: {build_report(root, period, basins)}")


def _key_value(item: str, flag: str) -> tuple[str, Path]:
    name, sep, path = item.partition("=")
    if not sep or not name:
        raise ConfigError(f"{flag} {item!r}: expected NAME=PATH, e.g. {flag} VIC=vic.nc")
    return name, Path(path)


def _cmd_tune(args: argparse.Namespace) -> int:
    from ealstm.experiment.search import load_search_config, run_search

    result = run_search(load_search_config(args.config, args.set), _execution(args))
    print(result.summary.head(10).to_string(index=False))
    print(f"best: {result.best}\n  config: {result.best_config}")
    return 0


def _cmd_ungauged(args: argparse.Namespace) -> int:
    from ealstm.config import load_config
    from ealstm.experiment.search import run_ungauged
    from ealstm.io import load_json

    out = run_ungauged(load_config(args.config, args.set), k=args.k, fold_seed=args.fold_seed,
                       period=args.period, execution=_execution(args), out_dir=args.out)
    summary = load_json(out / f"summary_{args.period}.json")
    print(f"ungauged ({args.k}-fold): median NSE {summary['median']:.3f}, mean "
          f"{summary['mean']:.3f}, NSE <= 0 in {summary['n_nse_le_0']} basins\n  {out}")
    return 0


def _cmd_robustness(args: argparse.Namespace) -> int:
    from ealstm.analysis.robustness import robustness

    result = robustness(args.run_dir, sigmas=tuple(args.sigmas), n_draws=args.draws,
                        period=args.period, seed=args.seed, chunk=args.chunk)
    print(f"robustness: {result.output_dir}")
    print(result.summary.to_string())
    return 0


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    from ealstm.analysis.sensitivity import sensitivity

    result = sensitivity(args.run_dir, period=args.period, chunk=args.chunk)
    print(f"sensitivity: {result.output_dir}")
    print(result.ranking.to_string(index=False))
    return 0


def _cmd_embedding(args: argparse.Namespace) -> int:
    from ealstm.analysis.embedding import embedding_analysis
    from ealstm.analysis.embedding_members import member_silhouettes
    from ealstm.runs.paths import RunPaths

    ks = range(args.k_min, args.k_max + 1)
    if RunPaths(args.run_dir).config.is_file():
        result = embedding_analysis(args.run_dir, ks=ks, n_init=args.n_init, seed=args.seed,
                                    variance_method=args.variance_method)
    else:  # an experiment configuration folder: silhouettes over its seed*/ members (Fig. 9)
        result = member_silhouettes(args.run_dir, ks=ks, n_init=args.n_init, seed=args.seed)
    print(f"embedding: {result.output_dir} (best k: {result.best_k})")
    return 0


def _cmd_data_synthetic(args: argparse.Namespace) -> int:
    from ealstm.data.synthetic.demo import generate_demo_data

    path = generate_demo_data(args.out, n_basins=args.basins, seed=args.seed)
    print(f"synthetic CAMELS-US data written to {path}")
    return 0


def _cmd_data_download(args: argparse.Namespace) -> int:
    from ealstm.data.acquire.download import download_dataset, format_sources, parse_sha256_args

    if args.list or args.name is None:
        print(format_sources())
        return 0
    if args.dest is None:
        raise ConfigError("give the target folder: ealstm data download NAME DEST")
    data_dir = download_dataset(args.name, args.dest, progress=not args.no_progress,
                                sha256=parse_sha256_args(args.sha256, args.name),
                                keep_archives=not args.no_keep_archives)
    print(f"data ready: set data.data_dir: {data_dir}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the ``ealstm`` argument parser with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="ealstm", description="Regional rainfall-runoff modelling with LSTM and EA-LSTM "
        "(Kratzert et al., 2019).")
    parser.add_argument("--version", action="version", version=f"ealstm {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument("config", type=Path, help="YAML run config (see configs/)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=5 (repeatable); "
                   "relative paths given here are relative to the current directory, paths "
                   "in the file relative to the file")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--evaluate", action="store_true",
                   help="evaluate the periods of `evaluation.periods` after training")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="predict a period with a trained run and score it")
    p.add_argument("run_dir", type=Path, help="run directory written by `ealstm train`")
    p.add_argument("--period", default="test", choices=["train", "validation", "test"])
    p.add_argument("--epoch", type=int, default=None,
                   help="checkpoint epoch (default: best validation epoch, else the last; "
                   "results of another epoch get _epochNNN in their file names)")
    p.add_argument("--device", default=None, help="torch device (default: the run's)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("demo", help="synthetic data -> train LSTM and EA-LSTM -> evaluate")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    p.add_argument("--epochs", type=int, default=None, help="epochs per model")
    p.add_argument("--basins", type=int, default=None, help="number of synthetic basins")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_cmd_demo)

    add_workflow_parsers(sub)
    _add_experiment_parsers(sub)
    _add_search_parsers(sub)
    _add_analyze_parsers(sub)
    add_plot_parsers(sub)
    add_config_parsers(sub)

    data = sub.add_parser("data", help="data sets: download, synthetic generator")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    p = data_sub.add_parser("synthetic", help="write a synthetic CAMELS-US tree")
    p.add_argument("out", type=Path, help="target folder")
    p.add_argument("--basins", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_data_synthetic)
    p = data_sub.add_parser("download", help="fetch CAMELS-US or Caravan over HTTPS (resumable, "
                            "checksummed, safely extracted)")
    p.add_argument("name", nargs="?", help="data set: camels-us or caravan (--list shows all)")
    p.add_argument("dest", nargs="?", type=Path, help="target folder")
    p.add_argument("--sha256", action="append", default=[], metavar="[FILE=]DIGEST",
                   help="expected SHA-256 of a downloaded file (repeatable)")
    p.add_argument("--no-keep-archives", action="store_true",
                   help="delete the downloaded archives after extraction")
    p.add_argument("--list", action="store_true", help="list the downloadable data sets")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_cmd_data_download)
    return parser


def _add_experiment_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="the paper's configurations x seeds, ensembles, "
                       "tables and report")
    p.add_argument("config", type=Path, help="experiment YAML (see configs/experiment_*.yml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value, e.g. --set base.train.epochs=3 (repeatable); "
                   "relative paths given here are relative to the current directory")
    _add_pool_arguments(p)
    p.add_argument("--no-report", action="store_true", help="skip the tables and HTML report")
    p.set_defaults(func=_cmd_experiment)

    p = sub.add_parser("report", help="tables and a self-contained HTML report of an experiment")
    p.add_argument("experiment_dir", type=Path, help="folder written by `ealstm experiment`")
    p.add_argument("--period", default="test", choices=["train", "validation", "test"])
    p.add_argument("--benchmark", action="append", default=[], metavar="NAME=PATH",
                   help="other model's simulations (netCDF or CSV: basin, date, qsim in mm/day) "
                   "for Table 3 (repeatable)")
    p.add_argument("--basins", nargs="+", default=None, help="basins to show hydrographs of")
    p.set_defaults(func=_cmd_report)


def _add_search_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune", help="Appendix-B grid search with k-fold CV over basins")
    p.add_argument("config", type=Path, help="search YAML (see configs/search_paper.yml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override, e.g. --set grid.model.num_layers=[1] (repeatable)")
    _add_pool_arguments(p)
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("ungauged", help="prediction in ungauged basins: k-fold over basins")
    p.add_argument("config", type=Path, help="run YAML, e.g. <search_dir>/best_config.yml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable); relative paths given here are "
                   "relative to the current directory")
    p.add_argument("--k", type=int, default=4, help="number of basin folds")
    p.add_argument("--fold-seed", type=int, default=0)
    p.add_argument("--period", default="test", choices=["train", "validation", "test"])
    p.add_argument("--out", type=Path, default=None, help="output folder")
    _add_pool_arguments(p)
    p.set_defaults(func=_cmd_ungauged)


def _add_pool_arguments(p: argparse.ArgumentParser) -> None:
    """Add the :class:`~ealstm.experiment.pool.Execution` options (experiment, tune, ungauged)."""
    p.add_argument("--workers", type=int, default=1, help="trainings run in parallel")
    p.add_argument("--threads-per-worker", type=int, default=None,
                   help="torch threads per training (default: cores / workers)")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler address (tcp://host:8786) to run trainings on a cluster")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def _execution(args: argparse.Namespace):  # noqa: ANN202 - lazy import keeps the CLI fast
    from ealstm.experiment.pool import Execution

    return Execution(args.workers, args.threads_per_worker, args.scheduler, not args.no_progress)


def _add_analyze_parsers(sub: argparse._SubParsersAction) -> None:
    analyze = sub.add_parser("analyze", help="interpret a trained run (paper sect. 3.3-3.4)")
    a_sub = analyze.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")
    p = a_sub.add_parser("robustness", help="NSE under Gaussian noise on the static inputs")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--sigmas", type=float, nargs="+",
                   default=[round(0.1 * i, 1) for i in range(1, 11)], help="noise std devs")
    p.add_argument("--draws", type=int, default=50, help="noise draws per basin and sigma")
    p.add_argument("--period", default="test", choices=["train", "validation", "test"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--chunk", type=int, default=None,
                   help="predicted days per sequence (default: as `ealstm evaluate`, i.e. 1 = "
                   "exact seq-to-one for the paper's models; larger = much faster, approximate)")
    p.set_defaults(func=_cmd_robustness)

    p = a_sub.add_parser("sensitivity", help="Morris-style gradients w.r.t. static inputs")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--period", default="test", choices=["train", "validation", "test"])
    p.add_argument("--chunk", type=int, default=None,
                   help="predicted days per sequence (default: as `ealstm evaluate`, i.e. 1 = "
                   "exact seq-to-one gradients for the paper's models)")
    p.set_defaults(func=_cmd_sensitivity)

    p = a_sub.add_parser("embedding", help="EA-LSTM input-gate embedding and clustering")
    p.add_argument("run_dir", type=Path,
                   help="a run, or an experiment configuration folder with seed*/ runs (then: "
                   "silhouettes as mean ± std over the seeds, Fig. 9)")
    p.add_argument("--k-min", type=int, default=3, help="smallest k (paper: 3)")
    p.add_argument("--k-max", type=int, default=14, help="largest k (paper: 14)")
    p.add_argument("--variance-method", default="paper", choices=["paper", "eta2"],
                   help="variance reduction: paper = 1 - unweighted mean of Var_c/Var (ddof 1); "
                   "eta2 = size-weighted, ddof 0")
    p.add_argument("--n-init", type=int, default=10, help="k-means restarts")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_embedding)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code (2 for a user error with a clear message)."""
    set_omp_wait_policy()  # before any subcommand imports torch
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except EalstmError as exc:
        print(f"ealstm: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, read-only, permissions outside ealstm.io: one line too
        print(f"ealstm: error: {_os_error_text(exc)}", file=sys.stderr)
        return 2


def _os_error_text(exc: OSError) -> str:
    """One line for an ``OSError``: the path and the reason ("disk full" for ENOSPC)."""
    from ealstm.io import os_reason

    return f"{exc.filename}: {os_reason(exc)}" if exc.filename else os_reason(exc)
