"""Progress: a few log lines (no redraws) when stderr is not a terminal."""

import logging

from ealstm import progress


def test_track_logs_a_few_lines_off_a_terminal(monkeypatch, caplog):
    monkeypatch.setattr(progress, "is_terminal", lambda: False)
    with caplog.at_level(logging.INFO, logger="ealstm.progress"):
        assert list(progress.track(range(100), 100, "work")) == list(range(100))
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(":")[1].split("(")[0].strip() for line in lines] == \
        ["25/100", "50/100", "75/100", "100/100"]
    assert all("elapsed" in line and "left" in line for line in lines)


def test_track_is_silent_when_disabled_or_tiny(monkeypatch, caplog):
    monkeypatch.setattr(progress, "is_terminal", lambda: False)
    with caplog.at_level(logging.INFO, logger="ealstm.progress"):
        assert list(progress.track(range(50), 50, "work", enabled=False)) == list(range(50))
        assert list(progress.track(range(2), 2, "work")) == [0, 1]
    assert caplog.records == []
