"""The EA-LSTM's LSTM-kernel path: weight layout, choice of implementation, training equivalence.

Outputs and gradients of both paths against the naive eq. 7-12 cell are tested in
``test_ealstm.py`` (parametrized over ``impl``).
"""

from __future__ import annotations

import logging

import pytest
import torch
from pydantic import ValidationError

from ealstm.config import ModelConfig
from ealstm.models import EALSTM, build_model
from ealstm.models.ealstm import CPU_KERNEL_MAX_WORK, choose_implementation
from ealstm.models.kernel import gate_inputs, kernel_weights
from tests.models.test_ealstm import make_inputs, randomize_

CPU, GPU = torch.device("cpu"), torch.device("cuda", 0)


def test_kernel_weights_layout_by_hand():
    hidden, n_dyn, n_stat = 2, 3, 4
    model = EALSTM(n_dyn, n_stat, hidden_size=hidden)
    randomize_(model)
    w_ih, w_hh, b_ih, b_hh = kernel_weights(model.weight_ih, model.weight_hh, model.bias,
                                            model.static_gate.weight, model.static_gate.bias)
    f, o, g = (slice(k * hidden, (k + 1) * hidden) for k in range(3))  # ours: f, o, g
    rows = {"i": slice(0, 2), "f": slice(2, 4), "g": slice(4, 6), "o": slice(6, 8)}  # nn.LSTM
    assert w_ih.shape == (4 * hidden, n_dyn + n_stat) and w_hh.shape == (4 * hidden, hidden)
    # input gate: statics only, no recurrence (eq. 7)
    assert torch.count_nonzero(w_ih[rows["i"], :n_dyn]) == 0
    assert torch.count_nonzero(w_hh[rows["i"]]) == 0
    assert torch.equal(w_ih[rows["i"], n_dyn:], model.static_gate.weight)
    assert torch.equal(b_ih[rows["i"]], model.static_gate.bias)
    for gate, ours in (("f", f), ("g", g), ("o", o)):  # eqs. 8-10: dynamics only
        assert torch.count_nonzero(w_ih[rows[gate], n_dyn:]) == 0
        assert torch.equal(w_ih[rows[gate], :n_dyn], model.weight_ih[ours])
        assert torch.equal(w_hh[rows[gate]], model.weight_hh[ours])
        assert torch.equal(b_ih[rows[gate]], model.bias[ours])
    assert torch.count_nonzero(b_hh) == 0 and not b_hh.requires_grad


def test_masked_blocks_are_constants_not_parameters():
    model = EALSTM(3, 4, hidden_size=5, implementation="kernel")
    names = {name for name, _ in model.named_parameters()}
    assert names == {"weight_ih", "weight_hh", "bias", "static_gate.weight", "static_gate.bias",
                     "head.weight", "head.bias"}
    x_d, x_s = make_inputs(2, 6, 3, 4)
    model(x_d, x_s, 3).sum().backward()
    assert model.weight_hh.grad.shape == (15, 5) and model.weight_ih.grad.shape == (15, 3)


@pytest.mark.parametrize(
    ("implementation", "batch", "hidden", "device", "expected"),
    [
        ("auto", 4, 256, CPU, "kernel"),
        ("auto", CPU_KERNEL_MAX_WORK // 256, 256, CPU, "kernel"),
        ("auto", CPU_KERNEL_MAX_WORK // 256 + 1, 256, CPU, "loop"),
        ("auto", 256, 256, CPU, "loop"),
        ("auto", 256, 256, GPU, "kernel"),
        ("auto", 4, 256, GPU, "kernel"),
        ("loop", 4, 256, GPU, "loop"),
        ("kernel", 256, 256, CPU, "kernel"),
    ],
)
def test_choose_implementation(implementation, batch, hidden, device, expected):
    assert choose_implementation(implementation, batch, hidden, device) == expected


def test_unknown_implementation_is_rejected():
    with pytest.raises(ValueError, match="implementation must be one of"):
        EALSTM(3, 4, hidden_size=5, implementation="cudnn")


def test_auto_records_and_logs_its_choice(caplog):
    model = EALSTM(3, 4, hidden_size=256)
    assert model.last_implementation is None
    with caplog.at_level(logging.INFO, logger="ealstm.models.ealstm"):
        model(*make_inputs(2, 3, 3, 4))
        model(*make_inputs(2, 3, 3, 4))
        assert model.last_implementation == "kernel"
        model(*make_inputs(CPU_KERNEL_MAX_WORK, 2, 3, 4))
        assert model.last_implementation == "loop"
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2  # once per choice
    assert "implementation: kernel" in messages[0] and "implementation: loop" in messages[1]


def _train(implementation: str, n: int, steps: int = 4) -> dict[str, torch.Tensor]:
    """A few Adam steps (dropout on) from the same start; returns the final parameters."""
    torch.manual_seed(0)
    model = EALSTM(3, 4, hidden_size=6, num_layers=1, dropout=0.4, implementation=implementation)
    randomize_(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(steps):
        x_d, x_s = make_inputs(5, 9, 3, 4, seed=10 + step)
        torch.manual_seed(100 + step)  # the same dropout masks for both paths
        loss = (model(x_d, x_s, predict_last_n=n) - 0.5).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("n", [1, 4])  # sequence-to-one and sequence-to-sequence
def test_training_via_kernel_gives_the_loops_parameters(n):
    loop, kernel = _train("loop", n), _train("kernel", n)
    start = _train("loop", n, steps=0)
    assert loop.keys() == kernel.keys()
    for name in loop:
        assert not torch.equal(loop[name], start[name])  # training moved every parameter
        torch.testing.assert_close(kernel[name], loop[name], rtol=1e-5, atol=1e-6)


def test_state_dict_loads_across_implementations():
    trained = EALSTM(3, 4, hidden_size=5, implementation="kernel")
    randomize_(trained)
    other = EALSTM(3, 4, hidden_size=5, implementation="loop")
    other.load_state_dict(trained.state_dict())
    x_d, x_s = make_inputs(3, 7, 3, 4)
    trained.eval()
    other.eval()
    torch.testing.assert_close(other(x_d, x_s, 2), trained(x_d, x_s, 2), rtol=1e-5, atol=1e-6)


def test_config_key_reaches_the_model_and_is_ealstm_only():
    model = build_model(ModelConfig(implementation="loop"), n_dynamic=3, n_static=4)
    assert model.implementation == "loop"
    assert build_model(ModelConfig(), 3, 4).implementation == "auto"
    with pytest.raises(ValidationError, match="applies only to name: ealstm"):
        ModelConfig(name="lstm", implementation="kernel")
    with pytest.raises(ValidationError, match="implementation"):
        ModelConfig(implementation="cudnn")


@pytest.mark.parametrize(("batch", "one_hot"), [(1, True), (3, True), (4, False), (6, False)])
def test_gate_inputs_are_one_hot_rows_below_n_static(batch, one_hot):
    model = EALSTM(3, 4, hidden_size=5)
    randomize_(model)
    _, x_s = make_inputs(batch, 2, 3, 4)
    z, weight, bias = gate_inputs(x_s, model.static_gate.weight, model.static_gate.bias)
    assert z.shape == (batch, batch if one_hot else 4)
    # the block the kernel's matmul sees gives eq. 7's pre-activation, bit for bit where one-hot
    pre = model.static_gate(x_s)
    if one_hot:
        assert torch.equal(z, torch.eye(batch)) and torch.count_nonzero(bias) == 0
        assert torch.equal(weight.T, pre)
    else:
        assert z is x_s and weight is model.static_gate.weight
    torch.testing.assert_close(z @ weight.T + bias, pre)


@pytest.mark.parametrize("batch", [2, 6])  # one-hot gate inputs and the statics themselves
def test_kernel_gradients_match_the_loop_in_both_gate_input_regimes(batch):
    grads = {}
    for impl in ("loop", "kernel"):
        torch.manual_seed(0)
        model = EALSTM(3, 4, hidden_size=5, dropout=0.0, implementation=impl)
        randomize_(model)
        x_d, x_s = make_inputs(batch, 7, 3, 4)  # x_s without a gradient: as in training
        (model(x_d, x_s, 3) * torch.linspace(-1, 1, 3)).sum().backward()
        grads[impl] = {name: p.grad for name, p in model.named_parameters()}
    assert grads["kernel"]["static_gate.weight"].abs().sum() > 0
    for name, loop in grads["loop"].items():
        torch.testing.assert_close(grads["kernel"][name], loop, rtol=1e-5, atol=1e-6,
                                   msg=lambda m, k=name: k + m)


def test_a_non_finite_static_stays_in_its_own_sample():
    """One-hot gate inputs would spread it (0 * nan = nan); the statics themselves do not."""
    model = EALSTM(3, 4, hidden_size=5, implementation="kernel").eval()
    x_d, x_s = make_inputs(2, 6, 3, 4)
    x_s[0, 1] = float("nan")
    z, weight, _ = gate_inputs(x_s, model.static_gate.weight, model.static_gate.bias)
    assert z is x_s and weight is model.static_gate.weight
    y = model(x_d, x_s, 3)
    assert torch.isnan(y[0]).all() and torch.isfinite(y[1]).all()


def test_statics_that_need_a_gradient_keep_it_per_sample():
    """A NaN in one sample's dynamic inputs must not reach another sample's static gradient."""
    model = EALSTM(3, 4, hidden_size=5, implementation="kernel")
    x_d, x_s = make_inputs(2, 6, 3, 4)
    x_d[0, 2, 0] = float("nan")
    x_s.requires_grad_(True)
    assert gate_inputs(x_s, model.static_gate.weight, model.static_gate.bias)[0] is x_s
    model(x_d, x_s, 3).sum().backward()
    assert torch.isnan(x_s.grad[0]).all() and torch.isfinite(x_s.grad[1]).all()
