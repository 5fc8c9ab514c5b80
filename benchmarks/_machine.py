"""Machine description shared by the benchmark scripts (run them as `python benchmarks/x.py`)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_name() -> str:
    """CPU model from /proc/cpuinfo, falling back to `platform.processor()`."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(line for line in lines if line.startswith("model name"))
        return model.split(":", 1)[1].strip()
    except (OSError, StopIteration):
        return platform.processor()
