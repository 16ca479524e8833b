"""Hutchinson's stochastic estimates of ``tr(H)`` and ``|H|_F`` from Rademacher probes.

``tr(H) = E[vᵀHv]`` and ``|H|_F² = tr(H²) = E|Hv|²`` for ``v`` with independent ±1 entries
(Hutchinson 1989); each estimate is returned with its standard error over the probes.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from sgdlab.curvature.krylov import generator_for
from sgdlab.curvature.operators import LinearOperator


def _rademacher(op: LinearOperator, generator: torch.Generator) -> Tensor:
    bits = torch.randint(0, 2, (op.dim,), generator=generator, device=op.device)
    return (2 * bits - 1).to(op.dtype)


def _mean_and_stderr(samples: list[float]) -> tuple[float, float]:
    values = np.asarray(samples)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


def trace(op: LinearOperator, n_samples: int = 100, *, seed: int = 0) -> tuple[float, float]:
    """Hutchinson's estimate of ``tr(H)`` with Rademacher probes: ``(estimate, standard error)``."""
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2, got {n_samples}")
    generator = generator_for(op, seed)
    samples = []
    for _ in range(n_samples):
        v = _rademacher(op, generator)
        samples.append(float(v @ op.matvec(v)))
    return _mean_and_stderr(samples)


def frobenius_norm(op: LinearOperator, n_samples: int = 20, *, seed: int = 0) -> tuple[float, float]:
    """``|H|_F`` from Hutchinson's estimate of ``tr(H²) = E|Hv|²``: ``(estimate, standard error)``."""
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2, got {n_samples}")
    generator = generator_for(op, seed)
    samples = [float(op.matvec(_rademacher(op, generator)).square().sum()) for _ in range(n_samples)]
    mean_sq, stderr_sq = _mean_and_stderr(samples)
    norm = math.sqrt(max(mean_sq, 0.0))
    return norm, stderr_sq / (2 * norm) if norm > 0 else 0.0
