"""What is recorded at every optimizer step: per-step traces and accumulators.

After every optimizer step the run loop hands a :class:`StepInfo` (the step, the current learning rate
and batch size, the batch, the loss, θ before the step, the optimizer) to the traces that are due. A
*per-step* trace returns ``{name: (dims, values)}`` for that step; its values land on the run's
``iteration`` dim (step ``t`` is the move from state ``t`` to ``t + 1``). An *accumulator* sees every step
and is read at measurement steps, like a probe: it returns what it accumulated since its last reading
(e.g. means over the steps in between), on the ``step`` dim.

A trace is a class registered with :func:`trace`; it is built once per run with the run's
:class:`~sgdlab.measure.probes.ProbeContext`, and its class method ``check(config)`` rejects configurations it
cannot record, before training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from sgdlab.curvature import Batch
from sgdlab.curvature.vectors import flat
from sgdlab.measure.probes import Measurement, ProbeContext
from sgdlab.measure.settings import RunSettings
from sgdlab.measure.variables import Variable, declare


@dataclass
class StepInfo:
    """One optimizer step, from state ``step`` to ``step + 1``, as the traces see it (after the step).

    ``batches``: the step's examples in chunks of the physical batch size (after augmentation);
    ``loss`` and ``accuracy``: of the model on them before the step (training mode); ``theta``: the
    flat trainable parameters before the step; ``gradient``: the flat gradient of the batch's mean loss
    at ``theta`` (weight decay excluded), read from the parameters' ``.grad`` when first asked for.
    """

    step: int
    epoch: float
    lr: float
    batch_size: int
    batches: list[Batch]
    loss: float
    accuracy: float
    theta: Tensor
    model: nn.Module
    optimizer: torch.optim.Optimizer
    config: RunSettings

    @cached_property
    def gradient(self) -> Tensor:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return flat([p.grad if p.grad is not None else torch.zeros_like(p) for p in params])

    @cached_property
    def theta_after(self) -> Tensor:
        """The flat trainable parameters after the step."""
        return flat([p for p in self.model.parameters() if p.requires_grad])


class Trace:
    """Base class of traces: override :meth:`on_step`, and :meth:`read` for an accumulator."""

    accumulates: ClassVar[bool] = False  # read at measurement steps, onto the step dim
    needs_fixed_batch: ClassVar[bool] = False  # refuses batch-size schedules
    options: ClassVar[dict[str, Any]] = {}  # option names and defaults, set by RunConfig.trace_options

    def __init__(self, ctx: ProbeContext):
        self.ctx = ctx

    @classmethod
    def option(cls, config: RunSettings, name: str) -> Any:
        """The value of option ``name`` in ``config.trace_options`` (its default when not set)."""
        return config.trace_options.get(cls.name, {}).get(name, cls.options[name])

    @classmethod
    def check(cls, config: RunSettings) -> None:
        """Raise ``ValueError`` if this trace cannot be recorded under ``config``."""
        if cls.needs_fixed_batch and config.batch_schedule is not None:
            raise ValueError(f"trace {cls.name!r} needs a fixed batch size; this run has a batch_schedule")

    def on_step(self, info: StepInfo) -> Measurement | None:
        raise NotImplementedError

    def read(self) -> Measurement:
        raise NotImplementedError


TRACES: dict[str, type[Trace]] = {}


def trace(name: str, **variables: Variable) -> Callable[[type[Trace]], type[Trace]]:
    """Register a trace class under ``name`` with the attributes of the variables it records."""

    def add(cls: type[Trace]) -> type[Trace]:
        if name in TRACES:
            raise ValueError(f"trace {name!r} is registered already")
        declare(**variables)
        cls.name = name
        TRACES[name] = cls
        return cls

    return add


@trace("loss",
       batch_loss=Variable("mini-batch loss", "mean loss of the step's batch before the step, training mode"),
       batch_acc=Variable("mini-batch accuracy", "accuracy on the step's batch before the step, training mode"),
       step_lr=Variable("learning rate", "the learning rate the step used (schedules and tuners included)"),
       step_batch_size=Variable("batch size", "the number of examples in the step's batch", "examples"))
class LossTrace(Trace):
    """The loss and accuracy on each step's own batch (with full batch: the training loss), its learning
    rate and batch size."""

    def on_step(self, info: StepInfo) -> Measurement:
        return {"batch_loss": ((), info.loss), "batch_acc": ((), info.accuracy), "step_lr": ((), info.lr),
                "step_batch_size": ((), info.batch_size)}


@trace("gradient_norm",
       mean_grad_norm_sq=Variable("mean squared gradient norm", "mean over the steps since the last measurement "
                                  "of ‖∇L_B‖² on each step's batch", "loss² / parameter²"),
       steps_averaged=Variable("steps averaged", "number of optimizer steps in the mean", "steps"))
class GradientNorm(Trace):
    """An accumulator: the mean of ‖∇L_B(θ_t)‖² over the steps between two measurements."""

    accumulates = True

    def __init__(self, ctx: ProbeContext):
        super().__init__(ctx)
        self.total, self.count = 0.0, 0

    def on_step(self, info: StepInfo) -> None:
        self.total += float(info.gradient.pow(2).sum())
        self.count += 1

    def read(self) -> Measurement:
        mean = self.total / self.count if self.count else float("nan")
        out = {"mean_grad_norm_sq": ((), mean), "steps_averaged": ((), self.count)}
        self.total, self.count = 0.0, 0
        return out


def build(names: tuple[str, ...], ctx: ProbeContext) -> dict[str, Trace]:
    """The run's traces, by name."""
    return {name: TRACES[name](ctx) for name in names}
