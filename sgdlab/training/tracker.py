"""Curvature measurements inside your own training loop, in the layout of :func:`sgdlab.run`.

    tracker = sgdlab.Tracker(model, (x_fixed, y_fixed), k=5, every=100)
    for step, (x, y) in enumerate(loader):
        ...; optimizer.step()
        tracker.step(lr=optimizer.param_groups[0]["lr"])   # measures when due, warm-started
    ds = tracker.dataset()                                   # xarray: lambda (step × eig), ...

The measurement set is fixed (tensors, or a ``DataLoader`` read once); the Hessian is that of the
mean loss over it in the engine's BatchNorm policy. Any probe of :mod:`sgdlab.measure.probes` can be tracked.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from torch import Tensor, nn
from torch.utils.data import DataLoader

from sgdlab import curvature
from sgdlab.core import checks
from sgdlab.curvature import vectors
from sgdlab.measure import probes
from sgdlab.measure.probes import Measurement
from sgdlab.measure.variables import annotate
from sgdlab.task import losses
from sgdlab.training import loop as train
from sgdlab.training.config import RunConfig


def _tensors(data: tuple[Tensor, Tensor] | DataLoader) -> tuple[Tensor, Tensor]:
    if isinstance(data, DataLoader):
        xs, ys = zip(*((x, y) for x, y in data))
        return torch.cat(xs), torch.cat(ys)
    if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, Tensor) for t in data)):
        raise ValueError(f"data must be a pair of tensors (x, y) or a DataLoader, got {type(data).__name__}")
    if len(data[0]) != len(data[1]) or len(data[1]) == 0:
        raise ValueError(f"data must hold as many labels as examples (and at least one), got {len(data[0])} "
                         f"examples and {len(data[1])} labels")
    return data[0], data[1]


class Tracker:
    """Measures a model every ``every`` optimizer steps (and at step 0) on a fixed measurement set.

    ``probes``: names from :data:`sgdlab.measure.probes.PROBES` (default the top-``k`` eigenvalues);
    ``loss``: a name from :mod:`sgdlab.task.losses`; ``bn_mode``: the Hessian's BatchNorm policy;
    ``test``: an optional held-out pair for the ``losses`` probe (default: the measurement set).
    """

    def __init__(self, model: nn.Module, data: tuple[Tensor, Tensor] | DataLoader, *, k: int = 5, every: int = 100,
                 probes: tuple[str, ...] = ("eigen",), loss: str = "cross_entropy", bn_mode: str = "eval",
                 eigen_tol: float = 1e-3, batch_size: int = 1024, test: tuple[Tensor, Tensor] | None = None,
                 seed: int = 0):
        checks.integer("every", every, low=1)
        self.config = RunConfig(top_k=k, probes=tuple(probes), loss=loss, bn_mode=bn_mode, eigen_tol=eigen_tol,
                                hessian_batch_size=batch_size, eval_batch_size=batch_size, seed=seed)
        device = next(model.parameters()).device
        x, y = (t.to(device) for t in _tensors(data))
        x = x.to(next(model.parameters()).dtype)
        self.n_params = sum(p.numel() for p in model.parameters())
        if "eigen" in probes and not k <= self.n_params:
            raise ValueError(f"k must be between 1 and the number of parameters ({self.n_params}), got {k}")
        self.every = every
        self.ctx = probes_context(model, self.config, (x, y), test)
        self.steps_taken = 0
        self.records: dict[int, Measurement] = {}
        self.measure()

    def step(self, lr: float | None = None, batch_size: int | None = None) -> bool:
        """Count one optimizer step; measure if it is due. Returns whether it measured."""
        self.steps_taken += 1
        if self.steps_taken % self.every:
            return False
        self.measure(lr, batch_size)
        return True

    def measure(self, lr: float | None = None, batch_size: int | None = None) -> None:
        """Measure now, at the current step (warm-started from the last measurement)."""
        model = self.ctx.model
        n_params = sum(p.numel() for p in model.parameters())
        if n_params != self.n_params:
            raise ValueError(f"the model's parameters changed size: {n_params} now, {self.n_params} "
                             "when tracking began")
        was_training = model.training
        self.ctx.step = self.steps_taken
        self.ctx.lr = lr if lr is not None else float("nan")
        self.ctx.batch_size = batch_size or len(self.ctx.train[1])
        measurement: Measurement = {}
        for name in self.config.probes:
            measurement |= probes.PROBES[name](self.ctx)
        self.records[self.steps_taken] = measurement
        model.train(was_training)

    def dataset(self) -> xr.Dataset:
        """The measurements so far: dims ``step`` and the probes' own (``eig`` ...), with CF attributes."""
        variables, coords = train.stack_records(self.records, "step")
        ds = xr.Dataset(variables, coords=coords | {"step": np.asarray(sorted(self.records))},
                        attrs={"every": self.every, "probes": ",".join(self.config.probes)})
        return annotate(ds)


def probes_context(model: nn.Module, config: RunConfig, data: tuple[Tensor, Tensor],
                   test: tuple[Tensor, Tensor] | None) -> probes.ProbeContext:
    """A probe context over a fixed measurement set, outside a run."""
    ctx = probes.ProbeContext(model=model, config=config, loss_fn=losses.get(config.loss), train=data,
                              test=test if test is not None else data,
                              hessian_batches=curvature.as_batches(*data, config.hessian_batch_size),
                              corrupted=torch.zeros(len(data[1]), dtype=torch.bool, device=data[1].device))
    ctx.state["initial_parameters"] = vectors.flat(list(model.parameters()))
    return ctx
