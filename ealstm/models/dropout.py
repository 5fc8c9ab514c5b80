"""Dropout on the hidden states fed to the head, drawn with ``torch.rand`` on CPUs.

``nn.Dropout`` draws its CPU masks with ``bernoulli_``, which took 4.2 ms for the 4 x 365 x 256
hidden states of a sequence-to-sequence batch against 1.1 ms for ``rand_like(x) < 1 - p``
(2-core AMD EPYC, torch 2.13): at batch 4 that was most of what the EA-LSTM step cost on top of
the bare LSTM kernel (``benchmarks/results/ealstm_speed_small.md``). Every unit is kept
independently with probability ``1 - p`` rounded to a multiple of 2**-24 (float32; 2**-53 for
float64), off by < 6e-8, and survivors are scaled by ``1 / (1 - p)`` as by ``nn.Dropout``.
The masks come from the global torch generator, as before, but they are other draws: a run
started before this module existed does not resume bit-identically. ``nn.Dropout``'s CPU masks
came from MKL's MCG31 stream, seeded once per call; these are independent draws, and the demo's
results changed with them (``benchmarks/results/dropout_masks.md``). Other devices and dtypes
keep ``nn.Dropout``'s own kernel.
"""

from __future__ import annotations

import torch
from torch import nn

#: Dtypes whose ``torch.rand`` has the resolution to draw ``p`` exactly enough (>= 24 bits).
FAST_DTYPES = (torch.float32, torch.float64)


class OutputDropout(nn.Dropout):
    """``nn.Dropout`` (same ``p``, ``state_dict`` and eval behaviour) with a faster CPU mask."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``."""
        if (not self.training or self.p in (0.0, 1.0) or self.inplace
                or x.device.type != "cpu" or x.dtype not in FAST_DTYPES):
            return super().forward(x)
        keep = 1.0 - self.p
        return x * torch.rand_like(x).lt_(keep).mul_(1.0 / keep)
