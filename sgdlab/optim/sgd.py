"""Plain stochastic gradient descent (with the run's momentum and weight decay): ``torch.optim.SGD``.

With ``batch_size=None`` in the run, every step sees the whole training (sub)set: full-batch gradient
descent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from sgdlab.optim.base import OPTIMIZERS, Setting


@OPTIMIZERS.register("sgd")
@dataclass(frozen=True)
class SGD:
    """θ ← θ − η d, d the gradient plus weight decay, accumulated by momentum (PyTorch's convention)."""

    uses_batch: ClassVar[bool] = False
    chooses_lr: ClassVar[bool] = False

    def check(self, n_params: int) -> None:
        """Nothing depends on the model."""

    def build(self, model: nn.Module, setting: Setting) -> torch.optim.Optimizer:
        return torch.optim.SGD(model.parameters(), lr=setting.lr, momentum=setting.momentum,
                               weight_decay=setting.weight_decay)
