"""Tests of the synthetic CAMELS-US generator (ealstm.data.synthetic.demo)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ealstm.config import PAPER_ATTRIBUTES
from ealstm.data.synthetic.demo import (
    ATTRIBUTE_COLUMNS,
    CLASSES,
    FORCING_PRODUCTS,
    generate_demo_data,
    simulate_demo,
    to_cfs,
)

SMALL = {"n_basins": 6, "start": "1999-10-01", "end": "2002-09-30", "seed": 3}
ATTR_DIR = "camels_attributes_v2.0"


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default demo set: 24 basins x 21 years, seed 0."""
    return generate_demo_data(tmp_path_factory.mktemp("demo") / "camels_us")


@pytest.fixture(scope="module")
def demo_sim():
    return simulate_demo()


def _read_attr(root: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(root / ATTR_DIR / f"camels_{name}.txt", sep=";", encoding="latin-1",
                       dtype={"gauge_id": str, "huc_02": str}).set_index("gauge_id")


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    first = _tree(generate_demo_data(tmp_path / "a", **SMALL))
    second = _tree(generate_demo_data(tmp_path / "b", **SMALL))
    assert first.keys() == second.keys()
    assert all(first[name] == second[name] for name in first)
    other = _tree(generate_demo_data(tmp_path / "c", **{**SMALL, "seed": 4}))
    assert any(first[name] != other.get(name) for name in first)


def test_layout_of_the_tree(demo_root: Path) -> None:
    basins = (demo_root / "basin_list.txt").read_text().split()
    assert len(basins) == 24 and len(set(basins)) == 24
    assert all(len(b) == 8 and b.isdigit() and b.startswith("9") for b in basins)
    names = _read_attr(demo_root, "name")
    hucs = names.loc[basins, "huc_02"]
    assert set(hucs) <= {f"{i:02d}" for i in range(1, 19)} and hucs.nunique() >= 12
    for basin, huc in hucs.items():
        for product, tag in FORCING_PRODUCTS.items():
            path = demo_root / "basin_mean_forcing" / product / huc
            assert (path / f"{basin}_lump_{tag}_forcing_leap.txt").is_file()
        assert (demo_root / "usgs_streamflow" / huc / f"{basin}_streamflow_qc.txt").is_file()
    for name in ("demo_parameters.csv", "demo_parameters.json"):
        assert (demo_root / name).is_file()


def test_forcing_file_format(demo_root: Path, demo_sim) -> None:
    basin, huc = demo_sim.basins[0], demo_sim.params["huc_02"].iloc[0]
    lines = (demo_root / "basin_mean_forcing" / "maurer_extended" / huc /
             f"{basin}_lump_maurer_forcing_leap.txt").read_text().splitlines()
    lat, elev, area = (float(x) for x in lines[:3])
    assert 25 < lat < 50 and elev > 0 and area == demo_sim.params["area_m2"].iloc[0]
    assert lines[3].split("\t") == ["Year", "Mnth", "Day", "Hr", "dayl(s)", "prcp(mm/day)",
                                    "srad(W/m2)", "swe(mm)", "tmax(C)", "tmin(C)", "vp(Pa)"]
    assert lines[4].startswith("1989\t10\t1\t12\t") and len(lines) == 4 + len(demo_sim.dates)
    nldas = (demo_root / "basin_mean_forcing" / "nldas" / huc /
             f"{basin}_lump_nldas_forcing_leap.txt").read_text().splitlines()
    assert nldas[:3] == lines[:3] and nldas[4].startswith("1989 10 01 12\t")
    same = [np.array(a.split()[4:], float) for a in (lines[-1], nldas[-1])]
    np.testing.assert_array_equal(*same)


def test_attribute_columns_match_the_real_files(demo_root: Path, shared_camels: Path) -> None:
    for name in ATTRIBUTE_COLUMNS:
        real = (shared_camels / ATTR_DIR / f"camels_{name}.txt").read_bytes().splitlines()[0]
        demo = (demo_root / ATTR_DIR / f"camels_{name}.txt").read_bytes().splitlines()[0]
        assert demo == real, name


def test_forcing_header_matches_the_real_file(demo_root: Path, shared_camels: Path) -> None:
    real = shared_camels / "basin_mean_forcing" / "maurer_extended" / "01"
    real_header = (real / "01022500_lump_maurer_forcing_leap.txt").read_text().splitlines()[3]
    demo = next((demo_root / "basin_mean_forcing" / "maurer_extended").rglob("*.txt"))
    assert demo.read_text().splitlines()[3] == real_header


def test_paper_attributes_are_numeric(demo_root: Path) -> None:
    frames = [_read_attr(demo_root, name) for name in ATTRIBUTE_COLUMNS]
    merged = pd.concat(frames, axis=1)
    for column in PAPER_ATTRIBUTES:
        values = pd.to_numeric(merged[column], errors="raise")
        assert np.isfinite(values.to_numpy(float)).all(), column
    soil = merged[["sand_frac", "silt_frac", "clay_frac"]].sum(axis=1)
    assert soil.between(85, 100.5).all()
    assert set(merged["high_prec_timing"]) <= {"djf", "mam", "jja", "son"}


def test_latin1_gauge_name(demo_root: Path) -> None:
    raw = (demo_root / ATTR_DIR / "camels_name.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "Rivière" in raw.decode("latin-1")


def test_water_balance(demo_sim) -> None:
    q, p = demo_sim.qsim, demo_sim.forcings["prcp"]
    assert np.isfinite(q).all() and (q >= 0).all()
    assert (q.mean(axis=0) <= p.mean(axis=0) + 0.05).all()
    assert (q.mean(axis=0) > 0).all()


def test_classes_and_their_behaviour(demo_root: Path) -> None:
    params = pd.read_csv(demo_root / "demo_parameters.csv", dtype={"gauge_id": str})
    assert set(params["behaviour_class"]) == set(CLASSES)
    assert params["behaviour_class"].value_counts().eq(6).all()
    attrs = pd.concat([_read_attr(demo_root, "clim"), _read_attr(demo_root, "hydro")], axis=1)
    by_class = attrs.assign(cls=params.set_index("gauge_id")["behaviour_class"]).groupby("cls")
    means = by_class[["frac_snow", "aridity", "zero_q_freq", "baseflow_index"]].mean()
    assert means["frac_snow"].idxmax() == "snow"
    assert means["aridity"].idxmax() == "arid_intermittent"
    assert means["zero_q_freq"].idxmax() == "arid_intermittent"
    assert means.loc["arid_intermittent", "zero_q_freq"] > 0.1
    assert means["baseflow_index"].idxmax() == "groundwater"
    settings = json.loads((demo_root / "demo_parameters.json").read_text())
    assert settings["seed"] == 0 and settings["behaviour_classes"] == list(CLASSES)


def _streamflow_lines(root: Path, sim, b: int) -> list[str]:
    huc = sim.params["huc_02"].iloc[b]
    path = root / "usgs_streamflow" / huc / f"{sim.basins[b]}_streamflow_qc.txt"
    return path.read_text().splitlines()


def test_missing_days_and_late_start(demo_root: Path, demo_sim) -> None:
    n_days = len(demo_sim.dates)
    late = np.flatnonzero(demo_sim.first_obs > 0)
    assert len(late) == 1
    lines = _streamflow_lines(demo_root, demo_sim, int(late[0]))
    assert len(lines) < n_days
    assert lines[0].split()[1:4] != ["1989", "10", "01"]
    gappy = np.flatnonzero(demo_sim.missing.any(axis=0))
    assert 2 <= len(gappy) <= 6
    for b in gappy:
        lines = _streamflow_lines(demo_root, demo_sim, int(b))
        flagged = [line for line in lines if line.endswith(" M")]
        assert all(" -999.00 M" in line for line in flagged)
        assert 0.005 < len(flagged) / len(lines) < 0.02


LINE = re.compile(r"^\d{8} \d{4} \d{2} \d{2} [ \d.-]{8} (A|A:e|M)$")


def test_streamflow_line_format(demo_root: Path, demo_sim) -> None:
    lines = _streamflow_lines(demo_root, demo_sim, 0)
    assert all(LINE.match(line) for line in lines)
    gauge, year, month, day, q, flag = lines[0].split()
    assert gauge == demo_sim.basins[0]
    assert lines[0] == f"{gauge} {year} {month} {day} {float(q):8.2f} {flag}"


def test_streamflow_line_format_matches_the_real_file(shared_camels: Path) -> None:
    real = shared_camels / "usgs_streamflow" / "01" / "01022500_streamflow_qc.txt"
    lines = [line.replace("01022500", "90000001") for line in real.read_text().splitlines()]
    assert all(LINE.match(line) for line in lines)


def test_round_trip_through_the_parser(demo_root: Path, demo_sim) -> None:
    camels_us = pytest.importorskip("ealstm.data.readers.camels_us")
    for b, basin in enumerate(demo_sim.basins):
        forcings, area_km2 = camels_us.read_forcings(demo_root, basin, "maurer_extended")
        assert area_km2 == pytest.approx(demo_sim.params["area_km2"].iloc[b])
        np.testing.assert_allclose(forcings["prcp"].to_numpy(), demo_sim.forcings["prcp"][:, b])
        nldas, _ = camels_us.read_forcings(demo_root, basin, "nldas")
        np.testing.assert_allclose(nldas.to_numpy(), forcings.to_numpy())
        qobs = camels_us.read_streamflow(demo_root, basin, area_km2)
        expected = pd.Series(demo_sim.qobs[:, b], index=demo_sim.dates).loc[qobs.index]
        assert np.array_equal(np.isnan(qobs.to_numpy()), np.isnan(expected.to_numpy()))
        tolerance = 0.005 / to_cfs(1.0, area_km2) + 1e-9  # half of the printed 0.01 cfs
        np.testing.assert_allclose(qobs.to_numpy(), expected.to_numpy(), rtol=0, atol=tolerance)
