"""Standard LSTM for rainfall-runoff (paper eqs. 1-6), optionally fed the static attributes.

Used for the paper's two baselines: "LSTM without static inputs" (``n_static=0``) and "LSTM
with static inputs", where the catchment attributes are appended to the meteorological inputs
at every time step.
"""

from __future__ import annotations

import torch
from torch import nn

from ealstm.models.dropout import OutputDropout


def check_inputs(
    x_d: torch.Tensor,
    x_s: torch.Tensor | None,
    n_dynamic: int,
    n_static: int,
    predict_last_n: int,
) -> None:
    """Validate the shapes of one forward call, shared by all models.

    Parameters
    ----------
    x_d
        Dynamic inputs, ``[batch, time, n_dynamic]``.
    x_s
        Static inputs, ``[batch, n_static]``; ignored (may be None) when ``n_static == 0``.
    n_dynamic, n_static
        Feature counts the model was built for.
    predict_last_n
        Number of final time steps to predict, ``1 <= predict_last_n <= time``.

    Raises
    ------
    ValueError
        If a shape does not match, a static model gets no ``x_s`` or ``predict_last_n`` is out
        of range.
    """
    if x_d.dim() != 3 or x_d.shape[-1] != n_dynamic:
        raise ValueError(f"x_d must have shape [batch, time, {n_dynamic}] (dynamic inputs), "
                         f"got {list(x_d.shape)}")
    batch, time = x_d.shape[0], x_d.shape[1]
    if time < 1:
        raise ValueError("x_d has no time steps")
    if not isinstance(predict_last_n, int) or not 1 <= predict_last_n <= time:
        raise ValueError(f"predict_last_n must be an int in [1, {time}] (the sequence length), "
                         f"got {predict_last_n!r}")
    if n_static == 0:
        return
    if x_s is None:
        raise ValueError(f"this model was built with {n_static} static inputs: pass x_s of shape "
                         f"[batch, {n_static}]")
    if x_s.dim() != 2 or x_s.shape[0] != batch or x_s.shape[1] != n_static:
        raise ValueError(f"x_s must have shape [{batch}, {n_static}] ([batch, static feature], "
                         f"batch as in x_d), got {list(x_s.shape)}")


def init_gate_weights_(
    weight_ih: torch.Tensor, weight_hh: torch.Tensor, n_gates: int
) -> None:
    """Initialise gate weights in place as the paper's code does.

    The whole input weight matrix (all gates together) is ONE orthogonal matrix, and each
    gate's recurrent block is the identity. (Orthogonal blocks per gate would make every input
    column ``sqrt(n_gates)`` times longer: 2x for the LSTM, 1.7x for the EA-LSTM.)

    Parameters
    ----------
    weight_ih
        Input weights ``[n_gates * hidden, input]``, one ``[hidden, input]`` block per gate.
    weight_hh
        Recurrent weights ``[n_gates * hidden, hidden]``.
    n_gates
        Number of stacked gate blocks (4 for ``nn.LSTM``, 3 for the EA-LSTM's dynamic gates).
    """
    hidden = weight_hh.shape[1]
    if weight_ih.shape[0] != n_gates * hidden or weight_hh.shape[0] != n_gates * hidden:
        raise ValueError(f"gate weights must have {n_gates}*{hidden} rows, got "
                         f"{weight_ih.shape[0]} and {weight_hh.shape[0]}")
    with torch.no_grad():
        nn.init.orthogonal_(weight_ih)
        eye = torch.eye(hidden, dtype=weight_hh.dtype, device=weight_hh.device)
        weight_hh.copy_(eye.repeat(n_gates, 1))


def init_torch_lstm_(lstm: nn.LSTM, initial_forget_bias: float) -> None:
    """Initialise every layer of an ``nn.LSTM`` (gate order i, f, g, o) in place.

    Input weights one orthogonal matrix, recurrent weights identity per gate. The paper's LSTM
    has ONE bias vector; ``nn.LSTM`` adds two (``bias_ih + bias_hh``), which doubles the step
    size of the effective bias under Adam. So ``bias_ih`` is the bias (zero except the forget
    gate's block, ``initial_forget_bias``) and ``bias_hh`` is fixed at zero
    (``requires_grad=False``); both stay in the ``state_dict``, so checkpoints keep their keys.
    """
    hidden = lstm.hidden_size
    for layer in range(lstm.num_layers):
        init_gate_weights_(getattr(lstm, f"weight_ih_l{layer}"),
                           getattr(lstm, f"weight_hh_l{layer}"), n_gates=4)
        with torch.no_grad():
            bias_ih = getattr(lstm, f"bias_ih_l{layer}")
            bias_ih.zero_()
            bias_ih[hidden:2 * hidden] = initial_forget_bias
            bias_hh = getattr(lstm, f"bias_hh_l{layer}")
            bias_hh.zero_()
            bias_hh.requires_grad_(False)


class LSTM(nn.Module):
    """Sequence-to-value LSTM (eqs. 1-6) with a dropout + linear head.

    With ``n_static > 0`` the static attributes are concatenated to the dynamic inputs at every
    time step (the paper's "LSTM with static inputs").

    Parameters
    ----------
    n_dynamic
        Number of dynamic (meteorological) inputs per time step.
    n_static
        Number of static catchment attributes; 0 for a model without statics (``x_s`` is then
        ignored, so callers may pass the batch's statics unconditionally).
    hidden_size
        Number of memory cells.
    num_layers
        Number of stacked LSTM layers.
    dropout
        Dropout rate on the hidden states fed to the head (training mode only).
    initial_forget_bias
        Initial value of the forget-gate bias.
    """

    def __init__(
        self,
        n_dynamic: int,
        n_static: int,
        hidden_size: int = 256,
        num_layers: int = 1,
        dropout: float = 0.4,
        initial_forget_bias: float = 5.0,
    ) -> None:
        super().__init__()
        if n_dynamic < 1 or n_static < 0:
            raise ValueError(f"need n_dynamic >= 1 and n_static >= 0, got {n_dynamic}, {n_static}")
        self.n_dynamic = n_dynamic
        self.n_static = n_static
        self.hidden_size = hidden_size
        self.lstm = nn.LSTM(n_dynamic + n_static, hidden_size, num_layers=num_layers,
                            batch_first=True)
        self.dropout = OutputDropout(p=dropout)
        self.head = nn.Linear(hidden_size, 1)
        init_torch_lstm_(self.lstm, initial_forget_bias)

    def forward(
        self, x_d: torch.Tensor, x_s: torch.Tensor | None = None, predict_last_n: int = 1
    ) -> torch.Tensor:
        """Predict the last ``predict_last_n`` steps.

        Parameters
        ----------
        x_d
            Dynamic inputs ``[batch, time, n_dynamic]``.
        x_s
            Static inputs ``[batch, n_static]``; required when ``n_static > 0``.
        predict_last_n
            Number of final time steps to predict.

        Returns
        -------
        torch.Tensor
            Predictions ``[batch, predict_last_n]``.
        """
        check_inputs(x_d, x_s, self.n_dynamic, self.n_static, predict_last_n)
        x = x_d
        if self.n_static > 0:
            x = torch.cat([x_d, x_s.unsqueeze(1).expand(-1, x_d.shape[1], -1)], dim=-1)
        h, _ = self.lstm(x)
        h_last = self.dropout(h[:, -predict_last_n:])
        return self.head(h_last).squeeze(-1)
