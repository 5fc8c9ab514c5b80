"""Process-level settings that must be made before torch is imported (no torch import here)."""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping


def set_omp_wait_policy(environ: MutableMapping[str, str] = os.environ,
                        modules: dict | None = None) -> str | None:
    """Make idle OpenMP threads sleep (``OMP_WAIT_POLICY=PASSIVE``) unless the user chose.

    With OpenMP's spinning wait, a run sharing its cores with one busy process was measured
    6x slower per step (issue 13); sleeping threads leave the core to whoever is running. The
    variable only takes effect if set before torch loads its OpenMP runtime, so nothing is done
    once torch is imported.

    Parameters
    ----------
    environ
        Environment to update (``os.environ``).
    modules
        Loaded modules (``sys.modules`` if None), to tell whether torch is already imported.

    Returns
    -------
    str or None
        The value set, or None when the user set it or torch was already imported.
    """
    modules = sys.modules if modules is None else modules
    if "OMP_WAIT_POLICY" in environ or "torch" in modules:
        return None
    environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return "PASSIVE"
