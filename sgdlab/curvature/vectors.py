"""Flat vectors, as the engine and every measurement see a model: its trainable parameters, in
``model.parameters()`` order, concatenated into one detached vector of ``n_params`` entries."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn


def flat(tensors: Iterable[Tensor]) -> Tensor:
    """Tensors concatenated into one detached flat vector (shape ``(sum of their numels,)``)."""
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def parameter_vector(model: nn.Module) -> Tensor:
    """The trainable parameters as one detached flat vector, in ``model.parameters()`` order."""
    return flat(p for p in model.parameters() if p.requires_grad)
