"""Torch device selection from ``train.device``, shared by training, evaluation and the studies."""

from __future__ import annotations

import torch

from ealstm.errors import ConfigError


def select_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else is passed to torch.

    Raises
    ------
    ConfigError
        An unknown device name, or a CUDA/MPS device that this machine does not have.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"train.device {name!r} is not a torch device; use auto, cpu or "
                          "cuda") from None
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": torch.backends.mps.is_available()}
    if not available.get(device.type, False):
        raise ConfigError(f"train.device {name!r}: no {device.type} device on this machine; "
                          "use train.device: auto or cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"train.device {name!r}: this machine has "
                          f"{torch.cuda.device_count()} CUDA device(s)")
    return device
