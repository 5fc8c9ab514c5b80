"""Helpers of the issue-14 benchmark scripts (benchmarks/_budget.py, regional_dev, regional_nh)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

from _budget import (  # noqa: E402
    epoch_at,
    goal_rows,
    run_with_budget,
    schedule_text,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "caravan_camels_dev"


def test_schedule_text_is_accepted_by_the_config(tmp_path):
    from ealstm.config import load_config
    from ealstm.errors import ConfigError
    from ealstm.schedules import lr_schedule

    text = schedule_text(lr_schedule("step", 60, 2e-3, warmup=3))
    if not SHARED.is_dir():
        pytest.skip("../shared/data/caravan_camels_dev is absent")
    config = CONFIGS / "caravan_dev_seq2seq.yml"  # it names a schedule: replacing it says so
    cfg = load_config(config, ["train.lr_schedule=null", f"train.learning_rate={text}"])
    assert cfg.train.learning_rate == {1: 6.667e-4, 2: 1.333e-3, 3: 2e-3, 37: 1e-3, 52: 2e-4}
    with pytest.raises(ConfigError, match="train.lr_schedule=null"):
        load_config(config, [f"train.learning_rate={text}"])


def test_epoch_at_takes_the_last_epoch_finished_before_the_mark():
    curve = pd.DataFrame({"epoch": [1, 2, 3], "budget_s": [100.0, 250.0, 400.0]})
    assert epoch_at(curve, 99.9) is None
    assert epoch_at(curve, 250.0) == 2
    assert epoch_at(curve, 399.0) == 2
    assert epoch_at(curve, 1e9) == 3


def test_run_with_budget_stops_the_child_and_reports_its_own_rss(tmp_path):
    code = "import time; x = bytearray(64 * 2**20); time.sleep(60)"
    start = time.time()
    run = run_with_budget([sys.executable, "-c", code], 1.0, tmp_path / "log.txt",
                          poll_s=0.1, grace_s=5)
    assert run.stopped and time.time() - start < 20
    assert run.returncode != 0
    assert run.peak_rss_mb > 64  # the child's 64 MiB, not this process's
    done = run_with_budget([sys.executable, "-c", "print('ok')"], 60, tmp_path / "log2.txt")
    assert not done.stopped and done.returncode == 0
    assert (tmp_path / "log2.txt").read_text().strip() == "ok"


def test_run_with_budget_charges_only_what_spent_counts(tmp_path):
    # spent() never reaches the budget: the child runs to its end
    run = run_with_budget([sys.executable, "-c", "import time; time.sleep(1.5)"], 1.0,
                          tmp_path / "log.txt", spent=lambda elapsed: 0.0, poll_s=0.1)
    assert not run.stopped and run.seconds >= 1.5


def test_goal_rows():
    rows = goal_rows(0.62, 0.65, 1200.0, 4.3)
    assert [r[2] for r in rows] == ["yes", "NO", "yes", "yes"]
    assert rows[1][1] == "+0.030"
    assert [r[2] for r in goal_rows(None, None, None, None)] == ["n/a"] * 4


def test_learning_curve_uses_checkpoint_times_minus_validation(tmp_path):
    from regional_dev import learning_curve

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    pd.DataFrame({"epoch": [1, 2, 3], "val_median_nse": [0.1, 0.2, 0.3],
                  "val_seconds": [5.0, 5.0, 5.0]}).to_csv(run / "train_log.csv", index=False)
    start = 1_000_000.0
    for epoch, end in ((1, 100.0), (2, 200.0)):  # epoch 3 logged, its checkpoint not written
        path = run / "checkpoints" / f"epoch_{epoch:03d}.pt"
        path.write_bytes(b"")
        os.utime(path, (start + end, start + end))
    curve = learning_curve(run, start, count_validation=False)
    assert curve["epoch"].tolist() == [1, 2]
    assert curve["wall_s"].tolist() == pytest.approx([100.0, 200.0])
    assert curve["budget_s"].tolist() == pytest.approx([95.0, 190.0])
    charged = learning_curve(run, start, count_validation=True)
    assert charged["budget_s"].tolist() == pytest.approx([100.0, 200.0])


def test_choose_by_validation_within_budget():
    from _selection import choose

    results = {
        "a": {"curve": [{"epoch": 1, "budget_s": 10.0, "val_median_nse": 0.5},
                        {"epoch": 2, "budget_s": 70.0, "val_median_nse": 0.9}]},
        "b": {"curve": [{"epoch": 1, "budget_s": 50.0, "val_median_nse": 0.6}]},
    }
    assert choose(results, 60.0).chosen == "b"  # a's 0.9 came after the budget
    assert choose(results, 80.0).chosen == "a"


def _curve(score: float, seconds: float) -> dict:
    return {"curve": [{"epoch": 1, "budget_s": seconds, "wall_s": seconds, "val_median_nse": 0.0},
                      {"epoch": 2, "budget_s": 2 * seconds, "wall_s": 2 * seconds,
                       "val_median_nse": score}]}


def test_tie_rule_chooses_the_smallest_recipe_the_leader_does_not_beat():
    """A leader ahead by noise (differences of both signs) is tied with the smaller recipe,
    which wins; a recipe worse in nearly every basin is not tied, however small it is."""
    from _selection import choose

    rng = np.random.default_rng(0)
    basins = [f"b{i}" for i in range(100)]
    base = pd.Series(rng.uniform(0.2, 0.8, 100), index=basins)
    nse = {"big": base + 0.002, "small": base + rng.normal(0, 0.05, 100),
           "tiny_bad": base - rng.uniform(0.05, 0.1, 100)}
    results = {"big": _curve(0.52, 30.0), "small": _curve(0.51, 10.0),
               "tiny_bad": _curve(0.40, 5.0)}
    size = {"big": 1000, "small": 300, "tiny_bad": 100}
    calls = []

    def basin_nse(name, epoch):
        calls.append((name, epoch))
        return nse[name]

    selection = choose(results, 100.0, basin_nse, lambda name, epoch: size[name])
    assert selection.leader == "big" and selection.chosen == "small"
    assert sorted(calls) == [("big", 2), ("small", 2), ("tiny_bad", 2)]  # epochs at the budget
    table = selection.table
    assert table.loc["small", "p_vs_leader"] >= 0.05 and table.loc["small", "tied"]
    assert table.loc["tiny_bad", "p_vs_leader"] < 1e-6 and not table.loc["tiny_bad", "tied"]
    assert "tied with the validation leader big" in selection.reason()
    # a leader better in every basin by 0.05 is separated from the smaller recipe: it stays
    nse["big"] = base + 0.05
    assert choose(results, 100.0, basin_nse, lambda name, epoch: size[name]).chosen == "big"
    # equal sizes: fewer seconds per epoch breaks the tie
    nse["big"] = base + 0.002
    selection = choose(results, 100.0, basin_nse, lambda name, epoch: 1000)
    assert selection.chosen == "small" and selection.table.loc["small", "s_epoch"] == 10.0


def test_paired_p_value_uses_the_basins_both_scored():
    from _selection import paired_p_value
    from scipy.stats import wilcoxon

    a = pd.Series([0.5, 0.6, 0.7, 0.2, 0.9, 0.1], index=list("abcdef"))
    b = pd.Series([0.4, 0.65, 0.5, np.nan, 0.95, 0.3, 0.8], index=list("abcdefg"))
    kept = list("abcef")  # d has no score in b, g none in a
    expected = wilcoxon(a[kept], b[kept], alternative="greater").pvalue
    assert paired_p_value(a, b) == pytest.approx(expected)
    assert paired_p_value(a, a.copy()) == 1.0
    assert np.isnan(paired_p_value(a, pd.Series([0.1], index=["z"])))  # nothing shared


def test_tie_rule_keeps_a_candidate_better_basin_by_basin_and_drops_a_diverged_one():
    """One-sided: a candidate with a lower median that beats the leader in most basins is not
    'separated' from it; a candidate without a finite basin score is never tied."""
    from _selection import choose

    basins = [f"b{i}" for i in range(40)]
    leader = pd.Series(np.r_[np.full(10, 0.9), np.full(30, 0.3)], index=basins)
    better_mostly = pd.Series(np.r_[np.full(10, 0.2), np.full(30, 0.35)], index=basins)
    nse = {"lead": leader, "small": better_mostly,
           "nan": pd.Series(np.nan, index=basins)}
    results = {"lead": _curve(0.60, 30.0), "small": _curve(0.35, 10.0),
               "nan": _curve(0.10, 5.0)}
    size = {"lead": 1000, "small": 300, "nan": 10}
    selection = choose(results, 100.0, lambda n, e: nse[n], lambda n, e: size[n])
    assert selection.chosen == "small" and selection.table.loc["small", "p_vs_leader"] > 0.5
    assert not selection.table.loc["nan", "tied"]


def test_validation_basin_nse_is_kept_for_skip_done(tmp_path, monkeypatch):
    import _selection

    import ealstm.evaluation.run as run_module

    calls = []

    def fake_evaluate(run_dir, period, epoch):
        calls.append((period, epoch))
        table = pd.DataFrame({"nse": [0.25, 0.5]},
                             index=pd.Index(["01013500", "y"], name="basin"))
        return type("Evaluation", (), {"table": table})()

    monkeypatch.setattr(run_module, "evaluate_run", fake_evaluate)
    first = _selection.validation_basin_nse(tmp_path, 7)
    again = _selection.validation_basin_nse(tmp_path, 7)
    assert calls == [("validation", 7)]
    assert again.to_dict() == first.to_dict() == {"01013500": 0.25, "y": 0.5}  # ids as text


def test_candidates_load_and_every_config_validates(tmp_path):
    if not SHARED.is_dir():
        pytest.skip("../shared/data/caravan_camels_dev is absent")
    from regional_dev import load_recipes, parse_args, selection_overrides

    from ealstm.config import load_config

    args = parse_args(["--runs-dir", str(tmp_path)])
    recipes = load_recipes(CONFIGS / "caravan_dev_candidates.yml", None)
    assert recipes[0].name == "paper" and recipes[0].lr_overrides() == []
    for recipe in recipes:
        cfg = load_config(recipe.config, selection_overrides(recipe, args, []))
        assert cfg.train.epochs == recipe.epochs
        if recipe.refit:  # the paper's whole training period, nothing held out
            assert (str(cfg.data.train_period.start), str(cfg.data.train_period.end)) == (
                "1999-10-01", "2008-09-30")
            assert cfg.data.validation_period is None and cfg.train.validate_every is None
            continue
        assert str(cfg.data.train_period.end) == "2006-09-30"
        assert str(cfg.data.validation_period.start) == "2006-10-01"
        assert cfg.train.validate_every == 1
    refits = {r.name: r.overrides for r in recipes if r.refit}
    assert refits["s2s_b16_step_refit_s111"] == ("model.hidden_size=256", "train.seed=111")
    assert refits["s2s_h128_refit_s222"] == ("model.hidden_size=128", "train.seed=222")
    # the base config is the recommended recipe and may change: a measured candidate on it
    # names its hidden size and schedule, so that it keeps what it ran with
    for recipe in recipes:
        if recipe.config.name == "caravan_dev_seq2seq.yml":
            assert any(o.startswith("model.hidden_size=") for o in recipe.overrides)
            assert recipe.lr_overrides(), recipe.name


def test_candidate_periods_must_be_known(tmp_path):
    from regional_dev import load_recipes

    bad = tmp_path / "candidates.yml"
    bad.write_text("candidates:\n  - {name: x, config: c.yml, epochs: 3, periods: all}\n")
    with pytest.raises(SystemExit, match="candidate x: periods must be 'select' or 'paper'"):
        load_recipes(bad, None)


def _member_predictions(path: Path, qsim: list[float], qobs: list[float]) -> str:
    import numpy as np
    import xarray as xr

    from ealstm.evaluation.predict import CLIP_ATTRIBUTE

    dates = pd.date_range("2000-01-01", periods=len(qobs))
    xr.Dataset({"qobs": (("basin", "date"), np.array([qobs], dtype=np.float32)),
                "qsim": (("basin", "date"), np.array([qsim], dtype=np.float32))},
               coords={"basin": ["b1"], "date": dates},
               attrs={CLIP_ATTRIBUTE: 1}).to_netcdf(path)
    return str(path)


def test_ensemble_marks_scores_the_mean_discharge(tmp_path):
    """The ensemble is the mean of the members' qsim (paper sect. 3), scored by hand."""
    from _regional_report import ensemble_marks

    qobs = [1.0, 2.0, 3.0, 4.0]
    a = _member_predictions(tmp_path / "a.nc", [2.0, 2.0, 2.0, 6.0], qobs)
    b = _member_predictions(tmp_path / "b.nc", [0.0, 2.0, 4.0, 4.0], qobs)
    member = {"marks": {"60": {"epoch": 7, "predictions": a}}, "train": None}
    other = {"marks": {"60": {"epoch": 9, "predictions": b}}, "train": None}
    scored = ensemble_marks({"m1": member, "m2": other}, tmp_path / "ens")
    # mean qsim [1, 2, 3, 5]: NSE = 1 - 1 / sum((qobs - 2.5)^2) = 1 - 1 / 5 = 0.8
    assert scored["marks"]["60"]["median"] == pytest.approx(0.8)
    assert scored["marks"]["60"]["epoch"] == "7+9"
    assert scored["train"] is None  # a member without a train score: no ensemble score
    unscored = {"marks": {"60": {"epoch": None}}, "train": None}
    assert ensemble_marks({"m1": member, "m3": unscored}, tmp_path / "e2")["marks"]["60"] == {
        "epoch": None}


def test_train_only_trains_and_stops_before_choosing(tmp_path, monkeypatch):
    """--train-only: recipes run side by side in separate processes; no choice, no test score."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data/caravan_camels_dev is absent")
    import regional_dev

    trained = []
    monkeypatch.setattr(regional_dev, "train_recipe", lambda r, a: trained.append(r.name) or {})

    def must_not_run(*args, **kwargs):
        raise AssertionError("--train-only went on to choose or score")

    monkeypatch.setattr(regional_dev, "choose", must_not_run)
    monkeypatch.setattr(regional_dev, "test_recipe", must_not_run)
    argv = ["--recipes", "s2s_b16_step", "--runs-dir", str(tmp_path), "--out", str(tmp_path / "o")]
    regional_dev.main([*argv, "--train-only"])
    assert trained == ["s2s_b16_step"]
    with pytest.raises(AssertionError, match="choose or score"):
        regional_dev.main(argv)


def test_nh_translation_of_the_schedule_and_dates():
    from regional_nh import nh_date, nh_schedule

    assert nh_schedule({1: 1e-3, 11: 5e-4, 21: 1e-4}) == {0: 1e-3, 11: 5e-4, 21: 1e-4}
    assert nh_date("1999-10-01") == "01/10/1999"


def test_recipe_config_is_its_candidate(tmp_path):
    """configs/caravan_dev_seq2seq.yml is the measured refit s2s_h128_refit_s111 (same
    periods, schedule, epochs and seed), and the experiment config's members are it per seed."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data/caravan_camels_dev is absent")
    from regional_dev import load_recipes, parse_args, selection_overrides

    from ealstm.config import load_config
    from ealstm.experiment.config import load_experiment_config, member_config

    (recipe,) = load_recipes(CONFIGS / "caravan_dev_candidates.yml", ["s2s_h128_refit_s111"])
    args = parse_args(["--runs-dir", str(tmp_path)])
    shipped = load_config(CONFIGS / "caravan_dev_seq2seq.yml")
    candidate = load_config(recipe.config, selection_overrides(recipe, args, []))
    assert shipped.train.lr_schedule is not None and candidate.train.lr_schedule is None
    assert candidate.train.model_dump() == shipped.train.model_dump()  # the expanded rates
    assert candidate.data.model_copy(update={"cache_dir": None}) == shipped.data
    assert candidate.model == shipped.model
    experiment = load_experiment_config(CONFIGS / "experiment_caravan_dev.yml")
    for seed in experiment.seeds:
        member = member_config(experiment, "ealstm_nse_s2s", seed)
        assert member.data == shipped.data and member.model == shipped.model
        assert member.train.model_dump() == shipped.train.model_copy(
            update={"seed": seed}).model_dump()


def test_nh_mirror_holds_the_csv_values_as_netcdf(tmp_path):
    import numpy as np
    import xarray as xr
    from regional_nh import write_mirror

    root = tmp_path / "caravan"
    (root / "timeseries" / "csv" / "camels").mkdir(parents=True)
    (root / "attributes" / "camels").mkdir(parents=True)
    text = "date,total_precipitation_sum,streamflow\n2000-01-01,1.5,0.2\n2000-01-02,0,\n"
    (root / "timeseries" / "csv" / "camels" / "camels_01.csv").write_text(text)
    mirror = tmp_path / "mirror"
    write_mirror(root, ["camels_01"], mirror)
    with xr.open_dataset(mirror / "timeseries" / "netcdf" / "camels" / "camels_01.nc") as ds:
        frame = ds.to_dataframe()
    assert frame.index.name == "date" and str(frame.index[1].date()) == "2000-01-02"
    assert frame["total_precipitation_sum"].tolist() == [1.5, 0.0]
    assert frame["streamflow"].iloc[0] == 0.2 and np.isnan(frame["streamflow"].iloc[1])
    assert (mirror / "attributes").resolve() == (root / "attributes").resolve()
    write_mirror(root, ["camels_01"], mirror)  # a second call reuses the files


def test_nh_config_matches_the_recipe(tmp_path):
    if not SHARED.is_dir():
        pytest.skip("../shared/data/caravan_camels_dev is absent")
    from regional_dev import load_recipes, parse_args, selection_overrides
    from regional_nh import nh_config

    from ealstm.config import load_config

    args = parse_args(["--runs-dir", str(tmp_path)])
    (recipe,) = load_recipes(CONFIGS / "caravan_dev_candidates.yml", ["s2s_b16_step"])
    cfg = load_config(recipe.config, selection_overrides(recipe, args, []))
    nh = nh_config(cfg, tmp_path / "basins.txt", tmp_path / "mirror", tmp_path / "runs", 241, 106)
    assert (nh["model"], nh["dataset"], nh["loss"]) == ("ealstm", "caravan", "NSE")
    # NH's default validate_n_random_basins (0) scores no basin in the validation period
    assert (nh["validate_n_random_basins"], nh["max_updates_per_epoch"]) == (241, 106)
    assert (nh["seq_length"], nh["predict_last_n"], nh["batch_size"]) == (544, 365, 16)
    assert (nh["hidden_size"], nh["output_dropout"], nh["epochs"]) == (256, 0.4, 150)
    assert nh["learning_rate"] == {0: 6.667e-4, 2: 1.333e-3, 3: 2e-3, 91: 1e-3, 129: 2e-4}
    assert (nh["train_start_date"], nh["train_end_date"]) == ("01/10/1999", "30/09/2006")
    assert (nh["validation_start_date"], nh["test_end_date"]) == ("01/10/2006", "30/09/1999")
    assert len(nh["static_attributes"]) == 27 and nh["target_variables"] == ["streamflow"]


def test_nh_epoch_has_the_updates_of_an_ealstm_epoch():
    """ealstm's seq-to-seq epoch: every n-th day whose last n days (in the period) are observed."""
    from types import SimpleNamespace

    from regional_nh import epoch_updates

    days = pd.date_range("1999-09-01", "2006-12-31")
    full = pd.Series(1.0, index=days)  # 2557 days in 1999-10-01..2006-09-30
    # observed from 1999-09-01 to 2000-01-08 (the period's days 0..99): days 0..463 have an
    # observed target among their last 365 days; the days before the period do not count
    short = full.where(days <= "2000-01-08")
    before = full.where(days < "1999-10-01")  # observed only before the period: no sample
    targets = {"a": full, "b": short, "c": before}
    cfg = SimpleNamespace(train=SimpleNamespace(predict_last_n=365, batch_size=1))
    assert epoch_updates(targets, cfg) == 9  # ceil((2557 + 464) / 365) = ceil(8.28)
    cfg.train.batch_size = 4
    assert epoch_updates(targets, cfg) == 3  # ceil(8.28 / 4)
    cfg.train.batch_size = 16
    assert epoch_updates(targets, cfg) == 1
    cfg.train.predict_last_n = 1  # sequence-to-one: NH's epoch is ealstm's, no cap
    assert epoch_updates(targets, cfg) is None


def test_nh_run_dir_is_the_new_folder_of_this_recipe(tmp_path):
    from regional_nh import nh_run_dir

    old = tmp_path / "s2s_b16_step_3011_081124"
    old.mkdir()
    before = {old}
    (tmp_path / "s2s_b16_step_t1_3011_090000").mkdir()  # another recipe, sorts last
    with pytest.raises(SystemExit, match="expected one new NH run folder"):
        nh_run_dir(tmp_path, "s2s_b16_step", before)
    new = tmp_path / "s2s_b16_step_0112_010203"  # December sorts before November's old run
    new.mkdir()
    assert nh_run_dir(tmp_path, "s2s_b16_step", before) == new


def test_nh_curve_leaves_out_weights_written_after_the_stop(tmp_path):
    from regional_nh import nh_curve

    start = 1_000_000.0
    for epoch, seconds in ((2, 20.0), (1, 10.0), (3, 61.0)):
        path = tmp_path / f"model_epoch{epoch:03d}.pt"
        path.write_bytes(b"")
        os.utime(path, (start + seconds, start + seconds))
    curve = nh_curve(tmp_path, start, None)
    assert curve["epoch"].tolist() == [1, 2, 3]
    assert curve["budget_s"].tolist() == pytest.approx([10.0, 20.0, 61.0])
    assert nh_curve(tmp_path, start, 60.0)["epoch"].tolist() == [1, 2]


def test_caravan_dev_configs_are_the_paper_protocol_and_the_recipe():
    if not SHARED.is_dir():
        pytest.skip("../shared/data/caravan_camels_dev is absent")
    from ealstm.config import PAPER_ATTRIBUTES, load_config

    paper = load_config(CONFIGS / "caravan_dev_paper.yml")
    recipe = load_config(CONFIGS / "caravan_dev_seq2seq.yml")
    for cfg in (paper, recipe):
        assert cfg.data.dataset == "caravan" and cfg.data.basin_file.name == "basins_dev_241.txt"
        assert cfg.data.static_attributes == PAPER_ATTRIBUTES
        assert (str(cfg.data.train_period.start), str(cfg.data.train_period.end)) == (
            "1999-10-01", "2008-09-30")
        assert (str(cfg.data.test_period.start), str(cfg.data.test_period.end)) == (
            "1989-10-01", "1999-09-30")
        assert cfg.model.name == "ealstm" and cfg.train.loss == "nse_star"
    assert (paper.data.seq_length, paper.train.predict_last_n, paper.train.batch_size) == (
        270, 1, 256)
    assert paper.train.epochs == 30
    assert paper.train.learning_rate == {1: 1e-3, 11: 5e-4, 21: 1e-4}
    assert (recipe.data.seq_length, recipe.train.predict_last_n) == (544, 365)


def test_evaluate_marks_scores_the_train_period_only_when_asked(tmp_path, monkeypatch):
    """Test at each mark's last finished epoch (shared when equal); train only with train=True."""
    from types import SimpleNamespace

    import _regional_report

    calls = []

    def fake_evaluate(run_dir, period, epoch):
        calls.append((period, epoch))
        return SimpleNamespace(table=pd.DataFrame({"nse": [0.2, 0.4, 0.9]}),
                               predictions=Path(f"predictions_{period}_{epoch}.nc"))

    monkeypatch.setattr(_regional_report, "evaluate_run", fake_evaluate)
    result = {"curve": [{"epoch": 1, "wall_s": 100.0, "budget_s": 100.0},
                        {"epoch": 2, "wall_s": 1000.0, "budget_s": 1000.0}]}
    tested = _regional_report.evaluate_marks(result, tmp_path, [1, 10, 30], 1, train=False)
    assert calls == [("test", 1), ("test", 2)] and tested["train"] is None
    assert tested["marks"]["1"] == {"epoch": None}
    assert tested["marks"]["30"]["median"] == pytest.approx(0.4)
    assert tested["marks"]["30"]["predictions"] == "predictions_test_2.nc"  # for an ensemble
    calls.clear()
    tested = _regional_report.evaluate_marks(result, tmp_path, [30], 1, train=True)
    assert calls == [("test", 2), ("train", 2)] and tested["train"]["epoch"] == 2


def test_a_refit_is_never_chosen():
    """A refit has no validation score: the choice ignores it, and fails without a candidate."""
    from _selection import choose

    refit = {"curve": [{"epoch": 1, "budget_s": 10.0, "train_loss": 0.1}]}
    candidate = {"curve": [{"epoch": 1, "budget_s": 10.0, "val_median_nse": 0.1}]}
    assert choose({"refit": refit, "cand": candidate}, 60.0).chosen == "cand"
    with pytest.raises(SystemExit, match="no recipe finished a validated epoch"):
        choose({"refit": refit}, 60.0)


def test_kept_scores_without_predictions_are_scored_again_for_an_ensemble(tmp_path, monkeypatch):
    """--skip-done: an --ensemble member's scores from an older run (no predictions file named)
    are evaluated again; other recipes keep them."""
    from types import SimpleNamespace

    import regional_dev

    from ealstm.io import save_json

    old = {"marks": {"60": {"epoch": 5, "median": 0.4}}, "train": {"epoch": 5, "median": 0.6}}
    for name in ("member", "other"):
        save_json(tmp_path / name / "marks_result.json", {"marks_min": [60.0], "tested": old})
    fresh = {"marks": {"60": {"epoch": 5, "median": 0.4, "predictions": "p.nc"}},
             "train": {"epoch": 5, "median": 0.6, "predictions": "t.nc"}}
    monkeypatch.setattr(regional_dev, "evaluate_marks", lambda *a: fresh)
    args = SimpleNamespace(runs_dir=tmp_path, skip_done=True, marks=[60.0], threads=1,
                           ensemble=["member"])
    assert regional_dev.test_recipe({"name": "other"}, args, train=True) == old
    assert regional_dev.test_recipe({"name": "member"}, args, train=True) == fresh


def test_ensemble_marks_refuses_scores_without_predictions(tmp_path):
    from _regional_report import ensemble_marks

    a = _member_predictions(tmp_path / "a.nc", [1.0, 2.0], [1.0, 3.0])
    member = {"marks": {"60": {"epoch": 7, "predictions": a}}, "train": None}
    stale = {"marks": {"60": {"epoch": 7}}, "train": None}
    with pytest.raises(SystemExit, match=r"test scores of \['m2'\] name no predictions file"):
        ensemble_marks({"m1": member, "m2": stale}, tmp_path / "ens")


def test_rise_correlation_finds_the_lag_of_the_response():
    """Discharge that rises by the precipitation of the day before: r = 1 at lag +1."""
    from forcing_signal import rise_correlation

    rng = np.random.default_rng(1)
    days = pd.date_range("2000-01-01", periods=200)
    p = pd.Series(rng.exponential(2.0, 200), index=days)
    q = (p.shift(1).fillna(0.0) - 0.5).cumsum()  # rise on day t = p[t-1] - 0.5
    r, lag = rise_correlation(q, p)
    assert lag == 1 and r == pytest.approx(1.0)
    r_now, lag_now = rise_correlation(q, p.shift(1))  # a product one day late: lag 0
    assert lag_now == 0 and r_now == pytest.approx(1.0)
