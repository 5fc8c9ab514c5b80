r"""Training losses: MSE and the basin-averaged NSE* of Kratzert et al. (2019), eq. 13.

All losses share one signature, ``loss(y_hat, y, q_std, eps) -> scalar Tensor``, so the training
loop calls any entry of :data:`LOSSES` alike; :func:`mse_loss` ignores ``q_std`` and ``eps``.

Targets that are NaN are masked (their elements contribute neither to the value nor to the
gradient) and the mean runs over the remaining elements. NaN *predictions* are not masked: they
propagate so that a diverging model is noticed.

Units of ``q_std``
------------------
As in the paper (eq. 13) and its code, ``q_std`` is :math:`s(b)`, the std of the basin's *raw*
discharge in mm/day over the training period, while ``y_hat`` and ``y`` are the *standardised*
targets; ``eps = 0.1`` (mm/day) was chosen for that combination. The training loop takes
``q_std`` from :func:`ealstm.data.windows.nse_star_std` and writes it to the run's
``nse_star_std.csv``. The loss uses ``q_std`` exactly as given: passing the std of the
standardised target instead would divide it by the global target std (about 3.7 on the CAMELS
sample), i.e. raise the effective epsilon to ~0.37 mm/day and flatten the weights.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ealstm.config import LOSS_NAMES
from ealstm.errors import NoValidDataError

__all__ = ["LOSSES", "LossFn", "mse_loss", "nse_star_loss"]

#: ``loss(y_hat [B, n], y [B, n], q_std [B] | None, eps) -> scalar Tensor``
LossFn = Callable[[Tensor, Tensor, "Tensor | None", float], Tensor]


def _check_pair(y_hat: Tensor, y: Tensor) -> None:
    if y_hat.shape != y.shape or y.ndim != 2:
        raise ValueError(
            "y_hat and y must both have shape [batch, n], got y_hat of shape "
            f"{tuple(y_hat.shape)} and y of shape {tuple(y.shape)}"
        )


def _valid_mask(y: Tensor) -> Tensor:
    """Boolean mask of the non-NaN targets; raise if there is none."""
    mask = ~torch.isnan(y)
    if not bool(mask.any()):
        raise NoValidDataError(
            f"all {y.numel()} targets of the batch are NaN; the loss has nothing to average "
            "(the sample index should only yield windows with a valid target)"
        )
    return mask


def mse_loss(y_hat: Tensor, y: Tensor, q_std: Tensor | None = None, eps: float = 0.1) -> Tensor:
    r"""Mean squared error over all valid (non-NaN target) elements.

    .. math:: \mathrm{MSE} = \frac{1}{|V|} \sum_{(b, n) \in V} (\hat{y}_{b,n} - y_{b,n})^2

    Parameters
    ----------
    y_hat : Tensor [batch, n]
        Predictions.
    y : Tensor [batch, n]
        Targets; NaN entries are masked.
    q_std : Tensor [batch], optional
        Ignored; present so that every loss has the same signature.
    eps : float, default 0.1
        Ignored; present so that every loss has the same signature.

    Returns
    -------
    Tensor
        Scalar loss.

    Raises
    ------
    ValueError
        ``y_hat`` and ``y`` differ in shape or are not 2-D.
    NoValidDataError
        Every target is NaN.
    """
    _check_pair(y_hat, y)
    mask = _valid_mask(y)
    return (y_hat[mask] - y[mask]).pow(2).mean()


def nse_star_loss(y_hat: Tensor, y: Tensor, q_std: Tensor, eps: float = 0.1) -> Tensor:
    r"""Basin-averaged NSE* loss, eq. 13 of Kratzert et al. (2019).

    .. math::
        \mathrm{NSE}^* = \frac{1}{|V|} \sum_{(b, n) \in V}
                         \frac{(\hat{y}_{b,n} - y_{b,n})^2}{(s(b) + \epsilon)^2}

    where :math:`V` are the elements with a non-NaN target and :math:`s(b)` the training-period
    std of the raw discharge (mm/day) of the sample's basin. Each squared error is weighted by
    :math:`1 / (s(b) + \epsilon)^2`, so basins with little flow variability are not
    under-weighted; :math:`\epsilon` keeps the weight finite for near-constant basins.

    Parameters
    ----------
    y_hat : Tensor [batch, n]
        Predictions.
    y : Tensor [batch, n]
        Targets; NaN entries are masked.
    q_std : Tensor [batch]
        Training-period discharge std of each sample's basin, broadcast over ``n`` (see the
        module note on its units). Cast to the dtype and device of ``y_hat``.
    eps : float, default 0.1
        Constant added to ``q_std`` (the paper's :math:`\epsilon`), must be >= 0.

    Returns
    -------
    Tensor
        Scalar loss.

    Raises
    ------
    ValueError
        Shapes do not match ``[batch, n]`` / ``[batch]``, or ``eps < 0``.
    NoValidDataError
        Every target is NaN.
    """
    _check_pair(y_hat, y)
    if q_std.shape != y.shape[:1]:
        raise ValueError(
            f"q_std must have shape [batch] = ({y.shape[0]},), got {tuple(q_std.shape)}"
        )
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    mask = _valid_mask(y)
    weight = (q_std.to(y_hat) + eps).pow(-2).unsqueeze(1).expand_as(y)
    return ((y_hat[mask] - y[mask]).pow(2) * weight[mask]).mean()


#: Registry of loss names (``train.loss`` in the config) -> loss functions.
LOSSES: dict[str, LossFn] = dict(zip(LOSS_NAMES, (mse_loss, nse_star_loss), strict=True))
