r"""Entity-Aware LSTM (paper eqs. 7-12): a hand-written BPTT loop or one LSTM-kernel call.

The EA-LSTM cell computes its input gate once per sequence from the static attributes,

.. math::

    i &= \sigma(W_i x_s + b_i)                                  && (7) \\
    f[t] &= \sigma(W_f x_d[t] + U_f h[t-1] + b_f)               && (8) \\
    g[t] &= \tanh(W_g x_d[t] + U_g h[t-1] + b_g)                && (9) \\
    o[t] &= \sigma(W_o x_d[t] + U_o h[t-1] + b_o)               && (10) \\
    c[t] &= f[t] \odot c[t-1] + i \odot g[t]                    && (11) \\
    h[t] &= o[t] \odot \tanh(c[t])                              && (12)

with ``h[0] = c[0] = 0``. Two exact implementations of the time loop, chosen per call by
:func:`choose_implementation` (``implementation="auto"``) or fixed by the caller:

* ``loop``: one autograd node with a hand-written backward pass
  (:mod:`ealstm.models.recurrence`), the fastest on CPUs at large batches;
* ``kernel``: one call of PyTorch's LSTM kernel with structurally zero weight blocks
  (:mod:`ealstm.models.kernel`), free of per-step Python overhead: the fastest at small CPU
  batches and on GPUs (cuDNN).

Both read the same parameters, so a ``state_dict`` does not depend on the implementation that
trained it (``benchmarks/results/ealstm_speed_small.md``).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from ealstm.models.dropout import OutputDropout
from ealstm.models.kernel import ealstm_kernel, gate_inputs, kernel_weights
from ealstm.models.lstm import check_inputs, init_gate_weights_, init_torch_lstm_
from ealstm.models.recurrence import Workspace, ealstm_recurrence

log = logging.getLogger(__name__)

IMPLEMENTATIONS = ("auto", "loop", "kernel")
#: On a CPU the kernel is faster than the hand loop up to about ``batch * hidden`` = 2048-3072:
#: at 256 cells x 544 days loop/kernel time was 1.4-1.6x at batch 4, 1.2x at 8, 1.0-1.1x at 12
#: and 0.8-0.9x at 16, with 1 and 2 threads (2-core AMD EPYC, torch 2.13); at 64 cells the
#: kernel won at batch 16 and lost at 64.
CPU_KERNEL_MAX_WORK = 2048


def _check_implementation(implementation: str) -> None:
    """Raise ``ValueError`` unless ``implementation`` is one of :data:`IMPLEMENTATIONS`."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got "
                         f"{implementation!r}")


def choose_implementation(implementation: str, batch: int, hidden: int,
                          device: torch.device) -> str:
    """Resolve ``auto`` to ``kernel`` or ``loop`` by the batch shape and the device.

    GPUs always get the kernel (cuDNN: the hand loop is launch-bound there); CPUs get the kernel
    while the step is overhead-bound (``batch * hidden <= CPU_KERNEL_MAX_WORK``), else the
    hand loop. ``loop`` and ``kernel`` are returned unchanged.
    """
    _check_implementation(implementation)
    if implementation != "auto":
        return implementation
    if device.type != "cpu":
        return "kernel"
    return "kernel" if batch * hidden <= CPU_KERNEL_MAX_WORK else "loop"


class EALSTM(nn.Module):
    """Entity-Aware LSTM (eqs. 7-12) with a dropout + linear head.

    The first layer is the EA-LSTM cell; with ``num_layers > 1`` standard LSTM layers
    (``nn.LSTM``) follow on its hidden sequence.

    Parameters
    ----------
    n_dynamic
        Number of dynamic (meteorological) inputs ``x_d[t]``.
    n_static
        Number of static catchment attributes ``x_s`` (at least 1: they drive eq. 7).
    hidden_size
        Number of memory cells.
    num_layers
        Number of stacked recurrent layers (the first is the EA-LSTM).
    dropout
        Dropout rate on the hidden states fed to the head (training mode only).
    initial_forget_bias
        Initial value of the forget-gate bias ``b_f``.
    implementation
        ``auto`` (default: :func:`choose_implementation` per call), ``loop`` or ``kernel``.

    Attributes
    ----------
    weight_ih, weight_hh, bias
        ``W``, ``U`` and ``b`` of eqs. 8-10, ``[3 * hidden, n_dynamic]``,
        ``[3 * hidden, hidden]`` and ``[3 * hidden]``; gate blocks in the order of
        :data:`ealstm.models.recurrence.GATE_ORDER`.
    static_gate
        ``nn.Linear`` holding ``W_i`` and ``b_i`` of eq. 7.
    workspace
        Training buffers recycled between batches (about ``6 * time * batch * hidden`` floats,
        425 MB at the paper's size); ``model.workspace.clear()`` frees them.
    last_implementation
        The implementation the latest forward call ran (``loop`` or ``kernel``; None before).
    """

    def __init__(
        self,
        n_dynamic: int,
        n_static: int,
        hidden_size: int = 256,
        num_layers: int = 1,
        dropout: float = 0.4,
        initial_forget_bias: float = 5.0,
        implementation: str = "auto",
    ) -> None:
        super().__init__()
        _check_implementation(implementation)
        if n_dynamic < 1 or n_static < 1:
            raise ValueError(f"the EA-LSTM needs n_dynamic >= 1 and n_static >= 1 (eq. 7 computes "
                             f"the input gate from statics), got {n_dynamic} and {n_static}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.n_dynamic, self.n_static, self.hidden_size = n_dynamic, n_static, hidden_size
        self.initial_forget_bias = initial_forget_bias
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, n_dynamic))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(3 * hidden_size))
        self.static_gate = nn.Linear(n_static, hidden_size)
        self.upper_layers = (nn.LSTM(hidden_size, hidden_size, num_layers=num_layers - 1)
                             if num_layers > 1 else None)
        self.dropout = OutputDropout(p=dropout)
        self.head = nn.Linear(hidden_size, 1)
        self.workspace = Workspace()
        self.implementation = implementation
        self.last_implementation: str | None = None
        self._logged: set[str] = set()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise as the paper's code: orthogonal input/static weights, identity ``U``.

        ``weight_ih`` (all three gates) is one orthogonal matrix, ``W_i`` another; biases are
        zero except the forget gate's, which is ``initial_forget_bias``; the head keeps
        PyTorch's default initialisation. Upper ``nn.LSTM`` layers: see
        :func:`~ealstm.models.lstm.init_torch_lstm_`.
        """
        init_gate_weights_(self.weight_ih, self.weight_hh, n_gates=3)
        with torch.no_grad():
            nn.init.orthogonal_(self.static_gate.weight)
            self.static_gate.bias.zero_()
            self.bias.zero_()
            self.bias[: self.hidden_size] = self.initial_forget_bias
        if self.upper_layers is not None:
            init_torch_lstm_(self.upper_layers, self.initial_forget_bias)

    def input_gate(self, x_s: torch.Tensor) -> torch.Tensor:
        """Compute the static input gate ``i = sigmoid(W_i x_s + b_i)`` (eq. 7).

        Parameters
        ----------
        x_s
            Static inputs ``[batch, n_static]``.

        Returns
        -------
        torch.Tensor
            Input gate ``[batch, hidden]``, constant over time: the catchment embedding.
        """
        if x_s.dim() != 2 or x_s.shape[1] != self.n_static:
            raise ValueError(f"x_s must have shape [batch, {self.n_static}], got {list(x_s.shape)}")
        return torch.sigmoid(self.static_gate(x_s))

    def forward(
        self, x_d: torch.Tensor, x_s: torch.Tensor | None = None, predict_last_n: int = 1
    ) -> torch.Tensor:
        """Predict the last ``predict_last_n`` steps.

        Parameters
        ----------
        x_d
            Dynamic inputs ``[batch, time, n_dynamic]``.
        x_s
            Static inputs ``[batch, n_static]`` (required).
        predict_last_n
            Number of final time steps to predict.

        Returns
        -------
        torch.Tensor
            Predictions ``[batch, predict_last_n]``.
        """
        check_inputs(x_d, x_s, self.n_dynamic, self.n_static, predict_last_n)
        n_first = x_d.shape[1] if self.upper_layers is not None else predict_last_n
        h = self._first_layer(x_d, x_s, n_first)
        if self.upper_layers is not None:
            h = self.upper_layers(h)[0][-predict_last_n:]
        h_last = self.dropout(h.transpose(0, 1).contiguous())  # [batch, predict_last_n, hidden]
        return self.head(h_last).squeeze(-1)

    def _first_layer(self, x_d: torch.Tensor, x_s: torch.Tensor, n_out: int) -> torch.Tensor:
        """Last ``n_out`` hidden states of eqs. 7-12, ``[n_out, batch, hidden]``, by either path."""
        chosen = choose_implementation(self.implementation, x_d.shape[0], self.hidden_size,
                                       x_d.device)
        if chosen not in self._logged:  # once per choice, not at every partial last batch
            self._logged.add(chosen)
            log.info("EA-LSTM implementation: %s (model.implementation=%s, batch %d, %s)",
                     chosen, self.implementation, x_d.shape[0], x_d.device)
        self.last_implementation = chosen
        if chosen == "kernel":
            z, gate_weight, gate_bias = gate_inputs(x_s, self.static_gate.weight,
                                                    self.static_gate.bias)
            weights = kernel_weights(self.weight_ih, self.weight_hh, self.bias, gate_weight,
                                     gate_bias)
            return ealstm_kernel(x_d, z, weights, n_out)
        weight_cat = torch.cat([self.weight_hh, self.weight_ih, self.bias.unsqueeze(1)], dim=1)
        return ealstm_recurrence(x_d, self.input_gate(x_s), weight_cat, n_out, self.workspace)
