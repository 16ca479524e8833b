"""The trace ``"fdr"`` (means of FDR1's observables between measurements) and the probe ``"fdr2"`` (both
sides of FDR2 and the direct Rayleigh quotient by Hessian-vector products); the relations themselves are
:mod:`sgdlab.theory.fluctuation_dissipation`."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sgdlab import curvature
from sgdlab.curvature import vectors
from sgdlab.measure import probes
from sgdlab.measure.probes import Measurement, ProbeContext
from sgdlab.measure.traces import StepInfo, Trace, trace
from sgdlab.measure.variables import Variable
from sgdlab.theory import directions
from sgdlab.theory.fluctuation_dissipation import FDR_OPTIMIZERS, fdr2_right, observables


def velocity_of(info: StepInfo) -> Tensor | None:
    """The step's velocity v_{t+1}: the optimizer's momentum buffer after the step (``None`` without momentum)."""
    if not info.optimizer.param_groups[0]["momentum"]:
        return None
    params = [p for p in info.model.parameters() if p.requires_grad]
    return vectors.flat([info.optimizer.state[p]["momentum_buffer"] for p in params])


@trace("fdr",
       fdr_ol=Variable("O_L = θ·∇f_B", "mean over the steps since the last measurement of θ_t·∇f_B(θ_t), f = L + "
                       "(λ/2)‖θ‖²", "loss"),
       fdr_or=Variable("O_R = (η/2)(1+μ)/(1−δ)‖v‖²", "mean over the steps since the last measurement of "
                       "(η/2)(1+μ)/(1−δ)‖v_{t+1}‖² (plain SGD: (η/2)‖∇f_B‖²)", "loss"),
       fdr_steps=Variable("steps in the FDR means", "number of optimizer steps in fdr_ol and fdr_or", "steps"))
class FDRTrace(Trace):
    """An accumulator of FDR1's observables: the means of O_L and O_R between two measurements."""

    accumulates = True

    def __init__(self, ctx: ProbeContext):
        super().__init__(ctx)
        self.o_l, self.o_r, self.count = 0.0, 0.0, 0

    @classmethod
    def check(cls, config) -> None:
        super().check(config)
        kind = type(config.optimizer).kind
        if kind not in FDR_OPTIMIZERS:
            raise ValueError(f"trace 'fdr' records the SGD step; optimizer {kind!r} is not one of {FDR_OPTIMIZERS}")

    def on_step(self, info: StepInfo) -> None:
        group = info.optimizer.param_groups[0]
        o_l, o_r = observables(info.theta, info.gradient, info.lr, weight_decay=info.config.weight_decay,
                               velocity=velocity_of(info), momentum=group["momentum"],
                               dampening=group.get("dampening", 0.0))
        self.o_l += o_l
        self.o_r += o_r
        self.count += 1

    def read(self) -> Measurement:
        n = self.count or math.nan
        out = {"fdr_ol": ((), self.o_l / n), "fdr_or": ((), self.o_r / n), "fdr_steps": ((), self.count)}
        self.o_l, self.o_r, self.count = 0.0, 0.0, 0
        return out


def _quadratic_forms(ctx: ProbeContext, grads: Tensor, weight_decay: float) -> Tensor:
    """gᵀ H_f g for each row g of ``grads`` (H_f = H + λI, H on the run's fixed Hessian subset)."""
    with ctx.hessian() as H:
        return torch.stack([g @ H.matvec(g) + weight_decay * (g @ g) for g in grads])


@probes.probe(
    "fdr2",
    fdr2_grad_sq=Variable("‖∇f‖²", "squared norm of the full-batch gradient of f = L + (λ/2)‖θ‖² on the evaluation "
                          "subset", "loss² / parameter²"),
    fdr2_right=Variable("(η/2) E_B ∇f_Bᵀ H_f ∇f_B", "FDR2's right side: the mean over probe_gradients mini-batch "
                        "gradients of f (current batch size) of their Hessian quadratic form, H on the fixed "
                        "Hessian subset, times η/2", "loss² / parameter²"),
    fdr2_batch_grad_sq=Variable("E_B ‖∇f_B‖²", "mean squared norm of the same mini-batch gradients of f",
                                "loss² / parameter²"),
    fdr2_rayleigh=Variable("direct Hessian magnitude", "E_B[∇f_Bᵀ H_f ∇f_B] / E_B ‖∇f_B‖², by Hessian-vector "
                           "products", "loss / parameter²"))
def fdr2(ctx: ProbeContext) -> Measurement:
    """Both sides of FDR2 at the current state, and the Hessian's Rayleigh quotient along the mini-batch
    gradients (the direct counterpart of :func:`hessian_magnitude`). Time averages are the reader's."""
    cfg, wd = ctx.config, ctx.config.weight_decay
    theta = vectors.parameter_vector(ctx.model)
    with curvature.curvature_mode(ctx.model, cfg.bn_mode):
        full = directions.gradient_of(directions.loss_of(ctx.model, curvature.as_batches(*ctx.train,
                                                                                     cfg.eval_batch_size),
                                                         ctx.loss_fn), theta) + wd * theta
    grads = probes.minibatch_gradients(ctx) + wd * theta
    forms = _quadratic_forms(ctx, grads, wd)
    batch_sq = float(grads.pow(2).sum(1).mean())
    return {"fdr2_grad_sq": ((), float(full @ full)), "fdr2_right": ((), fdr2_right(ctx.lr, forms)),
            "fdr2_batch_grad_sq": ((), batch_sq), "fdr2_rayleigh": ((), float(forms.mean()) / batch_sq)}
