"""Parameter blocks and the forward hook against dense float64 Hessians; bad input named before any product."""

from __future__ import annotations

import doctest

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sgdlab import curvature
from sgdlab.curvature import as_batches, blocks, check_blocks, hessian, hutchplusplus, select, top_eigen
from tests.conftest import tiny_mlp
from tests.curvature.reference import dense_hessian, next_token, tiny_lm, token_batches


def mlp_problem():
    model = tiny_mlp(torch.float64)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 5, generator=g, dtype=torch.float64), torch.randint(0, 3, (30,), generator=g)
    return model, as_batches(x, y, 12)


def products(op, n: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    V = torch.randn(op.dim, n, generator=torch.Generator().manual_seed(1), dtype=op.dtype)
    return V, torch.stack([op.matvec(v) for v in V.T], dim=1)


@pytest.mark.parametrize("params, names", [
    ("2.*", ["2.weight", "2.bias"]),
    (["0.weight", "2.bias"], ["0.weight", "2.bias"]),
    (lambda name, p: p.ndim == 1, ["0.bias", "2.bias"]),
])
@pytest.mark.parametrize("reuse_graph", [True, False])
def test_a_block_is_the_diagonal_block_of_the_dense_hessian(params, names, reuse_graph):
    model, batches = mlp_problem()
    exact = dense_hessian(model, batches, names=names)
    with hessian(model, batches, params=params, reuse_graph=reuse_graph) as H:
        assert H.names == names and H.dim == exact.shape[0]
        V, HV = products(H)
        eig = top_eigen(H, k=2, tol=1e-10)
    torch.testing.assert_close(HV, exact @ V, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(eig.values, torch.linalg.eigvalsh(exact).flip(0)[:2], rtol=1e-8, atol=1e-10)


def test_frozen_parameters_are_held_fixed():
    model, batches = mlp_problem()
    model[0].weight.requires_grad_(False)
    exact = dense_hessian(model, batches, names=["0.bias", "2.weight", "2.bias"])
    with hessian(model, batches) as H:
        V, HV = products(H)
    torch.testing.assert_close(HV, exact @ V, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reuse_graph", [True, False])
def test_dictionary_batches_of_token_ids_weighted_by_their_targets(reuse_graph):
    model, batches = tiny_lm(), token_batches()  # 10 and 9 next-token targets
    exact = dense_hessian(model, batches, forward=next_token)
    with hessian(model, batches, forward=next_token, reuse_graph=reuse_graph) as H:
        V, HV = products(H)
        gradient = H.gradient()
    torch.testing.assert_close(HV, exact @ V, rtol=1e-9, atol=1e-11)
    tokens = torch.cat([b["input_ids"][:, 1:].reshape(-1) for b in batches])
    logits = torch.cat([model(b["input_ids"])[:, :-1].reshape(-1, 7) for b in batches])
    expected = torch.autograd.grad(F.cross_entropy(logits, tokens), list(model.parameters()))
    torch.testing.assert_close(gradient, torch.cat([g.reshape(-1) for g in expected]), rtol=1e-10, atol=1e-12)


def test_a_block_of_the_transformer_with_the_forward_hook():
    model, batches = tiny_lm(), token_batches()
    names = ["attention.qkv.weight", "attention.qkv.bias"]
    exact = dense_hessian(model, batches, forward=next_token, names=names)
    with hessian(model, batches, forward=next_token, params="attention.qkv.*") as H:
        eig = top_eigen(H, k=3, tol=1e-10)
    torch.testing.assert_close(eig.values, torch.linalg.eigvalsh(exact).flip(0)[:3], rtol=1e-8, atol=1e-10)


def test_half_precision_models_are_measured_in_float32():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 5, generator=g), torch.randint(0, 3, (40,), generator=g)
    half = tiny_mlp(torch.bfloat16)
    reference = tiny_mlp(torch.float32)
    reference.load_state_dict({k: v.float() for k, v in half.state_dict().items()})
    with hessian(half, [(x.bfloat16(), y)]) as H:
        assert H.dtype == torch.float32
        values = top_eigen(H, k=2, tol=1e-6).values
    with hessian(reference, [(x.bfloat16().float(), y)]) as H:
        expected = top_eigen(H, k=2, tol=1e-6).values
    torch.testing.assert_close(values, expected, rtol=1e-6, atol=1e-7)
    assert all(p.dtype == torch.bfloat16 for p in half.parameters())


def test_blocks_must_be_disjoint_and_match():
    model, _ = mlp_problem()
    assert check_blocks(model, {"first": "0.*", "last": "2.*"}) == {"first": ["0.weight", "0.bias"],
                                                                  "last": ["2.weight", "2.bias"]}
    with pytest.raises(ValueError, match=r"params: blocks 'a' and 'b' overlap \(both hold '2.bias'\)"):
        check_blocks(model, {"a": "2.*", "b": "*.bias"})
    with pytest.raises(ValueError, match="params: blocks must be a non-empty mapping"):
        check_blocks(model, {})


@pytest.mark.parametrize("params, message", [
    ("features.*", r"params: pattern 'features.\*' matches no parameter of the model \(0.weight, 0.bias"),
    (["2.*", "head.*"], "params: pattern 'head.*' matches no parameter"),
    ([], "params must be None, a glob pattern"),
    (3, "params must be None, a glob pattern"),
    (lambda name, p: False, "params: the block .* has no parameter that requires gradients"),
    ("0.weight", "params: the block '0.weight' has no parameter that requires gradients"),
])
def test_bad_blocks_are_named_before_any_product(params, message):
    model, batches = mlp_problem()
    model[0].weight.requires_grad_(False)
    with pytest.raises(ValueError, match=message):
        with hessian(model, batches, params=params):
            pass


def test_a_model_without_trainable_parameters_is_one_value_error():
    model, batches = mlp_problem()
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="params: the model has no parameter that requires gradients"):
        with hessian(model, batches):
            pass
    with pytest.raises(ValueError, match="params: the model has no parameters"):
        select(nn.Tanh())


def _wrong_forward(result):
    return lambda model, batch: result(model(batch[0]), batch[1])


@pytest.mark.parametrize("forward, loss_fn, message", [
    (_wrong_forward(lambda out, y: out), F.cross_entropy, r"forward must return \(outputs, targets\) tensors, got "
                                                          r"a tensor of shape \(12, 3\) for batches\[0\]"),
    (_wrong_forward(lambda out, y: (out, y.tolist())), F.cross_entropy, r"got \(Tensor, list\)"),
    (_wrong_forward(lambda out, y: (out, y[:5])), F.cross_entropy,
     r"outputs of shape \(12, 3\) and targets of shape \(5,\) for batches\[0\]: their first dimensions must agree"),
    (None, lambda out, y: F.cross_entropy(out, y, reduction="none"),
     r"loss_fn must return a scalar tensor, got a tensor of shape \(12,\)"),
])
@pytest.mark.parametrize("reuse_graph", [True, False])
def test_a_bad_forward_or_loss_is_named_before_any_product(forward, loss_fn, message, reuse_graph):
    model, batches = mlp_problem()
    with pytest.raises(ValueError, match=message):
        with curvature.gauss_newton(model, batches, loss_fn, forward=forward, reuse_graph=reuse_graph):
            pass
    with pytest.raises(ValueError, match=message):
        with hessian(model, batches, loss_fn, forward=forward, reuse_graph=reuse_graph):
            pass


def test_empty_and_unreadable_batches_are_named():
    model, batches = mlp_problem()
    x, y = batches[0]
    with pytest.raises(ValueError, match=r"batches\[1\] is empty \(no targets\)"):
        with hessian(model, [(x, y), (x[:0], y[:0])]):
            pass
    with pytest.raises(ValueError, match=r"batches\[0\] is empty"):
        with hessian(model, [(x[:0], y[:0])], reuse_graph=False):
            pass
    with pytest.raises(ValueError, match="forward: a batch of type dict is not an \\(inputs, targets\\) pair; pass "
                                         "forward="):
        with hessian(model, [{"x": x, "y": y}]):
            pass


@pytest.mark.parametrize("module", [blocks, curvature.ggn, hutchplusplus])
def test_docstring_examples(module):
    assert doctest.testmod(module).failed == 0


def test_a_torch_transformer_layer_is_differentiated_twice_through_the_math_attention_kernel():
    """The fused attention kernels have no second derivative; the engine switches to the composite one."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(4, nhead=2, dim_feedforward=8, dropout=0.0, batch_first=True).double()
    x = torch.randn(3, 5, 4, dtype=torch.float64)
    target = torch.randn(3, 5, 4, dtype=torch.float64)
    batches = [(x, target)]
    names = ["self_attn.in_proj_bias", "linear2.weight", "linear2.bias"]  # in the model's order
    with sdpa_kernel(SDPBackend.MATH):
        exact = dense_hessian(layer, batches, F.mse_loss, names=names)
    with hessian(layer, batches, F.mse_loss, params=names[::-1]) as H:
        assert H.names == names
        V, HV = products(H)
    torch.testing.assert_close(HV, exact @ V, rtol=1e-9, atol=1e-11)
