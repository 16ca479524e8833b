"""The variance–flatness analysis of a recorded run: its layer's principal components, the flatness of the
loss along each (the model rebuilt from the run's configuration), and the power law between the two."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import torch
import xarray as xr
from torch import Tensor, nn

from sgdlab.core import checks
from sgdlab.measure import probes
from sgdlab.measure.weights import Weights
from sgdlab.task import losses, models
from sgdlab.theory.variance_flatness import curvature, flatness, pca, power_law_fit
from sgdlab.training import config as configuration
from sgdlab.training import loop as train


def layer_profile(model: nn.Module, layer: str, center: Tensor, direction: Tensor, data: tuple[Tensor, Tensor],
                  loss_fn: losses.LossFn, *, batch_size: int = 1024, bn_mode: str = "eval") -> Callable[[float], float]:
    """δ ↦ the mean loss of ``model`` on ``data`` with parameter ``layer`` set to ``center + δ·direction``
    (flat vectors; the other parameters as they are). The callable leaves ``layer`` changed."""
    param = dict(model.named_parameters())[layer]

    def profile(delta: float) -> float:
        with torch.no_grad():
            param.copy_((center + delta * direction).reshape(param.shape))
        return probes.evaluate(model, *data, batch_size, bn_mode, loss_fn)[0]

    return profile


def _center_state(run: xr.Dataset) -> np.ndarray:
    """The state every layer is held at for the flatness: the window mean of the whole model when the run
    recorded it (option ``whole_model`` of the trace), else the run's final state."""
    if "model_weights" in run:
        return run["model_weights"].dropna("iteration", how="all").mean("iteration").values
    return run["final_state"].values


def analyse(run: xr.Dataset, n_components: int, *, skip: int = 0, factor: float = math.e, fraction: float = 0.9,
            n_boot: int = 2000) -> xr.Dataset:
    """PCA of a run's ``layer_weights`` trace, the flatness along each of the first ``n_components``
    components and the local curvature along each (:func:`curvature` at the scale σᵢ), of the training
    loss on the whole training set with w₀ the window's mean of the layer, the other layers at their
    window means when the trace recorded the whole model (else at the final state); and
    the power-law fit over components ``skip + 1 … n_components`` (``skip=1`` leaves PC1, the drift,
    out); dims ``component``. Attributes ``flatness_range`` and ``variance_range``: max/min over the
    fitted components.

    The run needs the ``"weights"`` trace and ``save_parameters=True``.
    """
    if "layer_weights" not in run or "final_state" not in run:
        raise ValueError("analyse needs a run with the 'weights' trace and save_parameters=True")
    checks.integer("skip", skip, low=0, high=n_components - 3)
    config = configuration.from_json(run.attrs["config"])
    config = dataclasses.replace(config, device=configuration.resolve_device(config.device))
    snapshots = run["layer_weights"].dropna("iteration", how="all")
    result = pca(snapshots.values, n_components)
    prepared, model = train.prepare(config)
    device, dtype = torch.device(config.device), configuration.DTYPES[config.dtype]
    models.load_state_vector(model, torch.as_tensor(_center_state(run), device=device, dtype=dtype))
    data = (prepared.x_train.to(device, dtype), prepared.y_train.to(device))
    center = torch.as_tensor(result.mean, device=device, dtype=dtype)

    def along(direction: np.ndarray) -> Callable[[float], float]:
        return layer_profile(model, Weights.option(config, "layer"), center,
                             torch.as_tensor(direction, device=device, dtype=dtype), data, losses.get(config.loss),
                             batch_size=config.eval_batch_size, bn_mode=config.bn_mode)

    with train.torch_threads(config.threads):
        widths = np.asarray([flatness(along(c), factor=factor, step=math.sqrt(v))
                             for v, c in zip(result.variances, result.components)])
        curvatures = np.asarray([curvature(along(c), math.sqrt(v))
                                 for v, c in zip(result.variances, result.components)])
    fitted, variances = widths[skip:], result.variances[skip:]
    fit = power_law_fit(fitted, variances, n_boot=n_boot, seed=config.seed)
    return xr.Dataset(
        {"variance": ("component", result.variances), "flatness": ("component", widths),
         "curvature": ("component", curvatures),
         "projection": (("snapshot", "component"), result.projections),
         "snapshot_iteration": ("snapshot", snapshots.iteration.values)},
        coords={"component": np.arange(1, n_components + 1)},
        attrs={"psi": fit.psi, "psi_low": fit.low, "psi_high": fit.high, "confidence": fit.confidence,
               "center_loss": along(result.components[0])(0.0), "factor": factor, "skip": skip,
               "flatness_range": float(fitted.max() / fitted.min()),
               "variance_range": float(variances.max() / variances.min()),
               "components_holding": result.components_holding(fraction), "fraction": fraction,
               "snapshots": snapshots.sizes["iteration"], "coordinates": snapshots.shape[1]})
