"""The curvature engine, usable alone: operators, Lanczos, Hutchinson and Hutch++, stochastic Lanczos quadrature.

One estimator a module: :mod:`~sgdlab.curvature.operators` (the Hessian as a linear operator on flat
vectors, over a parameter block (:mod:`~sgdlab.curvature.blocks`), any batch through a ``forward``
hook, summed over ranks under ``torch.distributed`` (:mod:`~sgdlab.curvature.distributed`)),
:mod:`~sgdlab.curvature.ggn` (the generalised Gauss–Newton matrix),
:mod:`~sgdlab.curvature.lanczos` (top eigenpairs), :mod:`~sgdlab.curvature.hutchinson` (trace and
Frobenius norm), :mod:`~sgdlab.curvature.hutchplusplus` (Hutch++ trace), :mod:`~sgdlab.curvature.slq`
(spectral density).
"""

from sgdlab.curvature.blocks import ParamSpec, check_blocks, select
from sgdlab.curvature.ggn import GaussNewtonOperator, gauss_newton
from sgdlab.curvature.hutchinson import TRACE_METHODS, frobenius_norm, trace
from sgdlab.curvature.lanczos import WARM_METHODS, Eigen, top_eigen, tracking_budget
from sgdlab.curvature.operators import (
    BN_MODES,
    Batch,
    CurvatureOperator,
    Forward,
    HessianOperator,
    LinearOperator,
    LossFn,
    MatrixOperator,
    as_batches,
    curvature_mode,
    default_forward,
    hessian,
)
from sgdlab.curvature.slq import SpectralDensity, spectral_density

__all__ = ["BN_MODES", "TRACE_METHODS", "WARM_METHODS", "Batch", "CurvatureOperator", "Eigen", "Forward",
           "GaussNewtonOperator", "HessianOperator", "LinearOperator", "LossFn", "MatrixOperator", "ParamSpec",
           "SpectralDensity", "as_batches", "check_blocks", "curvature_mode", "default_forward", "frobenius_norm",
           "gauss_newton", "hessian", "select", "spectral_density", "top_eigen", "trace", "tracking_budget"]
