"""Optimizers and learning-rate tuners of a run, as a registry of frozen configuration dataclasses.

A run's ``optimizer`` field holds one of them (``SGD()``, ``Nudged(gamma=0.1, k=10)``, ``CDAT(sigma=2)``
...). Each validates its fields on construction, is stored in the run's JSON as ``{"kind": ..., ...}``
and builds a ``torch.optim.Optimizer`` from the run's :class:`Setting`. A new optimizer is a module with
a frozen dataclass registered in :data:`OPTIMIZERS` and passes the shared suite in ``tests/optim``.

Two kinds of step: most optimizers take ``optimizer.step()`` after the run loop's backward pass; an
optimizer whose spec sets ``uses_batch`` (a tuner that needs the step's own batch, e.g. for a
Hessian-vector product) takes ``optimizer.step_on(batches, forward)`` instead and does its own
backward pass; ``forward(batch) -> (mean loss, logits)``. An optimizer whose spec sets ``chooses_lr``
sets its own learning rate along the run, so a run refuses to combine it with an ``lr_schedule``.
"""

# registration order: sgd, nudged, cdat, ... (error messages list kinds in this order)
# isort: off
from sgdlab.optim.base import OPTIMIZERS, Forward, Setting, Spec, from_value
from sgdlab.optim.sgd import SGD
from sgdlab.optim.nudged import Nudged, NudgedSGD, top_eigenvectors
from sgdlab.optim.cdat import CDAT, CurvatureAwareGD
from sgdlab.optim.langevin import Langevin, LangevinDynamics
from sgdlab.optim.fdr import FDRSGD, FDRScheduler
# isort: on

__all__ = ["CDAT", "FDRSGD", "OPTIMIZERS", "CurvatureAwareGD", "FDRScheduler", "Forward", "Langevin",
           "LangevinDynamics", "Nudged", "NudgedSGD", "SGD", "Setting", "Spec", "from_value", "top_eigenvectors"]
