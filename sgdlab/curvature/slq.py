"""The eigenvalue density of a symmetric operator by stochastic Lanczos quadrature.

For a random unit probe ``v``, ``vᵀ f(H) v ≈ Σ_j w_j f(θ_j)`` with Ritz values ``θ_j`` of an
``m``-step Lanczos run from ``v`` and weights ``w_j`` the squared first components of the Ritz
vectors (Golub & Meurant; Ghorbani, Krishnan & Xiao 2019). Smoothing the nodes needs no new products.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sgdlab.curvature.krylov import Krylov, generator_for, random_vector
from sgdlab.curvature.operators import LinearOperator


@dataclass(frozen=True)
class SpectralDensity:
    """Stochastic Lanczos quadrature: per probe vector, Gauss nodes and weights (each row sums to 1)."""

    nodes: np.ndarray
    weights: np.ndarray

    def smooth(self, grid: np.ndarray, sigma: float) -> np.ndarray:
        """The density on ``grid``, each node broadened by a Gaussian of width ``sigma``."""
        diff = grid[:, None, None] - self.nodes[None]
        kernel = np.exp(-0.5 * (diff / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        return (kernel * self.weights[None]).sum(axis=(1, 2)) / len(self.nodes)


def spectral_density(op: LinearOperator, n_iter: int = 80, n_vectors: int = 5, *, seed: int = 0) -> SpectralDensity:
    """The eigenvalue density of ``op`` by stochastic Lanczos quadrature (Ghorbani et al. 2019)."""
    if n_iter < 2 or n_vectors < 1:
        raise ValueError(f"need n_iter >= 2 and n_vectors >= 1, got n_iter={n_iter}, n_vectors={n_vectors}")
    n_iter = min(n_iter, op.dim)
    generator = generator_for(op, seed)
    nodes, weights = [], []
    for _ in range(n_vectors):
        krylov = Krylov(op, random_vector(op, generator), n_iter, generator)
        krylov.run(n_iter)
        theta, S, _ = krylov.ritz()
        nodes.append(theta.cpu().double().numpy())
        weights.append(S[0].square().cpu().double().numpy())
    return SpectralDensity(np.stack(nodes), np.stack(weights))
