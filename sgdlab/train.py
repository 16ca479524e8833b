"""One run: train a model with SGD under one configuration, measuring it at scheduled steps."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr
from tqdm.auto import tqdm

from sgdlab import curvature, data, models, optim, probes, results, schedules
from sgdlab.schedules import Schedule

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; two equal configurations give identical numbers on one machine.

    Times are in epochs of ``epoch_size`` examples (the whole training set by default; the paper
    shortens epochs to zoom into early training). Measurements are taken every ``measure_every``
    epochs, and every ``zoom_every`` epochs before ``zoom_until``. ``optimizer="nudged"`` trains with
    :class:`~sgdlab.optim.NudgedSGD`: learning rate ``nudge * lr`` along the top ``nudge_k`` Hessian
    eigenvectors, refreshed every ``nudge_refresh`` steps. Direction probes (step decomposition,
    cross-sections, alignment) use ``probe_batches`` mini-batch gradients.

    ``lr_schedule`` and ``batch_schedule`` (:mod:`sgdlab.schedules`), when set, replace the constant
    ``lr`` and ``batch_size``: each step uses their values at the epoch reached so far. A step at
    batch size S advances time by 1/⌈epoch_size/S⌉ epochs, so time counts examples seen.
    ``save_parameters`` stores the model's flat state (parameters, then floating-point buffers) at
    initialisation and at the end, for :mod:`sgdlab.interpolation`.
    """

    dataset: str = "mnist1d"
    train_size: int | None = None
    label_noise: float = 0.0
    holdout: str = "test"
    augment: bool = False
    model: str = "mlp"
    model_options: dict[str, Any] = field(default_factory=dict)
    lr: float = 0.05
    batch_size: int = 128
    lr_schedule: Schedule | None = None
    batch_schedule: Schedule | None = None
    momentum: float = 0.0
    weight_decay: float = 0.0
    optimizer: str = "sgd"
    nudge: float = 1.0
    nudge_k: int = 5
    nudge_refresh: int = 10
    epochs: float = 10.0
    epoch_size: int | None = None
    measure_every: float = 1.0
    zoom_until: float = 0.0
    zoom_every: float = 0.1
    probes: tuple[str, ...] = ("losses", "eigen")
    save_parameters: bool = False
    top_k: int = 5
    probe_batches: int = 8
    eigen_tol: float = 1e-3
    hessian_size: int = 1024
    hessian_batch: int = 1024
    hutchinson_samples: int = 20
    bn_mode: str = "eval"
    eval_size: int | None = None
    eval_batch_size: int = 1024
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")


def validate(config: RunConfig, n_train: int | None = None, n_params: int | None = None) -> None:
    """Raise ``ValueError`` naming the first bad field; sizes are checked once the data is known."""
    if config.dataset not in data.DATASETS:
        raise ValueError(f"dataset {config.dataset!r} is unknown; choose one of: {', '.join(data.DATASETS)}")
    if config.model not in models.MODELS:
        raise ValueError(f"model {config.model!r} is unknown; choose one of: {', '.join(models.MODELS)}")
    unknown = [p for p in config.probes if p not in probes.PROBES]
    if unknown:
        raise ValueError(f"probes {unknown} are unknown; choose from: {', '.join(probes.PROBES)}")
    needs_eigen = [p for p in config.probes if p in probes.DIRECTION_PROBES]
    if needs_eigen and ("eigen" not in config.probes or config.probes.index("eigen") > config.probes.index(needs_eigen[0])):
        raise ValueError(f"probes {needs_eigen} use the top eigenvectors: list 'eigen' before them in probes")
    if config.dtype not in DTYPES:
        raise ValueError(f"dtype {config.dtype!r} is unknown; choose one of: {', '.join(DTYPES)}")
    if config.optimizer not in optim.OPTIMIZERS:
        raise ValueError(f"optimizer {config.optimizer!r} is unknown; choose one of: {', '.join(optim.OPTIMIZERS)}")
    if config.bn_mode not in curvature.BN_MODES:
        raise ValueError(f"bn_mode {config.bn_mode!r} is unknown; choose one of: {', '.join(curvature.BN_MODES)}")
    for name in ("lr", "batch_size", "epochs", "measure_every", "zoom_every", "hessian_size", "hessian_batch",
                 "eigen_tol", "eval_batch_size", "probe_batches"):
        _positive(name, getattr(config, name))
    if config.nudge_refresh < 1:
        raise ValueError(f"nudge_refresh must be a positive number of steps, got {config.nudge_refresh!r}")
    for name in ("lr_schedule", "batch_schedule"):
        value = getattr(config, name)
        if value is not None and not isinstance(value, tuple(schedules.KINDS.values())):
            raise ValueError(f"{name} must be None or a schedule ({', '.join(c.__name__ for c in schedules.KINDS.values())}), "
                             f"got {value!r}")
    if "memorisation" in config.probes and not config.label_noise > 0:
        raise ValueError(f"the memorisation probe needs label_noise > 0, got {config.label_noise!r}")
    for name in ("momentum", "weight_decay", "zoom_until", "nudge"):
        if getattr(config, name) < 0:
            raise ValueError(f"{name} must be non-negative, got {getattr(config, name)!r}")
    if n_train is not None:
        for name in ("batch_size", "hessian_size", "epoch_size", "eval_size"):
            value = getattr(config, name)
            if value is not None and not 1 <= value <= n_train:
                raise ValueError(f"{name} must be between 1 and the training set size ({n_train}), got {value}")
        if config.batch_schedule is not None and not config.batch_schedule.bounds()[1] <= n_train:
            raise ValueError(f"batch_schedule reaches a batch size of {config.batch_schedule.bounds()[1]:g}, "
                             f"more than the training set size ({n_train})")
    if n_params is not None and "eigen" in config.probes and not 1 <= config.top_k <= n_params:
        raise ValueError(f"top_k must be between 1 and the number of parameters ({n_params}), got {config.top_k}")
    if config.optimizer == "nudged" and (config.nudge_k < 1 or n_params is not None and config.nudge_k > n_params):
        raise ValueError(f"nudge_k must be between 1 and the number of parameters ({n_params}), got {config.nudge_k}")


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when a GPU is visible, else ``"cpu"``; other names pass through."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def measurement_steps(config: RunConfig, steps_per_epoch: int, total_steps: int) -> list[int]:
    """Steps (0 = initialisation, ``total_steps`` = the end) at which the probes run."""
    every = max(1, round(config.measure_every * steps_per_epoch))
    zoom = max(1, round(config.zoom_every * steps_per_epoch))
    zoom_end = min(total_steps, round(config.zoom_until * steps_per_epoch))
    steps = set(range(0, total_steps + 1, every)) | set(range(0, zoom_end + 1, zoom)) | {total_steps}
    return sorted(steps)


@dataclass(frozen=True)
class Clock:
    """A run's steps: the batch size of each step, and the time in epochs after each number of steps.

    ``steps_per_epoch`` is set when the batch size is constant (an epoch is then a whole number of steps).
    """

    batch_sizes: np.ndarray  # (total_steps,) int
    epochs: np.ndarray  # (total_steps + 1,) float, epochs[k] = time after k steps
    steps_per_epoch: int | None

    @property
    def total_steps(self) -> int:
        return len(self.batch_sizes)


def clock(config: RunConfig, n_train: int) -> Clock:
    """Lay out every step of a run; with a batch schedule the run ends at the step nearest ``epochs``."""
    epoch_size = config.epoch_size or n_train
    if config.batch_schedule is None:
        steps_per_epoch = math.ceil(epoch_size / config.batch_size)
        total_steps = max(1, round(config.epochs * steps_per_epoch))
        return Clock(np.full(total_steps, config.batch_size), np.arange(total_steps + 1) / steps_per_epoch,
                     steps_per_epoch)
    sizes, times = [], [0.0]
    while True:
        size = schedules.batch_size_at(config.batch_schedule, times[-1])
        advance = 1 / math.ceil(epoch_size / size)
        if sizes and times[-1] + advance / 2 > config.epochs:
            break
        sizes.append(size)
        times.append(times[-1] + advance)
    return Clock(np.asarray(sizes), np.asarray(times), None)


def clock_measurement_steps(config: RunConfig, run_clock: Clock) -> list[int]:
    """:func:`measurement_steps` for any clock: the steps nearest the measurement epochs."""
    if run_clock.steps_per_epoch is not None:
        return measurement_steps(config, run_clock.steps_per_epoch, run_clock.total_steps)
    end = float(run_clock.epochs[-1])
    targets = np.concatenate([np.arange(0, end, config.measure_every),
                              np.arange(0, min(config.zoom_until, end) + 1e-12, config.zoom_every), [end]])
    return sorted({int(np.abs(run_clock.epochs - t).argmin()) for t in targets})


def config_from_json(text: str) -> RunConfig:
    """The configuration that :func:`sgdlab.results.config_json` wrote (e.g. a run's ``attrs["config"]``)."""
    fields = json.loads(text)
    for name in ("lr_schedule", "batch_schedule"):
        if fields.get(name) is not None:
            fields[name] = schedules.from_dict(fields[name])
    return RunConfig(**fields | {"probes": tuple(fields["probes"])})


def prepare(config: RunConfig) -> tuple[data.Data, torch.nn.Module]:
    """The run's prepared dataset (on the CPU) and its freshly initialised model (on its device and dtype)."""
    ds_data = data.load(config.dataset, train_size=config.train_size, label_noise=config.label_noise,
                        holdout=config.holdout, seed=config.seed)
    model = models.build(config.model, ds_data.input_shape, ds_data.num_classes, seed=config.seed,
                         **config.model_options)
    return ds_data, model.to(device=torch.device(config.device), dtype=DTYPES[config.dtype])


class BatchStream:
    """Mini-batch indices drawn without replacement from successive seeded permutations."""

    def __init__(self, n: int, seed: int):
        self.n = n
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.empty(0, dtype=torch.long)

    def next(self, size: int) -> torch.Tensor:
        while len(self.order) < size:
            self.order = torch.cat([self.order, torch.randperm(self.n, generator=self.generator)])
        batch, self.order = self.order[:size], self.order[size:]
        return batch


def _fixed_subset(n: int, size: int | None, seed: int) -> torch.Tensor:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1))
    return order if size is None else order[:size]


def train(config: RunConfig, progress: bool = True) -> xr.Dataset:
    """Train and measure without touching the cache; see :func:`run`."""
    validate(config)
    device, dtype = torch.device(config.device), DTYPES[config.dtype]
    ds_data, model = prepare(config)
    n_train = len(ds_data.y_train)
    validate(config, n_train=n_train)
    validate(config, n_train=n_train, n_params=sum(p.numel() for p in model.parameters()))

    x_train, y_train = ds_data.x_train.to(device, dtype), ds_data.y_train.to(device)
    subset = _fixed_subset(n_train, config.hessian_size, config.seed).to(device)
    eval_subset = _fixed_subset(n_train, config.eval_size, config.seed).to(device)
    ctx = probes.ProbeContext(
        model=model,
        config=config,
        step=0,
        train=(x_train[eval_subset], y_train[eval_subset]),
        test=(ds_data.x_test.to(device, dtype), ds_data.y_test.to(device)),
        hessian_batches=curvature.as_batches(x_train[subset], y_train[subset], config.hessian_batch),
        eval_batch_size=config.eval_batch_size,
        corrupted=ds_data.corrupted[eval_subset.cpu()].to(device),
    )
    optimizer = optim.for_run(config, model, ctx.hessian_batches)
    run_clock = clock(config, n_train)
    total_steps = run_clock.total_steps
    schedule = clock_measurement_steps(config, run_clock)
    initial_state = models.state_vector(model) if config.save_parameters else None
    stream = BatchStream(n_train, config.seed)
    augment_rng = torch.Generator(device=device).manual_seed(config.seed + 2)

    measured_steps, measurements = [], []
    diverged_at = -1
    start = time.perf_counter()
    bar = tqdm(total=total_steps, disable=not progress, desc=f"{config.model} lr={config.lr:g} S={config.batch_size}",
               leave=False)
    step = 0
    model.train()
    for target in schedule:
        while step < target:
            idx = stream.next(int(run_clock.batch_sizes[step])).to(device)
            xb = x_train[idx]
            if config.augment:
                xb = data.augment(xb, augment_rng)
            loss = F.cross_entropy(model(xb), y_train[idx])
            if not torch.isfinite(loss):
                diverged_at = step
                break
            if config.lr_schedule is not None:
                for group in optimizer.param_groups:
                    group["lr"] = config.lr_schedule.at(float(run_clock.epochs[step]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            bar.update()
        if diverged_at < 0 and not all(torch.isfinite(p).all() for p in model.parameters()):
            diverged_at = step
        if diverged_at >= 0:
            break
        ctx.step = step
        measurement = {}
        for name in config.probes:
            measurement |= probes.PROBES[name](ctx)
        measured_steps.append(step)
        measurements.append(measurement)
        model.train()
    bar.close()

    variables = probes.stack(measurements, measured_steps)
    if config.save_parameters:
        variables |= {"initial_state": (("state",), initial_state.double().cpu().numpy()),
                      "final_state": (("state",), models.state_vector(model).double().cpu().numpy())}
    steps = np.asarray(measured_steps)
    ds = xr.Dataset(
        variables,
        coords={"step": steps, "epoch": ("step", run_clock.epochs[steps])},
        attrs={
            "config": results.config_json(config),
            "config_hash": results.config_hash(config),
            "device": str(device),
            "steps_per_epoch": run_clock.steps_per_epoch or 0,  # 0: the batch size varies
            "total_steps": total_steps,
            "diverged": int(diverged_at >= 0),
            "diverged_at_step": diverged_at,
            "wall_time_s": time.perf_counter() - start,
            **results.provenance(),
        },
    )
    if "eig" in ds.dims:
        ds = ds.assign_coords(eig=np.arange(1, ds.sizes["eig"] + 1))
    return ds


def run(config: RunConfig, *, cache: bool | Path = True, progress: bool = True) -> xr.Dataset:
    """Train under ``config`` and return its measurements as an ``xarray.Dataset``.

    Dims: ``step`` (measurement steps; ``epoch`` is a coordinate along it) and ``eig``. A cached
    run (``data/runs/<hash>.nc``, or the folder given as ``cache``) is loaded instead of recomputed;
    a new one is written atomically. A run whose loss becomes NaN/inf stops there and is recorded
    with ``attrs["diverged"] = 1``.
    """
    config = dataclasses.replace(config, device=resolve_device(config.device))
    if not cache:
        return train(config, progress)
    path = results.run_path(config, None if cache is True else Path(cache))
    if (cached := results.load_cached(path)) is not None:
        return cached
    results.check_writable(path.parent)
    ds = train(config, progress)
    results.save(ds, path)
    return ds
