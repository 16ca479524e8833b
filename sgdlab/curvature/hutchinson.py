"""Hutchinson's stochastic estimates of ``tr(H)`` and ``|H|_F`` from Rademacher probes.

``tr(H) = E[vᵀHv]`` and ``|H|_F² = tr(H²) = E|Hv|²`` for ``v`` with independent ±1 entries
(Hutchinson 1989); each estimate is returned with its standard error over the probes.
"""

from __future__ import annotations

import math

from sgdlab.curvature.hutchplusplus import hutchplusplus
from sgdlab.curvature.krylov import generator_for, mean_and_stderr, rademacher
from sgdlab.curvature.operators import LinearOperator

TRACE_METHODS = ("hutchinson", "hutch++")


def trace(op: LinearOperator, n_samples: int = 100, *, seed: int = 0,
          method: str = "hutchinson") -> tuple[float, float]:
    """An estimate of ``tr(H)`` from ``n_samples`` products: ``(estimate, standard error)``.

    ``method="hutchinson"`` (the default): the mean of ``vᵀHv`` over Rademacher probes ``v``.
    ``method="hutch++"``: Hutchinson on what a rank-``n_samples/3`` sketch of ``H`` leaves
    (:func:`~sgdlab.curvature.hutchplusplus.hutchplusplus`), far more accurate at equal products when
    a few eigenvalues dominate the spectrum.
    """
    if method not in TRACE_METHODS:
        raise ValueError(f"method {method!r} is unknown; choose one of: {', '.join(TRACE_METHODS)}")
    if method == "hutch++":
        return hutchplusplus(op, n_samples, seed=seed)
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2, got {n_samples}")
    generator = generator_for(op, seed)
    samples = []
    for _ in range(n_samples):
        v = rademacher(op, generator)
        samples.append(float(v @ op.matvec(v)))
    return mean_and_stderr(samples)


def frobenius_norm(op: LinearOperator, n_samples: int = 20, *, seed: int = 0) -> tuple[float, float]:
    """``|H|_F`` from Hutchinson's estimate of ``tr(H²) = E|Hv|²``: ``(estimate, standard error)``."""
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2, got {n_samples}")
    generator = generator_for(op, seed)
    samples = [float(op.matvec(rademacher(op, generator)).square().sum()) for _ in range(n_samples)]
    mean_sq, stderr_sq = mean_and_stderr(samples)
    norm = math.sqrt(max(mean_sq, 0.0))
    return norm, stderr_sq / (2 * norm) if norm > 0 else 0.0
