"""Subcommands ``ealstm plot`` (figures of one run) and ``ealstm config`` (config tools)."""

from __future__ import annotations

import argparse
from pathlib import Path

PERIODS = ["train", "validation", "test"]


def _cmd_plot_hydrograph(args: argparse.Namespace) -> int:
    from ealstm.report.run_plots import plot_run_hydrograph

    path = plot_run_hydrograph(args.run_dir, args.basin, args.period, args.log, args.out)
    print(f"hydrograph: {path}")
    return 0


def _cmd_plot_map(args: argparse.Namespace) -> int:
    from ealstm.report.run_plots import plot_run_map

    print(f"map: {plot_run_map(args.run_dir, args.metric, args.period, args.out)}")
    return 0


def _cmd_config_from_nh(args: argparse.Namespace) -> int:
    from ealstm.config_nh import write_nh_conversion

    text, out = write_nh_conversion(args.nh_config, args.out)
    print(f"ealstm config written to {out}" if out is not None else text.rstrip("\n"))
    return 0


def add_plot_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``ealstm plot hydrograph|map`` to the subcommands ``sub``."""
    plot = sub.add_parser("plot", help="figures of an evaluated run (PNG in RUN/plots/)")
    p_sub = plot.add_subparsers(dest="plot", required=True, metavar="FIGURE")
    p = p_sub.add_parser("hydrograph", help="observed vs simulated discharge of one basin, "
                         "precipitation as inverted bars above")
    p.add_argument("run_dir", type=Path, help="run directory evaluated with `ealstm evaluate`")
    p.add_argument("--basin", required=True, help="basin id, e.g. 01013500")
    p.add_argument("--period", default="test", choices=PERIODS)
    p.add_argument("--log", action="store_true", help="logarithmic discharge axis")
    p.add_argument("--out", type=Path, default=None,
                   help="PNG path (default RUN/plots/hydrograph_<basin>_<period>.png)")
    p.set_defaults(func=_cmd_plot_hydrograph)
    p = p_sub.add_parser("map", help="one metric per basin at the gauge locations")
    p.add_argument("run_dir", type=Path, help="run directory evaluated with `ealstm evaluate`")
    p.add_argument("--metric", default="NSE",
                   help="metric of metrics_<period>.csv: NSE, KGE, alpha_NSE, beta_NSE, FHV, "
                   "FMS, FLV (default NSE)")
    p.add_argument("--period", default="test", choices=PERIODS)
    p.add_argument("--out", type=Path, default=None,
                   help="PNG path (default RUN/plots/map_<metric>_<period>.png)")
    p.set_defaults(func=_cmd_plot_map)


def add_config_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``ealstm config from-nh`` to the subcommands ``sub``."""
    config = sub.add_parser("config", help="config tools: convert a neuralhydrology config")
    c_sub = config.add_subparsers(dest="config_command", required=True, metavar="CONFIG_COMMAND")
    p = c_sub.add_parser("from-nh", help="convert a neuralhydrology run config into an ealstm "
                         "config (unmapped keys listed as comments)")
    p.add_argument("nh_config", type=Path, help="neuralhydrology YAML run config")
    p.add_argument("--out", type=Path, default=None,
                   help="ealstm YAML to write (default: print to stdout); relative paths of the "
                   "neuralhydrology config are read from the current directory, as "
                   "neuralhydrology does, and written absolute")
    p.set_defaults(func=_cmd_config_from_nh)
