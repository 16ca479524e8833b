"""The engine on a GPU against the same computation on the CPU (skipped without CUDA; run by benchmarks/gpu.py)."""

from __future__ import annotations

import copy

import pytest
import torch

from sgdlab.curvature import as_batches, gauss_newton, hessian, top_eigen, trace
from tests.conftest import tiny_mlp

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.parametrize("operator", [hessian, gauss_newton], ids=["hessian", "gauss_newton"])
def test_cuda_products_and_estimates_match_the_cpu(operator):
    model = tiny_mlp(torch.float64)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (40,), generator=g)
    results = []
    for device in ("cpu", "cuda"):
        moved = copy.deepcopy(model).to(device)
        with operator(moved, as_batches(x.to(device), y.to(device), 16), params="2.*") as op:
            eig = top_eigen(op, k=2, tol=1e-10)
            results.append((eig.values.cpu(), trace(op, 12, method="hutch++")[0]))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-9, atol=1e-11)
    assert abs(results[1][1] - results[0][1]) <= 1e-9 * abs(results[0][1])


def test_cuda_bfloat16_model_is_measured_in_float32():
    model = tiny_mlp(torch.bfloat16).cuda()
    x, y = torch.randn(32, 5, device="cuda", dtype=torch.bfloat16), torch.randint(0, 3, (32,), device="cuda")
    with hessian(model, [(x, y)]) as op:
        eig = top_eigen(op, k=2, tol=1e-4)
    assert eig.values.dtype == torch.float32 and eig.values.device.type == "cuda"
