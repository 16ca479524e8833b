"""One run: train a model under one configuration, with traces at every step and probes at scheduled steps.

The loop has four stages: :func:`setup` (data, model, optimizer, schedules, traces), :func:`take_step`
(one optimizer step, handed to the traces), :func:`measure` (the probes due at a step) and
:func:`assemble` (the ``xarray.Dataset``). :func:`run` adds the cache.
"""

from __future__ import annotations

import dataclasses
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from sgdlab import curvature, optim
from sgdlab.core import seeds
from sgdlab.curvature import vectors
from sgdlab.measure import probes, traces
from sgdlab.measure.probes import Measurement, ProbeContext
from sgdlab.measure.variables import annotate
from sgdlab.task import data, losses, models
from sgdlab.training import config as configuration
from sgdlab.training import run_cache
from sgdlab.training.clock import Clock, clock_of, steps_of
from sgdlab.training.config import DTYPES, RunConfig


class BatchStream:
    """Mini-batch indices drawn without replacement from successive seeded permutations."""

    def __init__(self, n: int, generator: torch.Generator):
        self.n = n
        self.generator = generator
        self.order = torch.empty(0, dtype=torch.long)

    def next(self, size: int) -> torch.Tensor:
        while len(self.order) < size:
            self.order = torch.cat([self.order, torch.randperm(self.n, generator=self.generator)])
        batch, self.order = self.order[:size], self.order[size:]
        return batch


def prepare(config: RunConfig) -> tuple[data.Data, torch.nn.Module]:
    """The run's prepared dataset (on the CPU) and its freshly initialised model (on its device and dtype)."""
    ds_data = data.load(config.dataset, train_size=config.train_size, label_noise=config.label_noise,
                        holdout=config.holdout, seed=config.seed)
    model = models.build(config.model, ds_data.input_shape, ds_data.num_classes, seed=config.seed,
                         **config.model_options)
    return ds_data, model.to(device=torch.device(config.device), dtype=DTYPES[config.dtype])


def _fixed_subset(n: int, size: int | None, seed: int, name: str) -> torch.Tensor:
    order = torch.randperm(n, generator=seeds.generator(seed, name))
    return order if size is None else order[:size]


@dataclass
class RunState:
    """A run in progress: what the loop needs, and what it has recorded so far."""

    config: RunConfig
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    clock: Clock
    x_train: torch.Tensor
    y_train: torch.Tensor
    ctx: ProbeContext
    traces: dict[str, traces.Trace]
    probe_steps: dict[str, set[int]]
    trace_steps: dict[str, set[int]]
    stream: BatchStream
    augment_rng: torch.Generator
    initial_state: torch.Tensor | None
    measured: dict[int, Measurement] = field(default_factory=dict)
    stepped: dict[int, Measurement] = field(default_factory=dict)
    diverged_at: int = -1
    stopped_at: int = -1
    lr_scale: float = 1.0  # product of the plateau rule's cuts so far
    plateaus: dict[str, tuple[float, float]] = field(default_factory=dict)  # rule -> (best value, epoch of wait start)

    @property
    def end(self) -> int:
        """The last state the run reached."""
        return max(self.measured, default=0)


def setup(config: RunConfig) -> RunState:
    """Validate ``config`` against its data and model, and build everything the loop needs."""
    device, dtype = torch.device(configuration.resolve_device(config.device)), DTYPES[config.dtype]
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {config.device!r}: no CUDA device is visible to this process; "
                         "use device='auto' (a GPU where there is one) or 'cpu'")
    ds_data, model = prepare(config)
    n_train = len(ds_data.y_train)
    configuration.validate(config, n_train=n_train,
                           n_params=sum(p.numel() for p in model.parameters() if p.requires_grad))
    layout = clock_of(config, n_train)
    probe_steps = {name: set(steps_of(config, name, layout, probe=True)) for name in config.probes}
    for name in (p for p in config.probes if p in probes.DIRECTION_PROBES):
        if not probe_steps[name] <= probe_steps["eigen"]:
            raise ValueError(f"probe {name!r} uses the eigenvectors of its step: its schedule must be within eigen's")
    trace_steps = {}
    for name in config.traces:
        accumulates = traces.TRACES[name].accumulates
        trace_steps[name] = set(steps_of(config, name, layout, probe=accumulates))

    loss_fn = losses.get(config.loss)
    x_train, y_train = ds_data.x_train.to(device, dtype), ds_data.y_train.to(device)
    subset = _fixed_subset(n_train, config.hessian_size, config.seed, "hessian_subset").to(device)
    eval_subset = _fixed_subset(n_train, config.eval_size, config.seed, "eval_subset").to(device)
    ctx = ProbeContext(
        model=model, config=config, loss_fn=loss_fn,
        train=(x_train[eval_subset], y_train[eval_subset]),
        test=(ds_data.x_test.to(device, dtype), ds_data.y_test.to(device)),
        hessian_batches=curvature.as_batches(x_train[subset], y_train[subset], config.hessian_batch_size),
        corrupted=ds_data.corrupted[eval_subset.cpu()].to(device),
        test_set=(ds_data.test_set[0].to(device, dtype), ds_data.test_set[1].to(device)),
    )
    ctx.state["initial_parameters"] = vectors.parameter_vector(model)  # the trainable ones, as probes read them
    setting = optim.Setting(lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                            loss_fn=loss_fn, hessian_batches=ctx.hessian_batches, bn_mode=config.bn_mode,
                            eigen_tol=config.eigen_tol, lanczos_seed=seeds.stream(config.seed, "lanczos"))
    return RunState(
        config=config, model=model, optimizer=config.optimizer.build(model, setting), clock=layout,
        x_train=x_train, y_train=y_train, ctx=ctx, traces=traces.build(config.traces, ctx),
        probe_steps=probe_steps, trace_steps=trace_steps,
        stream=BatchStream(n_train, seeds.generator(config.seed, "batches")),
        augment_rng=seeds.generator(config.seed, "augment", device=device),
        initial_state=models.state_vector(model) if config.save_parameters else None,
    )


def lr_at(run: RunState, step: int) -> float:
    """The learning rate of optimizer step ``step``, the one value the step, the probes and the traces read:
    the optimizer's own where it sets it along the run (a tuner, the FDR scheduler), else the schedule's
    value (or the configured one) times the plateau rule's cuts so far."""
    if run.config.optimizer.chooses_lr:
        return float(run.optimizer.param_groups[0]["lr"])
    schedule = run.config.lr_schedule
    lr = run.config.lr if schedule is None else schedule.at(float(run.clock.epochs[step]))
    return lr * run.lr_scale


def batch_size_at(run: RunState, step: int) -> int:
    """The number of examples optimizer step ``step`` sees (the whole set for full batch)."""
    return len(run.y_train) if run.config.full_batch else int(run.clock.batch_sizes[step])


def _batches(run: RunState, step: int) -> list[curvature.Batch]:
    """The step's examples (the whole set for full batch), augmented, in chunks of the physical batch size."""
    config = run.config
    idx = torch.arange(len(run.y_train)) if config.full_batch else run.stream.next(batch_size_at(run, step))
    idx = idx.to(run.x_train.device)
    chunk = config.physical_batch_size or len(idx)
    out = []
    for part in idx.split(chunk):
        x = run.x_train[part]
        if config.augment:
            x = data.augment(x, run.augment_rng)
        out.append((x, run.y_train[part]))
    return out


def take_step(run: RunState, step: int) -> bool:
    """Optimizer step ``step`` (state ``step`` → ``step + 1``), handed to the traces due; ``False`` when
    the loss or the parameters became NaN/inf (the run then records a divergence)."""
    model, optimizer, loss_fn = run.model, run.optimizer, run.ctx.loss_fn
    if not run.config.optimizer.chooses_lr:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(run, step)
    batches = _batches(run, step)
    n = sum(len(y) for _, y in batches)
    due = [name for name, steps in run.trace_steps.items()
           if step in steps or run.traces[name].accumulates]
    params = [p for p in model.parameters() if p.requires_grad]
    theta = vectors.flat(params) if due else None

    def forward(batch: curvature.Batch) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(batch[0])
        return loss_fn(logits, batch[1]), logits

    if run.config.optimizer.uses_batch:
        outputs = optimizer.step_on(batches, forward)
    else:
        optimizer.zero_grad(set_to_none=True)
        outputs = []
        for batch in batches:
            loss, logits = forward(batch)
            if not torch.isfinite(loss):
                return False
            (loss * (len(batch[1]) / n)).backward()
            outputs.append((loss.detach(), logits.detach()))
        if _reached_goal(run, outputs, batches):  # state ``step`` already meets the goal: no step
            run.stopped_at = step
            return True
        optimizer.step()
    loss = float(sum(value * len(y) for (value, _), (_, y) in zip(outputs, batches))) / n
    accuracy = sum(int((logits.argmax(1) == y).sum()) for (_, logits), (_, y) in zip(outputs, batches)) / n
    if not np.isfinite(loss) or not all(torch.isfinite(p).all() for p in params):
        return False
    if due:
        info = traces.StepInfo(step=step, epoch=float(run.clock.epochs[step]),
                               lr=float(optimizer.param_groups[0]["lr"]), batch_size=n, batches=batches, loss=loss,
                               accuracy=accuracy, theta=theta, model=model, optimizer=optimizer, config=run.config)
        for name in due:
            recorded = run.traces[name].on_step(info)
            if recorded is not None:
                run.stepped.setdefault(step, {}).update(recorded)
    if run.config.optimizer.uses_batch and _reached_goal(run, outputs, batches):  # the tuner stepped already
        run.stopped_at = step + 1
    return True


def _reached_goal(run: RunState, outputs: list, batches: list) -> bool:
    """Full batch with a goal: whether the step's own forward pass shows the training accuracy reached it."""
    goal = run.config.stop_at_train_acc
    if goal is None or not run.config.full_batch:
        return False
    correct = sum(int((logits.argmax(1) == y).sum()) for (_, logits), (_, y) in zip(outputs, batches))
    return correct / len(run.y_train) >= goal


def measure(run: RunState, step: int, final: bool = False) -> None:
    """RunState the probes due at state ``step`` (all of them if ``final``) and read the accumulators due."""
    ctx = run.ctx
    upcoming = min(step, run.clock.total_steps - 1)  # the step taken from this state (the last one at the end)
    ctx.step, ctx.lr, ctx.batch_size = step, lr_at(run, upcoming), batch_size_at(run, upcoming)
    measurement: Measurement = {}
    for name in run.config.probes:
        if final or step in run.probe_steps[name]:
            measurement |= probes.PROBES[name](ctx)
    for name, trace in run.traces.items():
        if trace.accumulates and step > 0 and (final or step in run.trace_steps[name]):
            measurement |= trace.read()
    run.measured[step] = measurement
    run.model.train()
    _watch_plateaus(run, step, measurement)
    acc = measurement.get("train_acc")
    if run.config.stop_at_train_acc is not None and acc is not None and acc[1] >= run.config.stop_at_train_acc:
        run.stopped_at = step


def _watch_plateaus(run: RunState, step: int, measurement: Measurement) -> None:
    """Apply the run's plateau rules to the variables measured at state ``step``: cut the learning rate
    (``lr_plateau``) or stop (``early_stopping``) once the monitored value has not improved for their
    patience, in epochs since its best value (or since the last cut)."""
    epoch = float(run.clock.epochs[step])
    for name in ("lr_plateau", "early_stopping"):
        rule = getattr(run.config, name)
        if rule is None:
            continue
        if rule.monitor not in measurement:
            if step == 0:
                raise ValueError(f"{name}.monitor {rule.monitor!r} is not measured at the start of this run; "
                                 f"measured: {', '.join(measurement) or 'nothing'}")
            continue
        value = float(np.asarray(measurement[rule.monitor][1]))
        best, since = run.plateaus.get(name, (None, epoch))
        if best is None or (value < best if rule.mode == "min" else value > best):
            run.plateaus[name] = (value, epoch)
        elif epoch - since >= rule.patience - 1e-9:
            if name == "early_stopping":
                run.stopped_at = step
            else:
                run.lr_scale *= rule.factor
                run.plateaus[name] = (best, epoch)


def stack_records(records: dict[int, Measurement], dim: str) -> tuple[dict, dict]:
    """Data variables and coordinates over ``dim`` from per-step records (NaN where a name was not recorded)."""
    steps = sorted(records)
    names = dict.fromkeys(name for m in records.values() for name in m)
    variables, coords = {}, {}
    for name in names:
        dims, value = next(records[s][name] for s in steps if name in records[s])
        if dims == (name,):
            coords[name] = np.asarray(value)
            continue
        shape = np.shape(value)
        stacked = np.full((len(steps), *shape), np.nan)
        for i, s in enumerate(steps):
            if name in records[s]:
                stacked[i] = np.asarray(records[s][name][1], dtype=float)
        variables[name] = ((dim, *dims), stacked)
    return variables, coords


def assemble(run: RunState, wall_time_s: float) -> xr.Dataset:
    """The run's Dataset: probes on ``step`` (with ``epoch``), per-step traces on ``iteration``."""
    variables, coords = stack_records(run.measured, "step")
    steps = np.asarray(sorted(run.measured))
    coords |= {"step": steps, "epoch": ("step", run.clock.epochs[steps])}
    if run.stepped:
        per_step, per_step_coords = stack_records(run.stepped, "iteration")
        iterations = np.asarray(sorted(run.stepped))
        variables |= per_step
        coords |= per_step_coords | {"iteration": iterations,
                                     "iteration_epoch": ("iteration", run.clock.epochs[iterations])}
    if run.initial_state is not None:
        variables |= {"initial_state": (("state",), run.initial_state.double().cpu().numpy()),
                      "final_state": (("state",), models.state_vector(run.model).double().cpu().numpy())}
    config = run.config
    ds = xr.Dataset(variables, coords=coords, attrs={
        "config": configuration.to_json(config),
        "config_hash": configuration.config_hash(config),
        "device": str(config.device),
        "steps_per_epoch": run.clock.steps_per_epoch or 0,  # 0: the batch size varies
        "total_steps": run.clock.total_steps,
        "n_train": len(run.y_train),  # examples the run trained on
        "n_test": len(run.ctx.test[1]),  # held-out examples of its test_loss and test_acc
        "diverged": int(run.diverged_at >= 0),
        "diverged_at_step": run.diverged_at,
        "stopped_at_step": run.stopped_at,
        "wall_time_s": wall_time_s,
        **run_cache.provenance(),
    })
    return annotate(ds)


@contextmanager
def torch_threads(n: int):
    """Torch on ``n`` intra-op threads for the duration (the count changes the order of float sums)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_uncached(config: RunConfig, progress: bool = True) -> xr.Dataset:
    """Train and measure without touching the cache; see :func:`run`."""
    with torch_threads(config.threads):
        state = setup(config)
        start = time.perf_counter()
        due = sorted(set().union(*state.probe_steps.values(),
                                 *(s for n, s in state.trace_steps.items() if state.traces[n].accumulates)))
        label = "GD" if config.full_batch else f"S={config.batch_size}"
        bar = tqdm(total=state.clock.total_steps, disable=not progress, leave=False,
                   desc=f"{config.model} lr={config.lr:g} {label}")
        step = 0
        state.model.train()
        for target in due:
            while step < target and state.stopped_at < 0:
                if not take_step(state, step):
                    state.diverged_at = step
                    break
                if state.stopped_at != step:
                    step += 1
                    bar.update()
            if state.diverged_at >= 0:
                break
            measure(state, step, final=state.stopped_at >= 0)
            if state.stopped_at >= 0:
                break
        bar.close()
        return assemble(state, time.perf_counter() - start)


def run(config: RunConfig, *, cache: bool | Path = True, progress: bool = True) -> xr.Dataset:
    """Train under ``config`` and return its measurements as an ``xarray.Dataset``.

    Dims: ``step`` (measurement steps; ``epoch`` is a coordinate along it), ``iteration`` (optimizer
    steps of the per-step traces) and the probes' own (``eig``, ``scale``, ...); every variable carries
    CF attributes (``long_name``, ``units``, ``description``). A cached run (``data/runs/<hash>.nc``,
    or the folder given as ``cache``) is loaded instead of recomputed; a new one is written atomically.
    A run whose loss becomes NaN/inf stops there and is recorded with ``attrs["diverged"] = 1``.
    """
    config = dataclasses.replace(config, device=configuration.resolve_device(config.device))
    if not cache:
        return train_uncached(config, progress)
    path = run_cache.run_path(config, None if cache is True else Path(cache))
    if (cached := run_cache.load_cached(path)) is not None:
        return cached
    run_cache.check_writable(path.parent)
    ds = train_uncached(config, progress)
    run_cache.save(ds, path)
    return ds

