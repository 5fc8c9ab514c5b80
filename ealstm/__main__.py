"""``python -m ealstm`` runs the command-line interface."""

from ealstm.cli import main

raise SystemExit(main())
