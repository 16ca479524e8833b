"""Model registry: the papers' networks (SimpleCNN, ResNet-32, VGG-11) plus small MLP/CNN baselines.

Initialisation follows the papers' Keras code: Glorot-uniform weights and zero biases everywhere, except
ResNet-32's convolutions, which are He-normal (std sqrt(2 / fan_in); Keras 2.1 truncated that normal at
2 std, we do not). BatchNorm starts at weight 1, bias 0 (the defaults of both frameworks).
:func:`register` adds a builder of your own under a name (also through the entry-point group
``sgdlab.task.models``, see :mod:`sgdlab.core.registry`); such models keep the builder's own initialisation.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from sgdlab.core import seeds
from sgdlab.core.checks import is_int
from sgdlab.core.registry import Registry

Init = Callable[[torch.Tensor], Any]


def _he_normal(weight: torch.Tensor) -> None:
    nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu")


@dataclass(frozen=True)
class _Spec:
    """How to build one model: the builder, its options with defaults, and what inputs it accepts."""

    make: Callable[..., nn.Module]
    options: Mapping[str, Any]
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # the allowed values of string options
    image_only: bool = False
    conv_init: Init = nn.init.xavier_uniform_


def build(name: str, input_shape: tuple[int, ...], num_classes: int, *, seed: int = 0, **options: Any) -> nn.Module:
    """Build model ``name`` for examples of shape ``input_shape`` (e.g. ``(1, 40)``, ``(3, 32, 32)``).

    The model maps ``(N, *input_shape)`` to logits ``(N, num_classes)``. Weights depend only on ``seed``;
    building leaves the caller's global RNG untouched. ``options`` and their defaults, per model:
    mlp: width=100, depth=2, activation="relu" (or "tanh"), init="glorot" (or "torch": PyTorch's default
    initialisation of ``nn.Linear``, as in Cohen et al.'s edge-of-stability code); cnn: width=32;
    resnet32: batch_norm=False; vgg11: batch_norm=True, width=64; simplecnn: filters=32; simplecnn_medium: filters=100
    (its first block's channels; the second block has twice as many).
    Image-only models (all but mlp and cnn) need ``(C, H, W)``. A registered model gets ``options`` as
    keyword arguments of its builder.
    """
    registered = _USER.get(name)  # ValueError for an unknown name; None for a built-in one
    seeds.check(seed)
    if registered is not None:
        return _build_registered(name, registered, input_shape, num_classes, seed, options)
    spec = _REGISTRY[name]
    input_shape = _check_shape(name, input_shape, spec.image_only)
    _check_num_classes(num_classes)
    chosen = _check_options(name, spec.options, options, spec.choices)
    with _seeded(seed):
        model = spec.make(input_shape, num_classes, **chosen)
        if chosen.get("init", "glorot") == "glorot":
            _initialise(model, spec.conv_init)
    return model


Builder = Callable[..., nn.Module]


def register(name: str, builder: Builder, *, version: str, replace: bool = False) -> None:
    """Make ``builder`` available as model ``name`` to :func:`build` and ``RunConfig(model=name)``.

    builder: called as ``builder(input_shape, num_classes, **options)`` (``options`` from
    ``RunConfig.model_options``) with torch's CPU generator seeded by the run's seed; returns an
    ``nn.Module`` mapping ``(N, *input_shape)`` to logits ``(N, num_classes)``, which :func:`build`
    checks on two zero examples. version: a non-empty string that enters the hash of every run with
    this model; change it whenever the builder changes. replace: allow replacing a registration.
    """
    if not callable(builder):
        raise ValueError(f"builder of model {name!r} must be callable; got {builder!r}")
    _USER.add(name, builder, version, replace)




_GLOBAL_RNG = threading.Lock()  # runs in threads of one process (e.g. a Dask worker) build one at a time


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Torch's CPU generator starts at ``seed`` inside, and is as before afterwards; one thread at a time,
    since the generator is shared by the whole process."""
    with _GLOBAL_RNG, torch.random.fork_rng(devices=[]):  # CPU only: models are built on the CPU
        torch.default_generator.manual_seed(seed)  # not torch.manual_seed, which would reseed CUDA too
        yield


def _check_num_classes(num_classes: object) -> None:
    if not is_int(num_classes) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer; got {num_classes!r}")


def _build_registered(
    name: str, builder: Builder, input_shape: tuple[int, ...], num_classes: int, seed: int, options: dict[str, Any]
) -> nn.Module:
    """Build a registered model, checking its options against the builder's signature and its output shape."""
    input_shape = _check_shape(name, input_shape, image_only=False)
    _check_num_classes(num_classes)
    try:
        inspect.signature(builder).bind(input_shape, num_classes, **options)
    except TypeError as error:
        raise ValueError(f"model {name!r} does not take the options {options}: {error}") from error
    try:
        with _seeded(seed):
            model = builder(input_shape, num_classes, **options)
    except Exception as error:  # noqa: BLE001 (the user's code: whatever it raises, the model is named)
        raise ValueError(f"the builder of model {name!r} failed: {type(error).__name__}: {error}") from error
    if not isinstance(model, nn.Module):
        raise ValueError(f"the builder of model {name!r} must return a torch.nn.Module; got {type(model).__name__}")
    _check_output(name, model, input_shape, num_classes)
    return model


@torch.no_grad()
def _check_output(name: str, model: nn.Module, input_shape: tuple[int, ...], num_classes: int) -> None:
    """A forward pass of two zero examples in eval mode must give logits ``(2, num_classes)``."""
    training = model.training
    model.eval()
    try:
        out = model(torch.zeros(2, *input_shape))
    except Exception as error:  # noqa: BLE001 (the user's forward: whatever it raises, the model is named)
        raise ValueError(f"model {name!r} fails on inputs of shape (N, *{input_shape}): {error}") from error
    finally:
        model.train(training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, num_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model {name!r} must map inputs (N, *{input_shape}) to logits (N, {num_classes}); "
                         f"for N=2 it returned {shape}")


def _float_state(model: nn.Module) -> list[torch.Tensor]:
    return [*model.parameters(), *(b for b in model.buffers() if b.is_floating_point())]


def state_vector(model: nn.Module) -> torch.Tensor:
    """The model's parameters, then its floating-point buffers (BatchNorm statistics), as one flat copy."""
    return torch.cat([t.detach().reshape(-1) for t in _float_state(model)]).clone()


@torch.no_grad()
def load_state_vector(model: nn.Module, vector: torch.Tensor) -> None:
    """Copy a flat vector laid out as by :func:`state_vector` into the model, in place."""
    tensors = _float_state(model)
    expected = sum(t.numel() for t in tensors)
    if vector.numel() != expected:
        raise ValueError(f"state vector has {vector.numel()} entries; this model's state has {expected}")
    offset = 0
    for t in tensors:
        t.copy_(vector[offset:offset + t.numel()].reshape(t.shape))
        offset += t.numel()



def _check_shape(name: str, input_shape: tuple[int, ...], image_only: bool) -> tuple[int, ...]:
    shape = tuple(input_shape)
    if not shape or not all(is_int(s) and s > 0 for s in shape):
        raise ValueError(f"input_shape must be a tuple of positive integers; got {input_shape!r}")
    if image_only and len(shape) != 3:
        raise ValueError(f"model {name!r} needs image input_shape (C, H, W); got {shape}")
    if name == "cnn" and len(shape) not in (2, 3):
        raise ValueError(f"model 'cnn' needs input_shape (C, L) or (C, H, W); got {shape}")
    return shape


def _check_options(name: str, defaults: Mapping[str, Any], given: Mapping[str, Any],
                   choices: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        allowed = ", ".join(defaults) or "(none)"
        raise ValueError(f"model {name!r} has no option {unknown[0]!r}; its options are: {allowed}")
    chosen = {**defaults, **given}
    for key, value in chosen.items():
        if key in choices:
            if value not in choices[key]:
                raise ValueError(f"option {key!r} of model {name!r} must be one of: {', '.join(choices[key])}; "
                                 f"got {value!r}")
        elif isinstance(defaults[key], bool):
            if not isinstance(value, bool):
                raise ValueError(f"option {key!r} of model {name!r} must be True or False; got {value!r}")
        elif not is_int(value) or value < 1:
            raise ValueError(f"option {key!r} of model {name!r} must be a positive integer; got {value!r}")
    return chosen


def _initialise(model: nn.Module, conv_init: Init) -> None:
    """Keras-like init: ``conv_init`` for conv kernels, Glorot-uniform for dense weights, zero biases."""
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            (nn.init.xavier_uniform_ if isinstance(module, nn.Linear) else conv_init)(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def _flat_size(features: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Number of features ``features`` produces for one example (a dry run on zeros)."""
    try:
        with torch.no_grad():
            return features(torch.zeros(1, *input_shape)).numel()
    except RuntimeError as error:
        raise ValueError(f"input_shape {input_shape} is too small for this model: {error}") from error


_ACTIVATIONS: Mapping[str, type[nn.Module]] = MappingProxyType({"relu": nn.ReLU, "tanh": nn.Tanh})
_MLP_INITS = ("glorot", "torch")


def _mlp(input_shape: tuple[int, ...], num_classes: int, width: int, depth: int, activation: str = "relu",
         init: str = "glorot") -> nn.Module:
    """Flatten, ``depth`` hidden Linear-``activation`` layers of ``width`` units, Linear to logits.

    ``init`` is applied by :func:`build`: "glorot" (Keras-like, zero biases) or "torch" (``nn.Linear``'s
    own: uniform weights and biases in ±1/sqrt(fan_in), as built).
    """
    sizes = [_numel(input_shape)] + [width] * depth
    hidden = [layer for a, b in zip(sizes, sizes[1:]) for layer in (nn.Linear(a, b), _ACTIVATIONS[activation]())]
    return nn.Sequential(nn.Flatten(), *hidden, nn.Linear(width, num_classes))


def _numel(shape: tuple[int, ...]) -> int:
    return int(torch.Size(shape).numel())


def _cnn(input_shape: tuple[int, ...], num_classes: int, width: int) -> nn.Module:
    """Two [conv 3 (same) - ReLU - max-pool 2] blocks, 1-D for (C, L) input, 2-D for (C, H, W); Linear."""
    conv, pool = (nn.Conv1d, nn.MaxPool1d) if len(input_shape) == 2 else (nn.Conv2d, nn.MaxPool2d)
    features = nn.Sequential(
        conv(input_shape[0], width, 3, padding="same"), nn.ReLU(), pool(2),
        conv(width, width, 3, padding="same"), nn.ReLU(), pool(2),
        nn.Flatten(),
    )
    return nn.Sequential(features, nn.Linear(_flat_size(features, input_shape), num_classes))


def _simple_cnn(input_shape: tuple[int, ...], num_classes: int, filters: int = 32, kernel: int = 3) -> nn.Module:
    """The papers' SimpleCNN: [conv same, conv valid, pool] with ``filters`` then ``2 * filters`` channels,
    Dense(128)-ReLU, Dense(num_classes). filters=32, kernel=3 is ~0.36M parameters on CIFAR-10."""
    channels = input_shape[0]
    features = nn.Sequential(
        nn.Conv2d(channels, filters, kernel, padding="same"), nn.ReLU(),
        nn.Conv2d(filters, filters, kernel), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(filters, 2 * filters, kernel, padding="same"), nn.ReLU(),
        nn.Conv2d(2 * filters, 2 * filters, kernel), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
    )
    head = nn.Sequential(nn.Linear(_flat_size(features, input_shape), 128), nn.ReLU(), nn.Linear(128, num_classes))
    return nn.Sequential(features, head)


def _simple_cnn_medium(input_shape: tuple[int, ...], num_classes: int, filters: int = 100) -> nn.Module:
    """SimpleCNN-medium (Nudged SGD): 5x5 kernels, 100 then 200 filters, as the papers' repository
    configures it (``n_filters=100, kernel_size=5``; its second block doubles the filters)."""
    return _simple_cnn(input_shape, num_classes, filters=filters, kernel=5)


def _norm(batch_norm: bool, channels: int, dims: int = 2) -> nn.Module:
    if not batch_norm:
        return nn.Identity()
    return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm1d(channels)


class _PreActBlock(nn.Module):
    """Pre-activation residual block: [BN]-ReLU-conv3(stride)-[BN]-ReLU-conv3, plus the input
    (through a strided 1x1 conv when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, batch_norm: bool) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            _norm(batch_norm, in_channels), nn.ReLU(),
            nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
            _norm(batch_norm, out_channels), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        reshape = stride != 1 or in_channels != out_channels
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride) if reshape else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


def _resnet32(input_shape: tuple[int, ...], num_classes: int, batch_norm: bool) -> nn.Module:
    """Pre-activation ResNet-32 for CIFAR: conv3(16), 3 stages x 5 blocks (16/32/64 filters, stride 2
    at the start of stages 2 and 3), [BN]-ReLU, global average pool, Linear. No dropout."""
    layers: list[nn.Module] = [nn.Conv2d(input_shape[0], 16, 3, padding=1)]
    channels = 16
    for stage, width in enumerate((16, 32, 64)):
        for block in range(5):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(_PreActBlock(channels, width, stride, batch_norm))
            channels = width
    layers += [_norm(batch_norm, channels), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers, nn.Linear(channels, num_classes))


_VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


def _vgg11(input_shape: tuple[int, ...], num_classes: int, batch_norm: bool, width: int = 64) -> nn.Module:
    """VGG-11 as in the papers' repository: conv3-[BN]-ReLU per configuration entry, max-pool 2 at 'M',
    then [Dense(512)-[BN]-ReLU] x 2, Dense(num_classes); no dropout. Pools round up (``ceil_mode``) and a
    global average pool precedes the classifier, so 28x28 inputs work; on 32x32 both are no-ops.
    ``width`` is the first convolution's channels (64); every layer scales with it (Dense: 8 × width)."""
    layers: list[nn.Module] = []
    channels = input_shape[0]
    for entry in _VGG11:
        if entry == "M":
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        else:
            out = entry * width // 64
            layers += [nn.Conv2d(channels, out, 3, padding=1), _norm(batch_norm, out), nn.ReLU()]
            channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    for _ in range(2):
        layers += [nn.Linear(channels, 8 * width), _norm(batch_norm, 8 * width, dims=1), nn.ReLU()]
        channels = 8 * width
    return nn.Sequential(*layers, nn.Linear(channels, num_classes))


_REGISTRY: Mapping[str, _Spec] = MappingProxyType({
    "mlp": _Spec(_mlp, {"width": 100, "depth": 2, "activation": "relu", "init": "glorot"},
                 choices=MappingProxyType({"activation": tuple(_ACTIVATIONS), "init": _MLP_INITS})),
    "cnn": _Spec(_cnn, {"width": 32}),
    "simplecnn": _Spec(_simple_cnn, {"filters": 32}, image_only=True),
    "simplecnn_medium": _Spec(_simple_cnn_medium, {"filters": 100}, image_only=True),
    "resnet32": _Spec(_resnet32, {"batch_norm": False}, image_only=True, conv_init=_he_normal),
    "vgg11": _Spec(_vgg11, {"batch_norm": True, "width": 64}, image_only=True),
})

MODELS: tuple[str, ...] = tuple(_REGISTRY)  # built in; names() adds yours
_USER: Registry[Builder] = Registry("model", "sgdlab.task.models", "sgdlab.task.models", MODELS)
# Forget a registration; every model name (built in, registered, declared by an entry point); the version
# of a model that enters a run's hash ("" for a built-in one).
unregister, names, version = _USER.remove, _USER.names, _USER.version
