r"""The EA-LSTM layer as one call of PyTorch's LSTM kernel (oneDNN on CPU, cuDNN on GPU).

The EA-LSTM (eqs. 7-12) is a standard LSTM (eqs. 1-6) over the concatenated input
``[x_d[t], x_s]`` whose weights are structurally zero in three blocks:

* the input gate (``nn.LSTM`` gate ``i``) sees only ``x_s`` and has no recurrent term, so its
  pre-activation is ``W_i x_s + b_i`` at every step and ``sigmoid`` of it is eq. 7;
* the forget, cell and output gates ignore ``x_s``: their rows are ``[W | 0]`` and ``U``.

:func:`kernel_weights` builds these ``nn.LSTM`` weights from the EA-LSTM's own parameters on
every call (so parameters, ``state_dict`` and checkpoints keep one format and the zero blocks
are constants that never train), and :func:`ealstm_kernel` runs ``torch._VF.lstm`` on them.
Autograd through the weight construction returns exactly the gradients of eqs. 7-12; the
price is the wasted recurrent matmul of the input-gate block (4 instead of 3 gate blocks).

The input gate's columns need not be ``x_s`` itself: :func:`gate_inputs` gives a CPU batch smaller
than ``n_static`` its own one-hot rows as inputs and the pre-activations ``W_i x_s + b_i`` as
their weights, so the kernel's input matmul sees ``n_dynamic + batch`` columns instead of
``n_dynamic + n_static`` (7 instead of 32 at batch 2: 3 % of a training step).
"""

from __future__ import annotations

import warnings

import torch

from ealstm.models.recurrence import GATE_ORDER

#: Gate order of ``nn.LSTM``'s weight rows.
KERNEL_GATE_ORDER = ("i", "f", "g", "o")


def kernel_weights(
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias: torch.Tensor,
    static_weight: torch.Tensor,
    static_bias: torch.Tensor,
) -> list[torch.Tensor]:
    """``nn.LSTM`` weights ``[w_ih, w_hh, b_ih, b_hh]`` (gates i, f, g, o) of an EA-LSTM layer.

    Parameters
    ----------
    weight_ih, weight_hh, bias
        ``W``, ``U``, ``b`` of eqs. 8-10, gate blocks in :data:`GATE_ORDER`.
    static_weight, static_bias
        ``W_i`` ``[hidden, n_static]`` and ``b_i`` of eq. 7, or the input-gate weights of other
        gate inputs (:func:`gate_inputs`).

    Returns
    -------
    list[torch.Tensor]
        ``w_ih [4 hidden, n_dynamic + n_static]`` (input gate ``[0 | W_i]``, other gates
        ``[W | 0]``), ``w_hh [4 hidden, hidden]`` (input-gate block zero), ``b_ih`` (the biases)
        and ``b_hh`` (zero).
    """
    hidden, n_dynamic = weight_hh.shape[1], weight_ih.shape[1]
    n_static = static_weight.shape[1]
    w = dict(zip(GATE_ORDER, weight_ih.split(hidden), strict=True))
    u = dict(zip(GATE_ORDER, weight_hh.split(hidden), strict=True))
    b = dict(zip(GATE_ORDER, bias.split(hidden), strict=True))
    zeros_d = weight_ih.new_zeros(hidden, n_dynamic)
    zeros_s = weight_ih.new_zeros(3 * hidden, n_static)
    w_dyn = torch.cat([zeros_d, w["f"], w["g"], w["o"]])
    w_stat = torch.cat([static_weight, zeros_s])
    w_ih = torch.cat([w_dyn, w_stat], dim=1)
    w_hh = torch.cat([weight_hh.new_zeros(hidden, hidden), u["f"], u["g"], u["o"]])
    b_ih = torch.cat([static_bias, b["f"], b["g"], b["o"]])
    return [w_ih, w_hh, b_ih, bias.new_zeros(4 * hidden)]


def gate_inputs(x_s: torch.Tensor, static_weight: torch.Tensor, static_bias: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the inputs ``z`` and weights of the input-gate block: ``W z + b = W_i x_s + b_i``.

    Returns ``(x_s, W_i, b_i)``, or for a CPU batch smaller than ``n_static`` the identity
    ``[batch, batch]`` with ``((W_i x_s + b_i)^T, 0)``: the kernel's matmul then picks each
    sample's pre-activation row, times 1 plus zeros (exact in float32 on a CPU), and autograd
    through the weights returns the gradients of ``W_i`` and ``b_i``. The statics are kept
    where the one-hot rows would mix samples through ``0 * nan = nan``: a non-finite
    pre-activation, and statics that need their own gradient (a non-finite gate gradient of
    one sample would reach every sample's; training never asks for it). GPUs keep them too:
    the check would wait for the device, cuDNN may round the matmul (TF32), and its input
    matmul is one large call anyway.
    """
    batch, n_static = x_s.shape
    if batch >= n_static or x_s.device.type != "cpu" or x_s.requires_grad:
        return x_s, static_weight, static_bias
    pre = torch.nn.functional.linear(x_s, static_weight, static_bias)  # [batch, hidden]
    if not bool(torch.isfinite(pre).all()):
        return x_s, static_weight, static_bias
    one_hot = torch.eye(batch, dtype=x_s.dtype, device=x_s.device)
    return one_hot, pre.T, static_bias.new_zeros(static_bias.shape)


def ealstm_kernel(
    x_d: torch.Tensor, z: torch.Tensor, weights: list[torch.Tensor], n_out: int
) -> torch.Tensor:
    """Hidden states of eqs. 7-12 from one LSTM-kernel call.

    Parameters
    ----------
    x_d
        Dynamic inputs ``[batch, time, n_dynamic]``.
    z
        Inputs of the input gate ``[batch, n]``: the statics or one-hot rows
        (:func:`gate_inputs`).
    weights
        Output of :func:`kernel_weights` for these inputs.
    n_out
        Number of final hidden states to return.

    Returns
    -------
    torch.Tensor
        ``h[time - n_out + 1], ..., h[time]`` as ``[n_out, batch, hidden]`` (time-major, as
        :func:`ealstm.models.recurrence.ealstm_recurrence`).
    """
    steps, batch, hidden = x_d.shape[1], x_d.shape[0], weights[1].shape[1]
    x = torch.cat([x_d.transpose(0, 1), z.unsqueeze(0).expand(steps, -1, -1)], dim=2)
    h0 = x_d.new_zeros(1, batch, hidden)
    with warnings.catch_warnings():
        # cuDNN copies weights that are not one flat buffer; ours are rebuilt every call anyway
        warnings.filterwarnings("ignore", message="RNN module weights are not part")
        out = torch._VF.lstm(x, (h0, h0), weights, True, 1, 0.0, False, False, False)[0]
    return out[steps - n_out:]
