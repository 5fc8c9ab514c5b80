"""The one reader of the experiment layout (ealstm.runs.paths.ExperimentPaths)."""

from __future__ import annotations

from pathlib import Path

from ealstm.runs.paths import ExperimentPaths, RunPaths


def _member(root: Path, configuration: str, seed: str, period: str | None = "test") -> Path:
    folder = root / configuration / f"seed{seed}"
    folder.mkdir(parents=True)
    if period:
        RunPaths(folder).metrics(period).write_text("basin,nse\n")
    return folder


def test_seeds_are_integers_sorted_by_value_and_filtered_by_period(tmp_path: Path) -> None:
    for seed in ("888", "111", "-3", "22"):
        _member(tmp_path, "lstm", seed)
    _member(tmp_path, "lstm", "5", period=None)  # trained, not scored
    (tmp_path / "lstm" / "seedling").mkdir()  # not a member
    (tmp_path / "lstm" / "seed7").write_text("a file")  # not a member
    paths = ExperimentPaths(tmp_path)
    assert list(paths.seeds("lstm", "test")) == [-3, 22, 111, 888]
    assert list(paths.seeds("lstm")) == [-3, 5, 22, 111, 888]
    assert paths.seeds("lstm")[22] == tmp_path / "lstm" / "seed22"
    assert paths.seeds("missing") == {}
    assert paths.member("lstm", 22).root == tmp_path / "lstm" / "seed22"
    assert paths.ensemble("lstm").root == tmp_path / "lstm" / "ensemble"


def test_configurations_from_the_spec_else_from_the_folders(tmp_path: Path) -> None:
    _member(tmp_path, "b_cfg", "1")
    _member(tmp_path, "a_cfg", "1")
    (tmp_path / "c_cfg" / "ensemble").mkdir(parents=True)
    for other in ("tables", "report", "empty"):
        (tmp_path / other).mkdir()
    paths = ExperimentPaths(tmp_path)
    assert paths.read_spec() == {} and paths.configurations() == ["a_cfg", "b_cfg", "c_cfg"]
    paths.spec.write_text("configurations:\n  b_cfg: {}\n  a_cfg: {}\nseeds: [1]\n")
    assert paths.configurations() == ["b_cfg", "a_cfg"]
    paths.spec.write_text("configurations: [: broken")
    assert paths.read_spec() == {}  # unreadable spec: fall back to the folders
    assert paths.configurations() == ["a_cfg", "b_cfg", "c_cfg"]
