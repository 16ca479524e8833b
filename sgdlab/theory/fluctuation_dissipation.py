"""Fluctuation–dissipation relations of stochastic gradient descent, and the trace and probe that measure them.

Yaida, *Fluctuation-dissipation relations for stochastic gradient descent*, ICLR 2019 (arXiv:1810.00004).
SGD with momentum μ and dampening δ on f = L + (λ/2)‖θ‖² (PyTorch's convention) steps

    v_{t+1} = μ v_t + (1 − δ) ∇f_B(θ_t),    θ_{t+1} = θ_t − η v_{t+1},

and the exact per-step identity ‖θ_{t+1}‖² − ‖θ_t‖² = −2η θ_t·v_{t+1} + η²‖v_{t+1}‖² (:func:`norm_change`)
becomes, once the distribution of (θ, v) is stationary (with the same for θ·v),

    FDR1:  ⟨O_L⟩ = ⟨O_R⟩,   O_L = θ·∇f_B,   O_R = (η/2) (1 + μ)/(1 − δ) ‖v‖²

(:func:`observables`; plain SGD: v = ∇f_B and O_R = (η/2)‖∇f_B‖²). Stationarity of ⟨f⟩ gives, to first
order in η and for plain SGD,

    FDR2:  ⟨‖∇f‖²⟩ = (η/2) ⟨E_B[∇f_Bᵀ H_f ∇f_B]⟩,   H_f = ∇²L + λI,

exact on a quadratic (no anharmonicity). FDR2 over FDR1 gives a Hessian magnitude from gradient norms alone,
without a Hessian-vector product: ⟨‖∇f‖²⟩ / ⟨O_R⟩ = ⟨∇f_Bᵀ H_f ∇f_B⟩ / ⟨‖∇f_B‖²⟩, the Hessian's Rayleigh
quotient along the mini-batch gradients (:func:`hessian_magnitude`; ⟨O_L⟩ = ⟨θ·∇f_B⟩ in place of ⟨O_R⟩ at
equilibrium). The paper's code warns that without
weight decay SGD typically does not equilibrate.

Registered here: the accumulator trace ``"fdr"`` (means of O_L and O_R between measurements) and the
probe ``"fdr2"`` (both sides of FDR2, and the direct Rayleigh quotient, by Hessian-vector products).

>>> import torch
>>> theta, d = torch.tensor([3.0, 4.0], dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64)
>>> float((theta - 0.5 * d).pow(2).sum() - theta.pow(2).sum()), float(norm_change(theta, d, 0.5))
(-2.75, -2.75)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from torch import Tensor

FDR_OPTIMIZERS = ("sgd", "fdr")
"""Optimizer kinds whose step is the SGD step above (the ones the "fdr" trace can record)."""


def norm_change(theta: Tensor, direction: Tensor, lr: float) -> Tensor:
    """−2η θ·d + η²‖d‖², which equals ‖θ − ηd‖² − ‖θ‖² exactly (flat ``theta`` and ``direction``)."""
    return -2 * lr * (theta @ direction) + lr**2 * (direction @ direction)


def momentum_factor(momentum: float = 0.0, dampening: float = 0.0) -> float:
    """(1 + μ)/(1 − δ), the factor of O_R under momentum μ and dampening δ (1 for plain SGD)."""
    return (1 + momentum) / (1 - dampening)


def observables(theta: Tensor, gradient: Tensor, lr: float, *, weight_decay: float = 0.0,
                velocity: Tensor | None = None, momentum: float = 0.0, dampening: float = 0.0) -> tuple[float, float]:
    """FDR1's observables (O_L, O_R) of one step.

    ``theta``: flat parameters before the step; ``gradient``: the flat mini-batch gradient of the loss L
    at ``theta`` (weight decay excluded; λθ is added here); ``velocity``: the step's v_{t+1} (the momentum
    buffer after the step; ``None``: ∇f_B, the velocity of plain SGD). O_L = θ·∇f_B and
    O_R = (η/2)(1 + μ)/(1 − δ)‖v‖², in loss units.
    """
    grad_f = gradient + weight_decay * theta
    v = grad_f if velocity is None else velocity
    return float(theta @ grad_f), 0.5 * lr * momentum_factor(momentum, dampening) * float(v @ v)


def half_window_ratio(o_l: Sequence[float], o_r: Sequence[float], counts: Sequence[float] | None = None) -> float:
    """⟨O_L⟩/⟨O_R⟩ over the last half of the steps, as the paper's scheduler measures it.

    ``o_l``, ``o_r``: per-step values (``counts=None``), or means over consecutive windows of ``counts``
    steps each; then the windows that end after half of the steps count, weighted by their steps.
    """
    o_l, o_r = np.asarray(o_l, float), np.asarray(o_r, float)
    if len(o_l) != len(o_r) or not len(o_l):
        raise ValueError(f"o_l and o_r must be non-empty and of one length, got {len(o_l)} and {len(o_r)}")
    if counts is None:
        start = len(o_l) // 2
        return float(o_l[start:].mean() / o_r[start:].mean())
    weights = np.asarray(counts, float)
    ends = np.cumsum(weights)
    late = ends > ends[-1] / 2
    return float((o_l * weights)[late].sum() / (o_r * weights)[late].sum())


def running_half_ratio(o_l: Sequence[float], o_r: Sequence[float], counts: Sequence[float],
                       restarts: Sequence[int] = ()) -> np.ndarray:
    """:func:`half_window_ratio` as known at the end of each window, over the windows since the last restart.

    ``restarts``: the steps at which the record starts afresh (the scheduler's cuts; each at a window's
    boundary), counted from the first window's start.
    """
    o_l, o_r, counts = np.asarray(o_l, float), np.asarray(o_r, float), np.asarray(counts, float)
    ends = np.cumsum(counts)
    out = []
    for end in ends:
        start = max((r for r in restarts if r < end), default=0)
        keep = (ends - counts >= start) & (ends <= end)
        out.append(half_window_ratio(o_l[keep], o_r[keep], counts[keep]))
    return np.asarray(out)


def fdr1_distance(ratio: float) -> float:
    """|⟨O_L⟩/⟨O_R⟩ − 1|: how far FDR1 is from holding (the scheduler fires when it is below X)."""
    return abs(ratio - 1)


def fdr2_right(lr: float, quadratic_forms: Tensor) -> float:
    """(η/2) E_B[∇f_Bᵀ H_f ∇f_B], FDR2's right side, from the quadratic forms of several mini-batch gradients."""
    return 0.5 * lr * float(quadratic_forms.mean())


def hessian_magnitude(grad_sq: float, o_r: float) -> float:
    """⟨‖∇f‖²⟩ / ⟨O_R⟩ for plain SGD (O_R = (η/2)‖∇f_B‖²): the Hessian's Rayleigh quotient along the mini-batch
    gradients, ⟨∇f_Bᵀ H_f ∇f_B⟩ / ⟨‖∇f_B‖²⟩, from gradient norms alone where FDR2 holds. At equilibrium
    FDR1 lets ⟨O_L⟩ = ⟨θ·∇f_B⟩ stand for ⟨O_R⟩ (the paper's form [verify against the paper's text])."""
    return grad_sq / o_r if o_r != 0 else math.nan


def ratio_with_error(numerators: Sequence[float], denominators: Sequence[float],
                     blocks: int = 5) -> tuple[float, float]:
    """⟨a⟩/⟨b⟩ over a time series of paired measurements (aₖ, bₖ) and its standard error by batch means:
    the series is cut into ``blocks`` consecutive blocks of equal length (the remainder dropped from the
    start), rⱼ = āⱼ/b̄ⱼ per block, and the error is the standard deviation of the rⱼ over √blocks. Blocks
    longer than the series' correlation time make the rⱼ nearly independent, so the error counts slow
    fluctuations that a per-measurement error would miss.

    >>> ratio_with_error([2.0, 2.0, 4.0, 4.0], [1.0, 1.0, 2.0, 2.0], blocks=2)
    (2.0, 0.0)
    """
    a, b = np.asarray(numerators, float), np.asarray(denominators, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"numerators and denominators must be 1-D and of one length, got {a.shape} and {b.shape}")
    if not isinstance(blocks, int) or not 2 <= blocks <= len(a):
        raise ValueError(f"blocks must be an integer from 2 to the number of measurements ({len(a)}), got {blocks!r}")
    size = len(a) // blocks
    a, b = a[len(a) - size * blocks:], b[len(b) - size * blocks:]
    per_block = a.reshape(blocks, size).mean(1) / b.reshape(blocks, size).mean(1)
    return float(a.mean() / b.mean()), float(per_block.std(ddof=1) / math.sqrt(blocks))


def norm_sq_change(o_l: Sequence[float], o_r: Sequence[float], counts: Sequence[float], lr: float) -> np.ndarray:
    """‖θ‖² after each window minus ‖θ‖² at the first window's start, for plain SGD at a constant η, from the
    "fdr" trace's window means: Σ_windows counts·(−2η)(⟨O_L⟩ − ⟨O_R⟩), shape ``(windows,)``. Exact by the
    per-step identity (:func:`norm_change`, O_L = θ·∇f_B, O_R = (η/2)‖∇f_B‖²), with no weight norm recorded."""
    o_l, o_r, counts = np.asarray(o_l, float), np.asarray(o_r, float), np.asarray(counts, float)
    if not o_l.shape == o_r.shape == counts.shape or o_l.ndim != 1:
        raise ValueError(f"o_l, o_r and counts must be 1-D and of one length, got {o_l.shape}, {o_r.shape}, "
                         f"{counts.shape}")
    return np.cumsum(-2 * lr * counts * (o_l - o_r))


def drift_fraction(f_start: float, f_end: float, steps: int, lr: float, grad_sq: float) -> float:
    """−(f_end − f_start)/(η T ⟨‖∇f‖²⟩): the part of FDR2's imbalance (left − right)/left that a drift of f explains.

    Summing f(θ_{t+1}) − f(θ_t) = −η∇f·∇f_B + (η²/2)∇f_Bᵀ H_f ∇f_B + O(η³) over the T = ``steps`` steps of a
    window and taking E_B gives ⟨‖∇f‖²⟩ − (η/2)⟨E_B ∇f_Bᵀ H_f ∇f_B⟩ = −(f_end − f_start)/(ηT) + O(η²); FDR2
    assumes a stationary f. ``f_start``, ``f_end``: f = L + (λ/2)‖θ‖² at the window's ends; ``grad_sq``:
    ⟨‖∇f‖²⟩ over the window. Positive while f falls (the left side then exceeds the right).
    """
    if not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not grad_sq > 0:
        raise ValueError(f"grad_sq must be positive, got {grad_sq!r}")
    return float(-(f_end - f_start) / (lr * steps * grad_sq))
