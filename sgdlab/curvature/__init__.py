"""The Hessian engine, usable alone: operators, Lanczos, Hutchinson, stochastic Lanczos quadrature.

One estimator a module: :mod:`~sgdlab.curvature.operators` (the Hessian as a linear operator on flat
vectors), :mod:`~sgdlab.curvature.lanczos` (top eigenpairs), :mod:`~sgdlab.curvature.hutchinson`
(trace and Frobenius norm), :mod:`~sgdlab.curvature.slq` (spectral density).
"""

from sgdlab.curvature.hutchinson import frobenius_norm, trace
from sgdlab.curvature.lanczos import WARM_METHODS, Eigen, top_eigen, tracking_budget
from sgdlab.curvature.operators import (
    BN_MODES,
    Batch,
    HessianOperator,
    LinearOperator,
    LossFn,
    MatrixOperator,
    as_batches,
    curvature_mode,
    hessian,
)
from sgdlab.curvature.slq import SpectralDensity, spectral_density

__all__ = ["BN_MODES", "WARM_METHODS", "Batch", "Eigen", "HessianOperator", "LinearOperator", "LossFn",
           "MatrixOperator", "SpectralDensity", "as_batches", "curvature_mode", "frobenius_norm", "hessian",
           "spectral_density", "top_eigen", "trace", "tracking_budget"]
