"""The training loss as a choice, shared by training, evaluation, the Hessian and the direction probes.

- ``"cross_entropy"``: mean over examples of −log softmax(f(x))_y.
- ``"mse"``: mean over examples of ½‖f(x) − onehot(y)‖², as in Cohen et al. (2021)'s edge-of-stability
  code (``SquaredLoss``), where the sum over classes is halved and averaged over examples.

Every loss maps logits ``(N, C)`` and integer labels ``(N,)`` to a scalar, with ``reduction`` "mean" or "sum".
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

LossFn = Callable[[Tensor, Tensor], Tensor]


def cross_entropy(logits: Tensor, labels: Tensor, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of ``logits`` ``(N, C)`` against class indices ``labels`` ``(N,)``."""
    return F.cross_entropy(logits, labels, reduction=reduction)


def mse(logits: Tensor, labels: Tensor, reduction: str = "mean") -> Tensor:
    """½‖f(x) − onehot(y)‖² per example, averaged (``"mean"``) or summed over the batch."""
    target = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
    per_example = 0.5 * (logits - target).pow(2).sum(dim=1)
    return per_example.mean() if reduction == "mean" else per_example.sum()


LOSSES: dict[str, LossFn] = {"cross_entropy": cross_entropy, "mse": mse}


def get(name: str) -> LossFn:
    """The loss function named ``name``; ``ValueError`` naming the choices otherwise."""
    if name not in LOSSES:
        raise ValueError(f"loss {name!r} is unknown; choose one of: {', '.join(LOSSES)}")
    return LOSSES[name]
