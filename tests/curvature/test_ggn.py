"""The generalised Gauss–Newton operator against the dense JᵀH_ℓJ in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import sgdlab
from sgdlab.curvature import as_batches, frobenius_norm, gauss_newton, spectral_density, top_eigen, trace
from sgdlab.task import losses
from tests.conftest import tiny_mlp
from tests.curvature.reference import dense_gauss_newton, dense_hessian, next_token, tiny_lm, token_batches


def mlp_problem():
    model = tiny_mlp(torch.float64)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (30,), generator=g)
    return model, as_batches(x, y, 12)


@pytest.mark.parametrize("loss_fn", [F.cross_entropy, losses.mse], ids=["cross_entropy", "mse"])
@pytest.mark.parametrize("reuse_graph", [True, False])
def test_products_match_the_dense_gauss_newton_matrix(loss_fn, reuse_graph):
    model, batches = mlp_problem()
    G = dense_gauss_newton(model, batches, loss_fn)
    assert torch.linalg.eigvalsh(G).min() > -1e-12  # positive semi-definite
    assert not torch.allclose(G, dense_hessian(model, batches, loss_fn), atol=1e-3)  # the model is not linear
    V = torch.randn(G.shape[0], 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    with gauss_newton(model, batches, loss_fn, reuse_graph=reuse_graph) as op:
        GV = torch.stack([op.matvec(v) for v in V.T], dim=1)
        assert op.n_products == 3
    torch.testing.assert_close(GV, G @ V, rtol=1e-10, atol=1e-12)


def test_every_estimator_reads_the_gauss_newton_operator():
    model, batches = mlp_problem()
    G = dense_gauss_newton(model, batches)
    exact = torch.linalg.eigvalsh(G).flip(0)
    with sgdlab.gauss_newton(model, batches) as op:
        eig = top_eigen(op, k=3, tol=1e-10)
        tr, tr_se = trace(op, n_samples=200, seed=1)
        tr_pp, tr_pp_se = trace(op, n_samples=200, seed=1, method="hutch++")
        fro, fro_se = frobenius_norm(op, n_samples=200, seed=1)
        density = spectral_density(op, n_iter=op.dim, n_vectors=1)
    assert eig.converged
    torch.testing.assert_close(eig.values, exact[:3], rtol=1e-8, atol=1e-10)
    assert abs(tr - exact.sum().item()) < 4 * tr_se
    assert abs(tr_pp - exact.sum().item()) < max(4 * tr_pp_se, 1e-10)
    assert abs(fro - torch.linalg.matrix_norm(G).item()) < 4 * fro_se
    np.testing.assert_allclose(np.sort(density.nodes[0]), exact.flip(0).numpy(), atol=1e-8)


def test_a_block_of_a_transformer_through_the_forward_hook():
    model, batches = tiny_lm(), token_batches()
    names = ["mlp.2.weight", "head.weight", "head.bias"]  # in the model's order
    G = dense_gauss_newton(model, batches, forward=next_token, names=names)
    V = torch.randn(G.shape[0], 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with gauss_newton(model, batches, params=["head.*", "mlp.2.weight"], forward=next_token) as op:
        assert op.names == names
        GV = torch.stack([op.matvec(v) for v in V.T], dim=1)
    torch.testing.assert_close(GV, G @ V, rtol=1e-10, atol=1e-12)


def test_the_gauss_newton_matrix_of_the_last_linear_layer_is_its_hessian():
    """The outputs are linear in the head's parameters, so that block of the Hessian has no second term."""
    model, batches = mlp_problem()
    names = ["2.weight", "2.bias"]
    with gauss_newton(model, batches, params="2.*") as op:
        G = torch.stack([op.matvec(e) for e in torch.eye(op.dim, dtype=torch.float64)])
    torch.testing.assert_close(G, dense_hessian(model, batches, names=names), rtol=1e-10, atol=1e-12)
