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


@pytest.fixture(scope="session")
def demo_camels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic CAMELS-US tree (4 basins, 1995-2003) written once per session."""
    from ealstm.data.demo import generate_demo_data

    out = tmp_path_factory.mktemp("demo_camels")
    return generate_demo_data(out, n_basins=4, start="1995-10-01", end="2003-09-30", seed=0)
