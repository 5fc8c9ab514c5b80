"""LSTM baseline, plus the model registry and ``build_model``."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from ealstm.config import ModelConfig
from ealstm.errors import ConfigError
from ealstm.models import EALSTM, LSTM, MODELS, build_model

TOL = {"rtol": 1e-4, "atol": 1e-5}


def make_inputs(batch: int, steps: int, n_dyn: int, n_stat: int, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, steps, n_dyn, generator=gen),
            torch.randn(batch, n_stat, generator=gen))


def reference(model: LSTM, x: torch.Tensor, n: int) -> torch.Tensor:
    """A separate nn.LSTM with the model's weights, fed [x_d, x_s] concatenated; [B, n]."""
    lstm = torch.nn.LSTM(x.shape[-1], model.hidden_size, num_layers=model.lstm.num_layers,
                         batch_first=True)
    lstm.load_state_dict(model.lstm.state_dict())
    h, _ = lstm(x)
    return model.head(h[:, -n:]).squeeze(-1)


@pytest.mark.parametrize(("batch", "steps", "hidden", "n", "layers"),
                         [(1, 1, 1, 1, 1), (3, 6, 5, 1, 1), (4, 7, 6, 3, 2)])
def test_statics_are_concatenated_to_every_time_step(batch, steps, hidden, n, layers):
    model = LSTM(3, 4, hidden_size=hidden, num_layers=layers, dropout=0.0)
    x_d, x_s = make_inputs(batch, steps, 3, 4)
    x_d.requires_grad_(True)
    x_s.requires_grad_(True)
    y = model(x_d, x_s, predict_last_n=n)
    assert y.shape == (batch, n)
    x_cat = torch.cat([x_d, x_s[:, None, :].expand(-1, steps, -1)], dim=-1).detach()
    x_cat.requires_grad_(True)
    y_ref = reference(model, x_cat, n)
    torch.testing.assert_close(y, y_ref, **TOL)
    y.sum().backward()
    y_ref.sum().backward()
    torch.testing.assert_close(x_d.grad, x_cat.grad[..., :3], **TOL)
    torch.testing.assert_close(x_s.grad, x_cat.grad[..., 3:].sum(dim=1), **TOL)


def test_without_statics_ignores_x_s():
    model = LSTM(3, 0, hidden_size=5, dropout=0.0)
    x_d, x_s = make_inputs(2, 6, 3, 4)
    assert model.lstm.input_size == 3
    torch.testing.assert_close(model(x_d, x_s, 2), model(x_d, None, 2))
    torch.testing.assert_close(model(x_d, None, 2), reference(model, x_d, 2))


def test_init_follows_the_papers_code():
    hidden = 4
    model = LSTM(3, 5, hidden_size=hidden, num_layers=2, initial_forget_bias=2.5)
    eye = torch.eye(hidden)
    for layer in range(2):
        w_ih = getattr(model.lstm, f"weight_ih_l{layer}")
        w_hh = getattr(model.lstm, f"weight_hh_l{layer}")
        b_ih = getattr(model.lstm, f"bias_ih_l{layer}")
        for block in w_hh.split(hidden):
            torch.testing.assert_close(block, eye)
        n_in = w_ih.shape[1]  # 8 (layer 0) or 4; ONE orthogonal [16, n_in] matrix
        torch.testing.assert_close(w_ih.T @ w_ih, torch.eye(n_in), atol=1e-5, rtol=0)
        assert torch.all(b_ih[hidden: 2 * hidden] == 2.5)  # forget gate (order i, f, g, o)
        assert torch.count_nonzero(b_ih) == hidden
        b_hh = getattr(model.lstm, f"bias_hh_l{layer}")
        assert torch.count_nonzero(b_hh) == 0 and not b_hh.requires_grad


def test_one_effective_bias_vector_that_trains_alone():
    """nn.LSTM's second bias stays 0 through training: the bias moves at the paper's pace."""
    torch.manual_seed(0)
    model = LSTM(3, 2, hidden_size=4, dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    x_d, x_s = make_inputs(4, 5, 3, 2)
    before = model.lstm.bias_ih_l0.detach().clone()
    for _ in range(3):
        optimizer.zero_grad()
        model(x_d, x_s).pow(2).sum().backward()
        optimizer.step()
    assert torch.count_nonzero(model.lstm.bias_hh_l0) == 0
    assert not torch.equal(model.lstm.bias_ih_l0.detach(), before)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad and "bias" in n]
    assert trainable == ["lstm.bias_ih_l0", "head.bias"]


def test_checkpoint_keys_and_outputs_survive_a_state_dict_round_trip():
    torch.manual_seed(1)
    model = LSTM(3, 2, hidden_size=4)
    keys = set(model.state_dict())
    assert {"lstm.bias_ih_l0", "lstm.bias_hh_l0", "lstm.weight_ih_l0"} <= keys
    model.eval()
    other = LSTM(3, 2, hidden_size=4)
    other.load_state_dict(model.state_dict())
    other.eval()
    x_d, x_s = make_inputs(2, 5, 3, 2)
    torch.testing.assert_close(other(x_d, x_s), model(x_d, x_s))
    assert not other.lstm.bias_hh_l0.requires_grad


def test_dropout_only_in_train_mode():
    model = LSTM(3, 4, hidden_size=16, dropout=0.5)
    x_d, x_s = make_inputs(4, 5, 3, 4)
    model.eval()
    torch.testing.assert_close(model(x_d, x_s, 2), model(x_d, x_s, 2))
    model.train()
    assert not torch.allclose(model(x_d, x_s, 2), model(x_d, x_s, 2))


@pytest.mark.parametrize(
    ("x_d_shape", "x_s_shape", "n", "match"),
    [
        ((2, 5, 2), (2, 4), 1, r"x_d must have shape \[batch, time, 3\]"),
        ((2, 5, 3), None, 1, "pass x_s"),
        ((2, 5, 3), (2, 3), 1, r"x_s must have shape \[2, 4\]"),
        ((2, 5, 3), (2, 4), 6, r"predict_last_n must be an int in \[1, 5\]"),
    ],
)
def test_bad_shapes_raise_clear_errors(x_d_shape, x_s_shape, n, match):
    x_s = None if x_s_shape is None else torch.zeros(x_s_shape)
    with pytest.raises(ValueError, match=match):
        LSTM(3, 4, hidden_size=5)(torch.zeros(x_d_shape), x_s, predict_last_n=n)


# --- registry and builder ---------------------------------------------------------------------


def test_registry_holds_both_models():
    assert MODELS == {"lstm": LSTM, "ealstm": EALSTM}


def test_build_model_passes_the_config():
    cfg = ModelConfig(name="ealstm", hidden_size=7, num_layers=2, dropout=0.25,
                      initial_forget_bias=1.5)
    model = build_model(cfg, n_dynamic=5, n_static=27)
    assert isinstance(model, EALSTM)
    assert (model.hidden_size, model.n_dynamic, model.n_static) == (7, 5, 27)
    assert model.upper_layers.num_layers == 1
    assert model.dropout.p == 0.25
    assert torch.all(model.bias[:7] == 1.5)


@pytest.mark.parametrize(("use_static", "n_inputs"), [(True, 32), (False, 5)])
def test_build_lstm_with_and_without_statics(use_static, n_inputs):
    model = build_model(ModelConfig(name="lstm", use_static=use_static, hidden_size=4), 5, 27)
    assert isinstance(model, LSTM)
    assert model.lstm.input_size == n_inputs
    x_d, x_s = make_inputs(2, 3, 5, 27)
    assert model(x_d, x_s).shape == (2, 1)


def test_unknown_model_lists_the_choices():
    cfg = ModelConfig.model_construct(name="gru")  # bypasses the config validator
    with pytest.raises(ConfigError, match=r"unknown model 'gru'; choose from \['ealstm', 'lstm'\]"):
        build_model(cfg, 5, 27)
    with pytest.raises(ValidationError, match=r"choose from \['ealstm', 'lstm'\]"):
        ModelConfig(name="gru")
