"""The CUDA path: models, training, evaluation and the gradient analyses on a GPU equal the CPU.

Skipped without a CUDA device (CI has none); run on a GPU machine with
``pytest tests/test_cuda.py`` (or ``bash benchmarks/gpu_check.sh OUT``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch
import xarray as xr

from ealstm.analysis.robustness import robustness
from ealstm.analysis.sensitivity import sensitivity
from ealstm.config import parse_config
from ealstm.evaluation.run import evaluate_run
from ealstm.models import EALSTM
from ealstm.models.lstm import LSTM
from ealstm.runs.checkpoint import load_checkpoint
from ealstm.training.loop import train
from tests.conftest import tiny_run_config
from tests.models.test_ealstm import make_inputs, naive_ealstm, randomize_

#: The accelerator under test; ``EALSTM_TEST_DEVICE=cpu`` dry-runs these tests without a GPU.
DEVICE = os.environ.get("EALSTM_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(),
                                reason="no CUDA device")
#: Norm-wise relative tolerance of float32 results summed in another order on each device
#: (randomised weights amplify rounding over 40 steps: single elements differ by up to 1 %
#: while the whole tensor agrees to ~1e-5; a wrong term of eqs. 7-12 gives O(1)).
NORM_RTOL = 1e-3


def assert_close_normwise(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """``||actual - expected|| <= NORM_RTOL * ||expected||`` (actual moved to the CPU)."""
    actual, expected = actual.detach().cpu().double(), expected.detach().cpu().double()
    assert actual.shape == expected.shape, what
    error = float((actual - expected).norm() / expected.norm().clamp_min(1e-12))
    assert error <= NORM_RTOL, f"{what}: relative error {error:.2e} > {NORM_RTOL:g}"


@pytest.fixture(autouse=True)
def _full_fp32_matmuls():
    """Compare against the CPU in true float32: no TF32 in matmuls or cuDNN."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: p.grad.detach().cpu() for k, p in model.named_parameters()}


@pytest.mark.parametrize(("n", "layers"), [(1, 1), (7, 1), (3, 2)])
@pytest.mark.parametrize("impl", ["loop", "kernel"])  # auto takes the kernel (cuDNN) on GPUs
def test_ealstm_on_cuda_equals_naive_cell_on_cpu(n, layers, impl):
    torch.manual_seed(0)
    model = EALSTM(5, 27, hidden_size=32, num_layers=layers, dropout=0.0, implementation=impl)
    randomize_(model)
    x_d, x_s = make_inputs(16, 40, 5, 27)
    ref_p = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
    y_ref = naive_ealstm(ref_p, x_d, x_s, n, num_layers=layers)
    model.to(DEVICE)
    y = model(x_d.to(DEVICE), x_s.to(DEVICE), predict_last_n=n)
    assert y.device.type == torch.device(DEVICE).type
    assert_close_normwise(y, y_ref, "output")
    weights = torch.randn(16, n)
    (y * weights.to(DEVICE)).sum().backward()
    (y_ref * weights).sum().backward()
    for name, grad in _grads(model).items():
        assert_close_normwise(grad, ref_p[name].grad, name)
    with torch.no_grad():  # the lean evaluation loop
        assert_close_normwise(model(x_d.to(DEVICE), x_s.to(DEVICE), n), y_ref, "eval output")


@pytest.mark.parametrize("n_static", [0, 27])
def test_lstm_on_cuda_equals_cpu(n_static):
    torch.manual_seed(0)
    cpu = LSTM(5, n_static, hidden_size=32, dropout=0.0)
    randomize_(cpu)
    gpu = LSTM(5, n_static, hidden_size=32, dropout=0.0).to(DEVICE)
    gpu.load_state_dict(cpu.state_dict())
    x_d, x_s = make_inputs(16, 40, 5, max(n_static, 1))
    x_s = x_s if n_static else None
    y_cpu = cpu(x_d, x_s, predict_last_n=4)
    y_gpu = gpu(x_d.to(DEVICE), None if x_s is None else x_s.to(DEVICE), predict_last_n=4)
    assert_close_normwise(y_gpu, y_cpu, "output")
    y_cpu.sum().backward()
    y_gpu.sum().backward()
    for name, grad in _grads(gpu).items():
        assert_close_normwise(grad, dict(cpu.named_parameters())[name].grad, name)


def _predictions(run_dir: Path, device: str) -> xr.Dataset:
    result = evaluate_run(run_dir, "test", device=device)
    with xr.open_dataset(result.predictions) as ds:
        return ds.load()


@pytest.mark.parametrize("predict_last_n", [1, 5])
def test_train_on_cuda_then_evaluate_on_cuda_and_cpu(demo_camels, tmp_path, predict_last_n):
    raw = tiny_run_config(demo_camels, tmp_path, device=DEVICE, predict_last_n=predict_last_n)
    raw["data"]["seq_length"] = 10 + predict_last_n
    run_dir = train(parse_config(raw), progress=False)
    on_gpu, on_cpu = _predictions(run_dir, DEVICE), _predictions(run_dir, "cpu")
    assert on_gpu["qsim"].notnull().sum() > 0
    xr.testing.assert_allclose(on_gpu["qsim"], on_cpu["qsim"], rtol=1e-4, atol=1e-5)


def test_resume_on_cuda_is_bit_identical(demo_camels, tmp_path):
    full = train(parse_config(tiny_run_config(demo_camels, tmp_path / "a", device=DEVICE,
                                              epochs=3)), progress=False)
    raw = tiny_run_config(demo_camels, tmp_path / "b", device=DEVICE, epochs=3)
    part = train(parse_config(raw), progress=False)
    (part / "checkpoints" / "epoch_003.pt").unlink()
    train(parse_config(raw), resume=True, progress=False)
    a = load_checkpoint(full)["model"]
    b = load_checkpoint(part)["model"]
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)


def test_gradient_analyses_on_cuda_equal_cpu(tiny_ealstm_run, tmp_path):
    gpu_dir, cpu_dir = tmp_path / "gpu", tmp_path / "cpu"
    shutil.copytree(tiny_ealstm_run, gpu_dir)
    shutil.copytree(tiny_ealstm_run, cpu_dir)
    s_gpu, s_cpu = sensitivity(gpu_dir, device=DEVICE), sensitivity(cpu_dir, device="cpu")
    assert s_gpu.gradients.notna().to_numpy().any()
    assert (s_gpu.gradients.index == s_cpu.gradients.index).all()
    torch.testing.assert_close(torch.tensor(s_gpu.gradients.to_numpy()),
                               torch.tensor(s_cpu.gradients.to_numpy()), rtol=1e-3, atol=1e-6,
                               equal_nan=True)
    r_gpu = robustness(gpu_dir, sigmas=[0.5], n_draws=3, device=DEVICE)
    r_cpu = robustness(cpu_dir, sigmas=[0.5], n_draws=3, device="cpu")
    torch.testing.assert_close(torch.tensor(r_gpu.nse.to_numpy()),
                               torch.tensor(r_cpu.nse.to_numpy()), rtol=1e-4, atol=1e-5,
                               equal_nan=True)
