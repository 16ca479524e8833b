"""What probes and traces read of a run's configuration: a small protocol, so that measurements do not
depend on the run layer (:class:`~sgdlab.training.config.RunConfig` satisfies it)."""

from __future__ import annotations

from typing import Any, Protocol


class RunSettings(Protocol):
    """The settings a measurement may read; the current learning rate and batch size are not among them:
    a probe reads ``ctx.lr`` and ``ctx.batch_size``, a trace ``info.lr`` and ``info.batch_size``."""

    seed: int
    bn_mode: str
    eval_batch_size: int
    hessian_reuse_graph: bool
    hutchinson_samples: int
    weight_decay: float
    optimizer: Any
    batch_schedule: Any
    trace_options: dict[str, dict[str, Any]]
