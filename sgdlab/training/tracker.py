"""Curvature measurements inside your own training loop, in the layout of :func:`sgdlab.run`.

    tracker = sgdlab.Tracker(model, (x_fixed, y_fixed), k=5, every=100)
    for step, (x, y) in enumerate(loader):
        ...; optimizer.step()
        tracker.step(lr=optimizer.param_groups[0]["lr"])   # measures when due, warm-started
    ds = tracker.dataset()                                   # xarray: lambda (step × eig), ...

The measurement set is fixed (tensors, or a ``DataLoader`` read once); the Hessian is that of the
mean loss over it in the engine's BatchNorm policy. Any probe of :mod:`sgdlab.measure.probes` can be tracked.
``params`` tracks a block of parameters (or several, ``{name: block}``: a ``block`` dimension);
``forward`` reads batches of any kind (then ``data`` is a list of batches or a ``DataLoader``).
A model wrapped in ``DistributedDataParallel`` is measured through its module; under
``torch.distributed`` the eigenvalues are those of the union of every rank's measurement set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor, nn
from torch.utils.data import DataLoader

from sgdlab import curvature
from sgdlab.core import checks
from sgdlab.curvature import Forward, ParamSpec, distributed, vectors
from sgdlab.measure.probes import DIRECTION_PROBES, PROBES, Measurement, ProbeContext
from sgdlab.measure.variables import annotate
from sgdlab.task import losses
from sgdlab.training import loop as train
from sgdlab.training.config import RunConfig

BATCH_PROBES = ("eigen", "hessian_norm")  # the probes that read the measurement set through ``forward``


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


def _check_finite(x: Tensor, y: Tensor) -> None:
    for name, t in (("inputs", x), ("labels", y)):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"data: the measurement set's {name} hold non-finite values (nan or inf)")


def _batches(data: Sequence[Any] | DataLoader, probe_names: Sequence[str]) -> list[Any]:
    """The measurement set as a list of batches for ``forward``; ValueError for probes that need tensors."""
    unsupported = [p for p in probe_names if p not in BATCH_PROBES]
    if unsupported:
        raise ValueError(f"probes {unsupported} read (x, y) tensors; with forward= choose among {list(BATCH_PROBES)}")
    batches = list(data) if isinstance(data, (DataLoader, Sequence)) else None
    if not batches:
        raise ValueError(f"data must be a non-empty list of batches or a DataLoader when forward is given, got "
                         f"{type(data).__name__}")
    return batches


class Tracker:
    """Measures a model every ``every`` optimizer steps (and at step 0) on a fixed measurement set.

    ``probes``: names from :data:`sgdlab.measure.probes.PROBES` (default the top-``k`` eigenvalues);
    ``loss``: a name from :mod:`sgdlab.task.losses`; ``bn_mode``: the Hessian's BatchNorm policy;
    ``test``: an optional held-out pair for the ``losses`` probe (default: the measurement set);
    ``params``: the eigen probe's parameter block (:mod:`sgdlab.curvature.blocks`), or a dict
    ``{block name: block}`` of disjoint blocks (``lambda`` over ``block × eig``); ``forward``:
    ``(model, batch) -> (outputs, targets)`` for batches other than ``(x, y)`` tensors.
    """

    def __init__(self, model: nn.Module, data: tuple[Tensor, Tensor] | DataLoader | Sequence[Any], *, k: int = 5,
                 every: int = 100, probes: tuple[str, ...] = ("eigen",), loss: str = "cross_entropy",
                 bn_mode: str = "eval", eigen_tol: float = 1e-3, batch_size: int = 1024,
                 test: tuple[Tensor, Tensor] | None = None, seed: int = 0,
                 params: ParamSpec | Mapping[str, ParamSpec] = None, forward: Forward | None = None):
        checks.integer("every", every, low=1)
        self.config = RunConfig(top_k=k, probes=tuple(probes), loss=loss, bn_mode=bn_mode, eigen_tol=eigen_tol,
                                hessian_batch_size=batch_size, eval_batch_size=batch_size, seed=seed)
        model = distributed.local_module(model)
        if not any(p.requires_grad for p in model.parameters()):
            raise ValueError("model has no trainable parameters (none requires gradients): there is no curvature "
                             "to measure")
        if params is not None and set(probes) & set(DIRECTION_PROBES):
            raise ValueError(f"params={params!r} measures a block of parameters, but the direction probes need the "
                             "eigenvectors of every parameter; leave params=None with them")
        self.n_params = sum(p.numel() for p in model.parameters())
        if "eigen" in probes and not k <= self.n_params:
            raise ValueError(f"k must be between 1 and the number of parameters ({self.n_params}), got {k}")
        self.every = every
        if forward is None:
            self.ctx = probes_context(model, self.config, _device_tensors(model, data), test)
        else:
            self.ctx = _batches_context(model, self.config, _batches(data, probes), forward)
        self.ctx.params = params
        self.steps_taken = 0
        self._last: tuple[float | None, int | None] = (None, None)
        self.records: dict[int, Measurement] = {}
        self.measure()

    def step(self, lr: float | None = None, batch_size: int | None = None) -> bool:
        """Count one optimizer step; measure if it is due. Returns whether it measured."""
        self.steps_taken += 1
        self._last = (lr, batch_size)
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
            measurement |= PROBES[name](self.ctx)
        self.records[self.steps_taken] = measurement
        model.train(was_training)

    def dataset(self, final: bool = True) -> xr.Dataset:
        """The measurements so far: dims ``step`` and the probes' own (``eig`` ...), with CF attributes.

        With ``final`` the state after the last step is measured too when it was not (so a loop shorter
        than ``every`` still gives a curve, from step 0 to its end); under ``torch.distributed`` that
        measurement is collective: call ``dataset`` on every rank, or pass ``final=False``.
        """
        if final and self.steps_taken not in self.records:
            self.measure(*self._last)
        variables, coords = train.stack_records(self.records, "step")
        ds = xr.Dataset(variables, coords=coords | {"step": np.asarray(sorted(self.records))},
                        attrs={"every": self.every, "probes": ",".join(self.config.probes)})
        return annotate(ds)


def _device_tensors(model: nn.Module, data: tuple[Tensor, Tensor] | DataLoader) -> tuple[Tensor, Tensor]:
    """The measurement set on the model's device, inputs in its dtype, checked finite."""
    parameter = next(model.parameters())
    x, y = (t.to(parameter.device) for t in _tensors(data))
    _check_finite(x, y)
    return x.to(parameter.dtype), y


def probes_context(model: nn.Module, config: RunConfig, data: tuple[Tensor, Tensor],
                   test: tuple[Tensor, Tensor] | None) -> ProbeContext:
    """A probe context over a fixed measurement set, outside a run."""
    ctx = ProbeContext(model=model, config=config, loss_fn=losses.get(config.loss), train=data,
                              test=test if test is not None else data,
                              hessian_batches=curvature.as_batches(*data, config.hessian_batch_size),
                              corrupted=torch.zeros(len(data[1]), dtype=torch.bool, device=data[1].device))
    ctx.state["initial_parameters"] = vectors.parameter_vector(model)
    return ctx


def _batches_context(model: nn.Module, config: RunConfig, batches: list[Any], forward: Forward) -> ProbeContext:
    """A probe context whose Hessian batches are read by ``forward``; its (x, y) sets are empty, since
    only the probes of :data:`BATCH_PROBES`, which never read them, are allowed."""
    device = next(p for p in model.parameters()).device
    empty = (torch.empty(0, device=device), torch.empty(0, dtype=torch.long, device=device))
    return ProbeContext(model=model, config=config, loss_fn=losses.get(config.loss), train=empty, test=empty,
                               hessian_batches=batches, forward=forward)
