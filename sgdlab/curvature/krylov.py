"""The Krylov basis that Lanczos and stochastic Lanczos quadrature share.

Lanczos builds an orthonormal basis ``Q`` of ``span{v0, Hv0, H²v0, ...}`` in which ``H`` is the
tridiagonal ``T = QᵀHQ`` (diagonal ``alphas``, off-diagonal ``betas``); the eigenpairs of ``T`` (Ritz
pairs) approximate those of ``H`` at the ends of its spectrum.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from sgdlab.curvature.operators import LinearOperator


class Krylov:
    """Lanczos vectors with full reorthogonalisation, stored as contiguous rows and grown in blocks."""

    def __init__(self, op: LinearOperator, v0: Tensor, max_iter: int, generator: torch.Generator):
        self.op = op
        self.max_iter = max_iter
        self.generator = generator
        self.Q = torch.empty(min(max_iter + 1, 64), op.dim, dtype=op.dtype, device=op.device)
        self.Q[0] = v0 / v0.norm()
        self.alphas: list[Tensor] = []
        self.betas: list[Tensor] = []
        self.restarts: set[int] = set()  # columns started afresh after a breakdown (their beta is 0)

    @property
    def size(self) -> int:
        return len(self.alphas)

    def _orthogonalise(self, w: Tensor, j: int) -> Tensor:
        basis = self.Q[:j]
        for _ in range(2):  # twice is enough (Kahan-Parlett)
            w = w - basis.T @ (basis @ w)
        return w

    def step(self) -> None:
        """One Lanczos step; stays on the device (no host synchronisation)."""
        j = self.size
        q = self.Q[j]
        w = self.op.matvec(q)
        self.alphas.append(q @ w)
        w = self._orthogonalise(w, j + 1)
        beta = w.norm()
        self.betas.append(beta)
        if j + 1 >= self.Q.shape[0]:
            grown = min(2 * self.Q.shape[0], self.max_iter + 1)
            self.Q = torch.cat([self.Q, torch.empty_like(self.Q[: grown - self.Q.shape[0]])])
        self.Q[j + 1] = w / beta.clamp_min(torch.finfo(w.dtype).tiny)

    def repair(self) -> bool:
        """After a breakdown (a ``beta`` at rounding level, zero included: the basis spans an invariant
        subspace), restart there from a random orthogonal vector and drop the steps that followed;
        returns whether it did."""
        betas = torch.stack(self.betas).abs()
        scale = torch.cat([torch.stack(self.alphas).abs(), betas]).max()
        rounding = 100 * torch.finfo(betas.dtype).eps * scale
        broken = [i + 1 for i in torch.nonzero(betas <= rounding).flatten().tolist()]
        broken = [j for j in broken if j not in self.restarts]
        if not broken:
            return False
        j = broken[0]
        self.restarts = {r for r in self.restarts if r < j} | {j}
        v = torch.randn(self.op.dim, generator=self.generator, dtype=self.op.dtype, device=self.op.device)
        v = self._orthogonalise(v, j)
        self.Q[j] = v / v.norm()
        self.betas[j - 1] = torch.zeros_like(self.betas[j - 1])
        del self.alphas[j:], self.betas[j:]
        return True

    def run(self, n: int) -> None:
        """Step until the basis holds ``n`` vectors, repairing breakdowns; after a breakdown at the
        end, step once more, since an invariant subspace's zero residuals say nothing of the rest."""
        while self.size < n:
            self.step()
            if self.size == n and self.repair():
                n = min(max(n, self.size + 1), self.max_iter)

    def ritz(self) -> tuple[Tensor, Tensor, Tensor]:
        """Ritz values (ascending), their eigenvectors in the Krylov basis, and residual estimates."""
        m = self.size
        alphas, betas = torch.stack(self.alphas), torch.stack(self.betas)
        T = torch.diag(alphas) + torch.diag(betas[:-1], 1) + torch.diag(betas[:-1], -1)
        theta, S = torch.linalg.eigh(T)
        return theta, S, (betas[m - 1] * S[m - 1]).abs()


def random_vector(op: LinearOperator, generator: torch.Generator) -> Tensor:
    return torch.randn(op.dim, generator=generator, dtype=op.dtype, device=op.device)


def generator_for(op: LinearOperator, seed: int) -> torch.Generator:
    return torch.Generator(device=op.device).manual_seed(seed)


def rademacher(op: LinearOperator, generator: torch.Generator) -> Tensor:
    """A vector of independent ±1 entries, shape ``(dim,)``."""
    bits = torch.randint(0, 2, (op.dim,), generator=generator, device=op.device)
    return (2 * bits - 1).to(op.dtype)


def mean_and_stderr(samples: list[float]) -> tuple[float, float]:
    """The mean of ``samples`` and its standard error."""
    values = np.asarray(samples)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))
