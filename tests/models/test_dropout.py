"""The head's dropout: nn.Dropout's distribution and interface with a faster CPU mask."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ealstm.models import EALSTM, LSTM
from ealstm.models.dropout import OutputDropout


@pytest.mark.parametrize("p", [0.25, 0.4, 0.5])
def test_keeps_each_unit_with_probability_one_minus_p_and_scales_survivors(p):
    torch.manual_seed(0)
    x = torch.rand(400, 500) + 0.5  # no zeros of its own
    y = OutputDropout(p)(x)
    kept = y != 0
    n = x.numel()
    # binomial: the kept fraction lies within 5 standard deviations of 1 - p
    assert abs(kept.float().mean().item() - (1 - p)) < 5 * (p * (1 - p) / n) ** 0.5
    torch.testing.assert_close(y[kept], x[kept] / (1 - p), rtol=1e-6, atol=0)


def test_masks_of_different_units_are_independent():
    torch.manual_seed(1)
    y = OutputDropout(0.5)(torch.rand(2, 100_000) + 0.5)
    a, b = (y != 0).float()
    # two halves of one draw: agreement near 1/2, as for independent fair coins
    assert abs((a == b).float().mean().item() - 0.5) < 0.01


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_mask_is_rand_below_one_minus_p(dtype):
    """The fast path itself, which a fallback to nn.Dropout would fail in float32."""
    x = torch.randn(6, 50, 7, dtype=dtype)
    torch.manual_seed(5)
    y = OutputDropout(0.4)(x)
    torch.manual_seed(5)
    expected = x * (torch.rand_like(x) < 0.6) / 0.6
    torch.testing.assert_close(y, expected, rtol=1e-6, atol=0)
    if dtype == torch.float32:  # bernoulli_ draws float32 masks another way (float64: the same)
        torch.manual_seed(5)
        assert not torch.equal(nn.Dropout(0.4)(x) != 0, y != 0)


def test_gradient_is_the_mask_times_the_scale():
    torch.manual_seed(2)
    x = torch.randn(3, 7, 5, requires_grad=True)
    y = OutputDropout(0.4)(x)
    y.sum().backward()
    expected = torch.where(y != 0, torch.tensor(1 / 0.6), torch.tensor(0.0))
    torch.testing.assert_close(x.grad, expected, rtol=1e-6, atol=0)


def test_same_seed_same_mask_and_eval_is_identity():
    drop, x = OutputDropout(0.4), torch.randn(4, 6, 8)
    torch.manual_seed(3)
    first = drop(x)
    torch.manual_seed(3)
    assert torch.equal(drop(x), first)
    drop.eval()
    assert drop(x) is x


@pytest.mark.parametrize(("p", "expected"), [(0.0, "x"), (1.0, "zeros")])
def test_edge_rates_behave_as_nn_dropout(p, expected):
    x = torch.randn(5, 6)
    y = OutputDropout(p)(x)
    assert torch.equal(y, x if expected == "x" else torch.zeros_like(x))


@pytest.mark.parametrize(("dtype", "inplace"), [(torch.bfloat16, False),  # too few bits
                                               (torch.float32, True)])
def test_other_dtypes_and_inplace_fall_back_to_nn_dropout(dtype, inplace):
    x = torch.randn(50, 60).to(dtype)
    torch.manual_seed(4)
    ours = OutputDropout(0.4, inplace=inplace)(x.clone())
    torch.manual_seed(4)
    assert torch.equal(ours, nn.Dropout(0.4, inplace=inplace)(x.clone()))


def test_is_an_nn_dropout_without_state():
    drop = OutputDropout(0.4)
    assert isinstance(drop, nn.Dropout) and drop.p == 0.4 and drop.state_dict() == {}


@pytest.mark.parametrize("model", [EALSTM(3, 4, hidden_size=5), LSTM(3, 4, hidden_size=5)])
def test_both_models_use_it(model):
    assert isinstance(model.dropout, OutputDropout)
