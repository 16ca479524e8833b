"""Hutch++ against Hutchinson on a known low-rank-plus-noise spectrum, at an equal number of products."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sgdlab.curvature import MatrixOperator, trace


def low_rank_plus_noise(dim: int = 300, rank: int = 8, seed: int = 0) -> torch.Tensor:
    """Eigenvalues 100, 80, ..., over a bulk of ``dim - rank`` small ones in [0, 0.5], in a random basis."""
    g = torch.Generator().manual_seed(seed)
    bulk = 0.5 * torch.rand(dim - rank, generator=g, dtype=torch.float64)
    values = torch.cat([torch.linspace(100.0, 20.0, rank, dtype=torch.float64), bulk])
    Q = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64)).Q
    return Q @ torch.diag(values) @ Q.T


def test_hutch_plus_plus_beats_hutchinson_at_equal_products():
    A = low_rank_plus_noise()
    exact = torch.trace(A).item()
    errors: dict[str, list[float]] = {"hutchinson": [], "hutch++": []}
    inside = 0
    for seed in range(30):
        for method in errors:
            op = MatrixOperator(A)
            estimate, stderr = trace(op, n_samples=30, seed=seed, method=method)
            assert op.n_products == 30
            errors[method].append(estimate - exact)
            inside += method == "hutch++" and abs(estimate - exact) <= 3 * stderr
    rms = {method: float(np.sqrt(np.mean(np.square(e)))) for method, e in errors.items()}
    assert rms["hutch++"] < rms["hutchinson"] / 20, rms
    assert inside >= 25  # the error estimate covers the error (3 standard errors, 30 trials)


def test_hutch_plus_plus_is_exact_on_a_low_rank_matrix():
    A = low_rank_plus_noise(dim=50, rank=5)
    values, vectors = torch.linalg.eigh(A)
    A = vectors[:, -5:] @ torch.diag(values[-5:]) @ vectors[:, -5:].T  # the rank-5 part only
    estimate, stderr = trace(MatrixOperator(A), n_samples=18, method="hutch++")  # a 6-column sketch
    assert abs(estimate - torch.trace(A).item()) < 1e-9 and stderr < 1e-9


def test_bad_trace_settings_are_named():
    op = MatrixOperator(torch.eye(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="method 'xtrace' is unknown; choose one of: hutchinson, hutch\\+\\+"):
        trace(op, method="xtrace")
    with pytest.raises(ValueError, match="n_samples must be an integer of at least 4 for hutch\\+\\+, got 3"):
        trace(op, n_samples=3, method="hutch++")
