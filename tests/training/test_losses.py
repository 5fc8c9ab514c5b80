"""Tests of ealstm.training.losses: hand values, basin weighting, masking, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from ealstm.errors import NoValidDataError
from ealstm.training.losses import LOSSES, mse_loss, nse_star_loss

NAN = math.nan


def test_registry():
    assert LOSSES == {"mse": mse_loss, "nse_star": nse_star_loss}


def test_mse_hand_value():
    # errors 1 and 2 -> (1 + 4) / 2 = 2.5
    y_hat, y = torch.tensor([[1.0], [2.0]]), torch.zeros(2, 1)
    assert mse_loss(y_hat, y, torch.ones(2), 0.1).item() == pytest.approx(2.5)


def test_mse_ignores_q_std_and_eps():
    y_hat, y = torch.tensor([[1.0], [2.0]]), torch.zeros(2, 1)
    a = mse_loss(y_hat, y, torch.tensor([0.1, 100.0]), 5.0)
    assert a.item() == mse_loss(y_hat, y).item()


def test_nse_star_hand_value():
    # errors 1 and 2, q_std + eps = 1.0 and 2.0 -> weights 1 and 1/4
    # (1*1 + 4*0.25) / 2 = 1.0   (plain MSE would be 2.5)
    y_hat, y = torch.tensor([[1.0], [2.0]]), torch.zeros(2, 1)
    q_std = torch.tensor([0.9, 1.9])
    assert nse_star_loss(y_hat, y, q_std, eps=0.1).item() == pytest.approx(1.0)


def test_nse_star_default_eps_is_paper_value():
    # q_std = 0.4: with eps 0.1 weight 1/0.25 = 4 -> loss 4; with eps 0 -> 1/0.16 = 6.25
    y_hat, y, q_std = torch.ones(1, 1), torch.zeros(1, 1), torch.tensor([0.4])
    assert nse_star_loss(y_hat, y, q_std).item() == pytest.approx(4.0)
    assert nse_star_loss(y_hat, y, q_std, eps=0.0).item() == pytest.approx(6.25)


def test_nse_star_broadcasts_q_std_over_time():
    # [B=2, n=2]; basin 0 weight 1 (0.9+0.1), basin 1 weight 1/4 (1.9+0.1)
    # squared errors [[1, 4], [4, 16]] -> weighted [[1, 4], [1, 4]] -> mean 10/4 = 2.5
    y_hat = torch.tensor([[1.0, 2.0], [2.0, 4.0]])
    y = torch.zeros(2, 2)
    assert nse_star_loss(y_hat, y, torch.tensor([0.9, 1.9])).item() == pytest.approx(2.5)


def test_nse_star_small_std_basin_gets_larger_weight():
    # same error in both basins; gradient ratio = ((s1 + eps) / (s0 + eps))^2 = (2.0 / 0.2)^2
    y_hat = torch.tensor([[1.0], [1.0]], requires_grad=True)
    q_std = torch.tensor([0.1, 1.9])
    nse_star_loss(y_hat, torch.zeros(2, 1), q_std, eps=0.1).backward()
    grad = y_hat.grad[:, 0]
    assert grad[0] > grad[1] > 0
    assert (grad[0] / grad[1]).item() == pytest.approx(100.0)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_nan_targets_are_masked(name):
    # valid elements: (0,0) error 1, (1,1) error 4 -> squared 1 and 16, weight 1 -> 8.5
    y_hat = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    y = torch.tensor([[0.0, NAN], [NAN, 0.0]])
    loss = LOSSES[name](y_hat, y, torch.tensor([0.9, 0.9]), 0.1)
    assert loss.item() == pytest.approx(8.5)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_finite_and_zero_at_masked_targets(name):
    y_hat = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = torch.tensor([[0.0, NAN], [NAN, 0.0]])
    LOSSES[name](y_hat, y, torch.tensor([0.5, 2.0]), 0.1).backward()
    assert torch.isfinite(y_hat.grad).all()
    assert y_hat.grad[0, 1] == 0 and y_hat.grad[1, 0] == 0
    assert y_hat.grad[0, 0] > 0 and y_hat.grad[1, 1] > 0


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_all_nan_targets_raise(name):
    with pytest.raises(NoValidDataError, match="all 3 targets"):
        LOSSES[name](torch.ones(3, 1), torch.full((3, 1), NAN), torch.ones(3), 0.1)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_shape_mismatch_raises(name):
    with pytest.raises(ValueError, match=r"\(3, 1\).*\(3,\)"):
        LOSSES[name](torch.ones(3, 1), torch.ones(3), torch.ones(3), 0.1)


def test_nse_star_q_std_shape_checked():
    with pytest.raises(ValueError, match="q_std must have shape"):
        nse_star_loss(torch.ones(3, 1), torch.ones(3, 1), torch.ones(3, 1))


def test_nse_star_negative_eps_rejected():
    with pytest.raises(ValueError, match="eps"):
        nse_star_loss(torch.ones(2, 1), torch.ones(2, 1), torch.ones(2), eps=-0.1)


def test_nse_star_keeps_prediction_dtype():
    y_hat, y = torch.ones(2, 1), torch.zeros(2, 1)
    loss = nse_star_loss(y_hat, y, torch.tensor([0.9, 1.9], dtype=torch.float64))
    assert loss.dtype == torch.float32


def test_nse_star_of_a_batch_weights_standardised_errors_by_the_raw_std():
    """Raw discharge -> s(b) in mm/day; the errors are those of the standardised target."""
    import numpy as np
    import pandas as pd

    from ealstm.config import Period
    from ealstm.data.arrays import BasinArrays
    from ealstm.data.scaling import Scaler
    from ealstm.data.windows import gather_batch, nse_star_std

    raw = np.array([[1.0, 3.0, 1.0, 3.0], [0.0, 0.0, 0.0, 8.0]], dtype=np.float32)
    arrays = BasinArrays(("a", "b"), pd.date_range("2000-01-01", periods=4, name="date"),
                         np.zeros((2, 4, 1), np.float32), raw, np.zeros((2, 1), np.float32),
                         ("p",), ("s",))
    scaler = Scaler.fit(arrays, Period(start="2000-01-01", end="2000-01-04"))
    scaled = scaler.transform(arrays)
    s = nse_star_std(scaled, slice(0, 4))["std_mm_day"].to_numpy()
    assert s.tolist() == [1.0, np.sqrt(12.0)]  # std of 1,3,1,3 and of 0,0,0,8 (population)
    batch = gather_batch(scaled, np.array([0, 1]), np.array([1, 3]), seq_length=2)
    # predictions 0.5 and 1.0 (standardised units) above the targets
    y_hat = batch.y + torch.tensor([[0.5], [1.0]])
    q_std = torch.tensor(s, dtype=torch.float32)[batch.basin]
    expected = (0.25 / 1.1 ** 2 + 1.0 / (np.sqrt(12.0) + 0.1) ** 2) / 2
    assert nse_star_loss(y_hat, batch.y, q_std).item() == pytest.approx(expected, rel=1e-6)
