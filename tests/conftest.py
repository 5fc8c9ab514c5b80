"""Shared fixtures: the real CAMELS-US sample in ../shared (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_CAMELS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "camels_us"


@pytest.fixture(scope="session")
def shared_camels() -> Path:
    """Root of the real CAMELS-US subset in ``../shared/data/camels_us``."""
    if not SHARED_CAMELS.is_dir():
        pytest.skip(f"real CAMELS-US sample not found at {SHARED_CAMELS} (../shared is absent)")
    return SHARED_CAMELS
