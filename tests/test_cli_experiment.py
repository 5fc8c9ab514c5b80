"""`ealstm experiment` and `ealstm report` end to end on tiny synthetic budgets."""

from pathlib import Path

import pandas as pd
import pytest
import yaml

from ealstm.cli import main
from tests.conftest import tiny_run_config


def _experiment_yaml(data_dir: Path, tmp_path: Path) -> Path:
    base = tiny_run_config(data_dir, tmp_path / "unused", n_basins=3, epochs=1)
    base = {key: base[key] for key in ("data", "model", "train")}
    del base["train"]["seed"]
    raw = {
        "name": "tiny",
        "experiment_dir": str(tmp_path / "exp"),
        "base": base,
        "configurations": {
            "lstm_static_nse": {"model": {"name": "lstm", "use_static": True, "hidden_size": 8}},
            "ealstm_nse": {"model": {"name": "ealstm", "hidden_size": 8}},
        },
        "seeds": [111, 222],
    }
    path = tmp_path / "experiment.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow
def test_experiment_writes_members_ensembles_tables_and_report(demo_camels, tmp_path, capsys):
    config = _experiment_yaml(demo_camels, tmp_path)
    assert main(["experiment", str(config), "--no-progress"]) == 0
    exp = tmp_path / "exp"
    for name in ("lstm_static_nse", "ealstm_nse"):
        for member in ("seed111", "seed222", "ensemble"):
            assert (exp / name / member / "metrics_test.csv").is_file(), (name, member)
    table2 = pd.read_csv(exp / "tables" / "table2.csv", index_col=0)
    assert list(table2.index) == ["lstm_static_nse", "ealstm_nse"]
    significance = pd.read_csv(exp / "tables" / "significance.csv")
    assert {"p_value", "cohens_d"} <= set(significance.columns)
    html = (exp / "report" / "report.html").read_text()
    assert "data:image/png;base64," in html and "http://" not in html
    assert "report:" in capsys.readouterr().out
    # A rerun skips every finished member and rebuilds the report with a benchmark model.
    assert main(["experiment", str(config), "--no-progress", "--no-report"]) == 0
    bench = exp / "ealstm_nse" / "seed111" / "predictions_test.nc"
    assert main(["report", str(exp), "--benchmark", f"other={bench}"]) == 0
    assert (exp / "tables" / "table3.csv").is_file()


def test_report_rejects_malformed_benchmark_flag(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--benchmark", "nopath"]) == 2
    assert "NAME=PATH" in capsys.readouterr().err
