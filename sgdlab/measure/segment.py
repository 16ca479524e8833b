"""The trace ``"segment"``: the training loss on the segment between consecutive iterates (the maths that
reads a segment is :mod:`sgdlab.theory.segments`)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from sgdlab.core import checks
from sgdlab.measure import probes
from sgdlab.measure.probes import Measurement, ProbeContext
from sgdlab.measure.settings import RunSettings
from sgdlab.measure.traces import StepInfo, Trace, trace
from sgdlab.measure.variables import Variable
from sgdlab.theory.segments import ALPHAS


@trace("segment",
       alpha=Variable("interpolation coefficient", "α of θ_t + α (θ_{t+1} − θ_t) between consecutive iterates"),
       segment_loss=Variable("loss on the segment", "training loss at θ_t + α (θ_{t+1} − θ_t) on a fixed training "
                             "subset, inference mode"),
       segment_step_norm=Variable("step length", "‖θ_{t+1} − θ_t‖ over the trainable parameters", "parameter"))
class Segment(Trace):
    """ℓ_t(α) on the segment of each traced step, on the first ``examples`` examples of the run's fixed
    evaluation subset (option ``examples``; ``None``: all of it), in the curvature engine's mode."""

    options: ClassVar[dict[str, Any]] = {"examples": None}

    def __init__(self, ctx: ProbeContext):
        super().__init__(ctx)
        examples = self.option(ctx.config, "examples")
        x, y = ctx.train
        if examples is not None and not examples <= len(y):
            raise ValueError(f"trace_options['segment']['examples'] must be at most the evaluation subset's size "
                             f"({len(y)}), got {examples}")
        self.data = (x[:examples], y[:examples])

    @classmethod
    def check(cls, config: RunSettings) -> None:
        super().check(config)
        examples = cls.option(config, "examples")
        if examples is not None:
            checks.integer("trace_options['segment']['examples']", examples, low=1)

    def on_step(self, info: StepInfo) -> Measurement:
        params = [p for p in info.model.parameters() if p.requires_grad]
        start, move = info.theta, info.theta_after - info.theta
        cfg = info.config
        values, point = [], torch.empty_like(start)  # one buffer for every α: no allocation per point
        try:
            for alpha in ALPHAS:
                with torch.no_grad():
                    torch.add(start, move, alpha=float(alpha), out=point)
                    torch.nn.utils.vector_to_parameters(point, params)
                values.append(probes.evaluate(info.model, *self.data, cfg.eval_batch_size, cfg.bn_mode,
                                              self.ctx.loss_fn)[0])
        finally:
            with torch.no_grad():
                torch.nn.utils.vector_to_parameters(info.theta_after, params)
        return {"alpha": (("alpha",), ALPHAS), "segment_loss": (("alpha",), np.asarray(values)),
                "segment_step_norm": ((), float(move.norm()))}
