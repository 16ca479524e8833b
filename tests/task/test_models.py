"""Models: every architecture runs forward/backward on its inputs, seeding, sizes, BN switch, bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sgdlab.task.models import MODELS, build

MNIST1D, FASHION, CIFAR = (1, 40), (1, 28, 28), (3, 32, 32)
SUPPORTED = {
    "mlp": [MNIST1D, FASHION, CIFAR],
    "cnn": [MNIST1D, FASHION, CIFAR],
    "simplecnn": [FASHION, CIFAR],
    "simplecnn_medium": [FASHION, CIFAR],
    "resnet32": [FASHION, CIFAR],
    "vgg11": [FASHION, CIFAR],
}


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_lists_every_model():
    assert MODELS == ("mlp", "cnn", "simplecnn", "simplecnn_medium", "resnet32", "vgg11")
    assert set(SUPPORTED) == set(MODELS)


@pytest.mark.parametrize(("name", "shape"), [(n, s) for n, shapes in SUPPORTED.items() for s in shapes])
def test_forward_and_backward(name, shape):
    model = build(name, shape, num_classes=7)
    logits = model(torch.randn(2, *shape))
    assert logits.shape == (2, 7) and torch.isfinite(logits).all()
    logits.logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_same_weights_and_global_rng_untouched(name):
    shape = SUPPORTED[name][0]
    before = torch.get_rng_state()
    first = build(name, shape, 10, seed=5)
    assert torch.equal(torch.get_rng_state(), before)
    second, other = build(name, shape, 10, seed=5), build(name, shape, 10, seed=6)
    for (key, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), key
    assert any(not torch.equal(a, c) for a, c in zip(first.parameters(), other.parameters()))


def test_simplecnn_sizes():
    assert _count(build("simplecnn", CIFAR, 10)) == 361_898  # the papers' ~0.36M
    assert _count(build("simplecnn_medium", CIFAR, 10)) == 2_399_518  # 5x5 kernels, 100/200 filters
    convs = [m for m in build("simplecnn_medium", CIFAR, 10).modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(100, (5, 5))] * 2 + [(200, (5, 5))] * 2


def test_resnet32_depth_and_batch_norm_switch():
    plain, normed = build("resnet32", CIFAR, 10), build("resnet32", CIFAR, 10, batch_norm=True)
    convs = [m for m in plain.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) + 1 == 32  # 31 3x3 convs and the final linear layer
    assert 0.45e6 < _count(plain) < 0.48e6
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in normed.modules()) == 2 * 15 + 1
    # He-normal convolutions: std sqrt(2 / fan_in); Glorot-uniform output layer; zero biases
    conv = convs[-1]
    assert abs(conv.weight.std().item() / (2 / (64 * 9)) ** 0.5 - 1) < 0.05
    assert not any(m.bias.any() for m in plain.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def test_vgg11_has_batch_norm_after_each_conv():
    model = build("vgg11", CIFAR, 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 8
    assert not any(isinstance(m, nn.BatchNorm2d) for m in build("vgg11", CIFAR, 10, batch_norm=False).modules())


def test_glorot_uniform_init():
    linear = build("mlp", MNIST1D, 10, width=300).get_submodule("1")
    bound = (6 / (40 + 300)) ** 0.5
    assert linear.weight.abs().max() <= bound and linear.weight.abs().max() > 0.95 * bound
    assert not linear.bias.any()


def test_mlp_and_cnn_options():
    mlp = build("mlp", MNIST1D, 10, width=16, depth=3)
    assert [m.out_features for m in mlp.modules() if isinstance(m, nn.Linear)] == [16, 16, 16, 10]
    cnn = build("cnn", MNIST1D, 10, width=8)
    assert [type(m) for m in cnn.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))] == [nn.Conv1d] * 2
    assert all(m.out_channels == 8 for m in cnn.modules() if isinstance(m, nn.Conv1d))
    for name, default in (("simplecnn", 32), ("simplecnn_medium", 100)):
        convs = [m for m in build(name, CIFAR, 10).modules() if isinstance(m, nn.Conv2d)]
        assert [m.out_channels for m in convs] == [default, default, 2 * default, 2 * default]
        convs = [m for m in build(name, CIFAR, 10, filters=4).modules() if isinstance(m, nn.Conv2d)]
        assert [m.out_channels for m in convs] == [4, 4, 8, 8]
    for width in (64, 8):
        vgg = build("vgg11", CIFAR, 10, width=width)
        assert [m.out_channels for m in vgg.modules() if isinstance(m, nn.Conv2d)] == [
            c * width // 64 for c in (64, 128, 256, 256, 512, 512, 512, 512)]
        assert [m.out_features for m in vgg.modules() if isinstance(m, nn.Linear)] == [8 * width, 8 * width, 10]


@pytest.mark.parametrize(
    ("name", "shape", "options", "match"),
    [
        ("foo", CIFAR, {}, "model 'foo' is unknown; choose one of: mlp, cnn, simplecnn, simplecnn_medium, "
                           "resnet32, vgg11"),
        ("simplecnn", MNIST1D, {}, r"model 'simplecnn' needs image input_shape \(C, H, W\)"),
        ("resnet32", (3072,), {}, "needs image input_shape"),
        ("cnn", (40,), {}, r"needs input_shape \(C, L\) or \(C, H, W\)"),
        ("mlp", MNIST1D, {"filters": 3}, "model 'mlp' has no option 'filters'; its options are: width, depth"),
        ("simplecnn", CIFAR, {"width": 3}, r"model 'simplecnn' has no option 'width'; its options are: filters"),
        ("simplecnn_medium", CIFAR, {"filters": 0}, "option 'filters' of model 'simplecnn_medium' must be a positive"),
        ("mlp", MNIST1D, {"width": 0}, "option 'width' of model 'mlp' must be a positive integer"),
        ("mlp", MNIST1D, {"depth": -1}, "option 'depth' of model 'mlp' must be a positive integer"),
        ("cnn", MNIST1D, {"width": 2.0}, "option 'width' of model 'cnn' must be a positive integer"),
        ("resnet32", CIFAR, {"batch_norm": 1}, "option 'batch_norm' of model 'resnet32' must be True or False"),
        ("mlp", (0, 3), {}, "input_shape must be a tuple of positive integers"),
        ("simplecnn", (3, 8, 8), {}, r"input_shape \(3, 8, 8\) is too small"),
    ],
)
def test_bad_input_raises_value_error(name, shape, options, match):
    with pytest.raises(ValueError, match=match):
        build(name, shape, 10, **options)


@pytest.mark.parametrize("seed", [2**63, 2**70])
def test_a_seed_beyond_64_bits_is_named(seed):
    with pytest.raises(ValueError, match=r"seed must be below 2\*\*63"):
        build("mlp", MNIST1D, 10, seed=seed)


def test_bad_num_classes():
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        build("mlp", MNIST1D, 0)


def test_mlp_activation_option_picks_tanh_or_relu():
    relu, tanh = build("mlp", MNIST1D, 10), build("mlp", MNIST1D, 10, activation="tanh")
    assert sum(isinstance(m, nn.ReLU) for m in relu.modules()) == 2 and not any(isinstance(m, nn.Tanh) for m in relu.modules())
    assert sum(isinstance(m, nn.Tanh) for m in tanh.modules()) == 2 and not any(isinstance(m, nn.ReLU) for m in tanh.modules())
    x = torch.randn(3, *MNIST1D)
    hidden = tanh[:3](x)  # flatten, linear, tanh
    assert hidden.abs().max() < 1


def test_mlp_torch_init_is_pytorchs_linear_default_with_nonzero_biases():
    model = build("mlp", MNIST1D, 10, init="torch", seed=3)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for layer in linears:  # nn.Linear's reset_parameters: U(±1/sqrt(fan_in)) for weights and biases
        bound = layer.in_features ** -0.5
        assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
        assert layer.bias.abs().max() > 0.5 * bound
        assert abs(layer.weight.std().item() / (bound / 3 ** 0.5) - 1) < 0.1  # std of U(±b) is b/sqrt(3)
    torch.manual_seed(3)  # the same draws as nn.Linear makes them, in construction order
    expected = nn.Sequential(nn.Flatten(), nn.Linear(40, 100), nn.Tanh(), nn.Linear(100, 100), nn.Tanh(),
                             nn.Linear(100, 10))
    for got, want in zip(model.parameters(), expected.parameters()):
        assert torch.equal(got, want)
    glorot = [m for m in build("mlp", MNIST1D, 10, seed=3).modules() if isinstance(m, nn.Linear)]
    assert not any(m.bias.any() for m in glorot)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"activation": "gelu"}, "option 'activation' of model 'mlp' must be one of: relu, tanh; got 'gelu'"),
        ({"init": "he"}, "option 'init' of model 'mlp' must be one of: glorot, torch; got 'he'"),
        ({"activation": 1}, "option 'activation' of model 'mlp' must be one of"),
    ],
)
def test_mlp_string_options_are_validated(options, match):
    with pytest.raises(ValueError, match=match):
        build("mlp", MNIST1D, 10, **options)
