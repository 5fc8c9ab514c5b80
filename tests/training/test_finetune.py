"""Fine-tuning architecture check: training-only model settings may differ, the rest may not."""

import pytest

from ealstm.config import parse_config
from ealstm.errors import CheckpointError
from ealstm.training.finetune import check_architecture
from tests.conftest import tiny_run_config


def _state_of(cfg) -> dict:
    """A checkpoint's architecture fields, as the training loop writes them."""
    n_static = len(cfg.data.static_attributes) if cfg.model.use_static else 0
    return {"model_config": cfg.model.model_dump(mode="json"),
            "model_args": {"n_dynamic": len(cfg.data.dynamic_inputs), "n_static": n_static}}


def _config(demo_camels, tmp_path, **model):
    raw = tiny_run_config(demo_camels, tmp_path, model={"name": "ealstm", "hidden_size": 8,
                                                        "dropout": 0.4, **model})
    return parse_config(raw)


@pytest.mark.parametrize("change", [{"dropout": 0.1}, {"initial_forget_bias": 3.0},
                                    {"implementation": "loop"}])
def test_training_only_settings_may_differ_from_the_source(demo_camels, tmp_path, change):
    source = _state_of(_config(demo_camels, tmp_path))
    check_architecture(_config(demo_camels, tmp_path, **change), source)  # no error


def test_another_hidden_size_is_refused(demo_camels, tmp_path):
    source = _state_of(_config(demo_camels, tmp_path))
    with pytest.raises(CheckpointError, match=r"hidden_size: 8 there, 16 here"):
        check_architecture(_config(demo_camels, tmp_path, hidden_size=16), source)
