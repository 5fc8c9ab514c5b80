from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
import yaml

from ealstm.config import load_config, load_run_config, parse_config
from ealstm.data.readers.camels_us import read_basin_list
from ealstm.data.splits import basin_folds, fold_split
from ealstm.errors import ConfigError, SearchError
from ealstm.experiment import search
from ealstm.experiment.pool import Execution
from ealstm.experiment.search import (
    PAPER_GRID,
    SearchConfig,
    grid_points,
    load_search_config,
    run_search,
    run_ungauged,
)
from tests.conftest import tiny_run_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


# --- folds ------------------------------------------------------------------------------------


def test_folds_are_a_balanced_seeded_partition() -> None:
    basins = [f"{i:08d}" for i in range(531)]
    folds = basin_folds(basins, k=4, seed=0)
    assert len(folds) == 4
    assert sorted(b for fold in folds for b in fold) == basins
    assert {len(f) for f in folds} <= {132, 133}
    assert folds == basin_folds(list(reversed(basins)), k=4, seed=0)  # order-independent
    assert folds != basin_folds(basins, k=4, seed=1)
    train, heldout = fold_split(folds, 2)
    assert heldout == folds[2] and not set(train) & set(heldout)
    assert sorted(train + heldout) == basins


@pytest.mark.parametrize("k", [1, 5])
def test_folds_reject_bad_k(k: int) -> None:
    with pytest.raises(ConfigError, match="k = "):
        basin_folds(["a", "b", "c", "d"], k=k)


def test_folds_reject_duplicates() -> None:
    with pytest.raises(ConfigError, match="more than once"):
        basin_folds(["a", "a", "b"], k=2)


# --- grid and config --------------------------------------------------------------------------


def test_paper_grid_has_224_points_with_readable_ids() -> None:
    points = grid_points(PAPER_GRID)
    assert len(points) == 7 * 4 * 4 * 2
    first = next(iter(points))
    assert first == "hidden_size-64_dropout-0.0_seq_length-90_num_layers-1"
    assert points[first] == {"model.hidden_size": 64, "model.dropout": 0.0,
                             "data.seq_length": 90, "model.num_layers": 1}


def _write_search(tmp_path: Path, data_dir: Path, grid: dict | None = None, **extra) -> Path:
    raw = tiny_run_config(data_dir, tmp_path / "unused", train={})
    base = {key: raw[key] for key in ("data", "model", "train")}
    base["train"] = {"epochs": 1, "batch_size": 64, "seed": 7}
    spec = {"name": "tiny", "search_dir": "search", "base": base, "k": 2,
            "grid": grid if grid is not None else {"model.hidden_size": [4, 8]}, **extra}
    path = tmp_path / "search.yml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_load_search_config_resolves_paths_and_overrides(demo_camels: Path,
                                                         tmp_path: Path) -> None:
    path = _write_search(tmp_path, demo_camels)
    cfg = load_search_config(path, ["grid.model.dropout=[0.0, 0.4]", "k=2"])
    assert cfg.search_dir == (tmp_path / "search").resolve()
    assert cfg.grid == {"model.hidden_size": [4, 8], "model.dropout": [0.0, 0.4]}
    assert len(grid_points(cfg.grid)) == 4
    cfg = load_search_config(path, ["grid.model.hidden_size=[16]"])
    assert cfg.grid == {"model.hidden_size": [16]}


def test_default_grid_is_the_papers(demo_camels: Path, tmp_path: Path) -> None:
    spec = yaml.safe_load(_write_search(tmp_path, demo_camels).read_text())
    del spec["grid"]
    cfg = SearchConfig.model_validate(spec)
    assert cfg.grid == PAPER_GRID and cfg.k == 2


@pytest.mark.parametrize(("grid", "named"), [
    ({"model.hidden_sizes": [4]}, "model.hidden_sizes"),
    ({"model.hidden_size": [4, 0]}, "model.hidden_size"),
    ({"model.dropout": [0.1, 1.5]}, "model.dropout"),
    ({"data.basins": [["01013500"]]}, "data.basins"),
    ({"hidden_size": [4]}, "hidden_size"),
    ({"model.hidden_size": [4, 4]}, "model.hidden_size"),
    ({"model.hidden_size": []}, "model.hidden_size"),
])
def test_bad_grid_is_rejected_up_front(demo_camels: Path, tmp_path: Path, grid: dict,
                                       named: str) -> None:
    path = _write_search(tmp_path, demo_camels, grid=grid)
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_search_config(path)
    assert not (tmp_path / "search").exists()


def test_base_must_not_name_the_run(demo_camels: Path, tmp_path: Path) -> None:
    spec = yaml.safe_load(_write_search(tmp_path, demo_camels).read_text())
    spec["base"]["name"] = "x"
    (tmp_path / "search.yml").write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match="base"):
        load_search_config(tmp_path / "search.yml")


def test_paper_search_config_validates_all_224_points(demo_camels: Path) -> None:
    cfg = load_search_config(CONFIGS / "search_paper.yml", [f"base.data.data_dir={demo_camels}"])
    assert cfg.k == 4 and cfg.grid == PAPER_GRID
    folds, trials = search.plan_search(cfg)
    assert len(trials) == 224 and sum(len(point) for point in trials.values()) == 896
    assert sorted(len(f) for f in folds) == [132, 133, 133, 133]


# --- end to end -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_search(demo_camels: Path, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("search")
    cfg = load_search_config(_write_search(tmp, demo_camels))
    start = time.perf_counter()
    result = run_search(cfg, Execution(workers=1, threads=1))
    print(f"tiny search (2 points x 2 folds, 1 epoch): {time.perf_counter() - start:.1f} s")
    return cfg, result


def test_search_writes_tables_and_best_config(tiny_search) -> None:
    cfg, result = tiny_search
    results = pd.read_csv(cfg.search_dir / "results.csv", dtype={"point_id": str})
    assert len(results) == 4 and set(results["status"]) == {"ok"}
    assert list(results.columns[:3]) == ["point_id", "model.hidden_size", "fold"]
    assert results["n_basins"].tolist() == [2, 2, 2, 2]
    summary = pd.read_csv(cfg.search_dir / "summary.csv")
    assert len(summary) == 2 and summary["median_nse"].is_monotonic_decreasing
    assert summary["n_basins"].tolist() == [4, 4] and summary["n_folds_ok"].tolist() == [2, 2]
    winner = int(summary.loc[0, "model.hidden_size"])
    assert result.best == {"model.hidden_size": winner}
    best = load_config(cfg.search_dir / "best_config.yml")
    assert best.model.hidden_size == winner
    assert best.data.basins == tuple(cfg.base["data"]["basins"])  # all basins again
    assert best.train.epochs == 1 and best.name == "tiny_best"


def test_pooled_median_is_over_all_heldout_basins(tiny_search) -> None:
    cfg, result = tiny_search
    pid = result.summary.loc[0, "point_id"]
    nse = pd.concat(pd.read_csv(cfg.search_dir / "trials" / pid / f"fold{i}" / "heldout" /
                                "metrics_train.csv", dtype={"basin": str}).set_index("basin")
                    ["nse"] for i in range(2))
    assert sorted(nse.index) == sorted(cfg.base["data"]["basins"])
    assert result.summary.loc[0, "median_nse"] == pytest.approx(nse.median())


def test_heldout_basins_are_never_training_basins(tiny_search) -> None:
    cfg, _ = tiny_search
    folds = pd.read_csv(cfg.search_dir / "folds.csv", dtype={"basin": str})
    for run_dir in sorted((cfg.search_dir / "trials").glob("*/fold*")):
        fold = int(run_dir.name[4:])
        trained = set(load_run_config(run_dir).data.basins)
        heldout = set(xr.load_dataset(run_dir / "heldout" / "predictions_train.nc")
                      ["basin"].values.astype(str))
        assert heldout == set(folds.loc[folds["fold"] == fold, "basin"])
        assert trained == set(folds["basin"]) - heldout


def test_rerun_skips_finished_trials(tiny_search, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, result = tiny_search

    def no_training(*args, **kwargs):
        raise AssertionError("a finished trial was trained again")

    monkeypatch.setattr("ealstm.experiment.runner.train", no_training)
    monkeypatch.setattr(search, "predict_heldout", no_training)
    again = run_search(cfg, Execution(workers=1, threads=1))
    pd.testing.assert_frame_equal(again.summary, result.summary)


def test_partial_trial_is_resumed(demo_camels: Path, tmp_path: Path) -> None:
    cfg = load_search_config(_write_search(tmp_path, demo_camels, {"model.hidden_size": [4]}),
                             ["base.train.epochs=2"])
    first = run_search(cfg, Execution(threads=1))
    fold0, fold1 = (cfg.search_dir / "trials" / "hidden_size-4" / f"fold{i}" for i in (0, 1))
    (fold0 / "checkpoints" / "epoch_002.pt").unlink()  # killed during epoch 2
    (fold0 / "heldout" / "summary_train.json").unlink()
    untouched = (fold1 / "checkpoints" / "epoch_002.pt").stat().st_mtime_ns
    again = run_search(cfg, Execution(threads=1))
    assert (fold0 / "checkpoints" / "epoch_002.pt").is_file()
    assert (fold1 / "checkpoints" / "epoch_002.pt").stat().st_mtime_ns == untouched
    pd.testing.assert_frame_equal(first.results, again.results)  # resumed exactly


# --- ungauged ---------------------------------------------------------------------------------


def test_run_ungauged_scores_every_basin_once(demo_camels: Path, tmp_path: Path) -> None:
    raw = tiny_run_config(demo_camels, tmp_path / "runs", name="pub", epochs=1)
    cfg = parse_config(raw)
    out = run_ungauged(cfg, k=2, fold_seed=3, period="test", execution=Execution(threads=1))
    assert out == tmp_path / "runs" / "pub_ungauged_k2"
    basins = read_basin_list(demo_camels / "basin_list.txt")[:4]
    metrics = pd.read_csv(out / "metrics_test.csv", dtype={"basin": str})
    assert metrics["basin"].tolist() == basins
    predictions = xr.load_dataset(out / "predictions_test.nc")
    assert list(predictions["basin"].values.astype(str)) == basins
    folds = pd.read_csv(out / "folds.csv", dtype={"basin": str}).set_index("basin")["fold"]
    for fold in range(2):
        trained = set(load_run_config(out / f"fold{fold}").data.basins)
        scored = set(folds[folds == fold].index)
        assert not trained & scored and trained | scored == set(basins)
        part = xr.load_dataset(out / f"fold{fold}" / "heldout" / "predictions_test.nc")
        xr.testing.assert_equal(part["qsim"], predictions["qsim"].sel(basin=part["basin"]))
    summary = yaml.safe_load((out / "summary_test.json").read_text())
    assert summary["mode"] == "ungauged" and summary["k"] == 2
    assert summary["n_basins"] + summary["n_invalid"] == 4


def test_heldout_prediction_refuses_training_basins(tiny_search) -> None:
    cfg, _ = tiny_search
    run_dir = next((cfg.search_dir / "trials").glob("*/fold0"))
    trained = load_run_config(run_dir).data.basins
    with pytest.raises(ConfigError, match="training basins"):
        search.predict_heldout(run_dir, trained[:1], "train")


@pytest.mark.slow
def test_parallel_search_matches_serial(demo_camels: Path, tmp_path: Path) -> None:
    grid = {"model.hidden_size": [4]}
    serial = run_search(load_search_config(_write_search(tmp_path / "a", demo_camels, grid)),
                        Execution(workers=1, threads=1))
    parallel = run_search(load_search_config(_write_search(tmp_path / "b", demo_camels, grid)),
                          Execution(workers=2, threads=1))
    pd.testing.assert_frame_equal(serial.results, parallel.results)


def test_changed_folds_do_not_reuse_trials(tiny_search, demo_camels: Path) -> None:
    cfg, _ = tiny_search
    moved = cfg.model_copy(update={"fold_seed": 5, "grid": {"model.hidden_size": [4]}})
    if search.plan_search(moved)[0] == search.plan_search(cfg)[0]:
        pytest.skip("fold seed 5 gives the same folds")
    with pytest.raises(SearchError, match="another config"):
        run_search(moved, Execution(threads=1))


def test_heldout_predictions_without_clip_attribute_are_not_finished(tiny_search) -> None:
    cfg, _ = tiny_search
    trials = [t for point in search.plan_search(cfg)[1].values() for t in point]
    assert all(search.trial_finished(t) for t in trials)
    path = parse_config(trials[0].raw).run_dir / "heldout" / "predictions_train.nc"
    current = xr.load_dataset(path)
    old = current.copy()
    del old.attrs["clip_negative"]  # as written before the fidelity fixes
    old.to_netcdf(path)
    try:
        assert not search.trial_finished(trials[0])
        assert all(search.trial_finished(t) for t in trials[1:])
    finally:
        current.to_netcdf(path)
