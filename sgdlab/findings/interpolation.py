"""Loss and accuracy along the line θ(α) = (1 − α)·θ₁ + α·θ₂ between two states of one model.

The state is the flat vector of :func:`sgdlab.task.models.state_vector` (parameters and BatchNorm
statistics, which are interpolated together). Points are evaluated in the curvature engine's mode
(``bn_mode``): dropout off, BatchNorm on its running statistics (``"eval"``) or on batch statistics
(``"batch"``). Runs made with ``save_parameters=True`` carry their initial and final states.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from torch import Tensor, nn

from sgdlab.measure import probes
from sgdlab.task import losses, models
from sgdlab.training import config as configuration
from sgdlab.training import loop as train
from sgdlab.training.config import RunConfig

ALPHAS = np.round(np.linspace(-1.0, 2.0, 31), 10)  # steps of 0.1, α = 0 and 1 included exactly
_DATA_FIELDS = ("dataset", "train_size", "label_noise", "holdout", "seed", "model", "model_options", "loss")


def along_line(model: nn.Module, start: Tensor, end: Tensor, train_data: tuple[Tensor, Tensor],
               test_data: tuple[Tensor, Tensor], alphas: Sequence[float] = ALPHAS, *, bn_mode: str = "eval",
               batch_size: int = 1024, loss_fn: losses.LossFn = losses.cross_entropy) -> xr.Dataset:
    """Train/test loss and accuracy at (1 − α)·start + α·end for each α; dims ``alpha``.

    ``model`` provides the architecture; its own state is restored on return.
    """
    saved = models.state_vector(model)
    rows = []
    try:
        for alpha in alphas:
            models.load_state_vector(model, (1 - alpha) * start + alpha * end)
            rows.append([*probes.evaluate(model, *train_data, batch_size, bn_mode, loss_fn),
                         *probes.evaluate(model, *test_data, batch_size, bn_mode, loss_fn)])
    finally:
        models.load_state_vector(model, saved)
    values = np.asarray(rows, dtype=float)
    names = ("train_loss", "train_acc", "test_loss", "test_acc")
    return xr.Dataset({name: ("alpha", values[:, i]) for i, name in enumerate(names)},
                      coords={"alpha": np.asarray(alphas, dtype=float)})


def _config(run: xr.Dataset) -> RunConfig:
    if "final_state" not in run:
        raise ValueError("this run has no saved states: run it with save_parameters=True")
    return configuration.from_json(run.attrs["config"])


def _along_runs(config: RunConfig, start: np.ndarray, end: np.ndarray, alphas: Sequence[float]) -> xr.Dataset:
    config = dataclasses.replace(config, device=configuration.resolve_device(config.device))
    prepared, model = train.prepare(config)
    device, dtype = torch.device(config.device), configuration.DTYPES[config.dtype]
    return along_line(model, torch.as_tensor(start, device=device, dtype=dtype),
                      torch.as_tensor(end, device=device, dtype=dtype),
                      (prepared.x_train.to(device, dtype), prepared.y_train.to(device)),
                      (prepared.x_test.to(device, dtype), prepared.y_test.to(device)),
                      alphas, bn_mode=config.bn_mode, batch_size=config.eval_batch_size,
                      loss_fn=losses.get(config.loss))


def between(first: xr.Dataset, second: xr.Dataset, alphas: Sequence[float] = ALPHAS) -> xr.Dataset:
    """Loss and accuracy (on the whole training set and the test set) from ``first``'s endpoint (α = 0)
    to ``second``'s (α = 1); both runs share data and model and were saved with ``save_parameters``."""
    a, b = _config(first), _config(second)
    differ = [name for name in _DATA_FIELDS if getattr(a, name) != getattr(b, name)]
    if differ:
        raise ValueError(f"runs to interpolate between must share data and model; they differ in {differ}")
    line = _along_runs(a, first["final_state"].values, second["final_state"].values, alphas)
    return line.assign_attrs(first=first.attrs["config_hash"], second=second.attrs["config_hash"])


def from_init(run: xr.Dataset, alphas: Sequence[float] = ALPHAS) -> xr.Dataset:
    """Loss and accuracy from the run's initialisation (α = 0) to its endpoint (α = 1)."""
    line = _along_runs(_config(run), run["initial_state"].values, run["final_state"].values, alphas)
    return line.assign_attrs(run=run.attrs["config_hash"])
