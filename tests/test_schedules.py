"""Named learning-rate schedules (ealstm.schedules) and train.lr_schedule in a config."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ealstm.config import TrainConfig
from ealstm.schedules import lr_schedule


def test_step_schedule_by_hand():
    # warm-up: 2e-3 * e / 3 for e = 1..3; /2 after round(0.6 * 60) = 36; /10 after 51
    assert lr_schedule("step", 60, 2e-3, warmup=3) == {
        1: 6.667e-4, 2: 1.333e-3, 3: 2e-3, 37: 1e-3, 52: 2e-4}


def test_cosine_schedule_by_hand():
    # lr = 0.1 + 0.9 * (1 + cos(pi * t)) / 2, t = 0, 1/4, 1/2, 3/4, 1
    assert lr_schedule("cosine", 5, 1.0, final_div=10) == {
        1: 1.0, 2: 0.8682, 3: 0.55, 4: 0.2318, 5: 0.1}


def test_one_cycle_warms_up_from_peak_over_div_then_anneals():
    rates = lr_schedule("one_cycle", 10, 2.5, div=25, final_div=100)
    # warm-up over round(0.3 * 10) = 3 epochs from 0.1: 0.1 + 2.4 * e / 3
    assert rates[1] == pytest.approx(0.9) and rates[2] == pytest.approx(1.7)
    assert rates[3] == 2.5 and 4 not in rates  # epoch 4 (first of the decay) stays at peak
    assert rates[10] == pytest.approx(0.025)


def test_schedule_is_defined_by_planned_epochs_and_rejects_bad_input():
    assert lr_schedule("step", 10, 1.0) == {1: 1.0, 7: 0.5, 10: 0.1}
    assert lr_schedule("step", 20, 1.0) == {1: 1.0, 13: 0.5, 18: 0.1}
    with pytest.raises(ValueError, match="unknown schedule kind"):
        lr_schedule("linear", 10, 1.0)
    with pytest.raises(ValueError, match="epochs >= 1"):
        lr_schedule("step", 0, 1.0)


def test_config_lr_schedule_expands_over_the_epochs_and_is_not_saved():
    train = TrainConfig.model_validate({"epochs": 10, "lr_schedule": {"kind": "step",
                                                                      "peak": 1.0}})
    assert train.learning_rate == {1: 1.0, 7: 0.5, 10: 0.1} == lr_schedule("step", 10, 1.0)
    assert train.lr_at(8) == 0.5
    saved = train.model_dump()
    assert "lr_schedule" not in saved  # a run's config.yml holds the expanded rates
    assert TrainConfig.model_validate(saved) == train.model_copy(update={"lr_schedule": None})
    one_cycle = TrainConfig.model_validate(
        {"epochs": 10, "lr_schedule": {"kind": "one_cycle", "peak": 2.5, "final_div": 100}})
    assert one_cycle.learning_rate == lr_schedule("one_cycle", 10, 2.5, final_div=100)


def _error_locations(data: dict) -> list[tuple]:
    with pytest.raises(ValidationError) as caught:
        TrainConfig.model_validate(data)
    return [e["loc"] for e in caught.value.errors()]


def test_config_lr_schedule_errors_name_the_key():
    step = {"kind": "step", "peak": 1.0}
    with pytest.raises(ValidationError, match="train.lr_schedule=null keeps the rates"):
        TrainConfig.model_validate({"learning_rate": {1: 1e-3}, "lr_schedule": step})
    # learning_rate: null next to a schedule (e.g. --set over a config that has rates) is fine
    assert TrainConfig.model_validate({"epochs": 10, "learning_rate": None,
                                       "lr_schedule": step}).learning_rate[7] == 0.5
    assert _error_locations({"lr_schedule": {"kind": "linear", "peak": 1.0}}) == [
        ("lr_schedule", "kind")]
    assert _error_locations({"lr_schedule": {"kind": "step", "peak": 0.0}}) == [
        ("lr_schedule", "peak")]
    assert _error_locations({"lr_schedule": {"kind": "step", "peak": 1.0, "warmpu": 2}}) == [
        ("lr_schedule", "warmpu")]
    assert _error_locations({"epochs": 0, "lr_schedule": step}) == [("epochs",)]
    with pytest.raises(ValidationError, match=r"warmup \(10\) must be smaller than train.epochs"):
        TrainConfig.model_validate({"epochs": 10, "lr_schedule": {**step, "warmup": 10}})
