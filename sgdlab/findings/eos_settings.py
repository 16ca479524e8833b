"""Settings of the full-batch notebooks (07, 08): step sizes chosen from the sharpness at initialisation."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from sgdlab.grid.runner import run_grid
from sgdlab.theory.edge_of_stability import edge_learning_rates
from sgdlab.training.clock import Every


def initial_sharpness_config(config: Any) -> Any:
    """``config`` (a :class:`~sgdlab.training.config.RunConfig`) reduced to a measurement of λ₁ at initialisation:
    one full-batch step, the top eigenvalues at state 0 only, no other probe or trace. Its model and data
    are the run's own (both depend on the seed, not on the step size)."""
    return dataclasses.replace(config, batch_size=None, epochs=1, traces=(), probes=("eigen",),
                               every={"eigen": Every(steps=1, stop=0)})


def initial_sharpness(configs: Mapping[Any, Any]) -> dict[Any, float]:
    """λ₁ at initialisation of each configuration in ``configs`` (same keys), measured by the Hessian
    engine on the run's Hessian subset through cached one-step runs (:func:`initial_sharpness_config`)."""
    runs = run_grid({key: initial_sharpness_config(c) for key, c in configs.items()}, progress=False)
    return {key: float(ds["lambda"].sel(eig=1, step=0)) for key, ds in runs.items()}


def step_sizes(config: Any, ratios: Sequence[float] | None, fixed: Sequence[float] | None = None) -> list[float]:
    """The step sizes of an edge-of-stability grid: ``fixed`` where a profile freezes them (the paper's
    own η), else :func:`edge_learning_rates` at ``ratios`` from λ₁ at initialisation of ``config`` (its
    seed's model and data, measured by :func:`initial_sharpness`)."""
    if fixed:
        return [float(lr) for lr in fixed]
    if not ratios:
        raise ValueError("edge_ratios must be a non-empty list of numbers > 0 when no learning_rates are fixed")
    return edge_learning_rates(initial_sharpness({0: config})[0], ratios)


# --- The C2 setting, shared by notebooks 07 and 08 (so that their constant-η runs are the same cached runs)

SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {"dataset": "mnist1d", "train_size": 1000, "model": "mlp", "loss": "mse", "top_k": 2,
              "hessian_size": 1000, "model_options": {"width": 100, "depth": 2, "activation": "tanh", "init": "torch"},
              "stop_at_train_acc": 0.99, "learning_rates": None, "edge_ratios": [2.5, 2.0, 1.5], "steps": 1000,
              "eigen_every": 20, "sgd_batch_size": 32},
    "paper": {"dataset": "cifar10", "train_size": 5000, "model": "mlp", "loss": "mse", "top_k": 2,
              "hessian_size": 5000, "model_options": {"width": 200, "depth": 2, "activation": "tanh", "init": "torch"},
              "stop_at_train_acc": 0.99, "learning_rates": [0.01, 0.02, 0.04], "edge_ratios": None, "steps": 20000,
              "eigen_every": 50, "sgd_batch_size": 128},
    "smoke": {"train_size": 64, "hessian_size": 64, "steps": 12, "eigen_every": 4, "sgd_batch_size": 16,
              "model_options": {"width": 16, "depth": 2, "activation": "tanh", "init": "torch"}},
}
"""Per profile: the data, model and loss of the edge-of-stability runs, their step sizes η (paper: the
paper's own, frozen; quick: ``learning_rates=None``, chosen at each seed by :func:`step_sizes` so that
2/η = 2.5, 2 and 1.5 times that seed's λ₁ at initialisation, reached within the budget after progressive
sharpening), the step budget, the eigenvalue schedule and the SGD control's batch size; ``smoke``
shrinks either profile."""


def full_batch(base: Any, lr: float, steps: int, eigen_every: int) -> Any:
    """``base`` (a :class:`~sgdlab.training.config.RunConfig`) as full-batch GD at ``lr`` for ``steps`` steps, the
    training loss every step and the losses and top eigenvalues every ``eigen_every`` steps."""
    return dataclasses.replace(base, lr=lr, batch_size=None, epochs=steps, traces=("loss",),
                               probes=("losses", "eigen"),
                               every={"eigen": Every(steps=eigen_every), "losses": Every(steps=eigen_every)})


def loss_only(config: Any) -> Any:
    """A full-batch ``config`` that records the training loss every step and nothing else (no eigenvalues):
    a run whose final loss is all that is read of it."""
    return dataclasses.replace(config, probes=("losses",), every={"losses": Every(steps=max(1, round(config.epochs)))})
