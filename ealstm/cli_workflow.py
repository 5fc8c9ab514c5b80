"""Subcommands of the daily workflow after training: ``predict`` and ``finetune``.

Kept apart from :mod:`ealstm.cli` (which registers them through :func:`add_workflow_parsers`)
so that each stays small; like every subcommand they only call into the library.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path


def _date(text: str) -> dt.date:
    """Parse an ISO date for argparse (``YYYY-MM-DD``)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _cmd_predict(args: argparse.Namespace) -> int:
    from ealstm.evaluation.forecast import predict_run

    result = predict_run(args.run_dir, args.start, args.end, data_dir=args.data_dir,
                         basins=args.basins, epoch=args.epoch, out=args.out, device=args.device)
    ds = result.dataset
    observed = "with qobs" if "qobs" in ds else "no observations"
    print(f"predicted {ds.sizes['basin']} basins x {ds.sizes['date']} days (epoch "
          f"{result.epoch}, {observed}): {result.path}")
    return 0


def _cmd_finetune(args: argparse.Namespace) -> int:
    from ealstm.config import load_config
    from ealstm.training.loop import train

    values = {"train.init_from": str(Path(args.run_dir).resolve())}
    if args.epoch is not None:
        values["train.init_epoch"] = args.epoch
    cfg = load_config(args.config, args.set, values)
    run_dir = train(cfg, resume=args.resume, progress=not args.no_progress)
    print(f"fine-tuned: {run_dir} (from {args.run_dir})")
    return 0


def add_workflow_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``predict`` and ``finetune`` on the CLI's subparsers."""
    p = sub.add_parser("predict", help="simulate any period with a trained run, for its basins "
                       "or new ones (discharge optional)")
    p.add_argument("run_dir", type=Path, help="run directory written by `ealstm train`")
    p.add_argument("--start", type=_date, required=True, help="first predicted day YYYY-MM-DD")
    p.add_argument("--end", type=_date, required=True, help="last predicted day YYYY-MM-DD")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="data set of the same kind (default: the run's); the forcings must "
                   "cover seq_length - 1 days before --start")
    p.add_argument("--basins", nargs="+", default=None,
                   help="basin ids (default: the run's basins, or all basins of --data-dir)")
    p.add_argument("--epoch", type=int, default=None,
                   help="checkpoint epoch (default: best validation epoch, else the last)")
    p.add_argument("--out", type=Path, default=None,
                   help="output netCDF (default: RUN_DIR/predict/predictions_START_END.nc, tagged "
                   "with the basins when they or --data-dir differ from the run's)")
    p.add_argument("--device", default=None, help="torch device (default: the run's)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("finetune", help="train a new run starting from a trained run's weights "
                       "and scaler (e.g. regional -> one basin)")
    p.add_argument("run_dir", type=Path, help="trained run to start from")
    p.add_argument("config", type=Path, help="YAML config of the new run (its basins, periods)")
    p.add_argument("--epoch", type=int, default=None,
                   help="epoch of RUN_DIR to start from (default: best validation, else last)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the new run")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_cmd_finetune)
