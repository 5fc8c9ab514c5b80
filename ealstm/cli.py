"""Command-line interface: one subcommand per stage, each a thin call into the library."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ealstm import __version__
from ealstm.errors import EalstmError


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


def _cmd_data_synthetic(args: argparse.Namespace) -> int:
    from ealstm.data.demo import generate_demo_data

    path = generate_demo_data(args.out, n_basins=args.basins, seed=args.seed)
    print(f"synthetic CAMELS-US data written to {path}")
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
                   help="override a config value, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--evaluate", action="store_true",
                   help="evaluate the periods of `evaluation.periods` after training")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="predict a period with a trained run and score it")
    p.add_argument("run_dir", type=Path, help="run directory written by `ealstm train`")
    p.add_argument("--period", default="test", choices=["train", "validation", "test"])
    p.add_argument("--epoch", type=int, default=None, help="checkpoint epoch (default: last)")
    p.add_argument("--device", default=None, help="torch device (default: the run's)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("demo", help="synthetic data -> train LSTM and EA-LSTM -> evaluate")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    p.add_argument("--epochs", type=int, default=None, help="epochs per model")
    p.add_argument("--basins", type=int, default=None, help="number of synthetic basins")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_cmd_demo)

    data = sub.add_parser("data", help="data sets: synthetic generator")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    p = data_sub.add_parser("synthetic", help="write a synthetic CAMELS-US tree")
    p.add_argument("out", type=Path, help="target folder")
    p.add_argument("--basins", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_data_synthetic)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code (2 for a user error with a clear message)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except EalstmError as exc:
        print(f"ealstm: error: {exc}", file=sys.stderr)
        return 2
