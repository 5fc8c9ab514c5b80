"""EA-LSTM against a naive per-step cell written straight from the paper's eqs. 7-12."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.func import functional_call

from ealstm.models import EALSTM
from ealstm.models.recurrence import GATE_ORDER, Workspace, ealstm_recurrence

TOL = {"rtol": 1e-4, "atol": 1e-5}


def naive_lstm_layer(x: torch.Tensor, p: dict[str, torch.Tensor], layer: int) -> torch.Tensor:
    """Standard LSTM (eqs. 1-6) with nn.LSTM's parameters (gates i, f, g, o); [B, T, H]."""
    w_ih, w_hh = p[f"upper_layers.weight_ih_l{layer}"], p[f"upper_layers.weight_hh_l{layer}"]
    b = p[f"upper_layers.bias_ih_l{layer}"] + p[f"upper_layers.bias_hh_l{layer}"]
    hidden = w_hh.shape[1]
    h = c = x.new_zeros(x.shape[0], hidden)
    out = []
    for t in range(x.shape[1]):
        a_i, a_f, a_g, a_o = (x[:, t] @ w_ih.T + h @ w_hh.T + b).split(hidden, dim=1)
        c = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
        h = torch.sigmoid(a_o) * torch.tanh(c)
        out.append(h)
    return torch.stack(out, dim=1)


def naive_ealstm(
    p: dict[str, torch.Tensor], x_d: torch.Tensor, x_s: torch.Tensor, n: int, num_layers: int = 1,
    dropout: float = 0.0, training: bool = False,
) -> torch.Tensor:
    """Eqs. 7-12 one step at a time, then extra LSTM layers, dropout and the head; [B, n]."""
    hidden = p["weight_hh"].shape[1]
    w = dict(zip(GATE_ORDER, p["weight_ih"].split(hidden), strict=True))
    u = dict(zip(GATE_ORDER, p["weight_hh"].split(hidden), strict=True))
    b = dict(zip(GATE_ORDER, p["bias"].split(hidden), strict=True))
    i = torch.sigmoid(x_s @ p["static_gate.weight"].T + p["static_gate.bias"])  # eq. 7
    h = c = x_d.new_zeros(x_d.shape[0], hidden)
    hs = []
    for t in range(x_d.shape[1]):
        x = x_d[:, t]
        f = torch.sigmoid(x @ w["f"].T + h @ u["f"].T + b["f"])  # eq. 8
        g = torch.tanh(x @ w["g"].T + h @ u["g"].T + b["g"])  # eq. 9
        o = torch.sigmoid(x @ w["o"].T + h @ u["o"].T + b["o"])  # eq. 10
        c = f * c + i * g  # eq. 11
        h = o * torch.tanh(c)  # eq. 12
        hs.append(h)
    seq = torch.stack(hs, dim=1)
    for layer in range(num_layers - 1):
        seq = naive_lstm_layer(seq, p, layer)
    last = seq[:, -n:]
    if training and dropout:  # keep each unit with probability 1 - p, scale by 1 / (1 - p)
        last = last * (torch.rand_like(last) < 1 - dropout) / (1 - dropout)
    return (last @ p["head.weight"].T + p["head.bias"]).squeeze(-1)


def randomize_(model: torch.nn.Module, seed: int = 0) -> None:
    """Move parameters away from the structured init so every term of the gradient matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def make_inputs(batch: int, steps: int, n_dyn: int, n_stat: int, dtype=torch.float32, seed=1):
    gen = torch.Generator().manual_seed(seed)
    x_d = torch.randn(batch, steps, n_dyn, generator=gen, dtype=dtype)
    x_s = torch.randn(batch, n_stat, generator=gen, dtype=dtype)
    return x_d, x_s


CASES = [  # batch, time, hidden, predict_last_n, num_layers
    (1, 1, 1, 1, 1),
    (3, 5, 4, 1, 1),
    (4, 9, 8, 3, 1),
    (2, 6, 5, 6, 1),
    (3, 7, 4, 2, 2),
    (2, 5, 3, 5, 3),
]


@pytest.mark.parametrize(("batch", "steps", "hidden", "n", "layers"), CASES)
@pytest.mark.parametrize("perturb", [False, True])
@pytest.mark.parametrize("impl", ["loop", "kernel"])
def test_matches_naive_cell_outputs_and_gradients(batch, steps, hidden, n, layers, perturb, impl):
    torch.manual_seed(0)
    model = EALSTM(3, 4, hidden_size=hidden, num_layers=layers, dropout=0.0, implementation=impl)
    if perturb:
        randomize_(model)
    x_d, x_s = make_inputs(batch, steps, 3, 4)
    x_d.requires_grad_(True)
    x_s.requires_grad_(True)
    ref_p = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
    ref_xd = x_d.detach().clone().requires_grad_(True)
    ref_xs = x_s.detach().clone().requires_grad_(True)

    y = model(x_d, x_s, predict_last_n=n)
    y_ref = naive_ealstm(ref_p, ref_xd, ref_xs, n, num_layers=layers)
    assert y.shape == (batch, n)
    torch.testing.assert_close(y, y_ref, **TOL)

    weights = torch.randn(batch, n)
    (y * weights).sum().backward()
    (y_ref * weights).sum().backward()
    torch.testing.assert_close(x_d.grad, ref_xd.grad, **TOL)
    torch.testing.assert_close(x_s.grad, ref_xs.grad, **TOL)
    for name, p in model.named_parameters():
        if not p.requires_grad:  # nn.LSTM's second bias, fixed at zero (one bias, as the paper)
            assert "bias_hh" in name and p.grad is None
            continue
        torch.testing.assert_close(p.grad, ref_p[name].grad, **TOL, msg=lambda m, k=name: k + m)


@pytest.mark.parametrize("impl", ["loop", "kernel"])
def test_typical_size_matches_naive_cell(impl):
    """Outputs and float32 gradients at a typical size against a float64 naive reference.

    Gradients of ~10 accumulated over 40 float32 steps carry rounding errors of ~1e-4 of their
    largest element (the naive float32 cell as much as this one), so the tolerance scales with it;
    the LSTM kernel (oneDNN) sums in another order and reaches ~3e-4. Exactness itself is checked
    in float64, where both paths agree with the naive cell to ~1e-12 of the largest gradient.
    """
    torch.manual_seed(0)  # the init draws from the global generator: same draw in any test order
    model = EALSTM(5, 27, hidden_size=32, dropout=0.0, implementation=impl)
    randomize_(model)
    x_d, x_s = make_inputs(16, 40, 5, 27)
    ref_p = {k: v.detach().double().clone().requires_grad_(True)
             for k, v in model.named_parameters()}
    y, y_ref = model(x_d, x_s), naive_ealstm(ref_p, x_d.double(), x_s.double(), 1)
    torch.testing.assert_close(y.double(), y_ref, **TOL)
    y.sum().backward()
    y_ref.sum().backward()
    scale = {"loop": 2e-4, "kernel": 5e-4}[impl]
    for name, p in model.named_parameters():
        ref = ref_p[name].grad
        torch.testing.assert_close(p.grad.double(), ref, rtol=1e-4,
                                   atol=scale * float(ref.abs().max()), msg=lambda m, k=name: k + m)
    model.double().zero_grad()
    model(x_d.double(), x_s.double()).sum().backward()
    for name, p in model.named_parameters():
        ref = ref_p[name].grad
        torch.testing.assert_close(p.grad, ref, rtol=0, atol=1e-10 * float(ref.abs().max()))


@pytest.mark.parametrize(("n", "layers"), [(1, 1), (3, 1), (2, 2)])
@pytest.mark.parametrize("impl", ["loop", "kernel"])
def test_gradcheck_float64(n, layers, impl):
    torch.manual_seed(0)
    model = EALSTM(2, 3, hidden_size=3, num_layers=layers, dropout=0.0,
                   implementation=impl).double()
    randomize_(model)
    names = [k for k, _ in model.named_parameters()]
    x_d, x_s = make_inputs(2, 4, 2, 3, dtype=torch.float64)
    inputs = [x_d, x_s, *(p.detach().clone() for p in model.parameters())]
    inputs = [t.requires_grad_(True) for t in inputs]

    def f(x_d, x_s, *params):
        return functional_call(model, dict(zip(names, params, strict=True)), (x_d, x_s, n))

    assert torch.autograd.gradcheck(f, inputs)


def test_recurrence_gradcheck_float64():
    gen = torch.Generator().manual_seed(3)
    x_d = torch.randn(2, 5, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    i = torch.rand(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(9, 3 + 2 + 1, generator=gen, dtype=torch.float64, requires_grad=True)
    workspace = Workspace()
    assert torch.autograd.gradcheck(lambda a, b, c: ealstm_recurrence(a, b, c, 3, workspace),
                                    (x_d, i, w))


@pytest.mark.parametrize("impl", ["loop", "kernel"])
def test_eval_path_equals_training_path(impl):
    model = EALSTM(3, 4, hidden_size=6, num_layers=2, dropout=0.4, implementation=impl).eval()
    randomize_(model)
    x_d, x_s = make_inputs(5, 8, 3, 4)
    with torch.no_grad():
        y_eval = model(x_d, x_s, predict_last_n=3)
    y_train = model(x_d, x_s, predict_last_n=3)
    assert y_train.requires_grad and not y_eval.requires_grad
    torch.testing.assert_close(y_eval, y_train, rtol=0, atol=1e-6)


def test_second_backward_and_interleaved_graphs_are_exact():
    model = EALSTM(3, 4, hidden_size=5, dropout=0.0, implementation="loop")
    randomize_(model)
    x_a, x_s = make_inputs(3, 6, 3, 4, seed=1)
    x_b, _ = make_inputs(3, 6, 3, 4, seed=2)
    y_a = model(x_a, x_s, 2)
    y_b = model(x_b, x_s, 2)  # two graphs alive: the workspace must not mix their buffers
    grads_b = torch.autograd.grad(y_b.sum(), list(model.parameters()))
    first = torch.autograd.grad(y_a.sum(), list(model.parameters()), retain_graph=True)
    model(x_b, x_s, 2).sum().backward()  # reuses the recycled buffers
    second = torch.autograd.grad(y_a.sum(), list(model.parameters()))
    ref_p = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
    ref_a = torch.autograd.grad(naive_ealstm(ref_p, x_a, x_s, 2).sum(), list(ref_p.values()))
    ref_b = torch.autograd.grad(naive_ealstm(ref_p, x_b, x_s, 2).sum(), list(ref_p.values()))
    for g1, g2, r_a, g_b, r_b in zip(first, second, ref_a, grads_b, ref_b, strict=True):
        torch.testing.assert_close(g1, r_a, **TOL)
        torch.testing.assert_close(g2, r_a, **TOL)
        torch.testing.assert_close(g_b, r_b, **TOL)


def test_init_follows_the_papers_code():
    hidden, n_dyn, n_stat = 6, 3, 8
    model = EALSTM(n_dyn, n_stat, hidden_size=hidden, num_layers=2, initial_forget_bias=3.0)
    eye = torch.eye(hidden)
    for block in model.weight_hh.split(hidden):
        torch.testing.assert_close(block, eye)
    w_ih = model.weight_ih  # ONE orthogonal [3 * hidden, n_dyn] matrix: orthonormal columns
    torch.testing.assert_close(w_ih.T @ w_ih, torch.eye(n_dyn), atol=1e-5, rtol=0)
    w_s = model.static_gate.weight  # [hidden, n_stat] with n_stat > hidden: orthonormal rows
    torch.testing.assert_close(w_s @ w_s.T, eye, atol=1e-5, rtol=0)
    expected_bias = torch.zeros(3 * hidden)
    expected_bias[GATE_ORDER.index("f") * hidden:][:hidden] = 3.0
    torch.testing.assert_close(model.bias.detach(), expected_bias)
    assert torch.count_nonzero(model.static_gate.bias) == 0
    lstm = model.upper_layers
    for block in lstm.weight_hh_l0.split(hidden):
        torch.testing.assert_close(block, eye)
    w_up = lstm.weight_ih_l0  # [4 * hidden, hidden], one orthogonal matrix
    torch.testing.assert_close(w_up.T @ w_up, eye, atol=1e-5, rtol=0)
    bias_f = lstm.bias_ih_l0[hidden: 2 * hidden]  # nn.LSTM gate order i, f, g, o
    assert torch.all(bias_f == 3.0)
    assert torch.count_nonzero(lstm.bias_ih_l0) == hidden
    assert torch.count_nonzero(lstm.bias_hh_l0) == 0
    assert not lstm.bias_hh_l0.requires_grad  # one bias vector, as the paper's code


def test_input_weights_are_one_orthogonal_matrix_not_one_per_gate():
    """Per-gate blocks would make every input column sqrt(3) = 1.7x as long (norm sqrt(3))."""
    torch.manual_seed(3)
    model = EALSTM(5, 27, hidden_size=64)
    column_norms = model.weight_ih.detach().norm(dim=0)
    torch.testing.assert_close(column_norms, torch.ones(5), atol=1e-5, rtol=0)
    assert float(model.weight_ih.detach().norm()) == pytest.approx(5 ** 0.5, abs=1e-4)


def test_input_gate_is_eq7_and_computed_once_from_statics(monkeypatch):
    model = EALSTM(3, 4, hidden_size=5, implementation="loop")
    randomize_(model)
    x_d, x_s = make_inputs(2, 6, 3, 4)
    expected = torch.sigmoid(x_s @ model.static_gate.weight.T + model.static_gate.bias)
    torch.testing.assert_close(model.input_gate(x_s), expected)
    assert model.input_gate(x_s).shape == (2, 5)

    calls = []
    original = model.input_gate

    def spy(x):
        calls.append(original(x).detach())
        return calls[-1]

    monkeypatch.setattr(model, "input_gate", spy)
    model(x_d, x_s, predict_last_n=6)
    model(x_d * 3.0 + 1.0, x_s, predict_last_n=6)
    assert len(calls) == 2  # once per sequence, not once per time step
    torch.testing.assert_close(calls[0], expected.detach())
    torch.testing.assert_close(calls[1], calls[0])


def test_input_gate_rejects_bad_statics():
    with pytest.raises(ValueError, match=r"x_s must have shape \[batch, 4\]"):
        EALSTM(3, 4, hidden_size=5).input_gate(torch.zeros(2, 5))


@pytest.mark.parametrize("impl", ["loop", "kernel"])
def test_dropout_acts_on_last_hidden_states_in_train_mode_only(impl):
    model = EALSTM(3, 4, hidden_size=16, dropout=0.5, implementation=impl)
    randomize_(model)
    x_d, x_s = make_inputs(4, 6, 3, 4)
    p = {k: v.detach() for k, v in model.named_parameters()}
    model.eval()
    torch.testing.assert_close(model(x_d, x_s, 2), model(x_d, x_s, 2))
    torch.testing.assert_close(model(x_d, x_s, 2), naive_ealstm(p, x_d, x_s, 2), **TOL)
    model.train()
    torch.manual_seed(7)
    y1 = model(x_d, x_s, 2)
    torch.manual_seed(7)
    ref = naive_ealstm(p, x_d, x_s, 2, dropout=0.5, training=True)
    torch.testing.assert_close(y1, ref, **TOL)
    assert not torch.allclose(y1, model(x_d, x_s, 2))


@pytest.mark.parametrize(
    ("x_d_shape", "x_s_shape", "n", "match"),
    [
        ((2, 5), (2, 4), 1, r"x_d must have shape \[batch, time, 3\]"),
        ((2, 5, 2), (2, 4), 1, r"x_d must have shape \[batch, time, 3\]"),
        ((2, 5, 3), None, 1, "pass x_s"),
        ((2, 5, 3), (2, 5), 1, r"x_s must have shape \[2, 4\]"),
        ((2, 5, 3), (3, 4), 1, r"x_s must have shape \[2, 4\]"),
        ((2, 5, 3), (2, 4), 0, r"predict_last_n must be an int in \[1, 5\]"),
        ((2, 5, 3), (2, 4), 6, r"predict_last_n must be an int in \[1, 5\]"),
    ],
)
def test_bad_shapes_raise_clear_errors(x_d_shape, x_s_shape, n, match):
    model = EALSTM(3, 4, hidden_size=5)
    x_s = None if x_s_shape is None else torch.zeros(x_s_shape)
    with pytest.raises(ValueError, match=match):
        model(torch.zeros(x_d_shape), x_s, predict_last_n=n)


def test_needs_static_inputs():
    with pytest.raises(ValueError, match="n_static >= 1"):
        EALSTM(5, 0)


def test_workspace_is_not_state_and_not_copied():
    model = EALSTM(3, 4, hidden_size=5, implementation="loop")
    x_d, x_s = make_inputs(2, 4, 3, 4)
    model(x_d, x_s).sum().backward()
    assert model.workspace._free  # recycled after the backward pass
    assert all(not k.startswith("workspace") for k in model.state_dict())
    assert not copy.deepcopy(model).workspace._free
    model.workspace.clear()
    assert not model.workspace._free
