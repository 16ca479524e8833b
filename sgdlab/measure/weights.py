"""The trace ``"weights"``: one parameter's weights at each step of its schedule, for the variance–flatness
analysis (:mod:`sgdlab.theory.variance_flatness`)."""

from __future__ import annotations

from typing import Any, ClassVar

from sgdlab.measure.probes import Measurement, ProbeContext
from sgdlab.measure.settings import RunSettings
from sgdlab.measure.traces import StepInfo, Trace, trace
from sgdlab.measure.variables import Variable
from sgdlab.task import models


@trace("weights",
       layer_weights=Variable("layer weights", "the flat weights of one parameter of the model (option layer) "
                              "after the step", "parameter"),
       model_weights=Variable("model weights", "the flat state of the whole model after the step, laid out as "
                              "the run's final_state (recorded with option whole_model=True)", "parameter"))
class Weights(Trace):
    """The weights of the parameter named by option ``layer`` (e.g. ``"3.weight"``) after each traced step;
    with option ``whole_model=True`` also the whole model's state (so that every layer's window mean is known)."""

    options: ClassVar[dict[str, Any]] = {"layer": None, "whole_model": False}

    def __init__(self, ctx: ProbeContext):
        super().__init__(ctx)
        names = dict(ctx.model.named_parameters())
        layer = self.option(ctx.config, "layer")
        if layer not in names:
            raise ValueError(f"trace_options['weights']['layer'] {layer!r} is not a parameter of this model; "
                             f"choose one of: {', '.join(names)}")
        self.param = names[layer]

    @classmethod
    def check(cls, config: RunSettings) -> None:
        super().check(config)
        if not isinstance(cls.option(config, "layer"), str):
            raise ValueError(f"the 'weights' trace needs trace_options['weights']['layer'], a parameter name "
                             f"(e.g. '3.weight'), got {cls.option(config, 'layer')!r}")

    def on_step(self, info: StepInfo) -> Measurement:
        measured = {"layer_weights": (("weight",), self.param.detach().reshape(-1).double().cpu().numpy())}
        if self.option(self.ctx.config, "whole_model"):
            measured["model_weights"] = (("state",), models.state_vector(self.ctx.model).double().cpu().numpy())
        return measured
