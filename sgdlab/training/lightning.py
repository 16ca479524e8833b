"""A PyTorch Lightning callback that tracks curvature along ``Trainer.fit`` (extra ``sgdlab[lightning]``).

    callback = CurvatureCallback((x_fixed, y_fixed), k=5, every=50)
    lightning.Trainer(callbacks=[callback], ...).fit(module, loader)
    callback.dataset()        # the same layout as sgdlab.Tracker.dataset()

Every option of :class:`~sgdlab.training.tracker.Tracker` passes through: ``params="net.4.*"`` tracks one
block (``params={"first": "net.0.*", "last": "net.4.*"}`` several), and ``forward=(module, batch) ->
(outputs, targets)`` with a list of batches as ``data`` reads dictionaries of token ids and the like.
Parameter names are the LightningModule's (``net.0.weight`` for a module held as ``self.net``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import xarray as xr
from torch import Tensor
from torch.utils.data import DataLoader

from sgdlab.training.tracker import Tracker


class CurvatureCallback(pl.Callback):
    """Builds a :class:`~sgdlab.training.tracker.Tracker` on the module when fitting starts and counts every
    optimizer step (``on_train_batch_end``) with the first optimizer's current learning rate."""

    def __init__(self, data: tuple[Tensor, Tensor] | DataLoader | Sequence[Any], **tracker_options: Any):
        self.data = data
        self.options = tracker_options
        self.tracker: Tracker | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.tracker = Tracker(pl_module, self.data, **self.options)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None
        self.tracker.step(lr=lr)

    def dataset(self) -> xr.Dataset:
        """The measurements so far (see :meth:`Tracker.dataset`)."""
        if self.tracker is None:
            raise ValueError("no measurements yet: the callback has not seen Trainer.fit start")
        return self.tracker.dataset()
