r"""The EA-LSTM time loop as one autograd node, with an exact hand-written backward pass.

Implements eqs. 8-12 of the paper for a precomputed input gate ``i`` (eq. 7):

* each step is one matmul ``[h[t-1], x_d[t], 1] @ [U, W, b]^T`` plus in-place element-wise ops
  on preallocated time-major buffers (``tanh(a)`` as ``2 sigmoid(2a) - 1``, faster on CPU);
* the backward pass runs only the ``dh[t-1] = dgates[t] @ U`` recurrence and the fused gate
  derivatives per step, writing ``dgates`` over the stored gates; the weight gradient
  ``d[U, W, b] = dgates^T @ [h[t-1], x_d[t], 1]`` is one large matmul after the loop;
* the large buffers are recycled between batches through a :class:`Workspace`, because first
  touching fresh memory costs about a third of a CPU training step.

Without gradients (evaluation) a lean loop keeps only two time steps of state.
"""

from __future__ import annotations

import torch
from torch.autograd.function import FunctionCtx, once_differentiable

#: Gate blocks (rows) of ``weight_ih``/``weight_hh``/``bias``: forget, output, cell input.
#: f and o are contiguous, so one sigmoid covers both.
GATE_ORDER = ("f", "o", "g")

_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input
_tanh_backward = torch.ops.aten.tanh_backward.grad_input

Buffers = dict[str, torch.Tensor]


class Workspace:
    """Large training buffers kept between batches (at most one set).

    :meth:`take` returns the stored buffer when shape, dtype and device match, otherwise a new
    one. Copies of a model (``deepcopy``, pickling) start with an empty workspace.
    """

    def __init__(self) -> None:
        self._free: Buffers = {}

    def take(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """Return a buffer of ``shape`` with the dtype and device of ``like``."""
        buf = self._free.pop(name, None)
        if buf is not None and buf.shape == shape and buf.dtype == like.dtype \
                and buf.device == like.device:
            return buf
        return like.new_empty(shape)

    def give(self, buffers: Buffers) -> None:
        """Store buffers for the next :meth:`take`."""
        self._free.update(buffers)

    def clear(self) -> None:
        """Free all stored buffers."""
        self._free.clear()

    def __deepcopy__(self, memo: dict) -> Workspace:
        return Workspace()

    def __getstate__(self) -> dict:
        return {"_free": {}}


def _tanh(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out = tanh(x)`` as ``2 sigmoid(2x) - 1``; much faster than ``torch.tanh`` on CPU."""
    return torch.mul(x, 2.0, out=out).sigmoid_().mul_(2.0).sub_(1.0)


def _cell_step(
    z_t: torch.Tensor,
    weight_cat: torch.Tensor,
    i: torch.Tensor,
    c_prev: torch.Tensor,
    gates: torch.Tensor,
    c_next: torch.Tensor,
    tanh_c: torch.Tensor,
    h_next: torch.Tensor,
) -> None:
    """One EA-LSTM step (eqs. 8-12) from ``z_t = [h[t-1], x_d[t], 1]`` into the given buffers.

    ``gates [batch, 3 * hidden]`` receives the activated f, o, g; ``c_next``, ``tanh_c`` and
    ``h_next`` ``[batch, hidden]`` receive ``c[t]``, ``tanh(c[t])`` and ``h[t]``.
    """
    hidden = c_prev.shape[1]
    torch.mm(z_t, weight_cat.t(), out=gates)
    g = gates[:, 2 * hidden:]
    g.mul_(2.0)
    gates.sigmoid_()  # f, o (eqs. 8, 10)
    g.mul_(2.0).sub_(1.0)  # g = 2 sigmoid(2a) - 1 = tanh(a) (eq. 9)
    torch.mul(gates[:, :hidden], c_prev, out=c_next)
    c_next.addcmul_(i, g)  # eq. 11
    _tanh(c_next, out=tanh_c)
    torch.mul(gates[:, hidden: 2 * hidden], tanh_c, out=h_next)  # eq. 12


def _init_rows(z: torch.Tensor, x_d: torch.Tensor | None, hidden: int) -> None:
    """Fill ``z [slots, batch, hidden + n_dynamic + 1]``: ``h[0] = 0``, inputs, bias column 1."""
    z[..., -1] = 1.0
    z[0, :, :hidden] = 0.0
    if x_d is not None:
        z[: x_d.shape[1], :, hidden:-1] = x_d.transpose(0, 1)


def _forward_train(
    x_d: torch.Tensor, i: torch.Tensor, weight_cat: torch.Tensor, workspace: Workspace
) -> Buffers:
    """Eqs. 8-12 over all steps, keeping every step's state for the backward pass.

    Returns
    -------
    Buffers
        Time-major, for 0-based steps ``t``: ``z [time + 1, batch, hidden + n_dynamic + 1]``
        with ``z[t] = [h before step t, x_d[:, t], 1]`` (so step ``t``'s hidden state is
        ``z[t + 1, :, :hidden]``), activated ``gates [time, batch, 3 * hidden]``, cell states
        ``c [time + 1, batch, hidden]`` (``c[0] = 0``, step ``t`` writes ``c[t + 1]``) and
        ``tanh_c [time, batch, hidden]``.
    """
    batch, steps, n_dynamic = x_d.shape
    hidden = i.shape[1]
    shapes = {"z": (steps + 1, batch, hidden + n_dynamic + 1), "gates": (steps, batch, 3 * hidden),
              "c": (steps + 1, batch, hidden), "tanh_c": (steps, batch, hidden)}
    buf = {name: workspace.take(name, shape, x_d) for name, shape in shapes.items()}
    _init_rows(buf["z"], x_d, hidden)
    buf["c"][0] = 0.0
    z, gates, c, tanh_c = (buf[name].unbind(0) for name in shapes)
    for t in range(steps):
        _cell_step(z[t], weight_cat, i, c[t], gates[t], c[t + 1], tanh_c[t], z[t + 1][:, :hidden])
    return buf


def _forward_eval(
    x_d: torch.Tensor, i: torch.Tensor, weight_cat: torch.Tensor, n_out: int
) -> torch.Tensor:
    """Eqs. 8-12 without autograd, two steps of state; returns ``h`` ``[n_out, batch, hidden]``."""
    batch, steps, _ = x_d.shape
    hidden = i.shape[1]
    z = x_d.new_empty(2, batch, hidden + x_d.shape[2] + 1)
    _init_rows(z, None, hidden)
    c = x_d.new_zeros(2, batch, hidden)
    gates, tanh_c = x_d.new_empty(batch, 3 * hidden), x_d.new_empty(batch, hidden)
    out = x_d.new_empty(n_out, batch, hidden)
    for t, x_t in enumerate(x_d.unbind(1)):
        now, nxt = t % 2, (t + 1) % 2
        z[now, :, hidden:-1] = x_t
        _cell_step(z[now], weight_cat, i, c[now], gates, c[nxt], tanh_c, z[nxt, :, :hidden])
        if t >= steps - n_out:
            out[t - steps + n_out] = z[nxt, :, :hidden]
    return out


def _backward_through_time(
    grad_out: torch.Tensor, i: torch.Tensor, weight_cat: torch.Tensor, buf: Buffers
) -> torch.Tensor:
    """Back-propagation through time of eqs. 8-12, in place.

    Parameters
    ----------
    grad_out
        Gradient w.r.t. the last ``n_out`` hidden states, ``[n_out, batch, hidden]``.
    i, weight_cat
        Input gate ``[batch, hidden]`` and ``[U, W, b]`` ``[3 * hidden, hidden + n_dynamic + 1]``.
    buf
        Buffers of :func:`_forward_train`; ``buf["gates"]`` is overwritten with the gradient
        w.r.t. the gate pre-activations, ``[time, batch, 3 * hidden]``.

    Returns
    -------
    torch.Tensor
        Gradient w.r.t. the input gate ``i``, ``[batch, hidden]``.
    """
    steps, batch, three_h = buf["gates"].shape
    hidden = three_h // 3
    first_out = steps - grad_out.shape[0]
    u = weight_cat[:, :hidden]
    new = grad_out.new_empty
    dh, tmp, d_fo = new(batch, hidden), new(batch, hidden), new(batch, 2 * hidden)
    dc, di = grad_out.new_zeros(batch, hidden), grad_out.new_zeros(batch, hidden)
    gates, c, tanh_c = buf["gates"].unbind(0), buf["c"].unbind(0), buf["tanh_c"].unbind(0)
    for t in range(steps - 1, -1, -1):
        g_t = gates[t]
        f, o, g = g_t[:, :hidden], g_t[:, hidden: 2 * hidden], g_t[:, 2 * hidden:]
        if t == steps - 1:
            dh.copy_(grad_out[-1])
        elif t >= first_out:  # gates[t + 1] already holds dL/d(pre-activations) of step t + 1
            torch.addmm(grad_out[t - first_out], gates[t + 1], u, out=dh)
        else:
            torch.mm(gates[t + 1], u, out=dh)
        torch.mul(dh, tanh_c[t], out=d_fo[:, hidden:])  # dL/do (eq. 12)
        torch.mul(dh, o, out=tmp)  # dL/dtanh(c[t])
        dc.add_(_tanh_backward(tmp, tanh_c[t], grad_input=tmp))  # dL/dc[t]
        di.addcmul_(dc, g)  # dL/di (eq. 11)
        _tanh_backward(torch.mul(dc, i, out=tmp), g, grad_input=g)  # dL/d(a_g) (eq. 9)
        torch.mul(dc, c[t], out=d_fo[:, :hidden])  # dL/df (eq. 11)
        dc.mul_(f)  # dL/dc[t-1]
        _sigmoid_backward(d_fo, g_t[:, : 2 * hidden], grad_input=g_t[:, : 2 * hidden])
    return di


class _EALSTMRecurrence(torch.autograd.Function):
    """EA-LSTM time loop (eqs. 8-12) as one autograd node with a hand-written BPTT."""

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x_d: torch.Tensor,
        i: torch.Tensor,
        weight_cat: torch.Tensor,
        n_out: int,
        workspace: Workspace,
    ) -> torch.Tensor:
        buf = _forward_train(x_d, i, weight_cat, workspace)
        ctx.save_for_backward(x_d, i, weight_cat)
        ctx.buffers, ctx.workspace = buf, workspace
        z = buf["z"]
        return z[z.shape[0] - n_out:, :, : i.shape[1]].contiguous()

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x_d, i, weight_cat = ctx.saved_tensors
        buf, ctx.buffers = ctx.buffers, None
        if buf is None:  # a second backward (retain_graph=True): the buffers were recycled
            buf = _forward_train(x_d, i, weight_cat, Workspace())
        di = _backward_through_time(grad_out, i, weight_cat, buf)
        steps, batch, three_h = buf["gates"].shape
        d_gates = buf["gates"].view(steps * batch, three_h)
        d_x = d_weight = None
        if ctx.needs_input_grad[0]:  # dL/dx_d[t] = dgates[t] @ W, all steps in one matmul
            w = weight_cat[:, i.shape[1]: -1].contiguous()
            d_x = (d_gates @ w).view(steps, batch, -1).transpose(0, 1)
        if ctx.needs_input_grad[2]:  # d[U, W, b] = sum_t dgates[t]^T [h[t-1], x_d[t], 1]
            d_weight = d_gates.t() @ buf["z"][:steps].view(steps * batch, -1)
        ctx.workspace.give(buf)
        return d_x, di if ctx.needs_input_grad[1] else None, d_weight, None, None


def ealstm_recurrence(
    x_d: torch.Tensor,
    i: torch.Tensor,
    weight_cat: torch.Tensor,
    n_out: int,
    workspace: Workspace | None = None,
) -> torch.Tensor:
    """Hidden states of eqs. 8-12, differentiable w.r.t. all tensor inputs.

    Parameters
    ----------
    x_d
        Dynamic inputs ``[batch, time, n_dynamic]``.
    i
        Input gate of eq. 7, ``[batch, hidden]``.
    weight_cat
        ``[U, W, b]`` of eqs. 8-10 side by side, ``[3 * hidden, hidden + n_dynamic + 1]``,
        gate blocks (rows) in :data:`GATE_ORDER`.
    n_out
        Number of final hidden states to return, ``1 <= n_out <= time``.
    workspace
        Where the training buffers are recycled between calls; a fresh one if None.

    Returns
    -------
    torch.Tensor
        ``h[time - n_out + 1], ..., h[time]`` as ``[n_out, batch, hidden]`` (time-major).
    """
    needs_grad = x_d.requires_grad or i.requires_grad or weight_cat.requires_grad
    if torch.is_grad_enabled() and needs_grad:
        return _EALSTMRecurrence.apply(x_d, i, weight_cat, n_out, workspace or Workspace())
    return _forward_eval(x_d, i, weight_cat, n_out)
