"""The loss along chosen directions of parameter space, on flat parameter vectors.

The maths behind the direction probes (Jastrzębski et al., ICLR 2019, Sec. 4): how much of an SGD
step's effect comes from its component along a direction ``u`` (step decomposition), the loss along
``u`` around the current point (cross-sections), whether the step along ``u`` crosses the valley
(opposite walls), and how well mini-batch gradients align with ``u``. Every function takes the loss
as a function of the flat parameter vector, so it applies to any model (see :func:`loss_of`) and to
closed-form losses in tests. Directions are unit vectors, the columns of a ``(dim, m)`` matrix;
gradients are the rows of a ``(B, dim)`` matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from sgdlab.curvature import Batch, LossFn

Loss = Callable[[Tensor], Tensor]

SCALES = (0.25, 1 / 3, 0.5, 1.0, 2.0, 3.0, 4.0)
"""γ′: multiples of the step's own component along a direction, as in the paper."""
OFFSETS = tuple(sorted({s * a for a in (0, 0.25, 0.5, 1, 2, 4, 8, 16) for s in (-1, 1)}))
"""Cross-section offsets in units of the mean step length along the direction, as in the paper."""


def loss_of(model: nn.Module, batches: Sequence[Batch], loss_fn: LossFn = F.cross_entropy) -> Loss:
    """The mean ``loss_fn`` over ``batches`` (each weighted by its size) as a differentiable function
    of the flat parameter vector. The model's own parameters are not changed; its mode is used as is."""
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    total = sum(len(y) for _, y in batches)

    def loss(theta: Tensor) -> Tensor:
        params, offset = {}, 0
        for name, p in named:
            params[name] = theta[offset : offset + p.numel()].view_as(p)
            offset += p.numel()
        return sum(loss_fn(functional_call(model, params, (x,)), y) * (len(y) / total) for x, y in batches)

    return loss


def gradient_of(loss: Loss, theta: Tensor) -> Tensor:
    """``∇loss(theta)`` as a flat vector."""
    theta = theta.detach().requires_grad_(True)
    with torch.enable_grad():
        return torch.autograd.grad(loss(theta), theta)[0]


@torch.no_grad()
def step_decomposition(loss: Loss, theta: Tensor, grads: Tensor, directions: Tensor, lr: float,
                       scales: Sequence[float] = SCALES) -> Tensor:
    """The loss change from moving by ``s`` times each step's component along each direction, relative
    to the loss change of the full steps: ``mean_b[L(θ − s η (g_b·u) u) − L(θ)] / |mean_b[L(θ − η g_b) − L(θ)]|``.

    Shape ``(m, len(scales))``; negative values mean the partial step lowers the loss.
    """
    base = loss(theta)
    full = torch.stack([loss(theta - lr * g) - base for g in grads]).mean().abs()
    components = grads @ directions  # (B, m)
    out = torch.empty(directions.shape[1], len(scales), dtype=theta.dtype, device=theta.device)
    for i in range(directions.shape[1]):
        for j, s in enumerate(scales):
            changes = [loss(theta - s * lr * c * directions[:, i]) - base for c in components[:, i]]
            out[i, j] = torch.stack(changes).mean() / full
    return out


def step_lengths(grads: Tensor, directions: Tensor, lr: float) -> Tensor:
    """The mean length ``mean_b η|g_b·u|`` of the steps' components along each direction, shape ``(m,)``."""
    return lr * (grads @ directions).abs().mean(dim=0)


def orient(grads: Tensor, directions: Tensor) -> Tensor:
    """The directions with signs flipped so that the mean SGD step ``−η mean_b g_b`` has a non-negative component."""
    signs = torch.where(grads.mean(dim=0) @ directions > 0, -1.0, 1.0).to(directions.dtype)
    return directions * signs


@torch.no_grad()
def cross_section(loss: Loss, theta: Tensor, directions: Tensor, units: Tensor,
                  offsets: Sequence[float] = OFFSETS) -> Tensor:
    """``L(θ + a · unit_i · u_i)`` for every direction ``u_i`` and offset ``a``, shape ``(m, len(offsets))``."""
    return torch.stack([
        torch.stack([loss(theta + a * unit * u) for a in offsets]) for u, unit in zip(directions.T, units)
    ])


def opposite_walls(loss: Loss, theta: Tensor, grads: Tensor, directions: Tensor, lr: float) -> Tensor:
    """For each direction, the fraction of steps whose component along it crosses the valley.

    The component ``d = −η (g_b·u) u`` starts on one wall and ends on the other when the loss falls
    along ``d`` at θ and rises along ``d`` at θ + d: ``∇L(θ)·d < 0 < ∇L(θ + d)·d``. Shape ``(m,)``.
    """
    start = gradient_of(loss, theta) @ directions  # (m,)
    components = grads @ directions  # (B, m)
    crossed = torch.zeros_like(components)
    for i, u in enumerate(directions.T):
        for b, c in enumerate(components[:, i]):
            d = -lr * c * u
            end = gradient_of(loss, theta + d) @ d
            crossed[b, i] = float(bool(start[i] * (-lr * c) < 0 < end))
    return crossed.mean(dim=0)


def alignment(grads: Tensor, directions: Tensor) -> Tensor:
    """``mean_b |cos(g_b, u_i)|`` for each (unit) direction ``u_i``, shape ``(m,)``."""
    return ((grads @ directions).abs() / grads.norm(dim=1, keepdim=True)).mean(dim=0)


def random_alignment(dim: int) -> float:
    """The expected ``|cos(g, u)|`` for ``u`` uniform on the unit sphere in ``dim`` dimensions,
    ``Γ(d/2) / (√π Γ((d+1)/2))`` (≈ √(2/(π d)) for large ``d``)."""
    if dim < 1:
        raise ValueError(f"dim must be a positive integer, got {dim}")
    return math.exp(math.lgamma(dim / 2) - math.lgamma((dim + 1) / 2)) / math.sqrt(math.pi)


def random_direction(dim: int, generator: torch.Generator, dtype: torch.dtype = torch.float32,
                     device: torch.device | str = "cpu") -> Tensor:
    """A uniformly random unit vector, shape ``(dim, 1)``."""
    u = torch.randn(dim, 1, generator=generator, dtype=dtype).to(device)
    return u / u.norm()
