"""The Hessian engine against exact dense Hessians (torch.func.hessian) in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from sgdlab.curvature import (
    MatrixOperator,
    as_batches,
    curvature_mode,
    frobenius_norm,
    hessian,
    spectral_density,
    top_eigen,
    trace,
    tracking_budget,
)
from tests.conftest import tiny_mlp as shared_tiny_mlp


@pytest.fixture(autouse=True)
def float64_by_default():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def tiny_mlp() -> nn.Module:
    return shared_tiny_mlp(torch.float64)


def tiny_bn_cnn() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)
    ).double()


def data(shape: tuple[int, ...], n: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randint(0, 3, (n,), generator=g)


def dense_hessian(model: nn.Module, batches, bn_mode: str = "eval") -> torch.Tensor:
    """The exact Hessian of the size-weighted mean loss over batches.

    torch.func.hessian, except for batch-statistics BatchNorm: there torch.func's second derivative
    is asymmetric (torch 2.14), so the reference is torch.autograd.functional.hessian, itself
    checked against finite differences in test_batch_mode_reference_matches_finite_differences.
    """
    names = [name for name, _ in model.named_parameters()]
    params = [p.detach() for p in model.parameters()]
    total = sum(len(y) for _, y in batches)

    def loss(flat: torch.Tensor) -> torch.Tensor:
        tensors = dict(zip(names, (t.view_as(p) for t, p in zip(flat.split([p.numel() for p in params]), params))))
        tensors |= {name: b.clone() for name, b in model.named_buffers()}  # batch-mode BN writes to them
        return sum(
            F.cross_entropy(torch.func.functional_call(model, tensors, (x,)), y) * len(y) / total for x, y in batches
        )

    flat = torch.cat([p.reshape(-1) for p in params])
    with curvature_mode(model, bn_mode):
        if bn_mode == "batch":
            return torch.autograd.functional.hessian(loss, flat)
        return torch.func.hessian(loss)(flat)


def test_batch_mode_reference_matches_finite_differences():
    model = tiny_bn_cnn()
    batches = as_batches(*data((1, 6, 6)), batch_size=10)
    H = dense_hessian(model, batches, "batch")
    torch.testing.assert_close(H, H.T, rtol=0, atol=1e-12)
    params = list(model.parameters())

    def gradient() -> torch.Tensor:
        with hessian(model, batches, bn_mode="batch", reuse_graph=False) as op:
            return op.gradient()

    flat, step = parameters_to_vector(params), 1e-6
    for index, offset in enumerate(torch.eye(len(flat)) * step):
        vector_to_parameters(flat + offset, params)
        plus = gradient()
        vector_to_parameters(flat - offset, params)
        minus = gradient()
        torch.testing.assert_close((plus - minus) / (2 * step), H[:, index], rtol=1e-5, atol=1e-7)
    vector_to_parameters(flat, params)


def state_of(model: nn.Module) -> tuple[list[bool], list[torch.Tensor]]:
    return [m.training for m in model.modules()], [b.clone() for b in model.buffers()]


CASES = [
    pytest.param(tiny_mlp, (5,), "eval", id="mlp"),
    pytest.param(tiny_bn_cnn, (1, 6, 6), "eval", id="bn-cnn-eval"),
    pytest.param(tiny_bn_cnn, (1, 6, 6), "batch", id="bn-cnn-batch"),
]


@pytest.mark.parametrize("make_model, shape, bn_mode", CASES)
@pytest.mark.parametrize("reuse_graph", [True, False])
def test_hessian_vector_products_match_dense(make_model, shape, bn_mode, reuse_graph):
    model = make_model()
    model.train()
    batches = as_batches(*data(shape), batch_size=10)
    H = dense_hessian(model, batches, bn_mode)
    before = state_of(model)
    V = torch.randn(H.shape[0], 3, generator=torch.Generator().manual_seed(3))
    with hessian(model, batches, reuse_graph=reuse_graph, bn_mode=bn_mode) as op:
        assert op.dim == H.shape[0]
        HV = torch.stack([op.matvec(v) for v in V.T], dim=1)
    torch.testing.assert_close(HV, H @ V, rtol=1e-10, atol=1e-12)
    after = state_of(model)
    assert after[0] == before[0]
    for b0, b1 in zip(before[1], after[1]):
        assert torch.equal(b0, b1)


@pytest.mark.parametrize("make_model, shape, bn_mode", CASES)
def test_top_eigenpairs_match_dense(make_model, shape, bn_mode):
    model = make_model()
    batches = as_batches(*data(shape), batch_size=12)
    H = dense_hessian(model, batches, bn_mode)
    exact_values, exact_vectors = torch.linalg.eigh(H)
    exact_values, exact_vectors = exact_values.flip(0), exact_vectors.flip(1)
    with hessian(model, batches, bn_mode=bn_mode) as op:
        eig = top_eigen(op, k=4, tol=1e-10)
    assert eig.converged
    torch.testing.assert_close(eig.values, exact_values[:4], rtol=1e-8, atol=1e-10)
    overlaps = (eig.vectors.T @ exact_vectors[:, :4]).abs().diagonal()
    torch.testing.assert_close(overlaps, torch.ones(4), rtol=0, atol=1e-6)
    actual_residuals = (H @ eig.vectors - eig.vectors * eig.values).norm(dim=0)
    assert (actual_residuals <= 1e-8 * exact_values.abs().max()).all()


def wishart(dim: int, n: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    X = torch.randn(dim, n, generator=torch.Generator().manual_seed(seed))
    return X @ X.T / n - shift * torch.eye(dim)


def test_top_eigen_on_wishart_matrix_picks_largest_algebraic():
    A = wishart(120, 60, seed=4, shift=1.5)  # half the spectrum at -1.5, a big negative tail
    A[0, 0] -= 40.0  # an eigenvalue around -40: largest in magnitude, smallest algebraically
    exact = torch.linalg.eigvalsh(A).flip(0)
    eig = top_eigen(MatrixOperator(A), k=5, tol=1e-10)
    torch.testing.assert_close(eig.values, exact[:5], rtol=1e-9, atol=1e-10)
    assert (eig.values > -5).all()


def test_no_ghost_eigenvalues_after_many_iterations():
    """Without full reorthogonalisation, long runs produce copies of converged Ritz values."""
    A = wishart(200, 400, seed=5)
    A += torch.diag(torch.tensor([30.0, 20.0, 10.0] + [0.0] * 197))
    exact = torch.linalg.eigvalsh(A).flip(0)
    eig = top_eigen(MatrixOperator(A), k=6, tol=1e-300, max_iter=200)
    assert eig.n_products >= 100  # far past convergence of the top three (about 20 steps)
    torch.testing.assert_close(eig.values, exact[:6], rtol=1e-9, atol=1e-9)
    gaps = (eig.values[:-1] - eig.values[1:]).abs()
    assert (gaps > 1e-3).all(), f"duplicated Ritz values: {eig.values}"


def test_exact_breakdown_restarts_and_finds_every_eigenvalue():
    A = torch.diag(torch.tensor([5.0, 3.0, 3.0, 1.0, 0.0, 0.0, 0.0, 0.0]))  # repeated eigenvalues
    eig = top_eigen(MatrixOperator(A), k=4, tol=1e-12, warm_start=torch.eye(8)[:, :1])
    torch.testing.assert_close(eig.values, torch.tensor([5.0, 3.0, 3.0, 1.0]), rtol=0, atol=1e-10)


def test_warm_start_needs_fewer_products_after_a_small_move():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 30), nn.Tanh(), nn.Linear(30, 4)).double()
    x, y = torch.randn(200, 10), torch.randint(0, 4, (200,))
    batches = as_batches(x, y, 100)
    with hessian(model, batches) as op:
        first = top_eigen(op, k=3, tol=1e-6, check_every=1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1e-3 * torch.randn_like(p))
    with hessian(model, batches) as op:
        cold = top_eigen(op, k=3, tol=1e-6, check_every=1)
        warm = top_eigen(op, k=3, tol=1e-6, check_every=1, warm_start=first.vectors)
    assert cold.converged and warm.converged
    torch.testing.assert_close(warm.values, cold.values, rtol=1e-6, atol=0)
    assert warm.n_products < cold.n_products


def test_trace_and_frobenius_estimates_match_dense():
    model = tiny_mlp()
    batches = as_batches(*data((5,)), batch_size=24)
    H = dense_hessian(model, batches)
    with hessian(model, batches) as op:
        tr, tr_err = trace(op, n_samples=400, seed=1)
        fro, fro_err = frobenius_norm(op, n_samples=400, seed=1)
    assert tr_err > 0 and fro_err > 0
    assert abs(tr - torch.trace(H).item()) < 4 * tr_err
    assert abs(fro - torch.linalg.matrix_norm(H).item()) < 4 * fro_err


def test_spectral_density_reproduces_spectral_moments():
    A = wishart(80, 160, seed=6)
    density = spectral_density(MatrixOperator(A), n_iter=80, n_vectors=1)
    np.testing.assert_allclose(density.weights.sum(axis=1), 1.0, rtol=1e-10)
    exact = torch.linalg.eigvalsh(A).numpy()
    np.testing.assert_allclose(np.sort(density.nodes[0]), exact, rtol=1e-8, atol=1e-8)  # n_iter = dim: exact
    grid = np.linspace(exact.min() - 1, exact.max() + 1, 2000)
    smoothed = density.smooth(grid, sigma=0.05)
    np.testing.assert_allclose(np.trapezoid(smoothed, grid), 1.0, rtol=1e-3)


def test_float32_agrees_with_float64():
    model = tiny_mlp()
    batches = as_batches(*data((5,)), batch_size=24)
    with hessian(model, batches) as op:
        ref = top_eigen(op, k=3, tol=1e-10).values
    model32 = model.float()
    batches32 = [(x.float(), y) for x, y in batches]
    with hessian(model32, batches32) as op:
        eig = top_eigen(op, k=3, tol=1e-4)
    assert eig.values.dtype == torch.float32
    torch.testing.assert_close(eig.values.double(), ref, rtol=1e-4, atol=1e-5)


def test_bad_input_is_rejected():
    op = MatrixOperator(torch.eye(4))
    with pytest.raises(ValueError, match="k must be between 1 and the number of parameters"):
        top_eigen(op, k=5)
    with pytest.raises(ValueError, match="k must be"):
        top_eigen(op, k=0)
    with pytest.raises(ValueError, match="bn_mode"):
        with hessian(tiny_mlp(), as_batches(*data((5,)), 8), bn_mode="train"):
            pass
    with pytest.raises(ValueError, match="batches is empty"):
        with hessian(tiny_mlp(), []):
            pass
    with pytest.raises(ValueError, match="warm_start must have 4 rows"):
        top_eigen(op, k=2, warm_start=torch.ones(3, 2))


def rotation(dim: int, angle: float, seed: int) -> torch.Tensor:
    """exp(angle · K) for a random skew-symmetric K of unit spectral norm: a rotation by about ``angle``."""
    K = torch.randn(dim, dim, generator=torch.Generator().manual_seed(seed))
    K = K - K.T
    return torch.linalg.matrix_exp(angle * K / torch.linalg.matrix_norm(K, ord=2))


def test_subspace_tracking_matches_dense_hessian_after_a_small_move():
    model = tiny_mlp()
    batches = as_batches(*data((5,)), batch_size=12)
    with hessian(model, batches) as op:
        first = top_eigen(op, k=4, tol=1e-8)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1e-3 * torch.randn_like(p))
    exact = torch.linalg.eigvalsh(dense_hessian(model, batches)).flip(0)[:4]
    with hessian(model, batches) as op:
        tracked = top_eigen(op, k=4, tol=1e-8, warm_start=first.vectors, warm_method="subspace")
        H = dense_hessian(model, batches)
    assert tracked.converged
    torch.testing.assert_close(tracked.values, exact, rtol=1e-9, atol=1e-12)
    actual = (H @ tracked.vectors - tracked.vectors * tracked.values).norm(dim=0)
    torch.testing.assert_close(actual, tracked.residuals, rtol=1e-6, atol=1e-13)
    assert (actual <= 1e-8 * exact.abs().max()).all()
    torch.testing.assert_close(tracked.vectors.T @ tracked.vectors, torch.eye(4), rtol=0, atol=1e-12)


def test_subspace_tracking_follows_a_slowly_rotating_matrix_with_fewer_products():
    dim, k, tol = 150, 5, 1e-4
    D = torch.diag(torch.cat([torch.tensor([9.0, 7.0, 6.0, 5.0, 4.5]), torch.linspace(3.0, -1.0, dim - 5)]))
    Q = torch.eye(dim)
    previous, tracked_products, cold_products = None, [], []
    for step in range(8):
        A = Q @ D @ Q.T
        exact = torch.linalg.eigvalsh(A).flip(0)[:k]
        cold = top_eigen(MatrixOperator(A), k=k, tol=tol, seed=step)
        tracked = top_eigen(MatrixOperator(A), k=k, tol=tol, seed=step, warm_method="subspace",
                            warm_start=None if previous is None else previous.vectors)
        for result in (cold, tracked):
            assert result.converged
            assert ((result.values - exact).abs() <= tol * exact[0]).all()
        if previous is not None:
            tracked_products.append(tracked.n_products)
            cold_products.append(cold.n_products)
        previous = tracked
        Q = rotation(dim, 1e-3, seed=step) @ Q
    assert sum(tracked_products) < 0.7 * sum(cold_products), (tracked_products, cold_products)


def test_subspace_tracking_falls_back_to_cold_lanczos_when_the_warm_basis_is_orthogonal():
    A = wishart(100, 300, seed=7) + torch.diag(torch.tensor([8.0, 6.0, 5.0, 4.0] + [0.0] * 96))
    exact_values, exact_vectors = torch.linalg.eigh(A)
    top = exact_vectors[:, -4:]
    warm = torch.randn(100, 4, generator=torch.Generator().manual_seed(8))
    warm = torch.linalg.qr(warm - top @ (top.T @ warm)).Q  # orthogonal to the top-4 eigenvectors
    eig = top_eigen(MatrixOperator(A), k=4, tol=1e-8, warm_start=warm, warm_method="subspace")
    assert eig.converged
    assert eig.n_products > tracking_budget(4)  # the tracking budget was spent, then Lanczos ran cold
    torch.testing.assert_close(eig.values, exact_values.flip(0)[:4], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("warm_method", ["lanczos", "subspace"])
def test_bad_warm_start_is_rejected(warm_method):
    op = MatrixOperator(torch.eye(4))
    cases = [
        (torch.ones(3, 2), "warm_start must have 4 rows"),
        (torch.ones(4, 2, 1), "warm_start must have 4 rows"),
        (torch.ones(4, 0), "warm_start must have 4 rows"),
        (torch.ones(4, 2, dtype=torch.float32), "warm_start has dtype torch.float32, the operator's is torch.float64"),
        (torch.ones(4, 2, device="meta"), "warm_start is on device meta, the operator on cpu"),
        (torch.tensor([[1.0, float("nan")]] * 4), "non-finite"),
        (torch.tensor([[1.0, float("inf")]] * 4), "non-finite"),
        (np.ones((4, 2)), "warm_start must be a tensor"),
    ]
    for warm, message in cases:
        with pytest.raises(ValueError, match=message):
            top_eigen(op, k=2, warm_start=warm, warm_method=warm_method)
    with pytest.raises(ValueError, match="warm_method 'sum' is unknown; choose one of: lanczos, subspace"):
        top_eigen(op, k=2, warm_start=torch.ones(4, 2), warm_method="sum")


def test_top_eigen_refuses_a_fractional_k_and_a_non_finite_tol_and_warns_of_thousands_of_pairs():
    op = MatrixOperator(torch.eye(4))
    with pytest.raises(ValueError, match="k must be an integer, got 2.5"):
        top_eigen(op, k=2.5)
    for tol in (float("nan"), float("inf"), -1.0, 0.0):
        with pytest.raises(ValueError, match=f"tol must be a positive finite number, got {tol}"):
            top_eigen(op, k=2, tol=tol)
    big = MatrixOperator(torch.diag(torch.arange(1200.0, 0.0, -1.0)))
    with pytest.warns(UserWarning, match="k=1001: .* cost grows as about k⁴"):
        with pytest.raises(ValueError, match="check_every must be"):  # stopped after the warning, at no cost
            top_eigen(big, k=1001, check_every=0, max_iter=5)
