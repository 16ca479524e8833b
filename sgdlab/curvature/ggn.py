"""The generalised Gauss–Newton matrix as a linear operator.

For outputs ``z_b = f(θ; batch_b)`` and per-batch losses ``ℓ_b(z_b)``, the Hessian splits as
``∇²_θ ℓ_b = J_bᵀ H_ℓ J_b + Σ_i (∂ℓ_b/∂z_i) ∇²_θ z_i`` with ``J_b = ∂z_b/∂θ`` and ``H_ℓ = ∂²ℓ_b/∂z_b²``.
The generalised Gauss–Newton matrix keeps the first term,

    G = Σ_b (n_b / N) J_bᵀ H_ℓ,b J_b,

positive semi-definite whenever the loss is convex in the outputs (cross-entropy, mean squared
error), and equal to the Hessian where the model is linear in θ (Schraudolph 2002; Martens 2020).
A product ``G v`` is three passes per batch: ``J v`` (a backward pass of a backward pass),
``H_ℓ (J v)`` (one more through the loss) and ``Jᵀ (·)`` (a backward pass).

>>> import torch
>>> from torch import nn
>>> _ = torch.manual_seed(0)
>>> linear = nn.Linear(3, 2, bias=False).double()
>>> x, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 2, dtype=torch.float64)
>>> mse = lambda out, target: 0.5 * (out - target).pow(2).sum(dim=1).mean()
>>> with gauss_newton(linear, [(x, y)], mse) as G:   # linear model: G = H = I₂ ⊗ XᵀX / 8
...     dense = torch.stack([G.matvec(e) for e in torch.eye(6, dtype=torch.float64)])
>>> torch.allclose(dense, torch.kron(torch.eye(2, dtype=torch.float64), x.T @ x / 8))
True

References: N. N. Schraudolph, "Fast curvature matrix-vector products for second-order gradient
descent", Neural Computation 14 (2002); J. Martens, "New insights and perspectives on the natural
gradient method", JMLR 21 (2020).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sgdlab.curvature import distributed
from sgdlab.curvature.blocks import ParamSpec
from sgdlab.curvature.operators import CurvatureOperator, Forward, LossFn, operator


class GaussNewtonOperator(CurvatureOperator):
    """Products ``G v`` of the generalised Gauss–Newton matrix; build it with :func:`gauss_newton`.

    With ``reuse_graph`` every batch's outputs and loss gradient ``∂ℓ_b/∂z_b`` keep their graphs for all
    products; otherwise each product recomputes them one batch at a time.
    """

    def __init__(self, model: nn.Module, batches: Sequence[Any], loss_fn: LossFn, reuse_graph: bool,
                 params: ParamSpec = None, forward: Forward | None = None):
        super().__init__(model, batches, loss_fn, params, forward)
        self._prepare(keep=reuse_graph)
        self._kept = [self._linearise(outputs, loss) for outputs, _, loss in self._weighted()] if reuse_graph else []

    @staticmethod
    def _linearise(outputs: Tensor, loss: Tensor) -> tuple[Tensor, Tensor]:
        """The outputs and the loss's gradient with respect to them, both differentiable."""
        return outputs, torch.autograd.grad(loss, outputs, create_graph=True)[0]

    def _batch(self, index: int) -> tuple[Tensor, Tensor]:
        if self._kept:
            return self._kept[index]
        outputs, targets = self.forward(self.model, self.batches[index])
        return self._linearise(outputs, self.loss_fn(outputs, targets) * self._weights[index])

    def _product(self, outputs: Tensor, loss_grad: Tensor, v: Tensor) -> Tensor:
        """``Jᵀ H_ℓ J v`` of one batch (its weight is inside ``loss_grad``)."""
        u = torch.zeros_like(outputs, requires_grad=True)
        vjp = torch.autograd.grad(outputs, self.params, grad_outputs=u, create_graph=True, materialize_grads=True)
        jv = torch.autograd.grad(vjp, u, grad_outputs=self._unflat(v), retain_graph=True, materialize_grads=True)[0]
        hjv = torch.autograd.grad(loss_grad, outputs, grad_outputs=jv, retain_graph=True, materialize_grads=True)[0]
        return self._flat(torch.autograd.grad(outputs, self.params, grad_outputs=hjv, retain_graph=True,
                                              materialize_grads=True))

    def matvec(self, v: Tensor) -> Tensor:
        """``G @ v`` for a flat vector ``v`` of shape ``(dim,)``."""
        self.n_products += 1
        out = torch.zeros_like(v)
        for index in range(len(self.batches)):
            out += self._product(*self._batch(index), v)
        return distributed.reduce_(out)

    def close(self) -> None:
        """Free the retained graphs."""
        self._kept = []


@contextmanager
def gauss_newton(
    model: nn.Module,
    batches: Sequence[Any],
    loss_fn: LossFn = F.cross_entropy,
    *,
    params: ParamSpec = None,
    forward: Forward | None = None,
    reuse_graph: bool = True,
    bn_mode: str = "eval",
) -> Iterator[GaussNewtonOperator]:
    """The generalised Gauss–Newton matrix ``G = Σ_b (n_b / N) J_bᵀ H_ℓ,b J_b`` of the mean ``loss_fn``
    over ``batches``, as a linear operator for :func:`~sgdlab.curvature.top_eigen`,
    :func:`~sgdlab.curvature.trace`, :func:`~sgdlab.curvature.frobenius_norm` and
    :func:`~sgdlab.curvature.spectral_density`; ``params``, ``forward``, ``bn_mode``, precision and
    processes as in :func:`~sgdlab.curvature.hessian`. ``J_b`` is the Jacobian of the outputs that
    ``forward`` returns, so ``loss_fn`` sees them as they are (logits for cross-entropy)."""
    with operator(GaussNewtonOperator, model, batches, loss_fn, reuse_graph, bn_mode, params, forward) as op:
        yield op
