"""Curvature as a linear operator: Hessian-vector products over fixed batches.

The Hessian is that of the *mean* loss over a fixed set of batches (each batch weighted by its
number of targets), with respect to a block of parameters (:mod:`~sgdlab.curvature.blocks`; by
default every trainable one), as a linear operator on flat vectors. A ``forward`` hook
``(model, batch) -> (outputs, targets)`` reads any batch (dictionaries of token ids ...); the default
is ``x, y = batch; model(x), y``. Under ``torch.distributed`` every product is summed over the ranks
(:mod:`~sgdlab.curvature.distributed`).

Mode policy (``bn_mode``): dropout is always off, because a random mask does not define one
operator. ``"eval"`` (the default, as in the paper) uses BatchNorm's running statistics;
``"batch"`` uses each batch's own statistics, as training does. Either way the model's training
flags and every buffer are restored exactly when the operator is closed.

Attention: inside the operator's block, ``scaled_dot_product_attention`` (``nn.MultiheadAttention``,
``nn.TransformerEncoderLayer``) runs on its composite kernel, since the fused ones (flash, memory-efficient)
cannot be differentiated twice.

Precision: a float16 or bfloat16 model is measured through a float32 copy (its floating inputs cast
to float32), so products, eigenvectors and estimates come in float32.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from sgdlab.curvature import blocks, distributed
from sgdlab.curvature.blocks import ParamSpec

Batch = tuple[Tensor, Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]
Forward = Callable[[nn.Module, Any], tuple[Tensor, Tensor]]
BN_MODES = ("eval", "batch")


class LinearOperator(Protocol):
    """A symmetric linear map on flat vectors of length ``dim``."""

    dim: int
    dtype: torch.dtype
    device: torch.device

    def matvec(self, v: Tensor) -> Tensor: ...


@dataclass
class MatrixOperator:
    """A dense symmetric matrix as a :class:`LinearOperator` (tests, small models)."""

    matrix: Tensor
    n_products: int = 0

    @property
    def dim(self) -> int:
        return self.matrix.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.matrix.dtype

    @property
    def device(self) -> torch.device:
        return self.matrix.device

    def matvec(self, v: Tensor) -> Tensor:
        self.n_products += 1
        return self.matrix @ v


def default_forward(model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
    """``x, y = batch; return model(x), y``: the forward of ``(inputs, targets)`` batches."""
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise ValueError(f"forward: a batch of type {type(batch).__name__} is not an (inputs, targets) pair; "
                         "pass forward=(model, batch) -> (outputs, targets) to read other batches")
    x, y = batch
    return model(x), y


class CurvatureOperator:
    """What the Hessian and Gauss–Newton operators share: the parameter block, the forward hook, each
    batch's weight ``n_b / N`` (``n_b`` targets of batch ``b``, ``N`` over every batch and rank) and the
    sum of products over ranks (:mod:`~sgdlab.curvature.distributed`).

    Every batch is checked when the operator is built, before any product: ``forward`` returns two
    tensors whose first dimensions agree, with at least one target, and ``loss_fn`` a scalar.
    """

    def __init__(self, model: nn.Module, batches: Sequence[Any], loss_fn: LossFn, params: ParamSpec,
                 forward: Forward | None):
        self.model = model
        self.batches = list(batches)
        self.loss_fn = loss_fn
        self.forward = forward or default_forward
        named = blocks.select(model, params)
        dtypes = {p.dtype for _, p in named}
        if len(dtypes) > 1:
            raise ValueError(f"params: the block mixes dtypes {sorted(map(str, dtypes))}; select parameters of "
                             "one dtype")
        distributed.check_same_block(named)
        self.names = [name for name, _ in named]
        self.params = [p for _, p in named]
        self.dim = sum(p.numel() for p in self.params)
        self.dtype = self.params[0].dtype
        self.device = self.params[0].device
        self.n_products = 0

    def _checked(self, index: int) -> tuple[Tensor, Tensor, Tensor]:
        """Outputs, targets and the (unweighted) loss of batch ``index``, or a ValueError naming what is wrong."""
        result = self.forward(self.model, self.batches[index])
        if not (isinstance(result, (tuple, list)) and len(result) == 2 and all(isinstance(t, Tensor) for t in result)):
            raise ValueError(f"forward must return (outputs, targets) tensors, got {_describe(result)} for "
                             f"batches[{index}]")
        outputs, targets = result
        if outputs.ndim == 0 or targets.ndim == 0 or outputs.shape[0] != targets.shape[0]:
            raise ValueError(f"forward returned outputs of shape {tuple(outputs.shape)} and targets of shape "
                             f"{tuple(targets.shape)} for batches[{index}]: their first dimensions must agree")
        if targets.numel() == 0:
            raise ValueError(f"batches[{index}] is empty (no targets)")
        loss = self.loss_fn(outputs, targets)
        if not isinstance(loss, Tensor) or loss.ndim != 0:
            raise ValueError(f"loss_fn must return a scalar tensor, got {_describe(loss)} for batches[{index}]")
        return outputs, targets, loss

    def _prepare(self, keep: bool) -> None:
        """Set each batch's weight ``n_b / N``. Every batch is checked by a forward pass without graph,
        except with ``keep`` and the default forward, where the targets are counted as they are and
        :meth:`_weighted` checks each batch as it builds its graph (still before any product)."""
        if keep and self.forward is default_forward:
            counts = [self._count(i) for i in range(len(self.batches))]
        else:
            with torch.no_grad():
                counts = [self._checked(i)[1].numel() for i in range(len(self.batches))]
        total = distributed.total(sum(counts), self.device)
        self._weights = [n / total for n in counts]

    def _count(self, index: int) -> int:
        batch = self.batches[index]
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[1], Tensor)):
            default_forward(self.model, batch)  # names what is wrong with the batch
            raise ValueError(f"forward must return (outputs, targets) tensors; batches[{index}] holds "
                             f"{_describe(batch)}")
        if batch[1].numel() == 0:
            raise ValueError(f"batches[{index}] is empty (no targets)")
        return batch[1].numel()

    def _weighted(self) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """Per batch, lazily: outputs, targets and the weighted loss ``(n_b / N) ℓ_b``, with graphs."""
        for index, weight in enumerate(self._weights):
            outputs, targets, loss = self._checked(index)
            yield outputs, targets, loss * weight

    def _flat(self, tensors: Sequence[Tensor | None]) -> Tensor:
        return torch.cat([(torch.zeros_like(p) if t is None else t).reshape(-1) for t, p in zip(tensors, self.params)])

    def _unflat(self, v: Tensor) -> list[Tensor]:
        return [t.view_as(p) for t, p in zip(v.split([p.numel() for p in self.params]), self.params)]


class HessianOperator(CurvatureOperator):
    """Hessian-vector products of the mean loss over ``batches``; build it with :func:`hessian`.

    ``H = Σ_b (n_b / N) ∇²_θ ℓ_b`` over the block's parameters θ, for the mean loss ``ℓ_b`` of batch
    ``b``. With ``reuse_graph`` the gradient's graph of every batch is built once and each product is a
    single backward pass through it (about 1.5 gradients); otherwise every product recomputes one
    batch at a time (double backward), holding a single batch's graph in memory.
    """

    def __init__(self, model: nn.Module, batches: Sequence[Any], loss_fn: LossFn, reuse_graph: bool,
                 params: ParamSpec = None, forward: Forward | None = None):
        super().__init__(model, batches, loss_fn, params, forward)
        self._prepare(keep=reuse_graph)
        self._grad = None
        if reuse_graph:  # batch by batch, as the products' rounding depends on the order the graph was built
            self._grad = sum(self._flat(torch.autograd.grad(loss, self.params, create_graph=True))
                             for _, _, loss in self._weighted())

    def _batch_gradient(self, index: int, create_graph: bool) -> Tensor:
        outputs, targets = self.forward(self.model, self.batches[index])
        loss = self.loss_fn(outputs, targets) * self._weights[index]
        return self._flat(torch.autograd.grad(loss, self.params, create_graph=create_graph))

    def gradient(self) -> Tensor:
        """The flat gradient of the mean loss, shape ``(dim,)``."""
        if self._grad is not None:
            return distributed.reduce_(self._grad.detach().clone())
        return distributed.reduce_(sum(self._batch_gradient(i, False) for i in range(len(self.batches))).detach())

    def matvec(self, v: Tensor) -> Tensor:
        """``H @ v`` for a flat vector ``v`` of shape ``(dim,)``."""
        self.n_products += 1
        if self._grad is not None:
            return distributed.reduce_(self._flat(torch.autograd.grad(self._grad, self.params, grad_outputs=v,
                                                                      retain_graph=True)))
        out = torch.zeros_like(v)
        for index in range(len(self.batches)):
            g = self._batch_gradient(index, create_graph=True)
            out += self._flat(torch.autograd.grad(g, self.params, grad_outputs=v))
        return distributed.reduce_(out)

    def close(self) -> None:
        """Free the retained graph."""
        self._grad = None


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(type(v).__name__ for v in value) + ")"
    return type(value).__name__


HALF = (torch.float16, torch.bfloat16)


def _float32_inputs(forward: Forward) -> Forward:
    """``forward`` on the batch with its half-precision floating tensors (nested in tuples, lists,
    dicts) cast to float32."""

    def cast(value: Any) -> Any:
        if isinstance(value, Tensor):
            return value.float() if value.dtype in HALF else value
        if isinstance(value, (tuple, list)):
            return type(value)(cast(v) for v in value)
        if isinstance(value, dict):
            return {k: cast(v) for k, v in value.items()}
        return value

    return lambda model, batch: forward(model, cast(batch))


def measured_model(model: nn.Module, forward: Forward | None) -> tuple[nn.Module, Forward]:
    """The module whose curvature is measured and its forward: the plain module inside a
    ``DistributedDataParallel`` wrapper; for a float16/bfloat16 model a float32 copy (products in half
    precision lose the small eigenvalues to rounding), fed float32 inputs."""
    model = distributed.local_module(model)
    forward = forward or default_forward
    if any(p.dtype in HALF for p in model.parameters()):
        return copy.deepcopy(model).float(), _float32_inputs(forward)
    return model, forward


@contextmanager
def curvature_mode(model: nn.Module, bn_mode: str = "eval") -> Iterator[nn.Module]:
    """Put ``model`` in the curvature mode policy; restore its training flags and buffers on exit."""
    if bn_mode not in BN_MODES:
        raise ValueError(f"bn_mode {bn_mode!r} is unknown; choose one of: {', '.join(BN_MODES)}")
    flags = [(m, m.training) for m in model.modules()]
    saved = [b.detach().clone() for b in model.buffers()]
    model.eval()
    if bn_mode == "batch":
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag
        with torch.no_grad():
            for buffer, value in zip(model.buffers(), saved):
                buffer.copy_(value)


@contextmanager
def hessian(
    model: nn.Module,
    batches: Sequence[Any],
    loss_fn: LossFn = F.cross_entropy,
    *,
    reuse_graph: bool = True,
    bn_mode: str = "eval",
    params: ParamSpec = None,
    forward: Forward | None = None,
) -> Iterator[HessianOperator]:
    """The Hessian of the mean ``loss_fn`` over ``batches`` at the model's current parameters.

    ``H = Σ_b (n_b / N) ∇²_θ loss_fn(outputs_b, targets_b)`` over the block ``params`` (see
    :mod:`~sgdlab.curvature.blocks`), ``n_b`` the number of targets of batch ``b`` and ``N`` their
    sum; ``(outputs_b, targets_b) = forward(model, batch_b)``. Use as
    ``with hessian(model, batches) as H: top_eigen(H, k=5)``. Parameters must not change inside the
    block. On exit the model's mode and buffers are exactly as before. Bad input (an empty batch, a
    pattern matching nothing, a forward returning something else than two tensors, a non-scalar
    loss) is a ``ValueError`` before any product.
    """
    with operator(HessianOperator, model, batches, loss_fn, reuse_graph, bn_mode, params, forward) as op:
        yield op


@contextmanager
def operator(kind: type, model: nn.Module, batches: Sequence[Any], loss_fn: LossFn, reuse_graph: bool,
             bn_mode: str, params: ParamSpec, forward: Forward | None) -> Iterator[Any]:
    """An operator of class ``kind`` on the measured module and forward (:func:`measured_model`), in the
    curvature mode policy, with ``scaled_dot_product_attention`` on its composite (math) kernel (the
    fused kernels have no second derivative); closed on exit."""
    if not batches:
        raise ValueError("batches is empty; pass at least one (inputs, targets) batch")
    measured, forward = measured_model(model, forward)
    with curvature_mode(measured, bn_mode), sdpa_kernel(SDPBackend.MATH):
        op = kind(measured, batches, loss_fn, reuse_graph, params, forward)
        try:
            yield op
        finally:
            op.close()


def as_batches(x: Tensor, y: Tensor, batch_size: int) -> list[Batch]:
    """Split ``(x, y)`` into consecutive batches of at most ``batch_size`` examples."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    return [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, len(y), batch_size)]
