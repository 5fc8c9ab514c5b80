"""Best validation epoch, early stopping and the tidy epoch line, with hand-made scores."""

import math

import pytest

from ealstm.config import TrainConfig
from ealstm.errors import CheckpointError, ConfigError
from ealstm.runs.best_epoch import (
    BestEpoch,
    default_epoch,
    epoch_tag,
    format_epoch_line,
    save_best_epoch,
)
from ealstm.runs.checkpoint import save_checkpoint


def test_tracker_keeps_the_best_score_and_counts_validations_since():
    tracker = BestEpoch(patience=2)
    stops = [tracker.update(e, s) for e, s in [(1, 0.2), (2, 0.6), (3, 0.6), (4, float("nan"))]]
    assert stops == [False, False, False, True]  # ties and NaN do not improve
    assert (tracker.epoch, tracker.score, tracker.since_best) == (2, 0.6, 2)
    assert not any(BestEpoch(None).update(e, -e) for e in range(1, 20))  # no patience: never


def test_tracker_is_rebuilt_from_the_training_log():
    rows = [{"epoch": 1, "val_median_nse": 0.3}, {"epoch": 2, "val_median_nse": math.nan},
            {"epoch": 3, "val_median_nse": 0.5}, {"epoch": 4}, {"epoch": 5, "val_median_nse": 0.1}]
    tracker = BestEpoch.from_log(rows, patience=3)
    assert (tracker.epoch, tracker.score, tracker.since_best) == (3, 0.5, 1)


def test_default_epoch_is_the_best_one_else_the_last(tmp_path):
    with pytest.raises(ConfigError, match="config.yml"):
        default_epoch(tmp_path)
    (tmp_path / "config.yml").write_text("name: x\n")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        default_epoch(tmp_path)
    for epoch in (1, 2, 3):
        save_checkpoint(tmp_path, epoch, {"model": {}})
    assert default_epoch(tmp_path) == 3
    save_best_epoch(tmp_path, BestEpoch(epoch=2, score=0.4))
    assert default_epoch(tmp_path) == 2
    assert epoch_tag(1, is_default=False) == "_epoch001" and epoch_tag(2, is_default=True) == ""


def test_epoch_line_is_one_tidy_line():
    row = {"epoch": 3, "lr": 1e-3, "train_loss": 0.12344, "val_median_nse": 0.6149,
           "seconds": 40.06, "val_seconds": 2.0, "n_samples": 10}
    assert format_epoch_line(row, 30) == \
        "epoch 3/30  lr 1.0e-03  loss 0.1234  val NSE 0.61  42.1 s"
    del row["val_median_nse"], row["val_seconds"]
    assert format_epoch_line(row, 30) == "epoch 3/30  lr 1.0e-03  loss 0.1234  40.1 s"


def test_patience_needs_validation():
    with pytest.raises(ValueError, match="validate_every"):
        TrainConfig(patience=3)
    assert TrainConfig(patience=3, validate_every=2).patience == 3
