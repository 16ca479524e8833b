"""A run's configuration: :class:`RunConfig`, its validation, its JSON form and its hash.

Two equal configurations give identical numbers on one machine (:mod:`sgdlab.core.seeds` derives every
random stream from ``seed``; ``threads`` fixes torch's intra-op thread count, which changes the order
of floating-point sums). The hash names the run in the cache; it covers the fields that differ from
their defaults, so a new field with a default keeps every earlier hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import torch

from sgdlab import curvature, optim
from sgdlab.core import checks, seeds
from sgdlab.measure import probes, traces
from sgdlab.task import data, losses, models
from sgdlab.training import schedules
from sgdlab.training.clock import Every
from sgdlab.training.schedules import Schedule

CACHE_VERSION = 3  # bump when a change to the code changes what a cached run would contain
DTYPES = {"float32": torch.float32, "float64": torch.float64}
DEVICES = ("cpu", "cuda", "auto")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run.

    Data and model: ``dataset`` (``train_size`` examples, ``label_noise`` random labels, ``holdout``
    test set or validation split, ``augment``), ``model`` with ``model_options``, and the ``loss``
    (:mod:`sgdlab.task.losses`: ``"cross_entropy"`` or ``"mse"``), used alike by training, evaluation, the
    Hessian and the direction probes.

    Steps: ``optimizer`` (:mod:`sgdlab.optim`: ``SGD()``, ``Nudged(gamma, k, refresh)``, ``CDAT(sigma)``;
    a kind name means its defaults) at learning rate ``lr`` with ``momentum`` and ``weight_decay``, on
    mini-batches of ``batch_size`` (``None``: the whole training set every step, full-batch gradient
    descent), computed in chunks of ``physical_batch_size`` examples when set (memory only: the step is
    the same). ``lr_schedule`` and ``batch_schedule`` (:mod:`sgdlab.training.schedules`) replace the constant
    ``lr`` and ``batch_size``: each step uses their values at the epoch reached so far; ``lr_plateau``
    (:class:`~sgdlab.training.schedules.ReduceOnPlateau`) then scales the learning rate down when a measured
    variable stops improving. Training stops after ``epochs`` epochs of ``epoch_size`` examples (default:
    the training set), at a NaN/inf loss (recorded as diverged), once the training accuracy reaches
    ``stop_at_train_acc``, or when ``early_stopping`` (:class:`~sgdlab.training.schedules.EarlyStopping`) sees a
    measured variable stop improving.

    Measurements: ``probes`` (:mod:`sgdlab.measure.probes`) measure the state every ``measure_every`` epochs and
    every ``zoom_every`` epochs before ``zoom_until``; ``traces`` (:mod:`sgdlab.measure.traces`) see every
    optimizer step. ``every`` gives any probe or trace its own :class:`~sgdlab.training.clock.Every` schedule, or a
    tuple of them (the union of their steps, e.g. windows of consecutive steps at several epochs);
    ``trace_options`` sets a trace's options by name (``{"weights": {"layer": "3.weight"}}``, see each
    trace's ``options``).
    The Hessian is that of ``hessian_size`` fixed training examples (the default, 1024, means the whole
    training set where that is smaller; chunks of ``hessian_batch_size``;
    ``hessian_reuse_graph=False`` recomputes each chunk's graph per product, bounding memory by one
    chunk, and is chosen automatically when the retained graph does not fit), top ``top_k`` eigenpairs
    at Ritz-residual tolerance ``eigen_tol``; direction probes use ``probe_gradients`` mini-batch
    gradients. ``hessian_params`` restricts the eigen probe to a block of parameters (the others held
    fixed): a glob pattern or a tuple of patterns over ``model.named_parameters()`` names, or a dict
    ``{block name: pattern(s)}`` of disjoint blocks, which gives ``lambda`` a ``block`` dimension
    (:mod:`sgdlab.curvature.blocks`); ``None``, the default, is every parameter. ``save_parameters``
    keeps the initial and final states for :mod:`sgdlab.findings.interpolation`.
    """

    dataset: str = "mnist1d"
    train_size: int | None = None
    label_noise: float = 0.0
    holdout: str = "test"
    augment: bool = False
    model: str = "mlp"
    model_options: dict[str, Any] = field(default_factory=dict)
    loss: str = "cross_entropy"
    optimizer: Any = field(default_factory=optim.SGD)
    lr: float = 0.05
    batch_size: int | None = 128
    physical_batch_size: int | None = None
    lr_schedule: Schedule | None = None
    batch_schedule: Schedule | None = None
    momentum: float = 0.0
    weight_decay: float = 0.0
    epochs: float = 10.0
    epoch_size: int | None = None
    stop_at_train_acc: float | None = None
    lr_plateau: schedules.ReduceOnPlateau | None = None
    early_stopping: schedules.EarlyStopping | None = None
    measure_every: float = 1.0
    zoom_until: float = 0.0
    zoom_every: float = 0.1
    probes: tuple[str, ...] = ("losses", "eigen")
    traces: tuple[str, ...] = ()
    every: dict[str, Every | tuple[Every, ...]] = field(default_factory=dict)
    trace_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    save_parameters: bool = False
    top_k: int = 5
    probe_gradients: int = 8
    eigen_tol: float = 1e-3
    hessian_size: int = 1024
    hessian_batch_size: int = 1024
    hessian_reuse_graph: bool = True
    hessian_params: str | tuple[str, ...] | dict[str, str | tuple[str, ...]] | None = None
    hutchinson_samples: int = 20
    bn_mode: str = "eval"
    eval_size: int | None = None
    eval_batch_size: int = 1024
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    threads: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "optimizer", optim.from_value(self.optimizer))
        if isinstance(self.probes, list):
            object.__setattr__(self, "probes", tuple(self.probes))
        if isinstance(self.traces, list):
            object.__setattr__(self, "traces", tuple(self.traces))
        _check_types(self)
        _check_measurements(self)
        object.__setattr__(self, "hessian_params", _hessian_params(self))

    @property
    def full_batch(self) -> bool:
        """Whether every step sees the whole training set (gradient descent)."""
        return self.batch_size is None and self.batch_schedule is None


_OPTIONAL_INTS = ("train_size", "batch_size", "physical_batch_size", "epoch_size", "eval_size")
_POSITIVE_INTS = ("top_k", "probe_gradients", "hessian_size", "hessian_batch_size", "hutchinson_samples",
                  "eval_batch_size", "threads")
_POSITIVE_NUMBERS = ("lr", "epochs", "measure_every", "zoom_every", "eigen_tol")


def validate(config: RunConfig, n_train: int | None = None, n_params: int | None = None) -> None:
    """Raise ``ValueError`` naming the first bad field. Types, ranges and names are checked when the
    configuration is made (so a base configuration may still lack what a probe needs from a field set
    later); what fields need of each other here, and sizes against the data and the model once known."""
    if "memorisation" in config.probes and not config.label_noise > 0:
        raise ValueError(f"the memorisation probe needs label_noise > 0, got {config.label_noise!r}")
    for name in ("lr_schedule", "lr_plateau"):
        if getattr(config, name) is not None and config.optimizer.chooses_lr:
            raise ValueError(f"{name} cannot be combined with optimizer {config.optimizer.kind!r}, which sets "
                             "its own learning rate along the run; give the starting value as lr")
    if n_train is not None:
        _check_sizes(config, n_train)
    if n_params is not None:
        if n_params == 0:
            raise ValueError(f"model {config.model!r} has no trainable parameters (none requires gradients): "
                             "there is nothing to train or measure")
        if "eigen" in config.probes and not config.top_k <= n_params:
            raise ValueError(f"top_k must be between 1 and the number of parameters ({n_params}), got {config.top_k}")
        config.optimizer.check(n_params)


def _check_types(config: RunConfig) -> None:
    checks.choice("dataset", config.dataset, data.names())
    checks.choice("model", config.model, models.names())
    checks.choice("loss", config.loss, losses.LOSSES)
    checks.choice("dtype", config.dtype, DTYPES)
    checks.choice("bn_mode", config.bn_mode, curvature.BN_MODES)
    _check_device(config.device)
    checks.choice("holdout", config.holdout, data.HOLDOUTS)
    if not isinstance(config.model_options, dict):
        raise ValueError(f"model_options must be a dict, got {config.model_options!r}")
    for name in _POSITIVE_NUMBERS:
        checks.number(name, getattr(config, name), positive=True)
    for name in ("weight_decay", "zoom_until"):
        checks.number(name, getattr(config, name), low=0)
    checks.number("momentum", config.momentum, low=0, below=1)
    checks.number("label_noise", config.label_noise, low=0, below=1)
    for name in _POSITIVE_INTS:
        checks.integer(name, getattr(config, name), low=1)
    for name in _OPTIONAL_INTS:
        if getattr(config, name) is not None:
            checks.integer(name, getattr(config, name), low=1)
    checks.integer("seed", config.seed, low=0)
    for name in ("augment", "save_parameters", "hessian_reuse_graph"):
        checks.boolean(name, getattr(config, name))
    if config.stop_at_train_acc is not None:
        checks.number("stop_at_train_acc", config.stop_at_train_acc, positive=True, high=1)
    for name in ("lr_schedule", "batch_schedule"):
        value = getattr(config, name)
        if value is not None and not schedules.SCHEDULES.is_member(value):
            kinds = ", ".join(c.__name__ for c in schedules.KINDS.values())
            raise ValueError(f"{name} must be None or a schedule ({kinds}), "
                             f"got {value!r}")
    for name, kind in (("lr_plateau", schedules.ReduceOnPlateau), ("early_stopping", schedules.EarlyStopping)):
        value = getattr(config, name)
        if value is not None and type(value) is not kind:
            raise ValueError(f"{name} must be None or an instance of {kind.__name__}, got {value!r}")
    if config.batch_size is None and config.batch_schedule is not None:
        raise ValueError("batch_size=None (full batch) and a batch_schedule exclude each other")
    _check_limits(config)


def _check_device(device: Any) -> None:
    """``cpu``, ``cuda``, ``cuda:<index>`` or ``auto``."""
    if not isinstance(device, str):
        raise ValueError(f"device must be a string such as 'cpu', 'cuda', 'cuda:1' or 'auto', got {device!r}")
    kind, colon, index = device.partition(":")
    checks.choice("device", kind, DEVICES)
    if colon and (kind != "cuda" or not index.isdigit()):
        raise ValueError(f"device {device!r} is not a device: use 'cpu', 'cuda', 'cuda:<index>' (e.g. 'cuda:0') "
                         "or 'auto'")


def _check_limits(config: RunConfig) -> None:
    """What the run's numbers can hold: every learning rate in its dtype, the seed in torch's generators."""
    largest = torch.finfo(DTYPES[config.dtype]).max
    if config.lr > largest:
        raise ValueError(f"lr {config.lr!r} is larger than the largest {config.dtype} ({largest:.4g})")
    if config.lr_schedule is not None and config.lr_schedule.bounds()[1] > largest:
        raise ValueError(f"lr_schedule reaches {config.lr_schedule.bounds()[1]!r}, larger than the largest "
                         f"{config.dtype} ({largest:.4g})")
    seeds.check(config.seed)


def _check_measurements(config: RunConfig) -> None:
    checks.strings("probes", config.probes)
    checks.strings("traces", config.traces)
    unknown = [p for p in config.probes if p not in probes.PROBES]
    if unknown:
        raise ValueError(f"probes {unknown} are unknown; choose from: {', '.join(probes.PROBES)}")
    unknown = [t for t in config.traces if t not in traces.TRACES]
    if unknown:
        raise ValueError(f"traces {unknown} are unknown; choose from: {', '.join(traces.TRACES)}")
    needs_eigen = [p for p in config.probes if p in probes.DIRECTION_PROBES]
    first = needs_eigen and config.probes.index(needs_eigen[0])
    if needs_eigen and ("eigen" not in config.probes or config.probes.index("eigen") > first):
        raise ValueError(f"probes {needs_eigen} use the top eigenvectors: list 'eigen' before them in probes")
    if not isinstance(config.every, dict):
        raise ValueError(f"every must be a dict from probe or trace names to Every schedules, got {config.every!r}")
    for name, when in config.every.items():
        if name not in config.probes + config.traces:
            raise ValueError(f"every names {name!r}, which is not one of this run's probes or traces: "
                             f"{', '.join(config.probes + config.traces) or 'none'}")
        if not isinstance(when, Every) and not (isinstance(when, tuple) and when
                                                and all(isinstance(w, Every) for w in when)):
            raise ValueError(f"every[{name!r}] must be an sgdlab.training.clock.Every or a non-empty tuple of them, "
                             f"got {when!r}")
    _check_trace_options(config)
    for name in config.traces:
        traces.TRACES[name].check(config)


def _hessian_params(config: RunConfig) -> str | tuple[str, ...] | dict[str, str | tuple[str, ...]] | None:
    """``hessian_params`` with lists as tuples (as JSON returns them), or a ValueError naming it."""
    value = config.hessian_params

    def block(spec: Any) -> str | tuple[str, ...]:
        if isinstance(spec, str):
            return spec
        if isinstance(spec, (tuple, list)) and spec and all(isinstance(p, str) for p in spec):
            return tuple(spec)
        raise ValueError(f"hessian_params must be None, a glob pattern, a non-empty tuple of patterns or a dict "
                         f"{{block name: pattern(s)}}, got {value!r}")

    if value is None:
        return None
    if isinstance(value, dict):
        if not value or not all(isinstance(name, str) and name for name in value):
            raise ValueError(f"hessian_params: a dict of blocks needs at least one block and non-empty string "
                             f"names, got {value!r}")
        checked: Any = {name: block(spec) for name, spec in value.items()}
    else:
        checked = block(value)
    directions = [p for p in config.probes if p in probes.DIRECTION_PROBES]
    if directions:
        raise ValueError(f"hessian_params={value!r} measures a block of parameters, but probes {directions} need "
                         "the eigenvectors of every parameter; leave hessian_params=None with them")
    return checked


def _check_trace_options(config: RunConfig) -> None:
    if not isinstance(config.trace_options, dict):
        raise ValueError(f"trace_options must be a dict from trace names to option dicts, got {config.trace_options!r}")
    for name, chosen in config.trace_options.items():
        if name not in config.traces:
            raise ValueError(f"trace_options names {name!r}, which is not one of this run's traces: "
                             f"{', '.join(config.traces) or 'none'}")
        allowed = traces.TRACES[name].options
        if not isinstance(chosen, dict) or not set(chosen) <= set(allowed):
            raise ValueError(f"trace_options[{name!r}] must be a dict of options among: "
                             f"{', '.join(allowed) or 'none'}; got {chosen!r}")


def _check_sizes(config: RunConfig, n_train: int) -> None:
    for name in ("batch_size", "hessian_size", "epoch_size", "eval_size", "physical_batch_size"):
        value = getattr(config, name)
        if name == "hessian_size" and value == RunConfig.hessian_size:
            continue  # the default: the first min(1024, n_train) of the run's fixed order of examples
        if value is not None and not value <= n_train:
            raise ValueError(f"{name} must be between 1 and the training set size ({n_train}), got {value}")
    if config.batch_schedule is not None and not config.batch_schedule.bounds()[1] <= n_train:
        raise ValueError(f"batch_schedule reaches a batch size of {config.batch_schedule.bounds()[1]:g}, "
                         f"more than the training set size ({n_train})")


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when a GPU is visible, else ``"cpu"``; other names pass through."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


# --- JSON and hash ---------------------------------------------------------------------------------

def _encode(value: Any) -> Any:
    """JSON for what ``json`` cannot write itself: schedules, optimizers and Every as dicts."""
    if schedules.SCHEDULES.is_member(value):
        return schedules.to_dict(value)
    if optim.OPTIMIZERS.is_member(value):
        return optim.OPTIMIZERS.to_dict(value)
    if schedules.PLATEAUS.is_member(value):
        return schedules.PLATEAUS.to_dict(value)
    if isinstance(value, Every):
        return dataclasses.asdict(value)
    return str(value)


def _fields(config: RunConfig) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def to_json(config: RunConfig) -> str:
    """The configuration as canonical JSON (sorted keys), every field included."""
    return json.dumps(_fields(config), sort_keys=True, default=_encode)


def from_json(text: str) -> RunConfig:
    """The configuration that :func:`to_json` wrote (e.g. a run's ``attrs["config"]``)."""
    fields = json.loads(text)
    for name in ("lr_schedule", "batch_schedule"):
        if fields.get(name) is not None:
            fields[name] = schedules.from_dict(fields[name])
    for name in ("lr_plateau", "early_stopping"):
        if fields.get(name) is not None:
            fields[name] = schedules.PLATEAUS.from_dict(fields[name])
    if "optimizer" in fields:
        fields["optimizer"] = optim.OPTIMIZERS.from_dict(fields["optimizer"])
    fields["every"] = {k: Every(**v) if isinstance(v, dict) else tuple(Every(**w) for w in v)
                       for k, v in fields.get("every", {}).items()}
    return RunConfig(**fields | {"probes": tuple(fields["probes"]), "traces": tuple(fields.get("traces", ()))})


def config_hash(config: RunConfig) -> str:
    """A short hash of the fields that differ from their defaults (new defaulted fields keep old hashes),
    and of the version strings of a registered dataset and model (:func:`sgdlab.task.data.register`)."""
    defaults = _fields(type(config)())
    changed = {name: value for name, value in _fields(config).items() if value != defaults[name]}
    versions = {"dataset_version": data.version(config.dataset), "model_version": models.version(config.model)}
    changed |= {name: value for name, value in versions.items() if value}
    text = json.dumps({"cache_version": CACHE_VERSION, **changed}, sort_keys=True, default=_encode)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

